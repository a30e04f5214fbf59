"""TempCaseRunner and TempCaseResult in process: the report, strict, keep, scopes."""

from __future__ import annotations

import io
import json
import os
import sys
import types
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import tempcase
import tempcase._removal
from tempcase._config import Settings
from tempcase._runner import TempCaseLoader
from tests.support import fresh_session, make_scratch


def run_with(
    *cases: type[unittest.TestCase], settings: Settings | None = None, loader: Any = None
) -> tuple[tempcase.TempCaseResult, list[str]]:
    """Run *cases* with a TempCaseRunner writing to a buffer; return the result and lines."""
    stream = io.StringIO()
    runner = tempcase.TempCaseRunner(stream=stream, settings=settings or Settings(), verbosity=0)
    loader = loader or unittest.TestLoader()
    suite = loader.suiteClass(loader.loadTestsFromTestCase(case) for case in cases)
    result = runner.run(suite)
    assert isinstance(result, tempcase.TempCaseResult)
    return result, stream.getvalue().splitlines()


def _denied(*args: object, **kwargs: object) -> None:
    raise PermissionError(13, "Permission denied")


class ReportTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_clean_run_prints_one_tempcase_line_after_the_summary(self) -> None:
        class T(tempcase.TestCase):
            def test_a(self) -> None:
                self.create_file("a.txt")
                self.create_temp_file()

            def test_b(self) -> None:
                pass

        result, lines = run_with(T)
        self.assertTrue(result.wasSuccessful())
        ours = [line for line in lines if line.startswith("tempcase:")]
        self.assertEqual(ours, ["tempcase: 2 paths tracked in 1 test, all removed"])
        self.assertEqual(lines[-1], ours[0])
        self.assertLess(lines.index("OK"), lines.index(ours[0]))
        self.assertEqual((result.leaks, result.cleanup_failures, result.kept), ([], [], []))

    def test_cleanup_failures_are_listed_and_keep_outcomes(self) -> None:
        class U(tempcase.TestCase):
            def test_stuck(self) -> None:
                self.create_file("stuck/file.txt")

        with mock.patch.object(tempcase._removal, "_unlink", _denied):
            result, lines = run_with(U)
        self.assertTrue(unittest.TestResult.wasSuccessful(result))
        self.assertEqual(len(result.cleanup_failures), 1)
        failure = result.cleanup_failures[0]
        self.assertEqual(failure.context, f"{U.__module__}.{U.__qualname__}.test_stuck")
        self.assertEqual(failure.path.name, "file.txt")
        self.assertIn("Permission denied", failure.error)
        self.assertEqual(len(result.leaks), 1)
        self.assertEqual(result.leaks[0].scope, "test")
        self.assertEqual(result.leaks[0].where, "sandbox")
        text = "\n".join(lines)
        self.assertIn("tempcase: 1 path could not be removed:", text)
        self.assertRegex(text, r"file\.txt:\s+Permission denied")
        self.assertTrue(result.wasSuccessful(), "not strict: cleanup problems never fail a run")

    def test_strict_makes_leaks_fail_the_run(self) -> None:
        class U(tempcase.TestCase):
            def test_stuck(self) -> None:
                self.create_file("stuck/file.txt")

        with mock.patch.object(tempcase._removal, "_unlink", _denied):
            result, lines = run_with(U, settings=Settings(strict=True))
        self.assertFalse(result.wasSuccessful())
        self.assertEqual(result.failures + result.errors, [])
        self.assertIn("tempcase: strict: leaks and cleanup failures fail this run", lines)
        self.assertIn("FAILED", "\n".join(lines))

    def test_strict_with_a_baseline_fails_only_on_new_leaks(self) -> None:
        scratch = make_scratch(self)

        class U(tempcase.TestCase):
            def test_stuck(self) -> None:
                self.create_file("stuck/file.txt")

        report = scratch / "first.json"
        with mock.patch.object(tempcase._removal, "_unlink", _denied):
            first, _ = run_with(U, settings=Settings(report=str(report)))
            self.assertEqual(len(first.leaks), 1)
            again, lines = run_with(U, settings=Settings(strict=True, baseline=str(report)))
        self.assertTrue(again.wasSuccessful(), lines)
        self.assertIn("no leaks beyond the baseline", "\n".join(lines))

        class V(tempcase.TestCase):
            def test_stuck(self) -> None:
                self.create_file("stuck/file.txt")

            def test_new(self) -> None:
                self.create_file("new/file.txt")

        with mock.patch.object(tempcase._removal, "_unlink", _denied):
            worse, lines = run_with(V, settings=Settings(strict=True, baseline=str(report)))
        # V's test ids differ from U's, so both of V's leaks are new.
        self.assertFalse(worse.wasSuccessful())
        self.assertIn("2 leaks not in the baseline", "\n".join(lines))

    def test_json_report_has_the_version_1_keys(self) -> None:
        scratch = make_scratch(self)
        path = scratch / "report.json"

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("x.txt", "abc")

        _result, _ = run_with(T, settings=Settings(report=str(path)))
        data = json.loads(path.read_text())
        self.assertEqual(data["tempcase_report"], 1)
        self.assertEqual(data["tests_run"], 1)
        self.assertEqual(data["tracked"], {"paths": 1, "removed": 1, "failed": 0})
        self.assertEqual((data["cleanup_failures"], data["leaks"], data["kept"]), ([], [], []))
        self.assertNotIn("baseline", data)

    def test_run_nested_in_a_test_reports_only_its_own(self) -> None:
        seen: dict[str, Any] = {}

        class Inner(tempcase.TestCase):
            def test_inner(self) -> None:
                self.create_file("inner.txt")

        class Outer(tempcase.TestCase):
            def test_outer(self) -> None:
                kept = self.create_file("outer.txt")
                _result, lines = run_with(Inner)
                seen["lines"] = [line for line in lines if line.startswith("tempcase:")]
                seen["outer_still"] = kept.exists()
                seen["context"] = tempcase.current_context()

        result, lines = run_with(Outer)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(seen["lines"], ["tempcase: 1 path tracked in 1 test, all removed"])
        self.assertTrue(seen["outer_still"])
        self.assertEqual(seen["context"], f"{Outer.__module__}.{Outer.__qualname__}.test_outer")
        self.assertIn("tempcase: 1 path tracked in 1 test, all removed", lines)


class KeepTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.made: dict[str, Path] = {}

    def suite(self) -> type[unittest.TestCase]:
        made = self.made

        class T(tempcase.TestCase):
            def tearDown(self) -> None:
                if self._testMethodName == "test_teardown_error":
                    raise RuntimeError("tearDown")

            def mark(self) -> None:
                made[self._testMethodName] = self.create_file("evidence.txt")

            def test_pass(self) -> None:
                self.mark()

            def test_failure(self) -> None:
                self.mark()
                self.fail("on purpose")

            def test_error(self) -> None:
                self.mark()
                raise ValueError("on purpose")

            def test_teardown_error(self) -> None:
                self.mark()

            def test_cleanup_error(self) -> None:
                self.mark()
                self.addCleanup(_denied)

            def test_subtest(self) -> None:
                self.mark()
                with self.subTest(i=1):
                    self.fail("sub")

            @unittest.expectedFailure
            def test_expected(self) -> None:
                self.mark()
                self.fail("expected")

            @unittest.expectedFailure
            def test_unexpected(self) -> None:
                self.mark()

            def test_skip(self) -> None:
                self.mark()
                self.skipTest("skipped")

            def test_block(self) -> None:
                with self.with_temp_directory({"gone.txt": "x"}) as d:
                    made["block"] = d.path
                self.fail("fails after the block")

        return T

    def kept_names(self, result: tempcase.TempCaseResult) -> set[str]:
        return {k.context.rsplit(".", 1)[-1] for k in result.kept if k.context}

    def test_keep_failed_keeps_every_kind_of_failure_and_nothing_else(self) -> None:
        result, lines = run_with(self.suite(), settings=Settings(keep="failed"))
        failing = {
            "test_failure",
            "test_error",
            "test_teardown_error",
            "test_cleanup_error",
            "test_subtest",
            "test_unexpected",
            "test_block",
        }
        kept = self.kept_names(result)
        self.assertEqual(kept - {"test_block"}, failing - {"test_block"})
        for name, path in self.made.items():
            if name == "block":
                self.assertFalse(path.exists(), "what a test removed itself is gone")
            elif name in failing:
                kept_dir = next(
                    k.path for k in result.kept if k.context and k.context.endswith(name)
                )
                self.assertTrue((kept_dir / "evidence.txt").exists(), name)
            else:
                self.assertFalse(path.exists(), name)
        self.assertIn("tempcase: kept", "\n".join(lines))
        for entry in result.kept:
            self.assertNotIn(self.session.run_dir.path, str(entry.path))

    def test_keep_always_keeps_all_and_never_keeps_none(self) -> None:
        result, _ = run_with(self.suite(), settings=Settings(keep="always"))
        self.assertEqual(len(self.kept_names(result)), 9)  # test_block made nothing else
        result, _ = run_with(self.suite(), settings=Settings(keep="never"))
        self.assertEqual(result.kept, [])
        self.assertTrue(all(not p.exists() for p in self.made.values()))


class ScopeUnderRunnerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.session = fresh_session(self)

    def test_module_fixtures_get_a_module_context(self) -> None:
        seen: dict[str, Any] = {}
        module = types.ModuleType("tempcase_generated_module")

        def setUpModule() -> None:
            seen["setup_context"] = tempcase.current_context()
            seen["module_file"] = tempcase.create_temp_file("module")

        def tearDownModule() -> None:
            seen["teardown_context"] = tempcase.current_context()
            seen["exists_at_teardown"] = seen["module_file"].exists()

        module.setUpModule = setUpModule  # type: ignore[attr-defined]
        module.tearDownModule = tearDownModule  # type: ignore[attr-defined]

        class T(unittest.TestCase):  # no mixin: the runner still sees the scopes
            @classmethod
            def setUpClass(cls) -> None:
                seen["class_context"] = tempcase.current_context()

            def test_it(self) -> None:
                seen["test_context"] = tempcase.current_context()
                seen["during_test"] = seen["module_file"].exists()

        T.__module__ = module.__name__
        sys.modules[module.__name__] = module
        self.addCleanup(sys.modules.pop, module.__name__)
        result, _ = run_with(T, loader=TempCaseLoader())
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertEqual(seen["setup_context"], module.__name__)
        self.assertEqual(seen["teardown_context"], module.__name__)
        self.assertEqual(seen["class_context"], f"{module.__name__}.{T.__qualname__}")
        # Under the runner, a test without the mixin has its own context too.
        self.assertEqual(seen["test_context"], f"{module.__name__}.{T.__qualname__}.test_it")
        self.assertTrue(seen["during_test"])
        self.assertTrue(seen["exists_at_teardown"])
        self.assertFalse(seen["module_file"].exists())
        self.assertEqual(self.session.module_contexts, {})

    def test_failing_setupmodule_still_cleans(self) -> None:
        seen: dict[str, Path] = {}
        module = types.ModuleType("tempcase_generated_failing")

        def setUpModule() -> None:
            seen["file"] = tempcase.create_temp_file("half way")
            raise RuntimeError("setUpModule failed")

        module.setUpModule = setUpModule  # type: ignore[attr-defined]

        class T(unittest.TestCase):
            def test_it(self) -> None:
                pass

        T.__module__ = module.__name__
        sys.modules[module.__name__] = module
        self.addCleanup(sys.modules.pop, module.__name__)
        result, _ = run_with(T, loader=TempCaseLoader())
        self.assertEqual(len(result.errors), 1)
        self.assertFalse(seen["file"].exists())

    def test_session_files_are_removed_at_the_end_of_a_top_level_run(self) -> None:
        session_file = tempcase.create_temp_file("made before the run")

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                pass

        run_with(T)
        self.assertFalse(session_file.exists())

    def test_unittest_main_with_the_runner_class(self) -> None:
        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt")

        stream = io.StringIO()
        module = types.ModuleType("tempcase_main_module")
        module.T = T  # type: ignore[attr-defined]

        class Runner(tempcase.TempCaseRunner):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(stream=stream, settings=Settings(), **kwargs)

        program = unittest.main(module=module, argv=["x"], testRunner=Runner, exit=False)
        self.assertTrue(program.result.wasSuccessful())
        self.assertIn("tempcase: 1 path tracked in 1 test, all removed", stream.getvalue())


class SettingsFromEnvironmentTest(unittest.TestCase):
    def test_runner_without_settings_reads_the_environment(self) -> None:
        fresh_session(self)
        with mock.patch.dict(os.environ, {"TEMPCASE_STRICT": "1", "TEMPCASE_KEEP": "failed"}):
            runner = tempcase.TempCaseRunner(stream=io.StringIO())
        self.assertTrue(runner.settings.strict)
        self.assertEqual(runner.settings.keep, "failed")
        self.assertEqual(
            runner.settings.source_of("strict"), "the environment variable TEMPCASE_STRICT"
        )


if __name__ == "__main__":
    unittest.main()
