"""Memory over many tests: RSS growth of 20,000 file-making tests.

Run on a memory file system, so that the disk does not dominate::

    TMPDIR=$(mktemp -d -p /dev/shm) python bench/memory.py

It runs the same suite twice in one process, each after a warm-up: once with
tempcase's mixin (each test writes a file with ``self.create_file``), once
with the stdlib peer (``tempfile.TemporaryDirectory`` entered with
``enterContext``-style cleanup).  It prints the resident set size growth of
each, the registry's size afterwards, and exits 1 if tempcase grows more
than the target (5 MB).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempcase
import tempcase._session

TARGET_BYTES = 5 * 1024 * 1024


def rss_bytes() -> int:
    """The current resident set size (Linux), else the peak (other POSIX)."""
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class WithTempcase(tempcase.TestCase):
    def test_it(self) -> None:
        self.create_file("data/f.txt", "x" * 100)


class WithTempfile(unittest.TestCase):
    def test_it(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        Path(directory.name, "data").mkdir()
        Path(directory.name, "data", "f.txt").write_text("x" * 100)


def run(case: type[unittest.TestCase], count: int) -> float:
    suite = unittest.TestSuite(case("test_it") for _ in range(count))
    result = unittest.TestResult()
    started = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - started
    if not result.wasSuccessful() or result.testsRun != count:
        raise SystemExit(f"{case.__name__}: the suite failed: {result.errors or result.failures}")
    return elapsed


def measure(case: type[unittest.TestCase], count: int, warmup: int) -> tuple[int, float]:
    run(case, warmup)
    gc.collect()
    before = rss_bytes()
    elapsed = run(case, count)
    gc.collect()
    return rss_bytes() - before, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/memory.py", description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    args = parser.parse_args()
    print(f"temp dir: {tempfile.gettempdir()}  python {sys.version.split()[0]}")
    results = {}
    for case in (WithTempfile, WithTempcase):
        growth, elapsed = measure(case, args.tests, args.warmup)
        results[case.__name__] = growth
        print(
            f"{case.__name__:14} {args.tests} tests  RSS growth {growth / 1024:8.0f} KiB  "
            f"{elapsed / args.tests * 1e6:6.1f} us/test"
        )
    stats = tempcase.get_stats()
    registry = tempcase._session.get_session().registry
    print(
        f"registry afterwards: {len(registry.live())} live context(s), "
        f"{stats.tracked_paths} tracked paths, {stats.removed} removed"
    )
    ok = results["WithTempcase"] < TARGET_BYTES and stats.tracked_paths == 0
    print(f"target: tempcase RSS growth < {TARGET_BYTES // 1024} KiB: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
