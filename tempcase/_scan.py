"""Find legacy temporary-file patterns in Python source, statically (``tempcase scan``)."""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import sys
import tokenize
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

from tempcase._args import Parser, UsageError
from tempcase._scan_rules import RULES, find_patterns

__all__ = ["RULES", "Finding", "collect_files", "main", "scan_file", "scan_source"]

PROG = "python -m tempcase scan"


@dataclass(frozen=True)
class Finding:
    """One legacy pattern at ``path:line:col`` (both 1-based)."""

    path: str
    line: int
    col: int
    code: str
    message: str
    replacement: str

    def as_text(self) -> str:
        """The finding as one ``file:line:col: CODE message (use: replacement)`` line."""
        use = f" (use: {self.replacement})" if self.replacement else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}{use}"


_SKIP_DIRS = frozenset({"__pycache__", ".tox", ".venv", "venv", "node_modules", "build", "dist"})
_IGNORE = re.compile(r"tempcase:\s*ignore(?:\[([^\]]*)\])?\s*$")


def _suppressions(source: str) -> dict[int, frozenset[str] | None]:
    """Line -> the codes a ``# tempcase: ignore[...]`` comment there silences (None: all)."""
    ignored: dict[int, frozenset[str] | None] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            match = _IGNORE.search(token.string) if token.type == tokenize.COMMENT else None
            if match:
                codes = match.group(1)
                ignored[token.start[0]] = (
                    None if codes is None else frozenset(c.strip() for c in codes.split(","))
                )
    except (tokenize.TokenError, SyntaxError):
        pass
    return ignored


def _char_col(lines: Sequence[str], line: int, byte_col: int) -> int:
    """ast counts columns in UTF-8 bytes; people count characters (1-based)."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    if text.isascii():
        return byte_col + 1
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace")) + 1


def _finding(path: str, line: int, col: int, code: str, detail: str = "") -> Finding:
    rule = RULES[code]
    return Finding(path, line, col, code, rule.message + detail, rule.replacement)


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    """The findings in *source* (the text of a module), sorted by line and column.

    :param path: the name shown in the findings.
    :returns: one :class:`Finding` per pattern, without those a comment silences;
        a ``TC000`` finding when *source* does not parse.
    """
    version = "{}.{}".format(*sys.version_info)
    try:
        module = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line, col = 1, 1
        if isinstance(exc, SyntaxError):
            line, col = exc.lineno or 1, exc.offset or 1
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        return [_finding(path, line, col, "TC000", f": {message} (Python {version})")]
    try:
        found = find_patterns(module)
    except RecursionError:
        return [_finding(path, 1, 1, "TC000", ": too deeply nested to scan")]
    # ast counts lines at \n, \r\n and \r only (str.splitlines also splits at form feeds).
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # tokenize is slow: only where a marker may be.
    ignored = _suppressions(source) if found and "tempcase:" in source else {}
    findings = set()
    for line, byte_col, code in found:
        if line in ignored and (ignored[line] is None or code in (ignored[line] or ())):
            continue
        findings.add(_finding(path, line, _char_col(lines, line, byte_col), code))
    return sorted(findings, key=_order)


def scan_file(path: str) -> list[Finding]:
    """The findings in the file *path*, read with its encoding declaration.

    A file that cannot be read or decoded gives one ``TC000`` finding, never an error.
    """
    try:
        with tokenize.open(path) as stream:
            source = stream.read()
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return [_finding(path, 1, 1, "TC000", f": {detail}")]
    return scan_source(source, path)


def _order(finding: Finding) -> tuple[str, int, int, str]:
    return finding.path, finding.line, finding.col, finding.code


def parse_paths_command(
    parser: Parser, argv: Sequence[str], prog: str
) -> tuple[argparse.Namespace, list[str]] | int:
    """The options of a command that takes PATH... (``scan``, ``migrate``) and
    the files they name, or the exit status: 0 after ``--help``, 2 (said on
    stderr) for bad arguments or a missing path."""
    try:
        options = parser.parse_args(list(argv))
        return options, collect_files(options.paths)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, FileNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def collect_files(paths: Sequence[str]) -> list[str]:
    """The files to scan: each file given, and every ``*.py`` below each directory.

    Hidden directories and build, virtualenv and cache directories are skipped;
    the result is sorted within each directory, spelled as given, without repeats.

    :raises FileNotFoundError: for a path that does not exist (or is not a file
        or directory), before anything is scanned.
    """
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(_walk(path))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    seen: set[str] = set()
    unique = []
    for name in files:
        key = os.path.normcase(os.path.abspath(name))
        if key not in seen:
            seen.add(key)
            unique.append(name)
    return unique


def _walk(top: str) -> Iterator[str]:
    for root, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(names):
            full = os.path.join(root, name)
            if name.endswith(".py") and os.path.isfile(full):
                yield full


def _codes(text: str) -> frozenset[str]:
    codes = frozenset(code.strip().upper() for code in text.split(",") if code.strip())
    unknown = sorted(codes - RULES.keys())
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown code {', '.join(unknown)} (known: {', '.join(RULES)})"
        )
    return codes


def _parser() -> Parser:
    parser = Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Find legacy temporary-file patterns in Python files, without "
        "importing them, and the tempcase replacement for each.",
        epilog="A '# tempcase: ignore[TC101]' comment at the end of a line silences that "
        "code there ('# tempcase: ignore' silences all). Codes: "
        + "; ".join(f"{rule.code} {rule.message}" for rule in RULES.values()),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files and directories")
    parser.add_argument("--check", action="store_true", help="exit 1 when anything is found")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--select", type=_codes, metavar="CODES", help="only these codes")
    parser.add_argument("--ignore", type=_codes, metavar="CODES", help="not these codes")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``python -m tempcase scan``.

    :param argv: the arguments after ``scan``.
    :returns: 0, or 1 under ``--check`` when anything was found; 2 for bad
        arguments or a missing path.
    """
    parsed = parse_paths_command(_parser(), argv, PROG)
    if isinstance(parsed, int):
        return parsed
    options, files = parsed
    findings = [
        finding
        for path in files
        for finding in scan_file(path)
        if (options.select is None or finding.code in options.select | {"TC000"})
        and (options.ignore is None or finding.code not in options.ignore)
    ]
    findings.sort(key=_order)
    if options.format == "json":
        json.dump([asdict(finding) for finding in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            print(finding.as_text())
    count = f"{len(findings)} finding{'s' * (len(findings) != 1)}" if findings else "no findings"
    print(f"{count} in {len(files)} file{'s' * (len(files) != 1)}", file=sys.stderr)
    return 1 if options.check and findings else 0
