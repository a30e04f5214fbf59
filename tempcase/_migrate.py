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

from tempcase._args import Parser
from tempcase._scan import parse_paths_command

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


def _undecodable(data: bytes, exc: SyntaxError | UnicodeDecodeError) -> str:
    """The skip line's position and reason for a file whose bytes cannot be decoded."""
    if isinstance(exc, UnicodeDecodeError):
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        return f"{line}:1: skipped: the file cannot be decoded as {exc.encoding} (byte 0x{byte})"
    return f"1:1: skipped: the file cannot be decoded ({exc.msg})"


def _failure(path: str, exc: Exception) -> str:
    """The one line for a file that failed in a way nobody foresaw."""
    detail = str(exc).splitlines()[0] if str(exc).strip() else "no message"
    return (
        f"{path}:1:1: failed: {type(exc).__name__}: {detail} (the file is left unchanged; "
        "please report this as a bug of tempcase migrate)"
    )


def main(argv: Sequence[str]) -> int:
    """Run ``python -m tempcase migrate``.

    :param argv: the arguments after ``migrate``.
    :returns: 0; 1 under ``--check`` when a file would change; 2 for bad
        arguments, a missing path or a missing libcst; 3 when a file failed
        in a way migrate did not foresee (reported, left unchanged, the
        other files done).
    """
    parsed = parse_paths_command(_parser(), argv, PROG)
    if isinstance(parsed, int):
        return parsed
    options, files = parsed
    try:
        import libcst
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 2
    from tempcase._migrate_module import migrate_module, protected_bases

    modules: dict[str, bytes] = {}
    unusable: dict[str, str] = {}  # path -> "line:col: skipped: why"
    failed: dict[str, Exception] = {}
    protected: set[str] = set()
    for path in files:
        data = b""
        try:
            with open(path, "rb") as stream:
                data = stream.read()
            protected |= protected_bases(libcst.parse_module(data))
            modules[path] = data
        except OSError:
            unusable[path] = "1:1: skipped: the file cannot be read"
        except libcst.ParserSyntaxError as exc:
            message = str(exc).splitlines()[0]
            unusable[path] = f"{exc.raw_line}:{exc.raw_column + 1}: skipped: {message}"
        except (SyntaxError, UnicodeDecodeError) as exc:  # the coding cookie
            unusable[path] = _undecodable(data, exc)
        except Exception as exc:  # one file must not stop the run
            failed[path] = exc
    skipped = changed = rewrites = 0
    for path in files:
        if path in unusable:
            print(f"{path}:{unusable[path]}", file=sys.stderr)
            skipped += 1
            continue
        if path in failed:
            print(_failure(path, failed[path]), file=sys.stderr)
            continue
        try:
            outcome = migrate_module(modules[path], protected)
            new = b""
            if options.write and outcome.code != outcome.source:
                new = outcome.code.encode(libcst.parse_module(modules[path]).encoding)
        except Exception as exc:  # reported; the next file is done all the same
            failed[path] = exc
            print(_failure(path, exc), file=sys.stderr)
            continue
        if options.write and outcome.code != outcome.source:
            try:
                _write(path, new)
            except OSError as exc:
                failed[path] = exc
                print(f"{path}:1:1: failed: cannot write the file: {exc}", file=sys.stderr)
                continue
        for line, col, reason in outcome.skips:
            print(f"{path}:{line}:{col}: skipped: {reason}", file=sys.stderr)
        skipped += len(outcome.skips)
        if outcome.code == outcome.source:
            continue
        changed += 1
        rewrites += outcome.rewrites
        if not options.write:
            sys.stdout.writelines(
                difflib.unified_diff(
                    outcome.source.splitlines(keepends=True),
                    outcome.code.splitlines(keepends=True),
                    fromfile=path,
                    tofile=path,
                )
            )
    verb = "rewritten" if options.write else "to rewrite"
    print(
        f"{changed} {_plural(changed, 'file')} {verb} ({rewrites} {_plural(rewrites, 'rewrite')}), "
        f"{skipped} {_plural(skipped, 'occurrence')} left alone, in {len(files)} "
        f"{_plural(len(files), 'file')}" + (f", {len(failed)} failed" if failed else ""),
        file=sys.stderr,
    )
    if failed:
        return 3
    return 1 if options.check and changed else 0


def _plural(count: int, noun: str) -> str:
    return noun + "s" * (count != 1)
