"""Leak detection: the tempfile sandbox, diffs of shared places, scopes, speed, audit.

Most tests here write a legacy suite (plain ``unittest``, no tempcase) into a
scratch directory and run it with ``python -m tempcase`` in a child, then read
the JSON report.  The child's TMPDIR is ``scratch/tmpdir`` (see
``tests.support.run_python``): that is the real temp dir the child compares.
"""

from __future__ import annotations

import collections
import fnmatch
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable, Counter, Dict, Tuple
from unittest import mock

import tempcase
import tempcase._leaks as leaks_module
from tempcase._config import Settings
from tempcase._layout import sandbox_path, user_root_name
from tempcase._leaks import Place
from tempcase._real import OS
from tempcase._runner import TempCaseLoader
from tests.support import fresh_session, make_scratch, nobody_ids, run_python


def _skips_counted() -> int:
    """1 if this Python counts a skipped test in testsRun (3.12.1 alone does not)."""

    class Probe(unittest.TestCase):
        @unittest.skip("probe")
        def test_skipped(self) -> None:
            pass

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Probe).run(result)
    return result.testsRun


SKIPS_COUNTED = _skips_counted()

# One leak as the tests compare it: (context, scope, where, kind, name, size, removed).
# Names that tempfile makes random are written with their prefix and a "*".
LeakRow = Tuple[Any, str, str, str, str, int, bool]
Report = Dict[str, Any]

MODULE = "legacy_cases"
LEAKY = f"{MODULE}.Leaky"

# The legacy suite: it leaks in every way the issue lists, and has tests that
# must not be reported.  SCRATCH is the parent test's scratch directory,
# REALTMP the real temp dir of the run (TMPDIR points to the sandbox inside it).
LEGACY_SUITE = '''\
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

SCRATCH = os.environ["TEMPCASE_TEST_SCRATCH"]
REALTMP = os.environ["TEMPCASE_TEST_REALTMP"]

# At import time: a leak of the session, never of a test.
with open(os.path.join(tempfile.gettempdir(), "import-time.txt"), "w") as f:
    f.write("12345")
# Replaced later by Leaky.test_replace: the replacement is that test's leak.
with open(os.path.join(tempfile.gettempdir(), "replaced.txt"), "w") as f:
    f.write("1")


def setUpModule():
    tempfile.mkdtemp(prefix="module-")


def tearDownModule():
    pass


class Cycle:
    """Only the cycle collector frees it, and then its finalizer removes the directory."""

    def __init__(self):
        self.me = self
        self.tmp = tempfile.TemporaryDirectory(prefix="dropped-")


class Leaky(unittest.TestCase):
    def test_mkdtemp(self):
        tempfile.mkdtemp(prefix="mkdtemp-")

    def test_mkstemp(self):
        for _ in range(3):
            fd, _ = tempfile.mkstemp(prefix="mkstemp-")
            os.close(fd)

    def test_named_delete_false(self):
        with tempfile.NamedTemporaryFile(prefix="named-", delete=False) as f:
            f.write(b"0123456789")

    def test_hardcoded_under_gettempdir(self):
        with open(os.path.join(tempfile.gettempdir(), "hardcoded.txt"), "w") as f:
            f.write("abc")

    def test_leaks_only_when_failing(self):
        path = tempfile.mkdtemp(prefix="onfail-")
        self.fail("on purpose")
        os.rmdir(path)

    def test_child_process(self):
        code = "import tempfile; tempfile.mkstemp(prefix='child-')"
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_thread(self):
        thread = threading.Thread(target=tempfile.mkdtemp, kwargs={"prefix": "thread-"})
        thread.start()
        thread.join()

    def test_read_only(self):
        directory = tempfile.mkdtemp(prefix="readonly-")
        path = os.path.join(directory, "ro.txt")
        with open(path, "w") as f:
            f.write("1234567")
        os.chmod(path, 0o400)
        os.chmod(directory, 0o500)

    def test_symlink_outside(self):
        target = os.path.join(SCRATCH, "target.txt")
        os.symlink(target, os.path.join(tempfile.gettempdir(), "link-out"))

    def test_subtest(self):
        for i in range(3):
            with self.subTest(i=i):
                if i == 1:
                    fd, _ = tempfile.mkstemp(prefix="subtest-")
                    os.close(fd)

    def test_replace(self):
        fd, path = tempfile.mkstemp(prefix="new-")
        os.write(fd, b"new!")
        os.close(fd)
        os.replace(path, os.path.join(tempfile.gettempdir(), "replaced.txt"))

    def test_fifo(self):
        os.mkfifo(os.path.join(tempfile.gettempdir(), "fifo"))

    def test_real_temp_dir(self):
        with open(os.path.join(REALTMP, "direct.txt"), "w") as f:
            f.write("xy")

    def test_watched(self):
        os.mkdir(os.path.join(SCRATCH, "watched", "out-dir"))


class ClassLeak(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tempfile.mkdtemp(prefix="class-")

    def test_nothing(self):
        pass


class SharedDirectory(unittest.TestCase):
    """setUpClass makes a directory, every test writes into it, tearDownClass removes it."""

    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="shared-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shared)

    def test_a(self):
        open(os.path.join(self.shared, "a"), "w").close()

    def test_b(self):
        open(os.path.join(self.shared, "b"), "w").close()


class WellBehaved(unittest.TestCase):
    def test_temporary_directory_in_with(self):
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "x"), "w").close()

    def test_named_temporary_file(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x")

    def test_mkstemp_removed(self):
        fd, path = tempfile.mkstemp()
        os.close(fd)
        os.remove(path)

    def test_dropped_temporary_directory(self):
        Cycle()

    @unittest.skip("on purpose")
    def test_skipped(self):
        tempfile.mkdtemp(prefix="never-")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.fail("on purpose")
'''

# What python -m tempcase must report for LEGACY_SUITE, exactly.
LEGACY_LEAKS: list[LeakRow] = [
    (None, "session", "sandbox", "file", "import-time.txt", 5, True),
    (MODULE, "module", "sandbox", "directory", "module-*", 0, True),
    (f"{MODULE}.ClassLeak", "class", "sandbox", "directory", "class-*", 0, True),
    (f"{LEAKY}.test_mkdtemp", "test", "sandbox", "directory", "mkdtemp-*", 0, True),
    *[(f"{LEAKY}.test_mkstemp", "test", "sandbox", "file", "mkstemp-*", 0, True)] * 3,
    (f"{LEAKY}.test_named_delete_false", "test", "sandbox", "file", "named-*", 10, True),
    (
        f"{LEAKY}.test_hardcoded_under_gettempdir",
        "test",
        "sandbox",
        "file",
        "hardcoded.txt",
        3,
        True,
    ),
    (f"{LEAKY}.test_leaks_only_when_failing", "test", "sandbox", "directory", "onfail-*", 0, True),
    (f"{LEAKY}.test_child_process", "test", "sandbox", "file", "child-*", 0, True),
    (f"{LEAKY}.test_thread", "test", "sandbox", "directory", "thread-*", 0, True),
    (f"{LEAKY}.test_read_only", "test", "sandbox", "directory", "readonly-*", 7, True),
    (f"{LEAKY}.test_symlink_outside", "test", "sandbox", "symlink", "link-out", 0, True),
    (f"{LEAKY}.test_subtest", "test", "sandbox", "file", "subtest-*", 0, True),
    (f"{LEAKY}.test_replace", "test", "sandbox", "file", "replaced.txt", 4, True),
    # Described without opening it (a FIFO would block).
    (f"{LEAKY}.test_fifo", "test", "sandbox", "other", "fifo", 0, True),
    (f"{LEAKY}.test_real_temp_dir", "test", "temp-root", "file", "direct.txt", 2, False),
    (f"{LEAKY}.test_watched", "test", "watched", "directory", "out-dir", 0, False),
]

# A name tempfile made: the prefix, then 8 random characters.
_RANDOM_NAME = re.compile(r"^(?P<prefix>[a-z]+-)[a-z0-9_]{8}$")


def write_suite(scratch: Path, source: str, name: str = MODULE) -> None:
    """Write a generated test module into *scratch* (the child's working directory)."""
    (scratch / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def suite_env(scratch: Path) -> dict[str, str]:
    """The variables the generated suites read."""
    return {
        "TEMPCASE_TEST_SCRATCH": str(scratch),
        "TEMPCASE_TEST_REALTMP": str(scratch / "tmpdir"),
    }


def run_cli(
    scratch: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Report]:
    """Run ``python -m tempcase ARGS --report r.json`` in *scratch*; return it and the report."""
    report = scratch / "r.json"
    if report.exists():
        report.unlink()
    proc = run_python(
        ["-m", "tempcase", *args, "--report", str(report)],
        cwd=scratch,
        env={**suite_env(scratch), **(env or {})},
    )
    if not report.exists():
        raise AssertionError(f"no report; stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    data: Report = json.loads(report.read_text(encoding="utf-8"))
    return proc, data


def ours(report: Report, scratch: Path) -> list[dict[str, Any]]:
    """The leaks under *scratch*: other processes may write into the real /tmp meanwhile."""
    return [leak for leak in report["leaks"] if leak["path"].startswith(str(scratch) + os.sep)]


def row(leak: dict[str, Any]) -> LeakRow:
    """A leak as LEGACY_LEAKS writes it: random tempfile names become ``prefix-*``."""
    name = os.path.basename(leak["path"])
    match = _RANDOM_NAME.match(name)
    if match:
        name = match.group("prefix") + "*"
    return (
        leak["context"],
        leak["scope"],
        leak["where"],
        leak["kind"],
        name,
        leak["size"],
        leak["removed"],
    )


def outcome(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """The exit status, unittest's 'Ran N tests' line (without the time) and its verdict."""
    lines = proc.stderr.splitlines()
    ran = [re.sub(r" in [0-9.]+s$", "", line) for line in lines if line.startswith("Ran ")]
    verdict = [line for line in lines if re.match(r"^(OK|FAILED)( \(.*\))?$", line)]
    return proc.returncode, "|".join(ran), "|".join(verdict)


def legacy_scratch(test: unittest.TestCase) -> Path:
    """A scratch directory holding the legacy suite, the symlink's target, a watched dir."""
    scratch = make_scratch(test)
    write_suite(scratch, LEGACY_SUITE)
    (scratch / "target.txt").write_text("precious", encoding="utf-8")
    (scratch / "watched").mkdir()
    return scratch


class LegacySuiteTest(unittest.TestCase):
    """Every kind of leak of a suite that knows nothing of tempcase, attributed exactly."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = legacy_scratch(self)

    def run_legacy(self, *extra: str) -> tuple[subprocess.CompletedProcess[str], Report]:
        return run_cli(self.scratch, MODULE, "--watch", "watched", *extra)

    def test_every_leak_is_attributed_to_its_test_or_scope(self) -> None:
        proc, report = self.run_legacy()
        found = collections.Counter(row(leak) for leak in ours(report, self.scratch))
        expected = collections.Counter(LEGACY_LEAKS)
        message = f"missing: {expected - found}\nextra: {found - expected}\n{proc.stderr}"
        self.assertEqual(found, expected, message)

    def test_leaks_sit_where_the_report_says(self) -> None:
        _proc, report = self.run_legacy()
        for leak in ours(report, self.scratch):
            parent = Path(leak["path"]).parent
            if leak["where"] == "sandbox":
                # <basetemp>/tempcase-of-<uid>-run-XXXX, next to the per-user root
                self.assertEqual(parent.parent, self.scratch / "base", leak)
                self.assertRegex(parent.name, rf"^{user_root_name()}-run-[a-z0-9_]{{8}}$", leak)
            elif leak["where"] == "temp-root":
                self.assertEqual(parent, self.scratch / "tmpdir", leak)
            else:
                self.assertEqual(parent, self.scratch / "watched", leak)

    def test_outcomes_are_those_of_plain_unittest(self) -> None:
        proc, _report = self.run_legacy()
        other = legacy_scratch(self)  # the suite makes fixed names: a fresh place for it
        plain = run_python(["-m", "unittest", MODULE], cwd=other, env=suite_env(other))
        verdict = "FAILED (failures=1, skipped=1, expected failures=1)"
        ran = f"Ran {22 + SKIPS_COUNTED} tests"
        self.assertEqual(outcome(plain), (1, ran, verdict))
        self.assertEqual(outcome(proc), outcome(plain))

    def test_sandbox_is_removed_and_the_temp_dir_keeps_only_direct_writes(self) -> None:
        _proc, report = self.run_legacy()
        sandbox = [leak for leak in ours(report, self.scratch) if leak["where"] == "sandbox"]
        self.assertEqual(len(sandbox), len([r for r in LEGACY_LEAKS if r[2] == "sandbox"]))
        for leak in sandbox:
            self.assertTrue(leak["removed"], leak)
            self.assertFalse(os.path.lexists(leak["path"]), leak)
        # The run directory (and its sandbox) went with the run.
        roots = list((self.scratch / "base").iterdir())
        self.assertEqual([list(root.iterdir()) for root in roots], [[]])
        # Only what a test wrote straight into the real temp dir is left there.
        self.assertEqual(sorted(os.listdir(self.scratch / "tmpdir")), ["direct.txt"])

    def test_shared_place_leaks_are_reported_and_kept(self) -> None:
        _proc, report = self.run_legacy()
        shared = [leak for leak in ours(report, self.scratch) if leak["where"] != "sandbox"]
        self.assertEqual(
            sorted((leak["where"], os.path.basename(leak["path"])) for leak in shared),
            [("temp-root", "direct.txt"), ("watched", "out-dir")],
        )
        for leak in shared:
            self.assertFalse(leak["removed"], leak)
        self.assertEqual((self.scratch / "tmpdir" / "direct.txt").read_text(), "xy")
        self.assertTrue((self.scratch / "watched" / "out-dir").is_dir())

    def test_symlink_target_outside_the_sandbox_survives(self) -> None:
        _proc, report = self.run_legacy()
        links = [leak for leak in ours(report, self.scratch) if leak["kind"] == "symlink"]
        self.assertEqual(len(links), 1)
        self.assertFalse(os.path.lexists(links[0]["path"]))
        self.assertEqual((self.scratch / "target.txt").read_text(encoding="utf-8"), "precious")

    def test_replaced_file_is_the_leak_of_the_test_that_replaced_it(self) -> None:
        _proc, report = self.run_legacy()
        replaced = [
            row(leak)
            for leak in ours(report, self.scratch)
            if os.path.basename(leak["path"]) == "replaced.txt"
        ]
        # The session's own file is gone (replaced): only the new one is reported,
        # once, with the replacement's size.
        self.assertEqual(
            replaced,
            [(f"{LEAKY}.test_replace", "test", "sandbox", "file", "replaced.txt", 4, True)],
        )

    def test_fixtures_and_well_behaved_tests_are_not_reported(self) -> None:
        _proc, report = self.run_legacy()
        contexts = {leak["context"] for leak in ours(report, self.scratch)}
        names = {os.path.basename(leak["path"]) for leak in ours(report, self.scratch)}
        for context in contexts - {None, MODULE}:
            self.assertFalse(context.startswith(f"{MODULE}.WellBehaved"), context)
            self.assertFalse(context.startswith(f"{MODULE}.SharedDirectory"), context)
        self.assertFalse(fnmatch.filter(names, "shared-*"), names)
        self.assertFalse(fnmatch.filter(names, "dropped-*"), names)
        self.assertNotIn(f"{LEAKY}.test_subtest (i=1)", contexts, "a subtest's leak is its test's")


class SharedPlaceTest(unittest.TestCase):
    """The real temp dir and --watch directories: reported, deleted only when asked."""

    SUITE = """\
        import os
        import unittest

        REALTMP = os.environ["TEMPCASE_TEST_REALTMP"]


        class Direct(unittest.TestCase):
            def test_writes_into_the_real_temp_dir(self):
                with open(os.path.join(REALTMP, "x"), "w") as f:
                    f.write("x")
        """

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)

    def test_direct_write_is_reported_and_kept_by_default(self) -> None:
        write_suite(self.scratch, self.SUITE)
        proc, report = run_cli(self.scratch, MODULE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            [row(leak) for leak in ours(report, self.scratch)],
            [
                (
                    f"{MODULE}.Direct.test_writes_into_the_real_temp_dir",
                    "test",
                    "temp-root",
                    "file",
                    "x",
                    1,
                    False,
                )
            ],
        )
        self.assertTrue((self.scratch / "tmpdir" / "x").exists())

    def test_remove_root_leaks_removes_the_direct_write(self) -> None:
        write_suite(self.scratch, self.SUITE)
        proc, report = run_cli(self.scratch, MODULE, "--remove-root-leaks")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            [row(leak) for leak in ours(report, self.scratch)],
            [
                (
                    f"{MODULE}.Direct.test_writes_into_the_real_temp_dir",
                    "test",
                    "temp-root",
                    "file",
                    "x",
                    1,
                    True,
                )
            ],
        )
        self.assertEqual(os.listdir(self.scratch / "tmpdir"), [])

    def test_watched_directory_leak_is_reported_not_removed(self) -> None:
        write_suite(
            self.scratch,
            """\
            import os
            import unittest


            class W(unittest.TestCase):
                def test_makes_a_directory(self):
                    os.makedirs(os.path.join("watched", "made", "below"))
            """,
        )
        (self.scratch / "watched").mkdir()
        (self.scratch / "watched" / "there-before").mkdir()
        proc, report = run_cli(self.scratch, MODULE, "--watch", "watched")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            [row(leak) for leak in ours(report, self.scratch)],
            [
                (
                    f"{MODULE}.W.test_makes_a_directory",
                    "test",
                    "watched",
                    "directory",
                    "made",
                    0,
                    False,
                )
            ],
        )
        self.assertEqual(sorted(os.listdir(self.scratch / "watched")), ["made", "there-before"])

    def _run_while_another_process_writes(self, *args: str, chown: bool = False) -> Report:
        """Run a test that waits while this process makes an entry in the child's temp dir."""
        write_suite(
            self.scratch,
            """\
            import os
            import time
            import unittest

            SCRATCH = os.environ["TEMPCASE_TEST_SCRATCH"]


            class Waits(unittest.TestCase):
                def test_waits_for_the_other_process(self):
                    open(os.path.join(SCRATCH, "ready"), "w").close()
                    deadline = time.monotonic() + 60
                    while not os.path.exists(os.path.join(SCRATCH, "done")):
                        self.assertLess(time.monotonic(), deadline, "no word from the parent")
                        time.sleep(0.005)
            """,
        )
        outcome_box: list[tuple[subprocess.CompletedProcess[str], Report]] = []
        errors: list[BaseException] = []

        def child() -> None:
            try:
                outcome_box.append(run_cli(self.scratch, MODULE, *args))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=child)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while not (self.scratch / "ready").exists() and thread.is_alive():
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.005)
            other = self.scratch / "tmpdir" / "zz-other"
            other.write_text("not yours", encoding="utf-8")
            if chown:
                uid, gid = nobody_ids()
                os.chown(other, uid, gid)
        finally:
            (self.scratch / "done").touch()
            thread.join()
        if errors:
            raise errors[0]
        proc, report = outcome_box[0]
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(other.read_text(encoding="utf-8"), "not yours")
        return report

    def test_entry_another_process_makes_is_never_deleted(self) -> None:
        report = self._run_while_another_process_writes()
        for leak in ours(report, self.scratch):
            self.assertEqual(
                row(leak),
                (
                    f"{MODULE}.Waits.test_waits_for_the_other_process",
                    "test",
                    "temp-root",
                    "file",
                    "zz-other",
                    9,
                    False,
                ),
            )

    def test_remove_root_leaks_keeps_another_users_entry(self) -> None:
        if os.getuid() != 0:
            self.skipTest("needs root to give the entry to another user")
        report = self._run_while_another_process_writes("--remove-root-leaks", chown=True)
        for leak in ours(report, self.scratch):
            self.assertFalse(leak["removed"], leak)


def run_in_process(
    case: type[unittest.TestCase], settings: Settings | None = None
) -> tuple[tempcase.TempCaseResult, str]:
    """Run *case* under a TempCaseRunner in this process; return the result and its output."""
    stream = io.StringIO()
    runner = tempcase.TempCaseRunner(stream=stream, settings=settings or Settings(), verbosity=0)
    result = runner.run(unittest.TestLoader().loadTestsFromTestCase(case))
    assert isinstance(result, tempcase.TempCaseResult)
    return result, stream.getvalue()


class RedirectTest(unittest.TestCase):
    """tempfile.tempdir and TMPDIR point to the sandbox while tests run, then come back."""

    def setUp(self) -> None:
        self.session = fresh_session(self)
        self.scratch = make_scratch(self)
        # Known originals, put back by the patches after the test.
        self.original = str(self.scratch / "original")
        patch_env = mock.patch.dict(os.environ, {"TMPDIR": self.original, "TEMP": self.original})
        patch_env.start()
        self.addCleanup(patch_env.stop)
        os.environ.pop("TMP", None)
        patch_tempdir = mock.patch.object(tempfile, "tempdir", self.original)
        patch_tempdir.start()
        self.addCleanup(patch_tempdir.stop)

    def _run_changing_suite(self) -> tuple[tempcase.TempCaseResult, str, dict[str, Any]]:
        seen: dict[str, Any] = {}

        class T(unittest.TestCase):
            def test_a_changes_the_temp_dir(self) -> None:
                seen["during"] = (tempfile.tempdir, os.environ.get("TMPDIR"), os.environ.get("TMP"))
                tempfile.tempdir = "/somewhere"
                os.environ["TMPDIR"] = "/elsewhere"

            def test_b_makes_a_file(self) -> None:
                fd, path = tempfile.mkstemp(prefix="later-")
                os.close(fd)
                seen["later"] = path
                seen["env"] = os.environ["TMPDIR"]
                seen["id"] = self.id()

        result, output = run_in_process(T)
        seen["sandbox"] = sandbox_path(self.session.run_dir.path)
        return result, output, seen

    def test_changed_tempdir_is_set_right_at_the_boundary(self) -> None:
        result, _output, seen = self._run_changing_suite()
        self.assertTrue(result.wasSuccessful())
        sandbox = seen["sandbox"]
        self.assertEqual(seen["during"], (sandbox, sandbox, sandbox))
        self.assertEqual(os.path.dirname(seen["later"]), sandbox)
        self.assertEqual(seen["env"], sandbox)
        later = [leak for leak in result.leaks if leak.path.name.startswith("later-")]
        self.assertEqual(
            [(leak.context, leak.where, leak.removed) for leak in later],
            [(seen["id"], "sandbox", True)],
        )
        self.assertEqual(len(result.redirect_resets), 1)
        reset = result.redirect_resets[0]
        self.assertTrue(reset.context and reset.context.endswith("test_a_changes_the_temp_dir"))
        self.assertEqual(reset.scope, "test")
        self.assertIn("/somewhere", reset.what)
        self.assertIn("/elsewhere", reset.what)

    def test_originals_come_back_after_the_run(self) -> None:
        self._run_changing_suite()
        self.assertEqual(tempfile.tempdir, self.original)
        self.assertEqual(os.environ.get("TMPDIR"), self.original)
        self.assertEqual(os.environ.get("TEMP"), self.original)
        self.assertNotIn("TMP", os.environ)

    def test_changed_tmpdir_alone_is_set_right_for_the_next_test(self) -> None:
        elsewhere = self.scratch / "elsewhere"
        elsewhere.mkdir()
        seen: dict[str, str] = {}

        class T(unittest.TestCase):
            def test_a_changes_only_the_environment(self) -> None:
                os.environ["TMPDIR"] = str(elsewhere)

            def test_b_runs_a_child(self) -> None:
                code = "import tempfile; print(tempfile.mkstemp(prefix='child-')[1])"
                child = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                )
                seen["child"] = child.stdout.strip()
                seen["sandbox"] = tempfile.gettempdir()

        result, _output = run_in_process(T)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(os.path.dirname(seen["child"]), seen["sandbox"])
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertEqual(
            [(reset.context, reset.scope) for reset in result.redirect_resets],
            [(f"{T.__module__}.{T.__qualname__}.test_a_changes_only_the_environment", "test")],
        )

    def test_class_fixture_that_changes_tempdir_is_set_right_before_its_tests(self) -> None:
        seen: list[str] = []

        class C(unittest.TestCase):
            @classmethod
            def setUpClass(cls) -> None:
                tempfile.tempdir = "/somewhere"

            def test_it(self) -> None:
                seen.append(tempfile.gettempdir())

        stream = io.StringIO()
        runner = tempcase.TempCaseRunner(stream=stream, settings=Settings(), verbosity=0)
        result = runner.run(TempCaseLoader().loadTestsFromTestCase(C))
        assert isinstance(result, tempcase.TempCaseResult)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(seen, [sandbox_path(self.session.run_dir.path)])
        self.assertEqual(
            [(reset.context, reset.scope) for reset in result.redirect_resets],
            [(f"{C.__module__}.{C.__qualname__}", "class")],
        )

    def test_changed_tempdir_is_shown_in_the_report(self) -> None:
        _result, output, _seen = self._run_changing_suite()
        self.assertIn("test_a_changes_the_temp_dir", output)
        self.assertIn("tempfile.tempdir", output)


class SandboxWhereTest(unittest.TestCase):
    """The sandbox is made next to the per-user root, named after the run (a
    short path, one directory below the base); in the run directory when
    something already stands there, which is left alone."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.session = fresh_session(self, self.scratch / "base")

    def run_suite(self) -> tuple[tempcase.TempCaseResult, list[str]]:
        seen: list[str] = []

        class T(unittest.TestCase):
            def test_where(self) -> None:
                seen.append(tempfile.gettempdir())
                tempfile.mkdtemp(prefix="left-")

        result, _output = run_in_process(T)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual([leak.path.name[:5] for leak in result.leaks], ["left-"])
        self.assertEqual([leak.path.parent for leak in result.leaks], [Path(seen[0])])
        return result, seen

    def test_sandbox_is_next_to_the_per_user_root(self) -> None:
        _result, seen = self.run_suite()
        run_dir = self.session.run_dir.path
        self.assertEqual(seen, [f"{os.path.dirname(run_dir)}-{os.path.basename(run_dir)}"])
        self.assertEqual(Path(seen[0]).parent, self.scratch / "base")
        self.assertFalse(os.path.lexists(seen[0]))  # gone with the run, its leak too
        self.assertEqual(os.listdir(self.scratch / "base"), [user_root_name()])

    def test_a_taken_name_sends_the_sandbox_into_the_run_directory(self) -> None:
        outside = make_scratch(self)
        (outside / "precious.txt").write_text("keep me", encoding="utf-8")
        base = self.scratch / "base"
        base.mkdir()
        for kind in ("link", "file", "directory"):
            with self.subTest(kind=kind):
                taken = base / f"taken-{kind}"
                if kind == "link":
                    taken.symlink_to(outside, target_is_directory=True)
                elif kind == "file":
                    taken.write_text("not a sandbox", encoding="utf-8")
                else:
                    taken.mkdir()
                    (taken / "theirs.txt").write_text("theirs", encoding="utf-8")
                session = fresh_session(self, base)
                path = str(taken)
                with mock.patch.object(leaks_module, "sandbox_path", lambda _run, p=path: p):
                    _result, seen = self.run_suite()
                run_dir = session.run_dir.path
                self.assertEqual(seen, [os.path.join(run_dir, "tmp")])
                self.assertFalse(os.path.lexists(seen[0]))
                self.assertTrue(os.path.lexists(taken))
        self.assertEqual(os.listdir(outside), ["precious.txt"])
        self.assertEqual((base / "taken-file").read_text(encoding="utf-8"), "not a sandbox")
        self.assertEqual(os.listdir(base / "taken-directory"), ["theirs.txt"])


class IgnoreTest(unittest.TestCase):
    """Process-wide caches are never reported; --ignore adds patterns."""

    SUITE = """\
        import os
        import tempfile
        import unittest


        class Caches(unittest.TestCase):
            def test_leaves_caches_and_two_files(self):
                os.mkdir(os.path.join(tempfile.gettempdir(), "pymp-xyz"))
                for name in (".coverage.x", "keep-1", "report-me"):
                    open(os.path.join(tempfile.gettempdir(), name), "w").close()
        """

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)
        write_suite(self.scratch, self.SUITE)

    def names(self, report: Report) -> list[str]:
        return sorted(os.path.basename(leak["path"]) for leak in ours(report, self.scratch))

    def test_multiprocessing_and_coverage_files_are_not_reported(self) -> None:
        proc, report = run_cli(self.scratch, MODULE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.names(report), ["keep-1", "report-me"])

    def test_ignore_option_adds_a_pattern(self) -> None:
        proc, report = run_cli(self.scratch, MODULE, "--ignore", "keep-*")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.names(report), ["report-me"])
        # Ignored names are not reported, but they were in the sandbox: gone with it.
        self.assertEqual(os.listdir(self.scratch / "tmpdir"), [])


class CallCounter:
    """Counts the file-system calls made through os and tempcase's bound names."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = collections.Counter()

    def wrap(self, kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls[(kind, os.fsdecode(path) if isinstance(path, (str, bytes)) else "")] += 1
            return function(path, *args, **kwargs)

        return counted

    def patches(self) -> list[Any]:
        targets: list[tuple[Any, str, str]] = [
            (os, "stat", "stat"),
            (os, "lstat", "stat"),
            (os, "fstat", "stat"),
            (os, "scandir", "list"),
            (os, "listdir", "list"),
            (OS, "stat", "stat"),
            (OS, "lstat", "stat"),
            (OS, "fstat", "stat"),
            (OS, "scandir", "list"),
        ]
        return [
            mock.patch.object(module, name, self.wrap(kind, getattr(module, name)))
            for module, name, kind in targets
        ]

    def snapshot(self) -> Counter[tuple[str, str]]:
        return collections.Counter(self.calls)


def _delta(
    after: Counter[tuple[str, str]], before: Counter[tuple[str, str]]
) -> Counter[tuple[str, str]]:
    result = collections.Counter(after)
    result.subtract(before)
    return result


class SpeedTest(unittest.TestCase):
    """Detection costs a few stat calls per test, and lists a directory only when it changed."""

    TESTS = 200
    WARM_UP = 5

    def setUp(self) -> None:
        self.session = fresh_session(self)
        scratch = make_scratch(self)
        # A quiet temp dir, last changed an hour ago: the real one was changed
        # just now (by make_scratch), and a change that recent must be listed.
        quiet = scratch / "quiet-tmp"
        quiet.mkdir()
        hour_ago = time.time() - 3600
        os.utime(quiet, (hour_ago, hour_ago))
        patch = mock.patch.object(leaks_module, "system_tempdir", lambda: str(quiet))
        patch.start()
        self.addCleanup(patch.stop)
        self.counter = CallCounter()

    def run_counted(self, leak_at: int | None = None) -> list[Counter[tuple[str, str]]]:
        """Run TESTS tests that touch nothing (test *leak_at* leaves a file); return the
        calls counted from each test to the next (its end, and the next one's start)."""
        counter = self.counter
        snapshots: list[Counter[tuple[str, str]]] = []

        def body(i: int) -> Callable[[unittest.TestCase], None]:
            def test(case: unittest.TestCase) -> None:
                snapshots.append(counter.snapshot())
                if i == leak_at:
                    fd, _ = tempfile.mkstemp(prefix="leak-")
                    os.close(fd)

            return test

        case = type(
            "Empty",
            (unittest.TestCase,),
            {f"test_{i:03d}": body(i) for i in range(self.TESTS)},
        )
        patches = counter.patches()
        for patch in patches:
            patch.start()
        try:
            result, _output = run_in_process(case)
        finally:
            for patch in reversed(patches):
                patch.stop()
        self.assertEqual(result.testsRun, self.TESTS)
        self.assertTrue(result.wasSuccessful())
        self.result = result
        self.case_name = f"{case.__module__}.{case.__qualname__}"
        self.sandbox = sandbox_path(self.session.run_dir.path)
        return [_delta(after, before) for before, after in zip(snapshots, snapshots[1:])]

    def test_empty_tests_cost_a_few_stat_calls_and_no_listing(self) -> None:
        deltas = self.run_counted()[self.WARM_UP :]
        stats = sum(n for delta in deltas for (kind, _), n in delta.items() if kind == "stat")
        # Others may write into the real /tmp (also compared) meanwhile: a listing
        # of it then is right. Every other directory must not be listed.
        listings = collections.Counter(
            path
            for delta in deltas
            for (kind, path), n in delta.items()
            for _ in range(n)
            if kind == "list" and path != "/tmp"
        )
        self.assertLessEqual(stats / len(deltas), 4, stats)
        self.assertEqual(listings, collections.Counter())

    def test_leaking_test_lists_the_sandbox_once(self) -> None:
        leak_at = self.TESTS // 2
        deltas = self.run_counted(leak_at=leak_at)
        sandbox_listings = [delta[("list", self.sandbox)] for delta in deltas]
        # Once at most (a detector told by the kernel which names changed needs
        # no listing), and never again by the fast tests that follow.
        self.assertLessEqual(sandbox_listings[leak_at], 1)
        self.assertEqual(sum(sandbox_listings[self.WARM_UP :]), sandbox_listings[leak_at])
        leaked = [leak for leak in self.result.leaks if leak.path.name.startswith("leak-")]
        self.assertEqual(
            [(leak.context, leak.where) for leak in leaked],
            [(f"{self.case_name}.test_{leak_at:03d}", "sandbox")],
        )


class PlaceTest(unittest.TestCase):
    """One compared directory, through the private Place (the mtime path, without inotify)."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)

    def place(self, *, own: bool) -> Place:
        place = Place(str(self.scratch), "sandbox", (), own=own)
        self.addCleanup(place.close)
        if not place.trust_mtime:
            self.skipTest("directory mtimes are not trusted on this file system")
        return place

    def test_own_directory_is_trusted_right_after_a_listing(self) -> None:
        place = self.place(own=True)
        (self.scratch / "new").touch()
        self.assertIsNotNone(place.changed())
        self.assertEqual(place.relist(), ["new"])
        # At once, within the same clock tick: no second listing needed.
        self.assertIsNone(place.changed())
        (self.scratch / "newer").touch()
        self.assertIsNotNone(place.changed())
        self.assertEqual(place.relist(), ["newer"])

    def test_replaced_entry_counts_as_new(self) -> None:
        place = self.place(own=True)
        (self.scratch / "same").write_text("1", encoding="utf-8")
        self.assertEqual(place.relist(), ["same"])
        (self.scratch / "other").write_text("2", encoding="utf-8")
        os.replace(self.scratch / "other", self.scratch / "same")
        self.assertEqual(place.relist(), ["same"])


class NoDetectTest(unittest.TestCase):
    """--no-detect: no sandbox, no redirect, no leak report from diffs."""

    SUITE = """\
        import os
        import tempfile
        import unittest


        class T(unittest.TestCase):
            def test_temp_dir_is_the_given_one(self):
                given = os.environ["TEMPCASE_TEST_GIVEN"]
                self.assertEqual(tempfile.gettempdir(), given)
                self.assertEqual(os.environ["TMPDIR"], given)
                tempfile.mkdtemp(prefix="nodetect-")
        """

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)
        write_suite(self.scratch, self.SUITE)
        self.env = {"TEMPCASE_TEST_GIVEN": str(self.scratch / "tmpdir")}

    def test_no_detect_neither_redirects_nor_reports(self) -> None:
        proc, report = run_cli(self.scratch, MODULE, "--no-detect", env=self.env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(report["leaks"], [])
        self.assertEqual(
            fnmatch.filter(os.listdir(self.scratch / "tmpdir"), "nodetect-*"),
            os.listdir(self.scratch / "tmpdir"),
        )
        self.assertEqual(len(os.listdir(self.scratch / "tmpdir")), 1)

    def test_detection_is_on_by_default(self) -> None:
        # The same suite fails with detection on: the temp dir is the sandbox then.
        proc, _report = run_cli(self.scratch, MODULE, env=self.env)
        self.assertEqual(outcome(proc)[::2], (1, "FAILED (failures=1)"), proc.stderr)
        self.assertEqual(os.listdir(self.scratch / "tmpdir"), [])


class AuditTest(unittest.TestCase):
    """tempcase audit: the ranked table, and its JSON report."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = legacy_scratch(self)

    def run_audit(self) -> tuple[subprocess.CompletedProcess[str], Report]:
        """Run the audit; again if another process wrote into the real /tmp meanwhile
        (the table then shows its entries too, attributed to whichever test ran)."""
        for _attempt in range(5):
            proc, report = run_cli(self.scratch, "audit", MODULE, "--watch", "watched")
            if ours(report, self.scratch) == report["leaks"]:
                return proc, report
            self.scratch = legacy_scratch(self)
        self.skipTest("other processes kept writing into /tmp during the audit")

    def test_audit_ranks_the_worst_test_first_by_module(self) -> None:
        proc, report = self.run_audit()
        self.assertEqual(proc.returncode, 1, proc.stderr)  # as unittest: one test fails
        lines = proc.stderr.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("tempcase audit:"))
        table = lines[start:]
        self.assertIn(f"leaked {len(LEGACY_LEAKS)} paths", table[0])
        self.assertIn(f"in {22 + SKIPS_COUNTED} tests", table[0])
        headers = [line for line in table[1:] if line and not line.startswith(" ")]
        self.assertEqual([h.split(":")[0] for h in headers], [MODULE, "(session)"])
        module_at = table.index(headers[0])
        rows = [line for line in table[module_at + 1 :] if re.match(r"^ +\d+ paths? ", line)]
        self.assertRegex(rows[0], r"^ +3 paths .* sandbox +Leaky\.test_mkstemp$")
        self.assertRegex(rows[1], r"^ +1 path .* Leaky\.test_named_delete_false$")
        # The paths of the worst test follow its row, sandbox names as tmp/NAME.
        first = table.index(rows[0])
        for line in table[first + 1 : first + 4]:
            self.assertRegex(line, r"^ {18}tmp/mkstemp-[a-z0-9_]{8} \(file\)$")
        self.assertIn("ClassLeak [class]", "\n".join(table))
        self.assertIn(f"{MODULE} [module]", "\n".join(table))
        found = collections.Counter(row(leak) for leak in ours(report, self.scratch))
        self.assertEqual(found, collections.Counter(LEGACY_LEAKS))


class ModeTest(unittest.TestCase):
    """The sandbox is private."""

    def test_sandbox_is_private_whatever_the_umask(self) -> None:
        session = fresh_session(self)
        modes: list[int] = []

        class T(unittest.TestCase):
            def test_it(self) -> None:
                modes.append(stat.S_IMODE(os.stat(tempfile.gettempdir()).st_mode))

        old = os.umask(0)
        try:
            run_in_process(T)
        finally:
            os.umask(old)
        self.assertEqual(modes, [0o700])
        self.assertFalse(os.path.lexists(sandbox_path(session.run_dir.path)))
