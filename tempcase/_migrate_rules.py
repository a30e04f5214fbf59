"""The rewrites of ``tempcase migrate``: legacy temp-file code in TestCase methods, via libcst."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import libcst as cst
from libcst.metadata import (
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
)

from tempcase._migrate_flow import escape_reason, is_self_attr, iter_nodes
from tempcase._writing import check_affix

__all__ = [
    "MAKERS",
    "MIXIN_NAMES",
    "Edit",
    "Method",
    "Plan",
    "Skip",
    "code",
    "fspath",
    "helper_call",
    "key_of",
    "keyword_arg",
    "qualified",
    "same",
    "text_value",
]

MIXIN_NAMES = frozenset(
    {
        "tempcase_dir",
        "create_file",
        "create_subdirectory",
        "with_temp_directory",
        "create_temp_file",
        "create_temp_directory",
        "register_temp_file",
        "register_temp_directory",
    }
)
MAKERS = frozenset(
    "tempfile." + name
    for name in ("mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory")
)
_STATEMENT = Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]


@dataclass
class Edit:
    """What to do with one node of the original tree: replace it, or drop it (None);
    a ``FlattenSentinel`` on a ``try`` puts its body in its place."""

    node: cst.CSTNode
    new: cst.CSTNode | cst.FlattenSentinel[cst.CSTNode] | None


def _binds(node: cst.CSTNode, name: str) -> bool:
    """Whether *node* is a statement or clause that binds *name*."""
    target: cst.CSTNode
    if isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For)):
        target = node.target
    elif isinstance(node, cst.AsName):
        target = node.name
    else:
        return False
    return any(isinstance(n, cst.Name) and n.value == name for n in iter_nodes(target))


@dataclass
class Plan:
    """The outcome for one maker call: edits, or the reason it is left alone."""

    edits: list[Edit] = field(default_factory=list)
    reason: str | None = None
    needs_os: bool = False


class Skip(Exception):
    """A maker call that cannot be rewritten safely; the message says why."""


def qualified(visitor: cst.MetadataDependent, node: cst.CSTNode) -> set[str]:
    """The names *node* may refer to (``tempfile.mkdtemp`` for ``tf.mkdtemp``)."""
    found = visitor.get_metadata(QualifiedNameProvider, node, set())
    return {name.name for name in found}


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """``name=value``, spaced as PEP 8 has it."""
    none = cst.SimpleWhitespace("")
    return cst.Arg(value, keyword=cst.Name(name), equal=cst.AssignEqual(none, none))


def code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def same(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """The same expression, written the same way."""
    return code(a) == code(b)


def text_value(node: cst.BaseExpression) -> str | bytes | None:
    """The value of a plain string literal (no f-string), else None."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, (str, bytes)) else None
    return None


class Method:
    """One maker call in one method of a TestCase class, and what is around it."""

    def __init__(
        self,
        visitor: cst.MetadataDependent,
        cls: cst.ClassDef,
        methods: Sequence[cst.FunctionDef],
        method: cst.FunctionDef,
        call: cst.Call,
        kind: str,
    ) -> None:
        self.v = visitor
        self.cls = cls
        self.methods = methods
        self.method = method
        self.call = call
        self.kind = kind

    def parent(self, node: cst.CSTNode) -> cst.CSTNode:
        return self.v.get_metadata(ParentNodeProvider, node)

    def imported(self, node: cst.CSTNode) -> bool:
        """Whether *node* is a name that only an import binds (``os``, not ``cls``)."""
        found = self.v.get_metadata(QualifiedNameProvider, node, set())
        return bool(found) and all(q.source is QualifiedNameSource.IMPORT for q in found)

    def line_of(self, node: cst.CSTNode) -> int:
        return int(self.v.get_metadata(PositionProvider, node).start.line)

    def statement(self) -> tuple[cst.SimpleStatementLine, cst.BaseSmallStatement]:
        """The line holding the call, which must be its only statement."""
        small = self.parent(self.call)
        if isinstance(small, cst.Arg):
            outer = self.parent(small)
            func = code(outer.func) if isinstance(outer, cst.Call) else "another call"
            raise Skip(f"the result is passed to {func}(), not bound to a name as it is")
        if not isinstance(small, cst.BaseSmallStatement):
            raise Skip("the result is used inside a larger expression, not bound to a name")
        line = self.parent(small)
        if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
            raise Skip("the call shares its line with other statements")
        assert isinstance(small, cst.BaseSmallStatement)
        return line, small

    def assignment(self) -> tuple[cst.SimpleStatementLine, cst.Assign]:
        """The line holding the call, which must assign its result to one target."""
        line, small = self.statement()
        if not isinstance(small, cst.Assign) or len(small.targets) != 1:
            raise Skip("the result is not assigned to one name")
        return line, small

    def keywords(self, allowed: Sequence[str]) -> dict[str, cst.BaseExpression]:
        """The call's keyword arguments, checked: no positional ones, no ``dir=``."""
        found: dict[str, cst.BaseExpression] = {}
        for arg in self.call.args:
            if arg.keyword is None or arg.star:
                raise Skip("positional or unpacked arguments are not mapped")
            name = arg.keyword.value
            if name == "dir":
                raise Skip("dir= is kept as it is (tempcase decides where the path lives)")
            if name not in allowed:
                raise Skip(f"{name}= has no tempcase equivalent")
            found[name] = arg.value
        return found

    def affixes(self, args: dict[str, cst.BaseExpression]) -> list[cst.Arg]:
        """``prefix=``/``suffix=`` string literals, checked as tempcase checks them."""
        out = []
        for name in ("suffix", "prefix"):
            value = args.get(name)
            if value is None or (isinstance(value, cst.Name) and value.value == "None"):
                continue
            text = text_value(value)
            if not isinstance(text, str):
                raise Skip(f"{name}= is not a str literal (bytes would change the path's type)")
            try:
                check_affix(text, name, func="migrate")
            except ValueError as exc:
                raise Skip(f"{name}= {text!r} is refused by tempcase ({exc})") from None
            out.append(keyword_arg(name, value))
        return out

    def scope(self, key: cst.BaseExpression) -> Sequence[cst.FunctionDef]:
        """The methods in which *key* stands for the path: every one for ``self.attr``,
        the call's own for anything else (a local name means nothing outside it)."""
        return self.methods if is_self_attr(key) else [self.method]

    def removals(self, matches: Sequence[str], key: cst.BaseExpression) -> list[Edit]:
        """The statements that remove the path by hand, all in places where dropping
        them changes nothing: tearDown, addCleanup, or the end of the method."""
        edits: list[Edit] = []
        for method in self.scope(key):
            for node in iter_nodes(method.body):
                if isinstance(node, cst.Call) and self._removes(node, matches, key):
                    edits.append(self._drop(method, node))
        return edits

    def _removes(self, call: cst.Call, matches: Sequence[str], key: cst.BaseExpression) -> bool:
        names = qualified(self.v, call.func)
        args = [a for a in call.args if a.keyword is None or a.keyword.value != "ignore_errors"]
        if ".cleanup" in matches and isinstance(call.func, cst.Attribute):
            if call.func.attr.value == "cleanup" and same(call.func.value, key):
                return not call.args
        if names & set(matches) and args and same(args[0].value, key):
            return len(args) == 1 and args[0].keyword is None
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "addCleanup":
            receiver = call.func.value
            if not call.args or not (isinstance(receiver, cst.Name) and receiver.value == "self"):
                return False
            first = call.args[0].value
            if ".cleanup" in matches and isinstance(first, cst.Attribute):
                return first.attr.value == "cleanup" and same(first.value, key)
            rest = [
                a for a in call.args[1:] if a.keyword is None or a.keyword.value != "ignore_errors"
            ]
            return bool(
                qualified(self.v, first) & set(matches)
                and len(rest) == 1
                and rest[0].keyword is None
                and same(rest[0].value, key)
            )
        return False

    def _drop(self, method: cst.FunctionDef, call: cst.Call) -> Edit:
        small = self.parent(call)
        line = self.parent(small)
        if not isinstance(small, cst.Expr) or not isinstance(line, cst.SimpleStatementLine):
            raise Skip(f"line {self.line_of(call)} removes it inside an expression")
        if len(line.body) != 1:
            raise Skip(f"line {self.line_of(call)} removes it on a shared line")
        block = self.parent(line)
        owner = self.parent(block)
        is_cleanup = isinstance(call.func, cst.Attribute) and call.func.attr.value == "addCleanup"
        if is_cleanup or (owner is method and method.name.value == "tearDown"):
            return Edit(line, None)
        top = list(method.body.body) if isinstance(method.body, cst.IndentedBlock) else []
        if owner is method and method is self.method and top and top[-1] is line:
            return Edit(line, None)
        if isinstance(owner, cst.Finally) and len(getattr(block, "body", ())) == 1:
            try_ = self.parent(owner)
            if isinstance(try_, cst.Try) and top and top[-1] is try_ and method is self.method:
                if try_.handlers or try_.orelse:
                    return Edit(owner, None)
                return Edit(try_, cst.FlattenSentinel(list(try_.body.body)))
        raise Skip(f"line {self.line_of(call)} removes it part-way through the test")

    def check_flow(self, key: cst.BaseExpression, skip: Sequence[cst.CSTNode]) -> None:
        """Refuse a path that may outlive the test, or a name bound more than once."""
        reason = escape_reason(self.cls, self.methods, self.method, key, skip, self.imported)
        if reason:
            raise Skip(reason)
        if isinstance(key, cst.Name):
            stores = [n for n in iter_nodes(self.method.body) if _binds(n, key.value)]
            params = [p.name.value for p in self.method.params.params]
            if len(stores) != 1 or key.value in params:
                raise Skip(f"{key.value!r} is bound more than once in {self.method.name.value}()")
        else:
            assert isinstance(key, cst.Attribute)
            stores = [
                n
                for method in self.methods
                for n in iter_nodes(method.body)
                if isinstance(n, cst.AssignTarget) and is_self_attr(n.target, key.attr.value)
            ]
            if len(stores) != 1:
                raise Skip(f"self.{key.attr.value} is assigned in more than one place")


def helper_call(
    name: str, args: list[cst.Arg], content: cst.BaseExpression | None = None
) -> cst.Call:
    positional = [cst.Arg(content)] if content is not None else []
    return cst.Call(
        func=cst.Attribute(cst.Name("self"), cst.Name(name)),
        args=[*positional, *args],
    )


def fspath(call: cst.Call) -> cst.Call:
    return cst.Call(cst.Attribute(cst.Name("os"), cst.Name("fspath")), [cst.Arg(call)])


def key_of(target: cst.BaseExpression) -> cst.Name | cst.Attribute:
    """The target a path is bound to: a local name or ``self.attr``, else Skip."""
    if isinstance(target, cst.Name) or (isinstance(target, cst.Attribute) and is_self_attr(target)):
        return target
    raise Skip(f"assigned to {code(target)}, not to a local name or self.attribute")
