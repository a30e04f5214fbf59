"""One module through ``tempcase migrate``: find the maker calls, plan, apply, add imports."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Sequence, Union

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import (
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
)
from typing_extensions import override

from tempcase._migrate_flow import is_self_attr, iter_nodes
from tempcase._migrate_plans import plan_class
from tempcase._migrate_rules import MAKERS, MIXIN_NAMES, Plan, code, qualified
from tempcase._migrate_tidy import (
    is_emptied,
    plain_hooks,
    prune_imports,
    prune_local_imports,
    remove_statements,
)
from tempcase._scan import _char_col, _suppressions
from tempcase._scan_rules import find_patterns

__all__ = ["Outcome", "migrate_module", "protected_bases"]

_CODES = {
    "tempfile.mkdtemp": "TC101",
    "tempfile.mkstemp": "TC102",
    "tempfile.NamedTemporaryFile": "TC104",
    "tempfile.TemporaryDirectory": "TC105",
}
_UNITTEST = frozenset(
    {
        "unittest.TestCase",
        "unittest.case.TestCase",
        "unittest.IsolatedAsyncioTestCase",
        "unittest.async_case.IsolatedAsyncioTestCase",
    }
)
_MIXIN = "tempcase.TempFileTestCase"
_TEMPCASE = frozenset({_MIXIN, "tempcase.TestCase", "tempcase.IsolatedAsyncioTestCase"})
_ENTER = frozenset({"enterContext", "enter_context", "enterClassContext"})
_Scope = Union[cst.FunctionDef, cst.Lambda, cst.ClassDef]


@dataclass
class Outcome:
    """What migrating one module gives: its new code, the rewrites and the skips."""

    source: str
    code: str
    rewrites: int = 0
    skips: list[tuple[int, int, str]] = field(default_factory=list)  # line, column (1-based)


def protected_bases(module: cst.Module) -> set[str]:
    """Names of classes that some class lists after TempFileTestCase: adding the
    mixin to one of them would make that subclass's MRO inconsistent."""
    found: set[str] = set()
    for node in iter_nodes(module):
        if isinstance(node, cst.ClassDef):
            names = [code(arg.value) for arg in node.bases]
            mixins = [i for i, name in enumerate(names) if name.endswith("TempFileTestCase")]
            if mixins:
                found.update(name.rsplit(".", 1)[-1] for name in names[mixins[0] + 1 :])
    return found


class _Collector(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider, ParentNodeProvider)

    def __init__(self, protected: set[str], silenced: dict[int, frozenset[str] | None]) -> None:
        super().__init__()
        self.protected = protected
        self.silenced = silenced
        self.calls: list[tuple[cst.Call, str]] = []
        self.plans: list[tuple[cst.Call, Plan]] = []
        self.positions: dict[int, tuple[int, int]] = {}
        self.bases: dict[cst.ClassDef, cst.BaseExpression] = {}
        self.mixin_expr: cst.BaseExpression = cst.parse_expression(_MIXIN)
        self.classes: dict[str, cst.ClassDef | None] = {}
        self.added: set[str] = set()
        self.hooks: set[int] = set()

    @override
    def visit_Call(self, node: cst.Call) -> None:
        kinds = qualified(self, node.func) & MAKERS
        if len(kinds) == 1:
            self.calls.append((node, kinds.pop()))

    @override
    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = node.module  # None in ``from . import name``
        if module is None or node.relative or not isinstance(node.names, Sequence):
            return
        if code(module) == "tempcase":
            for alias in node.names:
                if code(alias.name) == "TempFileTestCase" and self.parent(node, 2) is self.module:
                    self.mixin_expr = alias.asname.name if alias.asname else alias.name

    @override
    def visit_Module(self, node: cst.Module) -> None:
        self.module = node
        for statement in node.body:
            if isinstance(statement, cst.ClassDef):
                name = statement.name.value
                self.classes[name] = None if name in self.classes else statement

    def parent(self, node: cst.CSTNode, levels: int = 1) -> cst.CSTNode | None:
        found: cst.CSTNode | None = node
        for _ in range(levels):
            found = self.get_metadata(ParentNodeProvider, found, None) if found else None
        return found

    @override
    def leave_Module(self, original_node: cst.Module) -> None:
        self.hooks = plain_hooks(self, original_node)
        for call, kind in self.calls:
            start = self.get_metadata(PositionProvider, call).start
            line, col = start.line, start.column + 1
            self.positions[id(call)] = (line, col)
            codes = self.silenced.get(line, frozenset())
            if codes is None or _CODES[kind] in codes:
                continue
            if not self._candidate(call, kind):
                continue
            self.plans.append((call, self._plan(call, kind)))

    def _candidate(self, call: cst.Call, kind: str) -> bool:
        """Whether the call is legacy code at all (a ``with``-ed TemporaryDirectory is fine)."""
        holder = self.parent(call)
        if kind == "tempfile.NamedTemporaryFile":
            return any(
                a.keyword and a.keyword.value == "delete" and code(a.value) == "False"
                for a in call.args
            )
        if kind == "tempfile.TemporaryDirectory":
            if isinstance(holder, (cst.WithItem, cst.Return, cst.Yield)):
                return False
            outer = self.parent(holder) if isinstance(holder, cst.Arg) else None
            return not (
                isinstance(outer, cst.Call)
                and isinstance(outer.func, cst.Attribute)
                and outer.func.attr.value in _ENTER
            )
        return True

    def _plan(self, call: cst.Call, kind: str) -> Plan:
        if isinstance(self.parent(call), (cst.Return, cst.Yield)):
            return Plan(reason="it is returned, so the path escapes the test")
        scope: cst.CSTNode | None = self.parent(call)
        while scope is not None and not isinstance(
            scope, (cst.FunctionDef, cst.Lambda, cst.ClassDef)
        ):
            scope = self.parent(scope)
        if not isinstance(scope, cst.FunctionDef):
            where = "a lambda" if isinstance(scope, cst.Lambda) else "module or class level code"
            return Plan(reason=f"not in a TestCase method ({where})")
        cls = self.parent(scope, 2)
        if not isinstance(cls, cst.ClassDef):
            return Plan(reason=f"not in a TestCase method (in function {scope.name.value}())")
        if self.parent(cls) is not self.module:
            return Plan(reason=f"class {cls.name.value} is not defined at module level")
        name = scope.name.value
        for decorator in scope.decorators:
            if code(decorator.decorator) in ("classmethod", "staticmethod"):
                return Plan(reason=f"in a {code(decorator.decorator)}: shared by the class's tests")
        params = scope.params.posonly_params or scope.params.params
        if not params or params[0].name.value != "self" or name.startswith("__"):
            return Plan(reason=f"{cls.name.value}.{name}() is not a test's instance method")
        status = self._status(cls, set())
        if isinstance(status, str):
            return Plan(reason=status)
        if not status and cls.name.value in self.protected:
            return Plan(
                reason=f"a subclass already puts TempFileTestCase before {cls.name.value}: "
                "adding it here would make that MRO inconsistent"
            )
        plan = plan_class(self, cls, scope, call, kind)
        if plan.reason is None and not status:
            self.bases[cls] = self.mixin_expr
            self.added.add(cls.name.value)
        return plan

    def _status(self, cls: cst.ClassDef, seen: set[str]) -> bool | str:
        """True: has the mixin; False: a plain TestCase; a string: why it cannot be used."""
        resolved = self._resolve(cls, seen)
        if isinstance(resolved, str):
            return resolved
        test, mixin = resolved
        return mixin if test else f"class {cls.name.value} is not a unittest.TestCase subclass"

    def _resolve(self, cls: cst.ClassDef, seen: set[str]) -> tuple[bool, bool] | str:
        """(a TestCase, has the mixin), or why the bases cannot be resolved."""
        if cls.keywords:
            return f"class {cls.name.value} has class keywords ({code(cls.keywords[0])})"
        own = {s.name.value for s in _body(cls) if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
        own |= {
            t.target.value
            for s in iter_nodes(cls.body)
            if isinstance(s, cst.Assign)
            for t in s.targets
            if isinstance(t.target, cst.Name)
        }
        own |= {
            t.target.attr.value
            for t in iter_nodes(cls.body)
            if isinstance(t, cst.AssignTarget)
            and isinstance(t.target, cst.Attribute)
            and is_self_attr(t.target)
        }
        clash = sorted(own & MIXIN_NAMES)
        if clash:
            return f"class {cls.name.value} defines {clash[0]}, which TempFileTestCase provides"
        mixin = cls.name.value in self.added
        test = mixin
        for arg in cls.bases:
            names = qualified(self, arg.value)
            local = self.classes.get(code(arg.value)) if isinstance(arg.value, cst.Name) else None
            if names & _TEMPCASE:
                mixin = test = True
            elif names & _UNITTEST:
                test = True
            elif local is not None and local.name.value not in seen and self._before(local, cls):
                inner = self._resolve(local, seen | {cls.name.value})
                if isinstance(inner, str):
                    return inner
                test, mixin = test or inner[0], mixin or inner[1]
            elif code(arg.value) != "object":
                return f"the base {code(arg.value)} of class {cls.name.value} cannot be resolved"
        return test, mixin

    def _before(self, first: cst.ClassDef, second: cst.ClassDef) -> bool:
        body = list(self.module.body)
        return body.index(first) < body.index(second)


def _body(cls: cst.ClassDef) -> Sequence[cst.BaseStatement]:
    return cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()


class _Apply(cst.CSTTransformer):
    def __init__(
        self, edits: dict[int, object], bases: dict[int, cst.BaseExpression], hooks: set[int]
    ) -> None:
        super().__init__()
        self.edits = edits
        self.bases = bases
        self.hooks = hooks  # setUp/tearDown methods that may go once emptied
        self.emptied: set[int] = set()  # those that did: removed from their class

    @override
    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        updated = super().on_leave(original_node, updated_node)
        key = id(original_node)
        if isinstance(updated, cst.FunctionDef) and isinstance(original_node, cst.FunctionDef):
            updated = prune_local_imports(original_node, updated)
            if key in self.hooks and is_emptied(updated):
                self.emptied.add(id(updated))
        if isinstance(updated, cst.IndentedBlock) and self.emptied & set(map(id, updated.body)):
            kept = remove_statements(updated.body, self.emptied)
            self.emptied.clear()  # ids of nodes no longer held could be reused
            return updated.with_changes(body=kept)
        if isinstance(updated, cst.ClassDef) and key in self.bases:
            first = cst.Arg(
                self.bases[key], comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            return updated.with_changes(bases=[first, *updated.bases])
        if key not in self.edits:
            return updated
        new = self.edits[key]
        if new is None:
            return cst.RemoveFromParent()
        if isinstance(new, cst.FlattenSentinel) and isinstance(updated, cst.Try):
            body = list(updated.body.body)
            if body and isinstance(body[0], (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                lines = [*updated.leading_lines, *body[0].leading_lines]
                body[0] = body[0].with_changes(leading_lines=lines)
            return cst.FlattenSentinel(body)
        assert isinstance(new, cst.CSTNode)
        return new


def migrate_module(source: bytes, protected: set[str]) -> Outcome:
    """Migrate the module whose bytes are *source*.

    :raises libcst.ParserSyntaxError: when it does not parse.
    """
    module = cst.parse_module(source)
    text = module.code
    silenced = _suppressions(text) if "tempcase:" in text else {}
    wrapper = MetadataWrapper(module)
    collector = _Collector(protected, silenced)
    wrapper.visit(collector)
    outcome = Outcome(text, text)
    edits: dict[int, object] = {}
    needs_os = False
    for call, plan in collector.plans:
        line, col = collector.positions[id(call)]
        if plan.reason is None and any(id(edit.node) in edits for edit in plan.edits):
            plan = Plan(reason="it overlaps another rewrite")
        if plan.reason is not None:
            outcome.skips.append((line, col, plan.reason))
            continue
        outcome.rewrites += 1
        needs_os = needs_os or plan.needs_os
        edits.update((id(edit.node), edit.new) for edit in plan.edits)
    seen = {collector.positions[id(call)] for call, _ in collector.plans}
    outcome.skips += _unresolved(text, seen, silenced)
    outcome.skips.sort()
    if not edits:
        return outcome
    bases = {id(cls): expr for cls, expr in collector.bases.items()}
    new = wrapper.module.visit(_Apply(edits, bases, collector.hooks))
    new = prune_imports(wrapper.module, new)
    context = CodemodContext()
    if needs_os and not _binds_os(new):
        AddImportsVisitor.add_needed_import(context, "os")
    if bases and code(collector.mixin_expr) == _MIXIN:
        AddImportsVisitor.add_needed_import(context, "tempcase")
    new = AddImportsVisitor(context).transform_module(new)
    outcome.code = new.code
    return outcome


def _binds_os(module: cst.Module) -> bool:
    """Whether a module-level ``import os.path`` (or any ``os.NAME``) already binds
    ``os``, which libcst's import adder does not count as ``import os``."""
    return any(
        isinstance(small, cst.Import)
        and any(
            alias.asname is None and code(alias.name).split(".")[0] == "os" for alias in small.names
        )
        for line in module.body
        if isinstance(line, cst.SimpleStatementLine)
        for small in line.body
    )


def _unresolved(
    text: str, seen: set[tuple[int, int]], silenced: dict[int, frozenset[str] | None]
) -> list[tuple[int, int, str]]:
    """What ``tempcase scan`` finds that migrate could not even match (a star import)."""
    try:
        found = find_patterns(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError):
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for line, byte_col, scan_code in found:
        col = _char_col(lines, line, byte_col)
        codes = silenced.get(line, frozenset())
        if scan_code in ("TC101", "TC102", "TC104", "TC105") and (line, col) not in seen:
            if codes is not None and scan_code not in codes:
                out.append((line, col, "the call could not be resolved for a rewrite"))
    return out
