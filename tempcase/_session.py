"""The run: one per process, the one object every front end talks to."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol

from tempcase._keep import KeptArea
from tempcase._layout import (
    MARKER,
    RunDirectory,
    ensure_user_root,
    system_tempdir,
    user_root_name,
)
from tempcase._paths import as_path_str
from tempcase._registry import Context, Registry, Tracked, cached_pid
from tempcase._removal import Identity, Problem, remove_path

if TYPE_CHECKING:  # detection is loaded by the runner, not by every import
    from tempcase._leaks import Detector
from tempcase._report import (
    CleanupError,
    CleanupResult,
    ContextOutcome,
    Kept,
    Leak,
    Stats,
    describe_path,
    warn_cleanup_errors,
)

__all__ = [
    "RUN_STARTED",
    "Listener",
    "Session",
    "cleanup_all",
    "cleanup_context",
    "current_context",
    "get_session",
    "get_stats",
    "register",
    "scope",
]

_log = logging.getLogger("tempcase")

# The run starts when tempcase is first imported (the runner resets it when it
# starts).  Paths whose change time is older than this, less the slack for
# coarse timestamps, existed before the run and are not adopted by default.
RUN_STARTED = time.time()
_CTIME_SLACK = 2.0

# Directory suffix of each role a context can have: its own directory
# (``tempcase_dir``) and its scratch area for uniquely named temp entries.
ROLE_DIR = "dir"
ROLE_SCRATCH = "scratch"
_ROLE_SUFFIX = {ROLE_DIR: "", ROLE_SCRATCH: ".tmp"}
# What cleaning a context that tracks nothing returns (never mutated).
_NOTHING = CleanupResult()


class Listener(Protocol):
    """What a runner's result or a plugin implements to hear of each cleanup."""

    def tempcase_outcome(self, outcome: ContextOutcome) -> None:
        """Called after a context was cleaned (also when it had nothing)."""


class Session:
    """The run of this process: its layout, registry, totals and failures.

    :param basetemp: the directory that holds the per-user root; by default
        ``TEMPCASE_BASETEMP``, else the system temp dir.
    :param started: when the run started (time stamp).
    """

    def __init__(self, *, basetemp: str | None = None, started: float = RUN_STARTED) -> None:
        if basetemp is not None:
            self.basetemp, self.basetemp_source = basetemp, "the basetemp setting"
        elif "TEMPCASE_BASETEMP" in os.environ:
            self.basetemp, self.basetemp_source = (
                os.environ["TEMPCASE_BASETEMP"],
                "TEMPCASE_BASETEMP",
            )
        else:
            self.basetemp, self.basetemp_source = system_tempdir(), "the system temp dir"
        self.started = started
        self.pid = os.getpid()
        self.registry = Registry()
        self.removed = 0
        self.failed = 0
        self.leaked = 0
        self.tracked_total = 0
        self.tests_with_paths = 0
        self.failures: list[CleanupError] = []
        # A runner's result or a plugin hears of every cleanup and shows the
        # problems in its report; without one, they are shown as warnings.
        self.listeners: list[Listener] = []
        # "never", "failed" or "always": with a listener, the directories of
        # tests are held back at cleanup for it to keep or remove.
        self.keep = "never"
        self.class_contexts: dict[type, Context] = {}
        self.module_contexts: dict[str, Context] = {}
        self._kept_area: KeptArea | None = None
        # The leak detector of the top-level run (the runner installs it).
        self.detector: Detector | None = None
        self._run: RunDirectory | None = None
        self._run_lock = threading.Lock()
        self.ended = False

    # -- layout ---------------------------------------------------------

    @property
    def run_dir(self) -> RunDirectory:
        """This run's directory, created on first use."""
        run = self._run
        if run is None:
            with self._run_lock:
                run = self._run
                if run is None:
                    root = ensure_user_root(self.basetemp, source=self.basetemp_source)
                    run = self._run = RunDirectory(root, started=self.started)
                    _log.debug("run directory %s", run.path)
        return run

    @property
    def has_run_dir(self) -> bool:
        """Whether the run directory exists (nothing was created otherwise)."""
        return self._run is not None

    def context_dir(self, ctx: Context, role: str) -> str:
        """The directory of *ctx* for *role*, created on first use.

        :raises RuntimeError: if *ctx* has ended.
        """
        path = ctx.dirs.get(role)
        if path is not None:
            return path
        with self.registry.lock:
            if ctx.closed:
                raise RuntimeError(
                    f"tempcase: the {ctx.scope} context {ctx.name or 'session'!r} has ended and "
                    "been cleaned up; create files while it runs"
                )
            path = ctx.dirs.get(role)
            if path is None:
                path = self._make_context_dir(ctx, role)
                ctx.dirs[role] = path
                self.registry.adopt(ctx)
        return path

    def _make_context_dir(self, ctx: Context, role: str) -> str:
        run = self.run_dir
        suffix = _ROLE_SUFFIX[role]
        for other_role, other in ctx.dirs.items():
            stem = other[: len(other) - len(_ROLE_SUFFIX[other_role])]
            try:
                os.mkdir(stem + suffix, 0o700)
            except FileExistsError:
                break
            os.chmod(stem + suffix, 0o700)
            return stem + suffix
        return run.make_dir(ctx.name, suffix)

    # -- contexts -------------------------------------------------------

    def open_context(self, name: str | None, scope: str) -> Context:
        """Start a context and make it current."""
        ctx = self.registry.new(name, scope)
        self.registry.push(ctx)
        return ctx

    def end_context(self, ctx: Context) -> CleanupResult:
        """Clean *ctx* if that has not happened, stop it being current, forget it."""
        if not ctx.dirs and not ctx.external and not ctx.created:
            # Nothing tracked (now): most tests end here, cheaply.
            ctx.closed = True
            self.registry.pop(ctx)
            if self.registry.is_kept(ctx):  # it tracked something once
                self.registry.drop(ctx)
            return _NOTHING
        try:
            return CleanupResult() if ctx.closed else self.clean(ctx)
        finally:
            self.registry.pop(ctx)
            if cached_pid() == ctx.owner_pid:
                self.registry.drop(ctx)

    def finish_context(self, ctx: Context) -> CleanupResult:
        """Clean *ctx* and close it for writes (it stays current until ended)."""
        result = self.clean(ctx)
        if cached_pid() == ctx.owner_pid:  # (a cached pid: nothing is removed here)
            if self.registry.is_kept(ctx) or ctx.external:
                self.registry.drop(ctx)
            else:
                ctx.closed = True  # never kept: nothing to forget (most tests)
        return result

    def class_context(self, cls: type) -> Context:
        """The context of a test class, made on first use."""
        with self.registry.lock:
            ctx = self.class_contexts.get(cls)
            if ctx is None or ctx.closed:
                ctx = self.registry.new(f"{cls.__module__}.{cls.__qualname__}", "class")
                self.class_contexts[cls] = ctx
            return ctx

    def end_class(self, cls: type) -> CleanupResult:
        """Clean and forget a class's context."""
        with self.registry.lock:
            ctx = self.class_contexts.pop(cls, None)
        return CleanupResult() if ctx is None else self.finish_context(ctx)

    def module_context(self, module: str) -> Context:
        """The context of a test module (seen by the runner and the plugin)."""
        with self.registry.lock:
            ctx = self.module_contexts.get(module)
            if ctx is None or ctx.closed:
                ctx = self.module_contexts[module] = self.registry.new(module, "module")
            return ctx

    def end_module(self, module: str) -> CleanupResult:
        """Clean and forget a module's context."""
        with self.registry.lock:
            ctx = self.module_contexts.pop(module, None)
        return CleanupResult() if ctx is None else self.finish_context(ctx)

    def clean(self, ctx: Context) -> CleanupResult:
        """Remove everything *ctx* tracks; never raises.

        The context's directories go with one tree removal each; externally
        registered paths are removed in path order (a directory before what
        is below it), skipping those inside a tree already removed.  Only the
        process that made a context cleans it: a forked child leaves its
        parent's files alone.  The listener, if any, hears of the outcome;
        without one, problems become a warning.
        """
        if not ctx.dirs and not ctx.external and not ctx.created:
            ctx.generation += 1  # nothing to remove: the common case, kept cheap
            return _NOTHING
        if os.getpid() != ctx.owner_pid:
            return CleanupResult()
        tracked = ctx.tracked
        errors: list[CleanupError] = []
        leaks: list[Leak] = []
        held: list[str] = []
        gone: list[str] = []
        ctx.generation += 1
        hold = self.keep != "never" and ctx.scope == "test" and bool(self.listeners)
        for role, path in list(ctx.dirs.items()):
            del ctx.dirs[role]
            if hold:
                held.append(path)
                continue
            problems = remove_path(path)
            self._record(ctx, path, problems, errors, leaks)
            if not problems:
                gone.append(path + os.sep)
        held_paths = ctx.created if hold else 0
        removed = 0 if errors or hold else ctx.created
        ctx.created = 0
        # In path order, so a directory comes before everything below it: a
        # registered directory goes as one tree, and what was registered
        # below it (the paths right after it in this order) goes with it.
        # Also the safe order: a directory swapped for a link is unlinked
        # before any path through it is looked at.
        inside = ""  # the prefix of the last directory removed whole
        external = ctx.external
        for path in sorted(external):
            if (inside and path.startswith(inside)) or (
                gone and any(path.startswith(p) for p in gone)
            ):
                removed += 1
                continue
            problems = remove_path(path, expected=external[path].identity)
            self._record(ctx, path, problems, errors, leaks)
            if not os.path.lexists(path):
                removed += 1
                if not problems:
                    inside = path.rstrip(os.sep) + os.sep
        self.registry.untrack_all(ctx)
        self.removed += removed
        self.tracked_total += tracked
        if ctx.scope == "test" and tracked:
            self.tests_with_paths += 1
        result = CleanupResult(removed, errors)
        self.failures.extend(errors)
        if self.listeners:
            self.listeners[-1].tempcase_outcome(
                ContextOutcome(
                    ctx.name, ctx.scope, tracked, removed, errors, leaks, held, held_paths
                )
            )
        elif errors:
            warn_cleanup_errors(errors, stacklevel=2)
        _log.debug(
            "cleaned %r: %d removed, %d errors, %d held", ctx, removed, len(errors), len(held)
        )
        return result

    def _record(
        self,
        ctx: Context,
        path: str,
        problems: list[Problem],
        errors: list[CleanupError],
        leaks: list[Leak],
    ) -> None:
        for problem in problems:
            errors.append(CleanupError(ctx.name, Path(problem.path), problem.error))
        if problems:
            self.failed += len(problems)
            if os.path.lexists(path):
                self.leaked += 1
                kind, size = describe_path(path)
                inside = self._run is not None and path.startswith(self._run.path + os.sep)
                where = "sandbox" if inside else "tracked"
                leaks.append(Leak(ctx.name, ctx.scope, Path(path), kind, where, size, False))

    def settle_held(
        self, outcome: ContextOutcome, *, keep: bool
    ) -> tuple[list[Kept], list[CleanupError], list[Leak]]:
        """Keep (move aside) or remove the directories a cleanup held back."""
        kept: list[Kept] = []
        errors: list[CleanupError] = []
        leaks: list[Leak] = []
        ctx = Context(outcome.context, outcome.scope)
        for path in outcome.held:
            if keep and _has_entries(path):
                try:
                    kept.append(Kept(outcome.context, Path(self.kept_area.keep(path))))
                    continue
                except OSError as exc:
                    _log.debug("could not keep %s: %s", path, exc)
            self._record(ctx, path, remove_path(path), errors, leaks)
        if not errors and not kept:
            self.removed += outcome.held_paths
        self.failures.extend(errors)
        return kept, errors, leaks

    @property
    def kept_area(self) -> KeptArea:
        """Where this run's kept directories go."""
        if self._kept_area is None:
            run = self.run_dir
            self._kept_area = KeptArea(os.path.dirname(run.path), os.path.basename(run.path))
        return self._kept_area

    def report_problems(self, ctx: Context, path: str, problems: list[Problem]) -> None:
        """Record and show problems met removing *path* outside a context's cleanup."""
        errors: list[CleanupError] = []
        leaks: list[Leak] = []
        self._record(ctx, path, problems, errors, leaks)
        self.failures.extend(errors)
        if self.listeners:
            self.listeners[-1].tempcase_outcome(
                ContextOutcome(ctx.name, ctx.scope, 0, 0, errors, leaks, [])
            )
        else:
            warn_cleanup_errors(errors, stacklevel=3)

    # -- registration ---------------------------------------------------

    def register(
        self,
        path: object,
        *,
        kind: str,
        adopt_existing: bool,
        func: str,
        ctx: Context | None = None,
    ) -> Path:
        """Adopt a path made by other means for *ctx* (the current context).

        :raises ValueError: for ``..`` components, protected directories, a
            path of the other kind, or one that existed before the run.
        """
        text = as_path_str(path, func=func)
        parts = text.replace(os.altsep or os.sep, os.sep).split(os.sep)
        if ".." in parts:
            raise ValueError(
                f"{func}: path {text!r} has a '..' component; tempcase never normalises a "
                "path it will delete (a link's '..' is not its parent): give the path itself"
            )
        absolute = os.path.abspath(text)
        if os.path.dirname(absolute) == absolute:
            raise ValueError(f"{func}: path {text!r} is a file system root; it is never removed")
        try:
            st: os.stat_result | None = os.lstat(absolute)
        except FileNotFoundError:
            st = None
        identity = None
        is_link = st is not None and stat.S_ISLNK(st.st_mode)
        if not is_link:  # a link is only ever unlinked: it may stand anywhere
            key = None if st is None or not stat.S_ISDIR(st.st_mode) else (st.st_dev, st.st_ino)
            reason = self._protected_reason(absolute, key) if st is None or key else None
            if reason:
                raise ValueError(f"{func}: path {text!r} is {reason}; it is never removed")
        if st is not None:
            is_dir = stat.S_ISDIR(st.st_mode)
            if kind == "file" and is_dir:
                raise ValueError(
                    f"{func}: path {text!r} is a directory; use register_temp_directory"
                )
            if kind == "directory" and not is_dir and not stat.S_ISLNK(st.st_mode):
                raise ValueError(
                    f"{func}: path {text!r} is not a directory; use register_temp_file"
                )
            if not adopt_existing and st.st_ctime < self.started - _CTIME_SLACK:
                raise ValueError(
                    f"{func}: path {text!r} existed before the run started; tempcase removes "
                    "what the run created, not what it found: pass adopt_existing=True if it "
                    "must go"
                )
            identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
        target = ctx if ctx is not None else self.registry.current()
        if target.closed:
            raise RuntimeError(
                f"{func}: the {target.scope} context {target.name or 'session'!r} has ended; "
                "register paths while it runs"
            )
        if self.registry.track(target, Tracked(absolute, identity)):
            _log.debug("registered %s for %r", absolute, target)
        return Path(absolute)

    def _protected_reason(self, absolute: str, key: tuple[int, int] | None) -> str | None:
        """Say why a directory must never be removed, or None.

        By identity (device, inode) when it exists, so that aliases count;
        by name too, so that one that does not exist yet (tempcase's own
        per-user root before the run directory is made) is refused as well.
        """
        holds_run = "a directory that holds tempcase's run directory"
        candidates = [
            ("the current working directory or one of its parents", os.getcwd()),
            ("the home directory or one of its parents", os.path.expanduser("~")),
            ("the system temp dir or one of its parents", system_tempdir()),
            (holds_run, os.path.join(os.path.abspath(self.basetemp), user_root_name(), "run")),
        ]
        if self._run is not None:
            candidates.append((holds_run, self._run.path))
        real = os.path.realpath(absolute)
        for reason, start in candidates:
            current = os.path.abspath(start)
            while True:
                if current in (absolute, real):
                    return reason
                if key is not None:
                    try:
                        st = os.stat(current)
                    except OSError:
                        st = None
                    if st is not None and (st.st_dev, st.st_ino) == key:
                        return reason
                parent = os.path.dirname(current)
                if parent == current:
                    break
                current = parent
        return None

    # -- whole run --------------------------------------------------------

    def stats(self) -> Stats:
        """A snapshot of the registry and the totals."""
        by_context: dict[str | None, int] = {}
        contexts = 0
        for ctx in self.registry.live():
            if ctx.tracked:
                contexts += 1
                by_context[ctx.name] = by_context.get(ctx.name, 0) + ctx.tracked
        return Stats(
            contexts=contexts,
            tracked_paths=sum(by_context.values()),
            paths_by_context=by_context,
            removed=self.removed,
            failed=self.failed,
            leaked=self.leaked,
        )

    def clean_all(self) -> CleanupResult:
        """Clean every context this process owns; class and module contexts are forgotten."""
        result = CleanupResult()
        with self.registry.lock:
            self.class_contexts.clear()
            self.module_contexts.clear()
        for ctx in self.registry.live():
            result += self.clean(ctx)
            if ctx is not self.registry.session and ctx not in self.registry.stack():
                self.registry.drop(ctx)
        return result

    def end(self) -> CleanupResult:
        """End the run: clean all contexts, remove the run directory, release the lock.

        Does nothing in a process that did not create the run (after fork).
        """
        if self.ended:
            return CleanupResult()
        result = self.clean_all()
        if os.getpid() != self.pid:
            return result
        self.ended = True
        run = self._run
        if run is not None:
            # What a context could not remove was reported then; only what is
            # new (nothing, as a rule) is reported again, and never as a leak:
            # the run directory is tempcase's own.
            known = {error.path for error in self.failures}
            problems = [p for p in _remove_run_dir(run.path) if Path(p.path) not in known]
            errors = [CleanupError(None, Path(p.path), p.error) for p in problems]
            self.failed += len(errors)
            self.failures.extend(errors)
            if errors:
                if self.listeners:
                    self.listeners[-1].tempcase_outcome(
                        ContextOutcome(None, "session", 0, 0, errors, [], [])
                    )
                else:
                    warn_cleanup_errors(errors)
            run.release()
        return result


def _remove_run_dir(path: str) -> list[Problem]:
    """Remove a run directory, its marker last.

    If something inside cannot be removed, the marker stays, so that
    ``tempcase clean`` still knows the directory for tempcase's and removes
    it once it can (after the process is gone, the lock is free).
    """
    problems: list[Problem] = []
    try:
        names = [entry.name for entry in os.scandir(path)]
    except FileNotFoundError:
        return problems
    except OSError:
        names = []
    for name in names:
        if name != MARKER:
            problems.extend(remove_path(os.path.join(path, name)))
    if not problems:
        problems.extend(remove_path(path))
    return problems


def _has_entries(path: str) -> bool:
    """Whether a directory holds anything (an empty one is not worth keeping)."""
    try:
        with os.scandir(path) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


_session: Session | None = None
_session_lock = threading.Lock()


def get_session() -> Session:
    """The session of this process, made on first use."""
    session = _session
    if session is None:
        with _session_lock:
            session = _session
            if session is None:
                session = _install(Session())
    return session


def _install(session: Session) -> Session:
    global _session
    _session = session
    return session


def _end_at_exit() -> None:
    session = _session
    if session is not None:
        try:
            session.end()
        except Exception:
            _log.debug("ending the session failed", exc_info=True)


def _after_fork_in_child() -> None:
    global _session_lock
    _session_lock = threading.Lock()
    session = _session
    if session is not None:
        session.registry.reinit_after_fork()
        session._run_lock = threading.Lock()


atexit.register(_end_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- module-level API ------------------------------------------------------


def register(path: object, *, kind: str, adopt_existing: bool, func: str) -> Path:
    """Register *path* for the current context (see :meth:`Session.register`)."""
    return get_session().register(path, kind=kind, adopt_existing=adopt_existing, func=func)


def current_context() -> str | None:
    """The current context: a test id, class id, module name, or None for the session.

    .. versionadded:: 0.1
    """
    session = _session
    return None if session is None else session.registry.current().name


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """A custom scope: what is made inside the block is removed when it exits.

    :param name: the context name reported for what the block leaves.
    :raises TypeError: if *name* is not a string.

    .. versionadded:: 0.1
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"scope: name must be a non-empty str, not {name!r}")
    session = get_session()
    ctx = session.open_context(name, "custom")
    try:
        yield
    finally:
        session.end_context(ctx)


def cleanup_context(context: str | None) -> CleanupResult:
    """Clean every context named *context* now (``None``: the session).

    A context that is still running stays usable: what it creates afterwards
    is tracked as before.

    .. versionadded:: 0.1
    """
    if context is not None and not isinstance(context, str):
        raise TypeError(
            f"cleanup_context: context must be str or None, not {type(context).__name__}"
        )
    session = get_session()
    result = CleanupResult()
    for ctx in session.registry.live():
        if ctx.name == context and (context is not None or ctx is session.registry.session):
            result += session.clean(ctx)
    return result


def cleanup_all() -> CleanupResult:
    """Clean every context now; only outside a test.

    :raises RuntimeError: when called while a test runs.

    .. versionadded:: 0.1
    """
    session = get_session()
    running = [ctx for ctx in session.registry.stack() if ctx.scope == "test"]
    if running:
        raise RuntimeError(
            f"cleanup_all: called inside test {running[-1].name!r}, which would remove its "
            "own files; use cleanup_context(name) for one context"
        )
    return session.clean_all()


def get_stats() -> Stats:
    """Tracked paths per context, and the run's totals so far.

    .. versionadded:: 0.1
    """
    return get_session().stats()
