"""Records of what cleanup removed, what it could not, and what leaked."""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from tempcase._real import OS

__all__ = [
    "CleanupError",
    "CleanupResult",
    "ContextOutcome",
    "Kept",
    "Leak",
    "RedirectReset",
    "RunReport",
    "Stats",
    "TempcaseWarning",
    "describe_path",
    "escape",
    "load_baseline",
    "new_leaks",
    "render_text",
    "to_json",
    "warn_cleanup_errors",
]


class TempcaseWarning(UserWarning):
    """A cleanup problem shown where no tempcase report can show it.

    A ``UserWarning`` subclass, so the default warning filters show it (a
    ``ResourceWarning`` would be hidden).

    .. versionadded:: 0.1
    """


@dataclass(frozen=True)
class CleanupError:
    """A path that cleanup could not remove, or found replaced.

    :param context: the test id, class id, module name or ``None`` (session).
    :param path: the path concerned.
    :param error: what went wrong, in words.
    """

    context: str | None
    path: Path
    error: str


@dataclass(frozen=True)
class CleanupResult:
    """What one cleanup did.

    :param removed: how many tracked paths were removed.
    :param errors: what could not be removed, one entry a path.
    """

    removed: int = 0
    errors: list[CleanupError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing went wrong."""
        return not self.errors

    def __add__(self, other: CleanupResult) -> CleanupResult:
        return CleanupResult(self.removed + other.removed, [*self.errors, *other.errors])


@dataclass(frozen=True)
class Leak:
    """A path a scope left behind.

    :param context: the test id, class id, module name, or ``None`` (session).
    :param scope: ``test``, ``class``, ``module``, ``session`` or ``custom``.
    :param path: where it is.
    :param kind: ``file``, ``directory``, ``symlink`` or ``other``.
    :param where: ``sandbox`` (tempcase's own area, or made through
        ``tempfile``), ``tracked`` (registered from elsewhere),
        ``temp-root`` or ``watched``.
    :param size: bytes, everything below for a directory.
    :param removed: whether tempcase removed it.
    """

    context: str | None
    scope: str
    path: Path
    kind: str
    where: str
    size: int
    removed: bool


@dataclass(frozen=True)
class Stats:
    """A snapshot of the registry and the run's totals.

    :param contexts: contexts that currently hold tracked paths.
    :param tracked_paths: paths tracked now, not yet cleaned.
    :param paths_by_context: tracked paths per context (``None`` is the session).
    :param removed: paths removed so far in this run.
    :param failed: paths that could not be removed so far.
    :param leaked: paths left behind so far.
    """

    contexts: int
    tracked_paths: int
    paths_by_context: dict[str | None, int]
    removed: int
    failed: int
    leaked: int


_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), 0x7F]}


def escape(text: str) -> str:
    """Make *text* safe to print on any stream, on one line.

    Undecodable bytes (``os.fsdecode`` surrogates) and control characters
    (a newline or a terminal escape in a file name) become ``\\xNN``.
    """
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.translate(_CONTROL)


def warn_cleanup_errors(errors: Sequence[CleanupError], *, stacklevel: int = 2) -> None:
    """Show cleanup problems as one :class:`TempcaseWarning`.

    Never raises, even under ``-W error``: a cleanup problem must not change
    a test's outcome.
    """
    if not errors:
        return
    lines = [f"tempcase could not clean up {len(errors)} path(s):"]
    lines += [
        f"  {escape(str(e.path))}: {escape(e.error)} (context: {e.context or 'session'})"
        for e in errors
    ]
    try:
        warnings.warn("\n".join(lines), TempcaseWarning, stacklevel=stacklevel + 1)
    except Exception:
        pass


@dataclass(frozen=True)
class Kept:
    """A test directory kept for inspection (``--keep``).

    :param context: the test whose directory it is.
    :param path: where it is now, under the per-user root's ``kept/``.
    """

    context: str | None
    path: Path


@dataclass(frozen=True)
class ContextOutcome:
    """What cleaning one context found: handed to the runner's result.

    :param held: directories not removed yet, because the keep policy asks
        the result to decide once the test's outcome is known.
    :param held_paths: how many tracked paths are in *held*.
    """

    context: str | None
    scope: str
    tracked: int
    removed: int
    errors: list[CleanupError]
    leaks: list[Leak]
    held: list[str]
    held_paths: int = 0


@dataclass(frozen=True)
class RedirectReset:
    """A scope changed ``tempfile.tempdir`` or ``TMPDIR``; it was set right again.

    :param context: the test, class, module, or None (the session).
    :param scope: which kind of scope that is.
    :param what: what the values were, in words.
    """

    context: str | None
    scope: str
    what: str


@dataclass(frozen=True)
class RunReport:
    """Everything the end-of-run report shows; text and JSON render this."""

    tests_run: int
    tracked_paths: int
    tracked_removed: int
    tracked_failed: int
    tests_with_paths: int
    leaks: list[Leak]
    cleanup_failures: list[CleanupError]
    kept: list[Kept]
    new_leaks: list[Leak] | None = None
    baseline: str | None = None
    strict: bool = False
    redirect_resets: list[RedirectReset] = field(default_factory=list)


def describe_path(path: str) -> tuple[str, int]:
    """The kind (file, directory, symlink, other) of *path* and its size in bytes.

    A directory's size is everything below it; links are never followed;
    nothing is opened (a FIFO would block).  The real file system is asked,
    also while a fake one (pyfakefs) is active.
    """
    try:
        st = OS.lstat(path)
    except OSError:
        return "other", 0
    if stat.S_ISLNK(st.st_mode):
        return "symlink", 0
    if stat.S_ISREG(st.st_mode):
        return "file", st.st_size
    if not stat.S_ISDIR(st.st_mode):
        return "other", 0
    total = 0
    pending = [path]
    while pending:
        try:
            with OS.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return "directory", total


def _leak_key(leak: Leak) -> tuple[str | None, str, str]:
    # The context as the JSON report stores it (escaped), so a baseline matches.
    return _text(leak.context), leak.where, leak.kind


def load_baseline(path: str) -> Counter[tuple[str | None, str, str]]:
    """Leaks of an earlier JSON report, counted by (context, where, kind).

    Paths are not compared: names made by ``tempfile`` differ in every run.

    :raises ValueError: if the file is not a tempcase report.
    """
    import json  # here, not at import: only --baseline reads a report

    with open(path, encoding="utf-8") as stream:
        try:
            data = json.load(stream)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"baseline {path} is not JSON: {exc}") from None
    version = data.get("tempcase_report") if isinstance(data, dict) else None
    if type(version) is not int or version != 1:  # True == 1, but is no version
        raise ValueError(f"baseline {path} is not a tempcase report (version 1)")
    leaks = data.get("leaks")
    if not isinstance(leaks, list) or not all(
        isinstance(item, dict) and isinstance(item.get("context"), (str, type(None)))
        for item in leaks
    ):
        raise ValueError(f"baseline {path} has no valid list of leaks")
    counts: Counter[tuple[str | None, str, str]] = Counter()
    for item in leaks:
        counts[(item.get("context"), str(item.get("where")), str(item.get("kind")))] += 1
    return counts


def new_leaks(leaks: Sequence[Leak], baseline: Counter[tuple[str | None, str, str]]) -> list[Leak]:
    """The leaks beyond what the baseline had for the same context, place and kind."""
    remaining = Counter(baseline)
    fresh = []
    for leak in leaks:
        key = _leak_key(leak)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            fresh.append(leak)
    return fresh


def _text(value: str | os.PathLike[str] | bytes | None) -> str | None:
    """*value* as JSON can carry it in UTF-8: undecodable bytes escaped."""
    return None if value is None else escape(os.fsdecode(value))


def to_json(report: RunReport) -> dict[str, Any]:
    """The JSON report, version 1; names that are not UTF-8 are escaped."""
    text = _text
    data: dict[str, Any] = {
        "tempcase_report": 1,
        "tests_run": report.tests_run,
        "tracked": {
            "paths": report.tracked_paths,
            "removed": report.tracked_removed,
            "failed": report.tracked_failed,
        },
        "cleanup_failures": [
            {"context": text(e.context), "path": text(e.path), "error": text(e.error)}
            for e in report.cleanup_failures
        ],
        "leaks": [
            {
                "context": text(leak.context),
                "scope": leak.scope,
                "path": text(leak.path),
                "kind": leak.kind,
                "where": leak.where,
                "size": leak.size,
                "removed": leak.removed,
            }
            for leak in report.leaks
        ],
        "kept": [{"context": text(k.context), "path": text(k.path)} for k in report.kept],
        "redirect_resets": [
            {"context": text(r.context), "scope": r.scope, "what": text(r.what)}
            for r in report.redirect_resets
        ],
    }
    if report.new_leaks is not None:
        data["baseline"] = {"path": text(report.baseline), "new_leaks": len(report.new_leaks)}
    return data


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        # Compare what is shown: 1048575 bytes are "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _owners(leaks: Sequence[Leak]) -> str:
    """Who left the leaks, by scope: "3 tests, 1 class and the session"."""
    scopes: dict[str, set[str | None]] = {}
    for leak in leaks:
        scopes.setdefault(leak.scope, set()).add(leak.context)
    words = {
        "test": ("test", "tests"),
        "class": ("class", "classes"),
        "module": ("module", "modules"),
        "custom": ("scope", "scopes"),
    }
    parts = [
        _count(len(scopes[scope]), *words[scope])
        for scope in ("test", "class", "module", "custom")
        if scope in scopes
    ]
    if "session" in scopes:
        parts.append("the session")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _name(context: str | None) -> str:
    return escape(context) if context is not None else "(session)"


def _kinds(leaks: Iterable[Leak]) -> str:
    counts = Counter(leak.kind for leak in leaks)
    words = {
        "file": ("file", "files"),
        "directory": ("dir", "dirs"),
        "symlink": ("link", "links"),
        "other": ("other", "others"),
    }
    return ", ".join(
        _count(counts[kind], *words[kind])
        for kind in ("file", "directory", "symlink", "other")
        if counts[kind]
    )


def _row(left: str, right: str, width: int = 80) -> list[str]:
    if len(left) + len(right) + 4 <= width:
        return [f"  {left.ljust(width - len(right) - 4)}  {right}"]
    # The details go below, their parts (kinds, size, places) packed into lines.
    lines = [f"  {left}"]
    line = ""
    for part in re.split(r"\s{2,}", right.strip()):
        if line and len(line) + 2 + len(part) > width:
            lines.append(line)
            line = ""
        line = f"{line}  {part}" if line else f"      {part}"
    return [*lines, line]


def _fit(head: str, tail: str, indent: str = "  ", width: int = 80) -> list[str]:
    """``head tail`` on one line if it fits, else *tail* on the next, indented."""
    if len(head) + 1 + len(tail) <= width:
        return [f"{head} {tail}"]
    return [head, f"{indent}{tail}"]


def render_text(report: RunReport, *, limit: int = 10) -> list[str]:
    """The end-of-run summary, readable at 80 columns, worst offenders first.

    One line when all is clean.
    """
    lines: list[str] = []
    if report.leaks:
        by_context: dict[str | None, list[Leak]] = {}
        for leak in report.leaks:
            by_context.setdefault(leak.context, []).append(leak)
        removed = sum(1 for leak in report.leaks if leak.removed)
        kept_only = len(report.leaks) - removed
        lines += _fit(
            f"tempcase: {_owners(report.leaks)} left {_count(len(report.leaks), 'path')} behind",
            f"({removed:,} removed, {kept_only:,} reported only):",
        )
        ranked = sorted(
            by_context.items(),
            key=lambda item: (-len(item[1]), -sum(leak.size for leak in item[1]), _name(item[0])),
        )
        for context, leaks in ranked[:limit]:
            places = ", ".join(sorted({leak.where for leak in leaks}))
            total = sum(leak.size for leak in leaks)
            lines += _row(_name(context), f"{_kinds(leaks)}  {_size(total):>9}  {places}")
        if len(ranked) > limit:
            lines.append(f"  ... and {_count(len(ranked) - limit, 'more test')}")
        if any(leak.where in ("temp-root", "watched") for leak in report.leaks):
            lines.append("  (temp-root, watched: appeared while the test ran; others write there)")
    if report.cleanup_failures:
        lines.append(
            f"tempcase: {_count(len(report.cleanup_failures), 'path')} could not be removed:"
        )
        for failure in report.cleanup_failures[:limit]:
            lines.append(f"  {_name(failure.context)}")
            lines += _fit(f"      {escape(str(failure.path))}:", escape(failure.error), "        ")
        if len(report.cleanup_failures) > limit:
            lines.append(f"  ... and {len(report.cleanup_failures) - limit:,} more")
    if report.kept:
        lines.append(f"tempcase: kept {_count(len(report.kept), 'directory', 'directories')}:")
        for kept in report.kept:
            lines.append(f"  {_name(kept.context)}")
            lines.append(f"      {escape(str(kept.path))}")
    if report.redirect_resets:
        lines.append(
            f"tempcase: {_count(len(report.redirect_resets), 'scope')} changed where temporary "
            "files go (set right again):"
        )
        for reset in report.redirect_resets:
            lines.append(f"  {_name(reset.context)}")
            lines.append(f"      {escape(reset.what)}")
    if report.new_leaks is not None:
        if report.new_leaks:
            lines += _fit(
                f"tempcase: {_count(len(report.new_leaks), 'leak')} not in the baseline",
                escape(str(report.baseline)),
            )
        else:
            lines += _fit("tempcase: no leaks beyond the baseline", escape(str(report.baseline)))
    if report.new_leaks is not None:
        failing = bool(report.new_leaks)
    else:
        failing = bool(report.leaks or report.cleanup_failures)
    if report.strict and failing:
        lines.append("tempcase: strict: leaks and cleanup failures fail this run")
    if report.kept:
        kept_dirs = _count(len(report.kept), "directory", "directories")
        status = f"{report.tracked_removed:,} removed, {kept_dirs} kept"
    elif not report.leaks and not report.cleanup_failures:
        status = "all removed"
    else:
        status = f"{report.tracked_removed:,} removed"
    lines += _fit(
        f"tempcase: {_count(report.tracked_paths, 'path')} tracked in "
        f"{_count(report.tests_with_paths, 'test')},",
        status,
    )
    return lines
