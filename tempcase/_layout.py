"""Where tempcase's files live: the per-user root, the run and context directories."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import socket
import stat
import sys
import tempfile
import time

from tempcase._paths import is_windows_reserved

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MARKER",
    "RUN_PREFIX",
    "RunDirectory",
    "context_dir_name",
    "ensure_user_root",
    "system_tempdir",
    "user_root_name",
]

MARKER = ".tempcase-run"
RUN_PREFIX = "run-"
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
        return f"tempcase-of-{getuid()}"
    user = os.environ.get("USERNAME") or os.environ.get("USER") or "unknown"
    user = _NAME_CHARS.sub("_", user).strip("._") or "unknown"
    return f"tempcase-of-{user}"


def ensure_user_root(base: str, *, source: str) -> str:
    """Create or check the private per-user root below *base*.

    The root is made with mode 0o700.  An existing one must be a real
    directory (not a symlink) owned by the current user; group and other
    bits left by someone else are removed.

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
    os.makedirs(base, mode=0o700, exist_ok=True)
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
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if st.st_uid != getuid():
            raise PermissionError(
                f"tempcase: refusing {root}: it belongs to uid {st.st_uid}, not to you "
                f"(uid {getuid()}); {advice}"
            )
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return root


def context_dir_name(label: str | None, serial: int) -> str:
    """A short, unique, portable directory name for a context.

    The last part of the id (the method, class or module name) keeps it
    readable, a hash of the whole id tells similar ids apart, and the per-run
    *serial* makes it unique even when the same id runs twice.
    """
    text = label if label is not None else "session"
    tail = text.rsplit("::", 1)[-1] if "::" in text else text.rsplit(".", 1)[-1]
    short = _NAME_CHARS.sub("_", tail).strip("._-")[:_SHORT_NAME].rstrip("._-") or "context"
    digest = hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=3).hexdigest()
    name = f"{short}-{digest}-{serial}"
    return f"_{name}" if is_windows_reserved(name) else name


class RunDirectory:
    """This process's run directory: unique, locked for the run, marked.

    The lock (an ``flock`` on the directory, held until the process ends) is
    taken before the marker is written, so an orphan sweep can never take a
    half-made run for a dead one.
    """

    def __init__(self, root: str, *, started: float) -> None:
        self.path = tempfile.mkdtemp(prefix=RUN_PREFIX, dir=root)
        self.pid = os.getpid()
        self._serial = itertools.count(1)
        self._lock_fd: int | None = None
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._lock_fd = fd
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
            json.dump(marker, stream)
        os.replace(partial, os.path.join(self.path, MARKER))

    def make_dir(self, label: str | None, suffix: str = "") -> str:
        """Create a new directory for a context, mode 0o700, and return its path."""
        while True:
            name = context_dir_name(label, next(self._serial)) + suffix
            path = os.path.join(self.path, name)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:  # a forked child shares the counter: take the next
                continue
            os.chmod(path, 0o700)  # whatever the umask
            return path

    def release(self) -> None:
        """Let go of the run's lock (the run directory is removed by then)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
