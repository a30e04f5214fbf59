"""Write files and directories safely: checked names, no links followed, exact modes."""

from __future__ import annotations

import os
import stat
from typing import Mapping, Union

from tempcase._paths import is_windows_reserved, split_name

__all__ = [
    "Content",
    "Files",
    "check_affix",
    "check_target",
    "encode_content",
    "make_dirs",
    "prepare_files",
    "write_all",
    "write_file",
]

Content = Union[str, bytes, bytearray, memoryview]
Files = Mapping[str, Content]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_OVERWRITE_FLAGS = os.O_WRONLY | os.O_TRUNC | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
_NEW_FILE_FLAGS = _OVERWRITE_FLAGS | os.O_CREAT | os.O_EXCL


def encode_content(content: object, encoding: str, *, func: str) -> bytes:
    """Turn helper content into bytes: text in *encoding*, bytes as they are.

    :raises TypeError: for anything but ``str`` or a bytes-like object.
    :raises LookupError: for an unknown *encoding*.
    """
    if isinstance(content, str):
        if not isinstance(encoding, str):
            raise TypeError(f"{func}: encoding must be str, not {type(encoding).__name__}")
        return content.encode(encoding)
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)
    raise TypeError(
        f"{func}: content must be str or bytes, not {type(content).__name__}; "
        "serialise it first (for example with json.dumps)"
    )


def check_affix(value: object, what: str, *, func: str) -> str:
    """Check the *what* (``"prefix"`` or ``"suffix"``) of a generated name.

    The random middle is never empty, so a prefix is checked as the start of a
    name and a suffix as its end: ``"nul."`` starts a device name and ``"."``
    ends one with the trailing dot Windows refuses.
    """
    if not isinstance(value, str):
        raise TypeError(f"{func}: {what} must be str, not {type(value).__name__}")
    sample = f"{value}x" if what == "prefix" else f"x{value}"
    if any(c in value for c in "/\\\x00") or is_windows_reserved(sample):
        raise ValueError(
            f"{func}: {what} {value!r} must be a plain part of a file name, usable on "
            "Windows too (no separator, no trailing dot or space, no device name)"
        )
    return value


def prepare_files(files: Files | None, *, func: str) -> list[tuple[tuple[str, ...], bytes]]:
    """Check every name and content of *files* before anything is written."""
    if files is None:
        return []
    if not isinstance(files, Mapping):
        raise TypeError(
            f"{func}: files must be a mapping of names to contents, not {type(files).__name__}"
        )
    prepared = []
    names: dict[tuple[str, ...], object] = {}
    for name, content in files.items():
        parts = split_name(name, func=func)
        if parts in names:
            raise ValueError(f"{func}: name {name!r} is given twice (also as {names[parts]!r})")
        names[parts] = name
        prepared.append((parts, encode_content(content, "utf-8", func=func)))
    # A name that is also another name's parent directory would fail half-way.
    for parts in names:
        for depth in range(1, len(parts)):
            parent = names.get(parts[:depth])
            if parent is not None:
                raise ValueError(
                    f"{func}: name {names[parts]!r} needs {parent!r} to be a directory, "
                    f"but {parent!r} is also given as a file"
                )
    return prepared


def make_dirs(root: str, parts: tuple[str, ...], name: str, *, func: str) -> tuple[str, int]:
    """Create the directories *parts* below *root*, refusing links and non-directories.

    :returns: the innermost directory and how many directories were made.
    """
    current, made = root, 0
    for part in parts:
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            # mkdir does not follow a link either: look at what is there.
            st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                raise ValueError(
                    f"{func}: name {name!r} goes through {part!r}, which is a symbolic link; "
                    "tempcase never writes through links"
                ) from None
            if not stat.S_ISDIR(st.st_mode):
                raise ValueError(
                    f"{func}: name {name!r} goes through {part!r}, which is not a directory"
                ) from None
            continue
        os.chmod(current, 0o700)  # whatever the umask
        made += 1
    return current, made


def check_target(root: str, parts: tuple[str, ...], *, name: str, func: str) -> None:
    """Refuse, without writing, a name that goes through a link or is not a regular file."""
    current = root
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return
        last = index == len(parts) - 1
        if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG if last else stat.S_ISDIR)(st.st_mode):
            raise ValueError(
                f"{func}: name {name!r} goes through or is {part!r}, which is "
                f"{_describe(st)}; it is not written"
            )


def _describe(st: os.stat_result) -> str:
    if stat.S_ISDIR(st.st_mode):
        return "a directory"
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if stat.S_ISREG(st.st_mode):
        return "a regular file"
    return "not a regular file"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file(
    root: str, parts: tuple[str, ...], data: bytes, *, name: str, func: str
) -> tuple[str, int]:
    """Write *data* to ``root/parts``; create missing parents; overwrite a regular file.

    :returns: the file's path and how many new paths were made.
    :raises ValueError: if the name is a directory, a link or another special file.
    """
    parent, made = make_dirs(root, parts[:-1], name, func=func)
    path = os.path.join(parent, parts[-1])
    try:
        # A new file, the usual case: O_EXCL also refuses a link or anything
        # else standing there, which is then looked at.
        fd = os.open(path, _NEW_FILE_FLAGS, 0o600)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(
                f"{func}: name {name!r} is {_describe(st)}; it is not overwritten"
            ) from None
        fd = os.open(path, _OVERWRITE_FLAGS)
        new = False
    else:
        new = True
    try:
        if new and hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        write_all(fd, data)
    finally:
        os.close(fd)
    return path, made + new
