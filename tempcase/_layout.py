"""Where tempcase's files live: the per-user root, the run and context directories."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import stat
import sys
import tempfile
import time

from tempcase._paths import is_windows_reserved
from tempcase._real import OS

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MARKER",
    "RUN_PREFIX",
    "USER_ROOT_PREFIX",
    "RunDirectory",
    "context_dir_name",
    "ensure_user_root",
    "sandbox_path",
    "system_tempdir",
    "user_root_name",
]

MARKER = ".tempcase-run"
RUN_PREFIX = "run-"
USER_ROOT_PREFIX = "tempcase-of-"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_SHORT_NAME = 32

# Resolved once, before any test or sandbox can change TMPDIR or tempfile.tempdir.
_SYSTEM_TEMPDIR = os.path.abspath(tempfile.gettempdir())


def system_tempdir() -> str:
    """The temp dir of the process as it was when tempcase was imported."""
    return _SYSTEM_TEMPDIR


def user_root_name() -> str:
    """The per-user directory's name: by uid (``getuser()`` fails for container uids)."""
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return f"{USER_ROOT_PREFIX}{getuid()}"
    user = os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"
    user = _NAME_CHARS.sub("_", user).strip("._") or "unknown"
    return f"{USER_ROOT_PREFIX}{user}"


def sandbox_path(run_dir: str) -> str:
    """Where detection puts the sandbox of the run *run_dir*: next to the
    per-user root, named after both (``BASE/tempcase-of-1000-run-x0unnx9c``
    for ``BASE/tempcase-of-1000/run-x0unnx9c``).

    Not inside the run directory: every temporary path of the tests goes
    through it, and each directory level costs every path lookup (open,
    mkdir, unlink) a step.  The orphan sweep finds it from the run's name.
    """
    root, run_id = os.path.split(run_dir)
    return f"{root}-{run_id}"


def ensure_user_root(base: str, *, source: str) -> str:
    """Create or check the private per-user root below *base*.

    The root is made with mode 0o700.  An existing one must be a real
    directory (not a symlink) owned by the current user; its mode is set
    back to 0o700 if someone changed it.  Nothing else below *base* is
    touched: a base given by the user may hold files of their own.

    :param base: the directory that holds the per-user root.
    :param source: where *base* came from, for the message
        (``"TEMPCASE_BASETEMP"``, ``"--basetemp"``, ``"the system temp dir"``).
    :returns: the root's absolute path.
    :raises PermissionError: if the root is a symlink or another user's.
    :raises ValueError: if *base* is empty.
    """
    if not base:
        raise ValueError(f"tempcase: the base directory from {source} is empty; give a directory")
    base = os.path.abspath(base)
    try:
        os.makedirs(base, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(base, 0o700)  # made by us just now: 0o700 whatever the umask
    root = os.path.join(base, user_root_name())
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    advice = f"remove it, or set TEMPCASE_BASETEMP to a directory of your own (base from {source})"
    st = os.lstat(root)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise PermissionError(f"tempcase: refusing {root}: it is {what}; {advice}")
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - Windows: the ACL of mkdir(0o700) protects it
        return root
    # The owner is checked on the lstat result, before opening: another
    # user's 0o700 directory cannot even be opened, and that must give this
    # message, not a bare "Permission denied".
    if st.st_uid != getuid():
        raise PermissionError(
            f"tempcase: refusing {root}: it belongs to uid {st.st_uid}, not to you "
            f"(uid {getuid()}); {advice}"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        _repair_mode(root, st, advice)
    return root


def _repair_mode(root: str, checked: os.stat_result, advice: str) -> None:
    """Set the mode of our own *root* back to 0o700, never through a link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, flags)
    except PermissionError:
        # A mode without read permission for the owner (0o300, 0o000): it
        # cannot be opened to fchmod it, and Linux has no lchmod.  lstat
        # showed our own directory a moment ago; check again after the change.
        os.chmod(root, 0o700)
        st = os.lstat(root)
        if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino):
            raise PermissionError(
                f"tempcase: refusing {root}: it was replaced while it was checked; {advice}"
            ) from None
        return
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino):
            raise PermissionError(
                f"tempcase: refusing {root}: it was replaced while it was checked; {advice}"
            )
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def context_dir_name(label: str | None, serial: int) -> str:
    """A short, unique, portable directory name for a context.

    The last part of the id (the method, class or module name) keeps it
    readable, a hash of the whole id tells similar ids apart, and the per-run
    *serial* makes it unique even when the same id runs twice.
    """
    text = label if label is not None else "session"
    tail = text.rsplit("::", 1)[-1] if "::" in text else text.rsplit(".", 1)[-1]
    short = _NAME_CHARS.sub("_", tail).strip("._-")[:_SHORT_NAME].rstrip("._-") or "context"
    import hashlib  # here: only a context that makes a directory needs it

    digest = hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=3).hexdigest()
    name = f"{short}-{digest}-{serial}"
    return f"_{name}" if is_windows_reserved(name) else name


class RunDirectory:
    """This process's run directory: unique, locked for the run, marked.

    The lock (an ``flock`` on the directory, held until the run ends) is
    taken before the marker is written, so an orphan sweep can never take a
    half-made run for a dead one.
    """

    def __init__(self, root: str, *, started: float) -> None:
        self.path = tempfile.mkdtemp(prefix=RUN_PREFIX, dir=root)
        self.pid = os.getpid()
        self._serial = itertools.count(1)
        self._lock_fd: int | None = None
        try:
            os.chmod(self.path, 0o700)  # mkdtemp's 0o700 less the umask: 0o700 whatever it is
            self._lock()
            self._write_marker(started)
        except BaseException:
            # Neither a locked, unmarked directory nor a stray one is left:
            # no orphan sweep would ever remove a run without its marker.
            self.release()
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.path, MARKER + ".partial"))
            with contextlib.suppress(OSError):
                os.rmdir(self.path)
            raise

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            return
        # O_CLOEXEC: a child process started by a test does not hold the lock.
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _write_marker(self, started: float) -> None:
        import json  # here, not at import: once a run
        import socket

        marker: dict[str, str | int | float] = {
            "tempcase_run": 1,
            "run_id": os.path.basename(self.path),
            "pid": self.pid,
            "host": socket.gethostname(),
            "started": started,
            "created": time.time(),
            "python": sys.version.split()[0],
        }
        partial = os.path.join(self.path, MARKER + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask
            json.dump(marker, stream)
        os.replace(partial, os.path.join(self.path, MARKER))

    def make_dir(self, label: str | None, suffix: str = "") -> str:
        """Create a new directory for a context, mode 0o700, and return its path."""
        while True:
            name = context_dir_name(label, next(self._serial)) + suffix
            path = os.path.join(self.path, name)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:  # a forked child has a copy of the counter: take the next
                continue
            os.chmod(path, 0o700)  # whatever the umask
            return path

    def release(self) -> None:
        """Let go of the run's lock (the run directory is removed by then)."""
        if self._lock_fd is not None:
            OS.close(self._lock_fd)  # the real close, even under a fake file system
            self._lock_fd = None
