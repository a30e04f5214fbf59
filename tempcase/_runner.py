"""The tempcase result and runner: unittest's output, then the leak report."""

from __future__ import annotations

import json
import logging
import os
import unittest
from collections import Counter
from dataclasses import replace
from typing import Any, Callable

from typing_extensions import override

from tempcase._config import Settings, load_settings
from tempcase._layout import user_root_name
from tempcase._leaks import Detector
from tempcase._orphans import sweep_dead_runs
from tempcase._registry import Context
from tempcase._removal import remove_path
from tempcase._report import (
    CleanupError,
    ContextOutcome,
    Kept,
    Leak,
    RedirectReset,
    RunReport,
    load_baseline,
    new_leaks,
    render_text,
    to_json,
)
from tempcase._session import Session, get_session

__all__ = ["TempCaseLoader", "TempCaseResult", "TempCaseRunner", "TempCaseSuite"]

_log = logging.getLogger("tempcase")


def _write_safely(stream: Any, text: str) -> None:
    """Write *text* to *stream* whatever it can encode: the report never crashes."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
    stream.write(text)


def install_detector(session: Session, settings: Settings) -> Detector:
    """Point tempfile at a sandbox in the run directory and start comparing."""
    detector = Detector(
        session.run_dir.path,
        ignore=settings.ignore,
        watch=settings.watch,
        remove_root_leaks=settings.remove_root_leaks,
        watch_system_tmp=settings.system_tmp,
    )
    detector.install()
    session.detector = detector
    return detector


_swept: set[str] = set()


def _sweep_once(session: Session) -> None:
    """Remove the dead runs of this host under the per-user root, once per process.

    Rule (a) of ``tempcase clean``: cheap when there is nothing (one listing),
    bounded in time when there is a lot; killed runs do not pile up even if
    nobody runs ``tempcase clean``.
    """
    root = os.path.join(os.path.abspath(session.basetemp), user_root_name())
    if root in _swept:
        return
    _swept.add(root)
    result = sweep_dead_runs(root)
    if result.removed:
        _log.debug("removed %d dead run(s) under %s", len(result.removed), root)


class TempCaseResult(unittest.TextTestResult):
    """A ``TextTestResult`` that collects leaks and cleanup failures.

    :ivar leaks: paths the tests left behind (:class:`tempcase.Leak`).
    :ivar cleanup_failures: paths that could not be removed.
    :ivar kept: directories kept for inspection (``--keep``).
    :ivar redirect_resets: scopes that changed ``tempfile.tempdir`` or
        ``TMPDIR`` (set right again at the next boundary).

    With ``strict`` set (``--strict``), :meth:`wasSuccessful` is false when
    there are leaks (beyond the baseline, if one is given) or cleanup failures.

    .. versionadded:: 0.1
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.leaks: list[Leak] = []
        self.cleanup_failures: list[CleanupError] = []
        self.kept: list[Kept] = []
        self.settings: Settings = Settings()
        # The leaks of an earlier report (--baseline), and those beyond it.
        self.baseline: Counter[tuple[str | None, str, str]] | None = None
        self.baseline_leaks: list[Leak] | None = None
        self._session: Session | None = None
        self._failing: set[str] = set()
        self._held: dict[str | None, ContextOutcome] = {}
        self.tracked_paths = 0
        self.removed_paths = 0
        self.tests_with_paths = 0
        self._finished = False
        self._top_level = False
        self._own_contexts: dict[str, Context] = {}
        # The test startTest last saw, with its id (test.id() formats a string).
        self._started: tuple[object, str] = (None, "")
        self.detector: Detector | None = None
        # Set by the runner: end tempcase's session at the end of the run.
        self.end_session = False
        self.redirect_resets: list[RedirectReset] = []

    # -- what the session tells -----------------------------------------------

    def tempcase_outcome(self, outcome: ContextOutcome) -> None:
        """Hear of one context's cleanup (called by the session)."""
        self.leaks.extend(outcome.leaks)
        self.cleanup_failures.extend(outcome.errors)
        self.tracked_paths += outcome.tracked
        self.removed_paths += outcome.removed
        if outcome.scope == "test" and outcome.tracked:
            self.tests_with_paths += 1
        if outcome.held:
            self._held[outcome.context] = outcome

    # -- the run ---------------------------------------------------------------

    @override
    def startTestRun(self) -> None:
        super().startTestRun()
        session = self._session = get_session()
        self._top_level = not session.registry.stack() and not session.listeners
        # The leak detector, in a top-level run with detection on.
        self.detector = session.detector if self._top_level else None
        session.listeners.append(self)

    @override
    def stopTestRun(self) -> None:
        self.finish_run()
        super().stopTestRun()

    def detect(
        self, context: str | None, scope: str, *, end: bool = False, quiet_checked: bool = False
    ) -> None:
        """A scope boundary: take what appeared since the last one as *scope*'s."""
        detector = self.detector
        if detector is None:
            return
        try:
            self.leaks.extend(detector.boundary(context, scope, quiet_checked=quiet_checked))
            if end:
                self.leaks.extend(detector.end_scope(context, scope))
        except Exception:
            _log.debug("detection failed at the end of %r", context, exc_info=True)

    def finish_run(self) -> None:
        """Clean what the run left (session, classes, modules) and stop listening.

        Idempotent: also called by the runner after an interrupt.
        """
        session = self._session
        if session is None or self._finished:
            return
        self._finished = True
        try:
            for context in list(self._held):
                self._settle(context)
            self._finish_top_level(session)
        finally:
            if self in session.listeners:
                session.listeners.remove(self)
        if self.baseline is not None:
            # Before unittest prints its summary, which asks wasSuccessful().
            self.baseline_leaks = new_leaks(self.leaks, self.baseline)

    def _finish_top_level(self, session: Session) -> None:
        """At the end of a top-level run: the session's leaks, its cleanup, the sandbox."""
        if not self._top_level:
            return
        detector = session.detector
        if detector is not None:
            self.detect(None, "session", end=True)
            self.redirect_resets = list(detector.resets)
            # The sandbox before the run directory: a run killed in between
            # leaves its marked directory, through which a sweep finds both.
            detector.uninstall()
            remove_path(detector.sandbox)
            session.detector = self.detector = None
        if self.end_session:
            session.end()
        else:
            session.clean_all()
            # What a test's cleanup could not remove from tempcase's own area
            # goes with the run, as python -m tempcase does when it ends.
            run_dir = session.run_dir.path + os.sep if session.has_run_dir else None
            for leak in self.leaks:
                if run_dir and leak.where == "sandbox" and str(leak.path).startswith(run_dir):
                    remove_path(str(leak.path))
        # Leaks in tempcase's own area go with the run: say so.
        self.leaks = [
            replace(leak, removed=True)
            if leak.where == "sandbox" and not os.path.lexists(leak.path)
            else leak
            for leak in self.leaks
        ]

    # -- outcomes, for --keep failed -------------------------------------------

    def _mark_failing(self, test: unittest.TestCase) -> None:
        self._failing.add(test.id())

    @override
    def addError(self, test: unittest.TestCase, err: Any) -> None:
        self._mark_failing(test)
        super().addError(test, err)

    @override
    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        self._mark_failing(test)
        super().addFailure(test, err)

    @override
    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        self._mark_failing(test)
        super().addUnexpectedSuccess(test)

    @override
    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any) -> None:
        if err is not None:
            self._mark_failing(test)
        super().addSubTest(test, subtest, err)

    @override
    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        session = self._session
        if session is None:
            return
        current = session.registry.current()
        if getattr(test, "_tempcase_context", None) is current:
            self._started = (test, current.name or test.id())  # the mixin's: named by id
            return
        test_id = test.id()
        self._started = (test, test_id)
        if current.scope != "test" or current.name != test_id:
            # A test without the mixin: module-level helpers still belong to it.
            self._own_contexts[test_id] = session.open_context(test_id, "test")

    @override
    def stopTest(self, test: unittest.TestCase) -> None:
        started, test_id = self._started
        if started is not test:
            test_id = test.id()
        ctx = self._own_contexts.pop(test_id, None)
        if ctx is not None and self._session is not None:
            self._session.end_context(ctx)
        self._settle(test_id)
        detector = self.detector
        if detector is not None:
            # The quick check first, called here: it runs after every test.
            quiet = detector.quiet
            try:
                done = quiet is not None and quiet()
            except Exception:  # the full check finds out what is wrong
                done = False
            if not done:
                self.detect(test_id, "test", quiet_checked=quiet is not None)
        super().stopTest(test)

    def _settle(self, context: str | None) -> None:
        held = self._held.pop(context, None)
        if held is None or self._session is None:
            return
        keep = self.settings.keep == "always" or (
            self.settings.keep == "failed" and context in self._failing
        )
        kept, errors, leaks = self._session.settle_held(held, keep=keep)
        if not errors and not kept:
            self.removed_paths += held.held_paths
        self.kept.extend(kept)
        self.cleanup_failures.extend(errors)
        self.leaks.extend(leaks)

    # -- the verdict and the report ---------------------------------------------

    def strict_failure(self) -> bool:
        """Whether ``--strict`` fails this run: any leak or cleanup failure, or
        with a baseline, any leak beyond it (known leaks of a legacy suite pass)."""
        if not self.settings.strict:
            return False
        if self.baseline_leaks is not None:
            return bool(self.baseline_leaks)
        return bool(self.leaks or self.cleanup_failures)

    @override
    def wasSuccessful(self) -> bool:
        return super().wasSuccessful() and not self.strict_failure()

    def report(self) -> RunReport:
        """What this run found, for the text and JSON reports."""
        return RunReport(
            tests_run=self.testsRun,
            tracked_paths=self.tracked_paths,
            tracked_removed=self.removed_paths,
            tracked_failed=len(self.cleanup_failures),
            tests_with_paths=self.tests_with_paths,
            leaks=list(self.leaks),
            cleanup_failures=list(self.cleanup_failures),
            kept=list(self.kept),
            new_leaks=self.baseline_leaks,
            baseline=self.settings.baseline,
            strict=self.settings.strict,
            redirect_resets=list(self.redirect_resets),
        )


class TempCaseRunner(unittest.TextTestRunner):
    """A ``TextTestRunner`` that prints tempcase's report after unittest's summary.

    ``unittest.main(testRunner=tempcase.TempCaseRunner)`` and
    ``tempcase.TempCaseRunner().run(suite)`` both work.  A top-level run
    (not one nested inside a test) sweeps this host's dead runs, and with
    detection on redirects ``tempfile`` to a sandbox while it lasts.

    :param settings: used as given; without it, loaded from ``TEMPCASE_*``
        variables and the configuration file of the current directory.
    :param renderer: turns the run's report into lines (default: the text
        report; ``tempcase audit`` passes its ranked table).
    :param end_session: end tempcase's session after the run (remove the run
        directory); ``python -m tempcase`` does.

    .. versionadded:: 0.1
    """

    resultclass = TempCaseResult

    def __init__(
        self,
        *args: Any,
        settings: Settings | None = None,
        end_session: bool = False,
        renderer: Callable[[RunReport], list[str]] = render_text,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings if settings is not None else load_settings()
        self.end_session = end_session
        self.renderer = renderer
        self._result: TempCaseResult | None = None
        self._baseline: Counter[tuple[str | None, str, str]] | None = None

    @override
    def _makeResult(self) -> unittest.TextTestResult:
        result = super()._makeResult()
        if isinstance(result, TempCaseResult):
            result.settings = self.settings
            result.end_session = self.end_session
            result.baseline = self._baseline
            self._result = result
        return result

    @override
    def run(self, test: unittest.TestSuite | unittest.TestCase) -> unittest.TextTestResult:
        session = get_session()
        session.keep = self.settings.keep
        top_level = not session.registry.stack() and not session.listeners
        if top_level and self.settings.basetemp and not session.has_run_dir:
            session.basetemp = self.settings.basetemp
            session.basetemp_source = self.settings.source_of("basetemp")
        if top_level:
            _sweep_once(session)
        if top_level and self.settings.detect and session.detector is None:
            install_detector(session, self.settings)
        self._baseline = load_baseline(self.settings.baseline) if self.settings.baseline else None
        interrupted = True
        try:
            result = super().run(test)
            interrupted = False
        finally:
            tempcase_result = self._result
            if tempcase_result is not None:
                tempcase_result.finish_run()
                if interrupted:  # unittest may be mid-line ("test_x ... ")
                    _write_safely(self.stream, "\n")
                self._print_report(tempcase_result)
        return result

    def _print_report(self, result: TempCaseResult) -> None:
        report = result.report()
        for line in self.renderer(report):
            _write_safely(self.stream, line + "\n")
        self.stream.flush()
        if self.settings.report:
            with open(self.settings.report, "w", encoding="utf-8") as stream:
                json.dump(to_json(report), stream, indent=2, ensure_ascii=True)
                stream.write("\n")


class TempCaseSuite(unittest.TestSuite):
    """A ``TestSuite`` that gives ``setUpModule``/``tearDownModule`` and class
    fixtures their own tempcase contexts, for tests with or without the mixin."""

    def _session(self) -> Session:
        return get_session()

    @staticmethod
    def _detect(
        result: unittest.TestResult, context: str | None, scope: str, *, end: bool = False
    ) -> None:
        if isinstance(result, TempCaseResult):
            result.detect(context, scope, end=end)

    def _handleModuleFixture(self, test: unittest.TestCase, result: unittest.TestResult) -> None:
        current = test.__class__.__module__
        if current == self._get_previous_module(result):  # type: ignore[attr-defined]
            return
        session = self._session()
        self._detect(result, None, "session")
        # The previous module's tearDownModule runs inside (in its own context).
        with session.registry.active(session.module_context(current)):
            super()._handleModuleFixture(test, result)  # type: ignore[misc]
        failed = getattr(result, "_moduleSetUpFailed", False)
        self._detect(result, current, "module", end=failed)
        if failed:
            session.end_module(current)

    def _handleModuleTearDown(self, result: unittest.TestResult) -> None:
        previous = self._get_previous_module(result)  # type: ignore[attr-defined]
        if previous is None or getattr(result, "_moduleSetUpFailed", False):
            super()._handleModuleTearDown(result)  # type: ignore[misc]
            return
        session = self._session()
        self._detect(result, None, "session")
        try:
            with session.registry.active(session.module_context(previous)):
                super()._handleModuleTearDown(result)  # type: ignore[misc]
        finally:
            session.end_module(previous)
            self._detect(result, previous, "module", end=True)

    def _handleClassSetUp(self, test: unittest.TestCase, result: unittest.TestResult) -> None:
        cls = test.__class__
        if getattr(result, "_previousTestClass", None) is cls:
            return
        session = self._session()
        self._detect(result, None, "session")
        with session.registry.active(session.class_context(cls)) as ctx:
            super()._handleClassSetUp(test, result)  # type: ignore[misc]
        failed = getattr(cls, "_classSetupFailed", False)
        if failed:
            session.end_class(cls)
        self._detect(result, ctx.name, "class", end=failed)

    def _tearDownPreviousClass(self, test: Any, result: unittest.TestResult) -> None:
        previous = getattr(result, "_previousTestClass", None)
        current = test.__class__
        if previous is None or previous is current or getattr(previous, "_classSetupFailed", False):
            super()._tearDownPreviousClass(test, result)  # type: ignore[misc]
            return
        session = self._session()
        self._detect(result, None, "session")
        ctx = session.class_context(previous)
        try:
            with session.registry.active(ctx):
                super()._tearDownPreviousClass(test, result)  # type: ignore[misc]
        finally:
            session.end_class(previous)
            self._detect(result, ctx.name, "class", end=True)


class TempCaseLoader(unittest.TestLoader):
    """A ``TestLoader`` whose suites are :class:`TempCaseSuite`."""

    suiteClass = TempCaseSuite
