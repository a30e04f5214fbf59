"""The four rewrites of ``tempcase migrate``, one planner per tempfile maker."""

from __future__ import annotations

import libcst as cst

from tempcase._migrate_flow import iter_nodes
from tempcase._migrate_ntf import plan_named
from tempcase._migrate_rules import (
    Edit,
    Method,
    Plan,
    Skip,
    code,
    fspath,
    helper_call,
    key_of,
    qualified,
    same,
)

__all__ = ["plan_class"]


def _plan_mkdtemp(m: Method) -> Plan:
    line, small = m.assignment()
    key = key_of(small.targets[0].target)
    args = m.affixes(m.keywords(["prefix"]))
    drops = m.removals(["shutil.rmtree"], key)
    m.check_flow(key, [line, *(edit.node for edit in drops)])
    new = small.with_changes(value=fspath(helper_call("create_temp_directory", args)))
    return Plan([Edit(small, new), *drops], needs_os=True)


def _plan_mkstemp(m: Method) -> Plan:
    line, small = m.assignment()
    target = small.targets[0].target
    if not isinstance(target, cst.Tuple) or len(target.elements) != 2:
        raise Skip("the result is not unpacked into a descriptor and a path")
    fd, path = (element.value for element in target.elements)
    if not isinstance(fd, cst.Name):
        raise Skip("the descriptor is not a local name")
    key = key_of(path)
    args = m.affixes(m.keywords(["prefix", "suffix"]))
    uses = [n for n in iter_nodes(m.method.body) if isinstance(n, cst.Name) and n.value == fd.value]
    closes = [
        n
        for n in iter_nodes(m.method.body)
        if isinstance(n, cst.Call)
        and "os.close" in qualified(m.v, n.func)
        and len(n.args) == 1
        and same(n.args[0].value, fd)
    ]
    if len(closes) != 1:
        raise Skip(f"the descriptor {fd.value!r} is not closed once with os.close()")
    if len(uses) != 2:
        raise Skip(f"the descriptor {fd.value!r} is used, not only closed")
    close_small, close_line = m.parent(closes[0]), m.parent(m.parent(closes[0]))
    if not isinstance(close_small, cst.Expr) or not isinstance(close_line, cst.SimpleStatementLine):
        raise Skip("os.close() is not a statement of its own")
    if len(close_line.body) != 1:
        raise Skip("os.close() shares its line with other statements")
    drops = m.removals(["os.remove", "os.unlink"], key)
    m.check_flow(key, [line, close_line, *(edit.node for edit in drops)])
    call = fspath(helper_call("create_temp_file", args))
    new = small.with_changes(targets=[cst.AssignTarget(key)], value=call)
    return Plan([Edit(small, new), Edit(close_line, None), *drops], needs_os=True)


def _plan_tempdir(m: Method) -> Plan:
    line, small = m.assignment()
    key = key_of(small.targets[0].target)
    args = m.affixes(m.keywords(["prefix"]))
    drops = m.removals([".cleanup"], key)
    if not drops:
        raise Skip("it is never cleaned up explicitly (tearDown or addCleanup)")
    for method in m.scope(key):
        for node in iter_nodes(method.body):
            if node is small.targets[0].target or any(node is edit.node for edit in drops):
                continue
            parent = m.parent(node)
            if same(node, key) and not (
                isinstance(parent, cst.Attribute) and parent.attr.value in ("name", "cleanup")
            ):
                if not any(node is e for e in iter_nodes(small.targets[0])):
                    raise Skip(f"{code(key)} is used as {code(parent)}: only .name is mapped")
    m.check_flow(key, [line, *(edit.node for edit in drops)])
    new = small.with_changes(value=helper_call("create_temp_directory", args))
    return Plan([Edit(small, new), *drops])


_PLANNERS = {
    "tempfile.mkdtemp": _plan_mkdtemp,
    "tempfile.mkstemp": _plan_mkstemp,
    "tempfile.TemporaryDirectory": _plan_tempdir,
    "tempfile.NamedTemporaryFile": plan_named,
}


def plan_class(
    visitor: cst.MetadataDependent,
    cls: cst.ClassDef,
    method: cst.FunctionDef,
    call: cst.Call,
    kind: str,
) -> Plan:
    """The plan for one maker *call* of *kind* in an instance *method* of TestCase *cls*."""
    block = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    methods = [s for s in block if isinstance(s, cst.FunctionDef) and _is_instance_method(s)]
    try:
        return _PLANNERS[kind](Method(visitor, cls, methods, method, call, kind))
    except Skip as exc:
        return Plan(reason=str(exc))


def _is_instance_method(node: cst.FunctionDef) -> bool:
    params = node.params.posonly_params or node.params.params
    plain = not any(
        isinstance(d.decorator, cst.Name) and d.decorator.value in ("classmethod", "staticmethod")
        for d in node.decorators
    )
    return plain and bool(params) and params[0].name.value == "self"
