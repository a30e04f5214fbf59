"""The orphan cleaner: ``tempcase clean`` and the runner's start-up sweep (hazards 35-39)."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import tempcase
import tempcase._orphans as orphans
from tempcase._keep import KEEP_MARKER
from tempcase._layout import MARKER, ensure_user_root, sandbox_path, user_root_name
from tempcase._removal import Problem, remove_path
from tests.support import (
    REPO_ROOT,
    fresh_session,
    iter_tree,
    make_scratch,
    nobody_ids,
    run_as_nobody,
    run_python,
)

_POSIX = hasattr(os, "fork") and hasattr(os, "getuid")
_AS_ROOT = _POSIX and os.getuid() == 0
_CLI_WIRED = "_orphans" in (REPO_ROOT / "tempcase" / "_cli.py").read_text(encoding="utf-8")
_OTHER_HOST = "another-host.invalid"
_DAY = 86400.0

# A genuine run killed before any cleanup could run: RunDirectory takes the
# lock and writes the marker, then the process ends without a finally.
_DEAD_RUN = textwrap.dedent(
    """
    import os, sys, time
    from tempcase._layout import RunDirectory
    run = RunDirectory(sys.argv[1], started=time.time())
    os.makedirs(os.path.join(run.path, "ctx", "sub"))
    with open(os.path.join(run.path, "ctx", "sub", "data.txt"), "w") as stream:
        stream.write("x" * 2000)
    sys.stdout.write(run.path)
    sys.stdout.flush()
    os._exit(0)
    """
)

# A suite whose test says it is running, then waits to be killed.
_KILLED_SUITE = textwrap.dedent(
    """
    import os, time, tempcase

    class KilledTest(tempcase.TestCase):
        def test_runs_until_killed(self):
            self.create_file("data/a.txt", "x" * 1000)
            self.create_temp_file("scratch")
            with open(os.environ["SIGNAL_FILE"] + ".partial", "w") as stream:
                stream.write(str(self.tempcase_dir.path))
            os.rename(os.environ["SIGNAL_FILE"] + ".partial", os.environ["SIGNAL_FILE"])
            time.sleep(120)
    """
)


# The same, run by python -m tempcase (detection on): the test also makes a
# temp file through tempfile, which lands in the run's sandbox.
_KILLED_DETECTING_SUITE = textwrap.dedent(
    """
    import os, tempfile, time, unittest

    class KilledTest(unittest.TestCase):
        def test_runs_until_killed(self):
            fd, path = tempfile.mkstemp(prefix="in-sandbox-")
            os.write(fd, b"x" * 1000)
            os.close(fd)
            with open(os.environ["SIGNAL_FILE"] + ".partial", "w") as stream:
                stream.write(path)
            os.rename(os.environ["SIGNAL_FILE"] + ".partial", os.environ["SIGNAL_FILE"])
            time.sleep(120)
    """
)


def _clean(*args: str) -> tuple[int, str, str]:
    """Run ``tempcase clean ARGS`` in this process; the exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = orphans.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def _fake_run(root: Path, *, pid: int, host: str, created: float | None = None) -> Path:
    """A run directory with a marker as RunDirectory writes it, its lock free."""
    path = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    (path / "data.txt").write_text("payload", encoding="utf-8")
    _write_json(
        path / MARKER,
        {
            "tempcase_run": 1,
            "run_id": path.name,
            "pid": pid,
            "host": host,
            "started": time.time() if created is None else created,
            "created": time.time() if created is None else created,
            "python": "3",
        },
    )
    return path


def _fake_kept(root: Path, run_id: str, *, created: float, pid: int) -> Path:
    """A run's kept directory as KeptArea makes it."""
    path = root / "kept" / run_id
    path.mkdir(parents=True)
    (path / "test_dir").mkdir()
    (path / "test_dir" / "f.txt").write_text("kept", encoding="utf-8")
    _write_json(
        path / KEEP_MARKER,
        {"run_id": run_id, "pid": pid, "host": socket.gethostname(), "created": created},
    )
    return path


def _snapshot(top: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every entry below *top* with its mode, mtime, inode and ctime (links not followed)."""
    result = {}
    for path in iter_tree(top):
        st = os.lstat(path)
        result[str(path.relative_to(top))] = (
            st.st_mode,
            st.st_mtime_ns,
            st.st_ino,
            st.st_ctime_ns,
        )
    return result


@unittest.skipUnless(_POSIX, "orphan cleanup needs flock and fork: POSIX only")
class _OrphanTestBase(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.base = self.scratch / "base"
        self.session = fresh_session(self, self.base)
        self.root = Path(ensure_user_root(str(self.base), source="the test"))

    def dead_run(self, root: Path | None = None) -> Path:
        """A genuine run of this host whose process is gone."""
        done = run_python(["-c", _DEAD_RUN, str(root or self.root)], cwd=make_scratch(self))
        self.assertEqual(done.returncode, 0, done.stderr)
        path = Path(done.stdout)
        self.assertTrue((path / MARKER).is_file())
        return path

    def killed_run(self, *, detecting: bool = False) -> Path:
        """The run directory of a suite killed by SIGKILL inside a test: run
        by ``python -m unittest``, or with *detecting* by ``python -m
        tempcase`` (then the signal file names the temp file in the sandbox)."""
        work = make_scratch(self)
        suite = _KILLED_DETECTING_SUITE if detecting else _KILLED_SUITE
        (work / "test_killed.py").write_text(suite, encoding="utf-8")
        (work / "tmpdir").mkdir()
        signal_file = work / "inside-test"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["TEMPCASE_BASETEMP"] = str(self.base)
        env["SIGNAL_FILE"] = str(signal_file)
        for name in ("TMPDIR", "TEMP", "TMP"):
            env[name] = str(work / "tmpdir")
        child = subprocess.Popen(
            [sys.executable, "-m", "tempcase" if detecting else "unittest", "test_killed"],
            cwd=str(work),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            waited = 0.0
            while not signal_file.exists() and child.poll() is None and waited < 60:
                time.sleep(0.02)
                waited += 0.02
            self.assertTrue(signal_file.exists(), "the child never reached its test")
        finally:
            child.send_signal(signal.SIGKILL)
            _out, err = child.communicate()
        self.assertEqual(child.returncode, -signal.SIGKILL, err)
        if detecting:
            in_sandbox = Path(signal_file.read_text(encoding="utf-8"))
            self.assertTrue(in_sandbox.is_file())
            self.assertEqual(in_sandbox.parent.parent, self.base)
            (run,) = self.root.glob("run-*")
            self.assertEqual(sandbox_path(str(run)), str(in_sandbox.parent))
            return run
        test_dir = Path(signal_file.read_text(encoding="utf-8"))
        run = test_dir.parent
        self.assertEqual(run.parent, self.root)
        self.assertTrue((run / MARKER).is_file())
        self.assertTrue((test_dir / "data" / "a.txt").is_file())
        return run

    def clean(self, *args: str) -> tuple[int, str, str]:
        return _clean("--basetemp", str(self.base), *args)


class KilledRunTest(_OrphanTestBase):
    def test_run_killed_inside_a_test_is_removed_and_a_live_run_survives(self) -> None:
        killed = self.killed_run()
        live_file = tempcase.create_temp_file("live")
        live_run = self.session.run_dir.path

        code, out, err = self.clean("--older-than", "0")

        self.assertEqual((code, err), (0, ""))
        self.assertFalse(os.path.lexists(killed))
        self.assertIn(f"removed       {killed}", out)
        self.assertIn("dead process", out)
        self.assertTrue(live_file.is_file())
        self.assertEqual(os.listdir(self.root), [os.path.basename(live_run)])
        self.assertIn("total: removed 1 directory", out)

        self.session.end()
        code, out, err = self.clean("--older-than", "0", "--verbose")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.splitlines(), ["total: removed 0 directories, 0 B"])
        self.assertEqual(os.listdir(self.root), [])

    @unittest.skipUnless(_CLI_WIRED, "python -m tempcase clean is not wired in yet")
    def test_python_m_tempcase_clean_removes_killed_run_and_keeps_live_one(self) -> None:
        killed = self.killed_run()
        live_file = tempcase.create_temp_file("live")

        done = run_python(
            ["-m", "tempcase", "clean", "--older-than", "0", "--basetemp", str(self.base)],
            cwd=make_scratch(self),
        )

        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertFalse(os.path.lexists(killed))
        self.assertIn(str(killed), done.stdout)
        self.assertTrue(live_file.is_file())
        self.assertIn("total: removed 1 directory", done.stdout)


class DryRunTest(_OrphanTestBase):
    def test_dry_run_changes_nothing_and_names_what_would_go(self) -> None:
        dead = self.dead_run()
        garbage = self.root / "garbage-run-abcdefgh-0011aabb"
        (garbage / "deep").mkdir(parents=True)
        (garbage / "deep" / "f.txt").write_text("x", encoding="utf-8")
        foreign = _fake_run(self.root, pid=1, host=_OTHER_HOST)
        kept = [_fake_kept(self.root, f"run-k{i}", created=1000.0 + i, pid=1) for i in range(5)]
        tempcase.create_temp_file("live")
        before = _snapshot(self.scratch)

        code, out, err = self.clean("--older-than", "0", "--dry-run")

        self.assertEqual((code, err), (0, ""))
        self.assertEqual(_snapshot(self.scratch), before)
        for path in (dead, garbage, foreign, kept[0], kept[1]):
            self.assertIn(f"would remove  {path}", out)
        self.assertIn("would remove 5 directories", out)
        self.assertNotIn(str(kept[2]), out)

        # The dry run told the truth: the real one removes those five.
        code, out, _err = self.clean("--older-than", "0")
        self.assertEqual(code, 0)
        self.assertIn("removed 5 directories", out)
        for path in (dead, garbage, foreign, kept[0], kept[1]):
            self.assertFalse(os.path.lexists(path))


class NeverRemovedTest(_OrphanTestBase):
    """What ``clean --older-than 0`` must leave, next to a dead run it does remove."""

    def setUp(self) -> None:
        super().setUp()
        self.control = self.dead_run()

    def clean_all_ages(self) -> str:
        code, out, err = self.clean("--older-than", "0", "--verbose")
        self.assertEqual((code, err), (0, ""))
        self.assertFalse(os.path.lexists(self.control), "the genuine dead run was not removed")
        return out

    def test_directory_without_marker_is_kept(self) -> None:
        unmarked = self.root / "run-nomarker"
        unmarked.mkdir()
        (unmarked / "f.txt").write_text("x", encoding="utf-8")
        broken = self.root / "run-brokenmk"
        broken.mkdir()
        (broken / MARKER).write_text("{not json", encoding="utf-8")
        foreign = self.root / "tmpabc"
        foreign.mkdir()
        not_dir = self.root / "run-afile000"
        not_dir.write_text("a file named like a run", encoding="utf-8")

        out = self.clean_all_ages()

        for path in (unmarked / "f.txt", broken / MARKER, foreign, not_dir):
            self.assertTrue(path.exists(), path)
        self.assertIn(f"kept          {not_dir}: not a directory", out)
        self.assertIn(f"kept          {unmarked}: no tempcase marker", out)
        self.assertIn(f"kept          {broken}: no tempcase marker", out)

    def test_marker_naming_another_run_is_kept(self) -> None:
        original = self.dead_run()
        renamed = self.root / "run-renamed0"
        os.rename(original, renamed)

        out = self.clean_all_ages()

        self.assertTrue((renamed / "ctx" / "sub" / "data.txt").is_file())
        self.assertIn(f"{renamed}: its marker does not name this directory", out)

    def test_symlink_named_like_a_run_is_kept_and_its_target_too(self) -> None:
        elsewhere = make_scratch(self) / "elsewhere"
        elsewhere.mkdir()
        target = self.dead_run(elsewhere)
        link = self.root / target.name  # the marker behind it names it exactly
        link.symlink_to(target, target_is_directory=True)

        out = self.clean_all_ages()

        self.assertTrue(link.is_symlink())
        self.assertTrue((target / "ctx" / "sub" / "data.txt").is_file())
        self.assertTrue((target / MARKER).is_file())
        self.assertIn(f"kept          {link}: a symbolic link", out)

    @unittest.skipUnless(_AS_ROOT, "needs root to give a run to another user")
    def test_run_owned_by_another_user_is_kept(self) -> None:
        theirs = self.dead_run()
        uid, gid = nobody_ids()
        for path in iter_tree(theirs):
            os.lchown(path, uid, gid)

        out = self.clean_all_ages()

        self.assertTrue((theirs / "ctx" / "sub" / "data.txt").is_file())
        self.assertIn(f"kept          {theirs}: not ours (owner uid {uid})", out)

    @unittest.skipUnless(_AS_ROOT, "needs root to run as nobody")
    def test_unprivileged_clean_keeps_a_dead_run_owned_by_root(self) -> None:
        uid, gid = nobody_ids()
        base = self.scratch / "nobody-base"
        their_root = base / f"tempcase-of-{uid}"
        their_root.mkdir(parents=True, mode=0o700)
        roots_run = self.dead_run(their_root)
        own_run = self.dead_run(their_root)
        for path in [base, their_root, *iter_tree(own_run)]:
            os.lchown(path, uid, gid)
        home = self.scratch / "home"
        home.mkdir()

        def body() -> None:
            code, out, err = _clean("--basetemp", str(base), "--older-than", "0", "--verbose")
            if code != 0 or os.path.lexists(own_run):
                raise AssertionError(f"nobody's own dead run was not removed: {out}{err}")
            if f"kept          {roots_run}: not ours (owner uid 0)" not in out:
                raise AssertionError(f"root's run was not kept as another user's: {out}")

        run_as_nobody(self, home, body)
        self.assertTrue((roots_run / "ctx" / "sub" / "data.txt").is_file())
        self.assertTrue((roots_run / MARKER).is_file())

    def test_live_unrelated_pid_with_free_lock_is_kept_until_old_enough(self) -> None:
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        reused = _fake_run(self.root, pid=sleeper.pid, host=socket.gethostname())

        code, out, _err = self.clean("--older-than", "1d", "--verbose")

        self.assertEqual(code, 0)
        self.assertTrue((reused / "data.txt").is_file())
        self.assertIn(f"{reused}: its process {sleeper.pid} is running, younger than 1d", out)

        # Two days on, the pid is no proof of life: the age rule removes it.
        with mock.patch("time.time", return_value=time.time() + 2 * _DAY):
            code, out, _err = self.clean("--older-than", "1d")
        self.assertEqual(code, 0)
        self.assertFalse(os.path.lexists(reused))
        self.assertIsNone(sleeper.poll())
        self.assertIn(f"{reused}  ", out)
        self.assertIn("(older than 1d)", out)

    def test_file_from_1970_inside_a_live_run_is_kept(self) -> None:
        old = tempcase.create_temp_file("from 1970")
        run = Path(self.session.run_dir.path)
        for path in [old, *old.parents]:
            if path == run.parent:
                break
            os.utime(path, (0, 0))
        os.utime(run / MARKER, (0, 0))

        code, out, _err = self.clean("--older-than", "1d", "--verbose")

        self.assertEqual(code, 0)
        self.assertEqual(old.read_text(encoding="utf-8"), "from 1970")
        self.assertIn(f"kept          {run}: live: its lock is held", out)

    def test_live_run_is_kept_when_the_clock_is_ten_years_ahead(self) -> None:
        live = tempcase.create_temp_file("live")
        run = Path(self.session.run_dir.path)

        with mock.patch("time.time", return_value=time.time() + 3653 * _DAY):
            code, out, _err = self.clean("--older-than", "1d", "--verbose")

        self.assertEqual(code, 0)
        self.assertTrue(live.is_file())
        self.assertIn(f"kept          {run}: live: its lock is held", out)

    def test_nothing_outside_the_root_is_touched(self) -> None:
        beside = self.dead_run()
        beside = beside.rename(self.base / beside.name)  # marker and name still agree
        elsewhere = make_scratch(self) / "elsewhere"
        elsewhere.mkdir()
        far = self.dead_run(elsewhere)

        self.clean_all_ages()

        self.assertTrue((beside / "ctx" / "sub" / "data.txt").is_file())
        self.assertTrue((far / "ctx" / "sub" / "data.txt").is_file())
        self.assertEqual(sorted(os.listdir(self.base)), sorted([self.root.name, beside.name]))


class LockStateTest(_OrphanTestBase):
    def test_run_whose_lock_state_cannot_be_known_is_kept(self) -> None:
        dead = self.dead_run()

        def no_locks(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

        with mock.patch("fcntl.flock", no_locks):
            code, out, _err = self.clean("--older-than", "0", "--verbose")
            result = orphans.sweep_dead_runs(str(self.root))

        self.assertEqual(code, 0)
        self.assertEqual(result.removed, ())
        self.assertTrue((dead / "ctx" / "sub" / "data.txt").is_file())
        self.assertIn(f"kept          {dead}: lock state unknown (No locks available)", out)

    def test_run_is_kept_where_there_is_no_flock(self) -> None:
        dead = self.dead_run()

        with mock.patch.object(orphans, "fcntl", None):
            code, out, _err = self.clean("--older-than", "0", "--verbose")

        self.assertEqual(code, 0)
        self.assertTrue((dead / "ctx" / "sub" / "data.txt").is_file())
        self.assertIn(f"{dead}: lock state unknown (no flock on this platform)", out)


class AgeTest(_OrphanTestBase):
    def test_backdated_marker_of_another_host_goes_only_by_its_ctime(self) -> None:
        # Rule (a) cannot remove another host's run; rule (b) judges the marker,
        # whose ctime no utime can set back.
        ten_days_ago = time.time() - 10 * _DAY
        foreign = _fake_run(self.root, pid=_dead_pid(), host=_OTHER_HOST, created=ten_days_ago)
        os.utime(foreign / MARKER, (ten_days_ago, ten_days_ago))

        code, out, _err = self.clean("--older-than", "1d", "--verbose")
        self.assertEqual(code, 0)
        self.assertTrue((foreign / "data.txt").is_file())
        self.assertIn(f"{foreign}: from another host ({_OTHER_HOST}), younger than 1d", out)

        code, out, _err = self.clean("--older-than", "0")
        self.assertEqual(code, 0)
        self.assertFalse(os.path.lexists(foreign))
        self.assertIn("(older than 0)", out)

    def test_marker_created_in_the_future_is_not_old(self) -> None:
        # Another host's clock runs ahead: its marker's file times are old
        # enough two days on, the time it recorded is not.
        ahead = time.time() + 10 * _DAY
        foreign = _fake_run(self.root, pid=1, host=_OTHER_HOST, created=ahead)

        with mock.patch("time.time", return_value=time.time() + 2 * _DAY):
            code, out, _err = self.clean("--older-than", "1d", "--verbose")

        self.assertEqual(code, 0)
        self.assertTrue((foreign / "data.txt").is_file())
        self.assertIn(f"{foreign}: from another host ({_OTHER_HOST}), younger than 1d", out)

    def test_files_inside_a_run_do_not_make_it_old(self) -> None:
        foreign = _fake_run(self.root, pid=1, host=_OTHER_HOST)
        for path in iter_tree(foreign):
            if path.name != MARKER:
                os.utime(path, (0, 0))

        code, _out, _err = self.clean("--older-than", "1d")

        self.assertEqual(code, 0)
        self.assertTrue((foreign / "data.txt").is_file())

    def test_bad_ages_are_one_line_errors_with_status_2(self) -> None:
        for age in ("1x", "-1d", "d", "", "1.5h", "5"):
            for args in (["--older-than", age], [f"--older-than={age}"]):
                with self.subTest(args=args):
                    code, out, err = self.clean(*args)
                    self.assertEqual(code, 2)
                    self.assertEqual(out, "")
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertIn(repr(age), err)

    def test_empty_basetemp_is_an_error_with_status_2(self) -> None:
        dead = self.dead_run()
        for args in (["--basetemp="], ["--basetemp", " "]):
            with self.subTest(args=args):
                code, out, err = _clean(*args, "--older-than", "0")
                self.assertEqual((code, out), (2, ""))
                self.assertIn("--basetemp is empty", err)
        with mock.patch.dict(os.environ, {"TEMPCASE_BASETEMP": ""}):
            code, out, err = _clean("--older-than", "0")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("TEMPCASE_BASETEMP", err)
        self.assertTrue(dead.is_dir())

    def test_ages_in_every_unit(self) -> None:
        cases = {"90s": 90, "30m": 1800, "12h": 43200, "7d": 604800, "0": 0, "0d": 0}
        for text, seconds in cases.items():
            with self.subTest(text=text):
                self.assertEqual(orphans.parse_age(text), seconds)

    def test_missing_root_is_nothing_to_clean_and_is_not_created(self) -> None:
        for base in (self.scratch / "no-such-base", self.scratch / "empty-base"):
            with self.subTest(base=base.name):
                if base.name == "empty-base":
                    base.mkdir()
                code, out, err = _clean("--basetemp", str(base), "--older-than", "0")
                self.assertEqual((code, err), (0, ""))
                self.assertIn("nothing to clean", out)
                self.assertFalse((base / user_root_name()).exists())

    def test_missing_root_still_finds_the_sandboxes_of_its_runs(self) -> None:
        # The root was removed by hand; the sandboxes next to it were not.
        base = self.scratch / "rootless-base"
        base.mkdir()
        lone = base / f"{user_root_name()}-run-gone1234"
        (lone / "sub").mkdir(parents=True)
        code, out, err = _clean("--basetemp", str(base))
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "total: removed 0 directories, 0 B\n")
        self.assertTrue(lone.is_dir())
        code, out, err = _clean("--basetemp", str(base), "--older-than", "0")
        self.assertEqual((code, err), (0, ""))
        self.assertIn(f"removed       {lone}  0 B  (sandbox of a run that is gone", out)
        self.assertEqual(os.listdir(base), [])  # and the root is not made

    def test_root_that_is_a_symlink_is_refused(self) -> None:
        base = self.scratch / "linked-base"
        base.mkdir()
        (base / user_root_name()).symlink_to(self.root, target_is_directory=True)
        dead = self.dead_run()

        code, out, err = _clean("--basetemp", str(base), "--older-than", "0")

        self.assertEqual((code, out), (2, ""))
        self.assertIn("symbolic link", err)
        self.assertTrue(dead.is_dir())


class GarbageTest(_OrphanTestBase):
    def test_garbage_of_an_interrupted_clean_is_removed_but_not_a_linked_one(self) -> None:
        garbage = self.root / "garbage-run-abcdefgh-0011aabb"
        (garbage / "a" / "b").mkdir(parents=True)
        (garbage / "a" / "b" / "f.txt").write_text("x", encoding="utf-8")
        precious = make_scratch(self) / "precious"
        precious.mkdir()
        (precious / "keep.txt").write_text("keep", encoding="utf-8")
        linked = self.root / "garbage-run-linkedxx-0011aabb"
        linked.symlink_to(precious, target_is_directory=True)

        code, out, _err = self.clean("--older-than", "1d", "--verbose")

        self.assertEqual(code, 0)
        self.assertFalse(os.path.lexists(garbage))
        self.assertIn("left by an interrupted clean", out)
        self.assertTrue(linked.is_symlink())
        self.assertTrue((precious / "keep.txt").is_file())

    def test_a_clean_that_fails_part_way_leaves_garbage_the_next_one_removes(self) -> None:
        dead = self.dead_run()
        given: list[str] = []

        def failing(path: str, **_kw: object) -> list[Problem]:
            given.append(path)
            return [Problem(path, "simulated failure")]

        with mock.patch.object(orphans, "remove_path", failing):
            code, out, _err = self.clean("--older-than", "1d")

        self.assertEqual(code, 1)
        self.assertEqual(len(given), 1)
        renamed = Path(given[0])
        self.assertEqual(renamed.parent, self.root)
        self.assertTrue(renamed.name.startswith(f"garbage-{dead.name}-"))
        self.assertFalse(os.path.lexists(dead))  # never taken for a run again
        self.assertIn(f"could not remove {renamed}: simulated failure", out)
        self.assertIn("1 could not be removed", out)

        code, out, _err = self.clean("--older-than", "1d")
        self.assertEqual(code, 0)
        self.assertEqual(os.listdir(self.root), [])


class KeptDirectoriesTest(_OrphanTestBase):
    def test_only_kept_directories_of_older_runs_go_once_old_enough(self) -> None:
        dead = _dead_pid()
        kept = [_fake_kept(self.root, f"run-k{i}", created=1000.0 + i, pid=dead) for i in range(5)]

        code, _out, _err = self.clean("--older-than", "1d")
        self.assertEqual(code, 0)
        self.assertTrue(all(path.is_dir() for path in kept))

        result = orphans.sweep_dead_runs(str(self.root))
        self.assertEqual(result.removed, ())
        self.assertTrue(all(path.is_dir() for path in kept))

        code, out, _err = self.clean("--older-than", "0", "--verbose")
        self.assertEqual(code, 0)
        self.assertEqual([path.is_dir() for path in kept], [False, False, True, True, True])
        self.assertIn("kept directory of one of the 3 newest runs", out)

    def test_kept_directory_of_a_live_run_stays(self) -> None:
        tempcase.create_temp_file("live")
        live_id = os.path.basename(self.session.run_dir.path)
        mine = _fake_kept(self.root, live_id, created=1.0, pid=os.getpid())
        for i in range(3):
            _fake_kept(self.root, f"run-newer{i}", created=1000.0 + i, pid=1)

        code, out, _err = self.clean("--older-than", "0", "--verbose")

        self.assertEqual(code, 0)
        self.assertTrue((mine / "test_dir" / "f.txt").is_file())
        self.assertIn(f"{mine}: kept directory of a run that may be live", out)


class SweepTest(_OrphanTestBase):
    def test_sweep_removes_dead_run_of_this_host_only(self) -> None:
        dead = self.dead_run()
        live = tempcase.create_temp_file("live")
        foreign = _fake_run(self.root, pid=_dead_pid(), host=_OTHER_HOST)
        kept = _fake_kept(self.root, "run-keptxxxx", created=1.0, pid=_dead_pid())

        result = orphans.sweep_dead_runs(str(self.root))

        self.assertEqual(result.removed, (str(dead),))
        self.assertEqual(result.problems, ())
        self.assertTrue(result.finished)
        self.assertFalse(os.path.lexists(dead))
        self.assertTrue(live.is_file())
        self.assertTrue((foreign / "data.txt").is_file())
        self.assertTrue((kept / "test_dir" / "f.txt").is_file())

    def test_sweep_renames_a_dead_run_before_removing_it(self) -> None:
        dead = self.dead_run()
        given: list[str] = []

        def recording(path: str, **kw: Any) -> list[Problem]:
            given.append(path)
            return remove_path(path, **kw)

        with mock.patch.object(orphans, "remove_path", recording):
            result = orphans.sweep_dead_runs(str(self.root))

        self.assertEqual(result.removed, (str(dead),))
        self.assertEqual(len(given), 1)
        self.assertEqual(Path(given[0]).parent, self.root)
        self.assertTrue(Path(given[0]).name.startswith(f"garbage-{dead.name}-"))
        self.assertEqual(os.listdir(self.root), [])

    def test_sweep_stops_when_its_time_budget_is_spent(self) -> None:
        here = socket.gethostname()
        runs = [_fake_run(self.root, pid=_dead_pid(), host=here) for _ in range(3)]
        clock = [100.0]

        def slow_remove(path: str, **kw: Any) -> list[Problem]:
            clock[0] += 10.0  # every removal takes ten "seconds"
            return remove_path(path, **kw)

        with mock.patch("time.monotonic", lambda: clock[0]), mock.patch.object(
            orphans, "remove_path", slow_remove
        ):
            result = orphans.sweep_dead_runs(str(self.root), budget_seconds=5.0)

        self.assertFalse(result.finished)
        self.assertEqual(len(result.removed), 1)
        self.assertEqual(sum(path.exists() for path in runs), 2)

        result = orphans.sweep_dead_runs(str(self.root))
        self.assertTrue(result.finished)
        self.assertEqual(len(result.removed), 2)
        self.assertEqual(os.listdir(self.root), [])

    def test_sweep_with_nothing_to_do_lists_the_root_once(self) -> None:
        _fake_kept(self.root, "run-keptxxxx", created=1.0, pid=_dead_pid())
        listings = self._count_listings(lambda: orphans.sweep_dead_runs(str(self.root)))
        self.assertEqual(listings, 1)

        missing = self.scratch / "missing-root"
        listings = self._count_listings(lambda: orphans.sweep_dead_runs(str(missing)))
        self.assertLessEqual(listings, 1)
        self.assertFalse(missing.exists())

    def test_sweep_removes_garbage_of_an_interrupted_clean(self) -> None:
        garbage = self.root / "garbage-run-abcdefgh-0011aabb"
        (garbage / "sub").mkdir(parents=True)

        result = orphans.sweep_dead_runs(str(self.root))

        self.assertEqual(result.removed, (str(garbage),))
        self.assertFalse(os.path.lexists(garbage))

    def _count_listings(self, action: Callable[[], object]) -> int:
        with mock.patch("os.scandir", wraps=os.scandir) as scandir, mock.patch(
            "os.listdir", wraps=os.listdir
        ) as listdir:
            result = action()
        self.assertEqual(result, orphans.SweepResult())
        return scandir.call_count + listdir.call_count


class SandboxTest(_OrphanTestBase):
    """A run's sandbox (next to the per-user root) goes with its dead run, and
    nothing else that stands where a sandbox would."""

    def sandbox_of(self, run: Path) -> Path:
        path = Path(sandbox_path(str(run)))
        self.assertEqual(path.parent, self.base)
        return path

    def test_killed_detecting_run_goes_with_its_sandbox(self) -> None:
        run = self.killed_run(detecting=True)
        sandbox = self.sandbox_of(run)
        self.assertEqual(len(os.listdir(sandbox)), 1)

        code, out, err = self.clean()

        self.assertEqual((code, err), (0, ""))
        self.assertFalse(os.path.lexists(run))
        self.assertFalse(os.path.lexists(sandbox))
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith(f"removed       {sandbox}  1000 B  (sandbox of a run"))
        self.assertIn("dead process", lines[0])
        self.assertTrue(lines[1].startswith(f"removed       {run}  "))
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[2].startswith("total: removed 2 directories, 1."), lines[2])
        self.assertEqual(sorted(os.listdir(self.base)), [self.root.name])

    def test_sweep_removes_a_dead_run_and_its_sandbox(self) -> None:
        run = self.killed_run(detecting=True)
        sandbox = self.sandbox_of(run)

        result = orphans.sweep_dead_runs(str(self.root))

        self.assertEqual(result.removed, (str(sandbox), str(run)))
        self.assertEqual(result.problems, ())
        self.assertEqual(sorted(os.listdir(self.base)), [self.root.name])

    def test_sandbox_of_a_live_run_stays(self) -> None:
        live = Path(self.session.run_dir.path)
        sandbox = self.sandbox_of(live)
        sandbox.mkdir()
        (sandbox / "busy.txt").write_text("live", encoding="utf-8")

        self.assertEqual(orphans.sweep_dead_runs(str(self.root)), orphans.SweepResult())
        code, out, _err = self.clean("--older-than", "0")

        self.assertEqual(code, 0)
        self.assertEqual(out, "total: removed 0 directories, 0 B\n")
        self.assertEqual((sandbox / "busy.txt").read_text(encoding="utf-8"), "live")

    def test_link_where_the_sandbox_would_be_is_left_alone(self) -> None:
        dead = self.dead_run()
        outside = make_scratch(self)
        (outside / "precious.txt").write_text("keep me", encoding="utf-8")
        link = self.sandbox_of(dead)
        link.symlink_to(outside, target_is_directory=True)
        before = _snapshot(outside)

        code, out, _err = self.clean("--verbose")

        self.assertEqual(code, 0)
        self.assertFalse(os.path.lexists(dead))
        self.assertTrue(link.is_symlink())
        self.assertEqual(_snapshot(outside), before)
        self.assertIn(
            f"kept          {link}: a symbolic link, where the sandbox of a dead run would be",
            out,
        )
        self.assertIn(f"removed       {dead}", out)

    def test_run_stays_while_its_sandbox_cannot_be_removed(self) -> None:
        dead = self.dead_run()
        sandbox = self.sandbox_of(dead)
        (sandbox / "sub").mkdir(parents=True)

        def failing(path: str, **kw: Any) -> list[Problem]:
            if path == str(sandbox):
                return [Problem(path, "Operation not permitted")]
            return remove_path(path, **kw)

        with mock.patch.object(orphans, "remove_path", failing):
            result = orphans.sweep_dead_runs(str(self.root))
            code, out, _err = self.clean()
        self.assertEqual(result.removed, ())
        self.assertEqual([p.path for p in result.problems], [str(sandbox)])
        self.assertEqual(code, 1)
        self.assertIn(f"could not remove {sandbox}: Operation not permitted", out)
        self.assertTrue((dead / MARKER).is_file())  # so that the next clean finds both

        code, out, _err = self.clean()
        self.assertEqual(code, 0)
        self.assertFalse(os.path.lexists(sandbox))
        self.assertFalse(os.path.lexists(dead))

    def test_lone_sandbox_goes_once_older_than_the_cutoff(self) -> None:
        lone = self.sandbox_of(self.root / "run-gone1234")
        (lone / "sub").mkdir(parents=True)
        (lone / "sub" / "f.txt").write_text("left", encoding="utf-8")
        not_a_dir = self.sandbox_of(self.root / "run-file1234")
        not_a_dir.write_text("a file", encoding="utf-8")
        other_user = self.base / "tempcase-of-99999-run-abcd1234"
        other_user.mkdir()

        code, out, _err = self.clean("--verbose")
        self.assertEqual(code, 0)
        self.assertIn(f"kept          {lone}: sandbox of a run that is gone, younger than 1d", out)
        self.assertIn(f"kept          {not_a_dir}: not a directory", out)
        self.assertTrue((lone / "sub" / "f.txt").is_file())

        code, out, _err = self.clean("--older-than", "0")
        self.assertEqual(code, 0)
        self.assertIn(
            f"removed       {lone}  4 B  (sandbox of a run that is gone, older than 0)", out
        )
        self.assertFalse(os.path.lexists(lone))
        self.assertEqual(not_a_dir.read_text(encoding="utf-8"), "a file")
        self.assertTrue(other_user.is_dir())  # not this user's name


if __name__ == "__main__":
    unittest.main()
