"""Tests of the pytest plugin, through pytester (in subprocesses), pytest-xdist and nose2."""

from __future__ import annotations

import configparser
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path
from typing import Any, Tuple
from unittest import mock

import pytest

from tests.support import REPO_ROOT, fresh_session, make_scratch, run_python

HAS_XDIST = importlib.util.find_spec("xdist") is not None
HAS_NOSE2 = importlib.util.find_spec("nose2") is not None

# A leak as compared between front ends: (context, scope, path in the sandbox, kind).
LeakKey = Tuple[object, str, str, str]


_AUTOLOAD_CHECK = """
from importlib import metadata
points = metadata.entry_points()
group = points.select(group="pytest11") if hasattr(points, "select") else points.get("pytest11", [])
print(any(point.value == "tempcase.pytest_plugin" for point in group))
"""


@functools.lru_cache(maxsize=None)
def _autoloaded(pythonpath: str, cwd: str) -> bool:
    """Whether pytest, run with this PYTHONPATH in *cwd*, loads the plugin by its
    ``pytest11`` entry point (installed, or an egg-info in the checkout)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    done = subprocess.run(
        [sys.executable, "-c", _AUTOLOAD_CHECK],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout.strip() == "True"


def plugin_args(cwd: Path) -> tuple[str, ...]:
    """``-p tempcase.pytest_plugin`` where pytest would not load the plugin by
    itself (naming it where it is autoloaded too would register it twice)."""
    pythonpath = os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")])
    return () if _autoloaded(pythonpath, str(cwd)) else ("-p", "tempcase.pytest_plugin")


# A suite that leaks through tempfile at every scope, with fixed names, so that
# the leak set can be compared between runs (sandbox paths differ only in the
# run directory).  It runs under unittest, pytest and pytest-xdist alike.
LEAKY_SUITE = """
import os
import tempfile
import unittest


def make(name, kind="file"):
    path = os.path.join(tempfile.gettempdir(), name)
    if kind == "file":
        with open(path, "w") as stream:
            stream.write("leak")
    elif kind == "directory":
        os.makedirs(os.path.join(path, "inner"), exist_ok=True)
    elif not os.path.lexists(path):
        os.symlink("nowhere", path)


make("import_leak.txt")


def setUpModule():
    make("module_leak.txt")


class Leaky(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make("class_leak", "directory")

    def test_file(self):
        make("test_file.txt")

    def test_directory(self):
        make("test_directory", "directory")

    def test_symlink(self):
        make("test_symlink", "symlink")

    def test_clean(self):
        os.rmdir(tempfile.mkdtemp())

    def test_fails_and_leaks(self):
        make("failing.txt")
        self.fail("on purpose")


class Quiet(unittest.TestCase):
    def test_one(self):
        pass

    def test_two(self):
        make("quiet_two.txt")

    def test_three(self):
        pass
"""

LEAKY_EXPECTED: set[LeakKey] = {
    (None, "session", "import_leak.txt", "file"),
    ("test_leaky", "module", "module_leak.txt", "file"),
    ("test_leaky.Leaky", "class", "class_leak", "directory"),
    ("test_leaky.Leaky.test_file", "test", "test_file.txt", "file"),
    ("test_leaky.Leaky.test_directory", "test", "test_directory", "directory"),
    ("test_leaky.Leaky.test_symlink", "test", "test_symlink", "symlink"),
    ("test_leaky.Leaky.test_fails_and_leaks", "test", "failing.txt", "file"),
    ("test_leaky.Quiet.test_two", "test", "quiet_two.txt", "file"),
}

# Records what ran where, as JSON lines in $TC_RESULTS, for the parent to check.
RECORDER = """
import json
import os


def record(key, *values):
    with open(os.environ["TC_RESULTS"], "a") as stream:
        stream.write(json.dumps([key, *[str(v) for v in values]]) + "\\n")


def recorded(key):
    with open(os.environ["TC_RESULTS"]) as stream:
        for line in stream:
            entry = json.loads(line)
            if entry[0] == key:
                return entry[1:]
    raise KeyError(key)
"""

# A plain test that leaves one file in the sandbox, and one that does not.
ONE_LEAK = """
import tempfile

def test_leaks():
    tempfile.mkstemp(prefix="left_")

def test_clean():
    pass
"""


def _sandbox_path(path: str) -> str:
    """The part of a sandbox path below the run's sandbox (``tempcase-of-*-run-*/``)."""
    match = re.search(r"/tempcase-of-[^/]+-run-[^/]+/(.+)$", path)
    if match is None:
        raise AssertionError(f"not a sandbox path: {path}")
    return match.group(1)


def sandbox_leaks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The sandbox leaks of a JSON report: the shared temp dirs (the real /tmp)
    also see other processes' files, reported but attributed only by time."""
    return [leak for leak in report["leaks"] if leak["where"] == "sandbox"]


def leak_set(report: dict[str, Any]) -> set[LeakKey]:
    """The sandbox leaks of a JSON report as comparable keys."""
    return {
        (leak["context"], leak["scope"], _sandbox_path(leak["path"]), leak["kind"])
        for leak in sandbox_leaks(report)
    }


def read_records(path: Path) -> dict[str, list[str]]:
    records: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            entry = json.loads(line)
            records[entry[0]] = entry[1:]
    return records


class PluginTestCase(unittest.TestCase):
    """Runs pytest in a child process on a generated project (pytester's directory).

    The children get a TMPDIR and a tempcase base of their own, in a scratch
    directory, and no TEMPCASE_* settings from this process.
    """

    pytester: pytest.Pytester

    @pytest.fixture(autouse=True)
    def _take_pytester(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)
        self.tmpdir = self.scratch / "tmp"
        self.tmpdir.mkdir()
        self.base = self.scratch / "base"
        self.results = self.scratch / "results.jsonl"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TEMPCASE_", "PYTEST_ADDOPTS", "PYTHONWARNINGS"))
        }
        env.update(
            TMPDIR=str(self.tmpdir),
            TEMP=str(self.tmpdir),
            TMP=str(self.tmpdir),
            TEMPCASE_BASETEMP=str(self.base),
            TC_RESULTS=str(self.results),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.project = Path(self.pytester.path)

    def write(self, name: str, source: str) -> Path:
        path = self.project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def run_pytest(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            *plugin_args(self.project), "-p", "no:cacheprovider", *args, timeout=120
        )

    def report(self, name: str = "report.json") -> dict[str, Any]:
        with open(self.project / name, encoding="utf-8") as stream:
            data: dict[str, Any] = json.load(stream)
        return data

    def output(self, result: pytest.RunResult) -> str:
        return "\n".join(result.outlines + result.errlines)

    def run_dirs(self) -> list[str]:
        """The run directories left under the tempcase base (none after a run)."""
        return sorted(str(p) for p in self.base.glob("tempcase-of-*/run-*"))


class InertByDefaultTest(PluginTestCase):
    def test_clean_run_prints_nothing_of_tempcase(self) -> None:
        self.write(
            "test_quiet.py",
            """
            import tempcase

            class Case(tempcase.TestCase):
                def test_file(self):
                    self.create_file("a.txt", "x")
                    assert tempcase.current_context() == "test_quiet.Case.test_file"

            def test_plain():
                tempcase.create_temp_file("x")
                assert tempcase.current_context() == "test_quiet.py::test_plain"
            """,
        )
        result = self.run_pytest("-q")
        self.assertEqual(result.ret, 0, self.output(result))
        result.assert_outcomes(passed=2)
        self.assertNotIn("tempcase", self.output(result))
        self.assertEqual(self.run_dirs(), [])

    def test_problem_is_reported_without_any_option(self) -> None:
        self.write(
            "test_swap.py",
            """
            import os, tempfile, tempcase

            def test_swapped():
                fd, path = tempfile.mkstemp()
                os.close(fd)
                tempcase.register_file(path)
                os.unlink(path)
                os.symlink("elsewhere", path)
            """,
        )
        result = self.run_pytest("-q")
        self.assertEqual(result.ret, 0, self.output(result))
        result.stdout.fnmatch_lines(
            [
                "*= tempcase =*",
                "tempcase: 1 path could not be removed:",
                "  test_swap.py::test_swapped",
                "*replaced by a symbolic link*",
            ]
        )

    def test_options_are_listed_in_one_group_with_ini_keys(self) -> None:
        result = self.run_pytest("--help")
        self.assertEqual(result.ret, 0, self.output(result))
        out = result.stdout.str()
        group = out[out.index("tempcase: per-test temporary files") :]
        for option in ("--tempcase-detect", "--tempcase-strict", "--tempcase-report=FILE"):
            self.assertIn(option, group)
        self.assertIn("--tempcase-keep={never,failed,always}", group)
        for key in ("tempcase_detect", "tempcase_strict", "tempcase_report", "tempcase_keep"):
            self.assertRegex(out, rf"\n  {key} \(")

    def test_setup_cfg_declares_the_pytest11_entry_point(self) -> None:
        parser = configparser.ConfigParser()
        parser.read(REPO_ROOT / "setup.cfg", encoding="utf-8")
        entry_points = parser.get("options.entry_points", "pytest11")
        self.assertIn("tempcase = tempcase.pytest_plugin", entry_points.strip().splitlines())

    def test_installed_plugin_loads_without_p_option(self) -> None:
        if plugin_args(self.project):
            self.skipTest("tempcase is not installed with its entry point")
        self.write("test_one.py", "def test_one():\n    pass\n")
        result = self.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tempcase-detect")
        self.assertEqual(result.ret, 0, self.output(result))
        result.stdout.fnmatch_lines(["*= tempcase =*", "tempcase: 0 paths tracked in 0 tests*"])


class ScopesTest(PluginTestCase):
    def test_testcase_contexts_and_cleanup_as_under_unittest(self) -> None:
        self.write("recorder.py", RECORDER)
        self.write(
            "test_a.py",
            """
            import os, tempcase
            from recorder import record, recorded

            def setUpModule():
                record("setUpModule", tempcase.current_context(), tempcase.create_temp_file("m"))

            def tearDownModule():
                record("tearDownModule", tempcase.current_context())

            class C(tempcase.TestCase):
                @classmethod
                def setUpClass(cls):
                    cls.shared = tempcase.create_temp_directory()
                    record("setUpClass", tempcase.current_context(), cls.shared)

                @classmethod
                def tearDownClass(cls):
                    record("tearDownClass", tempcase.current_context())

                def test_one(self):
                    path = self.create_file("one.txt", "1")
                    record("test_one", tempcase.current_context(), path)

                def test_two(self):
                    assert not os.path.exists(recorded("test_one")[1])
                    assert self.shared.path.exists()
                    assert os.path.exists(recorded("setUpModule")[1])
                    record("test_two", tempcase.current_context())

            class Broken(tempcase.TestCase):
                @classmethod
                def setUpClass(cls):
                    record("broken", tempcase.create_temp_directory())
                    raise RuntimeError("part way")

                def test_never(self):
                    pass
            """,
        )
        self.write(
            "test_b.py",
            """
            import os
            from recorder import recorded

            def test_earlier_scopes_are_cleaned():
                assert not os.path.exists(recorded("setUpClass")[1])
                assert not os.path.exists(recorded("setUpModule")[1])
                assert not os.path.exists(recorded("broken")[0])
            """,
        )
        result = self.run_pytest("-q", "-p", "no:randomly")
        result.assert_outcomes(passed=3, errors=1)
        records = read_records(self.results)
        self.assertEqual(records["setUpModule"][0], "test_a")
        self.assertEqual(records["setUpClass"][0], "test_a.C")
        self.assertEqual(records["test_one"][0], "test_a.C.test_one")
        self.assertEqual(records["test_two"][0], "test_a.C.test_two")
        self.assertEqual(records["tearDownClass"][0], "test_a.C")
        self.assertEqual(records["tearDownModule"][0], "test_a")
        self.assertEqual(self.run_dirs(), [])

    def test_pytest_fixtures_belong_to_their_scope(self) -> None:
        self.write("recorder.py", RECORDER)
        self.write(
            "conftest.py",
            """
            import pytest, tempcase
            from recorder import record

            @pytest.fixture(scope="session")
            def for_session():
                directory = tempcase.create_temp_directory()
                record("session", tempcase.current_context(), directory)
                return directory
            """,
        )
        self.write(
            "test_a.py",
            """
            import os, pytest, tempcase
            from recorder import record, recorded

            @pytest.fixture(scope="module")
            def for_module():
                directory = tempcase.create_temp_directory()
                record("module", tempcase.current_context(), directory)
                yield directory
                record("module teardown", tempcase.current_context(), directory.path.exists())

            @pytest.fixture
            def for_test():
                path = tempcase.create_temp_file("f")
                record("function", tempcase.current_context(), path)
                return path

            class TestGrouped:
                @pytest.fixture(scope="class")
                def for_class(self):
                    directory = tempcase.create_temp_directory()
                    record("class", tempcase.current_context(), directory)
                    return directory

                def test_in_class(self, for_class, for_module, for_session):
                    pass

            def test_first(for_module, for_test, for_session, tempcase_dir):
                record("tempcase_dir", tempcase.current_context(), tempcase_dir)
                tempcase_dir.create_file("x.txt", "x")
                assert tempcase_dir.path.exists()

            def test_second(for_module, for_session):
                assert not os.path.exists(recorded("function")[1])
                assert not os.path.exists(recorded("tempcase_dir")[1])
                assert not os.path.exists(recorded("class")[1])
                assert for_module.path.exists()
            """,
        )
        self.write(
            "test_b.py",
            """
            import os
            from recorder import recorded

            def test_later_module(for_session):
                assert not os.path.exists(recorded("module")[1])
                assert for_session.path.exists()
            """,
        )
        result = self.run_pytest("-q")
        result.assert_outcomes(passed=4)
        records = read_records(self.results)
        self.assertEqual(records["session"][0], "None")
        self.assertEqual(records["module"][0], "test_a")
        self.assertEqual(records["class"][0], "test_a.TestGrouped")
        self.assertEqual(records["function"][0], "test_a.py::test_first")
        self.assertEqual(records["tempcase_dir"][0], "test_a.py::test_first")
        self.assertEqual(records["module teardown"], ["test_a", "True"])
        self.assertEqual(self.run_dirs(), [])

    def test_fixture_leaks_are_attributed_to_their_scope(self) -> None:
        self.write(
            "test_scoped.py",
            """
            import os, tempfile, pytest

            def touch(name):
                open(os.path.join(tempfile.gettempdir(), name), "w").close()

            @pytest.fixture(scope="module")
            def mod():
                touch("module_setup.txt")
                yield
                touch("module_teardown.txt")

            @pytest.fixture
            def func():
                touch("function_setup.txt")
                yield
                touch("function_teardown.txt")

            def test_uses(mod, func):
                touch("test_body.txt")
            """,
        )
        result = self.run_pytest("-q", "--tempcase-detect", "--tempcase-report", "r.json")
        self.assertEqual(result.ret, 0, self.output(result))
        self.assertEqual(
            leak_set(self.report("r.json")),
            {
                ("test_scoped", "module", "module_setup.txt", "file"),
                ("test_scoped", "module", "module_teardown.txt", "file"),
                ("test_scoped.py::test_uses", "test", "function_setup.txt", "file"),
                ("test_scoped.py::test_uses", "test", "function_teardown.txt", "file"),
                ("test_scoped.py::test_uses", "test", "test_body.txt", "file"),
            },
        )


class DetectionTest(PluginTestCase):
    def test_detect_reports_leaks_per_test_in_the_summary(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        result = self.run_pytest("-q", "--tempcase-detect")
        self.assertEqual(result.ret, 0, self.output(result))
        result.stdout.fnmatch_lines(
            [
                "*= tempcase =*",
                "tempcase: * left * behind *",
                "  test_one_leak.py::test_leaks * 1 file * sandbox",
                "tempcase: 0 paths tracked in 0 tests*",
            ]
        )
        section = result.stdout.str().split("= tempcase =")[1]
        self.assertNotRegex(section, r"test_clean .*sandbox")
        self.assertEqual(list(self.tmpdir.iterdir()), [])

    def test_detect_from_the_ini_key(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        self.write("tox.ini", "[pytest]\ntempcase_detect = true\n")
        result = self.run_pytest("-q")
        result.stdout.fnmatch_lines(["  test_one_leak.py::test_leaks * 1 file * sandbox"])

    def test_without_detect_nothing_is_redirected(self) -> None:
        self.write("test_where.py", "import tempfile, os\n\ndef test_where():\n"
                   "    assert tempfile.gettempdir() == os.environ['TMPDIR']\n")
        result = self.run_pytest("-q")
        self.assertEqual(result.ret, 0, self.output(result))

    def test_tmp_path_stays_out_of_the_sandbox(self) -> None:
        # Run as a user would: no --basetemp, no pytester temp root, so
        # pytest chooses its basetemp from tempfile.gettempdir().
        self.write(
            "test_tmp_path.py",
            """
            import os, tempfile

            def test_tmp_path(tmp_path):
                assert not str(tmp_path).startswith(tempfile.gettempdir() + os.sep)
                assert str(tmp_path).startswith(os.environ["TC_REAL_TMPDIR"] + os.sep)
                (tmp_path / "kept.txt").write_text("pytest keeps it")
                with open(os.environ["TC_RESULTS"], "w") as stream:
                    stream.write(str(tmp_path))
            """,
        )
        env = dict(os.environ, TC_REAL_TMPDIR=str(self.tmpdir))
        env.pop("PYTEST_DEBUG_TEMPROOT", None)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *plugin_args(self.project), "-p",
             "no:cacheprovider", "-q",
             "--tempcase-detect", "--tempcase-report", "r.json"],
            cwd=str(self.project), env=env, capture_output=True, text=True, timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        tmp_path = Path(self.results.read_text(encoding="utf-8"))
        self.assertEqual((tmp_path / "kept.txt").read_text(encoding="utf-8"), "pytest keeps it")
        self.assertEqual(sandbox_leaks(self.report("r.json")), [])
        self.assertNotIn("pytest-of", json.dumps(self.report("r.json")))


class StrictTest(PluginTestCase):
    def test_leaks_make_the_exit_status_1_and_tests_keep_their_outcome(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        result = self.run_pytest("-q", "--tempcase-detect", "--tempcase-strict")
        self.assertEqual(result.ret, 1, self.output(result))
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(
            ["tempcase: strict: leaks and cleanup failures fail this run"]
        )

    def test_clean_run_passes_under_strict(self) -> None:
        # Without detection: other processes' files in the shared /tmp are not its subject.
        self.write(
            "test_clean.py",
            "import tempcase\n\nclass Case(tempcase.TestCase):\n"
            "    def test_clean(self):\n        self.create_file('a.txt')\n",
        )
        result = self.run_pytest("-q", "--tempcase-strict")
        self.assertEqual(result.ret, 0, self.output(result))
        self.assertIn("tempcase: 1 path tracked in 1 test, all removed", result.stdout.str())

    def test_strict_from_the_ini_key(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        self.write("pytest.ini", "[pytest]\ntempcase_detect = true\ntempcase_strict = true\n")
        result = self.run_pytest("-q")
        self.assertEqual(result.ret, 1, self.output(result))
        result.assert_outcomes(passed=2)

    def test_failing_tests_keep_exit_status_1(self) -> None:
        self.write("test_fail.py", "def test_fail():\n    assert False\n")
        result = self.run_pytest("-q", "--tempcase-strict")
        self.assertEqual(result.ret, 1, self.output(result))
        result.assert_outcomes(failed=1)


class ReportFileTest(PluginTestCase):
    def test_json_report_version_1(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        (self.project / "out").mkdir()
        result = self.run_pytest("-q", "--tempcase-detect", "--tempcase-report", "out/r.json")
        self.assertEqual(result.ret, 0, self.output(result))
        data = self.report("out/r.json")
        self.assertEqual(data["tempcase_report"], 1)
        self.assertEqual(data["tests_run"], 2)
        self.assertEqual(data["cleanup_failures"], [])
        [leak] = sandbox_leaks(data)
        self.assertEqual(leak["context"], "test_one_leak.py::test_leaks")
        self.assertEqual((leak["scope"], leak["kind"], leak["where"]), ("test", "file", "sandbox"))
        self.assertTrue(leak["removed"])
        self.assertFalse(os.path.exists(leak["path"]))
        self.assertNotIn("worker", leak)

    def test_report_in_a_missing_directory_is_a_usage_error(self) -> None:
        self.write("test_clean.py", "def test_clean():\n    pass\n")
        result = self.run_pytest("--tempcase-report", "missing/r.json")
        self.assertEqual(result.ret, 4, self.output(result))
        self.assertIn("cannot write the report", self.output(result))
        self.assertIn("--tempcase-report", self.output(result))

    def test_report_from_the_ini_key_is_relative_to_the_ini_file(self) -> None:
        self.write("test_one_leak.py", ONE_LEAK)
        self.write("tox.ini", "[pytest]\ntempcase_detect = true\ntempcase_report = ini.json\n")
        (self.project / "sub").mkdir()
        result = self.pytester.runpytest_subprocess(
            *plugin_args(self.project), "-p", "no:cacheprovider", "-q",
            "--rootdir", str(self.project),
            "-c", str(self.project / "tox.ini"), str(self.project), timeout=120,
        )
        self.assertEqual(result.ret, 0, self.output(result))
        self.assertEqual(len(sandbox_leaks(self.report("ini.json"))), 1)


KEEP_SUITE = """
import tempcase

class Case(tempcase.TestCase):
    def test_fails(self):
        self.create_file("evidence.txt", "failing")
        self.fail("on purpose")

    def test_passes(self):
        self.create_file("evidence.txt", "passing")

def test_plain_fails(tempcase_dir):
    tempcase_dir.create_file("evidence.txt", "plain")
    assert False
"""


class KeepTest(PluginTestCase):
    def kept(self) -> dict[str, str]:
        return {
            entry["context"]: Path(entry["path"], "evidence.txt").read_text(encoding="utf-8")
            for entry in self.report()["kept"]
        }

    def test_keep_failed_keeps_only_failing_tests_directories(self) -> None:
        self.write("test_keep.py", KEEP_SUITE)
        result = self.run_pytest("-q", "--tempcase-keep", "failed", "--tempcase-report",
                                 "report.json")
        result.assert_outcomes(passed=1, failed=2)
        self.assertEqual(
            self.kept(),
            {"test_keep.Case.test_fails": "failing", "test_keep.py::test_plain_fails": "plain"},
        )
        result.stdout.fnmatch_lines(["tempcase: kept 2 directories:"])
        self.assertEqual(self.run_dirs(), [])

    def test_keep_always_from_the_ini_key(self) -> None:
        self.write("test_keep.py", KEEP_SUITE)
        self.write("tox.ini", "[pytest]\ntempcase_keep = always\ntempcase_report = report.json\n")
        self.run_pytest("-q").assert_outcomes(passed=1, failed=2)
        self.assertEqual(set(self.kept()), {
            "test_keep.Case.test_fails", "test_keep.Case.test_passes",
            "test_keep.py::test_plain_fails",
        })

    def test_keep_never_is_the_default(self) -> None:
        self.write("test_keep.py", KEEP_SUITE)
        self.run_pytest("-q", "--tempcase-report", "report.json").assert_outcomes(
            passed=1, failed=2
        )
        self.assertEqual(self.report()["kept"], [])

    def test_environment_beats_ini_and_command_line_beats_environment(self) -> None:
        self.write("test_keep.py", KEEP_SUITE)
        self.write("tox.ini", "[pytest]\ntempcase_keep = always\ntempcase_report = report.json\n")
        with mock.patch.dict(os.environ, {"TEMPCASE_KEEP": "never"}):
            self.run_pytest("-q").assert_outcomes(passed=1, failed=2)
            self.assertEqual(self.report()["kept"], [])
            self.run_pytest("-q", "--tempcase-keep", "failed").assert_outcomes(passed=1, failed=2)
            self.assertEqual(len(self.report()["kept"]), 2)

    def test_bad_ini_value_is_a_usage_error_naming_the_key(self) -> None:
        self.write("test_clean.py", "def test_clean():\n    pass\n")
        self.write("tox.ini", "[pytest]\ntempcase_keep = sometimes\n")
        result = self.run_pytest("-q")
        self.assertEqual(result.ret, 4, self.output(result))
        self.assertIn("tempcase_keep", self.output(result))
        self.assertIn("sometimes", self.output(result))


@unittest.skipUnless(HAS_XDIST, "pytest-xdist is not installed")
class XdistTest(PluginTestCase):
    def test_leaks_of_all_workers_reach_the_controller_attributed_to_test_ids(self) -> None:
        self.write("test_leaky.py", LEAKY_SUITE)
        result = self.run_pytest("-n", "2", "--tempcase-detect", "--tempcase-report", "r.json")
        result.assert_outcomes(passed=7, failed=1)
        data = self.report("r.json")
        self.assertEqual(data["tests_run"], 8)
        self.assertEqual(leak_set(data), LEAKY_EXPECTED)
        leaks = sandbox_leaks(data)
        workers = {leak["worker"] for leak in leaks}
        self.assertEqual(workers, {"gw0", "gw1"})
        runs = {os.path.dirname(leak["path"]) for leak in leaks}
        self.assertEqual(len(runs), 2)  # a run directory (and sandbox) per worker
        # A test runs once; the session (imports) once per worker, named.
        tests = [leak["context"] for leak in leaks if leak["scope"] == "test"]
        self.assertEqual(len(tests), len(set(tests)))
        sessions = sorted(leak["worker"] for leak in leaks if leak["context"] is None)
        self.assertEqual(sessions, ["gw0", "gw1"])
        out = result.stdout.str()
        self.assertIn("(session, worker gw0)", out)
        self.assertIn("(session, worker gw1)", out)
        # The text shows the first ten rows: the module's come early (4 bytes each).
        for leak in leaks:
            if leak["scope"] == "module":
                self.assertIn(f"{leak['context']} ({leak['worker']})", out)
        self.assertEqual(self.run_dirs(), [])
        self.assertEqual(list(self.tmpdir.iterdir()), [])

    def test_strict_and_cleanup_failures_from_workers(self) -> None:
        self.write(
            "test_swap.py",
            """
            import os, tempfile, tempcase

            def test_swapped():
                fd, path = tempfile.mkstemp(dir=os.environ["TMPDIR"])
                os.close(fd)
                tempcase.register_file(path)
                os.unlink(path)
                os.symlink("elsewhere", path)

            def test_other():
                pass
            """,
        )
        result = self.run_pytest("-n", "2", "--tempcase-strict", "--tempcase-report", "r.json")
        self.assertEqual(result.ret, 1, self.output(result))
        result.assert_outcomes(passed=2)
        [failure] = self.report("r.json")["cleanup_failures"]
        self.assertEqual(failure["context"], "test_swap.py::test_swapped")
        self.assertIn(failure["worker"], ("gw0", "gw1"))

    def test_kept_directories_of_every_worker_survive(self) -> None:
        # Each worker is a run of its own; keeping the newest 3 runs' kept
        # directories must not make the fourth worker sweep the first's away.
        self.write("test_keep.py", KEEP_SUITE)
        result = self.run_pytest(
            "-n", "4", "--dist", "each", "--tempcase-keep", "failed",
            "--tempcase-report", "report.json",
        )
        result.assert_outcomes(passed=4, failed=8)
        kept = self.report()["kept"]
        self.assertEqual(sorted({entry["worker"] for entry in kept}), ["gw0", "gw1", "gw2", "gw3"])
        self.assertEqual(len(kept), 8)
        for entry in kept:
            self.assertTrue((Path(entry["path"]) / "evidence.txt").exists(), entry)

    def test_same_leak_set_under_unittest_pytest_and_xdist(self) -> None:
        self.write("test_leaky.py", LEAKY_SUITE)
        env = {"TMPDIR": str(self.tmpdir), "TEMPCASE_BASETEMP": str(self.base)}
        runner = run_python(
            ["-m", "tempcase", "discover", "-s", ".", "--report", "unittest.json"],
            cwd=self.project, env=env,
        )
        self.assertEqual(runner.returncode, 1, runner.stderr)  # the failing test
        self.run_pytest("--tempcase-detect", "--tempcase-report", "pytest.json")
        self.run_pytest("-n", "2", "--tempcase-detect", "--tempcase-report", "xdist2.json")
        self.run_pytest("-n", "4", "--tempcase-detect", "--tempcase-report", "xdist4.json")
        under_unittest = leak_set(self.report("unittest.json"))
        self.assertEqual(under_unittest, LEAKY_EXPECTED)
        for name in ("pytest.json", "xdist2.json", "xdist4.json"):
            self.assertEqual(leak_set(self.report(name)), under_unittest, name)


HOLDER = """
import os, tempfile, time, tempcase

SIGNALS = os.environ["TC_SIGNALS"]


def wait_for(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(SIGNALS, name)):
        assert time.monotonic() < deadline, "gave up waiting for " + name
        time.sleep(0.02)


def test_holds(tempcase_dir):
    mine = [
        tempcase_dir.create_file("held.txt", "x"),
        tempcase.create_temp_file("x"),
        tempfile.mkdtemp(prefix="held_"),
    ]
    with open(os.path.join(SIGNALS, "{name}-paths"), "w") as stream:
        stream.write("\\n".join(str(p) for p in mine))
    open(os.path.join(SIGNALS, "{name}-ready"), "w").close()
    wait_for("{other}-done")
    for path in mine:
        assert os.path.exists(path), path
"""


class ConcurrentRunsTest(PluginTestCase):
    def test_two_runs_at_once_never_clean_each_others_files(self) -> None:
        signals = self.scratch / "signals"
        signals.mkdir()
        for name, other in (("a", "b"), ("b", "none")):
            self.write(f"{name}/test_{name}.py", HOLDER.format(name=name, other=other))
        (signals / "none-done").touch()
        env = dict(os.environ, TC_SIGNALS=str(signals))
        # The same user and temp dir for both, tempcase's per-user root in it.
        env.pop("TEMPCASE_BASETEMP")
        env.pop("PYTEST_DEBUG_TEMPROOT", None)

        def command(name: str) -> list[str]:
            return [
                sys.executable, "-m", "pytest", *plugin_args(self.project / name),
                "-p", "no:cacheprovider", "-q",
                "--tempcase-detect", "--basetemp", str(self.scratch / f"pytest-{name}"),
                str(self.project / name),
            ]

        first = subprocess.Popen(
            command("a"), cwd=str(self.project / "a"), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.addCleanup(first.kill)
        self.addCleanup(first.stdout.close)  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while not (signals / "a-ready").exists() and first.poll() is None:
            self.assertLess(time.monotonic(), deadline, "run a never became ready")
            time.sleep(0.02)
        second = subprocess.run(
            command("b"), cwd=str(self.project / "b"), env=env,
            capture_output=True, text=True, timeout=120,
        )
        (signals / "b-done").touch()
        out_a, _ = first.communicate(timeout=120)
        self.assertEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertEqual(first.returncode, 0, out_a)
        for name in ("a", "b"):
            for path in (signals / f"{name}-paths").read_text(encoding="utf-8").splitlines():
                self.assertFalse(os.path.exists(path), path)  # each run cleaned its own
        self.assertEqual(list(self.tmpdir.glob("tempcase-of-*/run-*")), [])


NOSE2_SUITE = """
import os, tempcase
from recorder import record, recorded


class First(tempcase.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempcase.create_temp_directory()
        record("setUpClass", tempcase.current_context(), cls.shared)

    def test_a(self):
        record("test_a", tempcase.current_context(), self.create_file("a.txt", "a"))

    def test_b(self):
        assert not os.path.exists(recorded("test_a")[1])
        assert self.shared.path.exists()
        record("test_b", tempcase.current_context())


class Second(tempcase.TestCase):
    def test_c(self):
        assert not os.path.exists(recorded("setUpClass")[1])
        record("test_c", tempcase.current_context())
"""


@unittest.skipUnless(HAS_NOSE2, "nose2 is not installed")
class Nose2Test(unittest.TestCase):
    def test_nose2_runs_tempfile_testcases_with_per_test_and_class_cleanup(self) -> None:
        fresh_session(self)
        scratch = make_scratch(self)
        suite = scratch / "suite"
        suite.mkdir()
        (suite / "recorder.py").write_text(RECORDER, encoding="utf-8")
        (suite / "test_nose.py").write_text(NOSE2_SUITE, encoding="utf-8")
        results = scratch / "results.jsonl"
        done = run_python(
            ["-m", "nose2", "-v", "-s", str(suite)], cwd=scratch,
            env={"TC_RESULTS": str(results)},
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Ran 3 tests", done.stderr)
        records = read_records(results)
        self.assertEqual(records["setUpClass"][0], "test_nose.First")
        self.assertEqual(records["test_a"][0], "test_nose.First.test_a")
        self.assertEqual(records["test_b"][0], "test_nose.First.test_b")
        self.assertEqual(records["test_c"][0], "test_nose.Second.test_c")
        self.assertEqual(list((scratch / "base").glob("tempcase-of-*/run-*")), [])

