"""TempDirectory, and the file helpers behind the mixin's methods."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Mapping, Union

from tempcase._paths import PathArg, as_path_str, is_windows_reserved, split_name
from tempcase._registry import Context
from tempcase._removal import remove_path
from tempcase._session import ROLE_DIR, ROLE_SCRATCH, Session, get_session

__all__ = ["Content", "Files", "TempDirectory", "create_temp_directory", "create_temp_file"]

Content = Union[str, bytes, bytearray, memoryview]
Files = Mapping[str, Content]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


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


def _check_affix(value: object, what: str, *, func: str) -> str:
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


def _prepare_files(files: Files | None, *, func: str) -> list[tuple[tuple[str, ...], bytes]]:
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


def _walk_dirs(root: str, parts: tuple[str, ...], name: str, *, func: str) -> tuple[str, int]:
    """Create the directories *parts* below *root*, refusing links and non-directories.

    :returns: the innermost directory and how many directories were made.
    """
    current, made = root, 0
    for part in parts:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
            os.chmod(current, 0o700)  # whatever the umask
            made += 1
            continue
        if stat.S_ISLNK(st.st_mode):
            raise ValueError(
                f"{func}: name {name!r} goes through {part!r}, which is a symbolic link; "
                "tempcase never writes through links"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(
                f"{func}: name {name!r} goes through {part!r}, which is not a directory"
            )
    return current, made


def _check_target(root: str, parts: tuple[str, ...], *, name: str, func: str) -> None:
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


def _write_all(fd: int, data: bytes) -> None:
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
    parent, made = _walk_dirs(root, parts[:-1], name, func=func)
    path = os.path.join(parent, parts[-1])
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{func}: name {name!r} is {_describe(st)}; it is not overwritten")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    fd = os.open(path, flags, 0o600)
    try:
        if st is None and hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        _write_all(fd, data)
    finally:
        os.close(fd)
    return path, made + (st is None)


class TempDirectory:
    """A temporary directory owned by the current test (or class, module, session).

    ``TempDirectory(files)`` is the same as
    :func:`tempcase.create_temp_directory`: a fresh, uniquely named directory
    in the current context's scratch area, filled with *files*, removed when
    the context ends (or by :meth:`cleanup`, or at the end of a ``with``
    block).  It is ``os.PathLike``, so it can be passed wherever a path goes.

    :param files: names (relative, ``/``-separated) mapped to contents.
    :param prefix: the start of the directory's name.

    .. versionadded:: 0.1
    """

    path: Path
    name: str

    def __init__(self, files: Files | None = None, *, prefix: str = "tmp") -> None:
        session = get_session()
        self._create(session, session.registry.current(), files, prefix, func="TempDirectory")

    @classmethod
    def _new(cls, ctx: Context, files: Files | None, prefix: str, *, func: str) -> TempDirectory:
        """A fresh directory in the scratch area of *ctx* (not the current context)."""
        self = cls.__new__(cls)
        self._create(get_session(), ctx, files, prefix, func=func)
        return self

    def _create(
        self, session: Session, ctx: Context, files: Files | None, prefix: str, *, func: str
    ) -> None:
        prepared = _prepare_files(files, func=func)
        _check_affix(prefix, "prefix", func=func)
        scratch = session.context_dir(ctx, ROLE_SCRATCH)
        path = tempfile.mkdtemp(prefix=prefix, dir=scratch)
        os.chmod(path, 0o700)  # whatever the umask
        self._bind(Path(path), session, ctx)
        ctx.created += 1
        self._made = 1
        for parts, data in prepared:
            self._write(parts, data, name="/".join(parts), func=func)

    @classmethod
    def _for_context(cls, session: Session, ctx: Context) -> TempDirectory:
        """The directory of *ctx* itself (a test's ``tempcase_dir``)."""
        self = cls.__new__(cls)
        self._bind(Path(session.context_dir(ctx, ROLE_DIR)), session, ctx)
        return self

    def _bind(self, path: Path, session: Session, ctx: Context) -> None:
        self.path = path
        self.name = str(path)
        self._session = session
        self._context = ctx
        self._generation = ctx.generation
        self._cleaned = False
        self._made = 0  # paths counted in the context's total, given back at cleanup()

    # -- the path protocol ---------------------------------------------------

    def __fspath__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<TempDirectory {self.name!r} context={self._context.name!r}>"

    def __truediv__(self, name: PathArg) -> Path:
        """``d / "a/b.txt"``: the path of a name inside the directory (checked, not created)."""
        return self.path.joinpath(*split_name(name, func="TempDirectory./"))

    def __enter__(self) -> TempDirectory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    @property
    def cleaned(self) -> bool:
        """True once the directory was removed (by :meth:`cleanup` or its context's end)."""
        ctx = self._context
        return self._cleaned or ctx.closed or ctx.generation != self._generation

    def _check_open(self, func: str) -> None:
        if self.cleaned:
            ctx = self._context
            raise RuntimeError(
                f"{func}: {self.name} has been cleaned up (context {ctx.name or 'session'!r}); "
                "a directory nobody would remove is not recreated"
            )

    def _write(self, parts: tuple[str, ...], data: bytes, *, name: str, func: str) -> Path:
        path, made = write_file(self.name, parts, data, name=name, func=func)
        self._context.created += made
        self._made += made
        return Path(path)

    # -- writing -----------------------------------------------------------------

    def create_file(self, name: PathArg, content: Content = "", *, encoding: str = "utf-8") -> Path:
        """Write a file, creating missing parent directories; overwrite a regular file.

        :param name: relative, ``/``-separated, usable on Windows too.
        :param content: text (written in *encoding*) or bytes (written as they are).
        :returns: the file's path.
        :raises ValueError: for a bad name, or one that is a directory or a link.
        :raises TypeError: for content that is neither text nor bytes.
        :raises RuntimeError: if the directory was cleaned up.
        """
        func = "create_file"
        parts = split_name(name, func=func)
        data = encode_content(content, encoding, func=func)
        self._check_open(func)
        return self._write(parts, data, name=str(name), func=func)

    def create_subdirectory(self, name: PathArg) -> Path:
        """Create a directory (and its missing parents); an existing one is fine.

        :returns: the directory's path.
        :raises ValueError: for a bad name, or one that is a file or a link.
        """
        func = "create_subdirectory"
        parts = split_name(name, func=func)
        self._check_open(func)
        path, made = _walk_dirs(self.name, parts, str(name), func=func)
        self._context.created += made
        self._made += made
        return Path(path)

    def create_numbered_files(
        self, basename: str, content_pattern: str, count: int, *, suffix: str = ".txt"
    ) -> list[Path]:
        """Create ``basename_001.txt`` … with content ``content_pattern.format(i)``.

        Numbers start at 1 and have at least three digits.

        :returns: the paths, in order.
        """
        func = "create_numbered_files"
        basename = as_path_str(basename, func=func, what="basename")
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"{func}: count must be an int, not {type(count).__name__}")
        if count < 0:
            raise ValueError(f"{func}: count must be a whole number >= 0, not {count!r}")
        if not isinstance(content_pattern, str):
            raise TypeError(
                f"{func}: content_pattern must be str, not {type(content_pattern).__name__}"
            )
        _check_affix(suffix, "suffix", func=func)
        width = max(3, len(str(count)))
        names = [f"{basename}_{i:0{width}d}{suffix}" for i in range(1, count + 1)]
        prepared = [
            (split_name(name, func=func), content_pattern.format(i).encode("utf-8"))
            for i, name in enumerate(names, 1)
        ]
        self._check_open(func)
        for (parts, _data), name in zip(prepared, names):
            _check_target(self.name, parts, name=name, func=func)
        return [
            self._write(parts, data, name=n, func=func) for (parts, data), n in zip(prepared, names)
        ]

    def unique_filename(self, prefix: str = "temp", suffix: str = ".tmp") -> str:
        """A file name not yet present in the directory (nothing is created)."""
        func = "unique_filename"
        _check_affix(prefix, "prefix", func=func)
        _check_affix(suffix, "suffix", func=func)
        while True:
            name = f"{prefix}{secrets.token_hex(4)}{suffix}"
            if not os.path.lexists(os.path.join(self.name, name)):
                return name

    # -- reading -------------------------------------------------------------

    def exists(self, name: PathArg) -> bool:
        """Whether something (a dangling link too) stands at *name*."""
        return os.path.lexists(self / name)

    def read_file(self, name: PathArg, *, encoding: str = "utf-8") -> str:
        """The text of a file, decoded with *encoding*."""
        return (self / name).read_bytes().decode(encoding)

    def read_bytes(self, name: PathArg) -> bytes:
        """The bytes of a file."""
        return (self / name).read_bytes()

    def files(self) -> list[str]:
        """Every file below (anything but a directory), as sorted relative POSIX paths."""
        found: list[str] = []
        pending = [""]
        while pending:
            relative = pending.pop()
            try:
                entries = list(os.scandir(os.path.join(self.name, relative)))
            except FileNotFoundError:
                continue
            for entry in entries:
                child = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append(child)
                else:
                    found.append(child)
        return sorted(found)

    # -- removal -------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove the directory now; problems are reported as at any cleanup."""
        if self._cleaned:
            return
        self._cleaned = True
        session, ctx = self._session, self._context
        if os.getpid() != ctx.owner_pid:
            return
        problems = remove_path(self.name)
        if ctx.dirs.get(ROLE_DIR) == self.name:
            del ctx.dirs[ROLE_DIR]
        if problems:
            session.report_problems(ctx, self.name, problems)
        elif not ctx.closed and ctx.generation == self._generation:
            # Removed now, so no longer tracked: the context's total gives them back.
            given_back = min(self._made, ctx.created)
            ctx.created -= given_back
            session.removed += given_back
        self._made = 0


def create_temp_file(
    content: Content = "",
    suffix: str = "",
    *,
    prefix: str = "tmp",
    encoding: str = "utf-8",
    _ctx: Context | None = None,
) -> Path:
    """A new uniquely named file in the current context's scratch area.

    :param content: text (written in *encoding*) or bytes (as they are).
    :param suffix: the end of the name, e.g. ``".json"``.
    :param prefix: the start of the name.
    :returns: the file's path (mode 0o600).

    .. versionadded:: 0.1
    """
    func = "create_temp_file"
    _check_affix(suffix, "suffix", func=func)
    _check_affix(prefix, "prefix", func=func)
    data = encode_content(content, encoding, func=func)
    session = get_session()
    ctx = _ctx if _ctx is not None else session.registry.current()
    fd, path = tempfile.mkstemp(suffix, prefix, session.context_dir(ctx, ROLE_SCRATCH))
    ctx.created += 1
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        _write_all(fd, data)
    finally:
        os.close(fd)
    return Path(path)


def create_temp_directory(
    files: Files | None = None, *, prefix: str = "tmp", _ctx: Context | None = None
) -> TempDirectory:
    """A new uniquely named, populated directory in the current context's scratch area.

    :param files: names (relative, ``/``-separated) mapped to contents.
    :returns: a :class:`TempDirectory`.

    .. versionadded:: 0.1
    """
    if _ctx is None:
        _ctx = get_session().registry.current()
    return TempDirectory._new(_ctx, files, prefix, func="create_temp_directory")
