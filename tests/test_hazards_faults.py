"""Fault injection (issue 7 point 5; hazards 9, 11, 14).

An ``OSError`` (EACCES, EBUSY, ENOTEMPTY, an ENOENT race, EIO) raised by the
Nth call of a removal step (``unlink``, ``rmdir``, ``open``, ``lstat``,
``scandir`` of :data:`tempcase._real.OS`) is reported in the cleanup result,
the runner's ``cleanup_failures`` or a ``TempcaseWarning``; it is never raised
into a test, never changes its outcome, and the rest of the cleanup happens.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import unittest
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import tempcase
import tempcase._real as real
import tempcase._removal as removal
from tempcase._config import Settings
from tests.support import fresh_session, make_scratch, run_python, run_tests

# A suite whose cleanup is interrupted: from the 3rd unlink on, every unlink
# raises KeyboardInterrupt (the second Ctrl-C, and any later one, at exit too).
_INTERRUPTED_CLEANUP = """
import unittest
import tempcase
import tempcase._real as real

calls = [0]
original = real.OS.unlink


def unlink(*args, **kwargs):
    calls[0] += 1
    if calls[0] >= 3:
        raise KeyboardInterrupt
    return original(*args, **kwargs)


class T(tempcase.TestCase):
    def test_it(self):
        for i in range(6):
            self.create_file(f"sub/f{i}", "x")
        real.OS.unlink = unlink


unittest.main()
"""

ERRNOS = (errno.EACCES, errno.EBUSY, errno.ENOTEMPTY, errno.ENOENT, errno.EIO)
STEPS = ("unlink", "rmdir", "open", "lstat", "scandir")
_PROC_FD = "/proc/self/fd"


def _target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The path a call acts on, where it can be told."""
    path = args[0] if args else None
    if isinstance(path, int):
        return os.readlink(f"{_PROC_FD}/{path}") if os.path.isdir(_PROC_FD) else None
    if path is None:
        return None
    dir_fd = kwargs.get("dir_fd")
    if dir_fd is not None:
        if not os.path.isdir(_PROC_FD):
            return None
        return os.path.join(os.readlink(f"{_PROC_FD}/{dir_fd}"), str(os.fspath(path)))
    return str(os.fspath(path))


@contextmanager
def fault(step: str, code: int, nth: int) -> Iterator[list[str]]:
    """Make the *nth* call of ``OS.<step>`` fail with *code*; yield what failed.

    ENOENT is a race: the entry is really removed (by another process, as it
    were) before the error is raised.
    """
    original: Callable[..., Any] = getattr(real.OS, step)
    calls = [0]
    failed: list[str] = []

    def faulty(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth:
            target = _target(args, kwargs)
            failed.append(target or "?")
            if code == errno.ENOENT and target is not None and os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
            raise OSError(code, os.strerror(code), target)
        return original(*args, **kwargs)

    with mock.patch.object(real.OS, step, faulty), mock.patch.object(
        removal, "_sleep", lambda delay: None
    ):
        yield failed


def _related(survivor: str, error_paths: list[str]) -> bool:
    """A survivor must be, hold or lie below a path the cleanup reported."""
    for path in error_paths:
        if survivor == path or path.startswith(survivor + os.sep):
            return True
        if survivor.startswith(path + os.sep):
            return True
    return False


class FaultTestBase(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.session = fresh_session(self, base=self.scratch / "base")
        self.serial = 0

    def make_tree(self) -> Path:
        self.serial += 1
        top = self.scratch / f"tree-{self.serial}"
        (top / "sub" / "deeper").mkdir(parents=True)
        for rel in ("f1", "f2", "sub/f3", "sub/deeper/f4"):
            (top / rel).write_text(rel)
        os.symlink(self.scratch / "outside", top / "sub" / "link")
        return top

    def survivors(self, *tops: Path) -> list[str]:
        left = []
        for top in tops:
            if os.path.lexists(top):
                left.append(str(top))
                for root, dirs, files in os.walk(top):
                    left.extend(os.path.join(root, name) for name in dirs + files)
        return left


class InjectedFaultTest(FaultTestBase):
    """Every errno at every step, on the 1st to 4th call: reported, never raised."""

    def test_every_fault_is_reported_and_the_rest_is_removed(self) -> None:
        outside = self.scratch / "outside"
        outside.mkdir()
        (outside / "precious").write_text("keep")
        for step in STEPS:
            for code in ERRNOS:
                for nth in (1, 2, 3, 4):
                    with self.subTest(step=step, errno=errno.errorcode[code], nth=nth):
                        self.check_one(step, code, nth)
        self.assertEqual((outside / "precious").read_text(), "keep")

    def check_one(self, step: str, code: int, nth: int) -> None:
        first, second = self.make_tree(), self.make_tree()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with tempcase.scope("faults"):
                tempcase.register_directory(first)
                tempcase.register_directory(second)
                with fault(step, code, nth):
                    result = tempcase.cleanup_context("faults")
        errors = [str(e.path) for e in result.errors]
        left = self.survivors(first, second)
        for survivor in left:
            self.assertTrue(_related(survivor, errors), (survivor, result.errors))
        if code == errno.ENOENT:  # a race: gone is gone
            self.assertEqual(result.errors, [])
        if result.errors:
            self.assertTrue(all(e.context == "faults" for e in result.errors))
            warned = [w for w in caught if issubclass(w.category, tempcase.TempcaseWarning)]
            self.assertEqual(len(warned), 1, [str(w.message) for w in warned])
        # Whatever is left goes once the fault has passed.
        for top in (first, second):
            self.assertEqual(removal.remove_path(str(top)), [])


class FaultOutcomeTest(FaultTestBase):
    """The runner: faults in a test's cleanup never change outcomes, and are listed."""

    def run_suite(self, step: str, code: int) -> tuple[tempcase.TempCaseResult, list[Path]]:
        made: list[Path] = []

        class T(tempcase.TestCase):
            def test_a_passes(self) -> None:
                made.append(self.create_file("sub/a.txt", "a"))

            def test_b_fails(self) -> None:
                made.append(self.create_file("sub/b.txt", "b"))
                self.fail("on purpose")

            def test_c_errors(self) -> None:
                made.append(self.create_file("sub/c.txt", "c"))
                raise RuntimeError("on purpose")

        stream = io.StringIO()
        runner = tempcase.TempCaseRunner(stream=stream, settings=Settings(detect=False))
        with fault(step, code, 2):
            result = runner.run(unittest.defaultTestLoader.loadTestsFromTestCase(T))
        assert isinstance(result, tempcase.TempCaseResult)
        return result, made

    def test_outcomes_unchanged_under_every_fault(self) -> None:
        for step in STEPS:
            for code in ERRNOS:
                with self.subTest(step=step, errno=errno.errorcode[code]):
                    result, made = self.run_suite(step, code)
                    self.assertEqual(result.testsRun, 3)
                    self.assertEqual(len(result.failures), 1)
                    self.assertEqual(len(result.errors), 1)
                    self.assertIn("test_b_fails", result.failures[0][0].id())
                    self.assertIn("test_c_errors", result.errors[0][0].id())
                    for failure in result.cleanup_failures:
                        self.assertIn(".T.test_", str(failure.context))
                    if code == errno.ENOENT:
                        self.assertEqual(result.cleanup_failures, [])
                    # The end of the run retries what a test's cleanup left.
                    self.assertEqual([p for p in made if os.path.lexists(p)], [])

    def test_fault_under_plain_unittest_is_a_warning_not_a_failure(self) -> None:
        made: list[Path] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                made.append(self.create_file("x/y.txt", "y"))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fault("rmdir", errno.EIO, 1):
                result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors)
        messages = [str(w.message) for w in caught if w.category is tempcase.TempcaseWarning]
        self.assertEqual(len(messages), 1, messages)
        self.assertIn("EIO", messages[0])


class InterruptedCleanupTest(unittest.TestCase):
    """Hazard 34: a KeyboardInterrupt during cleanup leaves a run that ``tempcase clean``
    finishes once the process is gone, touching nothing outside."""

    def test_clean_finishes_a_run_whose_cleanup_was_interrupted(self) -> None:
        scratch = make_scratch(self)
        (scratch / "outside").mkdir()
        (scratch / "outside" / "precious").write_text("keep")
        (scratch / "suite.py").write_text(_INTERRUPTED_CLEANUP)
        done = run_python(["suite.py"], cwd=scratch)
        self.assertIn("KeyboardInterrupt", done.stderr)
        self.assertNotEqual(done.returncode, 0)
        base = scratch / "base"
        left = [p for p in base.rglob("*") if p.name.startswith("f")]
        self.assertTrue(left, "the interrupt left files behind")
        cleaned = run_python(
            ["-m", "tempcase", "clean", "--older-than", "0", "--basetemp", str(base)], cwd=scratch
        )
        self.assertEqual(cleaned.returncode, 0, cleaned.stderr)
        self.assertEqual([p for p in base.rglob("*") if p.name.startswith("f")], [])
        self.assertEqual((scratch / "outside" / "precious").read_text(), "keep")
