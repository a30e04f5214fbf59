"""``python -m tempcase`` in a subprocess, on small generated suites.

Every run is checked afterwards for what it must never leave: anything in the
child's temp dir, or a run directory under tempcase's per-user root.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path
from typing import Any

from tempcase._layout import user_root_name
from tests.support import child_env, fresh_session, has_toml_reader, make_scratch, run_python

# -- generated suites ----------------------------------------------------------

# Tests that use the mixin, in every plain outcome (run under both runners).
PLAIN = """
    import unittest

    import tempcase


    class Pass(tempcase.TestCase):
        def test_one(self):
            self.create_file("one.txt", "1")

        def test_two(self):
            self.create_subdirectory("sub")


    class Mixed(tempcase.TestCase):
        def test_a_ok(self):
            self.create_file("a.txt")

        def test_b_fails(self):
            self.create_file("b.txt")
            self.assertEqual(1, 2)

        def test_c_ok(self):
            self.create_file("c.txt")


    class Err(tempcase.TestCase):
        def test_raises(self):
            self.create_file("e.txt")
            raise KeyError("boom")
"""

BROKEN = """
    import tempcase
    import no_such_module_for_tempcase_cli_tests
"""

# A package below a top-level directory, for discover -s -p -t.
CHECK_ALPHA = """
    import unittest

    import tempcase


    class Alpha(tempcase.TestCase):
        def test_alpha_pass(self):
            self.create_file("x.txt")

        def test_alpha_prints_and_fails(self):
            print("captured by -b")
            self.fail("alpha failed")

        @unittest.skip("not today")
        def test_alpha_skipped(self):
            pass

        @unittest.expectedFailure
        def test_alpha_expected(self):
            self.fail("expected")


    class Beta(tempcase.TestCase):
        def test_beta_error(self):
            self.create_file("y.txt")
            raise OSError("beta")

        def test_beta_subtests(self):
            for i in range(2):
                with self.subTest(i=i):
                    self.assertLess(i, 1)
"""

# Cleanup fails portably: tempcase's own unlink is made to refuse, from the
# first test on, until the module's cleanups.
STUCK = """
    import os
    import unittest
    from unittest import mock

    import tempcase
    import tempcase._removal

    _patched = []


    def tearDownModule():
        pass  # Python 3.8 runs module cleanups only when there is a tearDownModule


    def refuse_unlink():
        if not _patched:
            patcher = mock.patch.object(
                tempcase._removal, "_unlink", side_effect=PermissionError(13, "Permission denied")
            )
            patcher.start()
            unittest.addModuleCleanup(patcher.stop)
            _patched.append(patcher)


    class Stuck(tempcase.TestCase):
        @unittest.skipUnless(os.environ.get("STUCK_FAIL"), "only with STUCK_FAIL")
        def test_stuck_fails(self):
            refuse_unlink()
            self.create_file("stuck-failing.txt", "x")
            self.fail("a real failure")

        def test_stuck_passes(self):
            refuse_unlink()
            self.create_file("stuck.txt", "x")
"""

# Leaks made through tempfile by plain tests, in every scope.  Never run this
# under plain unittest: the files would land in the real temp dir.
LEAKY = """
    import os
    import tempfile
    import unittest


    def leak_file():
        fd, _ = tempfile.mkstemp(prefix="leak-")
        os.close(fd)


    def setUpModule():
        leak_file()


    class Leaky(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            tempfile.mkdtemp(prefix="class-leak-")

        def test_leaks_a_file(self):
            leak_file()

        def test_leaks_three(self):
            for _ in range(3):
                leak_file()

        @unittest.skipUnless(os.environ.get("EXTRA_LEAK"), "only with EXTRA_LEAK")
        def test_leaks_more(self):
            leak_file()
"""

# Leaks only in tests (no class or module scope), for strict and settings runs.
ONE_LEAK = """
    import os
    import tempfile
    import unittest


    class OneLeak(unittest.TestCase):
        def test_leaks(self):
            fd, _ = tempfile.mkstemp()
            os.close(fd)
"""

# Every outcome, for --keep.  The with_temp_directory path is written down so
# that the parent can check it is gone.
KEEP = """
    import os
    import unittest

    import tempcase

    MARKS = os.environ["MARKS"]


    class K(tempcase.TestCase):
        def test_pass(self):
            self.create_file("f.txt")

        def test_failure(self):
            self.create_file("f.txt")
            self.fail("no")

        def test_error(self):
            self.create_file("f.txt")
            raise OSError("error")

        def test_subtest(self):
            self.create_file("f.txt")
            with self.subTest(i=1):
                self.fail("sub")

        @unittest.expectedFailure
        def test_xfail(self):
            self.create_file("f.txt")
            self.fail("expected")

        @unittest.expectedFailure
        def test_xpass(self):
            self.create_file("f.txt")

        def test_skip(self):
            self.create_file("f.txt")
            self.skipTest("skipped")

        def test_cleanup_error(self):
            self.create_file("f.txt")
            self.addCleanup(self._boom)

        def _boom(self):
            raise RuntimeError("cleanup")

        def test_block(self):
            self.create_file("f.txt")
            with self.with_temp_directory({"inner.txt": "i"}) as block:
                with open(os.path.join(MARKS, "block"), "w") as stream:
                    stream.write(os.path.basename(block.name))
            self.fail("after the block")


    class SetUpError(tempcase.TestCase):
        def setUp(self):
            super().setUp()
            self.create_file("f.txt")
            raise RuntimeError("setUp")

        def test_it(self):
            pass


    class TearDownError(tempcase.TestCase):
        def tearDown(self):
            raise RuntimeError("tearDown")

        def test_it(self):
            self.create_file("f.txt")
"""
FAILING_IN_KEEP = {
    "test_keep.K.test_failure",
    "test_keep.K.test_error",
    "test_keep.K.test_subtest",
    "test_keep.K.test_xpass",
    "test_keep.K.test_cleanup_error",
    "test_keep.K.test_block",
    "test_keep.SetUpError.test_it",
    "test_keep.TearDownError.test_it",
}
PASSING_IN_KEEP = {"test_keep.K.test_pass", "test_keep.K.test_xfail", "test_keep.K.test_skip"}

# A test that signals it runs, waits for -c's first interrupt to be seen,
# says so, then waits for the second (a KeyboardInterrupt).
INTERRUPT = """
    import os
    import time

    import tempcase

    MARKS = os.environ["MARKS"]


    class Interrupted(tempcase.TestCase):
        def run(self, result=None):
            self.seen_result = result
            return super().run(result)

        def test_1_waits(self):
            self.create_file("waiting.txt")
            open(os.path.join(MARKS, "running"), "w").close()
            deadline = time.monotonic() + 60
            while not self.seen_result.shouldStop and time.monotonic() < deadline:
                time.sleep(0.01)
            open(os.path.join(MARKS, "stopping"), "w").close()
            while time.monotonic() < deadline:
                time.sleep(0.01)

        def test_2_never_runs(self):
            open(os.path.join(MARKS, "second"), "w").close()
"""

# File names that are not UTF-8: one left by a leak, one that cannot be removed.
ENCODING = """
    import os
    import tempfile
    import unittest
    from unittest import mock

    import tempcase
    import tempcase._removal


    def tearDownModule():
        pass  # Python 3.8 runs module cleanups only when there is a tearDownModule


    class Names(tempcase.TestCase):
        def test_a_leaks_a_latin1_name(self):
            fd, _ = tempfile.mkstemp(prefix=os.fsdecode(b"caf\\xe9-"))
            os.close(fd)

        def test_b_cannot_remove_a_latin1_name(self):
            patcher = mock.patch.object(
                tempcase._removal, "_unlink", side_effect=PermissionError(13, "Permission denied")
            )
            patcher.start()
            unittest.addModuleCleanup(patcher.stop)
            directory = os.fsencode(self.tempcase_dir.name)
            with open(os.path.join(directory, b"caf\\xe9"), "w") as stream:
                stream.write("x")
"""

# Writes a marker when its test runs: to prove that no test ran.
MARKER = """
    import os
    import unittest


    class Marked(unittest.TestCase):
        def test_marks(self):
            open(os.path.join(os.environ["MARKS"], "ran"), "w").close()
"""

RUN_MAIN = """
    import unittest

    import tempcase

    unittest.main(module="test_fronts", testRunner=tempcase.TempCaseRunner)
"""

RUN_RUNNER = """
    import sys
    import unittest

    import tempcase

    suite = unittest.defaultTestLoader.loadTestsFromName("test_fronts")
    result = tempcase.TempCaseRunner().run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
"""

# -- helpers ------------------------------------------------------------------------

_RAN = re.compile(r"^Ran (\d+) tests? in \d+\.\d+s$", re.MULTILINE)
_CLEAN = re.compile(r"^tempcase: [\d,]+ paths? tracked in [\d,]+ tests?, all removed$")
_SUMMARY = re.compile(r"^(OK|FAILED)( \(.*\))?$")
_NO_TESTS = re.compile(r"^NO TESTS RAN")


def write(directory: Path, name: str, text: str) -> Path:
    """Write a dedented source file, making its parent directories."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def normalise(text: str) -> str:
    """Unittest's output without its timing."""
    return _RAN.sub(r"Ran \1 tests in X.XXXs", text)


def unittest_part(stderr: str) -> str:
    """Everything before the first line that starts with ``tempcase:``."""
    lines = stderr.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("tempcase:"):
            return normalise("".join(lines[:index]))
    return normalise(stderr)


def report_lines(stderr: str) -> list[str]:
    """The report: the first line that starts with ``tempcase:`` and all after it."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("tempcase:"):
            return lines[index:]
    return []


def summary_index(stderr: str) -> int:
    """The index of unittest's ``OK``/``FAILED``/``NO TESTS RAN`` line."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if _SUMMARY.match(line) or _NO_TESTS.match(line):
            return index
    raise AssertionError(f"no unittest summary line in:\n{stderr}")


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until *path* exists (the child reached a point), or fail."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the child never wrote {path.name}")
        time.sleep(0.01)


class CliTestCase(unittest.TestCase):
    """Runs ``python -m tempcase`` in a scratch directory and checks what it left."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)
        self.marks = self.scratch / "marks"
        self.marks.mkdir()

    def assert_nothing_left(self, cwd: Path) -> None:
        tmp = cwd / "tmpdir"
        self.assertEqual(sorted(os.listdir(tmp)) if tmp.exists() else [], [])
        root = cwd / "base" / user_root_name()
        runs = [n for n in os.listdir(root) if n.startswith("run-")] if root.exists() else []
        self.assertEqual(runs, [], "a run directory was left behind")

    def python(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python ARGS`` in *cwd* (the scratch dir), then check what it left."""
        where = self.scratch if cwd is None else cwd
        proc = run_python(args, cwd=where, env={"MARKS": str(self.marks), **(env or {})})
        self.assert_nothing_left(where)
        return proc

    def tempcase(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        python_options: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        return self.python([*python_options, "-m", "tempcase", *args], env=env, cwd=cwd)

    def write(self, name: str, text: str, directory: Path | None = None) -> Path:
        return write(self.scratch if directory is None else directory, name, text)

    def read_json(self, name: str) -> Any:
        with open(self.scratch / name, encoding="utf-8") as stream:
            return json.load(stream)

    def assert_clean_report_after_summary(self, proc: subprocess.CompletedProcess[str]) -> None:
        lines = proc.stderr.splitlines()
        report = report_lines(proc.stderr)
        self.assertEqual(len(report), 1, proc.stderr)
        self.assertRegex(report[0], _CLEAN)
        self.assertEqual(lines[-1], report[0])
        self.assertLess(summary_index(proc.stderr), len(lines) - 1)


# -- the same as python -m unittest ----------------------------------------------------


class SameAsUnittestTest(CliTestCase):
    """Same arguments, same output and exit code as ``python -m unittest``."""

    def setUp(self) -> None:
        super().setUp()
        self.write("test_plain.py", PLAIN)
        self.write("test_broken.py", BROKEN)
        self.write("proj/pkg/__init__.py", "")
        self.write("proj/pkg/check_alpha.py", CHECK_ALPHA)
        (self.scratch / "empty").mkdir()

    def assert_same_as_unittest(self, *args: str) -> subprocess.CompletedProcess[str]:
        plain = self.python(["-m", "unittest", *args])
        ours = self.tempcase(*args)
        self.assertEqual(ours.returncode, plain.returncode, ours.stderr)
        self.assertEqual(unittest_part(ours.stderr), normalise(plain.stderr))
        self.assertEqual(ours.stdout, plain.stdout)
        self.assert_clean_report_after_summary(ours)
        return ours

    def test_discover_with_start_pattern_and_top_level_verbose_buffered(self) -> None:
        ours = self.assert_same_as_unittest(
            "discover", "-s", "proj/pkg", "-p", "check_*.py", "-t", "proj", "-v", "-b"
        )
        self.assertEqual(ours.returncode, 1)
        self.assertIn("test_alpha_pass (pkg.check_alpha.Alpha", ours.stderr)
        self.assertIn("captured by -b", ours.stderr)
        self.assertIn("test_beta_subtests (pkg.check_alpha.Beta", ours.stderr)

    def test_discover_quiet_with_a_name_pattern(self) -> None:
        ours = self.assert_same_as_unittest(
            "discover", "-s", "proj/pkg", "-p", "check_*.py", "-t", "proj", "-q",
            "-k", "_pass", "-k", "subtests",
        )  # fmt: skip
        self.assertIn("Ran 2 tests", ours.stderr)
        self.assertEqual(ours.returncode, 1)

    def test_class_and_method_names_all_passing_with_catch(self) -> None:
        ours = self.assert_same_as_unittest("-c", "test_plain.Pass", "test_plain.Mixed.test_a_ok")
        self.assertEqual(ours.returncode, 0)
        self.assertIn("Ran 3 tests", ours.stderr)
        self.assertEqual(
            report_lines(ours.stderr), ["tempcase: 3 paths tracked in 3 tests, all removed"]
        )

    def test_a_failure_exits_like_unittest(self) -> None:
        ours = self.assert_same_as_unittest("test_plain.Mixed")
        self.assertEqual(ours.returncode, 1)
        self.assertIn("Ran 3 tests", ours.stderr)

    def test_failfast_stops_early_like_unittest(self) -> None:
        ours = self.assert_same_as_unittest("-f", "test_plain.Mixed")
        self.assertEqual(ours.returncode, 1)
        self.assertIn("Ran 2 tests", ours.stderr)

    def test_an_error_exits_like_unittest(self) -> None:
        ours = self.assert_same_as_unittest("test_plain.Err")
        self.assertEqual(ours.returncode, 1)
        self.assertIn("KeyError: 'boom'", ours.stderr)

    def test_an_import_error_exits_like_unittest(self) -> None:
        ours = self.assert_same_as_unittest("test_broken")
        self.assertEqual(ours.returncode, 1)
        self.assertIn("no_such_module_for_tempcase_cli_tests", ours.stderr)

    def test_an_empty_suite_exits_like_unittest(self) -> None:
        ours = self.assert_same_as_unittest("discover", "-s", "empty")
        self.assertEqual(ours.returncode, 5 if sys.version_info >= (3, 12) else 0)
        self.assertEqual(
            report_lines(ours.stderr), ["tempcase: 0 paths tracked in 0 tests, all removed"]
        )

    def test_a_module_name_runs_every_test_in_it(self) -> None:
        ours = self.assert_same_as_unittest("test_plain")
        self.assertIn("Ran 6 tests", ours.stderr)


# -- the report ------------------------------------------------------------------------


class ReportTest(CliTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write("test_stuck.py", STUCK)
        self.write("test_leaky.py", LEAKY)

    def test_cleanup_failures_are_listed_and_change_no_outcome(self) -> None:
        proc = self.tempcase("-v", "test_stuck", env={"STUCK_FAIL": "1"})
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("test_stuck_passes (test_stuck.Stuck", proc.stderr)
        self.assertRegex(proc.stderr, r"test_stuck_passes \(test_stuck\.Stuck[^\n]*\) \.\.\. ok\n")
        self.assertRegex(proc.stderr, r"test_stuck_fails \(test_stuck\.Stuck[^\n]*\) \.\.\. FAIL\n")
        self.assertIn("FAILED (failures=1)", proc.stderr)
        self.assertNotIn("ERROR", proc.stderr)
        report = report_lines(proc.stderr)
        self.assertGreater(len(report), 1)
        self.assertLess(summary_index(proc.stderr), len(proc.stderr.splitlines()) - len(report))
        text = "\n".join(report)
        self.assertIn("could not be removed", text)
        for name in ("test_stuck.Stuck.test_stuck_passes", "test_stuck.Stuck.test_stuck_fails"):
            self.assertIn(name, text)
        self.assertRegex(text, r"/stuck\.txt:\s+Permission denied")
        self.assertRegex(text, r"/stuck-failing\.txt:\s+Permission denied")
        self.assertRegex(report[-1], r"^tempcase: [\d,]+ paths? tracked in 2 tests, ")
        self.assertNotIn("all removed", report[-1])

    def test_json_report_has_the_version_1_keys_and_the_text_fits_80_columns(self) -> None:
        proc = self.tempcase(
            "test_leaky", "test_stuck", "--keep", "failed", "--report", "report.json",
            env={"STUCK_FAIL": "1"},
        )  # fmt: skip
        self.assertEqual(proc.returncode, 1, proc.stderr)
        data = self.read_json("report.json")
        self.assertEqual(data["tempcase_report"], 1)
        ran = _RAN.search(proc.stderr)
        self.assertIsNotNone(ran, proc.stderr)
        self.assertEqual(data["tests_run"], int(ran.group(1)) if ran else -1)
        self.assertGreaterEqual(data["tests_run"], 4)
        self.assertEqual(set(data["tracked"]), {"paths", "removed", "failed"})
        for value in data["tracked"].values():
            self.assertIsInstance(value, int)
        self.assertEqual(data["tracked"]["failed"], len(data["cleanup_failures"]))
        failures = data["cleanup_failures"]
        self.assertEqual({f["context"] for f in failures}, {"test_stuck.Stuck.test_stuck_passes"})
        for failure in failures:
            self.assertEqual(set(failure), {"context", "path", "error"})
            self.assertIn("Permission denied", failure["error"])
        leaks = data["leaks"]
        for leak in leaks:
            self.assertLessEqual(
                {"context", "scope", "path", "kind", "where", "size", "removed"}, set(leak)
            )
        scopes = {(leak["context"], leak["scope"]) for leak in leaks}
        self.assertLessEqual(
            {
                ("test_leaky", "module"),
                ("test_leaky.Leaky", "class"),
                ("test_leaky.Leaky.test_leaks_a_file", "test"),
                ("test_leaky.Leaky.test_leaks_three", "test"),
            },
            scopes,
        )
        kinds = {leak["context"]: leak["kind"] for leak in leaks}
        self.assertEqual(kinds["test_leaky.Leaky"], "directory")
        self.assertEqual(kinds["test_leaky.Leaky.test_leaks_a_file"], "file")
        self.assertEqual(
            [k["context"] for k in data["kept"]], ["test_stuck.Stuck.test_stuck_fails"]
        )
        self.assertEqual(set(data["kept"][0]), {"context", "path"})
        self.assertTrue(Path(data["kept"][0]["path"], "stuck-failing.txt").is_file())
        # The text: readable at 80 columns (a line may be longer only for a path),
        # the worst offender first.
        report = report_lines(proc.stderr)
        for line in report:
            if len(line) > 80:
                self.assertIn(str(self.scratch), line)
        rows = [line.split()[0] for line in report if line.startswith("  test_leaky")]
        self.assertEqual(rows[0], "test_leaky.Leaky.test_leaks_three")
        self.assertIn("test_leaky.Leaky.test_leaks_a_file", rows)
        self.assertIn("kept", "\n".join(report))
        self.assertIn(data["kept"][0]["path"], "\n".join(report))

    def test_report_in_a_missing_directory_is_refused_before_any_test(self) -> None:
        self.write("test_marker.py", MARKER)
        proc = self.tempcase("test_marker", "--report", "missing/report.json")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertIn("missing", proc.stderr)
        self.assertFalse((self.marks / "ran").exists())
        self.assertNotIn("Ran ", proc.stderr)


# -- strict and the baseline --------------------------------------------------------------


class StrictTest(CliTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write("test_stuck.py", STUCK)
        self.write("test_leaky.py", LEAKY)
        self.write("test_plain.py", PLAIN)

    def test_strict_fails_a_passing_run_with_leaks_or_cleanup_failures(self) -> None:
        lax = self.tempcase("test_leaky")
        self.assertEqual(lax.returncode, 0, lax.stderr)
        leaky = self.tempcase("--strict", "test_leaky")
        self.assertEqual(leaky.returncode, 1, leaky.stderr)
        self.assertRegex(leaky.stderr, r"(?m)^FAILED\b")
        stuck = self.tempcase("--strict", "test_stuck")
        self.assertEqual(stuck.returncode, 1, stuck.stderr)
        self.assertIn("could not be removed", stuck.stderr)

    def test_strict_passes_a_clean_run(self) -> None:
        proc = self.tempcase("--strict", "test_plain.Pass")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assert_clean_report_after_summary(proc)

    def test_baseline_fails_only_on_new_leaks(self) -> None:
        first = self.tempcase("test_leaky", "--report", "baseline.json")
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertTrue(self.read_json("baseline.json")["leaks"])
        known = self.tempcase("test_leaky", "--strict", "--baseline", "baseline.json")
        self.assertEqual(known.returncode, 0, known.stderr)
        more = self.tempcase(
            "test_leaky", "--strict", "--baseline", "baseline.json", env={"EXTRA_LEAK": "1"}
        )
        self.assertEqual(more.returncode, 1, more.stderr)
        self.assertIn("not in the baseline", more.stderr)

    def test_baseline_run_with_known_leaks_only_says_ok(self) -> None:
        first = self.tempcase("test_leaky", "--report", "baseline.json")
        self.assertEqual(first.returncode, 0, first.stderr)
        known = self.tempcase("test_leaky", "--strict", "--baseline", "baseline.json")
        self.assertEqual(known.returncode, 0, known.stderr)
        self.assertRegex(known.stderr, r"\nOK( \(.*\))?\n")
        self.assertNotIn("FAILED", known.stderr)


# -- --keep ----------------------------------------------------------------------------------


class KeepTest(CliTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write("test_keep.py", KEEP)
        self.kept_base = self.scratch / "base" / user_root_name() / "kept"

    def kept_names(self) -> list[str]:
        """Every entry below the kept area, relative (markers left out)."""
        if not self.kept_base.exists():
            return []
        return sorted(
            str(p.relative_to(self.kept_base))
            for p in self.kept_base.rglob("*")
            if not p.name.startswith(".tempcase")
        )

    def test_keep_failed_keeps_every_kind_of_failing_test_and_nothing_else(self) -> None:
        proc = self.tempcase("test_keep", "--keep", "failed", "--report", "report.json")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        kept = self.read_json("report.json")["kept"]
        contexts = {k["context"] for k in kept}
        self.assertEqual(contexts, FAILING_IN_KEEP)
        text = "\n".join(report_lines(proc.stderr))
        for item in kept:
            self.assertIn(item["path"], text)
            self.assertTrue(item["path"].startswith(str(self.kept_base) + os.sep), item)
        own = [Path(k["path"]) for k in kept if (Path(k["path"]) / "f.txt").is_file()]
        self.assertEqual(len(own), len(FAILING_IN_KEEP), kept)
        # The block's directory went at the end of the block, kept test or not.
        block = (self.marks / "block").read_text(encoding="utf-8")
        self.assertFalse(any(Path(name).name == block for name in self.kept_names()))
        for name in PASSING_IN_KEEP:
            self.assertNotIn(name, text)

    def test_keep_always_keeps_all_and_never_keeps_none(self) -> None:
        always = self.tempcase("test_keep", "--keep", "always", "--report", "always.json")
        self.assertEqual(always.returncode, 1, always.stderr)
        contexts = {k["context"] for k in self.read_json("always.json")["kept"]}
        self.assertLessEqual(FAILING_IN_KEEP | PASSING_IN_KEEP, contexts)
        for item in self.read_json("always.json")["kept"]:
            self.assertTrue(Path(item["path"]).exists())
        before = self.kept_names()
        never = self.tempcase("test_keep", "--report", "never.json")
        self.assertEqual(never.returncode, 1, never.stderr)
        self.assertEqual(self.read_json("never.json")["kept"], [])
        self.assertNotIn("kept", "\n".join(report_lines(never.stderr)))
        self.assertEqual(self.kept_names(), before)

    def test_kept_directories_of_the_last_three_runs_are_retained(self) -> None:
        self.write("test_plain.py", PLAIN)
        paths = []
        for run in range(5):
            name = f"run{run}.json"
            proc = self.tempcase("test_plain.Pass.test_one", "--keep", "always", "--report", name)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            (item,) = self.read_json(name)["kept"]
            paths.append(Path(item["path"]))
        runs = sorted(p.name for p in self.kept_base.iterdir())
        self.assertEqual(len(runs), 3, runs)
        self.assertEqual(runs, sorted(p.parent.name for p in paths[2:]))
        self.assertFalse(paths[0].exists() or paths[1].exists())
        self.assertTrue(all(p.exists() for p in paths[2:]))


# -- settings --------------------------------------------------------------------------------


class SettingsTest(CliTestCase):
    def project(self, name: str, files: dict[str, str]) -> Path:
        """A directory with the one-leak suite and the given configuration files."""
        directory = self.scratch / name
        directory.mkdir()
        write(directory, "test_one_leak.py", ONE_LEAK)
        for file_name, text in files.items():
            write(directory, file_name, text)
        return directory

    def run_in(
        self, directory: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.tempcase("test_one_leak", *args, cwd=directory, env=env)

    def test_environment_variables_set_strict_and_keep(self) -> None:
        directory = self.project("env", {})
        self.write("test_keep.py", KEEP, directory)
        lax = self.run_in(directory)
        self.assertEqual(lax.returncode, 0, lax.stderr)
        strict = self.run_in(directory, env={"TEMPCASE_STRICT": "1"})
        self.assertEqual(strict.returncode, 1, strict.stderr)
        keep = self.tempcase(
            "test_keep.K.test_failure", "test_keep.K.test_pass",
            cwd=directory, env={"TEMPCASE_KEEP": "failed"},
        )  # fmt: skip
        self.assertEqual(keep.returncode, 1, keep.stderr)
        report = "\n".join(report_lines(keep.stderr))
        self.assertIn("test_keep.K.test_failure", report)
        self.assertNotIn("test_keep.K.test_pass", report)

    @unittest.skipUnless(has_toml_reader(), "needs tomllib or tomli")
    def test_pyproject_is_read_and_only_the_first_file_counts(self) -> None:
        directory = self.project(
            "pyproject",
            {
                "pyproject.toml": "[tool.tempcase]\nstrict = true\n",
                "tox.ini": "[tempcase]\nstrict = maybe\n",
                "setup.cfg": "[tempcase]\nkeep = sometimes\n",
            },
        )
        proc = self.run_in(directory)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("tempcase: strict:", proc.stderr)
        # The environment beats the file, the command line beats the environment.
        env_wins = self.run_in(directory, env={"TEMPCASE_STRICT": "0"})
        self.assertEqual(env_wins.returncode, 0, env_wins.stderr)
        cli_wins = self.run_in(directory, "--strict", env={"TEMPCASE_STRICT": "0"})
        self.assertEqual(cli_wins.returncode, 1, cli_wins.stderr)

    def test_tox_ini_is_read_before_setup_cfg(self) -> None:
        directory = self.project(
            "tox",
            {"tox.ini": "[tempcase]\nstrict = true\n", "setup.cfg": "[tempcase]\nstrict = maybe\n"},
        )
        proc = self.run_in(directory)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("tempcase: strict:", proc.stderr)

    def test_setup_cfg_is_read(self) -> None:
        directory = self.project("setup", {"setup.cfg": "[tempcase]\nstrict = true\n"})
        proc = self.run_in(directory)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("tempcase: strict:", proc.stderr)

    def assert_one_line_error(self, proc: subprocess.CompletedProcess[str], *words: str) -> None:
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        for word in words:
            self.assertIn(word, lines[0])
        self.assertNotIn("Ran ", proc.stderr)

    @unittest.skipUnless(has_toml_reader(), "needs tomllib or tomli")
    def test_a_bad_value_in_pyproject_is_a_one_line_error(self) -> None:
        directory = self.project(
            "bad-toml", {"pyproject.toml": '[tool.tempcase]\nkeep = "sometimes"\n'}
        )
        self.assert_one_line_error(self.run_in(directory), "keep", "sometimes", "pyproject.toml")

    def test_a_bad_value_in_setup_cfg_or_the_environment_is_a_one_line_error(self) -> None:
        directory = self.project("bad-cfg", {"setup.cfg": "[tempcase]\nstrict = maybe\n"})
        self.assert_one_line_error(self.run_in(directory), "strict", "maybe", "setup.cfg")
        env = self.run_in(self.project("bad-env", {}), env={"TEMPCASE_KEEP": "sometimes"})
        self.assert_one_line_error(env, "keep", "sometimes", "TEMPCASE_KEEP")

    def test_an_unknown_option_exits_2_like_unittest(self) -> None:
        directory = self.project("bogus", {})
        proc = self.run_in(directory, "--bogus")
        plain = self.python(["-m", "unittest", "test_one_leak", "--bogus"], cwd=directory)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(plain.returncode, 2)
        self.assertIn("--bogus", proc.stderr.strip().splitlines()[-1])
        self.assertNotIn("Ran ", proc.stderr)


# -- other front ends --------------------------------------------------------------------------


class FrontEndsTest(CliTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write("test_fronts.py", STUCK.replace("Stuck", "Fronts") + PLAIN)
        self.write("run_main.py", RUN_MAIN)
        self.write("run_runner.py", RUN_RUNNER)

    @staticmethod
    def normalised(proc: subprocess.CompletedProcess[str]) -> list[str]:
        """The report with the run directory's random name masked."""
        text = "\n".join(report_lines(proc.stderr))
        return re.sub(r"run-[^/\s]+", "run-*", text).splitlines()

    def test_unittest_main_and_the_runner_class_give_the_same_report(self) -> None:
        env = {"TEMPCASE_STRICT": "1"}
        runs = {
            "python -m tempcase": self.tempcase("test_fronts", env=env),
            "unittest.main": self.python(["run_main.py"], env=env),
            "TempCaseRunner().run": self.python(["run_runner.py"], env=env),
        }
        expected = self.normalised(runs["python -m tempcase"])
        self.assertIn("could not be removed", "\n".join(expected))
        self.assertIn("tempcase: strict:", "\n".join(expected))
        for name, proc in runs.items():
            with self.subTest(front_end=name):
                self.assertEqual(self.normalised(proc), expected)
                # The report comes after unittest's summary; strict fails the run.
                self.assertLess(summary_index(proc.stderr), len(proc.stderr.splitlines()) - 1)
                self.assertEqual(proc.returncode, 1, proc.stderr)


# -- interrupts, encodings, warnings ------------------------------------------------------------


class RobustnessTest(CliTestCase):
    def test_interrupt_under_catch_still_reports_and_removes_the_run(self) -> None:
        self.write("test_interrupt.py", INTERRUPT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tempcase", "-c", "test_interrupt"],
            cwd=str(self.scratch),
            env=child_env(self.scratch, {"MARKS": str(self.marks)}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def stop() -> None:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

        self.addCleanup(stop)
        wait_for(self.marks / "running", proc)
        proc.send_signal(signal.SIGINT)  # -c: stop after this test
        wait_for(self.marks / "stopping", proc)
        proc.send_signal(signal.SIGINT)  # the second: KeyboardInterrupt mid-test
        _, stderr = proc.communicate(timeout=60)
        self.assertNotEqual(proc.returncode, 0, stderr)
        self.assertIn("KeyboardInterrupt", stderr)
        self.assertIn("tempcase: 1 path tracked in 1 test, all removed", stderr)
        self.assertFalse((self.marks / "second").exists())
        self.assert_nothing_left(self.scratch)

    def test_ascii_streams_and_undecodable_names_are_escaped(self) -> None:
        self.write("test_names.py", ENCODING)
        proc = self.tempcase(
            "test_names", "--report", "report.json", env={"PYTHONIOENCODING": "ascii"}
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertIn("Ran 2 tests", proc.stderr)
        report = "\n".join(report_lines(proc.stderr))
        self.assertRegex(report, r"/caf\\xe9:\s+Permission denied")
        self.assertIn("test_names.Names.test_a_leaks_a_latin1_name", report)
        data = self.read_json("report.json")
        self.assertTrue(data["cleanup_failures"][0]["path"].endswith("caf\\xe9"))
        leaked = [leak["path"] for leak in data["leaks"]]
        self.assertTrue(any("caf\\xe9-" in path for path in leaked), leaked)

    def test_warnings_as_errors_still_run_and_report(self) -> None:
        self.write("test_leaky.py", LEAKY)
        self.write("test_stuck.py", STUCK)
        proc = self.tempcase("test_leaky", "test_stuck", python_options=("-W", "error"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        self.assertNotIn("Exception ignored", proc.stderr)
        report = "\n".join(report_lines(proc.stderr))
        self.assertIn("test_leaky.Leaky.test_leaks_three", report)
        self.assertRegex(report, r"/stuck\.txt:\s+Permission denied")


# -- help and commands -------------------------------------------------------------------------


class HelpTest(CliTestCase):
    def test_help_lists_tempcase_options_and_unittest_options(self) -> None:
        proc = self.tempcase("--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for option in ("--strict", "--baseline", "--report", "--keep", "--ignore"):
            self.assertIn(option, proc.stdout)
        for option in ("--failfast", "--catch", "--buffer", "TESTNAMEPATTERNS", "--locals"):
            self.assertIn(option, proc.stdout)
        for command in ("audit", "scan", "clean", "migrate"):
            self.assertIn(command, proc.stdout)

    def test_an_unknown_option_of_a_command_is_refused_in_one_line(self) -> None:
        proc = self.tempcase("clean", "--bogus")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn("--bogus", lines[0])


if __name__ == "__main__":
    unittest.main()
