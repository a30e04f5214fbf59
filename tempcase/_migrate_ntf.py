"""``NamedTemporaryFile(delete=False)``, written once then used by name -> ``create_temp_file``."""

from __future__ import annotations

import libcst as cst

from tempcase._migrate_flow import iter_nodes
from tempcase._migrate_rules import Edit, Method, Plan, Skip, code, fspath, helper_call, text_value

__all__ = ["plan_named"]


def _method_call(line: cst.CSTNode, var: str, name: str) -> cst.Call | None:
    """The call in a line that is only ``var.name(...)``."""
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    small = line.body[0]
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return None
    func = small.value.func
    if (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == var
        and func.attr.value == name
    ):
        return small.value
    return None


def _arguments(m: Method) -> tuple[bool, bool, list[cst.Arg]]:
    """(binary mode, UTF-8 encoding given, the prefix/suffix arguments to carry over)."""
    args = list(m.call.args)
    mode: cst.BaseExpression | None = None
    if args and args[0].keyword is None and not args[0].star:
        mode = args.pop(0).value
    m_args = cst.Call(m.call.func, args)
    keywords = Method(m.v, m.cls, m.methods, m.method, m_args, m.kind).keywords(
        ["mode", "suffix", "prefix", "delete", "encoding"]
    )
    mode = keywords.pop("mode", mode)
    delete = keywords.pop("delete", None)
    if not (isinstance(delete, cst.Name) and delete.value == "False"):
        raise Skip("delete= is not the literal False")
    text = "w+b" if mode is None else text_value(mode)
    if not isinstance(text, str) or "w" not in text or set(text) - set("wb+t"):
        raise Skip("mode= is not a literal write mode")
    binary = "b" in text
    encoding = keywords.pop("encoding", None)
    utf8 = False
    if encoding is not None:
        value = text_value(encoding)
        utf8 = isinstance(value, str) and value.lower().replace("_", "-") in ("utf-8", "utf8")
        if not utf8 or binary:
            raise Skip("encoding= other than a literal 'utf-8' in text mode is not mapped")
    return binary, utf8, m.affixes(keywords)


def _kind(data: cst.BaseExpression) -> str | None:
    """``bytes``, ``ascii`` or ``str`` for literal content (and ``+``/``*`` of it), else None."""
    value = text_value(data)
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, str):
        return "ascii" if value.isascii() else "str"
    if isinstance(data, cst.FormattedString):
        return "str"
    if isinstance(data, cst.Call) and isinstance(data.func, cst.Attribute):
        return "bytes" if data.func.attr.value == "encode" else None
    if isinstance(data, cst.BinaryOperation):
        left, right = _kind(data.left), _kind(data.right)
        if isinstance(data.operator, cst.Multiply) and isinstance(data.right, cst.Integer):
            return left
        if isinstance(data.operator, cst.Add) and left and right:
            kinds = {left, right}
            return "bytes" if kinds == {"bytes"} else None if "bytes" in kinds else max(kinds)
    return None


def _content(data: cst.BaseExpression, binary: bool, utf8: bool) -> None:
    """Refuse content whose bytes on disk could differ after the rewrite."""
    kind = _kind(data)
    if binary and kind != "bytes":
        raise Skip("the content written is not bytes literals or an .encode() call")
    if not binary and kind not in ("ascii", "str"):
        raise Skip("the text written is not str literals")
    if kind == "str" and not utf8:
        raise Skip("non-literal or non-ASCII text without encoding='utf-8' depends on the locale")


def plan_named(m: Method) -> Plan:
    """``f = NamedTemporaryFile(delete=False)``; ``f.write(x)``; ``f.close()``; then only
    ``f.name`` (or the same as ``with ... as f: f.write(x)``) -> one create_temp_file call."""
    binary, utf8, affixes = _arguments(m)
    holder = m.parent(m.call)
    matched: list[cst.CSTNode] = []
    if isinstance(holder, cst.WithItem):
        statement = m.parent(holder)
        if not isinstance(statement, cst.With) or len(statement.items) != 1:
            raise Skip("the with statement has more than one item")
        if holder.asname is None or not isinstance(holder.asname.name, cst.Name):
            raise Skip("the file is not bound with 'as name'")
        var = holder.asname.name.value
        body = list(statement.body.body) if isinstance(statement.body, cst.IndentedBlock) else []
        writes = [_method_call(line, var, "write") for line in body]
        if len(body) > 1 or None in writes:
            raise Skip("the with block does more than one f.write()")
        anchor: cst.CSTNode = statement
    else:
        line, small = m.assignment()
        target = small.targets[0].target
        if not isinstance(target, cst.Name):
            raise Skip(f"assigned to {code(target)}, not to a local name")
        var = target.value
        block = m.parent(line)
        siblings = list(getattr(block, "body", ()))
        after = siblings[siblings.index(line) + 1 :]
        writes = [_method_call(after[0], var, "write")] if after else []
        if writes and writes[0] is None:
            writes = []
        rest = after[len(writes) :]
        if not rest or _method_call(rest[0], var, "close") is None:
            raise Skip(f"{var}.close() does not follow directly after at most one {var}.write()")
        matched = [*after[: len(writes)], rest[0]]
        anchor = line
    content: cst.BaseExpression | None = None
    if writes:
        call = writes[0]
        assert call is not None
        if len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
            raise Skip(f"{var}.write() does not take one plain argument")
        content = call.args[0].value
        _content(content, binary, utf8)
    names: list[cst.Attribute] = []
    for node in iter_nodes(m.method.body):
        if node is anchor or any(node is line for line in matched):
            continue
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            if node.value.value == var and node.attr.value == "name":
                names.append(node)
    uses = [n for n in iter_nodes(m.method.body) if isinstance(n, cst.Name) and n.value == var]
    inside = [n for line in [anchor, *matched] for n in iter_nodes(line)]
    outside = [n for n in uses if not any(n is i for i in inside)]
    if len(outside) != len(names):
        raise Skip(f"{var} is used as a file after it is written, not only through {var}.name")
    key = cst.Attribute(cst.Name(var), cst.Name("name"))
    drops = m.removals(["os.remove", "os.unlink"], key)
    m.check_flow(cst.Name(var), [anchor, *matched, *(edit.node for edit in drops)])
    dropped = [n for edit in drops for n in iter_nodes(edit.node)]
    names = [n for n in names if not any(n is d for d in dropped)]
    call = helper_call("create_temp_file", affixes, content)
    new_name = f"{var}_path"
    if names and any(isinstance(n, cst.Name) and n.value == new_name for n in iter_nodes(m.cls)):
        raise Skip(f"the name {new_name!r} is taken")
    small_new: cst.BaseSmallStatement = (
        cst.Assign([cst.AssignTarget(cst.Name(new_name))], fspath(call))
        if names
        else cst.Expr(call)
    )
    edits = [Edit(node, None) for node in matched]
    if isinstance(anchor, cst.With):
        new_line = cst.SimpleStatementLine([small_new], leading_lines=anchor.leading_lines)
        edits.append(Edit(anchor, new_line))
    else:
        assert isinstance(anchor, cst.SimpleStatementLine)
        edits.append(Edit(anchor, anchor.with_changes(body=[small_new])))
    edits += [Edit(n, cst.Name(new_name)) for n in names]
    return Plan([*edits, *drops], needs_os=bool(names))
