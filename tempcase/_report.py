"""Records of what cleanup removed, what it could not, and what leaked."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

__all__ = [
    "CleanupError",
    "CleanupResult",
    "Leak",
    "Stats",
    "TempcaseWarning",
    "escape",
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
    :param where: ``tracked``, ``sandbox``, ``temp-root`` or ``watched``.
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


def escape(text: str) -> str:
    """Make *text* printable on any stream: undecodable bytes become escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
