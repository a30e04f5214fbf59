"""Where a temporary path goes inside a TestCase class: does it escape the test?"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import libcst as cst

__all__ = ["Ref", "escape_reason", "is_self_attr", "iter_nodes", "mentions"]

Ref = Callable[[cst.CSTNode], bool]  # does this node stand for the tracked path?

# Methods that keep their argument in the object they are called on.
_KEEPERS = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault", "appendleft", "put", "push"}
)
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


def is_self_attr(node: cst.CSTNode, attr: str | None = None) -> bool:
    """``self.attr`` (any attribute when *attr* is None)."""
    return (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
        and (attr is None or node.attr.value == attr)
    )


def iter_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """*node* and every node below it that can hold an expression's value.

    The attribute name of ``x.attr`` and the keyword of ``f(key=...)`` are
    names, not values, and are not visited.
    """
    yield node
    if isinstance(node, cst.Attribute):
        yield from iter_nodes(node.value)
    elif isinstance(node, cst.Arg):
        yield from iter_nodes(node.value)
    else:
        for child in node.children:
            yield from iter_nodes(child)


def mentions(node: cst.CSTNode, refs: Iterable[Ref]) -> bool:
    """Whether any node below *node* is one of *refs*."""
    checks = list(refs)
    return any(check(sub) for sub in iter_nodes(node) for check in checks)


def _local(name: str) -> Ref:
    return lambda node: isinstance(node, cst.Name) and node.value == name


def _attr(attr: str) -> Ref:
    return lambda node: is_self_attr(node, attr)


def _names_in(target: cst.BaseExpression) -> list[cst.Name] | None:
    """The plain names a target binds, or None if it is anything else."""
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        names: list[cst.Name] = []
        for element in target.elements:
            inner = _names_in(element.value)
            if inner is None:
                return None
            names.extend(inner)
        return names
    return None


def _globals(method: cst.FunctionDef) -> set[str]:
    """The names *method* declares ``global`` or ``nonlocal``."""
    return {
        name.name.value
        for node in iter_nodes(method.body)
        if isinstance(node, (cst.Global, cst.Nonlocal))
        for name in node.names
    }


class _Flow:
    """Follows a path through the instance methods of one class until nothing new is reached."""

    def __init__(self, methods: Sequence[cst.FunctionDef], skip: Sequence[cst.CSTNode]) -> None:
        self.methods = methods
        self.skip = {id(node) for node in skip}
        self.locals: dict[int, set[str]] = {id(method): set() for method in methods}
        self.attrs: set[str] = set()
        self.changed = False
        self.reason: str | None = None

    def refs(self, method: cst.FunctionDef) -> list[Ref]:
        found = [_local(name) for name in self.locals[id(method)]]
        found += [_attr(attr) for attr in self.attrs]
        return found

    def taint(
        self, method: cst.FunctionDef, target: cst.BaseExpression, globals_: set[str]
    ) -> None:
        if is_self_attr(target):
            assert isinstance(target, cst.Attribute)
            if target.attr.value not in self.attrs:
                self.attrs.add(target.attr.value)
                self.changed = True
            return
        names = _names_in(target)
        if names is None:
            self.reason = f"it is stored outside the test ({cst.Module([]).code_for_node(target)})"
            return
        for name in names:
            if name.value in globals_:
                self.reason = f"it is stored in the global {name.value!r}"
            elif name.value not in self.locals[id(method)]:
                self.locals[id(method)].add(name.value)
                self.changed = True

    def walk(self, method: cst.FunctionDef) -> None:
        self._walk(method, method.body, _globals(method))

    def _walk(self, method: cst.FunctionDef, node: cst.CSTNode, globals_: set[str]) -> None:
        if id(node) in self.skip or self.reason:
            return
        refs = self.refs(method)
        if isinstance(node, _SCOPES):
            if mentions(node, refs):
                self.reason = "it is used in a nested function or class, which may outlive the test"
            return
        if isinstance(node, (cst.Return, cst.Yield)) and node.value and mentions(node.value, refs):
            self.reason = "it is returned" if isinstance(node, cst.Return) else "it is yielded"
            return
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            value = node.value
            if value is not None and mentions(value, refs):
                targets = (
                    [t.target for t in node.targets]
                    if isinstance(node, cst.Assign)
                    else [node.target]
                )
                for target in targets:
                    self.taint(method, target, globals_)
        elif isinstance(node, cst.NamedExpr) and mentions(node.value, refs):
            self.taint(method, node.target, globals_)
        elif isinstance(node, cst.For) and mentions(node.iter, refs):
            self.taint(method, node.target, globals_)
        elif isinstance(node, cst.WithItem) and node.asname and mentions(node.item, refs):
            self.taint(method, node.asname.name, globals_)
        elif isinstance(node, cst.Call):
            self._call(method, node, refs, globals_)
        for child in node.children:
            self._walk(method, child, globals_)

    def _call(
        self, method: cst.FunctionDef, node: cst.Call, refs: list[Ref], globals_: set[str]
    ) -> None:
        if not any(mentions(arg.value, refs) for arg in node.args):
            return
        func = node.func
        if isinstance(func, cst.Name) and func.value == "setattr":
            self.reason = "it is stored with setattr()"
        elif isinstance(func, cst.Attribute) and func.attr.value == "chdir":
            self.reason = "the working directory is changed to it, beyond the test"
        elif isinstance(func, cst.Attribute) and func.attr.value in _KEEPERS:
            receiver = func.value
            if is_self_attr(receiver) or (
                isinstance(receiver, cst.Name)
                and receiver.value
                not in {
                    "sys",
                    "os",
                }
            ):
                if isinstance(receiver, cst.Name) and receiver.value in globals_:
                    self.reason = f"it is kept by the global {receiver.value!r}"
                else:
                    self.taint(method, receiver, globals_)
            else:
                code = cst.Module([]).code_for_node(func)
                self.reason = f"it is kept by {code}(), beyond the test"


def _may_be_test(owner: cst.BaseExpression, imported: Ref) -> bool:
    """Whether *owner*, in ``owner.attr``, may be the test or its class (``cls``,
    ``type(self)``, ``self.__class__``, any other name), so that ``owner.attr``
    may be ``self.attr``. ``self`` itself is not (that is the attribute), nor
    ``self.x`` or a chain from an imported module (``os`` in ``os.path``)."""
    if is_self_attr(owner, "__class__"):
        return True
    root = owner
    while isinstance(root, cst.Attribute):
        root = root.value
    return not (isinstance(root, cst.Name) and (root.value == "self" or imported(root)))


def escape_reason(
    cls: cst.ClassDef,
    methods: Sequence[cst.FunctionDef],
    start: cst.FunctionDef,
    key: cst.BaseExpression,
    skip: Sequence[cst.CSTNode],
    imported: Ref,
) -> str | None:
    """Why the path bound to *key* in *start* may outlive the test, or None if it cannot.

    The path escapes when it, or anything computed from it, is returned or
    yielded, stored anywhere but a local name or an attribute of ``self``,
    handed to a container that is not the test's own, captured by a nested
    function, or reached through the class (``cls.x``).

    :param methods: the class's instance methods (what ``self.x`` can reach).
    :param skip: statements left out of the analysis (the ones being rewritten).
    :param imported: whether a name is bound by an import only (a module, not the test).
    """
    flow = _Flow(methods, skip)
    flow.taint(start, key, _globals(start))
    flow.changed = True
    rounds = 0
    while flow.changed and not flow.reason and rounds < 20:
        flow.changed = False
        rounds += 1
        for method in methods:
            flow.walk(method)
    if flow.reason:
        return flow.reason
    for node in iter_nodes(cls.body):
        if (
            isinstance(node, cst.Attribute)
            and node.attr.value in flow.attrs
            and _may_be_test(node.value, imported)
        ):
            code = cst.Module([]).code_for_node(node)
            return f"self.{node.attr.value} is also reached as {code}, beyond this test"
    return None
