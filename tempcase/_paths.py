"""Validate helper names and registration paths before anything is written."""

from __future__ import annotations

import os
import sys
from typing import Union

__all__ = ["PathArg", "as_path_str", "is_windows_reserved", "split_name"]

PathArg = Union[str, "os.PathLike[str]"]

# Characters Windows refuses in a file name: the wildcards, the separators, the
# stream colon, the pipe and the ASCII control characters.  The check runs on
# every platform so that a suite written on Linux also works on Windows.
_WINDOWS_BAD_CHARS = frozenset('"*:<>?|/\\' + "".join(chr(i) for i in range(32)))
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"]
)


def is_windows_reserved(component: str) -> bool:
    """Tell whether Windows reserves *component* as a file name.

    A trailing dot or space, a character Windows forbids, or a DOS device name
    (``CON``, ``nul.txt``, ``COM1 .log``) makes a name reserved.  The rules
    follow Microsoft's "Naming Files, Paths, and Namespaces", erring on the
    side of caution as ``ntpath.isreserved`` (3.13+) does.

    :param component: one path component, without separators.
    :returns: True if the name cannot be used on Windows.
    """
    if component in (".", ".."):
        return False
    if component[-1:] in (".", " "):
        return True
    if not _WINDOWS_BAD_CHARS.isdisjoint(component):
        return True
    return component.partition(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES


def as_path_str(path: object, *, func: str, what: str = "path") -> str:
    """Return *path* as a ``str``, refusing other types and NUL bytes.

    :param path: a ``str`` or ``os.PathLike``.
    :param func: the public function the value was given to, for the message.
    :param what: what the value is called in the message.
    :raises TypeError: for anything but ``str`` or ``os.PathLike``.
    :raises ValueError: for an empty value or one with a NUL byte.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        raise TypeError(f"{func}: {what} must be str or os.PathLike, not {type(path).__name__}")
    if not path:
        raise ValueError(f"{func}: {what} {path!r} is empty; give a name")
    if "\x00" in path:
        raise ValueError(f"{func}: {what} {path!r} contains a NUL byte")
    return path


# Names already checked, with their components: suites write the same few
# names in test after test.  Only plain ``str`` names that passed are kept.
_CHECKED: dict[str, tuple[str, ...]] = {}
_CHECKED_MAX = 4096


def split_name(name: object, *, func: str) -> tuple[str, ...]:
    """Check a helper name and return its components.

    Helper names are relative, use ``/`` as the separator on every platform,
    and must be usable on Windows as well as POSIX.

    :param name: the name given to a helper such as ``create_file``.
    :param func: the helper's name, for the message.
    :returns: the components, at least one.
    :raises TypeError: if *name* is not ``str`` or ``os.PathLike``.
    :raises ValueError: naming *name* and the rule it breaks.
    """
    if type(name) is str:
        checked = _CHECKED.get(name)
        if checked is not None:
            return checked
    parts = _split_name(name, func=func)
    if type(name) is str:
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[name] = parts
    return parts


def _split_name(name: object, *, func: str) -> tuple[str, ...]:
    text = as_path_str(name, func=func, what="name")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        # Found only when the file is opened, after its parents were made.
        raise ValueError(
            f"{func}: name {text!r} cannot be encoded for the file system "
            f"({sys.getfilesystemencoding()}); use another name"
        ) from None
    if "\\" in text:
        raise ValueError(f"{func}: name {text!r} contains a backslash; use '/' as the separator")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise ValueError(f"{func}: name {text!r} is absolute; use a name relative to the directory")
    parts = tuple(text.split("/"))
    for part in parts:
        if part == "..":
            raise ValueError(
                f"{func}: name {text!r} leaves the directory; use a relative name inside it"
            )
        if part in ("", "."):
            raise ValueError(
                f"{func}: name {text!r} has an empty or '.' component; "
                "write each directory once, separated by a single '/'"
            )
        if is_windows_reserved(part):
            raise ValueError(
                f"{func}: name {text!r} uses {part!r}, which Windows reserves "
                "(device names such as CON or NUL, a trailing dot or space, or one of "
                "'\"*:<>?|'); choose another name"
            )
    return parts
