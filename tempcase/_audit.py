"""``tempcase audit``: the tests ranked by what they leaked, grouped by module."""

from __future__ import annotations

import sys
from collections import defaultdict

from tempcase._report import Leak, RunReport, escape
from tempcase._report import _size as human_size

__all__ = ["module_of", "render_audit"]


def module_of(context: str | None, scope: str) -> str:
    """The module a context belongs to: the longest loaded module its id starts with."""
    if context is None:
        return "(session)"
    if scope == "module":
        return context
    parts = context.split(".")
    for end in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in sys.modules:
            return candidate
    return parts[0]


def _n(count: int, word: str, plural: str = "") -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def _short(leak: Leak) -> str:
    """A path as the audit shows it: the name alone for the sandbox, else in full."""
    text = escape(str(leak.path))
    return f"tmp/{escape(leak.path.name)}" if leak.where == "sandbox" else text


def _rank(leaks: list[Leak]) -> tuple[int, int]:
    return -len(leaks), -sum(leak.size for leak in leaks)


def render_audit(report: RunReport, *, paths_each: int = 3) -> list[str]:
    """The audit table: modules worst first, then their tests worst first, with paths.

    Sandbox paths (made through ``tempfile``) are shown by name as ``tmp/NAME``:
    the sandbox is removed after the run.
    """
    if not report.leaks:
        return [f"tempcase audit: no leaks in {report.tests_run:,} tests"]
    by_module: dict[str, dict[tuple[str | None, str], list[Leak]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for leak in report.leaks:
        by_module[module_of(leak.context, leak.scope)][(leak.context, leak.scope)].append(leak)
    total = sum(leak.size for leak in report.leaks)
    scopes = sum(len(contexts) for contexts in by_module.values())
    lines = [
        f"tempcase audit: {_n(scopes, 'test or fixture', 'tests or fixtures')} leaked "
        f"{_n(len(report.leaks), 'path')} ({human_size(total)}) in "
        f"{_n(report.tests_run, 'test')}; worst first, by module.",
        "  where: sandbox = made through tempfile (removed after the run), "
        "temp-root/watched = reported only",
    ]
    ranked_modules = sorted(
        by_module.items(),
        key=lambda item: _rank([leak for leaks in item[1].values() for leak in leaks]),
    )
    for module, contexts in ranked_modules:
        leaks_here = [leak for leaks in contexts.values() for leak in leaks]
        lines.append("")
        lines.append(
            f"{escape(module)}: {_n(len(leaks_here), 'path')}, "
            f"{human_size(sum(leak.size for leak in leaks_here))}"
        )
        for (context, scope), leaks in sorted(contexts.items(), key=lambda item: _rank(item[1])):
            name = "(session)" if context is None else escape(context)
            if context is not None and module != "(session)" and context.startswith(module + "."):
                name = escape(context[len(module) + 1 :])
            label = f"{name} [{scope}]" if scope != "test" else name
            places = ", ".join(sorted({leak.where for leak in leaks}))
            size = human_size(sum(leak.size for leak in leaks))
            lines.append(
                f"  {len(leaks):>4} {'path' if len(leaks) == 1 else 'paths'} "
                f"{size:>9}  {places:<9}  {label}"
            )
            for leak in leaks[:paths_each]:
                lines.append(f"{'':18}{_short(leak)} ({leak.kind})")
            if len(leaks) > paths_each:
                lines.append(f"{'':18}... and {len(leaks) - paths_each:,} more")
    if report.redirect_resets:
        lines.append("")
        lines.append(
            f"{_n(len(report.redirect_resets), 'scope')} changed where temporary files go "
            "(set right again):"
        )
        for reset in report.redirect_resets[:10]:
            name = "(session)" if reset.context is None else escape(reset.context)
            lines.append(f"  {name}")
            lines.append(f"      {escape(reset.what)}")
        if len(report.redirect_resets) > 10:
            lines.append(f"  ... and {len(report.redirect_resets) - 10:,} more")
    return lines
