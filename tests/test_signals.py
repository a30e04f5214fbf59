"""Killed and terminated runs: SIGTERM in order, the start-up sweep of dead runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path

from tests.support import REPO_ROOT, make_scratch

SLOW_SUITE = """
import os, time, unittest
import tempcase

class T(tempcase.TestCase):
    def test_slow(self):
        self.create_file("evidence.txt", "x")
        open(os.environ["READY"], "w").close()
        time.sleep(60)
"""

CHAINED = """
import os, signal, sys
import tempcase

def mine(signum, frame):
    with open(os.environ["CHAINED"], "w") as stream:
        stream.write("called")

signal.signal(signal.SIGTERM, mine)
sys.exit(tempcase.main(["test_slow", "--no-detect"]))
"""


@unittest.skipUnless(hasattr(signal, "SIGTERM") and os.name == "posix", "POSIX signals")
class SigtermTest(unittest.TestCase):
    def start(self, scratch: Path, *args: str) -> subprocess.Popen[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["TEMPCASE_BASETEMP"] = str(scratch / "base")
        env["READY"] = str(scratch / "ready")
        env["CHAINED"] = str(scratch / "chained")
        for name in ("TMPDIR", "TEMP", "TMP"):
            env[name] = str(scratch / "tmpdir")
        (scratch / "tmpdir").mkdir()
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=str(scratch),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self, scratch: Path, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while not (scratch / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                self.fail(f"the suite did not start its test:\n{out}\n{err}")
            time.sleep(0.05)

    def runs(self, scratch: Path) -> list[str]:
        root = scratch / "base" / f"tempcase-of-{os.getuid()}"
        return sorted(p.name for p in root.glob("run-*")) if root.exists() else []

    def test_sigterm_during_a_test_cleans_up_reports_and_ends_by_the_signal(self) -> None:
        scratch = make_scratch(self)
        (scratch / "test_slow.py").write_text(textwrap.dedent(SLOW_SUITE))
        # Without detection: other processes writing in /tmp are not this test's subject.
        process = self.start(scratch, "-m", "tempcase", "test_slow", "--no-detect")
        self.wait_ready(scratch, process)
        self.assertEqual(len(self.runs(scratch)), 1, "the run is live while the test sleeps")
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        self.assertEqual(process.returncode, -signal.SIGTERM, err)
        self.assertIn("tempcase: 1 path tracked in 1 test, all removed", err)
        self.assertEqual(self.runs(scratch), [], "the run directory is gone")
        self.assertEqual(os.listdir(scratch / "tmpdir"), [])

    def test_a_users_sigterm_handler_is_chained(self) -> None:
        scratch = make_scratch(self)
        (scratch / "test_slow.py").write_text(textwrap.dedent(SLOW_SUITE))
        (scratch / "chained_main.py").write_text(textwrap.dedent(CHAINED))
        process = self.start(scratch, "chained_main.py")
        self.wait_ready(scratch, process)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        self.assertEqual(process.returncode, -signal.SIGTERM, err)
        self.assertEqual((scratch / "chained").read_text(), "called")
        self.assertEqual(self.runs(scratch), [])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fake_run(root: Path, name: str, *, pid: int, host: str) -> Path:
    run = root / name
    run.mkdir(parents=True, mode=0o700)
    (run / "f.txt").write_text("left by a killed run")
    marker = {
        "tempcase_run": 1,
        "run_id": name,
        "pid": pid,
        "host": host,
        "started": time.time(),
        "created": time.time(),
        "python": "3",
    }
    (run / ".tempcase-run").write_text(json.dumps(marker))
    return run


class StartupSweepTest(unittest.TestCase):
    def test_the_runner_removes_dead_runs_of_this_host_at_start(self) -> None:
        scratch = make_scratch(self)
        root = scratch / "base" / f"tempcase-of-{os.getuid()}"
        dead = _fake_run(root, "run-deadbeef", pid=_dead_pid(), host=socket.gethostname())
        foreign = _fake_run(root, "run-otherhst", pid=_dead_pid(), host="another-host.invalid")
        unmarked = root / "run-nomarker"
        unmarked.mkdir()
        (scratch / "test_ok.py").write_text(
            "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
        )
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TEMPCASE_BASETEMP=str(scratch / "base"))
        done = subprocess.run(
            [sys.executable, "-m", "tempcase", "test_ok"],
            cwd=str(scratch),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertFalse(dead.exists(), "a dead run of this host is swept at start-up")
        self.assertTrue(foreign.exists(), "another host's run waits for tempcase clean")
        self.assertTrue(unmarked.exists(), "a directory without the marker is never touched")


if __name__ == "__main__":
    unittest.main()
