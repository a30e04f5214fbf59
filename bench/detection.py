"""Detection overhead: tempcase's runner against plain unittest, in one run.

Run on a memory file system, so that the disk does not hide everything else::

    TMPDIR=$(mktemp -d -p /dev/shm) python bench/detection.py

Each temp dir setting and workload runs in a fresh child process, which
builds suites of N tests and runs them under each runner in turn, several
rounds, the order of the runners alternating from round to round.  Only the
tests are timed (not interpreter start-up, loading, the runner's set-up such
as installing the detector, or the end of the run), after 200 tests run
first in the same run.  A ratio is taken within each round, between runs a
few hundred milliseconds apart in the same process, and the median of the
rounds' ratios is the result: on a shared machine, whose speed drifts by more
than the few per cent judged here, that is what tells the runners apart.  The
workloads:

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
detection (medians of the rounds' ratios; the spread is printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import TextIO

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


RUNNERS = ("unittest", "tempcase-nodetect", "tempcase")


def time_suite(runner_name: str, workload: str, count: int, devnull: TextIO) -> float:
    """Seconds per test of one run of the suite under *runner_name*."""
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
    return (marks[1] - marks[0]) / count


def child(workload: str, count: int, rounds: int) -> None:
    """Time every runner on *workload*, *rounds* times in alternating order;
    print each runner's seconds per test, one per round, as JSON."""
    sys.path.insert(0, str(ROOT))
    devnull = open(os.devnull, "w")
    times: dict[str, list[float]] = {name: [] for name in RUNNERS}
    for round_number in range(rounds):
        shift = round_number % len(RUNNERS)
        order = RUNNERS[shift:] + RUNNERS[:shift]
        if round_number % 2:
            order = order[::-1]
        for runner_name in order:
            times[runner_name].append(time_suite(runner_name, workload, count, devnull))
    print(json.dumps(times))


def run_child(
    workload: str, count: int, rounds: int, env: dict[str, str]
) -> dict[str, list[float]]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, str(count), str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    times: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return times


def ratios(times: dict[str, list[float]], over: str, under: str) -> list[float]:
    """The ratio of two runners' times within each round."""
    return [a / b for a, b in zip(times[over], times[under])]


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
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, count, rounds = args.child
        child(workload, int(count), int(rounds))
        return 0

    base = tempfile.mkdtemp(prefix="tempcase-bench-")
    sys.path.insert(0, str(ROOT))
    from tempcase._leaks import _mount_type

    print(
        f"python {sys.version.split()[0]}, temp dir {tempfile.gettempdir()} "
        f"({_mount_type(base) or 'unknown file system'}), {args.tests} tests, "
        f"{args.rounds} rounds; median per test, and median [min-max] of the rounds' ratios"
    )
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
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
                    results[(setting, workload)] = run_child(workload, args.tests, args.rounds, env)
            finally:
                if writer is not None:
                    writer.terminate()
                    writer.wait()
            print(f"\n{setting}:")
            print(
                f"  {'workload':8} {'unittest':>10} {'no detect':>10} {'detect':>10}"
                f"  {'detect/unittest':>21} {'detect/no detect':>21}"
            )
            for workload in WORKLOADS:
                times = results[(setting, workload)]
                plain, off, on = (statistics.median(times[r]) * 1e6 for r in RUNNERS)
                cells = [
                    _ratio_cell(ratios(times, "tempcase", under))
                    for under in ("unittest", "tempcase-nodetect")
                ]
                print(
                    f"  {workload:8} {plain:8.1f}us {off:8.1f}us {on:8.1f}us"
                    f"  {cells[0]:>21} {cells[1]:>21}"
                )
    finally:
        subprocess.run(["rm", "-rf", base], check=False)
    print(
        "\ntargets (temp dir clean and with 1,000 entries; the busy run is reported, not judged):"
    )
    for workload, (against, limit) in TARGETS.items():
        for setting in ("clean", "1000 entries"):
            ratio = statistics.median(ratios(results[(setting, workload)], "tempcase", against))
            met = ratio <= limit
            ok = ok and met
            print(
                f"  {workload:8} {setting:13} detect / {against:18} {ratio:6.3f}x "
                f"(target <= {limit}x): {'met' if met else 'MISSED'}"
            )
    return 0 if ok else 1


def _ratio_cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.2f}-{max(values):.2f}]"


if __name__ == "__main__":
    raise SystemExit(main())
