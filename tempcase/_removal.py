"""Remove paths without following symlinks or crossing into other mounts.

Nothing here raises: every function returns the problems it met, so that a
cleanup failure never changes a test's outcome.  The ``os`` functions are
bound at import time, so a test that mocks ``os.unlink`` does not see
tempcase's calls, nor break them.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import os
import re
import select
import stat
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from tempcase._real import OS

__all__ = ["Identity", "Problem", "extended_path", "identity_of", "plain_path", "remove_path"]

# Thin wrappers over the real functions (see tempcase._real): a fake file
# system cannot swap them, a mock of os.unlink does not see them, and tests
# can still patch these names.


def _lstat(*args: Any, **kwargs: Any) -> os.stat_result:
    return OS.lstat(*args, **kwargs)


def _fstat(fd: int) -> os.stat_result:
    return OS.fstat(fd)


def _unlink(*args: Any, **kwargs: Any) -> None:
    OS.unlink(*args, **kwargs)


def _rmdir(*args: Any, **kwargs: Any) -> None:
    OS.rmdir(*args, **kwargs)


def _open(*args: Any, **kwargs: Any) -> int:
    return OS.open(*args, **kwargs)


def _close(fd: int) -> None:
    OS.close(fd)


def _scandir(*args: Any) -> Any:
    return OS.scandir(*args)


def _chmod(*args: Any, **kwargs: Any) -> None:
    OS.chmod(*args, **kwargs)


_fchmod: Callable[[int, int], None] | None = OS.fchmod
_sleep = time.sleep


def _rmtree(*args: Any, **kwargs: Any) -> None:
    OS.rmtree(*args, **kwargs)


_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NONBLOCK", 0)
)
# The descriptor-relative walk is race-free against a symlink swapped in
# mid-walk; it needs *at() system calls and scandir over a descriptor.
_FD_WALK = (
    {os.open, os.unlink, os.rmdir, os.stat, os.chmod} <= os.supports_dir_fd
    and os.scandir in os.supports_fd
    and _fchmod is not None
)
_TRANSIENT = frozenset({errno.EBUSY, errno.ENOTEMPTY, errno.EAGAIN})
# What unlink says of a directory: EISDIR on Linux, EPERM by POSIX.
_MAYBE_A_DIRECTORY = frozenset({errno.EISDIR, errno.EPERM})
_RETRY_DELAYS = (0.01, 0.05, 0.2)
_DOT_PARTS = frozenset({".", ".."})
# Where a descriptor opened with O_PATH can be named, to chmod exactly the
# directory it holds (Linux): a chmod by name would follow a link swapped in.
_O_PATH = getattr(os, "O_PATH", 0)
_PROC_FD = "/proc/self/fd"
_MOUNTINFO = "/proc/self/mountinfo"
# A Windows junction (a mount-point reparse point) is a link to a directory:
# removed with rmdir, never walked into.  os.path.isjunction is 3.12+; before
# it, lstat's st_reparse_tag (3.8+) tells the same.
_IO_REPARSE_TAG_MOUNT_POINT = 0xA0000003
# Windows refuses paths over 260 characters unless given this prefix.
_EXTENDED = "\\\\?\\"
_WINDOWS = os.name == "nt"


@dataclass(frozen=True)
class Identity:
    """What stood at a path when it was registered: device, inode and type."""

    dev: int
    ino: int
    fmt: int


@dataclass(frozen=True)
class Problem:
    """A path that could not be removed, or that was found replaced."""

    path: str
    error: str


def identity_of(path: str) -> Identity | None:
    """Return the identity of what stands at *path*, or None if nothing does."""
    try:
        st = _lstat(path)
    except OSError:
        return None
    return Identity(st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        name = errno.errorcode.get(exc.errno or 0, "")
        return f"{exc.strerror} ({name})" if name else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def remove_path(path: str, *, expected: Identity | None = None) -> list[Problem]:
    """Remove the file, link or directory tree at *path*.

    A symlink is unlinked and its target left alone, also inside a tree; a
    directory on another device than the tree's top (a mount point) is left in
    place and reported; read-only entries are made writable and retried; a
    missing path counts as removed; transient errors are retried a few times.

    :param path: an absolute path without ``..`` components.
    :param expected: what stood there at registration; if a symlink stands
        there now instead, only the link is removed and a problem says so.
    :returns: the problems met, empty when all is gone.
    """
    separators = os.sep + (os.altsep or "")
    path = path.rstrip(separators) or path[:1]
    if os.path.dirname(path) == path:
        return [Problem(path, "refused: a file system root is never removed")]
    if _DOT_PARTS & set(path.replace(os.altsep or os.sep, os.sep).split(os.sep)):
        # "link/." names the link's target, and "link/.." is not link's parent.
        return [Problem(path, "refused: a path with a '.' or '..' component is never removed")]
    try:
        st = _lstat(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Problem(path, _describe(exc))]
    if _is_junction(path, st):
        return _remove_junction(path)
    problems: list[Problem] = []
    # The type counts too: a freed inode number is soon reused, by a link as well.
    found = (st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))
    if expected is not None and found != (expected.dev, expected.ino, expected.fmt):
        if stat.S_ISLNK(st.st_mode) and expected.fmt != stat.S_IFLNK:
            _unlink_path(path, problems)
            problems.append(
                Problem(
                    path,
                    "replaced by a symbolic link after it was registered: "
                    "the link was removed, its target kept",
                )
            )
            return problems
        if stat.S_ISDIR(st.st_mode) and st.st_dev != expected.dev:
            return [Problem(path, "now on another file system (a mount point); left in place")]
    if not stat.S_ISDIR(st.st_mode):
        _unlink_path(path, problems)
    elif _FD_WALK:
        _remove_tree_fd(path, st, problems)
    else:
        _remove_tree_portable(path, problems)
    return problems


def _is_junction(path: str, st: Any) -> bool:
    """Tell whether *path*, seen as *st*, is a Windows junction."""
    isjunction = getattr(os.path, "isjunction", None)
    if isjunction is not None and _WINDOWS:
        return bool(isjunction(path))
    return getattr(st, "st_reparse_tag", 0) == _IO_REPARSE_TAG_MOUNT_POINT


def _remove_junction(path: str) -> list[Problem]:
    """Remove the junction itself (``rmdir`` does not follow it), never its target."""
    try:
        _retrying(lambda: _rmdir(path))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [Problem(path, _describe(exc))]
    return []


def extended_path(path: str) -> str:
    """*path* with the Windows extended-length prefix, so that long trees can go.

    ``C:\\x`` becomes ``\\\\?\\C:\\x`` and ``\\\\server\\share`` becomes
    ``\\\\?\\UNC\\server\\share``; a path that has the prefix, or is not
    absolute in the Windows sense, is returned as it is.
    """
    if path.startswith(_EXTENDED) or path.startswith("\\\\.\\"):
        return path
    if path.startswith("\\\\"):
        return _EXTENDED + "UNC\\" + path[2:]
    if len(path) >= 3 and path[1] == ":" and path[2] == "\\":
        return _EXTENDED + path
    return path


def plain_path(path: str) -> str:
    """Undo :func:`extended_path`, for messages."""
    if path.startswith(_EXTENDED + "UNC\\"):
        return "\\\\" + path[len(_EXTENDED) + 4 :]
    if path.startswith(_EXTENDED):
        return path[len(_EXTENDED) :]
    return path


def _retrying(action: Callable[[], None]) -> None:
    """Run *action*, retrying a few times on errors that may pass by themselves."""
    for delay in _RETRY_DELAYS:
        try:
            action()
        except OSError as exc:
            if exc.errno not in _TRANSIENT:
                raise
            _sleep(delay)
        else:
            return
    action()


def _unlink_path(path: str, problems: list[Problem]) -> None:
    """Unlink a non-directory.

    Its parent is never made writable: it is not the caller's to change.  On
    Windows a read-only file cannot be unlinked, so its own attribute is
    cleared first.
    """
    try:
        _retrying(lambda: _unlink(path))
    except FileNotFoundError:
        return
    except PermissionError as first:
        try:
            if os.name != "nt" or not _make_file_writable(path):
                raise first from None
            _retrying(lambda: _unlink(path))
        except FileNotFoundError:
            return
        except OSError:
            problems.append(Problem(path, _describe(first)))
    except OSError as exc:
        problems.append(Problem(path, _describe(exc)))


def _make_file_writable(path: str) -> bool:
    """Give a read-only regular file (never a link) its owner's write bit."""
    st = _lstat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_mode & stat.S_IWRITE:
        return False
    _chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IWRITE)
    return True


class _Frame:
    """One open directory of the descriptor walk."""

    __slots__ = ("blocked", "chmodded", "entries", "fd", "name", "path")

    def __init__(self, fd: int, path: str, name: str) -> None:
        self.fd = fd
        self.path = path
        self.name = name
        self.blocked = False
        self.chmodded = False
        try:
            with _scandir(fd) as it:
                self.entries: list[Any] = list(it)
        except BaseException:  # the descriptor is not left open
            _close(fd)
            raise


def _open_dir(name: str, st: os.stat_result, dir_fd: int | None) -> int:
    """Open a directory seen as *st* without following links; chmod once if needed."""
    try:
        fd = _open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        _chmod_dir(name, st, dir_fd)
        fd = _open(name, _DIR_FLAGS, dir_fd=dir_fd)
    _check_same(fd, st, name)
    return fd


def _check_same(fd: int, st: os.stat_result, name: str) -> None:
    """Close *fd* and raise unless it holds the file *st* describes."""
    opened = _fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        _close(fd)
        raise OSError(errno.ESTALE, "changed while it was being removed", name)


def _chmod_dir(name: str, st: os.stat_result, dir_fd: int | None) -> None:
    """Give the owner rwx on the directory *name*, seen as *st*, never through a link.

    Linux has no ``lchmod``: the directory is held by an ``O_PATH`` descriptor
    and changed through its ``/proc`` name, so a link swapped in after *st*
    was taken is never followed.  Elsewhere, its identity is checked again
    just before the change.
    """
    mode = stat.S_IMODE(st.st_mode) | stat.S_IRWXU
    if _O_PATH and os.path.isdir(_PROC_FD):
        flags = _O_PATH | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0)
        fd = _open(name, flags | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
        _check_same(fd, st, name)
        try:
            _chmod(f"{_PROC_FD}/{fd}", mode)
        finally:
            _close(fd)
        return
    now = _lstat(name, dir_fd=dir_fd)
    if not stat.S_ISDIR(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        raise OSError(errno.ESTALE, "changed while it was being removed", name)
    _chmod(name, mode, dir_fd=dir_fd)


class _MountTable:
    """The mount points of this process (Linux), read again only when they change.

    The kernel marks an open ``/proc/self/mountinfo`` with a priority event
    when a file system is mounted or unmounted: a ``poll`` with no wait tells
    whether the table read last is still true, so a removal costs one system
    call here, not a read and parse of the table.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._source = ""
        self._fd: int | None = None
        self._poll: Any = None
        self._points: tuple[bytes, ...] | None = None
        self._real_dirs: dict[str, bytes] = {}

    def _open(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._pid = os.getpid()
        self._source = _MOUNTINFO
        self._points = None
        self._real_dirs = {}
        try:
            self._fd = os.open(_MOUNTINFO, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            poller = select.poll()
            poller.register(self._fd, select.POLLPRI | select.POLLERR)
            self._poll = poller
        except (OSError, AttributeError):
            self._fd = self._poll = None

    def points(self) -> tuple[bytes, ...]:
        """Every mount point, as bytes without escapes, sorted."""
        if self._pid != os.getpid() or self._source != _MOUNTINFO:
            self._open()  # after fork: a descriptor and an event of our own
        if self._points is not None and self._poll is not None and not self._poll.poll(0):
            return self._points
        self._real_dirs = {}
        self._points = tuple(sorted(set(_parse_mount_points(self._read()))))
        return self._points

    def _read(self) -> bytes:
        fd = self._fd
        if fd is None:
            try:
                with open(_MOUNTINFO, "rb") as stream:
                    return stream.read()
            except OSError:
                return b""
        chunks: list[bytes] = []
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def real_dir(self, directory: str) -> bytes:
        """``realpath`` of a directory, remembered while the table stands
        (tempcase removes many trees below the same few directories)."""
        real = self._real_dirs.get(directory)
        if real is None:
            if len(self._real_dirs) > 256:
                self._real_dirs.clear()
            real = self._real_dirs[directory] = os.fsencode(os.path.realpath(directory))
        return real


def _parse_mount_points(table: bytes) -> list[bytes]:
    points = []
    for line in table.splitlines():
        fields = line.split(b" ")
        if len(fields) > 4:
            points.append(
                re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), fields[4])
            )
    return points


_MOUNTS = _MountTable()


def _mounts_below(path: str) -> frozenset[str]:
    """The mount points strictly below *path*, as paths relative to it (Linux).

    A bind mount of a directory of the same file system has the same
    ``st_dev``: only the mount table tells it is one.  Elsewhere, empty.
    """
    if not sys.platform.startswith("linux"):
        return frozenset()
    points = _MOUNTS.points()
    if not points:
        return frozenset()
    parent, name = os.path.split(path.rstrip("/") or "/")
    top = _MOUNTS.real_dir(parent).rstrip(b"/") + b"/" + os.fsencode(name) + b"/"
    # Sorted: the points below *top* are together, from where *top* would go.
    below = []
    for point in itertools.islice(points, bisect.bisect_left(points, top), None):
        if not point.startswith(top):
            break
        below.append(os.fsdecode(point[len(top) :]))
    return frozenset(below)


def _remove_tree_fd(path: str, st: os.stat_result, problems: list[Problem]) -> None:
    root_dev = st.st_dev
    mounts = _mounts_below(path)
    try:
        stack = [_Frame(_open_dir(path, st, None), path, path)]
    except FileNotFoundError:  # removed since lstat: gone is gone, as below the top
        return
    except OSError as exc:
        problems.append(Problem(path, _describe(exc)))
        return
    try:
        while stack:
            frame = stack[-1]
            if frame.entries:
                child = _step(frame, frame.entries.pop(), root_dev, problems, (path, mounts))
                if child is not None:
                    stack.append(child)
                continue
            stack.pop()
            _close(frame.fd)
            parent = stack[-1] if stack else None
            if frame.blocked:
                if parent is not None:
                    parent.blocked = True
                continue
            _rmdir_at(frame, parent, problems)
    finally:
        for frame in stack:
            _close(frame.fd)


def _step(
    frame: _Frame,
    entry: Any,
    root_dev: int,
    problems: list[Problem],
    mounts: tuple[str, frozenset[str]] = ("", frozenset()),
) -> _Frame | None:
    """Remove one entry of *frame*, or open it as a frame of its own."""
    name: str = entry.name
    if not _listed_as_dir(entry):
        # A file or a link, as scandir saw it: unlinked without an lstat.  If a
        # directory took its place since, unlinkat refuses it (EISDIR, or
        # EPERM elsewhere) and the careful way below looks again.
        try:
            _unlink_at(frame, name)
            return None
        except OSError as exc:
            if exc.errno not in _MAYBE_A_DIRECTORY:
                return _blocked(frame, problems, os.path.join(frame.path, name), _describe(exc))
    try:
        cst = _lstat_at(frame, name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _blocked(frame, problems, os.path.join(frame.path, name), _describe(exc))
    if not stat.S_ISDIR(cst.st_mode):
        try:
            _unlink_at(frame, name)
        except OSError as exc:
            return _blocked(frame, problems, os.path.join(frame.path, name), _describe(exc))
        return None
    child_path = os.path.join(frame.path, name)
    if cst.st_dev != root_dev:
        return _blocked(
            frame, problems, child_path, "on another file system (a mount point); left in place"
        )
    top, below = mounts
    if below and os.path.relpath(child_path, top) in below:
        # Checked before the directory is opened, so that nothing (not even the
        # chmod fallback) reaches through a bind mount.
        return _blocked(frame, problems, child_path, "a mount point (bind mount); left in place")
    try:
        return _Frame(_open_dir(name, cst, frame.fd), child_path, name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _blocked(frame, problems, child_path, _describe(exc))


def _listed_as_dir(entry: Any) -> bool:
    """Whether scandir listed *entry* as a directory (or could not tell)."""
    try:
        return bool(entry.is_dir(follow_symlinks=False))
    except OSError:
        return True


def _blocked(frame: _Frame, problems: list[Problem], path: str, error: str) -> _Frame | None:
    """Record why *path* stays; its directory (*frame*) cannot be removed then.

    :returns: None, the nothing-to-open answer of :func:`_step`.
    """
    problems.append(Problem(path, error))
    frame.blocked = True
    return None


def _lstat_at(frame: _Frame, name: str) -> os.stat_result:
    """lstat an entry of *frame*; a directory without the x bit is opened up first."""
    try:
        return _lstat(name, dir_fd=frame.fd)
    except PermissionError:
        if not _open_up(frame):
            raise
        return _lstat(name, dir_fd=frame.fd)


def _open_up(frame: _Frame) -> bool:
    """Give the owner rwx on *frame*'s directory once; tell whether it changed."""
    if frame.chmodded or _fchmod is None:
        return False
    frame.chmodded = True
    try:
        mode = stat.S_IMODE(_fstat(frame.fd).st_mode)
        _fchmod(frame.fd, mode | stat.S_IRWXU)
    except OSError:  # not ours to change: the caller reports its own error
        return False
    return True


def _unlink_at(frame: _Frame, name: str) -> None:
    try:
        try:
            _unlink(name, dir_fd=frame.fd)
        except OSError as exc:
            if exc.errno not in _TRANSIENT:
                raise
            _retrying(lambda: _unlink(name, dir_fd=frame.fd))
    except FileNotFoundError:
        pass
    except PermissionError:
        if not _open_up(frame):
            raise
        _unlink_at(frame, name)


def _rmdir_at(frame: _Frame, parent: _Frame | None, problems: list[Problem]) -> None:
    try:
        if parent is None:
            _retrying(lambda: _rmdir(frame.path))
        else:
            _rmdir_child(parent, frame.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        problems.append(Problem(frame.path, _describe(exc)))
        if parent is not None:
            parent.blocked = True


def _rmdir_child(parent: _Frame, name: str) -> None:
    try:
        _retrying(lambda: _rmdir(name, dir_fd=parent.fd))
    except PermissionError:
        if not _open_up(parent):
            raise
        _rmdir_child(parent, name)


def _remove_tree_portable(path: str, problems: list[Problem]) -> None:
    """Remove a tree where the descriptor walk is not available (Windows).

    shutil.rmtree treats junctions as links (3.8+).  The error hook is
    ``onexc`` from 3.12, where ``onerror`` is deprecated (a warning that
    ``-W error`` would turn into an exception), ``onerror`` before.
    """

    def on_exc(func: Callable[..., Any], failed: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError):
            return
        try:
            st = _lstat(failed)
            if isinstance(exc, PermissionError) and not stat.S_ISLNK(st.st_mode):
                _chmod(failed, stat.S_IMODE(st.st_mode) | stat.S_IWRITE | stat.S_IREAD)
                func(failed)
                return
        except OSError as again:
            exc = again
        problems.append(Problem(plain_path(failed), _describe(exc)))

    target = extended_path(path) if _WINDOWS else path
    if sys.version_info >= (3, 12):
        _rmtree(target, onexc=on_exc)
    else:
        _rmtree(target, onerror=lambda func, failed, info: on_exc(func, failed, info[1]))
