"""The real ``os`` functions, kept where a fake file system does not swap them.

pyfakefs replaces ``os``, ``fcntl``, ``shutil`` and the functions taken from
them in the globals of every loaded module, tempcase's included, for as long
as a fake file system is active (a whole class, with ``setUpClassPyfakefs``).
Functions held as attributes of an object are left alone, so detection and
cleanup, which go through :data:`OS`, keep working on the real disk.  It also
means a test that mocks ``os.unlink`` sees none of tempcase's calls.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any, Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["OS"]


class _RealOs:
    """The functions, bound when tempcase is imported."""

    __slots__ = (
        "chmod",
        "close",
        "fchmod",
        "fstat",
        "ioctl",
        "lstat",
        "makedirs",
        "mkdir",
        "open",
        "path",
        "read",
        "rmdir",
        "rmtree",
        "scandir",
        "stat",
        "unlink",
        "utime",
    )

    def __init__(self) -> None:
        self.chmod = os.chmod
        self.close = os.close
        self.fchmod: Callable[[int, int], None] | None = getattr(os, "fchmod", None)
        self.fstat = os.fstat
        self.ioctl: Callable[..., Any] | None = getattr(fcntl, "ioctl", None)
        self.lstat = os.lstat
        self.makedirs = os.makedirs
        self.mkdir = os.mkdir
        self.open = os.open
        # pyfakefs swaps pathlib.Path too: a Path made while it is active
        # breaks once it is gone (on 3.12), so records are made with this.
        self.path = pathlib.Path
        self.read = os.read
        self.rmdir = os.rmdir
        self.rmtree = shutil.rmtree
        self.scandir = os.scandir
        self.stat = os.stat
        self.unlink = os.unlink
        self.utime = os.utime


OS = _RealOs()
