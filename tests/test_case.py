"""The TempFileTestCase mixin: cleanup in every outcome, scopes, contexts."""

from __future__ import annotations

import asyncio
import threading
import unittest
import warnings
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import tempcase
import tempcase._removal
from tests.support import fresh_session, make_scratch, run_tests


class Recorder:
    """Paths a throwaway test made, and what it saw, for the outer test to check."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.seen: dict[str, Any] = {}

    def add(self, *paths: Path) -> None:
        self.paths.extend(paths)

    def left(self) -> list[Path]:
        return [p for p in self.paths if p.exists() or p.is_symlink()]


class MixinWithBasesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.rec = Recorder()

    def test_mixin_with_unittest_testcase_removes_files_after_test(self) -> None:
        rec = self.rec

        class T(tempcase.TempFileTestCase, unittest.TestCase):
            def test_it(self) -> None:
                rec.add(self.create_file("a/b.txt", "x"), self.create_subdirectory("c"))
                rec.seen["exists"] = all(p.exists() for p in rec.paths)

        result = run_tests(T)
        self.assertTrue(result.wasSuccessful())
        self.assertTrue(rec.seen["exists"])
        self.assertEqual(len(rec.paths), 2)
        self.assertEqual(rec.left(), [])

    def test_convenience_testcase_is_a_unittest_testcase(self) -> None:
        self.assertTrue(issubclass(tempcase.TestCase, unittest.TestCase))
        self.assertTrue(issubclass(tempcase.TestCase, tempcase.TempFileTestCase))
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                rec.add(self.create_file("f.txt"))

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(rec.left(), [])

    def test_users_own_base_class_works_after_the_mixin(self) -> None:
        rec = self.rec

        class Base(unittest.TestCase):
            def helper(self) -> str:
                return "base"

        class T(tempcase.TempFileTestCase, Base):
            def test_it(self) -> None:
                rec.add(self.create_file("f.txt", self.helper()))
                rec.seen["content"] = rec.paths[0].read_text()

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(rec.seen["content"], "base")
        self.assertEqual(rec.left(), [])

    def test_bases_in_wrong_order_are_refused_with_the_fix(self) -> None:
        class Base(unittest.TestCase):
            pass

        with self.assertRaises(TypeError) as caught:

            class Wrong(Base, tempcase.TempFileTestCase):
                pass

        message = str(caught.exception)
        self.assertIn("TempFileTestCase must come before Base", message)
        self.assertIn("class Wrong(TempFileTestCase, Base)", message)
        with self.assertRaises(TypeError):

            class AlsoWrong(unittest.TestCase, tempcase.TempFileTestCase):
                pass

    def test_legacy_temp_dir_attribute_keeps_working(self) -> None:
        rec = self.rec
        scratch = make_scratch(self)

        class Legacy(tempcase.TestCase):
            def setUp(self) -> None:
                super().setUp()
                self.temp_dir = str(scratch / "legacy")
                Path(self.temp_dir).mkdir()

            def test_it(self) -> None:
                (Path(self.temp_dir) / "mine.txt").write_text("legacy")
                rec.add(self.create_file("ours.txt"))
                rec.seen["distinct"] = self.tempcase_dir.path != Path(self.temp_dir)

        self.assertTrue(run_tests(Legacy).wasSuccessful())
        self.assertTrue(rec.seen["distinct"])
        self.assertEqual(rec.left(), [])
        self.assertTrue((scratch / "legacy" / "mine.txt").exists())

    def test_debug_cleans_up_too(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_ok(self) -> None:
                rec.add(self.create_file("ok.txt"))

            def test_raises(self) -> None:
                rec.add(self.create_file("raises.txt"))
                raise ValueError("boom")

        T("test_ok").debug()
        with self.assertRaises(ValueError):
            T("test_raises").debug()
        self.assertEqual(len(rec.paths), 2)
        self.assertEqual(rec.left(), [])

    def test_isolated_asyncio_testcase_and_async_cleanups_see_the_test_context(self) -> None:
        rec = self.rec

        class T(tempcase.IsolatedAsyncioTestCase):
            async def asyncSetUp(self) -> None:
                rec.add(self.create_file("setup.txt"))

            async def check(self) -> None:
                rec.seen["cleanup_context"] = tempcase.current_context()
                rec.seen["cleanup_sees_file"] = rec.paths[0].exists()

            async def test_it(self) -> None:
                await asyncio.sleep(0)
                rec.seen["context"] = tempcase.current_context()
                rec.add(tempcase.create_temp_file("module-level"))
                self.addAsyncCleanup(self.check)

        result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors)
        test_id = f"{T.__module__}.{T.__qualname__}.test_it"
        self.assertEqual(rec.seen["context"], test_id)
        self.assertEqual(rec.seen["cleanup_context"], test_id)
        self.assertTrue(rec.seen["cleanup_sees_file"])
        self.assertEqual(rec.left(), [])


class _OutcomeResult(unittest.TestResult):
    """Records, at stopTest, whether the test's files still existed."""

    rec: ClassVar[Recorder]

    def stopTest(self, test: unittest.TestCase) -> None:
        self.rec.seen.setdefault("at_stop", []).append(bool(self.rec.left()))
        super().stopTest(test)


class OutcomesTest(unittest.TestCase):
    """Cleanup after tearDown and the test's own cleanups, in every outcome."""

    def setUp(self) -> None:
        fresh_session(self)
        self.rec = Recorder()

    def run_outcome(self, case: type[unittest.TestCase]) -> unittest.TestResult:
        _OutcomeResult.rec = self.rec
        result = _OutcomeResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
        return result

    def assert_clean(self, *, made: int = 1) -> None:
        self.assertEqual(len(self.rec.paths), made, self.rec.paths)
        self.assertEqual(self.rec.left(), [])
        self.assertNotIn(True, self.rec.seen.get("at_stop", []), "files existed at stopTest")

    def make(self, body: str) -> type[unittest.TestCase]:
        rec = self.rec

        class T(tempcase.TestCase):
            def setUp(self) -> None:
                super().setUp()
                rec.add(self.create_file("setup.txt"))
                self.addCleanup(self.user_cleanup)
                if body == "setup-error":
                    raise RuntimeError("setUp failed")
                if body == "setup-skip":
                    self.skipTest("skipped in setUp")

            def user_cleanup(self) -> None:
                rec.seen["user_cleanup_saw_file"] = rec.paths[0].exists()

            def tearDown(self) -> None:
                if body == "teardown-error":
                    raise RuntimeError("tearDown failed")

            def test_it(self) -> None:
                if body == "failure":
                    self.fail("on purpose")
                if body == "error":
                    raise ValueError("on purpose")
                if body == "subtest":
                    for i in range(2):
                        with self.subTest(i=i):
                            rec.add(self.create_file(f"sub{i}.txt"))
                            self.assertEqual(i, 0)

        return T

    def test_pass(self) -> None:
        result = self.run_outcome(self.make("pass"))
        self.assertTrue(result.wasSuccessful())
        self.assert_clean()
        self.assertTrue(self.rec.seen["user_cleanup_saw_file"])

    def test_failure(self) -> None:
        result = self.run_outcome(self.make("failure"))
        self.assertEqual(len(result.failures), 1)
        self.assert_clean()
        self.assertTrue(self.rec.seen["user_cleanup_saw_file"])

    def test_error(self) -> None:
        result = self.run_outcome(self.make("error"))
        self.assertEqual(len(result.errors), 1)
        self.assert_clean()

    def test_error_in_setup(self) -> None:
        result = self.run_outcome(self.make("setup-error"))
        self.assertEqual(len(result.errors), 1)
        self.assert_clean()
        self.assertTrue(self.rec.seen["user_cleanup_saw_file"])

    def test_error_in_teardown(self) -> None:
        result = self.run_outcome(self.make("teardown-error"))
        self.assertEqual(len(result.errors), 1)
        self.assert_clean()

    def test_skip_in_setup(self) -> None:
        result = self.run_outcome(self.make("setup-skip"))
        self.assertEqual(len(result.skipped), 1)
        self.assert_clean()

    def test_failing_subtest(self) -> None:
        result = self.run_outcome(self.make("subtest"))
        self.assertEqual(len(result.failures), 1)
        self.assert_clean(made=3)

    def test_skip_decorator_creates_nothing_and_leaves_nothing(self) -> None:
        session = fresh_session(self)

        @unittest.skip("not today")
        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("never.txt")

        result = self.run_outcome(T)
        self.assertEqual(len(result.skipped), 1)
        self.assertFalse(session.has_run_dir)

    def test_expected_failure_and_unexpected_success(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            @unittest.expectedFailure
            def test_expected(self) -> None:
                rec.add(self.create_file("expected.txt"))
                self.fail("on purpose")

            @unittest.expectedFailure
            def test_unexpected(self) -> None:
                rec.add(self.create_file("unexpected.txt"))

        result = self.run_outcome(T)
        self.assertEqual(len(result.expectedFailures), 1)
        self.assertEqual(len(result.unexpectedSuccesses), 1)
        self.assert_clean(made=2)

    def test_setup_without_super_still_cleans(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def setUp(self) -> None:  # never calls super().setUp()
                rec.add(self.create_file("setup.txt"))

            def test_it(self) -> None:
                rec.add(self.create_temp_file("x"))

        self.assertTrue(self.run_outcome(T).wasSuccessful())
        self.assert_clean(made=2)

    def test_keyboard_interrupt_cleans_and_propagates(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                rec.add(self.create_file("f.txt"), self.create_temp_file())
                raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            self.run_outcome(T)
        self.assertEqual(len(rec.paths), 2)
        self.assertEqual(rec.left(), [])
        self.assertIsNone(tempcase.current_context())


class ClassContextTest(unittest.TestCase):
    def setUp(self) -> None:
        fresh_session(self)
        self.rec = Recorder()

    def test_setupclass_files_live_through_the_tests_and_go_after_teardownclass(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            shared: ClassVar[tempcase.TempDirectory]

            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                rec.seen["class_context"] = tempcase.current_context()
                cls.shared = tempcase.create_temp_directory({"data.txt": "shared"})
                rec.add(cls.shared.path)

            @classmethod
            def tearDownClass(cls) -> None:
                rec.seen["exists_in_teardown"] = cls.shared.path.exists()
                rec.add(tempcase.create_temp_file("made in tearDownClass"))
                super().tearDownClass()

            def test_a(self) -> None:
                rec.seen["a"] = self.shared.read_file("data.txt")

            def test_b(self) -> None:
                rec.seen["b"] = self.shared.path.exists()

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(rec.seen["class_context"], f"{T.__module__}.{T.__qualname__}")
        self.assertEqual(rec.seen["a"], "shared")
        self.assertTrue(rec.seen["b"])
        self.assertTrue(rec.seen["exists_in_teardown"])
        self.assertEqual(len(rec.paths), 2)
        self.assertEqual(rec.left(), [])

    def test_setupclass_that_raises_half_way_still_cleans(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                rec.add(tempcase.create_temp_file("before the failure"))
                raise RuntimeError("setUpClass failed half way")

            def test_never_runs(self) -> None:
                rec.seen["ran"] = True

        result = run_tests(T)
        self.assertEqual(len(result.errors), 1)
        self.assertNotIn("ran", rec.seen)
        self.assertEqual(len(rec.paths), 1)
        self.assertEqual(rec.left(), [])

    def test_inherited_setupclass_chain_belongs_to_the_subclass(self) -> None:
        rec = self.rec

        class A(tempcase.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                rec.seen.setdefault("contexts", []).append(tempcase.current_context())
                rec.add(tempcase.create_temp_file("A"))

        class B(A):
            @classmethod
            def setUpClass(cls) -> None:
                super().setUpClass()
                rec.seen.setdefault("contexts", []).append(tempcase.current_context())
                rec.add(tempcase.create_temp_file("B"))

            def test_it(self) -> None:
                rec.seen["during_test"] = [p.exists() for p in rec.paths]

        self.assertTrue(run_tests(B).wasSuccessful())
        b_id = f"{B.__module__}.{B.__qualname__}"
        self.assertEqual(rec.seen["contexts"], [b_id, b_id])
        self.assertEqual(rec.seen["during_test"], [True, True])
        self.assertEqual(rec.left(), [])

    def test_class_without_own_fixtures_gets_class_context_cleanup(self) -> None:
        session = fresh_session(self)

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                pass

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(session.class_contexts, {})
        self.assertEqual(session.stats().tracked_paths, 0)


class ContextTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.rec = Recorder()

    def test_paths_from_another_thread_belong_to_the_test(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                def work() -> None:
                    rec.seen["thread_context"] = tempcase.current_context()
                    rec.add(tempcase.create_temp_file("from a thread"))

                thread = threading.Thread(target=work)
                thread.start()
                thread.join()
                rec.seen["stats"] = tempcase.get_stats().paths_by_context.get(self.id())

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(rec.seen["thread_context"], f"{T.__module__}.{T.__qualname__}.test_it")
        self.assertEqual(rec.seen["stats"], 1)
        self.assertEqual(rec.left(), [])

    def test_nested_run_does_not_end_the_outer_context(self) -> None:
        rec = self.rec

        class Inner(tempcase.TestCase):
            def test_inner(self) -> None:
                rec.add(self.create_file("inner.txt"))

        class Outer(tempcase.TestCase):
            def test_outer(self) -> None:
                outer_file = self.create_file("outer.txt")
                rec.add(outer_file)
                inner = run_tests(Inner)
                rec.seen["inner_ok"] = inner.wasSuccessful()
                rec.seen["inner_left"] = rec.paths[1].exists()
                rec.seen["outer_still"] = outer_file.exists()
                rec.seen["context_after"] = tempcase.current_context()
                rec.add(self.create_file("after.txt"))

        session_file = tempcase.create_temp_file("session")
        self.assertTrue(run_tests(Outer).wasSuccessful())
        self.assertTrue(rec.seen["inner_ok"])
        self.assertFalse(rec.seen["inner_left"])
        self.assertTrue(rec.seen["outer_still"])
        self.assertEqual(
            rec.seen["context_after"], f"{Outer.__module__}.{Outer.__qualname__}.test_outer"
        )
        self.assertEqual(rec.left(), [])
        self.assertTrue(session_file.exists())
        self.assertIsNone(tempcase.current_context())

    def test_same_test_id_twice_in_one_run_gets_two_directories(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                rec.add(self.tempcase_dir.path)

        suite = unittest.TestSuite([T("test_it"), T("test_it")])
        suite.run(unittest.TestResult())
        self.assertEqual(len(rec.paths), 2)
        self.assertNotEqual(rec.paths[0], rec.paths[1])
        self.assertEqual(rec.left(), [])

    def test_scope_opens_a_custom_context(self) -> None:
        with tempcase.scope("outer"):
            self.assertEqual(tempcase.current_context(), "outer")
            outer = tempcase.create_temp_file("o")
            with tempcase.scope("inner"):
                self.assertEqual(tempcase.current_context(), "inner")
                inner = tempcase.create_temp_directory({"x.txt": "x"})
            self.assertFalse(inner.path.exists())
            self.assertTrue(outer.exists())
        self.assertFalse(outer.exists())
        self.assertIsNone(tempcase.current_context())
        with self.assertRaises(TypeError):
            with tempcase.scope(""):
                pass

    def test_directory_of_an_ended_test_refuses_writes(self) -> None:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                rec.seen["dir"] = self.tempcase_dir

        self.assertTrue(run_tests(T).wasSuccessful())
        directory: tempcase.TempDirectory = rec.seen["dir"]
        with self.assertRaises(RuntimeError):
            directory.create_file("late.txt")
        self.assertFalse(directory.path.exists())

    def test_tempcase_dir_outside_a_run_is_a_clear_error(self) -> None:
        class T(tempcase.TestCase):
            def test_it(self) -> None:
                pass

        with self.assertRaisesRegex(RuntimeError, "only while the test runs"):
            T("test_it").create_file("x")


class CleanupProblemTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.rec = Recorder()

    def failing_case(self) -> type[unittest.TestCase]:
        rec = self.rec

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                rec.add(self.create_file("stuck/file.txt"))

        return T

    def test_cleanup_failure_is_a_warning_not_a_test_failure(self) -> None:
        denied = PermissionError(13, "Permission denied")
        with mock.patch.object(tempcase._removal, "_unlink", side_effect=denied):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                result = run_tests(self.failing_case())
        self.assertTrue(result.wasSuccessful())
        messages = [w for w in caught if issubclass(w.category, tempcase.TempcaseWarning)]
        self.assertEqual(len(messages), 1)
        self.assertIn("file.txt", str(messages[0].message))
        self.assertTrue(issubclass(tempcase.TempcaseWarning, UserWarning))
        stats = tempcase.get_stats()
        self.assertGreaterEqual(stats.failed, 1)
        self.assertEqual(stats.leaked, 1)

    def test_cleanup_failure_under_warnings_as_errors_keeps_the_outcome(self) -> None:
        denied = PermissionError(13, "Permission denied")
        with mock.patch.object(tempcase._removal, "_unlink", side_effect=denied):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                result = run_tests(self.failing_case())
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertGreaterEqual(tempcase.get_stats().failed, 1)

    def test_clean_run_warns_nothing(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_tests(self.failing_case())
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(
            [w for w in caught if issubclass(w.category, tempcase.TempcaseWarning)], []
        )
        self.assertEqual(self.rec.left(), [])


if __name__ == "__main__":
    unittest.main()
