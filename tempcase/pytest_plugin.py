"""The pytest plugin: tempcase's contexts, leak detection and report under pytest.

Loaded by pytest's ``pytest11`` entry point when tempcase is installed.  By
default it only gives every test item, class and module its tempcase context,
so that ``TempFileTestCase`` behaves as under unittest and the module-level
functions and the ``tempcase_dir`` fixture work in plain test functions; its
report section appears only when it has something to show or an option asks
for it.  Under pytest-xdist each worker has its own run, sandbox and
contexts, and sends what it found to the controller, which reports it all.

The only module of tempcase that imports pytest.
"""

from __future__ import annotations

import json
import logging
import os
import time
import unittest
from dataclasses import replace
from typing import Any, Generator, Set

import pytest

import tempcase._session as _session_module
from tempcase._config import KEEP_CHOICES, ConfigError, Settings, load_settings
from tempcase._directory import TempDirectory
from tempcase._findings import Findings
from tempcase._keep import RETAIN_RUNS, KeptArea
from tempcase._leaks import Detector
from tempcase._registry import Context
from tempcase._removal import remove_path
from tempcase._report import ContextOutcome, RunReport, render_text
from tempcase._runner import _sweep_once, install_detector
from tempcase._session import Session, get_session

__all__ = [
    "TempcasePlugin",
    "context_name",
    "pytest_addoption",
    "pytest_configure",
    "pytest_unconfigure",
    "read_settings",
    "tempcase_dir",
]

_log = logging.getLogger("tempcase")

# The settings that are pytest options (--tempcase-NAME) and ini keys (tempcase_NAME).
_OPTIONS = ("detect", "strict", "report", "keep")
_EXIT_OK, _EXIT_FAILED, _EXIT_NO_TESTS = 0, 1, 5


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add tempcase's options, each also an ini key."""
    group = parser.getgroup("tempcase", "tempcase: per-test temporary files and leak reports")
    group.addoption(
        "--tempcase-detect",
        dest="tempcase_detect",
        action="store_const",
        const=True,
        default=None,
        help="detect the files tests leave in the temp dir (a tempfile sandbox per run) and "
        "report them per test (ini: tempcase_detect)",
    )
    group.addoption(
        "--tempcase-strict",
        dest="tempcase_strict",
        action="store_const",
        const=True,
        default=None,
        help="leaks and cleanup failures make the exit status 1; the tests keep their "
        "outcome (ini: tempcase_strict)",
    )
    group.addoption(
        "--tempcase-report",
        dest="tempcase_report",
        metavar="FILE",
        default=None,
        help="write tempcase's JSON report (version 1) to FILE (ini: tempcase_report)",
    )
    group.addoption(
        "--tempcase-keep",
        dest="tempcase_keep",
        choices=KEEP_CHOICES,
        default=None,
        help="keep the tempcase directories of failing tests, or of all (default: never; "
        "ini: tempcase_keep)",
    )
    parser.addini("tempcase_detect", "tempcase: detect leaks (bool)", type="bool", default=None)
    parser.addini(
        "tempcase_strict", "tempcase: leaks fail the session (bool)", type="bool", default=None
    )
    parser.addini("tempcase_report", "tempcase: the JSON report's path", default=None)
    parser.addini("tempcase_keep", "tempcase: never, failed or always", default=None)


def _ini_value(config: pytest.Config, name: str) -> Any:
    """The ini key ``tempcase_NAME``, or None when it is not set (pytest 7 gives "" or [])."""
    value = config.getini(f"tempcase_{name}")
    return None if value is None or value == "" or value == [] else value


def read_settings(config: pytest.Config) -> Settings:
    """tempcase's settings for this pytest run.

    Highest first: the command line options, ``TEMPCASE_*`` variables, the
    pytest ini keys, tempcase's own configuration file (``[tool.tempcase]``
    ...), the defaults; detection is off unless one of these turns it on.

    :raises pytest.UsageError: for a bad value, naming where it came from.
    """
    invoked = str(config.invocation_params.dir)
    cli: dict[str, object] = {}
    for name in _OPTIONS:
        value = config.getoption(f"tempcase_{name}")
        if value is not None:
            cli[name] = value
    if "report" in cli:
        cli["report"] = os.path.join(invoked, str(cli["report"]))
    try:
        settings = load_settings(cli, directory=invoked)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    sources = dict(settings.sources)
    values: dict[str, Any] = {}
    for name in _OPTIONS:
        source = settings.source_of(name)
        if name in cli:
            sources[name] = f"the command line option --tempcase-{name}"
            continue
        if source.startswith("the environment"):
            continue
        raw = _ini_value(config, name)
        if raw is None:
            continue
        where = f"the pytest ini key tempcase_{name} in {config.inipath or 'the -o options'}"
        if name == "keep":
            raw = str(raw).strip()
            if raw not in KEEP_CHOICES:
                raise pytest.UsageError(
                    f"tempcase: bad value {raw!r} for keep in {where}: expected one of "
                    f"{', '.join(KEEP_CHOICES)}"
                )
        elif name == "report":
            base = config.inipath.parent if config.inipath is not None else config.rootpath
            raw = os.path.join(str(base), str(raw).strip())
        values[name] = raw
        sources[name] = where
    if "detect" not in values and settings.source_of("detect") == "the default":
        values["detect"] = False  # the runner detects by default; the plugin does not
    settings = replace(settings, sources=sources, **values)
    if settings.report:
        parent = os.path.dirname(os.path.abspath(settings.report))
        if not os.path.isdir(parent):
            raise pytest.UsageError(
                f"tempcase: cannot write the report to {settings.report}: directory {parent} "
                f"does not exist (from {settings.source_of('report')})"
            )
    return settings


_PLUGIN = pytest.StashKey["TempcasePlugin"]()


def pytest_configure(config: pytest.Config) -> None:
    """Read the settings and register the run's plugin object."""
    if getattr(config.option, "help", False):
        return
    plugin = TempcasePlugin(config, read_settings(config))
    config.stash[_PLUGIN] = plugin
    config.pluginmanager.register(plugin, "tempcase-run")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Let go of the session if the run ended early (no ``pytest_sessionfinish``)."""
    plugin = config.stash.get(_PLUGIN, None)
    if plugin is not None:
        plugin.stop()
        config.pluginmanager.unregister(plugin)
        del config.stash[_PLUGIN]


@pytest.fixture
def tempcase_dir(request: pytest.FixtureRequest) -> TempDirectory:
    """This test's own :class:`tempcase.TempDirectory`, removed when the test ends.

    Its context is the test (the node id of a plain test function): what the
    test makes through the module-level functions belongs there too.

    .. versionadded:: 0.1
    """
    plugin = request.config.stash.get(_PLUGIN, None)
    item = plugin.item if plugin is not None else None
    if plugin is not None and item is not None and not item.finished:
        return TempDirectory._for_context(plugin.session, item.ctx)
    session = get_session()
    return TempDirectory._for_context(session, session.registry.current())


def context_name(item: pytest.Item) -> str:
    """The context of a test item: the unittest id for a TestCase method (as
    under unittest), else the node id."""
    cls = getattr(item, "cls", None)
    if isinstance(cls, type) and issubclass(cls, unittest.TestCase):
        return f"{cls.__module__}.{cls.__qualname__}.{item.name}"
    return item.nodeid


class _Item:
    """The item that runs now: its context, and how far it has come."""

    __slots__ = ("ctx", "finished", "name", "nodeid", "phase")

    def __init__(self, name: str, nodeid: str, ctx: Context) -> None:
        self.name = name
        self.nodeid = nodeid
        self.ctx = ctx
        self.phase = "setup"
        self.finished = False


class _Bracket:
    """A class, module or session fixture's setup or teardown, run in that scope's context."""

    __slots__ = ("ctx", "key", "kind", "plugin")

    def __init__(self, plugin: TempcasePlugin, kind: str, key: Any) -> None:
        self.plugin = plugin
        self.kind = kind
        self.key = key
        self.ctx: Context | None = None

    def enter(self) -> None:
        plugin = self.plugin
        plugin.finish_item_if_done()
        plugin.detect(None, "session")
        self.ctx = plugin.scope_context(self.kind, self.key)
        plugin.session.registry.push(self.ctx)

    def leave(self) -> None:
        ctx, self.ctx = self.ctx, None
        if ctx is not None:
            self.plugin.session.registry.pop(ctx)
            self.plugin.detect(ctx.name, self.kind)


class _WorkerKeptArea(KeptArea):
    """The kept area of one xdist worker: its sweep spares the kept
    directories of its sibling workers (each worker is a run of its own)."""

    def __init__(self, user_root: str, run_id: str, workers: int) -> None:
        super().__init__(user_root, run_id)
        self.workers = max(1, workers)

    def sweep(self, retain: int = RETAIN_RUNS) -> list[str]:
        return super().sweep(retain * self.workers)


class TempcasePlugin:
    """One pytest run's side of tempcase: contexts, detection, the report.

    It is the session's listener: it hears of every cleanup, holds back the
    directories of tests for ``--tempcase-keep``, and collects what the
    report shows.  On the xdist controller it only gathers the workers'
    findings.
    """

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        session = get_session()
        if session.ended:  # an earlier pytest.main() in this process ended it
            session = _session_module._install(Session(started=time.time()))
        self.session: Session = session
        workerinput = getattr(config, "workerinput", None)
        self.worker: str | None = None if workerinput is None else str(workerinput["workerid"])
        self.workers = 1 if workerinput is None else int(workerinput.get("workercount", 1))
        self.findings = Findings(self.worker)
        self.controller = False
        self.top_level = False
        self.started = False
        self.finished = False
        self.detector: Detector | None = None
        self.item: _Item | None = None
        self.report: RunReport | None = None
        self._held: dict[str | None, list[ContextOutcome]] = {}
        self._failing: set[str | None] = set()
        self._session_ctx: Context = session.registry.session
        self._nested_ctx: Context | None = None
        self._saved_keep = session.keep
        self._first_item = True

    # -- what the session tells ---------------------------------------------------

    def tempcase_outcome(self, outcome: ContextOutcome) -> None:
        """Hear of one context's cleanup (called by the session)."""
        self.findings.add_outcome(outcome)
        if outcome.held:
            self._held.setdefault(outcome.context, []).append(outcome)

    def detect(self, context: str | None, scope: str, *, end: bool = False) -> None:
        """A scope boundary: take what appeared since the last one as *scope*'s;
        with *end*, the scope is over and its leaks are final."""
        detector = self.detector
        if detector is not None:
            self.findings.add_leaks(detector.boundary(context, scope))
            if end:
                self.findings.add_leaks(detector.end_scope(context, scope))

    # -- the session ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        settings = self.settings
        tc_session = self.session
        if settings.basetemp and not tc_session.has_run_dir:
            tc_session.basetemp = settings.basetemp
            tc_session.basetemp_source = settings.source_of("basetemp")
        self.controller = self.config.pluginmanager.has_plugin("dsession")
        self.top_level = not tc_session.registry.stack() and not tc_session.listeners
        if self.controller:
            # The workers run the tests; the controller gathers their findings.
            if self.top_level:
                _sweep_once(tc_session)
            return
        self.started = True
        tc_session.keep = settings.keep
        if self.top_level:
            if self.worker is None:
                _sweep_once(tc_session)  # under xdist, the controller has done it
            if settings.detect and tc_session.detector is None:
                self._pin_pytest_basetemp()
                self.detector = install_detector(tc_session, settings)
            if self.worker is not None and settings.keep != "never":
                run = tc_session.run_dir
                tc_session._kept_area = _WorkerKeptArea(
                    os.path.dirname(run.path), os.path.basename(run.path), self.workers
                )
        else:
            # A run inside a test (pytester in-process): a session scope of its own.
            self._nested_ctx = self._session_ctx = tc_session.open_context(None, "session")
        tc_session.listeners.append(self)

    def _pin_pytest_basetemp(self) -> None:
        """Let pytest choose its basetemp (``tmp_path``) now, in the real temp
        dir, before the sandbox moves ``tempfile.gettempdir()``."""
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is not None:
            try:
                factory.getbasetemp()
            except OSError as exc:
                _log.debug("pytest's basetemp: %s", exc)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # trylast: after pytest's own teardown of what is left (runner plugin).
        self.finish_run()
        if self.worker is not None:
            self.config.workeroutput["tempcase"] = self.findings.pack()  # type: ignore[attr-defined]
            return
        strict = bool(self.settings.strict)
        self.report = self.findings.report(strict=strict, for_text=True)
        if self.settings.report:
            with open(self.settings.report, "w", encoding="utf-8") as stream:
                json.dump(self.findings.to_json(strict=strict), stream, indent=2, ensure_ascii=True)
                stream.write("\n")
        if strict and self.findings.failing and session.exitstatus in (_EXIT_OK, _EXIT_NO_TESTS):
            session.exitstatus = _EXIT_FAILED

    def finish_run(self) -> None:
        """Finish the last item, clean what the run left, remove the sandbox; idempotent."""
        if self.finished or not self.started:
            return
        self.finished = True
        tc_session = self.session
        try:
            if self.item is not None:
                self.finish_item(self.item)
                self.item = None
            for context in list(self._held):
                self._settle(context)
            detector = self.detector
            if detector is not None:
                self.detect(None, "session", end=True)
                self.findings.resets.extend((self.worker, r) for r in detector.resets)
                # The sandbox before the run directory (see the runner).
                detector.uninstall()
                remove_path(detector.sandbox)
                tc_session.detector = self.detector = None
            if self._nested_ctx is not None:
                tc_session.end_context(self._nested_ctx)
            elif self.top_level:
                tc_session.end()
            self.findings.mark_removed()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop listening and restore the session's settings (idempotent)."""
        tc_session = self.session
        if self in tc_session.listeners:
            tc_session.listeners.remove(self)
            tc_session.keep = self._saved_keep
        detector = self.detector
        if detector is not None:  # the run ended without pytest_sessionfinish
            detector.uninstall()
            tc_session.detector = self.detector = None

    # -- items ----------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, None]:
        yield
        current = self.item
        if current is not None and current.nodeid == item.nodeid:
            self.finish_item(current)
            self.item = None
            self._settle(current.name)
        self.findings.tests_run += 1

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, None]:
        if self._first_item:
            self._first_item = False
            self.detect(None, "session")  # what collection and imports left
        name = context_name(item)
        self.item = _Item(name, item.nodeid, self.session.open_context(name, "test"))
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self) -> Generator[None, Any, None]:
        if self.item is not None:
            self.item.phase = "call"
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self) -> Generator[None, Any, None]:
        current = self.item
        if current is not None:
            current.phase = "teardown"
        yield
        if current is not None:
            self.finish_item(current)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        current = self.item
        if report.failed and current is not None and current.nodeid == report.nodeid:
            self._failing.add(current.name)

    def finish_item(self, item: _Item) -> None:
        """End an item's context (its function fixtures are torn down) and detect its leaks."""
        if item.finished:
            return
        item.finished = True
        self.session.end_context(item.ctx)
        self.detect(item.name, "test")

    def finish_item_if_done(self) -> None:
        """Before a class, module or session fixture is torn down, the item that
        ran last is over: pytest tears its own fixtures down first."""
        current = self.item
        if current is not None and current.phase != "setup":
            self.finish_item(current)

    def _settle(self, context: str | None) -> None:
        """Keep or remove the directories held back for ``--tempcase-keep``."""
        failing = context in self._failing
        self._failing.discard(context)
        keep = self.settings.keep == "always" or (self.settings.keep == "failed" and failing)
        for held in self._held.pop(context, []):
            self.findings.add_settled(held, *self.session.settle_held(held, keep=keep))

    # -- class, module and session fixtures ----------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, Any, None]:
        bracket = None
        if fixturedef.scope != "function" and self.started and not self.finished:
            bracket = self._bracket(request)
        if bracket is None:
            yield
            return
        # Added before the fixture's own teardown, so run after it: leave the scope.
        fixturedef.addfinalizer(bracket.leave)
        bracket.enter()
        outcome = yield
        bracket.leave()
        if outcome.excinfo is None:
            # Added after, so run before the fixture's teardown: enter the scope.
            fixturedef.addfinalizer(bracket.enter)

    def _bracket(self, request: pytest.FixtureRequest) -> _Bracket | None:
        node = request.node
        if isinstance(node, pytest.Item):
            return None  # a class fixture outside a class is per test
        if isinstance(node, pytest.Class):
            kind, key = "class", node.obj
        elif isinstance(node, pytest.Module) and not isinstance(node, pytest.Package):
            kind, key = "module", node.obj.__name__
        else:  # the session, or a package (its files live until the session ends)
            return _Bracket(self, "session", None)
        ends = node.stash.setdefault(_ENDS, set())
        if id(self) not in ends:
            ends.add(id(self))
            # Added before the node's first fixture is set up, so run after
            # its last one is torn down: the class or module is over.
            node.addfinalizer(lambda: self._end_scope(kind, key))
        return _Bracket(self, kind, key)

    def scope_context(self, kind: str, key: Any) -> Context:
        """The context of a class (by class), module (by name) or the session."""
        if kind == "class":
            return self.session.class_context(key)
        if kind == "module":
            return self.session.module_context(key)
        return self._session_ctx

    def _end_scope(self, kind: str, key: Any) -> None:
        self.finish_item_if_done()
        name = self.scope_context(kind, key).name
        if kind == "class":
            self.session.end_class(key)
        else:
            self.session.end_module(key)
        self.detect(name, kind, end=True)

    # -- pytest-xdist: the controller ---------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        """Take in what a worker found (sent at its ``pytest_sessionfinish``)."""
        output = getattr(node, "workeroutput", None) or {}
        workerinput = getattr(node, "workerinput", None) or {}
        gateway = getattr(node, "gateway", None)
        worker = str(workerinput.get("workerid") or getattr(gateway, "id", "?"))
        self.findings.merge(worker, output.get("tempcase"))

    # -- the report ---------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The report: nothing when all is clean and no tempcase option asked for it."""
        report = self.report
        if report is None:
            return
        settings = self.settings
        asked = settings.detect or settings.strict or settings.report or settings.keep != "never"
        silent = self.findings.silent_workers
        if not (asked or report.leaks or report.cleanup_failures or report.kept or silent):
            return
        terminalreporter.write_sep("=", "tempcase")
        for line in render_text(report):
            terminalreporter.write_line(line)
        for worker in silent:
            terminalreporter.write_line(
                f"tempcase: worker {worker} sent no report (it stopped early): "
                "what it found is not listed"
            )


_ENDS = pytest.StashKey[Set[int]]()
