"""TempDirectory, and the file helpers behind the mixin's methods."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from tempcase._paths import PathArg, as_path_str, split_name
from tempcase._registry import Context
from tempcase._removal import remove_path
from tempcase._session import ROLE_DIR, ROLE_SCRATCH, Session, get_session
from tempcase._writing import (
    Content,
    Files,
    check_affix,
    check_target,
    encode_content,
    make_dirs,
    prepare_files,
    write_all,
    write_file,
)

__all__ = ["Content", "Files", "TempDirectory", "create_temp_directory", "create_temp_file"]


def _child_by_parts(base: Path, parts: tuple[str, ...]) -> Path:
    for part in parts:
        base = base._make_child_relpath(part)  # type: ignore[attr-defined]
    return base


def _child_by_join(base: Path, parts: tuple[str, ...]) -> Path:
    return base.joinpath(*parts)


# The Path of a checked name inside a directory.  Before 3.12 a Path parses
# its string when it is made (a few microseconds, three times for three
# files), while a child made from its parent's parts is not parsed again;
# from 3.12 paths are parsed lazily, and joinpath is as cheap.
_child = (
    _child_by_parts
    if sys.version_info < (3, 12) and hasattr(Path, "_make_child_relpath")
    else _child_by_join
)


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
        prepared = prepare_files(files, func=func)
        check_affix(prefix, "prefix", func=func)
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
        made = write_file(self.name, parts, data, name=name, func=func)[1]
        self._context.created += made
        self._made += made
        return _child(self.path, parts)

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
        made = make_dirs(self.name, parts, str(name), func=func)[1]
        self._context.created += made
        self._made += made
        return _child(self.path, parts)

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
        check_affix(suffix, "suffix", func=func)
        width = max(3, len(str(count)))
        names = [f"{basename}_{i:0{width}d}{suffix}" for i in range(1, count + 1)]
        prepared = [
            (split_name(name, func=func), content_pattern.format(i).encode("utf-8"))
            for i, name in enumerate(names, 1)
        ]
        self._check_open(func)
        for (parts, _data), name in zip(prepared, names):
            check_target(self.name, parts, name=name, func=func)
        return [
            self._write(parts, data, name=n, func=func) for (parts, data), n in zip(prepared, names)
        ]

    def unique_filename(self, prefix: str = "temp", suffix: str = ".tmp") -> str:
        """A file name not yet present in the directory (nothing is created)."""
        import secrets  # here: few tests need it, every import would pay for it

        func = "unique_filename"
        check_affix(prefix, "prefix", func=func)
        check_affix(suffix, "suffix", func=func)
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


def new_temp_file(
    ctx: Context, content: object, suffix: str, prefix: str, encoding: str, *, func: str
) -> Path:
    """A uniquely named file in the scratch area of *ctx*."""
    check_affix(suffix, "suffix", func=func)
    check_affix(prefix, "prefix", func=func)
    data = encode_content(content, encoding, func=func)
    session = get_session()
    fd, path = tempfile.mkstemp(suffix, prefix, session.context_dir(ctx, ROLE_SCRATCH))
    ctx.created += 1
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        write_all(fd, data)
    finally:
        os.close(fd)
    return Path(path)


def create_temp_file(
    content: Content = "", suffix: str = "", *, prefix: str = "tmp", encoding: str = "utf-8"
) -> Path:
    """A new uniquely named file in the current context's scratch area.

    :param content: text (written in *encoding*) or bytes (as they are).
    :param suffix: the end of the name, e.g. ``".json"``.
    :param prefix: the start of the name.
    :returns: the file's path (mode 0o600).

    .. versionadded:: 0.1
    """
    ctx = get_session().registry.current()
    return new_temp_file(ctx, content, suffix, prefix, encoding, func="create_temp_file")


def create_temp_directory(files: Files | None = None, *, prefix: str = "tmp") -> TempDirectory:
    """A new uniquely named, populated directory in the current context's scratch area.

    :param files: names (relative, ``/``-separated) mapped to contents.
    :returns: a :class:`TempDirectory`.

    .. versionadded:: 0.1
    """
    ctx = get_session().registry.current()
    return TempDirectory._new(ctx, files, prefix, func="create_temp_directory")
