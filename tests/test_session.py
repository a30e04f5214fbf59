"""Registration, stats, the session at exit, fork safety, memory."""

from __future__ import annotations

import os
import textwrap
import time
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import tempcase
import tempcase._removal as removal_module
import tempcase._session as session_module
from tests.support import fresh_session, make_scratch, memory_scratch, run_python, run_tests


class RegisterTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.scratch = make_scratch(self)

    def test_registered_path_may_not_exist_yet(self) -> None:
        target = self.scratch / "later.txt"
        with tempcase.scope("s"):
            returned = tempcase.register_file(str(target))
            self.assertIsInstance(returned, Path)
            self.assertEqual(returned, target)
            target.write_text("made after registration")
        self.assertFalse(target.exists())

    def test_registered_directory_from_the_mixin_is_removed_after_the_test(self) -> None:
        made = self.scratch / "made-elsewhere"

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                made.mkdir()
                (made / "inner.txt").write_text("x")
                self.register_temp_directory(made)
                self.register_temp_file(made / "inner.txt")

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertFalse(made.exists())

    def test_registering_twice_removes_once_without_errors(self) -> None:
        target = self.scratch / "twice.txt"
        target.write_text("x")
        with tempcase.scope("s"):
            tempcase.register_file(target)
            tempcase.register_file(str(target))
            self.assertEqual(tempcase.get_stats().paths_by_context["s"], 1)
            result = tempcase.cleanup_context("s")
        self.assertTrue(result.ok, result.errors)
        self.assertEqual(result.removed, 1)
        self.assertFalse(target.exists())

    def test_file_then_parent_and_parent_then_file_clean_once(self) -> None:
        for order in ("file-first", "parent-first"):
            with self.subTest(order=order):
                parent = self.scratch / order
                parent.mkdir()
                child = parent / "child.txt"
                child.write_text("x")
                with tempcase.scope(order):
                    if order == "file-first":
                        tempcase.register_file(child)
                        tempcase.register_directory(parent)
                    else:
                        tempcase.register_directory(parent)
                        tempcase.register_file(child)
                    result = tempcase.cleanup_context(order)
                self.assertTrue(result.ok, result.errors)
                self.assertEqual(result.removed, 2)
                self.assertFalse(parent.exists())

    def test_registered_tree_goes_in_one_removal_with_what_was_registered_inside(self) -> None:
        top = self.scratch / "tree"
        registered = [top]
        for d in range(3):
            directory = top / f"d{d}"
            directory.mkdir(parents=True)
            registered.append(directory)
            for f in range(4):
                registered.append(directory / f"f{f}.txt")
                registered[-1].write_text("x")
        removals: list[str] = []
        real_remove = removal_module.remove_path

        def remove_path(path: str, **kwargs: Any) -> Any:
            removals.append(path)
            return real_remove(path, **kwargs)

        with tempcase.scope("s"):
            for path in reversed(registered):  # deepest first, as a test may
                if path.is_dir():
                    tempcase.register_directory(path)
                else:
                    tempcase.register_file(path)
            with mock.patch.object(session_module, "remove_path", remove_path):
                result = tempcase.cleanup_context("s")
            self.assertEqual(tempcase.get_stats().paths_by_context.get("s", 0), 0)
        self.assertTrue(result.ok, result.errors)
        self.assertEqual(result.removed, len(registered))
        self.assertEqual(removals, [str(top)])
        self.assertFalse(top.exists())

    def test_registered_directory_swapped_for_a_link_keeps_the_files_behind_it(self) -> None:
        # Hazard 31: the directory is now a link to outside/, which holds a
        # file of the same name as one registered inside it; neither the link's
        # target nor that file is touched.
        outside = make_scratch(self)
        (outside / "f.txt").write_text("precious")
        directory = self.scratch / "d"
        directory.mkdir()
        (directory / "f.txt").write_text("x")
        with tempcase.scope("s"):
            tempcase.register_directory(directory)
            tempcase.register_file(directory / "f.txt")
            os.rename(directory, self.scratch / "moved")
            os.symlink(outside, directory)
            with self.assertWarnsRegex(tempcase.TempcaseWarning, "could not clean up 1 path"):
                result = tempcase.cleanup_context("s")
        self.assertEqual((outside / "f.txt").read_text(), "precious")
        self.assertFalse(os.path.lexists(directory))
        self.assertEqual([Path(e.path) for e in result.errors], [directory])
        self.assertIn("replaced by a symbolic link", result.errors[0].error)

    def test_path_from_before_the_run_is_refused_unless_adopted(self) -> None:
        old = self.scratch / "old.txt"
        old.write_text("precious")
        self.session.started = time.time() + 60  # the file now predates the run
        with tempcase.scope("s"):
            with self.assertRaisesRegex(ValueError, "existed before the run started"):
                tempcase.register_file(old)
        self.assertTrue(old.exists())
        with tempcase.scope("s"):
            tempcase.register_file(old, adopt_existing=True)
        self.assertFalse(old.exists())

    def test_relative_path_is_made_absolute_at_registration(self) -> None:
        first, second = self.scratch / "first", self.scratch / "second"
        first.mkdir()
        second.mkdir()
        (second / "x").write_text("must survive")
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        os.chdir(first)
        with tempcase.scope("s"):
            registered = tempcase.register_file("x")
            Path("x").write_text("goes")
            os.chdir(second)
        os.chdir(cwd)
        self.assertEqual(registered, first / "x")
        self.assertFalse((first / "x").exists())
        self.assertTrue((second / "x").exists())

    def test_bad_paths_are_refused_before_anything_is_written(self) -> None:
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        inner = self.scratch / "a" / "b"
        inner.mkdir(parents=True)
        os.chdir(inner)
        self.session.context_dir(self.session.registry.session, "dir")  # make the run dir
        run_dir = Path(self.session.run_dir.path)
        refused = {
            "/": "file system root",
            "//": "file system root",
            os.path.expanduser("~"): "home directory",
            str(inner): "current working directory",
            str(self.scratch / "a"): "current working directory",
            str(run_dir): "holds tempcase's run directory",
            str(run_dir.parent): "holds tempcase's run directory",
            str(run_dir.parent.parent): "holds tempcase's run directory",
            str(self.scratch / "a" / ".." / "a"): "'..' component",
            "../b": "'..' component",
        }
        with tempcase.scope("s"):
            for path, reason in refused.items():
                with self.subTest(path=path):
                    with self.assertRaises(ValueError) as caught:
                        tempcase.register_directory(path, adopt_existing=True)
                    self.assertIn(reason, str(caught.exception))
                    self.assertIn(repr(path), str(caught.exception))
            with self.assertRaisesRegex(ValueError, "NUL"):
                tempcase.register_file("a\x00b")
            with self.assertRaisesRegex(TypeError, "int"):
                tempcase.register_file(42)  # type: ignore[arg-type]
            other = self.scratch / "other"
            other.mkdir()
            with self.assertRaisesRegex(ValueError, "is a directory"):
                tempcase.register_file(other, adopt_existing=True)
            regular = self.scratch / "regular.txt"
            regular.write_text("x")
            with self.assertRaisesRegex(ValueError, "not a directory"):
                tempcase.register_directory(regular)
            self.assertEqual(tempcase.get_stats().paths_by_context.get("s", 0), 0)
        self.assertTrue(inner.exists())
        self.assertTrue(regular.exists())

    def test_symlink_to_a_protected_directory_may_be_registered_and_only_the_link_goes(
        self,
    ) -> None:
        link = self.scratch / "home-link"
        link.symlink_to(os.path.expanduser("~"))
        with tempcase.scope("s"):
            tempcase.register_directory(link)
        self.assertFalse(os.path.lexists(link))
        self.assertTrue(os.path.isdir(os.path.expanduser("~")))


class ContextApiTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_current_context_outside_any_test_is_the_session(self) -> None:
        self.assertIsNone(tempcase.current_context())

    def test_stats_follow_a_test_and_drop_it_after(self) -> None:
        seen: dict[str, tempcase.Stats] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt")
                self.create_temp_file()
                seen["during"] = tempcase.get_stats()

        self.assertTrue(run_tests(T).wasSuccessful())
        during = seen["during"]
        test_id = f"{T.__module__}.{T.__qualname__}.test_it"
        self.assertEqual(during.paths_by_context, {test_id: 2})
        self.assertEqual(during.tracked_paths, 2)
        self.assertEqual(during.contexts, 1)
        after = tempcase.get_stats()
        self.assertEqual(after.tracked_paths, 0)
        self.assertEqual(after.paths_by_context, {})
        self.assertEqual(after.removed, 2)
        self.assertEqual((after.failed, after.leaked), (0, 0))

    def test_cleanup_context_mid_test_keeps_the_test_usable(self) -> None:
        seen: dict[str, object] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                first = self.create_file("a.txt")
                result = tempcase.cleanup_context(self.id())
                seen["first_gone"] = not first.exists()
                seen["removed"] = result.removed
                second = self.create_file("b.txt")
                seen["second"] = second

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertTrue(seen["first_gone"])
        self.assertEqual(seen["removed"], 1)
        second = seen["second"]
        assert isinstance(second, Path)
        self.assertFalse(second.exists())

    def test_cleanup_all_refused_inside_a_test_and_cleans_outside(self) -> None:
        seen: dict[str, str] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                try:
                    tempcase.cleanup_all()
                except RuntimeError as exc:
                    seen["error"] = str(exc)

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertIn("inside test", seen["error"])
        session_file = tempcase.create_temp_file("session")
        result = tempcase.cleanup_all()
        self.assertTrue(result.ok)
        self.assertFalse(session_file.exists())
        self.assertIsNone(tempcase.cleanup_context(None).errors or None)

    def test_cleanup_context_of_the_session(self) -> None:
        path = tempcase.create_temp_file("s")
        result = tempcase.cleanup_context(None)
        self.assertEqual(result.removed, 1)
        self.assertFalse(path.exists())
        with self.assertRaises(TypeError):
            tempcase.cleanup_context(3)  # type: ignore[arg-type]

    def test_registry_stays_empty_over_twenty_thousand_tests(self) -> None:
        self.session = fresh_session(self, memory_scratch(self) / "base")

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("f.txt", "x")

        suite = unittest.TestSuite(T("test_it") for _ in range(20_000))
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual(result.testsRun, 20_000)
        self.assertTrue(result.wasSuccessful())
        registry = self.session.registry
        self.assertEqual(registry.live(), [registry.session])
        self.assertEqual(registry.stack(), [])
        self.assertEqual(self.session.class_contexts, {})
        self.assertEqual(tempcase.get_stats().tracked_paths, 0)
        self.assertEqual(tempcase.get_stats().removed, 20_000)
        self.assertEqual(os.listdir(self.session.run_dir.path), [".tempcase-run"])


SESSION_SUITE = """
import os, sys, unittest
import tempcase

SESSION_FILE = tempcase.create_temp_file("made at import")
print("SESSION", SESSION_FILE, flush=True)

class T(tempcase.TestCase):
    def test_it(self):
        print("TEST", self.create_file("f.txt"), flush=True)
"""

FORK_SUITE = """
import os, sys, unittest
import tempcase

class T(tempcase.TestCase):
    def test_fork(self):
        mine = self.create_file("parent.txt", "parent")
        pid = os.fork()
        if pid == 0:
            import atexit
            tempcase.create_temp_file("child")
            # Exit as a process does normally: atexit handlers run.  (sys.exit
            # would be caught by unittest here and the child would go on.)
            atexit._run_exitfuncs()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        assert mine.exists(), "the child's exit removed the parent's file"
        print("PARENT-OK", mine, flush=True)
"""


class ProcessTest(unittest.TestCase):
    def write_suite(self, text: str) -> Path:
        scratch = make_scratch(self)
        (scratch / "test_generated.py").write_text(textwrap.dedent(text))
        return scratch

    def test_session_files_and_run_dir_are_removed_at_exit_under_plain_unittest(self) -> None:
        scratch = self.write_suite(SESSION_SUITE)
        done = run_python(["-m", "unittest", "test_generated"], cwd=scratch)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
        self.assertFalse(Path(lines["SESSION"]).exists())
        self.assertFalse(Path(lines["TEST"]).exists())
        root = scratch / "base" / f"tempcase-of-{os.getuid()}"
        self.assertEqual(os.listdir(root), [])
        self.assertNotIn("tempcase", done.stderr.lower(), "nothing is printed when all is clean")
        self.assertEqual(os.listdir(scratch / "tmpdir"), [])

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_forked_child_exit_leaves_the_parents_files(self) -> None:
        scratch = self.write_suite(FORK_SUITE)
        done = run_python(["-m", "unittest", "test_generated"], cwd=scratch)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("PARENT-OK", done.stdout)
        parent_file = Path(done.stdout.split("PARENT-OK ", 1)[1].strip())
        self.assertFalse(parent_file.exists(), "the parent removes its own files")
        root = scratch / "base" / f"tempcase-of-{os.getuid()}"
        self.assertEqual(os.listdir(root), [])

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_forked_child_cleans_the_contexts_it_opens_itself(self) -> None:
        fresh_session(self, make_scratch(self) / "base")
        with tempcase.scope("parent"):
            parent_file = tempcase.create_temp_file("parent")
            pid = os.fork()
            if pid == 0:  # the child: exit status 0 when its own scope cleaned up
                status = 1
                try:
                    with tempcase.scope("child"):
                        child_file = tempcase.create_temp_file("child")
                    status = 0 if not child_file.exists() and parent_file.exists() else 3
                finally:
                    os._exit(status)
            _, status = os.waitpid(pid, 0)
            self.assertTrue(os.WIFEXITED(status), status)
            self.assertEqual(os.WEXITSTATUS(status), 0)
            self.assertTrue(parent_file.exists())
        self.assertFalse(parent_file.exists())


class RunDirectoryEndTest(unittest.TestCase):
    def test_a_run_directory_that_cannot_be_removed_keeps_its_marker_for_clean(self) -> None:
        import contextlib
        import io
        import warnings
        from unittest import mock

        import tempcase._removal as removal
        from tempcase._orphans import main as clean_main

        base = make_scratch(self) / "base"
        session = fresh_session(self, base)
        stuck = tempcase.create_temp_file("cannot go")
        real_unlink = removal._unlink

        def unlink(path: object, *args: object, **kwargs: object) -> None:
            if str(path) == stuck.name or str(path) == str(stuck):
                raise PermissionError(13, "Permission denied")
            real_unlink(path, *args, **kwargs)

        with mock.patch.object(removal, "_unlink", unlink), warnings.catch_warnings():
            warnings.simplefilter("ignore", tempcase.TempcaseWarning)
            session.end()
        run_dir = Path(session.run_dir.path)
        self.assertTrue((run_dir / ".tempcase-run").exists(), "the marker stays")
        with contextlib.redirect_stdout(io.StringIO()):
            status = clean_main(["--older-than", "0", "--basetemp", str(base)])
        self.assertEqual(status, 0)
        self.assertFalse(run_dir.exists(), "tempcase clean removes it later")


class RefusedRootTest(unittest.TestCase):
    def test_a_refused_per_user_root_is_one_line_and_exit_2(self) -> None:
        scratch = make_scratch(self)
        (scratch / "base").mkdir()
        elsewhere = scratch / "elsewhere"
        elsewhere.mkdir()
        (scratch / "base" / f"tempcase-of-{os.getuid()}").symlink_to(elsewhere)
        (scratch / "test_ok.py").write_text(
            "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
        )
        done = run_python(["-m", "tempcase", "test_ok"], cwd=scratch)
        self.assertEqual(done.returncode, 2, done.stderr)
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertIn("TEMPCASE_BASETEMP", lines[0])
        self.assertEqual(list(elsewhere.iterdir()), [])


if __name__ == "__main__":
    unittest.main()
