"""What ``tempcase migrate`` tidies after a rewrite: emptied setUp/tearDown, imports left unused."""

from __future__ import annotations

import re
from typing import Counter, Sequence

import libcst as cst

from tempcase._migrate_flow import iter_nodes
from tempcase._migrate_rules import code, qualified

__all__ = [
    "is_emptied",
    "plain_hooks",
    "prune_imports",
    "prune_local_imports",
    "remove_statements",
]

_HOOKS = frozenset({"setUp", "tearDown"})
# Bases whose setUp and tearDown do nothing: unittest's, and tempcase's (the
# mixin defines neither), so an empty override of them can go.
_NOOP_BASES = frozenset(
    {
        "unittest.TestCase",
        "unittest.case.TestCase",
        "unittest.IsolatedAsyncioTestCase",
        "unittest.async_case.IsolatedAsyncioTestCase",
        "tempcase.TempFileTestCase",
        "tempcase.TestCase",
        "tempcase.IsolatedAsyncioTestCase",
    }
)
# The modules whose imports a rewrite can leave unused.
_MODULES = frozenset({"os", "os.path", "shutil", "tempfile"})


def _defines(cls: cst.ClassDef, name: str) -> int:
    """How many times the body of *cls* binds *name* (a def or an assignment)."""
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    count = 0
    for statement in body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            count += 1
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                targets = small.targets if isinstance(small, cst.Assign) else ()
                count += sum(code(t.target) == name for t in targets)
    return count


def plain_hooks(visitor: cst.MetadataDependent, module: cst.Module) -> set[int]:
    """The ids of the ``setUp``/``tearDown`` methods that override nothing but
    unittest's no-op: once emptied, removing them changes nothing.

    A hook that is decorated, async or defined twice, or whose class inherits
    from a base that cannot be resolved or that defines the hook, is not one.
    Must run while *visitor* has its metadata (``QualifiedNameProvider``).
    """
    body = list(module.body)
    classes: dict[str, cst.ClassDef | None] = {}
    for statement in body:
        if isinstance(statement, cst.ClassDef):
            name = statement.name.value
            classes[name] = None if name in classes else statement

    def inherits_noop(cls: cst.ClassDef, hook: str, seen: frozenset[str]) -> bool:
        if cls.keywords:
            return False
        for arg in cls.bases:
            if arg.star:
                return False
            if qualified(visitor, arg.value) & _NOOP_BASES or code(arg.value) == "object":
                continue
            local = classes.get(code(arg.value)) if isinstance(arg.value, cst.Name) else None
            if local is None or local.name.value in seen or body.index(local) > body.index(cls):
                return False
            if _defines(local, hook) or not inherits_noop(local, hook, seen | {cls.name.value}):
                return False
        return True

    found: set[int] = set()
    for cls in body:
        if not isinstance(cls, cst.ClassDef) or not isinstance(cls.body, cst.IndentedBlock):
            continue
        for method in cls.body.body:
            if (
                isinstance(method, cst.FunctionDef)
                and method.name.value in _HOOKS
                and not method.decorators
                and method.asynchronous is None
                and _defines(cls, method.name.value) == 1
                and inherits_noop(cls, method.name.value, frozenset())
            ):
                found.add(id(method))
    return found


def _has_comment(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Comment) or any(_has_comment(c) for c in node.children)


def is_emptied(method: cst.FunctionDef) -> bool:
    """Whether the rewrite left *method* without a statement (libcst would print
    ``pass``) and without a comment. A docstring is a statement: it stays."""
    body = method.body
    return isinstance(body, cst.IndentedBlock) and not body.body and not _has_comment(method)


def remove_statements(body: Sequence[cst.BaseStatement], drop: set[int]) -> list[cst.BaseStatement]:
    """*body* without the statements whose ids are in *drop*, keeping the blank
    lines that separated what remains: the statement after a removed one gets
    the larger of the two separations, or the removed one's when it becomes first."""
    out: list[cst.BaseStatement] = []
    pending: Sequence[cst.EmptyLine] | None = None
    for statement in body:
        lines: Sequence[cst.EmptyLine] = getattr(statement, "leading_lines", ())
        if id(statement) in drop:
            pending = lines if pending is None else pending
            continue
        if pending is not None and (not out or len(pending) > len(lines)):
            statement = statement.with_changes(leading_lines=pending)
        pending = None
        out.append(statement)
    return out


def _references(node: cst.CSTNode) -> Counter[str]:
    """How often each name is used in *node*, its imports aside."""
    nodes = list(iter_nodes(node))
    counts = Counter(n.value for n in nodes if isinstance(n, cst.Name))
    for sub in nodes:
        if isinstance(sub, (cst.Import, cst.ImportFrom)):
            counts.subtract(n.value for n in iter_nodes(sub) if isinstance(n, cst.Name))
    return counts


def _strings(node: cst.CSTNode) -> str:
    """The text of every string literal in *node*: a name written there may
    be a reference (an ``__all__`` entry, a string annotation, a doctest)."""
    parts = []
    for sub in iter_nodes(node):
        if isinstance(sub, cst.SimpleString):
            parts.append(sub.value)
        elif isinstance(sub, cst.FormattedStringText):
            parts.append(sub.value)
    return "\n".join(parts)


def _bound(alias: cst.ImportAlias, statement: cst.Import | cst.ImportFrom) -> tuple[str, str]:
    """(the module the alias comes from, the name it binds)."""
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        name = alias.asname.name.value
    else:
        name = code(alias.name).split(".")[0]
    if isinstance(statement, cst.Import):
        return code(alias.name), name
    relative = "." * len(statement.relative)
    return relative + (code(statement.module) if statement.module else ""), name


def _without_unused(
    before: cst.CSTNode, after: cst.CSTNode, body: Sequence[cst.BaseStatement]
) -> list[cst.BaseStatement]:
    """*body*, a block of *after*, without the imports of os, shutil and tempfile
    names that *before* used and *after* no longer does."""
    used_before, used_after = _references(before), _references(after)
    strings = _strings(after)

    def unused(module: str, name: str) -> bool:
        return (
            module in _MODULES
            and used_before[name] > 0
            and used_after[name] <= 0
            and not re.search(rf"\b{re.escape(name)}\b", strings)
        )

    kept_body: list[cst.BaseStatement] = []
    drop: set[int] = set()
    for line in body:
        small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
        if (
            not isinstance(line, cst.SimpleStatementLine)
            or len(line.body) != 1
            or not isinstance(small, (cst.Import, cst.ImportFrom))
            or not isinstance(small.names, Sequence)
            or _has_comment(line)
        ):
            kept_body.append(line)
            continue
        aliases = list(small.names)
        kept = [alias for alias in aliases if not unused(*_bound(alias, small))]
        if not kept:
            drop.add(id(line))
        elif kept[-1] is not aliases[-1]:
            kept[-1] = kept[-1].with_changes(comma=aliases[-1].comma)
        kept_body.append(line.with_changes(body=[small.with_changes(names=kept)]) if kept else line)
    return remove_statements(kept_body, drop)


def prune_imports(before: cst.Module, after: cst.Module) -> cst.Module:
    """*after* without the module-level imports of os, shutil and tempfile names
    that *before* used and *after* no longer does.

    An import line with a comment, of several statements, a star import and
    any import of another module (``__future__`` included) stay as they are.
    """
    return after.with_changes(body=_without_unused(before, after, after.body))


def prune_local_imports(before: cst.FunctionDef, after: cst.FunctionDef) -> cst.FunctionDef:
    """*after* without the imports at the top level of its body that
    :func:`prune_imports` would remove, counting uses in the function only
    (the name is local to it). In a function that declares a name ``global``
    or ``nonlocal`` an import may bind a name of another scope: it stays whole.
    """
    if not isinstance(after.body, cst.IndentedBlock) or any(
        isinstance(node, (cst.Global, cst.Nonlocal)) for node in iter_nodes(after)
    ):
        return after
    body = _without_unused(before, after, after.body.body)
    return after.with_changes(body=after.body.with_changes(body=body))
