"""The legacy temporary-file patterns ``tempcase scan`` knows, found in a module's AST."""

from __future__ import annotations

import ast
import tempfile
from dataclasses import dataclass
from typing import Sequence

from typing_extensions import override

__all__ = ["RULES", "Rule", "find_patterns"]


@dataclass(frozen=True)
class Rule:
    """What a code means, and the tempcase replacement to use instead."""

    code: str
    message: str
    replacement: str


_IN_TEST = "tempcase.{} outside a test"
RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule("TC000", "could not parse", ""),
        Rule(
            "TC101",
            "tempfile.mkdtemp() makes a directory that nothing removes",
            "self.create_temp_directory(), or " + _IN_TEST.format("create_temp_directory()"),
        ),
        Rule(
            "TC102",
            "tempfile.mkstemp() leaves a file (and an open descriptor) that nothing removes",
            "self.create_temp_file(), or " + _IN_TEST.format("create_temp_file()"),
        ),
        Rule(
            "TC103",
            "tempfile.mktemp() is unsafe (another process can take the name first) "
            "and leaves the file behind",
            "self.create_temp_file(), or self.create_file(name) for a fresh name",
        ),
        Rule(
            "TC104",
            "NamedTemporaryFile(delete=False) leaves the file behind",
            "self.create_temp_file(), or self.register_temp_file(f.name)",
        ),
        Rule(
            "TC105",
            "TemporaryDirectory() is neither used with 'with' nor cleaned up: "
            "only the garbage collector removes it, if ever",
            "self.create_temp_directory(), or 'with self.with_temp_directory() as d:'",
        ),
        Rule(
            "TC106",
            "hard-coded path under /tmp: shared by every run and user, and never removed",
            "self.create_file(name), or a path inside self.create_temp_directory()",
        ),
        Rule(
            "TC107",
            "path joined onto tempfile.gettempdir(): shared by every run, and never removed",
            "self.create_file(name), self.create_temp_file() or self.create_temp_directory()",
        ),
    )
}

_TEMPDIR = "<gettempdir()>"  # what a name is bound to after ``tmp = gettempdir()``
_CANONICAL = {"posixpath.join": "os.path.join", "ntpath.join": "os.path.join"}
_PATH_TYPES = frozenset(
    "pathlib." + name for name in ("Path", "PurePath", "PosixPath", "PurePosixPath")
)
_STAR_NAMES: dict[str, frozenset[str]] = {
    "tempfile": frozenset(tempfile.__all__),
    "os": frozenset({"path"}),
    "os.path": frozenset({"join"}),
    "pathlib": frozenset({"Path", "PurePath", "PosixPath", "PurePosixPath"}),
}
_MAKERS = {"tempfile.mkdtemp": "TC101", "tempfile.mkstemp": "TC102", "tempfile.mktemp": "TC103"}
_ENTER = frozenset({"enterContext", "enterClassContext", "enter_context"})


class _Scope:
    """The names one module, class or function binds, in the order seen."""

    def __init__(self, node: ast.AST, is_class: bool = False) -> None:
        self.node = node
        self.is_class = is_class
        self.names: dict[str, str | None] = {}  # None: a local that shadows
        self.stars: list[str] = []


def _dotted(node: ast.expr) -> str | None:
    """``self.tmp`` for an attribute chain on a name, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_tmp_literal(value: object) -> bool:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return False
    roots = ("/tmp", "/var/tmp")  # tempcase: ignore[TC106]
    return any(value == root or value.startswith(root + "/") for root in roots)


class _Scanner(ast.NodeVisitor):
    """Walks one module, resolving imports scope by scope, and collects findings."""

    def __init__(self, module: ast.Module) -> None:
        self.scopes = [_Scope(module)]
        self.found: list[tuple[int, int, str]] = []  # line, byte column, code
        self.handled: set[int] = set()  # ids of TemporaryDirectory() calls that are fine

    def report(self, node: ast.expr, code: str) -> None:
        self.found.append((node.lineno, node.col_offset, code))

    # -- name resolution ---------------------------------------------------
    def lookup(self, name: str) -> str | None:
        innermost = self.scopes[-1]
        for scope in reversed(self.scopes):
            if scope.is_class and scope is not innermost:
                continue  # a class body is not visible from its methods
            if name in scope.names:
                return scope.names[name]
            for module in scope.stars:
                if name in _STAR_NAMES.get(module, ()):
                    return f"{module}.{name}"
        return None

    def qualname(self, node: ast.expr) -> str | None:
        """``tempfile.mkdtemp`` for ``tf.mkdtemp`` after ``import tempfile as tf``."""
        if isinstance(node, ast.Name):
            name = self.lookup(node.id)
        elif isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            name = f"{base}.{node.attr}" if base else None
        else:
            return None
        return _CANONICAL.get(name, name) if name else None

    def call_name(self, node: ast.expr) -> str | None:
        return self.qualname(node.func) if isinstance(node, ast.Call) else None

    def is_tempdir(self, node: ast.expr) -> bool:
        """``tempfile.gettempdir()``, or a name bound to it (or to a Path of it)."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id) == _TEMPDIR
        return self.call_name(node) in ("tempfile.gettempdir", "tempfile.gettempdirb")

    def is_temp_path(self, node: ast.expr) -> bool:
        """:meth:`is_tempdir`, or ``Path(gettempdir())``."""
        if self.is_tempdir(node):
            return True
        return (
            isinstance(node, ast.Call)
            and self.call_name(node) in _PATH_TYPES
            and len(node.args) == 1
            and self.is_tempdir(node.args[0])
        )

    def bind(self, name: str, value: str | None) -> None:
        self.scopes[-1].names[name] = value

    # -- scopes and bindings -------------------------------------------------
    @override
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, alias.name)
            else:
                top = alias.name.split(".")[0]
                self.bind(top, top)

    @override
    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.level or not node.module:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, None)  # a relative import
            elif alias.name == "*":
                self.scopes[-1].stars.append(node.module)
            else:
                self.bind(alias.asname or alias.name, f"{node.module}.{alias.name}")

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if child is not None:
                self.visit(child)
        self.bind(node.name, None)
        self._visit_body(node, node.args, node.body)

    def _visit_body(self, node: ast.AST, args: ast.arguments, body: Sequence[ast.AST]) -> None:
        scope = _Scope(node)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        for param in params:
            if param is not None:
                scope.names[param.arg] = None
        self.scopes.append(scope)
        for statement in body:
            self.visit(statement)
        self.scopes.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    @override
    def visit_Lambda(self, node: ast.Lambda) -> None:
        for child in [*node.args.defaults, *node.args.kw_defaults]:
            if child is not None:
                self.visit(child)
        self._visit_body(node, node.args, [node.body])

    @override
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        self.bind(node.name, None)
        self.scopes.append(_Scope(node, is_class=True))
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    def _assigned(self, targets: Sequence[ast.expr], value: ast.expr) -> None:
        if self.call_name(value) == "tempfile.TemporaryDirectory" and len(targets) == 1:
            if self._cleaned(targets[0]):
                self.handled.add(id(value))
        self.visit(value)
        bound = _TEMPDIR if self.is_temp_path(value) else self.qualname(value)
        for target in targets:
            if isinstance(target, ast.Name):
                self.bind(target.id, bound)
            else:
                self.visit(target)

    @override
    def visit_Assign(self, node: ast.Assign) -> None:
        self._assigned(node.targets, node.value)

    @override
    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self._assigned([node.target], node.value)

    # -- TC105: is the TemporaryDirectory object cleaned? ------------------
    def _cleaned(self, target: ast.expr) -> bool:
        """Whether *target*'s ``.cleanup`` is used, or it is entered, in its region:
        the enclosing function (or module), or the class for ``self.x``."""
        key = _dotted(target)
        if key is None:
            return False
        region = self.scopes[-1].node
        if isinstance(target, ast.Attribute):
            classes = [scope.node for scope in self.scopes if scope.is_class]
            region = classes[-1] if classes else region
        for node in ast.walk(region):
            used: ast.expr | None
            if isinstance(node, ast.Attribute) and node.attr == "cleanup":
                used = node.value
            elif isinstance(node, ast.withitem):
                used = node.context_expr
            elif isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value:
                used = node.value
            else:
                used = _entered(node)
            if used is not None and _dotted(used) == key:
                return True
        return False

    def _handle(self, node: ast.expr | None) -> None:
        if node is not None and self.call_name(node) == "tempfile.TemporaryDirectory":
            self.handled.add(id(node))

    @override
    def visit_withitem(self, node: ast.withitem) -> None:
        self._handle(node.context_expr)
        self.generic_visit(node)

    @override
    def visit_Return(self, node: ast.Return) -> None:
        self._handle(node.value)
        self.generic_visit(node)

    @override
    def visit_Yield(self, node: ast.Yield) -> None:
        self._handle(node.value)
        self.generic_visit(node)

    # -- the patterns ------------------------------------------------------
    @override
    def visit_Call(self, node: ast.Call) -> None:
        self._handle(_entered(node))
        name = self.call_name(node)
        if name in _MAKERS:
            self.report(node, _MAKERS[name])
        elif name == "tempfile.NamedTemporaryFile" and _keeps_file(node):
            self.report(node, "TC104")
        elif name == "tempfile.TemporaryDirectory" and id(node) not in self.handled:
            self.report(node, "TC105")
        elif node.args and (
            (name == "os.path.join" and self.is_temp_path(node.args[0]))
            or (name in _PATH_TYPES and len(node.args) > 1 and self.is_tempdir(node.args[0]))
        ):
            self.report(node, "TC107")
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "joinpath"
            and self.is_temp_path(node.func.value)
        ):
            self.report(node, "TC107")
        self.generic_visit(node)

    @override
    def visit_BinOp(self, node: ast.BinOp) -> None:
        if (isinstance(node.op, ast.Div) and self.is_temp_path(node.left)) or (
            isinstance(node.op, ast.Add) and self.is_tempdir(node.left)
        ):
            self.report(node, "TC107")
        self.generic_visit(node)

    @override
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        first = node.values[0] if node.values else None
        if isinstance(first, ast.Constant) and _is_tmp_literal(first.value):
            self.report(node, "TC106")
        elif isinstance(first, ast.FormattedValue) and self.is_temp_path(first.value):
            self.report(node, "TC107")
        for value in node.values:  # not the literal parts: they were looked at above
            if isinstance(value, ast.FormattedValue):
                self.generic_visit(value)

    @override
    def visit_Constant(self, node: ast.Constant) -> None:
        if _is_tmp_literal(node.value):
            self.report(node, "TC106")

    @override
    def visit_Expr(self, node: ast.Expr) -> None:
        if not isinstance(node.value, ast.Constant):  # a docstring is prose, not a path
            self.generic_visit(node)


def _entered(node: ast.AST) -> ast.expr | None:
    """*x* in ``self.enterContext(x)`` or ``stack.enter_context(x)``, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _ENTER
        and len(node.args) == 1
    ):
        return node.args[0]
    return None


def _keeps_file(node: ast.Call) -> bool:
    """``delete=`` (or the 8th positional argument) is a false literal."""
    values = [kw.value for kw in node.keywords if kw.arg == "delete"]
    values += node.args[7:8]
    return any(isinstance(value, ast.Constant) and not value.value for value in values)


def find_patterns(module: ast.Module) -> list[tuple[int, int, str]]:
    """Every pattern in *module*, as (line, column in UTF-8 bytes, code), unsorted."""
    scanner = _Scanner(module)
    scanner.visit(module)
    return scanner.found
