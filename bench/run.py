"""tempcase against hand-written code and every peer, in one run, with targets.

Run it with the temp dir on a memory file system, from a virtual environment
that has the peers of ``bench/requirements.txt`` (tempcase itself is
imported from this checkout)::

    TMPDIR=$(mktemp -d -p /dev/shm) python bench/run.py [--quick] [--output DIR]

It writes ``results.md`` (the tables), ``results.rst`` (the same for the
docs) and ``results.json`` (every sample) to the output folder, prints the
tables, the folder and the missed targets, and exits 0: it measures, it does
not gate.  ``bench/README.md`` says how to read
the tables.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # nothing is written in the checkout

from _report import PER_TEST_COMPARISONS, judge, markdown, restructured, summary  # noqa: E402
from _suites import (  # noqa: E402
    PROBE_ENV,
    SCENARIOS,
    Scenario,
    command,
    pythonpath,
    write_empty_suite,
    write_suite,
)

PEERS = ("testfixtures", "fixtures", "testtools", "pytest")
CROWD = 1000  # unrelated entries in the crowded temp dir


class Config:
    """How big and how often, for a full or a quick run."""

    def __init__(self, quick: bool) -> None:
        self.mode = "quick" if quick else "full"
        self.tests = [1000] if quick else [2000, 10000]
        self.repeat = 3 if quick else 5
        self.warmup_tests = 100 if quick else 200
        self.big_dirs, self.big_files, self.big_repeat = (200, 100, 3) if quick else (1000, 100, 3)
        self.memory_tests, self.memory_repeat = (5000, 2) if quick else (20000, 3)
        self.startup_repeat = 10 if quick else 20


class Bench:
    """One run of the harness: its work folder, its children, its samples."""

    def __init__(self, config: Config, work: Path, output: Path, profile: bool) -> None:
        self.config = config
        self.work = work
        self.output = output
        self.profile = profile
        self.python = sys.executable
        self.tmp = {"clean": work / "tmp-clean", "crowded": work / "tmp-crowded"}
        for path in self.tmp.values():
            path.mkdir()
        for i in range(CROWD):
            if i % 10:
                (self.tmp["crowded"] / f"unrelated-{i:04d}.txt").write_text("x")
            else:
                (self.tmp["crowded"] / f"unrelated-{i:04d}").mkdir()
        self.skipped: list[str] = []
        self.misses: list[str] = []

    # -- children -------------------------------------------------------

    def env(self, tmp: str = "clean", **extra: str) -> dict[str, str]:
        """The environment of a child: its temp dir, this checkout first on the path.

        Bytecode is cached in the work folder (not in the checkout), whatever
        PYTHONDONTWRITEBYTECODE says: users import compiled modules, and a
        child that compiled tempcase every time would time the compiler.
        TEMPCASE_* settings of the caller are dropped; pytest loads no
        plugins it was not asked for (an installed tempcase would add its own).
        """
        drop = ("TEMPCASE_", "PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        path = str(self.tmp[tmp])
        env.update(TMPDIR=path, TEMP=path, TMP=path, PYTHONPATH=pythonpath(ROOT),
                   PYTHONPYCACHEPREFIX=str(self.work / "pycache"),
                   PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **extra)
        return env

    def compile_suites(self) -> None:
        """Compile the generated suites now, so that no run pays for it (nor its memory)."""
        subprocess.run([self.python, "-m", "compileall", "-q", str(self.work / "suites")],
                       env=self.env(), stdout=subprocess.DEVNULL, check=True)

    def run_suite(self, scenario: Scenario, n: int, folder: Path, module: str,
                  wrap: Sequence[str] = ()) -> dict[str, Any]:
        """Run a generated suite once; return what its probe recorded."""
        probe = self.work / "probe.json"
        if probe.exists():
            probe.unlink()
        basetemp = self.work / "pytest-basetemp"
        cmd = command(scenario, module, self.python, str(basetemp))
        cmd = [cmd[0], *wrap, *cmd[1:]]
        env = self.env(scenario.tmp, **{PROBE_ENV: str(probe)})
        done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
        shutil.rmtree(basetemp, ignore_errors=True)
        if done.returncode != 0 or not probe.exists():
            tail = (done.stdout + done.stderr)[-2000:]
            raise RuntimeError(f"{scenario.key} N={n}: exit {done.returncode}\n{tail}")
        data: dict[str, Any] = json.loads(probe.read_text())
        data["per_test"] = (data["end"] - data["marks"][0]) / n
        return data

    # -- per-test scenarios -------------------------------------------------

    def per_test(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        scenarios = []
        for scenario in SCENARIOS.values():
            missing = [m for m in scenario.needs if importlib.util.find_spec(m) is None]
            if missing:
                self.skipped.append(f"{scenario.key}: {', '.join(missing)} not installed")
            else:
                scenarios.append(scenario)
        suites = {}
        for n in self.config.tests:
            for scenario in scenarios:
                folder = self.work / "suites" / f"{_slug(scenario.key)}-{n}"
                module = write_suite(scenario, folder, self.config.warmup_tests, n)
                suites[scenario.key, n] = (folder, module)
        self.compile_suites()
        samples: dict[tuple[str, int], list[float]] = {}
        failed: set[str] = set()

        def one(scenario: Scenario, n: int, keep: bool) -> None:
            if scenario.key in failed:
                return
            try:
                data = self.run_suite(scenario, n, *suites[scenario.key, n])
            except RuntimeError as exc:
                failed.add(scenario.key)
                self.skipped.append(f"{scenario.key}: the suite failed: {exc}")
                print(f"  {exc}", flush=True)
                return
            if keep:
                samples.setdefault((scenario.key, n), []).append(data["per_test"])

        smallest = min(self.config.tests)
        _say(f"warm-up: every scenario once at N={smallest:,}")
        for scenario in scenarios:
            one(scenario, smallest, keep=False)
        for rep in range(self.config.repeat):
            order = scenarios if rep % 2 == 0 else scenarios[::-1]
            for n in self.config.tests:
                started = time.monotonic()
                for scenario in order:
                    one(scenario, n, keep=True)
                line = ", ".join(
                    f"{s.key} {samples[s.key, n][-1] * 1e6:.1f}"
                    for s in scenarios if (s.key, n) in samples and s.key not in failed
                )
                _say(f"repetition {rep + 1}/{self.config.repeat}, N={n:,} "
                     f"({time.monotonic() - started:.0f} s), us/test: {line}")
        complete = {k: v for k, v in samples.items()
                    if k[0] not in failed and len(v) == self.config.repeat}
        table: dict[str, Any] = {}
        for scenario in scenarios:
            by_n = {str(n): summary(complete[scenario.key, n])
                    for n in self.config.tests if (scenario.key, n) in complete}
            if by_n:
                table[scenario.key] = {"label": scenario.label, "front": _front(scenario),
                                       "by_n": by_n,
                                       "samples": {str(n): complete[scenario.key, n]
                                                   for n in self.config.tests
                                                   if (scenario.key, n) in complete}}
        ratios = []
        for comparison in PER_TEST_COMPARISONS:
            by_n, verdicts = {}, []
            for n in self.config.tests:
                if not all((k, n) in complete for k in comparison.keys):
                    continue
                values = [comparison.value(lambda k, r=r, n=n: complete[k, n][r])
                          for r in range(self.config.repeat)]
                by_n[str(n)] = summary(values)
                verdict = judge(f"{comparison.name} at N={n:,}",
                                by_n[str(n)]["median"], comparison.target)
                if verdict is not None:
                    verdicts.append(verdict)
                    if not verdict.met:
                        self.misses.append(verdict.line())
                        self._profile_scenario(comparison.subject, n, suites)
            if by_n:
                ratios.append({
                    "name": comparison.name, "target": comparison.target,
                    "reference": comparison.reference, "by_n": by_n,
                    "verdict": ("met" if all(v.met for v in verdicts) else "missed")
                    if verdicts else None,
                })
        return table, ratios

    def _profile_scenario(self, key: str, n: int, suites: dict[Any, Any]) -> None:
        if not self.profile or (key, n) not in suites:
            return
        scenario = SCENARIOS[key]
        if scenario.front == "pytest":
            return
        stem = f"profile-{_slug(key)}"
        out = self.output / f"{stem}.prof"
        if out.exists():  # once per scenario, at the first size that missed
            return
        _say(f"profiling {key} at N={n:,} -> {out.name}")
        try:
            self.run_suite(scenario, n, *suites[key, n], wrap=("-m", "cProfile", "-o", str(out)))
        except RuntimeError as exc:
            print(f"  {exc}", flush=True)
            return
        _write_profile_text(out, self.output / f"{stem}.txt")

    # -- Big ------------------------------------------------------------

    def big(self) -> dict[str, Any]:
        config = self.config
        dirs, files = config.big_dirs, config.big_files
        modes = ("register", "tree-tempcase", "tree-rmtree", "tree-rm")
        samples: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        _say(f"Big: {dirs * files:,} files in {dirs:,} directories, "
             f"{config.big_repeat} repetitions")
        for rep in range(config.big_repeat):
            for mode in modes if rep % 2 == 0 else modes[::-1]:
                samples[mode].append(self.run_big(mode, dirs, files))
            _say(f"  repetition {rep + 1}: " + ", ".join(
                f"{m} {samples[m][-1]['remove']:.2f} s" for m in modes))
        rmtree = [s["remove"] for s in samples["tree-rmtree"]]

        def paired(mode: str) -> dict[str, float]:
            return summary([s["remove"] / r for s, r in zip(samples[mode], rmtree)])

        per_path = summary([s["register"] / s["paths"] for s in samples["register"]])
        paths = samples["register"][0]["paths"]
        rows = [
            {"what": f"registration of {paths:,} paths (register_directory/register_file "
                     "in a scope), per path",
             "stats": per_path, "scale": 1e6, "unit": " us", "target": 10e-6,
             "target_text": "<= 10 us"},
            {"what": f"cleanup of the {paths:,} registered paths (end of the scope)",
             "stats": summary([s["remove"] for s in samples["register"]]),
             "scale": 1, "unit": " s", "ratio": paired("register"), "target": 1.10,
             "target_text": "<= 1.10x"},
            {"what": "cleanup of the tree registered as one directory (end of the scope)",
             "stats": summary([s["remove"] for s in samples["tree-tempcase"]]),
             "scale": 1, "unit": " s", "ratio": paired("tree-tempcase"), "target": 1.10,
             "target_text": "<= 1.10x"},
            {"what": "shutil.rmtree of the tree", "stats": summary(rmtree), "scale": 1,
             "unit": " s"},
            {"what": "rm -rf of the tree (with its fork and exec)",
             "stats": summary([s["remove"] for s in samples["tree-rm"]]), "scale": 1,
             "unit": " s", "ratio": paired("tree-rm")},
        ]
        profile_modes = []
        for row, mode in zip(rows, ("register", "register", "tree-tempcase")):
            if "target" not in row:
                continue
            measured = row["ratio"]["median"] if "ratio" in row else row["stats"]["median"]
            scale = 1 if "ratio" in row else 1e6
            unit = "x" if "ratio" in row else " us"
            verdict = judge(f"Big: {row['what']}", measured * scale, row["target"] * scale, unit)
            assert verdict is not None
            row["verdict"] = verdict.word
            if not verdict.met:
                self.misses.append(verdict.line())
                profile_modes.append(mode)
        for mode in dict.fromkeys(profile_modes):
            self._profile_big(mode, dirs, files)
        return {"dirs": dirs, "files": dirs * files, "rows": rows, "samples": samples}

    def run_big(
        self, mode: str, dirs: int, files: int, wrap: Sequence[str] = ()
    ) -> dict[str, float]:
        root = self.tmp["clean"] / f"big-{mode}"
        cmd = [self.python, *wrap, str(HERE / "_big.py"), mode, str(root),
               "--dirs", str(dirs), "--files", str(files)]
        done = subprocess.run(cmd, env=self.env(), capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"Big {mode}: exit {done.returncode}\n{done.stderr[-2000:]}")
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def _profile_big(self, mode: str, dirs: int, files: int) -> None:
        if not self.profile:
            return
        out = self.output / f"profile-big-{mode}.prof"
        _say(f"profiling Big {mode} -> {out.name}")
        self.run_big(mode, dirs, files, wrap=("-m", "cProfile", "-o", str(out)))
        _write_profile_text(out, out.with_suffix(".txt"))

    # -- memory over many tests -------------------------------------------

    def memory(self) -> dict[str, Any]:
        n = self.config.memory_tests
        runs = [
            ("with tempcase (C.file under python -m tempcase, detection on)",
             SCENARIOS["C.file/tc"]),
            ("without tempcase (H under python -m unittest)", SCENARIOS["H"]),
        ]
        suites = []
        for _, scenario in runs:
            folder = self.work / "suites" / f"memory-{_slug(scenario.key)}-{n}"
            suites.append((folder, write_suite(scenario, folder, self.config.warmup_tests, n)))
        self.compile_suites()
        _say(f"memory: {n:,} tests, {self.config.memory_repeat} repetitions after a warm-up")
        for i in (0, 1):
            self.run_suite(runs[i][1], n, *suites[i])
        data: list[list[dict[str, Any]]] = [[], []]
        for rep in range(self.config.memory_repeat):
            for i in (0, 1) if rep % 2 == 0 else (1, 0):
                data[i].append(self.run_suite(runs[i][1], n, *suites[i]))
        rows = []
        for (label, _), samples in zip(runs, data):
            firsts, lasts = [], []
            for sample in samples:
                marks, chunk = sample["marks"], sample["end"]
                tenth = n / len(marks)
                firsts.append((marks[1] - marks[0]) / tenth)
                lasts.append((chunk - marks[-1]) / tenth)
            rows.append({
                "label": label,
                "maxrss": summary([s["maxrss"] for s in samples]),
                "growth": summary([s["rss_end"] - s["rss_start"] for s in samples]),
                "first": summary(firsts), "last": summary(lasts),
                "drift": summary([b / a for a, b in zip(firsts, lasts)]),
                "drifts": [b / a for a, b in zip(firsts, lasts)],
                "samples": samples,
            })
        with_tc, without = rows
        growth = with_tc["growth"]["median"] / (1024 * 1024)
        relative = statistics.median(a / b for a, b in zip(with_tc["drifts"], without["drifts"]))
        verdicts = [
            judge(f"RSS growth over {n:,} tests with tempcase", growth, 5.0, " MB"),
            judge("per-test time, last tenth / first tenth, tempcase's drift over the "
                  "plain run's", relative, 1.10),
        ]
        out = []
        for verdict in verdicts:
            assert verdict is not None
            out.append({"what": verdict.what, "text": f"{verdict.measured:.2f}{verdict.unit} "
                        f"(<= {verdict.limit}{verdict.unit})", "verdict": verdict.word})
            if not verdict.met:
                self.misses.append(verdict.line())
        extra = (with_tc["maxrss"]["median"] - without["maxrss"]["median"]) / (1024 * 1024)
        out.append({"what": "peak RSS, with tempcase minus without", "text": f"{extra:.1f} MB",
                    "verdict": "-"})
        return {"tests": n, "rows": rows, "verdicts": out}

    # -- start-up -------------------------------------------------------

    def startup(self) -> dict[str, Any]:
        folder = self.work / "suites" / "empty"
        module = write_empty_suite(folder)
        py = self.python
        commands = {
            "import unittest": ([py, "-c", "import unittest"], 'python -c "import unittest"'),
            "import tempcase": ([py, "-c", "import tempcase"], 'python -c "import tempcase"'),
            "unittest": ([py, "-m", "unittest", module], "python -m unittest (empty suite)"),
            "tempcase": ([py, "-m", "tempcase", module], "python -m tempcase (empty suite)"),
        }
        env = self.env()
        times: dict[str, list[float]] = {k: [] for k in commands}

        def once(key: str) -> float:
            started = time.perf_counter()
            done = subprocess.run(commands[key][0], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            elapsed = time.perf_counter() - started
            if done.returncode not in (0, 5):  # 5: no tests ran (3.12+)
                raise RuntimeError(f"{commands[key][1]}: exit {done.returncode}\n{done.stderr}")
            return elapsed

        repeat = self.config.startup_repeat
        _say(f"start-up: {repeat} repetitions")
        keys = list(commands)
        for key in keys:
            once(key)  # warm-up
        for rep in range(repeat):
            for key in keys if rep % 2 == 0 else keys[::-1]:
                times[key].append(once(key))
        rows = []
        for key in keys:
            row: dict[str, Any] = {"command": commands[key][1], "stats": summary(times[key]),
                                   "samples": times[key]}
            against = {"import tempcase": "import unittest", "tempcase": "unittest"}.get(key)
            if against:
                row["difference"] = summary([a - b for a, b in zip(times[key], times[against])])
            if key == "import tempcase":
                verdict = judge("import tempcase - import unittest",
                                row["difference"]["median"] * 1e3, 10.0, " ms")
                assert verdict is not None
                row["target_text"], row["verdict"] = "<= 10 ms", verdict.word
                if not verdict.met:
                    self.misses.append(verdict.line())
                    if self.profile:
                        self._profile_import(env, folder)
            rows.append(row)
        return {"rows": rows}

    def _profile_import(self, env: dict[str, str], folder: Path) -> None:
        out = self.output / "profile-import-tempcase.txt"
        _say(f"profiling the import -> {out.name}")
        done = subprocess.run([self.python, "-X", "importtime", "-c", "import tempcase"],
                              cwd=folder, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        out.write_text(done.stderr)


def _write_profile_text(prof: Path, text: Path) -> None:
    import io
    import pstats

    stream = io.StringIO()
    stats = pstats.Stats(str(prof), stream=stream)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    text.write_text(stream.getvalue())


def _front(scenario: Scenario) -> str:
    return {"unittest": "python -m unittest", "tempcase": "python -m tempcase",
            "tempcase-nodetect": "python -m tempcase --no-detect",
            "pytest": "pytest"}[scenario.front]


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in key)


def _say(text: str) -> None:
    print(text, flush=True)


def _fs_type(path: str) -> str:
    """The file system type holding *path* (Linux), else "unknown"."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as stream:
            lines = stream.readlines()
    except OSError:
        return "unknown"
    real, best, found = os.path.realpath(path), "", "unknown"
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        point = fields[4].replace("\\040", " ")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, found = point, fields[fields.index("-") + 1]
    return found


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _checkout() -> str:
    """The commit measured, and whether tempcase/ had changes not committed."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tempcase"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes in tempcase/" if dirty else head


def _peers() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in PEERS:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller suites and fewer repetitions (about 2 minutes)")
    parser.add_argument("--output", metavar="DIR",
                        help="where results.md and results.json go (default: a new folder "
                             "in the temp dir)")
    parser.add_argument("--repeat", type=int, help="repetitions of each per-test scenario")
    parser.add_argument("--tests", type=int, nargs="+", metavar="N", help="suite sizes")
    parser.add_argument("--parts", nargs="+", choices=("per-test", "big", "memory", "startup"),
                        default=["per-test", "big", "memory", "startup"],
                        help="what to measure (default: all)")
    parser.add_argument("--profile", action="store_true",
                        help="profile the tempcase side of each missed target with cProfile "
                             "(files in the output folder)")
    parser.add_argument("--note", default="", help="a line about the machine, for the results")
    args = parser.parse_args(argv)
    config = Config(args.quick)
    if args.repeat:
        config.repeat = args.repeat
    if args.tests:
        config.tests = sorted(args.tests)
    if args.output:
        output = Path(args.output).resolve()
        output.mkdir(parents=True, exist_ok=True)
    else:
        output = Path(tempfile.mkdtemp(prefix="tempcase-bench-"))
    tmp_fs = _fs_type(tempfile.gettempdir())
    meta: dict[str, Any] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "tmp_fs": tmp_fs,
        "tmp_dir": tempfile.gettempdir(),
        "mode": config.mode,
        "tests": config.tests,
        "repeat": config.repeat,
        "load_start": _load(),
        "peers": _peers(),
        "checkout": _checkout(),
        "note": args.note,
    }
    _say(f"python {meta['python']}, temp dir {meta['tmp_dir']} on {tmp_fs}, {config.mode} run, "
         f"load {meta['load_start']}")
    work = Path(tempfile.mkdtemp(prefix="tempcase-bench-work-"))
    started = time.monotonic()
    results: dict[str, Any] = {"meta": meta}
    try:
        bench = Bench(config, work, output, args.profile)
        parts: dict[str, Callable[[], Any]] = {
            "per-test": bench.per_test, "big": bench.big,
            "memory": bench.memory, "startup": bench.startup,
        }
        for part in ("per-test", "big", "memory", "startup"):
            if part not in args.parts:
                continue
            try:
                value = parts[part]()
            except RuntimeError as exc:
                bench.skipped.append(f"{part}: {exc}")
                _say(f"{part} failed: {exc}")
                continue
            if part == "per-test":
                results["per_test"], results["ratios"] = value
            else:
                results[part] = value
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["load_end"] = _load()
    meta["seconds"] = round(time.monotonic() - started)
    results["misses"] = bench.misses
    results["skipped"] = bench.skipped
    text = markdown(results)
    (output / "results.md").write_text(text, encoding="utf-8")
    (output / "results.rst").write_text(restructured(text), encoding="utf-8")
    (output / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print()
    print(text)
    print(f"{meta['seconds']} s; results in {output}")
    if bench.misses:
        print(f"{len(bench.misses)} target(s) missed (a measurement, not a gate: exit 0):")
        for miss in bench.misses:
            print(f"  {miss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
