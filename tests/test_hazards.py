"""The reliability catalogue as tests: teeth-pulled guards, faked platforms, versions.

Each class names the hazards it covers (numbers of the catalogue listed in
docs/hazards.rst).  Property-based and fault-injection tests are in
test_hazards_properties.py and test_hazards_faults.py.
"""

from __future__ import annotations

import errno
import io
import ntpath
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import tempcase
import tempcase._real as real
import tempcase._removal as removal
from tempcase._config import Settings
from tempcase._paths import is_windows_reserved
from tests.support import REPO_ROOT, fresh_session, make_scratch, run_tests

_PROC_FD = "/proc/self/fd"


class Touched(Exception):
    """A deletion primitive was called on a path outside the scratch root.

    Not an ``OSError``: no fallback of tempcase's may catch it and go on.
    """


class TeethPulled:
    """Deletion and mode primitives replaced by recorders that refuse anything outside *root*.

    Every call is recorded with the path it would act on (a ``dir_fd`` is
    resolved through ``/proc``).  A call outside *root* is recorded as a
    violation and raises :class:`Touched` instead of acting; a call inside
    is passed to the real function.
    """

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.calls: list[tuple[str, str]] = []
        self.violations: list[tuple[str, str]] = []

    def target(self, path: Any, dir_fd: int | None) -> str:
        if isinstance(path, int):  # fchmod
            return os.readlink(f"{_PROC_FD}/{path}")
        text = os.fsdecode(os.fspath(path))
        if text.startswith(_PROC_FD + "/"):
            return os.readlink(text)
        if dir_fd is not None:
            text = os.path.join(os.readlink(f"{_PROC_FD}/{dir_fd}"), text)
        # The entry itself may be a link (unlinking it is fine): resolve its parent only.
        parent, name = os.path.split(os.path.abspath(text))
        return os.path.join(os.path.realpath(parent), name)

    def inside(self, target: str) -> bool:
        return target.startswith(self.root + os.sep)

    def recorder(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def record(path: Any, *args: Any, **kwargs: Any) -> Any:
            target = self.target(path, kwargs.get("dir_fd"))
            self.calls.append((name, target))
            if not self.inside(target):
                self.violations.append((name, target))
                raise Touched(f"{name}({target!r}) is outside the scratch root")
            return original(path, *args, **kwargs)

        return record

    def install(self, stack: ExitStack) -> None:
        for attr in ("unlink", "rmdir", "rmtree", "chmod"):
            stack.enter_context(
                mock.patch.object(
                    real.OS, attr, self.recorder(f"OS.{attr}", getattr(real.OS, attr))
                )
            )
        for attr in ("_unlink", "_rmdir", "_rmtree", "_chmod"):
            stack.enter_context(
                mock.patch.object(removal, attr, self.recorder(attr, getattr(removal, attr)))
            )
        if removal._fchmod is not None:
            stack.enter_context(
                mock.patch.object(removal, "_fchmod", self.recorder("_fchmod", removal._fchmod))
            )
        for attr in ("unlink", "rmdir", "remove", "chmod"):
            stack.enter_context(
                mock.patch.object(os, attr, self.recorder(f"os.{attr}", getattr(os, attr)))
            )
        stack.enter_context(
            mock.patch.object(shutil, "rmtree", self.recorder("shutil.rmtree", shutil.rmtree))
        )


@unittest.skipUnless(os.path.isdir(_PROC_FD) and hasattr(os, "symlink"), "needs /proc and links")
class TeethPulledTest(unittest.TestCase):
    """Hazards 19, 20, 28 (issue 7 point 2): every alias of ``/``, home and the cwd is
    refused, and no deletion or chmod call ever reaches outside the scratch root."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.session = fresh_session(self, base=self.scratch / "base")
        self.cwd = self.scratch / "cwd"
        self.cwd.mkdir()
        previous = os.getcwd()
        self.addCleanup(os.chdir, previous)
        os.chdir(self.cwd)
        os.symlink("/", self.scratch / "rootlink")
        os.symlink(self.scratch / "rootlink", self.scratch / "rootlink2")
        self.home = os.path.expanduser("~")
        self.teeth = TeethPulled(self.scratch)

    def pulled(self) -> ExitStack:
        stack = ExitStack()
        self.teeth.install(stack)
        return stack

    def aliases(self) -> list[str]:
        link, link2, home, cwd = (
            str(self.scratch / "rootlink"),
            str(self.scratch / "rootlink2"),
            self.home,
            str(self.cwd),
        )
        return [
            "/", "//", "///", "/./", "/.", "/etc/..", "/tmp/..", "/./.",
            link + "/..", link2 + "/..", link + "/etc/..",
            home, home + "/", home + "/.", home + "//", home + "/./",
            os.path.dirname(home) or "/",
            ".", "./", "./.", cwd, cwd + "/", cwd + "/.", str(self.scratch),
            "..", "../cwd", cwd + "/..",
            tempfile.gettempdir(), tempfile.gettempdir() + "/.",
        ]  # fmt: skip

    def assert_untouched(self) -> None:
        self.assertEqual(self.teeth.violations, [])
        self.assertTrue(os.path.isdir(self.home))
        self.assertTrue(self.cwd.is_dir())

    def test_register_refuses_every_alias_of_root_home_and_cwd(self) -> None:
        self.session.context_dir(self.session.registry.session, "dir")  # the run dir exists
        with self.pulled(), warnings.catch_warnings():
            warnings.simplefilter("error", tempcase.TempcaseWarning)
            with tempcase.scope("teeth"):
                for alias in self.aliases():
                    for register in (tempcase.register_directory, tempcase.register_file):
                        with self.subTest(alias=alias, register=register.__name__):
                            with self.assertRaises(ValueError):
                                register(alias, adopt_existing=True)
                self.assertEqual(tempcase.get_stats().paths_by_context.get("teeth", 0), 0)
                result = tempcase.cleanup_context("teeth")
            self.assertEqual(result.errors, [])
            self.session.end()
        self.assert_untouched()
        self.assertNotIn("rmtree", " ".join(name for name, _ in self.teeth.calls))

    def test_register_refuses_the_basetemp_once_the_run_directory_exists(self) -> None:
        self.session.context_dir(self.session.registry.session, "dir")
        run_dir = Path(self.session.run_dir.path)
        with self.pulled(), tempcase.scope("base"):
            for path in (self.scratch / "base", run_dir.parent, run_dir):
                with self.subTest(path=path), self.assertRaises(ValueError):
                    tempcase.register_directory(path, adopt_existing=True)
        self.assert_untouched()
        self.assertTrue(run_dir.is_dir())

    def test_register_refuses_the_basetemp_before_the_run_directory_exists(self) -> None:
        base = self.scratch / "base"
        with self.pulled(), warnings.catch_warnings():
            warnings.simplefilter("ignore", tempcase.TempcaseWarning)
            with tempcase.scope("early"):
                try:
                    tempcase.register_directory(base)
                except ValueError:
                    pass
                tempcase.create_temp_file("makes the run directory")
                run_dir = Path(self.session.run_dir.path)
            self.assertTrue(run_dir.is_dir(), "the live run directory was removed")

    def test_mixin_registration_refuses_every_alias(self) -> None:
        aliases = self.aliases()
        refused: list[str] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                for alias in aliases:
                    with self.assertRaises(ValueError, msg=alias):
                        self.register_temp_directory(alias, adopt_existing=True)
                    refused.append(alias)

        with self.pulled():
            result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
        self.assertEqual(refused, aliases)
        self.assert_untouched()

    def test_link_to_root_with_a_trailing_slash_removes_at_most_the_link(self) -> None:
        # Registering a link (even written "link/") adopts the link: only it may go.
        link, link2 = self.scratch / "rootlink", self.scratch / "rootlink2"
        spellings = [f"{link}/", f"{link2}/", f"{link}//", f"{link2}/.", f"{link}/./"]
        for spelling in spellings:
            with self.subTest(spelling=spelling):
                for made in (link, link2):
                    if not os.path.lexists(made):
                        os.symlink("/" if made == link else link, made)
                with self.pulled(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", tempcase.TempcaseWarning)
                    with tempcase.scope("links"):
                        try:
                            registered = tempcase.register_directory(spelling)
                        except ValueError:
                            registered = None
                    if registered is not None:
                        self.assertIn(registered, (link, link2))
                self.assert_untouched()
                for name, target in self.teeth.calls:
                    self.assertIn(target, (str(link), str(link2)), name)
                    self.assertNotIn("rmtree", name)
                self.assertTrue(os.path.isdir("/etc"))

    def test_remove_path_refuses_root_and_dot_spellings_without_any_call(self) -> None:
        link = str(self.scratch / "rootlink")
        spellings = [
            "/", "//", "///", "/./", "/.", "/etc/..", "/./.", link + "/..", link + "/.",
            link + "/./", link + "/etc/..", self.home + "/.", str(self.cwd) + "/..",
        ]  # fmt: skip
        with self.pulled():
            for spelling in spellings:
                with self.subTest(spelling=spelling):
                    problems = removal.remove_path(spelling)
                    self.assertEqual(len(problems), 1, problems)
                    self.assertIn("refused", problems[0].error)
        self.assertEqual(self.teeth.calls, [])
        self.assertTrue(os.path.islink(link))

    def test_helpers_refuse_names_that_leave_the_directory(self) -> None:
        names = [
            "/", "//", "///", "/etc/passwd", "//srv/x", "~", "~/x", "..", "../x", "x/../../y",
            "./x", "x/.", "C:x", "..\\x", "rootlink/tmp-x", "rootlink/..", "cwdlink/x",
            str(self.cwd / "x"), self.home + "/x",
        ]  # fmt: skip
        with self.pulled(), tempcase.scope("helpers"):
            d = tempcase.create_temp_directory()
            os.symlink("/", d.path / "rootlink")
            os.symlink(self.cwd, d.path / "cwdlink")
            for name in names:
                with self.subTest(name=name):
                    if name == "~":  # a plain name: made inside, never the home directory
                        self.assertEqual(d.create_file(name, "x").parent, d.path)
                        continue
                    with self.assertRaises(ValueError):
                        d.create_file(name, "x")
                    with self.assertRaises(ValueError):
                        d.create_subdirectory(name)
            self.assertEqual(os.listdir(self.cwd), [])
            d.cleanup()
        self.assert_untouched()
        self.assertTrue(os.path.isdir("/etc"))


class JunctionTest(unittest.TestCase):
    """Hazard 4 with the platform faked: a Windows junction is removed as a link.

    A junction cannot be made here; its ``lstat`` (a directory whose
    ``st_reparse_tag`` is a mount point) and ``os.path.isjunction`` (3.12+) are
    faked over a real directory whose contents must survive.
    """

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.junction = self.scratch / "junction"
        self.junction.mkdir()
        (self.junction / "precious").write_text("keep")
        self.rmdirs: list[str] = []

    def fake_junction(self, stack: ExitStack, *, via_isjunction: bool) -> None:
        real_lstat = removal._lstat
        target = str(self.junction)

        def lstat(path: Any, *args: Any, **kwargs: Any) -> Any:
            st = real_lstat(path, *args, **kwargs)
            if path != target or via_isjunction:
                return st
            fake = mock.Mock(wraps=st)
            fake.st_mode, fake.st_dev, fake.st_ino = st.st_mode, st.st_dev, st.st_ino
            fake.st_reparse_tag = removal._IO_REPARSE_TAG_MOUNT_POINT
            return fake

        stack.enter_context(mock.patch.object(removal, "_lstat", lstat))
        stack.enter_context(mock.patch.object(removal, "_rmdir", self.rmdirs.append))
        if via_isjunction:
            stack.enter_context(mock.patch.object(removal, "_WINDOWS", True))
            stack.enter_context(
                mock.patch.object(os.path, "isjunction", lambda p: p == target, create=True)
            )

    def test_junction_root_is_removed_with_rmdir_and_its_contents_kept(self) -> None:
        for via_isjunction in (False, True):
            with self.subTest(via_isjunction=via_isjunction):
                self.rmdirs.clear()
                with ExitStack() as stack:
                    self.fake_junction(stack, via_isjunction=via_isjunction)
                    with mock.patch.object(removal, "_scandir") as scandir:
                        self.assertEqual(removal.remove_path(str(self.junction)), [])
                self.assertEqual(self.rmdirs, [str(self.junction)])
                scandir.assert_not_called()
                self.assertEqual((self.junction / "precious").read_text(), "keep")

    def test_junction_rmdir_failure_is_reported_not_raised(self) -> None:
        def refuse(path: str) -> None:
            raise PermissionError(errno.EACCES, "Access is denied", path)

        with ExitStack() as stack:
            self.fake_junction(stack, via_isjunction=False)
            stack.enter_context(mock.patch.object(removal, "_rmdir", refuse))
            problems = removal.remove_path(str(self.junction))
        self.assertEqual([p.path for p in problems], [str(self.junction)])
        self.assertIn("EACCES", problems[0].error)
        self.assertTrue((self.junction / "precious").exists())


class PortableWalkTest(unittest.TestCase):
    """Hazards 4, 7 and 12 on the walk Windows uses (faked here), and point 7:
    ``onexc`` on 3.12+, ``onerror`` before, the extended-length prefix."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.tree = self.scratch / "tree"
        (self.tree / "sub").mkdir(parents=True)
        (self.tree / "sub" / "file").write_text("x")
        (self.tree / "ro").write_text("y")
        os.chmod(self.tree / "ro", 0o400)

    def test_portable_walk_raises_no_deprecation_warning_on_any_version(self) -> None:
        # 3.12+ deprecates onerror: under -W error it would raise from cleanup.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with mock.patch.object(removal, "_FD_WALK", False):
                self.assertEqual(removal.remove_path(str(self.tree)), [])
        self.assertFalse(os.path.lexists(self.tree))

    def test_portable_walk_hook_gets_the_exception_on_every_version(self) -> None:
        keyword = "onexc" if sys.version_info >= (3, 12) else "onerror"
        seen: list[str] = []
        real_rmtree = removal._rmtree

        def rmtree(path: str, **kwargs: Any) -> None:
            seen.extend(kwargs)
            real_rmtree(path, **kwargs)

        def refuse(path: Any, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EIO, "I/O error", path)

        with mock.patch.object(removal, "_FD_WALK", False), mock.patch.object(
            removal, "_rmtree", rmtree
        ), mock.patch.object(os, "unlink", refuse):
            problems = removal.remove_path(str(self.tree))
        self.assertEqual(seen, [keyword])
        errors = {os.path.relpath(p.path, self.tree): p.error for p in problems}
        self.assertIn("EIO", errors["ro"])
        self.assertIn("EIO", errors[os.path.join("sub", "file")])
        self.assertTrue(self.tree.exists())

    def test_windows_walk_uses_the_extended_length_prefix_and_reports_plain_paths(
        self,
    ) -> None:
        given: list[str] = []
        long_path = "C:\\" + "\\".join(["abcdefghij"] * 30)

        def rmtree(path: str, **kwargs: Any) -> None:
            given.append(path)
            hook = kwargs.get("onexc") or kwargs["onerror"]
            exc = OSError(errno.EBUSY, "Device or resource busy", path + "\\f")
            hook(os.unlink, path + "\\f", exc if "onexc" in kwargs else (OSError, exc, None))

        with mock.patch.object(removal, "_WINDOWS", True), mock.patch.object(
            removal, "_rmtree", rmtree
        ), mock.patch.object(removal, "_lstat", side_effect=OSError(errno.EBUSY, "busy")):
            problems: list[removal.Problem] = []
            removal._remove_tree_portable(long_path, problems)
        self.assertEqual(given, ["\\\\?\\" + long_path])
        self.assertEqual([p.path for p in problems], [long_path + "\\f"])

    def test_extended_path_table(self) -> None:
        table = {
            "C:\\x\\y": "\\\\?\\C:\\x\\y",
            "\\\\server\\share\\x": "\\\\?\\UNC\\server\\share\\x",
            "\\\\?\\C:\\x": "\\\\?\\C:\\x",
            "\\\\.\\pipe\\x": "\\\\.\\pipe\\x",
            "relative\\x": "relative\\x",
            "/posix/path": "/posix/path",
        }
        for path, extended in table.items():
            with self.subTest(path=path):
                self.assertEqual(removal.extended_path(path), extended)
                if not path.startswith("\\\\?") and not path.startswith("\\\\."):
                    self.assertEqual(removal.plain_path(extended), path)


class WindowsInUseTest(unittest.TestCase):
    """Hazards 10 and 11: a file held open (WinError 32 is ``EACCES``), faked here, is
    reported with the test's id, and the runner's end of run removes it."""

    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_file_in_use_at_test_end_is_reported_then_removed_at_end_of_run(self) -> None:
        held: list[Path] = []
        real_unlink = removal._unlink
        refused: list[str] = []

        def unlink(name: Any, *args: Any, **kwargs: Any) -> None:
            if name == "held.txt" and len(refused) < 2:  # the chmod-and-retry fails too
                refused.append(name)
                error = PermissionError(errno.EACCES, "The process cannot access the file")
                error.winerror = 32  # type: ignore[attr-defined]
                raise error
            real_unlink(name, *args, **kwargs)

        class T(tempcase.TestCase):
            def test_holds(self) -> None:
                held.append(self.create_file("held.txt", "x"))

        stream = io.StringIO()
        runner = tempcase.TempCaseRunner(stream=stream, settings=Settings(detect=False))
        with mock.patch.object(removal, "_unlink", unlink):
            result = runner.run(unittest.defaultTestLoader.loadTestsFromTestCase(T))
        assert isinstance(result, tempcase.TempCaseResult)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual([f.path for f in result.cleanup_failures], held)
        self.assertTrue(str(result.cleanup_failures[0].context).endswith("T.test_holds"))
        self.assertIn("held.txt", stream.getvalue())
        self.assertFalse(os.path.lexists(held[0]), "the end of the run removes it")

    def test_cwd_inside_the_test_directory_is_still_cleaned(self) -> None:
        seen: list[Path] = []
        previous = os.getcwd()
        self.addCleanup(os.chdir, previous)

        class T(tempcase.TestCase):
            def test_chdir(self) -> None:
                self.create_file("sub/f", "x")
                os.chdir(self.tempcase_dir.path / "sub")
                seen.append(self.tempcase_dir.path)

        result = run_tests(T)
        os.chdir(previous)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertFalse(os.path.lexists(seen[0]))


class IdentityKeyTest(unittest.TestCase):
    """Hazard 27: two names of one file (the case-insensitive alias, made here with a
    hard link) and ``st_ino == 0`` never merge entries nor fail the cleanup."""

    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.scratch = make_scratch(self)

    def test_two_names_of_one_inode_are_both_removed(self) -> None:
        first = self.scratch / "Foo"
        first.write_text("x")
        os.link(first, self.scratch / "foo")
        with tempcase.scope("alias"):
            tempcase.register_file(first)
            tempcase.register_file(self.scratch / "foo")
            self.assertEqual(tempcase.get_stats().paths_by_context["alias"], 2)
            result = tempcase.cleanup_context("alias")
        self.assertEqual(result.errors, [])
        self.assertEqual(result.removed, 2)
        self.assertEqual(os.listdir(self.scratch), [])

    def test_files_whose_inode_reads_zero_stay_separate_entries(self) -> None:
        paths = [self.scratch / "a", self.scratch / "b"]
        for path in paths:
            path.write_text("x")
        real_lstat = os.lstat

        def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            st = real_lstat(path, *args, **kwargs)
            fields = list(st[:10])
            fields[1] = 0  # st_ino
            return os.stat_result(fields)

        with tempcase.scope("zero"):
            with mock.patch.object(os, "lstat", lstat):
                for path in paths:
                    tempcase.register_file(path)
            self.assertEqual(tempcase.get_stats().paths_by_context["zero"], 2)
            result = tempcase.cleanup_context("zero")
        self.assertEqual(result.errors, [])
        self.assertEqual(os.listdir(self.scratch), [])


class InheritanceTest(unittest.TestCase):
    """Hazard 18: no descriptor a helper opens is inheritable by a child process."""

    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_helper_descriptors_are_not_inheritable(self) -> None:
        real_open = os.open
        inheritable: list[bool] = []

        def open_(*args: Any, **kwargs: Any) -> int:
            fd = real_open(*args, **kwargs)
            inheritable.append(os.get_inheritable(fd))
            return fd

        with tempcase.scope("fds"), mock.patch.object(os, "open", open_):
            d = tempcase.create_temp_directory({"a/b.txt": "x"})
            d.create_file("c.txt", b"y")
            d.create_numbered_files("n", "{}", 2)
            tempcase.create_temp_file("z")
        self.assertGreaterEqual(len(inheritable), 4)
        self.assertEqual(set(inheritable), {False})


class ClassCleanupVersionsTest(unittest.TestCase):
    """Point 7: on 3.8/3.9 ``addClassCleanup``'s list is shared by every TestCase class;
    tempcase's class scope does not rely on it, on any version."""

    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_branch_matches_the_interpreter(self) -> None:
        shared = "_class_cleanups" in vars(unittest.TestCase)
        self.assertEqual(shared, sys.version_info < (3, 10))

    def test_class_files_go_after_their_own_class_with_user_class_cleanups(self) -> None:
        made: dict[str, Path] = {}
        events: list[str] = []

        def make_class(label: str) -> type[unittest.TestCase]:
            class C(tempcase.TestCase):
                @classmethod
                def setUpClass(cls) -> None:
                    super().setUpClass()
                    for other, path in made.items():  # the class before is already clean
                        events.append(f"{label} sees {other}: {path.exists()}")
                    made[label] = tempcase.create_temp_file(label)
                    cls.addClassCleanup(events.append, f"cleanup {label}")

                def test_it(self) -> None:
                    self.assertTrue(made[label].exists())

            C.__qualname__ = C.__name__ = f"C{label}"
            return C

        result = run_tests(make_class("A"), make_class("B"))
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
        self.assertEqual(events, ["cleanup A", "B sees A: False", "cleanup B"])
        self.assertFalse(any(path.exists() for path in made.values()))


class ReservedVersionsTest(unittest.TestCase):
    """Point 7 and hazard 24: ``ntpath.isreserved`` (3.13+) agrees with tempcase's own
    check on names from test ids and helpers; before 3.13 the table stands alone."""

    NAMES = (
        "CON", "con.txt", "NUL.tar.gz", "COM1", "LPT9.log", "COM\u00b9", "CONIN$", "a.", "a ",
        "a:b", "a|b", "x?", "ok", "CONSOLE", "COM10", "nul_", "a.b", "\u20ac", "LPT0",
    )  # fmt: skip

    @unittest.skipUnless(hasattr(ntpath, "isreserved"), "ntpath.isreserved is 3.13+")
    def test_agrees_with_ntpath_isreserved(self) -> None:
        isreserved: Callable[[str], bool] = ntpath.isreserved  # type: ignore[attr-defined,unused-ignore]
        for name in self.NAMES:
            with self.subTest(name=name):
                self.assertEqual(is_windows_reserved(name), isreserved("./" + name))

    def test_table_without_ntpath(self) -> None:
        reserved = {n for n in self.NAMES if is_windows_reserved(n)}
        expected = {"CON", "con.txt", "NUL.tar.gz", "COM1", "LPT9.log", "COM\u00b9", "CONIN$"}
        self.assertEqual(reserved, expected | {"a.", "a ", "a:b", "a|b", "x?"})


_BIND_MOUNT_CHILD = """
import sys
import tempcase._removal as removal
for problem in removal.remove_path(sys.argv[1]):
    print(problem.path, problem.error, sep="|")
"""


class BindMountTest(unittest.TestCase):
    """Hazard 8: a bind mount of a directory of the same file system (same ``st_dev``)
    inside a tree is left in place; what it shows is never removed."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.outside = self.scratch / "outside"
        self.outside.mkdir()
        (self.outside / "precious").write_text("keep")
        self.tree = self.scratch / "tree"
        (self.tree / "m").mkdir(parents=True)
        (self.tree / "other").mkdir()
        (self.tree / "other" / "f").write_text("x")

    def test_real_bind_mount_in_a_private_mount_namespace(self) -> None:
        unshare = shutil.which("unshare")
        if os.getuid() != 0 or unshare is None or shutil.which("mount") is None:
            self.skipTest("needs root, unshare and mount (a private mount namespace)")
        script = 'mount --bind "$1" "$2" || exit 77; PYTHONPATH="$3" "$4" -c "$5" "$6"'
        done = subprocess.run(
            [unshare, "-m", "--propagation", "private", "sh", "-c", script, "sh",
             str(self.outside), str(self.tree / "m"), str(REPO_ROOT), sys.executable,
             _BIND_MOUNT_CHILD, str(self.tree)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode == 77 or "unshare failed" in done.stderr:
            self.skipTest(f"no private mount namespace here: {done.stderr.strip()}")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(
            done.stdout.splitlines(),
            [f"{self.tree / 'm'}|a mount point (bind mount); left in place"],
        )
        self.assertEqual((self.outside / "precious").read_text(), "keep")
        self.assertFalse((self.tree / "other").exists())

    def test_mount_table_entry_below_the_tree_is_left_in_place(self) -> None:
        # The same with the mount table faked: /proc/self/mountinfo names tree/m.
        (self.tree / "m" / "precious").write_text("keep")
        point = str(self.tree.resolve() / "m").replace(" ", "\\040")
        table = self.scratch / "mountinfo"
        table.write_text(
            "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
            f"99 22 8:1 /outside {point} rw shared:1 - ext4 /dev/sda1 rw\n"
        )
        with mock.patch.object(removal, "_MOUNTINFO", str(table)):
            problems = removal.remove_path(str(self.tree))
        self.assertEqual([p.path for p in problems], [str(self.tree / "m")])
        self.assertEqual((self.tree / "m" / "precious").read_text(), "keep")
        self.assertFalse((self.tree / "other").exists())

    def test_mount_table_escapes_are_decoded(self) -> None:
        spaced = self.scratch / "with space"
        (spaced / "m").mkdir(parents=True)
        table = self.scratch / "mountinfo"
        escaped = str(spaced.resolve() / "m").replace(" ", "\\040")
        table.write_text(f"99 22 8:1 / {escaped} rw - ext4 /dev/sda1 rw\n")
        with mock.patch.object(removal, "_MOUNTINFO", str(table)):
            self.assertEqual(removal._mounts_below(str(spaced)), frozenset({"m"}))
