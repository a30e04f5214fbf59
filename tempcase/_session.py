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
from typing import Callable, Iterator

from tempcase._layout import RunDirectory, ensure_user_root, system_tempdir
from tempcase._paths import as_path_str
from tempcase._registry import Context, Registry, Tracked
from tempcase._removal import Identity, Problem, remove_path
from tempcase._report import CleanupError, CleanupResult, Stats, warn_cleanup_errors

__all__ = [
    "RUN_STARTED",
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
        self.failures: list[CleanupError] = []
        # Set by a runner or plugin that shows failures in its own report;
        # without one, they are shown as TempcaseWarning.
        self.reporter: Callable[[CleanupResult], None] | None = None
        self.class_contexts: dict[type, Context] = {}
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
        try:
            return CleanupResult() if ctx.closed else self.clean(ctx)
        finally:
            self.registry.pop(ctx)
            if os.getpid() == ctx.owner_pid:
                self.registry.drop(ctx)

    def finish_context(self, ctx: Context) -> CleanupResult:
        """Clean *ctx* and close it for writes (it stays current until ended)."""
        result = self.clean(ctx)
        if os.getpid() == ctx.owner_pid:
            self.registry.drop(ctx)
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

    def clean(self, ctx: Context) -> CleanupResult:
        """Remove everything *ctx* tracks; never raises.

        The context's directories go with one tree removal each; externally
        registered paths are removed deepest first, skipping those inside a
        tree already removed.  Only the process that made a context cleans
        it: a forked child leaves its parent's files alone.
        """
        if os.getpid() != ctx.owner_pid:
            return CleanupResult()
        removed = 0
        errors: list[CleanupError] = []
        gone: list[str] = []
        generation = ctx.generation
        ctx.generation += 1
        for role, path in list(ctx.dirs.items()):
            problems = remove_path(path)
            self._record(ctx, path, problems, errors)
            if not problems:
                gone.append(path + os.sep)
            del ctx.dirs[role]
        if not errors:
            removed += ctx.created
        ctx.created = 0
        for tracked in sorted(ctx.external.values(), key=_depth, reverse=True):
            if not any(tracked.path.startswith(prefix) for prefix in gone):
                problems = remove_path(tracked.path, expected=tracked.identity)
                self._record(ctx, tracked.path, problems, errors)
            if not os.path.lexists(tracked.path):
                removed += 1
            self.registry.untrack(ctx, tracked.path)
        self.removed += removed
        result = CleanupResult(removed, errors)
        self._publish(result)
        _log.debug(
            "cleaned %r (generation %d): %d removed, %d errors",
            ctx,
            generation,
            removed,
            len(errors),
        )
        return result

    def _record(
        self, ctx: Context, path: str, problems: list[Problem], errors: list[CleanupError]
    ) -> None:
        for problem in problems:
            errors.append(CleanupError(ctx.name, Path(problem.path), problem.error))
        if problems:
            self.failed += len(problems)
            if os.path.lexists(path):
                self.leaked += 1

    def _publish(self, result: CleanupResult) -> None:
        """Hand cleanup errors to the report, or show them as a warning."""
        if result.errors:
            self.failures.extend(result.errors)
            if self.reporter is not None:
                self.reporter(result)
            else:
                warn_cleanup_errors(result.errors, stacklevel=3)

    def report_problems(self, ctx: Context, path: str, problems: list[Problem]) -> None:
        """Record and show problems met removing *path* outside a context's cleanup."""
        errors: list[CleanupError] = []
        self._record(ctx, path, problems, errors)
        self._publish(CleanupResult(0, errors))

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
        if st is not None:
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir:
                reason = self._protected_reason((st.st_dev, st.st_ino))
                if reason:
                    raise ValueError(f"{func}: path {text!r} is {reason}; it is never removed")
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

    def _protected_reason(self, key: tuple[int, int]) -> str | None:
        """Say why a directory must never be removed, or None."""
        candidates = [
            ("the current working directory or one of its parents", os.getcwd()),
            ("the home directory or one of its parents", os.path.expanduser("~")),
            ("the system temp dir or one of its parents", system_tempdir()),
        ]
        if self._run is not None:
            candidates.append(("a directory that holds tempcase's run directory", self._run.path))
        else:
            candidates.append(("a directory that holds tempcase's run directory", self.basetemp))
        for reason, start in candidates:
            current = os.path.abspath(start)
            while True:
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
        """Clean every context this process owns; class contexts are forgotten."""
        result = CleanupResult()
        with self.registry.lock:
            self.class_contexts.clear()
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
            errors: list[CleanupError] = []
            self._record(self.registry.session, run.path, remove_path(run.path), errors)
            self._publish(CleanupResult(0, errors))
            result = CleanupResult(result.removed, [*result.errors, *errors])
            run.release()
        return result


def _depth(tracked: Tracked) -> int:
    return tracked.path.count(os.sep)


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
