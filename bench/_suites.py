"""The per-test scenarios, and the generated suites that run them.

Each scenario is one test body, repeated N times in a generated module, run
by a real front end (``python -m unittest``, ``python -m tempcase`` or
``pytest``) in a fresh child process.  The time is taken inside that process
around the run only: a probe module records a mark when the first measured
test starts (after a short in-process warm-up) and the end when the module's
last fixture (unittest's ``tearDownModule``, pytest's test loop) is done, so
the interpreter's start-up, the imports and the loading of the tests are not
counted.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PROBE_ENV",
    "SCENARIOS",
    "Scenario",
    "command",
    "write_empty_suite",
    "write_suite",
]

# Where the probe writes its JSON (not TEMPCASE_*: tempcase reads those).
PROBE_ENV = "BENCH_PROBE_OUT"
TESTS_PER_CLASS = 20
CHUNKS = 10

# The three small files every file-making scenario writes, one in a subdirectory.
_CONTENTS = {
    "a.txt": '{"name": "a", "value": 1}\n',
    "b.txt": "[section]\nkey = value\n",
    "sub/c.txt": "print('hello')\n",
}


def _raw_writes(directory: str) -> list[str]:
    """The hand-written way: ``open`` and ``write``, a subdirectory by ``os.mkdir``."""
    lines = []
    for name, text in _CONTENTS.items():
        parts = ", ".join(repr(part) for part in name.split("/"))
        if "/" in name:
            lines.append(f"os.mkdir(os.path.join({directory}, {name.split('/')[0]!r}))")
        lines.append(f'with open(os.path.join({directory}, {parts}), "w", encoding="utf-8") as f:')
        lines.append(f"    f.write({text!r})")
    return lines


def _files_literal() -> str:
    return "{" + ", ".join(f"{name!r}: {text!r}" for name, text in _CONTENTS.items()) + "}"


@dataclass(frozen=True)
class Scenario:
    """One per-test workload under one front end.

    :ivar key: short name used in the tables (``C.file/tc``).
    :ivar label: what it is, in words.
    :ivar front: ``unittest``, ``tempcase``, ``tempcase-nodetect`` or ``pytest``.
    :ivar base: the test class (unittest) or ``None`` for pytest functions.
    :ivar body: the test's lines.
    :ivar imports: import lines the module needs.
    :ivar tmp: ``clean`` or ``crowded`` (1,000 unrelated entries in the temp dir).
    :ivar needs: modules that must be importable (peers), else it is skipped.
    :ivar fixture: the pytest fixture the function takes, if any.
    """

    key: str
    label: str
    front: str
    base: str | None
    body: tuple[str, ...]
    imports: tuple[str, ...] = ()
    tmp: str = "clean"
    needs: tuple[str, ...] = ()
    fixture: str = ""

    def on(self, key: str, front: str, label: str, tmp: str = "clean") -> Scenario:
        """The same test body under another front end or temp dir."""
        return Scenario(
            key, label, front, self.base, self.body, self.imports, tmp, self.needs, self.fixture
        )


def _scenarios() -> list[Scenario]:
    empty = Scenario("F", "empty unittest.TestCase test", "unittest", "unittest.TestCase",
                     ("pass",))
    tempcase_empty = Scenario("T", "empty tempcase.TestCase test", "unittest",
                              "tempcase.TestCase", ("pass",), ("import tempcase",))
    hand = Scenario(
        "H",
        "mkdtemp, 3 files (one in a subdirectory), addCleanup(shutil.rmtree)",
        "unittest",
        "unittest.TestCase",
        ("d = tempfile.mkdtemp()", "self.addCleanup(shutil.rmtree, d)", *_raw_writes("d")),
    )
    if sys.version_info >= (3, 11):
        enter = ("d = self.enterContext(tempfile.TemporaryDirectory())",)
        how = "enterContext"
    else:
        enter = ("t = tempfile.TemporaryDirectory()", "self.addCleanup(t.cleanup)", "d = t.name")
        how = "addCleanup"
    temporary_directory = Scenario(
        "P.tempfile", f"tempfile.TemporaryDirectory via {how}, raw writes", "unittest",
        "unittest.TestCase", (*enter, *_raw_writes("d")),
    )
    testfixtures_raw = Scenario(
        "P.testfixtures", "testfixtures.TempDirectory, raw writes", "unittest",
        "unittest.TestCase",
        ("t = TempDirectory()", "self.addCleanup(t.cleanup)", "d = t.path", *_raw_writes("d")),
        ("from testfixtures import TempDirectory",), needs=("testfixtures",),
    )
    writes = [f"t.write({name!r}, {text!r})" for name, text in _CONTENTS.items()]
    testfixtures_write = Scenario(
        "P.testfixtures.write", "testfixtures.TempDirectory, its write()", "unittest",
        "unittest.TestCase", ("t = TempDirectory()", "self.addCleanup(t.cleanup)", *writes),
        ("from testfixtures import TempDirectory",), needs=("testfixtures",),
    )
    testtools_empty = Scenario(
        "F.testtools", "empty testtools.TestCase test (the floor of P.fixtures)", "unittest",
        "testtools.TestCase", ("pass",), ("import testtools",), needs=("testtools",),
    )
    fixtures_tempdir = Scenario(
        "P.fixtures", "fixtures.TempDir in a testtools.TestCase, raw writes", "unittest",
        "testtools.TestCase",
        ("d = self.useFixture(fixtures.TempDir()).path", *_raw_writes("d")),
        ("import fixtures", "import testtools"), needs=("fixtures", "testtools"),
    )
    pytest_empty = Scenario("F.pytest", "empty pytest function (the floor of P.pytest)",
                            "pytest", None, ("pass",), needs=("pytest",))
    pytest_tmp_path = Scenario(
        "P.pytest", "pytest function with tmp_path, raw writes", "pytest", None,
        ("d = str(tmp_path)", *_raw_writes("d")), needs=("pytest",), fixture="tmp_path",
    )
    helper_file = Scenario(
        "C.file", "tempcase self.create_file x3 (one nested name)", "unittest",
        "tempcase.TestCase",
        tuple(f"self.create_file({name!r}, {text!r})" for name, text in _CONTENTS.items()),
        ("import tempcase",),
    )
    helper_dir = Scenario(
        "C.dir", "tempcase self.create_temp_directory(files), 3 files", "unittest",
        "tempcase.TestCase", (f"self.create_temp_directory({_files_literal()})",),
        ("import tempcase",),
    )
    return [
        empty,
        tempcase_empty,
        hand,
        temporary_directory,
        testfixtures_raw,
        testfixtures_write,
        testtools_empty,
        fixtures_tempdir,
        pytest_empty,
        pytest_tmp_path,
        helper_file,
        helper_dir,
        helper_file.on("C.file/tc", "tempcase", "C.file under python -m tempcase (detection on)"),
        helper_dir.on("C.dir/tc", "tempcase", "C.dir under python -m tempcase (detection on)"),
        helper_file.on("C.file/tc-nd", "tempcase-nodetect",
                       "C.file under python -m tempcase --no-detect"),
        helper_dir.on("C.dir/tc-nd", "tempcase-nodetect",
                      "C.dir under python -m tempcase --no-detect"),
        empty.on("L.F", "tempcase", "F under python -m tempcase, 1,000 entries in the temp dir",
                 "crowded"),
        tempcase_empty.on("L.T", "tempcase",
                          "T under python -m tempcase, 1,000 entries in the temp dir", "crowded"),
        helper_file.on("L.C.file", "tempcase",
                       "C.file under python -m tempcase, 1,000 entries in the temp dir",
                       "crowded"),
        helper_dir.on("L.C.dir", "tempcase",
                      "C.dir under python -m tempcase, 1,000 entries in the temp dir", "crowded"),
    ]


SCENARIOS: dict[str, Scenario] = {s.key: s for s in _scenarios()}

_PROBE = '''\
"""Marks and the end of a generated suite's run, written as JSON at the end."""
import json, os, resource, sys, time

_perf = time.perf_counter
marks = []
_rss = []


def _current_rss():
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def mark():
    marks.append(_perf())
    if len(marks) == 1:
        _rss.append(_current_rss())


def finish():
    end = _perf()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = {
        "marks": marks,
        "end": end,
        "rss_start": _rss[0] if _rss else None,
        "rss_end": _current_rss(),
        "maxrss": peak if sys.platform == "darwin" else peak * 1024,
    }
    with open(os.environ["BENCH_PROBE_OUT"], "w") as stream:
        json.dump(data, stream)
'''

_CONFTEST = '''\
import pytest

import _probe


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session):
    yield
    _probe.finish()
'''


def _module_name(scenario: Scenario) -> str:
    return "test_" + "".join(c if c.isalnum() else "_" for c in scenario.key.lower())


def _block(names: list[str], body: tuple[str, ...], signature: str, marked: bool,
           indent: str) -> list[str]:
    """Tests *names* with *body*: one function, the others its aliases.

    A marked block's first test records a mark first, so it gets its own
    function; aliases cost nothing at run time and keep the module small.
    """
    lines: list[str] = []
    if marked:
        lines += ["", f"{indent}def {names[0]}({signature}):", f"{indent}    _probe.mark()"]
        lines += [f"{indent}    {line}" for line in body]
        names = names[1:]
    if names:
        lines += ["", f"{indent}def {names[0]}({signature}):"]
        lines += [f"{indent}    {line}" for line in body]
        lines += [f"{indent}{name} = {names[0]}" for name in names[1:]]
    return lines


def _unittest_source(scenario: Scenario, warmup: int, count: int) -> str:
    lines = ["import os, shutil, tempfile, unittest", "import _probe", *scenario.imports, ""]
    lines += ["", "def tearDownModule():", "    _probe.finish()", ""]
    per_class = TESTS_PER_CLASS
    classes = -(-count // per_class)
    chunk = max(1, classes // CHUNKS)
    plan = [("A_Warm", i, False) for i in range(-(-warmup // per_class))]
    plan += [("B_Run", i, i % chunk == 0) for i in range(classes)]
    names = [f"test_{n:02d}" for n in range(per_class)]
    for prefix, index, marked in plan:
        lines += ["", f"class {prefix}_{index:05d}({scenario.base}):"]
        lines += _block(names, scenario.body, "self", marked, "    ")
    return "\n".join(lines) + "\n"


def _pytest_source(scenario: Scenario, warmup: int, count: int) -> str:
    lines = ["import os, shutil, tempfile", "import _probe", *scenario.imports, ""]
    chunk = max(1, count // CHUNKS)
    blocks = [(0, warmup, False)] if warmup else []
    blocks += [
        (warmup + start, min(chunk, count - start), True) for start in range(0, count, chunk)
    ]
    for start, size, marked in blocks:
        names = [f"test_{index:06d}" for index in range(start, start + size)]
        lines += _block(names, scenario.body, scenario.fixture, marked, "")
    return "\n".join(lines) + "\n"


def write_suite(scenario: Scenario, folder: Path, warmup: int, count: int) -> str:
    """Write the suite of *scenario* in *folder*; return the module name to run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_probe.py").write_text(_PROBE, encoding="utf-8")
    module = _module_name(scenario)
    if scenario.front == "pytest":
        (folder / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        source = _pytest_source(scenario, warmup, count)
    else:
        source = _unittest_source(scenario, warmup, count)
    (folder / f"{module}.py").write_text(source, encoding="utf-8")
    return module


def write_empty_suite(folder: Path) -> str:
    """A module with no tests, for the start-up of the runners."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty_suite.py").write_text('"""No tests."""\n', encoding="utf-8")
    return "empty_suite"


def command(scenario: Scenario, module: str, python: str, basetemp: str | None = None) -> list[str]:
    """The command line that runs *module* under the scenario's front end."""
    if scenario.front == "pytest":
        assert basetemp is not None
        return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                f"--basetemp={basetemp}", f"{module}.py"]
    if scenario.front == "unittest":
        return [python, "-m", "unittest", "-q", module]
    extra = ["--no-detect"] if scenario.front == "tempcase-nodetect" else []
    return [python, "-m", "tempcase", "-q", module, *extra]


def pythonpath(root: Path) -> str:
    """PYTHONPATH with the checkout first, so children import its tempcase."""
    rest = os.environ.get("PYTHONPATH")
    return str(root) if not rest else os.pathsep.join([str(root), rest])
