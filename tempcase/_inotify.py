"""Linux inotify through ctypes: which names changed in a few directories.

With it, the check after each test is one ``ioctl`` for all watched places
together, and a changed place is examined by the names the kernel reports,
not by listing it.  Where inotify is not available (not Linux, no libc, a
limit reached), :func:`open_watcher` returns None and the detector compares
directory mtimes instead.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from array import array
from typing import Any

from tempcase._real import OS

__all__ = ["FIONREAD", "Watcher", "open_watcher"]

_log = logging.getLogger("tempcase")

IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_MASK = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF
_EVENT = struct.Struct("iIII")
_EVENT_SIZE = _EVENT.size
_APPEAR = IN_CREATE | IN_MOVED_TO
# Any of these: the queue overflowed or a watched directory went away.
_RESET = IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
FIONREAD = 0x541B  # ioctl: how many bytes of events wait to be read


class Watcher:
    """One inotify instance watching some directories' top levels."""

    def __init__(self, libc: Any) -> None:
        self._libc = libc
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(_errno(), "inotify_init1 failed")
        self.fd: int | None = fd
        self._pending = array("i", [0])

    def add(self, path: str) -> int:
        """Watch *path*'s entries; return the watch descriptor."""
        assert self.fd is not None
        wd = self._libc.inotify_add_watch(
            self.fd, os.fsencode(path), _MASK | IN_ONLYDIR | IN_DONT_FOLLOW
        )
        if wd < 0:
            raise OSError(_errno(), f"inotify_add_watch failed for {path}")
        return int(wd)

    def poll(self) -> dict[int, dict[str, bool]] | None:
        """Names created, removed or moved per watch since the last poll.

        For each name, whether its last event made it appear (a create or a
        move in): a name made and removed again within a test needs no look.
        Empty when nothing happened (one ``ioctl``).  None when the kernel's
        queue overflowed or a watched directory itself went away: then every
        place must be listed again.
        """
        fd = self.fd
        ioctl = OS.ioctl
        if fd is None or ioctl is None:
            return None
        pending = self._pending
        ioctl(fd, FIONREAD, pending, True)
        if not pending[0]:
            return {}
        try:
            data = OS.read(fd, pending[0])
        except BlockingIOError:
            return {}
        # Raw names first (a name made and removed again is two events for
        # one key), decoded once each at the end.
        raw: dict[tuple[int, bytes], int] = {}
        unpack = _EVENT.unpack_from
        offset, end = 0, len(data)
        while offset < end:
            wd, mask, _cookie, size = unpack(data, offset)
            if mask & _RESET:
                return None
            start = offset + _EVENT_SIZE
            offset = start + size
            if size:
                raw[wd, data[start:offset]] = mask & _APPEAR
        changed: dict[int, dict[str, bool]] = {}
        for (wd, name), appeared in raw.items():
            names = changed.get(wd)
            if names is None:
                names = changed[wd] = {}
            names[os.fsdecode(name.rstrip(b"\0"))] = bool(appeared)
        return changed

    def close(self) -> None:
        """Stop watching."""
        if self.fd is not None:
            OS.close(self.fd)
            self.fd = None


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def open_watcher() -> Watcher | None:
    """An inotify watcher, or None where there is none to be had."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at import: only a runner with detection needs it
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        return Watcher(libc)
    except (OSError, AttributeError) as exc:
        _log.debug("no inotify: %s", exc)
        return None
