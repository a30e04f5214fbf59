"""Remove what killed runs left behind: ``tempcase clean`` and the start-up sweep.

A run directory is removed only when it carries tempcase's marker naming it,
belongs to the current user, is not a link, its lock is free, and either its
process is gone (this host only: a pid means nothing elsewhere) or its marker
is older than the cutoff.  Every doubt keeps it.  A doomed directory is first
renamed to ``garbage-...`` inside the root, so a half-removed run is never
taken for a live one; what an interrupted clean left there goes next time.

A doomed run's sandbox (next to the per-user root, named after the run: see
:func:`tempcase._layout.sandbox_path`) goes first, when it is the user's own
real directory; a run whose sandbox cannot be removed stays, so that the next
sweep finds both again.  ``tempcase clean`` also removes sandboxes whose run
directory is gone, once they are older than the cutoff.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import socket
import stat
import sys
import time
from dataclasses import dataclass
from typing import Sequence, TextIO

from tempcase._args import Parser, UsageError
from tempcase._config import ConfigError, load_settings
from tempcase._keep import KEEP_MARKER, RETAIN_RUNS
from tempcase._layout import MARKER, RUN_PREFIX, sandbox_path, system_tempdir, user_root_name
from tempcase._removal import Identity, Problem, remove_path
from tempcase._report import describe_path, escape

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["GARBAGE_PREFIX", "SweepResult", "main", "parse_age", "sweep_dead_runs"]

_log = logging.getLogger("tempcase")

PROG = "python -m tempcase clean"
GARBAGE_PREFIX = "garbage-"
KEPT_DIR = "kept"
_MAX_MARKER = 64 * 1024
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# O_NONBLOCK: a FIFO put where a marker belongs must not hang the sweep.
_FILE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
_OPEN_AT = os.open in os.supports_dir_fd


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep_dead_runs` did.

    :ivar removed: the run directories removed (their paths before the rename),
        and their sandboxes.
    :ivar problems: what could not be removed.
    :ivar finished: false when the time budget ran out; the rest waits.
    """

    removed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    finished: bool = True


@dataclass(frozen=True)
class _Verdict:
    """What to do with one directory, and why."""

    path: str
    remove: bool
    reason: str
    identity: Identity | None = None


class _Judge:
    """Decides about the entries of one per-user root.

    :param cutoff: markers whose times are all at or before this time stamp
        are old enough for rule (b); None applies rule (a) only.
    :param age_text: how the cutoff is named in reasons.
    """

    def __init__(self, root: str, *, cutoff: float | None, age_text: str) -> None:
        self.root = root
        self.cutoff = cutoff
        self.age_text = age_text
        self.uid = os.getuid() if hasattr(os, "getuid") else -1
        self.host = socket.gethostname()

    def _keep(self, path: str, reason: str) -> _Verdict:
        return _Verdict(path, False, reason)

    def _owned_dir(self, path: str) -> tuple[os.stat_result | None, str]:
        """lstat *path*: its result if it is our own real directory, else why not."""
        try:
            st = os.lstat(path)
        except OSError as exc:
            return None, f"cannot be examined ({_describe(exc)})"
        if stat.S_ISLNK(st.st_mode):
            return None, "a symbolic link"
        if not stat.S_ISDIR(st.st_mode):
            return None, "not a directory"
        if st.st_uid != self.uid:
            return None, f"not ours (owner uid {st.st_uid})"
        return st, ""

    def run(self, name: str) -> _Verdict:
        """Judge the run directory *name* of the root."""
        path = os.path.join(self.root, name)
        st, why = self._owned_dir(path)
        if st is None:
            return self._keep(path, why)
        try:
            fd = _open_same_dir(path, st)
        except OSError as exc:
            return self._keep(path, f"cannot be opened ({_describe(exc)})")
        try:
            # The marker first, the lock after: a run locks before it writes
            # its marker, so a marked run with a free lock is over.
            found = _read_marker(fd, path, MARKER, self.uid)
            if found is None:
                return self._keep(path, "no tempcase marker")
            marker, marker_st = found
            if marker.get("tempcase_run") != 1 or marker.get("run_id") != name:
                return self._keep(path, "its marker does not name this directory")
            lock = _lock_state(fd)
        finally:
            os.close(fd)
        if lock == "held":
            return self._keep(path, "live: its lock is held")
        if lock != "free":
            return self._keep(path, f"lock state unknown ({lock})")
        identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
        host, pid = marker.get("host"), marker.get("pid")
        if host == self.host and _process_gone(pid):
            return _Verdict(path, True, f"dead process: pid {pid} on this host", identity)
        if self._old(marker, marker_st):
            return _Verdict(path, True, f"older than {self.age_text}", identity)
        young = "" if self.cutoff is None else f", younger than {self.age_text}"
        if host != self.host:
            return self._keep(path, f"from another host ({host}){young}")
        return self._keep(path, f"its process {pid} is running{young}")

    def sandbox(self, run: _Verdict) -> _Verdict | None:
        """The sandbox of the doomed run *run*, if there is one: it goes with
        the run when it is our own real directory (anything else there is
        left alone)."""
        path = sandbox_path(run.path)
        if not os.path.lexists(path):
            return None
        st, why = self._owned_dir(path)
        if st is None:
            return self._keep(path, f"{why}, where the sandbox of a dead run would be")
        identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
        return _Verdict(path, True, f"sandbox of a run removed: {run.reason}", identity)

    def lone_sandboxes(self) -> list[_Verdict]:
        """Sandboxes whose run directory is gone (a failed removal, a root
        removed by hand): removed once older than the cutoff by their ctime,
        which moves with every entry made or removed in them."""
        base, root_name = os.path.split(self.root)
        prefix = f"{root_name}-{RUN_PREFIX}"
        try:
            with os.scandir(base) as entries:
                names = sorted(e.name for e in entries if e.name.startswith(prefix))
        except OSError:
            return []
        verdicts = []
        for name in names:
            run_path = os.path.join(self.root, name[len(root_name) + 1 :])
            if os.path.lexists(run_path):
                continue  # judged with its run
            path = os.path.join(base, name)
            st, why = self._owned_dir(path)
            if st is None:
                verdicts.append(self._keep(path, why))
            elif self.cutoff is not None and st.st_ctime <= self.cutoff:
                identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
                reason = f"sandbox of a run that is gone, older than {self.age_text}"
                verdicts.append(_Verdict(path, True, reason, identity))
            else:
                young = "" if self.cutoff is None else f", younger than {self.age_text}"
                verdicts.append(self._keep(path, f"sandbox of a run that is gone{young}"))
        return verdicts

    def garbage(self, name: str) -> _Verdict:
        """Judge a directory an interrupted clean left behind."""
        path = os.path.join(self.root, name)
        st, why = self._owned_dir(path)
        if st is None:
            return self._keep(path, why)
        identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
        return _Verdict(path, True, "left by an interrupted clean", identity)

    def kept(self) -> list[_Verdict]:
        """Judge the directories kept by ``--keep``: the newest runs' stay."""
        base = os.path.join(self.root, KEPT_DIR)
        if not os.path.lexists(base):
            return []
        st, why = self._owned_dir(base)
        if st is None:
            return [self._keep(base, why)]
        try:
            names = sorted(os.listdir(base))
        except OSError as exc:
            return [self._keep(base, f"cannot be listed ({_describe(exc)})")]
        verdicts: list[_Verdict] = []
        runs: list[tuple[float, str, os.stat_result, os.stat_result]] = []
        for name in names:
            path = os.path.join(base, name)
            st, why = self._owned_dir(path)
            if st is None:
                verdicts.append(self._keep(path, why))
                continue
            try:
                fd = _open_same_dir(path, st)
            except OSError as exc:
                verdicts.append(self._keep(path, f"cannot be opened ({_describe(exc)})"))
                continue
            try:
                found = _read_marker(fd, path, KEEP_MARKER, self.uid)
            finally:
                os.close(fd)
            created = None if found is None else _number(found[0].get("created"))
            if found is None or created is None or found[0].get("run_id") != name:
                verdicts.append(self._keep(path, "no valid kept marker"))
                continue
            runs.append((created, path, st, found[1]))
        runs.sort(key=lambda run: run[0], reverse=True)
        for index, (created, path, st, marker_st) in enumerate(runs):
            if index < RETAIN_RUNS:
                reason = f"kept directory of one of the {RETAIN_RUNS} newest runs"
                verdicts.append(self._keep(path, reason))
            elif self._run_may_be_live(os.path.basename(path)):
                verdicts.append(self._keep(path, "kept directory of a run that may be live"))
            elif self._old({"created": created}, marker_st):
                identity = Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
                reason = f"kept directory older than {self.age_text}"
                verdicts.append(_Verdict(path, True, reason, identity))
            else:
                verdicts.append(self._keep(path, f"kept directory younger than {self.age_text}"))
        return verdicts

    def _run_may_be_live(self, run_id: str) -> bool:
        """Whether the run of a kept directory may still be running (in doubt: yes)."""
        path = os.path.join(self.root, run_id)
        try:
            fd = os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        try:
            return _lock_state(fd) != "free"
        finally:
            os.close(fd)

    def _old(self, marker: dict[str, object], marker_st: os.stat_result) -> bool:
        """Rule (b): the marker's mtime, ctime (which utime cannot set back) and
        recorded creation time are all at or before the cutoff."""
        created = _number(marker.get("created"))
        if self.cutoff is None or created is None:
            return False
        return max(marker_st.st_mtime, marker_st.st_ctime, created) <= self.cutoff


def _describe(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _open_same_dir(path: str, st: os.stat_result) -> int:
    """Open the directory *path* without following a link; it must be the one *st* saw."""
    fd = os.open(path, _DIR_FLAGS)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, "changed while it was examined", path)
    return fd


def _read_marker(
    dir_fd: int, path: str, name: str, uid: int
) -> tuple[dict[str, object], os.stat_result] | None:
    """The JSON object in the marker *name* of a directory, and the marker's stat.

    None unless it is a regular file of ours (never through a link), small,
    holding a JSON object.
    """
    try:
        if _OPEN_AT:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        else:  # pragma: no cover - platforms without openat
            fd = os.open(os.path.join(path, name), _FILE_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_size > _MAX_MARKER:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, _MAX_MARKER + 1)
            if not chunk:
                break
            chunks.append(chunk)
        data = json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return (data, st) if isinstance(data, dict) else None


def _lock_state(fd: int) -> str:
    """``"free"``, ``"held"``, or why the state cannot be known.

    A free lock is taken and let go at once.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return "no flock on this platform"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return "held"
        return _describe(exc)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return "free"


def _process_gone(pid: object) -> bool:
    """Whether no process *pid* exists here; any doubt says it exists."""
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would send CTRL_C_EVENT
        return False
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, it is someone else's
        return False
    return False


def _dispose(root: str, verdict: _Verdict, *, rename: bool) -> list[Problem]:
    """Remove a doomed directory, renamed to ``garbage-...`` first if *rename*."""
    path = verdict.path
    if rename:
        run_id = os.path.basename(path)
        while True:
            target = os.path.join(root, f"{GARBAGE_PREFIX}{run_id}-{secrets.token_hex(4)}")
            if not os.path.lexists(target):
                break
        try:
            os.rename(path, target)
        except FileNotFoundError:  # another clean took it
            return []
        except OSError as exc:
            return [Problem(path, f"could not be renamed for removal: {_describe(exc)}")]
        path = target
    identity = verdict.identity
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Problem(path, _describe(exc))]
    if identity is None or (st.st_dev, st.st_ino) != (identity.dev, identity.ino):
        return [Problem(path, "changed while it was examined; left in place")]
    return remove_path(path, expected=identity)


def _check_root(root: str) -> str | None:
    """Why the per-user *root* must not be touched, or None (also when it is missing)."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be examined ({_describe(exc)})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"it belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    return None


def _candidates(names: Sequence[str]) -> list[str]:
    return sorted(n for n in names if n.startswith((RUN_PREFIX, GARBAGE_PREFIX)))


def sweep_dead_runs(root: str, *, budget_seconds: float = 0.5) -> SweepResult:
    """Remove the runs of this host whose process is gone and whose lock is free.

    Rule (a) of ``tempcase clean`` only; kept directories are never touched.
    Cheap when there is nothing to do (one listing of *root*), and bounded
    in time: when *budget_seconds* are spent it stops, and what is left
    waits for the next run.  Never raises for a file system problem.

    :param root: the per-user root (see :func:`tempcase._layout.ensure_user_root`).
    :returns: what was removed (run directories and their sandboxes), what
        could not be, and whether it finished.
    """
    deadline = time.monotonic() + budget_seconds
    try:
        with os.scandir(root) as entries:
            names = _candidates([entry.name for entry in entries])
    except OSError:
        return SweepResult()
    if not names or _check_root(root) is not None:
        return SweepResult()
    judge = _Judge(root, cutoff=None, age_text="")
    removed: list[str] = []
    problems: list[Problem] = []
    for name in names:
        if time.monotonic() >= deadline:
            _log.debug("sweep of %s stopped by its time budget", root)
            return SweepResult(tuple(removed), tuple(problems), finished=False)
        is_run = name.startswith(RUN_PREFIX)
        verdict = judge.run(name) if is_run else judge.garbage(name)
        if not verdict.remove:
            continue
        sandbox = judge.sandbox(verdict) if is_run else None
        if sandbox is not None and sandbox.remove:
            found = _dispose(root, sandbox, rename=False)
            problems.extend(found)
            if found:
                continue  # the run stays, so that the next sweep finds both
            removed.append(sandbox.path)
        found = _dispose(root, verdict, rename=is_run)
        problems.extend(found)
        if not found:
            removed.append(verdict.path)
    _log.debug("swept %s: removed %s, problems %s", root, removed, problems)
    return SweepResult(tuple(removed), tuple(problems))


# -- the command line ------------------------------------------------------


def _parser() -> Parser:
    parser = Parser(
        prog=PROG,
        add_help=False,
        allow_abbrev=False,
        description="Remove the run directories that killed tempcase runs left behind.",
    )
    parser.add_argument(
        "--older-than",
        metavar="AGE",
        default="1d",
        help="also remove runs (of any host) whose marker is older than AGE: "
        "90s, 30m, 12h, 7d, or 0 for any age (default: 1d)",
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    parser.add_argument(
        "--basetemp",
        metavar="DIR",
        help="the directory that holds tempcase's per-user root "
        "(default: TEMPCASE_BASETEMP, else the system temp dir)",
    )
    parser.add_argument("--verbose", action="store_true", help="also list what was kept, and why")
    return parser


def parse_age(text: str) -> float:
    """Seconds from an AGE such as ``90s``, ``30m``, ``12h``, ``7d`` or ``0``.

    :raises ValueError: naming *text*, for anything else.
    """
    if re.fullmatch(r"0+", text):
        return 0.0
    match = _AGE.match(text)
    if match is None:
        raise ValueError(
            f"bad --older-than value {text!r}: give a whole number and a unit "
            "(90s, 30m, 12h, 7d), or 0 for any age"
        )
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def _join_values(args: Sequence[str]) -> list[str]:
    """``--older-than -1d`` as ``--older-than=-1d``: argparse would take -1d for an option."""
    joined: list[str] = []
    pending = iter(args)
    for arg in pending:
        if arg in ("--older-than", "--basetemp"):
            value = next(pending, None)
            joined.append(arg if value is None else f"{arg}={value}")
        else:
            joined.append(arg)
    return joined


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


class _Cleaner:
    """One ``tempcase clean``: judge each entry, act on it, print a line."""

    def __init__(self, judge: _Judge, *, dry_run: bool, verbose: bool, out: TextIO) -> None:
        self.judge = judge
        self.dry_run = dry_run
        self.verbose = verbose
        self.out = out
        self.count = 0
        self.total = 0
        self.failed: list[Problem] = []

    def handle(self, verdict: _Verdict, *, rename: bool) -> bool:
        """Act on one verdict and say so; False if it could not be removed."""
        path = escape(verdict.path)
        if not verdict.remove:
            if self.verbose:
                print(f"kept          {path}: {verdict.reason}", file=self.out)
            return True
        size = describe_path(verdict.path)[1]
        if not self.dry_run:
            problems = _dispose(self.judge.root, verdict, rename=rename)
            if problems:
                self.failed.extend(problems)
                for problem in problems:
                    print(
                        f"could not remove {escape(problem.path)}: {problem.error}", file=self.out
                    )
                return False
        self.count += 1
        self.total += size
        word = "would remove" if self.dry_run else "removed"
        print(f"{word:<13} {path}  {_size(size)}  ({verdict.reason})", file=self.out)
        return True

    def handle_run(self, verdict: _Verdict) -> None:
        """A run directory: its sandbox first; a run whose sandbox could not
        be removed stays, so that the next clean finds both."""
        sandbox = self.judge.sandbox(verdict) if verdict.remove else None
        if sandbox is not None and not self.handle(sandbox, rename=False):
            return
        self.handle(verdict, rename=True)

    def run(self, *, lone_only: list[_Verdict] | None = None) -> int:
        """Clean the root, then the sandboxes whose run is gone; with
        *lone_only* (the root is missing), just those sandboxes."""
        if lone_only is not None:
            for verdict in lone_only:
                self.handle(verdict, rename=False)
            return self._summary()
        root = self.judge.root
        try:
            with os.scandir(root) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as exc:
            print(f"{PROG}: cannot list {escape(root)}: {_describe(exc)}", file=sys.stderr)
            return 1
        for name in names:
            if name.startswith(RUN_PREFIX):
                self.handle_run(self.judge.run(name))
            elif name.startswith(GARBAGE_PREFIX):
                self.handle(self.judge.garbage(name), rename=False)
            elif name != KEPT_DIR and self.verbose:
                path = escape(os.path.join(root, name))
                print(f"kept          {path}: not a tempcase run directory", file=self.out)
        for verdict in self.judge.kept():
            self.handle(verdict, rename=True)
        for verdict in self.judge.lone_sandboxes():
            self.handle(verdict, rename=False)
        return self._summary()

    def _summary(self) -> int:
        dirs = "directory" if self.count == 1 else "directories"
        if self.dry_run:
            summary = f"would remove {self.count} {dirs}, {_size(self.total)}"
            summary += " (dry run: nothing changed)"
        else:
            summary = f"removed {self.count} {dirs}, {_size(self.total)}"
        if self.failed:
            summary += f"; {len(self.failed)} could not be removed (listed above)"
        print(f"total: {summary}", file=self.out)
        return 1 if self.failed else 0


def main(argv: Sequence[str]) -> int:
    """Run ``tempcase clean``: remove the run directories of dead runs.

    :param argv: the arguments after the word ``clean``.
    :returns: 0; 1 if something could not be removed; 2 for bad arguments.

    .. versionadded:: 0.1
    """
    args = _join_values(argv)
    parser = _parser()
    if "-h" in args or "--help" in args:
        parser.print_help(sys.stdout)
        return 0
    try:
        options = parser.parse_args(args)
        age = parse_age(options.older_than)
        if options.basetemp is not None and not options.basetemp.strip():
            raise UsageError("--basetemp is empty; give a directory")
        settings = load_settings({"basetemp": options.basetemp})
    except (UsageError, ValueError) as exc:
        message = str(exc)
        if not isinstance(exc, ConfigError):
            message = f"{PROG}: error: {message}"
        print(message, file=sys.stderr)
        return 2
    base = settings.basetemp or system_tempdir()
    root = os.path.join(os.path.abspath(base), user_root_name())
    refusal = _check_root(root)
    if refusal is not None:
        print(f"{PROG}: refusing {escape(root)}: {refusal}", file=sys.stderr)
        return 2
    judge = _Judge(root, cutoff=time.time() - age, age_text=options.older_than)
    cleaner = _Cleaner(judge, dry_run=options.dry_run, verbose=options.verbose, out=sys.stdout)
    if not os.path.lexists(root):
        # Sandboxes of runs whose root was removed by hand may still be there.
        lone = judge.lone_sandboxes()
        if not lone:
            print(f"nothing to clean: {escape(root)} does not exist")
            return 0
        return cleaner.run(lone_only=lone)
    return cleaner.run()
