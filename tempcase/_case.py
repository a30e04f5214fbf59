"""The TempFileTestCase mixin: per-test temporary files on ``self``."""

from __future__ import annotations

import contextlib
import functools
import unittest
from pathlib import Path
from typing import Any, Callable, Iterator

from tempcase._directory import TempDirectory, new_temp_file
from tempcase._paths import PathArg, split_name
from tempcase._registry import Context
from tempcase._session import get_session
from tempcase._writing import Content, Files, encode_content

__all__ = ["TempFileTestCase", "TestCase"]

_WRAPPED = "_tempcase_class_fixture"


def _check_bases(cls: type) -> None:
    """Refuse an MRO where ``unittest.TestCase.run`` comes before the mixin's."""
    mro = cls.__mro__
    if unittest.TestCase in mro and mro.index(TempFileTestCase) > mro.index(unittest.TestCase):
        blocker = next(
            base
            for base in cls.__bases__
            if issubclass(base, unittest.TestCase) and not issubclass(base, TempFileTestCase)
        )
        fixed = ", ".join(b.__name__ for b in cls.__bases__ if b is not blocker)
        raise TypeError(
            f"class {cls.__qualname__}: TempFileTestCase must come before {blocker.__name__} "
            f"in the bases, or its tests would get no cleanup; write "
            f"class {cls.__name__}({fixed}, {blocker.__name__})"
        )


def _class_fixture(func: Callable[[Any], None], *, teardown: bool) -> Callable[[Any], None]:
    """Run a ``setUpClass``/``tearDownClass`` body in the class's context.

    What it creates belongs to the class and is removed after
    ``tearDownClass``, or at once when ``setUpClass`` raises (unittest then
    skips ``tearDownClass``).  ``addClassCleanup`` is not used: on 3.8/3.9
    its list is shared by every TestCase class.
    """

    @functools.wraps(func)
    def fixture(cls: Any) -> None:
        session = get_session()
        ctx = session.class_context(cls)
        if session.registry.current() is ctx:  # re-entered through super()
            func(cls)
            return
        session.registry.push(ctx)
        done = False
        try:
            func(cls)
            done = True
        finally:
            session.registry.pop(ctx)
            if teardown or not done:
                session.end_class(cls)

    setattr(fixture, _WRAPPED, True)
    return fixture


def _wrap_class_fixtures(cls: type) -> None:
    for name, teardown in (("setUpClass", False), ("tearDownClass", True)):
        attr = cls.__dict__.get(name)
        if isinstance(attr, classmethod) and not getattr(attr.__func__, _WRAPPED, False):
            setattr(cls, name, classmethod(_class_fixture(attr.__func__, teardown=teardown)))


class TempFileTestCase:
    """Per-test temporary files for any ``unittest.TestCase``.

    Put it *before* ``unittest.TestCase`` (or a subclass) in the bases::

        class ConfigTest(TempFileTestCase, unittest.TestCase):
            def test_reads_config(self):
                path = self.create_file("conf/app.json", '{"mode": "test"}')

    Everything a test creates through these methods, or registers with
    them, is removed after its ``tearDown`` and its own cleanups, whatever
    the outcome.  What ``setUpClass`` creates (through the module-level
    functions) is removed after ``tearDownClass``.

    .. versionadded:: 0.1
    """

    _tempcase_context: Context | None = None
    _tempcase_dir: TempDirectory | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_bases(cls)
        _wrap_class_fixtures(cls)

    # -- lifecycle ---------------------------------------------------------------

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        """Run the test in its own context; clean it before the result hears of its end."""
        session = get_session()
        ctx = session.open_context(self._tempcase_id(), "test")
        self._tempcase_context = ctx
        self._tempcase_dir = None
        # doCleanups (below) cleans the context after the test's own cleanups
        # and before result.stopTest().  A KeyboardInterrupt skips doCleanups:
        # the finally here cleans up then, and the interrupt propagates.
        try:
            return super().run(result)  # type: ignore[misc, no-any-return]
        finally:
            session.end_context(ctx)

    def doCleanups(self) -> Any:
        """Run the test's own cleanups (LIFO, a user's ``addCleanup(f.close)``
        first), then remove what the test tracked."""
        ok = super().doCleanups()  # type: ignore[misc]  # what unittest returns
        ctx = self._tempcase_context
        if ctx is not None and not ctx.closed:
            get_session().finish_context(ctx)
        return ok

    def debug(self) -> None:
        """Run the test without a result, in its own context, cleaned afterwards."""
        session = get_session()
        ctx = session.open_context(self._tempcase_id(), "test")
        self._tempcase_context = ctx
        self._tempcase_dir = None
        try:
            super().debug()  # type: ignore[misc]
        finally:
            session.end_context(ctx)

    def _tempcase_id(self) -> str:
        return self.id()  # type: ignore[attr-defined, no-any-return]

    @classmethod
    def setUpClass(cls) -> None:
        """Open the class's context; subclasses' overrides run inside it too."""
        parent = super()
        if hasattr(parent, "setUpClass"):
            parent.setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        """Remove what the class created, after its ``tearDownClass``."""
        parent = super()
        if hasattr(parent, "tearDownClass"):
            parent.tearDownClass()

    def _tempcase_ctx(self, func: str) -> Context:
        ctx = self._tempcase_context
        if ctx is None:
            raise RuntimeError(
                f"{func}: only while the test runs (setUp, the test, tearDown, cleanups); "
                "in setUpClass use the module-level functions such as "
                "tempcase.create_temp_directory()"
            )
        return ctx

    # -- the test's own directory ----------------------------------------------

    @property
    def tempcase_dir(self) -> TempDirectory:
        """This test's own directory, created on first use, removed after the test."""
        current = self._tempcase_dir
        if current is None or current.cleaned:
            ctx = self._tempcase_ctx("tempcase_dir")
            current = self._tempcase_dir = TempDirectory._for_context(get_session(), ctx)
        return current

    def create_file(self, name: PathArg, content: Content = "", *, encoding: str = "utf-8") -> Path:
        """Write a file in :attr:`tempcase_dir` (see :meth:`TempDirectory.create_file`)."""
        func = "create_file"
        parts = split_name(name, func=func)  # a bad name creates not even tempcase_dir
        data = encode_content(content, encoding, func=func)
        directory = self.tempcase_dir
        directory._check_open(func)
        return directory._write(parts, data, name=str(name), func=func)

    def create_subdirectory(self, name: PathArg) -> Path:
        """Create a directory in :attr:`tempcase_dir`."""
        split_name(name, func="create_subdirectory")
        return self.tempcase_dir.create_subdirectory(name)

    @contextlib.contextmanager
    def with_temp_directory(self, files: Files | None = None) -> Iterator[TempDirectory]:
        """A fresh, populated directory, removed when the block exits.

        It is tracked until then, so a failure inside still cleans it.
        """
        directory = TempDirectory._new(
            self._tempcase_ctx("with_temp_directory"), files, "tmp", func="with_temp_directory"
        )
        try:
            yield directory
        finally:
            directory.cleanup()

    def create_temp_file(
        self,
        content: Content = "",
        suffix: str = "",
        *,
        prefix: str = "tmp",
        encoding: str = "utf-8",
    ) -> Path:
        """A uniquely named file in the test's scratch area (not in :attr:`tempcase_dir`)."""
        ctx = self._tempcase_ctx("create_temp_file")
        return new_temp_file(ctx, content, suffix, prefix, encoding, func="create_temp_file")

    def create_temp_directory(
        self, files: Files | None = None, *, prefix: str = "tmp"
    ) -> TempDirectory:
        """A uniquely named directory in the test's scratch area (not in :attr:`tempcase_dir`)."""
        ctx = self._tempcase_ctx("create_temp_directory")
        return TempDirectory._new(ctx, files, prefix, func="create_temp_directory")

    def register_temp_file(self, path: PathArg, *, adopt_existing: bool = False) -> Path:
        """Remove *path*, made by other means, when the test ends (it may not exist yet)."""
        return get_session().register(
            path,
            kind="file",
            adopt_existing=adopt_existing,
            func="register_temp_file",
            ctx=self._tempcase_ctx("register_temp_file"),
        )

    def register_temp_directory(self, path: PathArg, *, adopt_existing: bool = False) -> Path:
        """Remove the directory *path*, made by other means, when the test ends."""
        return get_session().register(
            path,
            kind="directory",
            adopt_existing=adopt_existing,
            func="register_temp_directory",
            ctx=self._tempcase_ctx("register_temp_directory"),
        )


TempFileTestCase.setUpClass = classmethod(  # type: ignore[method-assign, assignment]
    _class_fixture(TempFileTestCase.__dict__["setUpClass"].__func__, teardown=False)
)
TempFileTestCase.tearDownClass = classmethod(  # type: ignore[method-assign, assignment]
    _class_fixture(TempFileTestCase.__dict__["tearDownClass"].__func__, teardown=True)
)


class TestCase(TempFileTestCase, unittest.TestCase):
    """``unittest.TestCase`` with :class:`TempFileTestCase` mixed in.

    .. versionadded:: 0.1
    """
