"""The end-of-run report: text at 80 columns, the JSON report, baselines, path descriptions."""

from __future__ import annotations

import io
import json
import os
import threading
import unittest
from pathlib import Path
from typing import Any, Sequence
from unittest import mock

from tempcase._report import (
    CleanupError,
    Kept,
    Leak,
    RunReport,
    _size,
    describe_path,
    load_baseline,
    new_leaks,
    render_text,
    to_json,
)
from tempcase._runner import _write_safely
from tests.support import fresh_session, make_scratch, run_as_nobody

WIDTH = 80
# A file name that is not UTF-8, as os.listdir would return it.
CAFE = os.fsdecode(b"caf\xe9")


def _leak(
    context: str | None,
    name: str = "x",
    *,
    kind: str = "file",
    where: str = "sandbox",
    size: int = 0,
    removed: bool = True,
    scope: str = "test",
) -> Leak:
    return Leak(context, scope, Path("/run/sandbox", name), kind, where, size, removed)


def _report(
    leaks: Sequence[Leak] = (),
    *,
    failures: Sequence[CleanupError] = (),
    kept: Sequence[Kept] = (),
    fresh: Sequence[Leak] | None = None,
    baseline: str | None = None,
    strict: bool = False,
    tracked: int = 12,
    tests_with_paths: int = 3,
) -> RunReport:
    return RunReport(
        tests_run=5,
        tracked_paths=tracked,
        tracked_removed=tracked - len(failures),
        tracked_failed=len(failures),
        tests_with_paths=tests_with_paths,
        leaks=list(leaks),
        cleanup_failures=list(failures),
        kept=list(kept),
        new_leaks=None if fresh is None else list(fresh),
        baseline=baseline,
        strict=strict,
    )


def _ascii_output(lines: Sequence[str]) -> bytes:
    """What the runner writes for *lines* to an ASCII-only, strict stream."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    for line in lines:
        _write_safely(stream, line + "\n")
    stream.flush()
    return raw.getvalue()


class _ReportTestCase(unittest.TestCase):
    def setUp(self) -> None:
        fresh_session(self)

    def assert_fits(self, lines: Sequence[str], *long_words: str) -> None:
        """Every line fits 80 columns, unless it is one of *long_words* (indented) alone."""
        for line in lines:
            if len(line) > WIDTH:
                self.assertIn(line.strip(), long_words, f"line too long: {line!r}")

    def row_of(self, lines: Sequence[str], name: str) -> int:
        for index, line in enumerate(lines):
            if line.split() and line.split()[0] == name:
                return index
        self.fail(f"no row for {name!r} in {lines!r}")


class CleanRunTest(_ReportTestCase):
    def test_clean_run_is_one_line(self) -> None:
        lines = render_text(_report(tracked=1234, tests_with_paths=40))
        self.assertEqual(len(lines), 1)
        self.assertIn("1,234 paths tracked in 40 tests", lines[0])
        self.assertIn("all removed", lines[0])
        self.assert_fits(lines)

    def test_clean_strict_run_is_still_one_line(self) -> None:
        self.assertEqual(len(render_text(_report(strict=True))), 1)

    def test_singular_words(self) -> None:
        (line,) = render_text(_report(tracked=1, tests_with_paths=1))
        self.assertIn("1 path tracked in 1 test,", line)


class LeakTableTest(_ReportTestCase):
    def test_header_counts_tests_paths_removed_and_reported_only(self) -> None:
        leaks = [
            _leak("a.T.test_one", "1"),
            _leak("a.T.test_one", "2", removed=False),
            _leak("a.T.test_two", "3"),
        ]
        lines = render_text(_report(leaks))
        self.assertEqual(
            lines[0], "tempcase: 2 tests left 3 paths behind (2 removed, 1 reported only):"
        )
        self.assertNotIn("all removed", lines[-1])

    def test_groups_by_context_one_row_each(self) -> None:
        leaks = [_leak("a.T.test_one", str(i)) for i in range(4)] + [_leak("a.T.test_two")]
        lines = render_text(_report(leaks))
        rows = [line for line in lines if line.startswith("  ")]
        self.assertEqual(len(rows), 2)

    def test_more_paths_rank_first(self) -> None:
        leaks = [
            _leak("a.T.test_big_file", size=10 * 1024 * 1024),
            *(_leak("a.T.test_many", str(i)) for i in range(3)),
            *(_leak("a.T.test_two", str(i)) for i in range(2)),
        ]
        lines = render_text(_report(leaks))
        many = self.row_of(lines, "a.T.test_many")
        two = self.row_of(lines, "a.T.test_two")
        big = self.row_of(lines, "a.T.test_big_file")
        self.assertLess(many, two)
        self.assertLess(two, big)

    def test_more_bytes_rank_first_for_the_same_count(self) -> None:
        leaks = [
            _leak("a.T.test_small", size=10),
            _leak("a.T.test_large", size=2048),
            _leak("a.T.test_medium", size=1024),
        ]
        lines = render_text(_report(leaks))
        self.assertLess(self.row_of(lines, "a.T.test_large"), self.row_of(lines, "a.T.test_medium"))
        self.assertLess(self.row_of(lines, "a.T.test_medium"), self.row_of(lines, "a.T.test_small"))

    def test_kinds_are_counted_in_words(self) -> None:
        leaks = [
            *(_leak("a.T.test_mixed", f"f{i}") for i in range(3)),
            _leak("a.T.test_mixed", "d", kind="directory"),
            _leak("a.T.test_odd", "l", kind="symlink"),
            _leak("a.T.test_odd", "p", kind="other"),
            _leak("a.T.test_odd", "d1", kind="directory"),
            _leak("a.T.test_odd", "d2", kind="directory"),
        ]
        lines = render_text(_report(leaks))
        self.assertIn("3 files, 1 dir ", lines[self.row_of(lines, "a.T.test_mixed")])
        self.assertIn("2 dirs, 1 link, 1 other ", lines[self.row_of(lines, "a.T.test_odd")])

    def test_sizes_are_human(self) -> None:
        cases = {
            0: "0 B",
            1: "1 B",
            1023: "1023 B",
            1024: "1.0 KiB",
            12595: "12.3 KiB",
            1048575: "1.0 MiB",
            5 * 1024 * 1024: "5.0 MiB",
            3 * 1024**3: "3.0 GiB",
            2048 * 1024**3: "2048.0 GiB",
        }
        for size, text in cases.items():
            with self.subTest(size=size):
                self.assertEqual(_size(size), text)

    def test_row_shows_the_total_size(self) -> None:
        leaks = [
            _leak("a.T.test_io", "1", size=12 * 1024),
            _leak("a.T.test_io", "2", size=307, kind="directory"),
        ]
        lines = render_text(_report(leaks))
        self.assertIn("12.3 KiB", lines[self.row_of(lines, "a.T.test_io")])

    def test_row_shows_the_places(self) -> None:
        leaks = [
            _leak("a.T.test_io", "1", where="temp-root"),
            _leak("a.T.test_io", "2", where="sandbox"),
            _leak("a.T.test_io", "3", where="temp-root"),
            _leak("a.T.test_other", "4", where="watched"),
        ]
        lines = render_text(_report(leaks))
        self.assertTrue(lines[self.row_of(lines, "a.T.test_io")].endswith("sandbox, temp-root"))
        self.assertTrue(lines[self.row_of(lines, "a.T.test_other")].endswith("  watched"))

    def test_session_context_is_named(self) -> None:
        lines = render_text(_report([_leak(None, scope="session")]))
        self.assertEqual(self.row_of(lines, "(session)"), 1)

    def test_at_most_limit_rows_then_how_many_more(self) -> None:
        leaks = [_leak(f"a.T.test_{i:02}") for i in range(12)]
        for limit, shown in ((10, 10), (3, 3), (12, 12), (20, 12)):
            with self.subTest(limit=limit):
                lines = render_text(_report(leaks), limit=limit)
                rows = [line for line in lines if line.startswith("  a.T.test_")]
                self.assertEqual(len(rows), shown)
                more = [line for line in lines if "... and" in line]
                if shown < 12:
                    self.assertEqual(more, [f"  ... and {12 - shown} more tests"])
                else:
                    self.assertEqual(more, [])

    def test_the_rows_cut_by_the_limit_are_the_lightest(self) -> None:
        leaks = [_leak(f"a.T.test_{i}", size=i) for i in range(5)]
        lines = render_text(_report(leaks), limit=2)
        self.assertEqual(self.row_of(lines, "a.T.test_4"), 1)
        self.assertEqual(self.row_of(lines, "a.T.test_3"), 2)
        self.assertEqual(lines[3], "  ... and 3 more tests")


class WidthTest(_ReportTestCase):
    def test_typical_rows_fit_on_one_line(self) -> None:
        leaks = [
            *(_leak("pkg.test_io.ReadTest.test_cache", f"f{i}", size=4000) for i in range(3)),
            _leak("pkg.test_io.ReadTest.test_cache", "d", kind="directory", size=600),
        ]
        lines = render_text(_report(leaks))
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[1].startswith("  pkg.test_io.ReadTest.test_cache "))
        self.assertIn("3 files, 1 dir", lines[1])
        self.assert_fits(lines)

    def test_everything_at_once_fits_80_columns(self) -> None:
        test_id = "package.subpackage.test_module.SomeLongTestCase.test_something_long"
        leaks = [
            _leak(test_id, f"f{i}", kind=kind, where=where, size=123456789, removed=i % 2 == 0)
            for i, (kind, where) in enumerate(
                (kind, where)
                for kind in ("file", "directory", "symlink", "other")
                for where in ("sandbox", "tracked", "temp-root", "watched")
            )
        ]
        leaks += [_leak(f"{test_id}_{i}", size=1) for i in range(12000)]
        failure_path = Path("/tmp/tempcase-of-1000/run-abcdefgh/" + "d" * 30 + "/file")
        report = _report(
            leaks,
            failures=[
                CleanupError(
                    test_id,
                    failure_path,
                    "now on another file system (a mount point); left in place",
                ),
                CleanupError(None, Path("/x"), "Permission denied (EACCES)"),
            ],
            kept=[Kept(test_id, Path("/tmp/tempcase-of-1000/kept/run-1/" + "k" * 40))],
            fresh=leaks[:1500],
            baseline="reports/" + "b" * 50 + ".json",
            strict=True,
            tracked=12_345_678,
            tests_with_paths=123_456,
        )
        lines = render_text(report)
        self.assert_fits(lines)
        self.assertIn(f"  ... and {12001 - 10:,} more tests", lines)

    def test_a_test_id_longer_than_the_line_puts_the_details_below(self) -> None:
        test_id = "pkg." + "VeryLong" * 10 + ".test_x"
        self.assertGreater(len(test_id), WIDTH)
        leaks = [_leak(test_id, "1", size=2048), _leak(test_id, "2", kind="directory")]
        lines = render_text(_report(leaks))
        row = self.row_of(lines, test_id)
        self.assertEqual(lines[row], f"  {test_id}")
        details = lines[row + 1]
        self.assertLessEqual(len(details), WIDTH)
        self.assertIn("1 file, 1 dir", details)
        self.assertIn("2.0 KiB", details)
        self.assertIn("sandbox", details)
        self.assert_fits(lines, test_id)

    def test_a_test_id_just_too_long_for_one_line(self) -> None:
        test_id = "pkg.mod.Case.test_" + "x" * 50
        self.assertLess(len(test_id), WIDTH)
        lines = render_text(_report([_leak(test_id, size=5)]))
        self.assert_fits(lines)
        row = self.row_of(lines, test_id)
        self.assertIn("1 file", lines[row + 1])

    def test_long_cleanup_failure_paths_put_the_error_below(self) -> None:
        path = Path("/tmp/tempcase-of-1000/run-abcdefgh/" + "d" * 30 + "/file")
        error = "now on another file system (a mount point); left in place"
        lines = render_text(_report(failures=[CleanupError("a.T.test_x", path, error)]))
        self.assert_fits(lines)
        text = "\n".join(lines)
        self.assertIn(str(path), text)
        self.assertIn(error, text)

    def test_a_path_longer_than_the_line_stands_alone(self) -> None:
        path = Path("/" + "p" * 100)
        lines = render_text(
            _report(
                failures=[CleanupError("a.T.test_x", path, "Permission denied (EACCES)")],
                kept=[Kept("a.T.test_y", path)],
            )
        )
        self.assert_fits(lines, str(path), f"{path}:")

    def test_a_long_baseline_path_stands_alone(self) -> None:
        baseline = "reports/" + "b" * 60 + ".json"
        for fresh in ([], [_leak("a.T.test_x")]):
            with self.subTest(new=len(fresh)):
                lines = render_text(_report([_leak("a.T.test_x")], fresh=fresh, baseline=baseline))
                self.assert_fits(lines)
                self.assertIn(baseline, "\n".join(lines))


class OtherSectionsTest(_ReportTestCase):
    def test_cleanup_failures_list_context_path_and_error(self) -> None:
        failures = [
            CleanupError("a.T.test_x", Path("/r/one"), "Permission denied (EACCES)"),
            CleanupError(None, Path("/r/two"), "Device or resource busy (EBUSY)"),
        ]
        lines = render_text(_report(failures=failures))
        self.assertEqual(lines[0], "tempcase: 2 paths could not be removed:")
        text = "\n".join(lines)
        self.assertIn("a.T.test_x", text)
        self.assertIn("/r/one: Permission denied (EACCES)", text)
        self.assertIn("(session)", text)
        self.assertIn("/r/two: Device or resource busy (EBUSY)", text)
        self.assertNotIn("all removed", lines[-1])

    def test_cleanup_failures_beyond_the_limit_are_counted(self) -> None:
        failures = [CleanupError("a.T.t", Path(f"/r/{i}"), "busy") for i in range(5)]
        lines = render_text(_report(failures=failures), limit=2)
        self.assertIn("  ... and 3 more", lines)
        self.assertNotIn("/r/2: busy", "\n".join(lines))

    def test_kept_directories_are_listed(self) -> None:
        kept = [Kept("a.T.test_x", Path("/k/one")), Kept(None, Path("/k/two"))]
        lines = render_text(_report(kept=kept))
        self.assertEqual(lines[0], "tempcase: kept 2 directories:")
        text = "\n".join(lines)
        for word in ("a.T.test_x", "/k/one", "(session)", "/k/two"):
            self.assertIn(word, text)
        # The summary says what was kept rather than "all removed".
        self.assertIn("2 directories kept", lines[-1])

    def test_new_leaks_against_a_baseline(self) -> None:
        leaks = [_leak("a.T.test_x", "1"), _leak("a.T.test_x", "2")]
        lines = render_text(_report(leaks, fresh=leaks[1:], baseline="old.json"))
        self.assertIn("tempcase: 1 leak not in the baseline old.json", lines)

    def test_no_leaks_beyond_the_baseline(self) -> None:
        leaks = [_leak("a.T.test_x")]
        lines = render_text(_report(leaks, fresh=[], baseline="old.json", strict=True))
        self.assertIn("tempcase: no leaks beyond the baseline old.json", lines)
        self.assertFalse(any(line.startswith("tempcase: strict:") for line in lines))

    def test_no_baseline_line_without_a_baseline(self) -> None:
        lines = render_text(_report([_leak("a.T.test_x")]))
        self.assertFalse(any("baseline" in line for line in lines))

    def test_strict_line_with_leaks(self) -> None:
        lines = render_text(_report([_leak("a.T.test_x")], strict=True))
        self.assertIn("tempcase: strict: leaks and cleanup failures fail this run", lines)

    def test_strict_line_with_cleanup_failures(self) -> None:
        failure = CleanupError("a.T.t", Path("/r"), "busy")
        lines = render_text(_report(failures=[failure], strict=True))
        self.assertTrue(any(line.startswith("tempcase: strict:") for line in lines))

    def test_strict_line_with_new_leaks(self) -> None:
        leaks = [_leak("a.T.test_x")]
        lines = render_text(_report(leaks, fresh=leaks, baseline="b.json", strict=True))
        self.assertTrue(any(line.startswith("tempcase: strict:") for line in lines))

    def test_no_strict_line_without_strict(self) -> None:
        lines = render_text(_report([_leak("a.T.test_x")]))
        self.assertFalse(any(line.startswith("tempcase: strict:") for line in lines))


class EncodingTest(_ReportTestCase):
    def test_undecodable_names_are_escaped_for_an_ascii_stream(self) -> None:
        context = f"a.T.test_{CAFE}"
        path = Path("/r", CAFE)
        report = _report(
            [_leak(context, CAFE), _leak(None, CAFE, kind="directory")],
            failures=[CleanupError(context, path, f"Permission denied: {CAFE}")],
            kept=[Kept(context, path)],
            fresh=[_leak(context, CAFE)],
            baseline=f"/r/{CAFE}.json",
        )
        lines = render_text(report)
        for line in lines:
            line.encode("utf-8")  # no lone surrogates left
        output = _ascii_output(lines)
        self.assertIn(b"caf\\xe9", output)
        self.assertNotIn(b"\\udce9", output)
        self.assertNotIn(b"?", output)
        self.assertIn(b"a.T.test_caf\\xe9", output)
        self.assertIn(b"/r/caf\\xe9.json", output)

    def test_control_characters_in_names_are_escaped(self) -> None:
        path = Path("/r/a\nb\x1b[2J\r")
        report = _report(
            failures=[CleanupError("a.T.test_x", path, "busy")],
            kept=[Kept("a.T.test_y", path)],
        )
        lines = render_text(report)
        for line in lines:
            self.assertTrue(line.isprintable(), repr(line))

    def test_non_ascii_names_reach_an_ascii_stream_escaped(self) -> None:
        path = Path("/r/\u00e9t\u00e9")
        lines = render_text(_report(kept=[Kept("a.T.test_\u00e9", path)]))
        output = _ascii_output(lines)
        self.assertIn(b"\\xe9t\\xe9", output)
        self.assertIn(b"a.T.test_\\xe9", output)


class JsonTest(_ReportTestCase):
    def full_report(self, **kwargs: Any) -> RunReport:
        return _report(
            [
                _leak("a.T.test_x", "one", kind="directory", size=20, removed=False),
                _leak(None, "two", scope="session", where="temp-root", size=3),
            ],
            failures=[CleanupError("a.T.test_x", Path("/r/f"), "busy")],
            kept=[Kept("a.T.test_y", Path("/k/y"))],
            **kwargs,
        )

    def test_version_1_keys_exactly(self) -> None:
        data = to_json(self.full_report())
        self.assertEqual(
            set(data),
            {
                "tempcase_report",
                "tests_run",
                "tracked",
                "cleanup_failures",
                "leaks",
                "kept",
                "redirect_resets",  # gained in version 1: keys are added, never removed
            },
        )
        self.assertEqual(data["redirect_resets"], [])
        self.assertEqual(data["tempcase_report"], 1)
        self.assertEqual(data["tests_run"], 5)
        self.assertEqual(data["tracked"], {"paths": 12, "removed": 11, "failed": 1})
        self.assertEqual(
            data["cleanup_failures"], [{"context": "a.T.test_x", "path": "/r/f", "error": "busy"}]
        )
        self.assertEqual(
            data["leaks"],
            [
                {
                    "context": "a.T.test_x",
                    "scope": "test",
                    "path": "/run/sandbox/one",
                    "kind": "directory",
                    "where": "sandbox",
                    "size": 20,
                    "removed": False,
                },
                {
                    "context": None,
                    "scope": "session",
                    "path": "/run/sandbox/two",
                    "kind": "file",
                    "where": "temp-root",
                    "size": 3,
                    "removed": True,
                },
            ],
        )
        self.assertEqual(data["kept"], [{"context": "a.T.test_y", "path": "/k/y"}])
        self.assertEqual(json.loads(json.dumps(data)), data)

    def test_baseline_key_only_with_a_baseline(self) -> None:
        self.assertNotIn("baseline", to_json(self.full_report()))
        data = to_json(self.full_report(fresh=[], baseline="old.json"))
        self.assertEqual(data["baseline"], {"path": "old.json", "new_leaks": 0})
        data = to_json(self.full_report(fresh=[_leak("a")], baseline="old.json"))
        self.assertEqual(data["baseline"]["new_leaks"], 1)

    def test_undecodable_names_serialize(self) -> None:
        context = f"a.T.test_{CAFE}"
        report = _report(
            [_leak(context, CAFE)],
            failures=[CleanupError(context, Path("/r", CAFE), f"busy: {CAFE}")],
            kept=[Kept(context, Path("/k", CAFE))],
        )
        data = to_json(report)
        json.dumps(data)
        # Also as UTF-8 text, as a report file is written: no lone surrogates.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
        self.assertIn("caf\\xe9", data["leaks"][0]["path"])
        self.assertIn("caf\\xe9", data["kept"][0]["path"])
        self.assertIn("caf\\xe9", data["cleanup_failures"][0]["path"])

    def test_json_is_ascii_safe_for_any_stream(self) -> None:
        data = to_json(_report([_leak("a.T.test_\u00e9", "\u00e9")]))
        json.dumps(data).encode("ascii")


class BaselineTest(_ReportTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.scratch = make_scratch(self)

    def write_report(self, report: RunReport) -> str:
        path = self.scratch / "report.json"
        path.write_text(json.dumps(to_json(report), indent=2), encoding="utf-8")
        return str(path)

    def write(self, text: str) -> str:
        path = self.scratch / "other.json"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def test_round_trip_counts_by_context_place_and_kind(self) -> None:
        leaks = [
            _leak("a.T.test_x", "tmp1"),
            _leak("a.T.test_x", "tmp2"),
            _leak("a.T.test_x", "d", kind="directory"),
            _leak(None, "s", where="temp-root", scope="session"),
        ]
        counts = load_baseline(self.write_report(_report(leaks)))
        self.assertEqual(
            dict(counts),
            {
                ("a.T.test_x", "sandbox", "file"): 2,
                ("a.T.test_x", "sandbox", "directory"): 1,
                (None, "temp-root", "file"): 1,
            },
        )

    def test_same_leaks_under_other_names_are_not_new(self) -> None:
        before = [_leak("a.T.test_x", "tmpab12cd"), _leak(None, "tmpq", scope="session")]
        after = [_leak("a.T.test_x", "tmpzz99yy"), _leak(None, "tmpr", scope="session")]
        baseline = load_baseline(self.write_report(_report(before)))
        self.assertEqual(new_leaks(after, baseline), [])

    def test_more_of_the_same_kind_are_new(self) -> None:
        baseline = load_baseline(self.write_report(_report([_leak("a.T.test_x", "1")])))
        after = [_leak("a.T.test_x", "2"), _leak("a.T.test_x", "3")]
        self.assertEqual(new_leaks(after, baseline), [after[1]])

    def test_another_context_place_or_kind_is_new(self) -> None:
        baseline = load_baseline(self.write_report(_report([_leak("a.T.test_x")])))
        after = [
            _leak("a.T.test_y"),
            _leak("a.T.test_x", where="temp-root"),
            _leak("a.T.test_x", kind="directory"),
            _leak(None),
        ]
        self.assertEqual(new_leaks(after, baseline), after)

    def test_fewer_leaks_than_the_baseline_is_fine(self) -> None:
        before = [_leak("a.T.test_x", str(i)) for i in range(3)]
        baseline = load_baseline(self.write_report(_report(before)))
        self.assertEqual(new_leaks(before[:1], baseline), [])

    def test_an_empty_baseline(self) -> None:
        baseline = load_baseline(self.write_report(_report()))
        leaks = [_leak("a.T.test_x")]
        self.assertEqual(new_leaks(leaks, baseline), leaks)

    def test_undecodable_context_round_trips(self) -> None:
        context = f"a.T.test_{CAFE}"
        baseline = load_baseline(self.write_report(_report([_leak(context, CAFE)])))
        self.assertEqual(new_leaks([_leak(context, "other")], baseline), [])

    def test_refuses_what_is_not_json(self) -> None:
        path = self.write("tempcase: 3 tests left 7 paths behind\n")
        with self.assertRaises(ValueError) as caught:
            load_baseline(path)
        self.assertIn(path, str(caught.exception))

    def test_refuses_json_that_is_not_a_tempcase_report(self) -> None:
        cases = [
            "[]",
            '"tempcase"',
            "{}",
            '{"leaks": []}',
            '{"tempcase_report": 2, "leaks": []}',
            '{"tempcase_report": "1", "leaks": []}',
            '{"tempcase_report": true, "leaks": []}',
            '{"tempcase_report": 1, "leaks": "none"}',
            '{"tempcase_report": 1, "leaks": [1]}',
            '{"tempcase_report": 1, "leaks": {"a": 1}}',
        ]
        for text in cases:
            with self.subTest(text=text):
                path = self.write(text)
                with self.assertRaises(ValueError) as caught:
                    load_baseline(path)
                self.assertIn(path, str(caught.exception))

    def test_refuses_a_file_that_is_not_utf8(self) -> None:
        path = self.scratch / "bad.json"
        path.write_bytes(b'{"tempcase_report": 1, "leaks": [], "x": "caf\xe9"}')
        with self.assertRaises(ValueError):
            load_baseline(str(path))


class DescribePathTest(_ReportTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.scratch = make_scratch(self)

    def test_file_size(self) -> None:
        path = self.scratch / "f"
        path.write_bytes(b"12345")
        self.assertEqual(describe_path(str(path)), ("file", 5))

    def test_empty_file(self) -> None:
        path = self.scratch / "f"
        path.touch()
        self.assertEqual(describe_path(str(path)), ("file", 0))

    def test_directory_counts_everything_below(self) -> None:
        top = self.scratch / "d"
        (top / "a" / "b").mkdir(parents=True)
        (top / "one").write_bytes(b"x" * 3)
        (top / "a" / "two").write_bytes(b"x" * 4)
        (top / "a" / "b" / "three").write_bytes(b"x" * 1000)
        self.assertEqual(describe_path(str(top)), ("directory", 1007))

    def test_empty_directory(self) -> None:
        top = self.scratch / "d"
        top.mkdir()
        self.assertEqual(describe_path(str(top)), ("directory", 0))

    def test_links_inside_a_directory_are_not_followed(self) -> None:
        outside = self.scratch / "outside"
        outside.mkdir()
        (outside / "big").write_bytes(b"x" * 5000)
        top = self.scratch / "d"
        top.mkdir()
        (top / "own").write_bytes(b"x" * 7)
        (top / "to-file").symlink_to(outside / "big")
        (top / "to-dir").symlink_to(outside, target_is_directory=True)
        (top / "dangling").symlink_to(self.scratch / "missing")
        self.assertEqual(describe_path(str(top)), ("directory", 7))

    def test_symlink_is_a_symlink_of_size_zero(self) -> None:
        target = self.scratch / "big"
        target.write_bytes(b"x" * 5000)
        link = self.scratch / "link"
        link.symlink_to(target)
        self.assertEqual(describe_path(str(link)), ("symlink", 0))

    def test_symlink_to_a_directory_is_not_followed(self) -> None:
        target = self.scratch / "dir"
        target.mkdir()
        (target / "inside").write_bytes(b"x" * 50)
        link = self.scratch / "link"
        link.symlink_to(target, target_is_directory=True)
        self.assertEqual(describe_path(str(link)), ("symlink", 0))

    def test_dangling_symlink(self) -> None:
        link = self.scratch / "link"
        link.symlink_to(self.scratch / "missing")
        self.assertEqual(describe_path(str(link)), ("symlink", 0))

    def test_missing_path(self) -> None:
        self.assertEqual(describe_path(str(self.scratch / "missing")), ("other", 0))

    @unittest.skipUnless(hasattr(os, "mkfifo"), "needs os.mkfifo")
    def test_fifo_is_other_and_never_opened(self) -> None:
        fifo = self.scratch / "fifo"
        os.mkfifo(fifo)
        top = self.scratch / "d"
        top.mkdir()
        os.mkfifo(top / "pipe")
        (top / "f").write_bytes(b"xy")
        # Opening a FIFO without a writer blocks: make any open fail instead.
        with mock.patch("os.open", side_effect=AssertionError("opened")), mock.patch(
            "builtins.open", side_effect=AssertionError("opened")
        ):
            self.assertEqual(describe_path(str(fifo)), ("other", 0))
            self.assertEqual(describe_path(str(top)), ("directory", 2))

    @unittest.skipUnless(hasattr(os, "mkfifo"), "needs os.mkfifo")
    def test_fifo_with_no_writer_does_not_block(self) -> None:
        fifo = self.scratch / "fifo"
        os.mkfifo(fifo)
        results: list[tuple[str, int]] = []
        worker = threading.Thread(target=lambda: results.append(describe_path(str(fifo))))
        worker.daemon = True
        worker.start()
        worker.join(60)  # a hang guard, not a timing assertion
        if worker.is_alive():
            # Release the blocked reader so the suite can go on.
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            self.fail("describe_path blocked on a FIFO")
        self.assertEqual(results, [("other", 0)])

    def test_unreadable_subdirectory_is_skipped(self) -> None:
        top = self.scratch / "d"
        (top / "closed").mkdir(parents=True)
        (top / "closed" / "hidden").write_bytes(b"x" * 100)
        (top / "open").write_bytes(b"x" * 9)

        def body() -> None:
            os.chmod(top / "closed", 0)
            try:
                assert describe_path(str(top)) == ("directory", 9), describe_path(str(top))
            finally:
                os.chmod(top / "closed", 0o700)

        run_as_nobody(self, self.scratch, body)

    def test_undecodable_names_inside(self) -> None:
        top = self.scratch / "d"
        top.mkdir()
        (top / CAFE).write_bytes(b"x" * 11)
        self.assertEqual(describe_path(str(top)), ("directory", 11))
        self.assertEqual(describe_path(str(top / CAFE)), ("file", 11))


if __name__ == "__main__":
    unittest.main()
