"""Rewrite legacy temporary-file code in TestCase classes to tempcase (``tempcase migrate``).

libcst (the ``migrate`` extra) is imported only when the command runs.
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
import tempfile
from typing import Sequence

from tempcase._args import Parser, UsageError
from tempcase._scan import collect_files

__all__ = ["main"]

PROG = "python -m tempcase migrate"
MISSING = f"{PROG}: error: the migrate command needs libcst: pip install tempcase[migrate]"


def _parser() -> Parser:
    parser = Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Rewrite legacy temporary-file code (mkdtemp, mkstemp, "
        "NamedTemporaryFile(delete=False), TemporaryDirectory) inside unittest.TestCase "
        "classes to tempcase's helpers, keeping comments and formatting. What cannot be "
        "proved safe is left alone and reported on stderr, one line each.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files and directories")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--diff", action="store_true", help="print a unified diff, change nothing (the default)"
    )
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when anything would be rewritten"
    )
    return parser


def _write(path: str, data: bytes) -> None:
    """Replace the file's content atomically, keeping its mode (through a symlink)."""
    target = os.path.realpath(path)
    fd, temp = tempfile.mkstemp(prefix=".tempcase-migrate-", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        shutil.copymode(target, temp)
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise


def main(argv: Sequence[str]) -> int:
    """Run ``python -m tempcase migrate``.

    :param argv: the arguments after ``migrate``.
    :returns: 0; 1 under ``--check`` when a file would change; 2 for bad
        arguments, a missing path or a missing libcst.
    """
    try:
        options = _parser().parse_args(list(argv))
        files = collect_files(options.paths)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, FileNotFoundError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        import libcst
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 2
    from tempcase._migrate_module import migrate_module, protected_bases

    modules: dict[str, bytes] = {}
    protected: set[str] = set()
    skipped = changed = rewrites = 0
    for path in files:
        try:
            with open(path, "rb") as stream:
                modules[path] = stream.read()
            protected |= protected_bases(libcst.parse_module(modules[path]))
        except (OSError, libcst.ParserSyntaxError):
            pass  # reported below
    for path in files:
        if path not in modules:
            print(f"{path}:1:1: skipped: the file cannot be read", file=sys.stderr)
            skipped += 1
            continue
        try:
            outcome = migrate_module(modules[path], protected)
        except libcst.ParserSyntaxError as exc:
            message = str(exc).splitlines()[0]
            print(
                f"{path}:{exc.raw_line}:{exc.raw_column + 1}: skipped: {message}", file=sys.stderr
            )
            skipped += 1
            continue
        for line, col, reason in outcome.skips:
            print(f"{path}:{line}:{col}: skipped: {reason}", file=sys.stderr)
        skipped += len(outcome.skips)
        if outcome.code == outcome.source:
            continue
        changed += 1
        rewrites += outcome.rewrites
        if options.write:
            encoding = libcst.parse_module(modules[path]).encoding
            _write(path, outcome.code.encode(encoding))
        else:
            sys.stdout.writelines(
                difflib.unified_diff(
                    outcome.source.splitlines(keepends=True),
                    outcome.code.splitlines(keepends=True),
                    fromfile=path,
                    tofile=path,
                )
            )
    verb = "rewritten" if options.write else "to rewrite"
    plural = "s" * (changed != 1)
    print(
        f"{changed} file{plural} {verb} ({rewrites} rewrite{'s' * (rewrites != 1)}), "
        f"{skipped} occurrence{'s' * (skipped != 1)} left alone, in {len(files)} file"
        + "s"
        * (len(files) != 1),
        file=sys.stderr,
    )
    return 1 if options.check and changed else 0
