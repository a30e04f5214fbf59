"""The command line: ``python -m tempcase``, a drop-in for ``python -m unittest``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import unittest
from typing import Any, Sequence

from tempcase._args import Parser, UsageError
from tempcase._audit import render_audit
from tempcase._config import KEEP_CHOICES, ConfigError, Settings, load_settings
from tempcase._report import load_baseline, render_text
from tempcase._runner import TempCaseLoader, TempCaseRunner, install_detector
from tempcase._session import get_session

__all__ = ["main"]

PROG = "python -m tempcase"

_DESCRIPTION = f"""\
Run unittest tests with per-test temporary files cleaned up and a leak report.

usage: {PROG} [unittest arguments] [tempcase options]
       {PROG} audit [unittest arguments] [tempcase options]
       {PROG} scan PATH... [--check] [--format {{text,json}}]
       {PROG} clean [--older-than AGE] [--dry-run] [--basetemp DIR]
       {PROG} migrate PATH... [--diff | --write]

Takes the same arguments as `python -m unittest` (discover -s -p -t, test
names, -v -q -f -c -b -k, ...) and prints unittest's usual output, then
tempcase's report: the paths tests left behind and cleanup failures.

commands:
  audit   run the suite with leak detection and rank the tests by what they
          leaked, grouped by module: the plan for a legacy suite
  scan    find legacy temp-file code (mkdtemp, mkstemp, /tmp paths, ...)
          without running it; `scan --help` for its options
  clean   remove what killed runs left behind; `clean --help` for its options
  migrate rewrite legacy temp-file code to tempcase (needs libcst: pip install
          tempcase[migrate]); `migrate --help` for its options
"""


def _parser() -> Parser:
    parser = Parser(
        prog=PROG,
        add_help=False,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_DESCRIPTION,
    )
    group = parser.add_argument_group("tempcase options")
    group.add_argument(
        "--no-detect",
        dest="detect",
        action="store_const",
        const=False,
        default=None,
        help="do not detect leaks of tests that do not use tempcase",
    )
    group.add_argument(
        "--remove-root-leaks",
        action="store_const",
        const=True,
        default=None,
        help="also remove what tests left directly in the temp dir or a watched directory "
        "(yours, made during the test): for CI machines where the suite runs alone",
    )
    group.add_argument(
        "--strict",
        action="store_const",
        const=True,
        default=None,
        help="leaks and cleanup failures make the exit status 1",
    )
    group.add_argument(
        "--baseline",
        metavar="FILE",
        help="with --strict, fail only on leaks not in this earlier JSON report",
    )
    group.add_argument("--report", metavar="FILE", help="write the JSON report to FILE")
    group.add_argument(
        "--keep",
        choices=KEEP_CHOICES,
        help="keep the directories of failing tests, or of all (default: never)",
    )
    group.add_argument(
        "--basetemp",
        metavar="DIR",
        help="where tempcase's per-user root lives (also TEMPCASE_BASETEMP)",
    )
    group.add_argument(
        "--watch",
        metavar="DIR",
        action="append",
        help="another directory whose top level is compared around each test (repeatable)",
    )
    group.add_argument(
        "--no-system-tmp",
        dest="system_tmp",
        action="store_const",
        const=False,
        default=None,
        help="do not compare /tmp when TMPDIR points elsewhere (a shared machine "
        "where other jobs write there)",
    )
    group.add_argument(
        "--ignore",
        metavar="PATTERN",
        action="append",
        help="a file name pattern never reported (repeatable)",
    )
    return parser


def _print_help(parser: Parser) -> int:
    parser.print_help(sys.stdout)
    print("\nsettings also come from TEMPCASE_* variables and [tool.tempcase] in pyproject.toml,")
    print("[tempcase] in tox.ini or setup.cfg (the first found in the current directory).")
    print("\nunittest's own arguments:\n", flush=True)
    try:
        unittest.main(module=None, argv=[PROG, "-h"], exit=True)
    except SystemExit:
        pass
    return 0


def _check_paths(settings: Settings) -> None:
    """Refuse before any test runs: a report in a missing directory, a bad baseline."""
    if settings.report:
        parent = os.path.dirname(os.path.abspath(settings.report)) or "."
        if not os.path.isdir(parent):
            raise UsageError(
                f"cannot write the report to {settings.report}: directory {parent} does not "
                f"exist (from {settings.source_of('report')})"
            )
    if settings.baseline:
        try:
            load_baseline(settings.baseline)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read the baseline {settings.baseline} "
                f"(from {settings.source_of('baseline')}): {exc}"
            ) from None


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m tempcase``: unittest's command line plus tempcase's options.

    :param argv: the arguments, without the program name (default: ``sys.argv[1:]``).
    :returns: the exit status: unittest's (0, 1, or 5 when no tests ran on
        Python 3.12+), or 1 under ``--strict`` when tests leaked or a cleanup
        failed; 2 for bad arguments or settings.  ``scan`` returns 1 under
        ``--check`` when it found something; ``clean`` returns 1 when
        something could not be removed.  After a SIGTERM the process ends by
        that signal instead of returning.

    .. versionadded:: 0.1
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "scan":
        from tempcase._scan import main as scan_main

        return scan_main(args[1:])
    if args and args[0] == "clean":
        from tempcase._orphans import main as clean_main

        return clean_main(args[1:])
    if args and args[0] == "migrate":
        from tempcase._migrate import main as migrate_main

        return migrate_main(args[1:])
    audit = bool(args) and args[0] == "audit"
    if audit:
        args = args[1:]
    parser = _parser()
    try:
        if "-h" in args or "--help" in args:
            return _print_help(parser)
        options, rest = parser.parse_known_args(args)
        cli = {key: value for key, value in vars(options).items() if value is not None}
        for key in ("watch", "ignore"):
            if key in cli:
                cli[key] = tuple(cli[key])
        if audit:
            cli["detect"] = True
        settings = load_settings(cli)
        _check_paths(settings)
    except (UsageError, ConfigError) as exc:
        message = str(exc)
        if not message.startswith("tempcase:"):
            message = f"{PROG}: error: {message}"
        print(message, file=sys.stderr)
        return 2
    session = get_session()
    session.started = time.time()
    if settings.basetemp and not session.has_run_dir:
        session.basetemp = settings.basetemp
        session.basetemp_source = settings.source_of("basetemp")

    if settings.detect:
        # Before the tests are loaded: files made at import go to the sandbox too.
        try:
            install_detector(session, settings)
        except PermissionError as exc:  # the per-user root is refused: say why, once
            print(str(exc), file=sys.stderr)
            return 2
    renderer = render_audit if audit else render_text

    class Runner(TempCaseRunner):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, settings=settings, end_session=True, renderer=renderer, **kw)

    previous = _stop_on_sigterm()
    try:
        unittest.main(
            module=None,
            argv=[PROG, *rest],
            testRunner=Runner,
            testLoader=TempCaseLoader(),
            exit=True,
        )
    except SystemExit as exc:
        return _exit_code(exc.code)
    except Terminated:
        # The tests' cleanups and the end of the run have happened and the
        # report is printed: now end as the signal asked, so the parent sees it.
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # pragma: no cover - only where SIGTERM does not end the process
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0  # pragma: no cover - unittest.main always exits


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an orderly stop of the run.

    A ``KeyboardInterrupt`` subclass, because unittest swallows ``SystemExit``
    raised in a test but lets an interrupt through its cleanups and out.
    """


def _stop_on_sigterm() -> Any:
    """Make SIGTERM stop the run in order; chain a handler the user installed.

    :returns: the previous handler, to restore, or None where SIGTERM cannot
        be handled (not the main thread, no such signal).
    """
    if not hasattr(signal, "SIGTERM"):
        return None
    try:
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: Any) -> None:
            if callable(previous):
                previous(signum, frame)
            raise Terminated(f"signal {signum}")

        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None
    return previous
