"""Detection overhead: tempcase's runner against plain unittest, in one run.

Run on a memory file system, so that the disk does not hide everything else::

    TMPDIR=$(mktemp -d -p /dev/shm) python bench/detection.py

Each configuration runs in a fresh child process, which builds a suite of N
tests and times only the tests (not interpreter start-up, loading, the
runner's set-up such as installing the detector, or the end of the run),
after 200 tests run first in the same run, several times, keeping the
fastest.  The workloads:

- ``empty``: tests that do nothing;
- ``mkdir3``: tests that each make a directory with 3 files through
  ``tempfile`` and remove it (a legacy test: the directory is made in the
  sandbox, which detection must look at after the test);
- ``helpers3``: the same with tempcase's helper
  (``self.create_temp_directory`` with 3 files, in a ``tempcase.TestCase``):
  the files are made in tempcase's own area, which detection does not compare.

The runners: plain ``unittest.TextTestRunner``; tempcase's runner with
detection (the sandbox and the per-boundary diffs) and without it.  The
temp dir: clean; holding 1,000 unrelated entries; and with another process
creating and removing files in it all the while.

Targets (issue 4): empty tests with detection at most 2.0x plain unittest;
file-making tests (both kinds) with detection at most 1.05x the same without
detection.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "empty": ("unittest", 2.0),
    "mkdir3": ("tempcase-nodetect", 1.05),
    "helpers3": ("tempcase-nodetect", 1.05),
}
WORKLOADS = tuple(TARGETS)


WARM_UP = 200  # tests run before the timed ones, in the same run


def make_suite(workload: str, count: int, marks: list[float]) -> unittest.TestSuite:
    """WARM_UP tests, a mark, *count* tests, a mark: the time between the
    marks is the tests' alone (not the runner's start, the detector's set-up
    or the end of the run)."""

    class Empty(unittest.TestCase):
        def test_it(self) -> None:
            pass

    class MakeDir(unittest.TestCase):
        def test_it(self) -> None:
            with tempfile.TemporaryDirectory() as directory:
                for name in ("a.txt", "b.txt", "c.txt"):
                    with open(os.path.join(directory, name), "w") as stream:
                        stream.write("x")

    import tempcase

    class Helpers(tempcase.TestCase):
        def test_it(self) -> None:
            self.create_temp_directory({"a.txt": "x", "b.txt": "x", "c.txt": "x"})

    case: type[unittest.TestCase] = {"empty": Empty, "mkdir3": MakeDir, "helpers3": Helpers}[
        workload
    ]

    def mark(test: unittest.TestCase) -> None:
        marks.append(time.perf_counter())

    # The marks are tests of the same class, so no class boundary is added.
    timed = type(case.__name__, (case,), {"test_mark": mark})
    suite = unittest.TestSuite(timed("test_it") for _ in range(WARM_UP))
    suite.addTest(timed("test_mark"))
    suite.addTests(timed("test_it") for _ in range(count))
    suite.addTest(timed("test_mark"))
    return suite


def child(runner_name: str, workload: str, count: int, repeat: int) -> None:
    """Time one configuration; print the fastest seconds per test as JSON."""
    sys.path.insert(0, str(ROOT))
    devnull = open(os.devnull, "w")
    best = float("inf")
    for _ in range(repeat):
        marks: list[float] = []
        suite = make_suite(workload, count, marks)
        if runner_name == "unittest":
            runner: unittest.TextTestRunner = unittest.TextTestRunner(stream=devnull)
        else:
            from tempcase._config import Settings
            from tempcase._runner import TempCaseRunner

            detect = runner_name == "tempcase"
            runner = TempCaseRunner(stream=devnull, settings=Settings(detect=detect))
        result = runner.run(suite)
        if not result.wasSuccessful():
            raise SystemExit(f"{runner_name}/{workload}: the suite failed")
        best = min(best, marks[1] - marks[0])
    print(json.dumps({"per_test": best / count}))


def run_child(
    runner_name: str, workload: str, count: int, repeat: int, env: dict[str, str]
) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", runner_name, workload, str(count), str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["per_test"])


def start_writer(directory: str) -> subprocess.Popen[bytes]:
    """Another process creating and removing a file in *directory*, bounded in time."""
    code = (
        "import os, sys, time\n"
        "d = sys.argv[1]; end = time.time() + 600\n"
        "while time.time() < end:\n"
        "    p = os.path.join(d, 'other-%d' % os.getpid())\n"
        "    open(p, 'w').close(); os.remove(p); time.sleep(0.001)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, directory])


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/detection.py", description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runner_name, workload, count, repeat = args.child
        child(runner_name, workload, int(count), int(repeat))
        return 0

    base = tempfile.mkdtemp(prefix="tempcase-bench-")
    sys.path.insert(0, str(ROOT))
    from tempcase._leaks import _mount_type

    print(
        f"python {sys.version.split()[0]}, temp dir {tempfile.gettempdir()} "
        f"({_mount_type(base) or 'unknown file system'}), {args.tests} tests, "
        f"best of {args.repeat}"
    )
    results: dict[tuple[str, str, str], float] = {}
    ok = True
    try:
        for setting in ("clean", "1000 entries", "busy"):
            tmp = os.path.join(base, setting.replace(" ", "-"))
            os.mkdir(tmp)
            env = dict(
                os.environ,
                TMPDIR=tmp,
                TEMP=tmp,
                TMP=tmp,
                TEMPCASE_BASETEMP=os.path.join(base, "tempcase-base"),
            )
            if setting == "1000 entries":
                for i in range(1000):
                    Path(tmp, f"unrelated-{i:04d}").touch()
            writer = start_writer(tmp) if setting == "busy" else None
            try:
                for workload in WORKLOADS:
                    for runner_name in ("unittest", "tempcase-nodetect", "tempcase"):
                        per_test = run_child(runner_name, workload, args.tests, args.repeat, env)
                        results[(setting, workload, runner_name)] = per_test
            finally:
                if writer is not None:
                    writer.terminate()
                    writer.wait()
            print(f"\n{setting}:")
            print(
                f"  {'workload':8} {'unittest':>10} {'no detect':>10} {'detect':>10}"
                f"  {'detect/unittest':>15} {'detect/no detect':>16}"
            )
            for workload in WORKLOADS:
                plain, off, on = (
                    results[(setting, workload, r)] * 1e6
                    for r in ("unittest", "tempcase-nodetect", "tempcase")
                )
                print(
                    f"  {workload:8} {plain:8.1f}us {off:8.1f}us {on:8.1f}us"
                    f"  {on / plain:14.2f}x {on / off:15.2f}x"
                )
    finally:
        subprocess.run(["rm", "-rf", base], check=False)
    print(
        "\ntargets (temp dir clean and with 1,000 entries; the busy run is reported, not judged):"
    )
    for workload, (against, limit) in TARGETS.items():
        for setting in ("clean", "1000 entries"):
            ratio = results[(setting, workload, "tempcase")] / results[(setting, workload, against)]
            met = ratio <= limit
            ok = ok and met
            print(
                f"  {workload:8} {setting:13} detect / {against:18} {ratio:5.2f}x "
                f"(target <= {limit}x): {'met' if met else 'MISSED'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
