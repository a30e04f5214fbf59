"""tempcase scan: each legacy pattern and its negatives, import forms, scopes,
suppression comments, files that do not parse, the file walk and the command line."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import unittest
from pathlib import Path
from typing import Sequence

import tempcase._cli
from tempcase._scan import collect_files, main, scan_file, scan_source
from tempcase._scan_rules import RULES
from tests.support import fresh_session, make_scratch, run_python


def _cli_has_scan() -> bool:
    """Whether ``python -m tempcase scan`` reaches this module (the command line wires it)."""
    with open(tempcase._cli.__file__, encoding="utf-8") as stream:
        return "tempcase._scan" in stream.read()


def codes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every finding in *source* (dedented)."""
    return [(f.line, f.code) for f in scan_source(textwrap.dedent(source))]


class ScanCase(unittest.TestCase):
    """A scratch dir, a fresh session, and helpers to write sample files and run main."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)

    def write(self, name: str, source: str, encoding: str = "utf-8") -> Path:
        path = self.scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(textwrap.dedent(source).encode(encoding))
        return path

    def main(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
        return status, out.getvalue(), err.getvalue()


class MakerCallTest(ScanCase):
    """TC101 mkdtemp, TC102 mkstemp, TC103 mktemp."""

    def test_module_attribute_calls_are_found(self) -> None:
        source = """\
            import tempfile
            a = tempfile.mkdtemp()
            b = tempfile.mkstemp(suffix=".txt")
            c = tempfile.mktemp()
            """
        self.assertEqual(codes(source), [(2, "TC101"), (3, "TC102"), (4, "TC103")])

    def test_mktemp_message_says_it_is_unsafe(self) -> None:
        (finding,) = scan_source("import tempfile\ntempfile.mktemp()\n")
        self.assertIn("unsafe", finding.message)
        self.assertIn("create_temp_file", finding.replacement)

    def test_each_code_names_a_tempcase_replacement(self) -> None:
        self.assertIn("create_temp_directory", RULES["TC101"].replacement)
        self.assertIn("create_temp_file", RULES["TC102"].replacement)
        self.assertIn("register_temp_file", RULES["TC104"].replacement)
        self.assertIn("with_temp_directory", RULES["TC105"].replacement)

    def test_import_forms_resolve_to_tempfile(self) -> None:
        source = """\
            import tempfile as tf
            from tempfile import mkdtemp
            from tempfile import mkstemp as ms
            tf.mkdtemp()
            mkdtemp()
            ms()
            alias = tempfile_mktemp = tf.mktemp
            alias()
            """
        self.assertEqual(codes(source), [(4, "TC101"), (5, "TC101"), (6, "TC102"), (8, "TC103")])

    def test_star_import_makes_bare_names_tempfiles(self) -> None:
        source = """\
            from tempfile import *
            mkdtemp()
            NamedTemporaryFile(delete=False)
            """
        self.assertEqual(codes(source), [(2, "TC101"), (3, "TC104")])

    def test_same_names_not_from_tempfile_are_not_found(self) -> None:
        source = """\
            from mylib import mkstemp
            import faketemp as tempfile
            def mkdtemp():
                return "x"
            class Helper:
                def mktemp(self):
                    return self.mktemp()
            mkdtemp()
            mkstemp()
            tempfile.mkdtemp()
            Helper().mktemp()
            """
        self.assertEqual(codes(source), [])

    def test_parameter_shadows_the_module(self) -> None:
        source = """\
            import tempfile
            def f(tempfile):
                return tempfile.mkdtemp()
            """
        self.assertEqual(codes(source), [])

    def test_local_definition_after_import_shadows_it(self) -> None:
        source = """\
            from tempfile import mkdtemp
            mkdtemp()
            def mkdtemp():
                return "mine"
            mkdtemp()
            """
        self.assertEqual(codes(source), [(2, "TC101")])


class ScopeTest(ScanCase):
    def test_import_inside_a_function_is_seen_there_only(self) -> None:
        source = """\
            def uses():
                from tempfile import mkdtemp
                return mkdtemp()
            def other():
                return mkdtemp()
            """
        self.assertEqual(codes(source), [(3, "TC101")])

    def test_nested_functions_and_classes_see_module_imports(self) -> None:
        source = """\
            import tempfile
            class Outer:
                class Inner:
                    def method(self):
                        def helper():
                            return lambda: tempfile.mkstemp()
                        return helper
            def factory():
                class Local:
                    path = tempfile.mkdtemp()
                return Local
            """
        self.assertEqual(codes(source), [(6, "TC102"), (10, "TC101")])

    def test_class_body_import_is_not_visible_in_methods(self) -> None:
        source = """\
            class T:
                from tempfile import mkdtemp
                made = mkdtemp()
                def method(self):
                    return mkdtemp()
            """
        self.assertEqual(codes(source), [(3, "TC101")])


class NamedTemporaryFileTest(ScanCase):
    """TC104."""

    def test_delete_false_is_found(self) -> None:
        source = """\
            import tempfile
            from tempfile import NamedTemporaryFile as NTF
            f = tempfile.NamedTemporaryFile(delete=False, suffix=".txt")
            with NTF("w", delete=False) as g:
                pass
            h = tempfile.NamedTemporaryFile("w", -1, None, None, "", "tmp", None, False)
            """
        self.assertEqual(codes(source), [(3, "TC104"), (4, "TC104"), (6, "TC104")])

    def test_deleting_or_unknown_delete_is_not_found(self) -> None:
        source = """\
            import tempfile
            a = tempfile.NamedTemporaryFile()
            b = tempfile.NamedTemporaryFile(delete=True)
            c = tempfile.NamedTemporaryFile(delete=keep)
            d = tempfile.NamedTemporaryFile(**options)
            """
        self.assertEqual(codes(source), [])


class TemporaryDirectoryTest(ScanCase):
    """TC105."""

    def test_unmanaged_temporary_directory_is_found(self) -> None:
        source = """\
            import tempfile
            from tempfile import TemporaryDirectory
            def test():
                d = tempfile.TemporaryDirectory()
                name = TemporaryDirectory().name
                return d.name
            """
        self.assertEqual(codes(source), [(4, "TC105"), (5, "TC105")])

    def test_with_and_entered_contexts_are_not_found(self) -> None:
        source = """\
            import contextlib
            import tempfile
            class T:
                def test(self):
                    with tempfile.TemporaryDirectory() as d, open("x") as f:
                        pass
                    path = self.enterContext(tempfile.TemporaryDirectory())
                    with contextlib.ExitStack() as stack:
                        other = stack.enter_context(tempfile.TemporaryDirectory())
            """
        self.assertEqual(codes(source), [])

    def test_cleanup_referenced_in_the_same_function_is_not_found(self) -> None:
        source = """\
            import tempfile
            class T:
                def setUp(self):
                    d = tempfile.TemporaryDirectory()
                    self.addCleanup(d.cleanup)
                def test(self):
                    e = tempfile.TemporaryDirectory()
                    try:
                        pass
                    finally:
                        e.cleanup()
            """
        self.assertEqual(codes(source), [])

    def test_cleanup_of_another_name_or_function_is_found(self) -> None:
        source = """\
            import tempfile
            def one():
                d = tempfile.TemporaryDirectory()
                other.cleanup()
            def two():
                d.cleanup()
            """
        self.assertEqual(codes(source), [(3, "TC105")])

    def test_attribute_cleaned_in_another_method_of_the_class_is_not_found(self) -> None:
        source = """\
            import tempfile
            class T:
                def setUp(self):
                    self.tmp = tempfile.TemporaryDirectory()
                    self.kept = tempfile.TemporaryDirectory()
                def tearDown(self):
                    self.tmp.cleanup()
            """
        self.assertEqual(codes(source), [(5, "TC105")])

    def test_returned_directory_is_the_callers_to_clean(self) -> None:
        source = """\
            import tempfile
            def make():
                return tempfile.TemporaryDirectory()
            def fixture():
                d = tempfile.TemporaryDirectory()
                yield d
            """
        self.assertEqual(codes(source), [])


class TmpLiteralTest(ScanCase):
    """TC106."""

    def test_paths_under_tmp_are_found(self) -> None:
        source = """\
            a = "/tmp/data.txt"
            b = "/tmp"
            c = '/var/tmp/cache'
            d = f"/tmp/{a}.log"
            e = b"/tmp/raw"
            """
        self.assertEqual(
            codes(source), [(1, "TC106"), (2, "TC106"), (3, "TC106"), (4, "TC106"), (5, "TC106")]
        )

    def test_other_strings_are_not_found(self) -> None:
        source = '''\
            """Writes into /tmp/ by default (a docstring, not a path)."""
            a = "/tmpfiles/x"
            b = "tmp/x"
            c = "/home/me/tmp/x"
            d = "/var/tmpx"
            e = f"{a}/tmp/x"
            def f():
                """/tmp/x: also a docstring."""
            '''
        self.assertEqual(codes(source), [])


class GettempdirJoinTest(ScanCase):
    """TC107."""

    def test_joins_are_found(self) -> None:
        source = """\
            import os
            import tempfile
            from pathlib import Path
            a = os.path.join(tempfile.gettempdir(), "a")
            b = Path(tempfile.gettempdir()) / "b" / "c"
            c = tempfile.gettempdir() + "/c"
            d = f"{tempfile.gettempdir()}/d"
            e = Path(tempfile.gettempdir(), "e")
            f = Path(tempfile.gettempdir()).joinpath("f")
            """
        self.assertEqual(
            codes(source),
            [(4, "TC107"), (5, "TC107"), (6, "TC107"), (7, "TC107"), (8, "TC107"), (9, "TC107")],
        )

    def test_join_import_forms_are_found(self) -> None:
        source = """\
            import os.path
            from os import path
            from os.path import join as j
            from tempfile import gettempdir
            import tempfile as tf
            a = os.path.join(gettempdir(), "a")
            b = path.join(tf.gettempdir(), "b")
            c = j(gettempdir(), "c")
            """
        self.assertEqual(codes(source), [(6, "TC107"), (7, "TC107"), (8, "TC107")])

    def test_name_bound_to_gettempdir_is_followed(self) -> None:
        source = """\
            import os, tempfile
            from pathlib import Path
            def test():
                tmp = tempfile.gettempdir()
                base = Path(tempfile.gettempdir())
                return os.path.join(tmp, "x"), base / "y"
            """
        self.assertEqual(codes(source), [(6, "TC107"), (6, "TC107")])

    def test_other_uses_of_gettempdir_are_not_found(self) -> None:
        source = """\
            import os, tempfile
            from pathlib import Path
            def gettempdir():
                return "mine"
            print(tempfile.gettempdir())
            a = os.path.join(base, "a")
            b = Path(base) / "b"
            c = os.path.join(gettempdir(), "c")
            d = "prefix" + tempfile.gettempdir()
            """
        self.assertEqual(codes(source), [])

    def test_mkdtemp_in_gettempdir_is_only_a_mkdtemp(self) -> None:
        source = "import tempfile\ntempfile.mkdtemp(dir=tempfile.gettempdir())\n"
        self.assertEqual(codes(source), [(2, "TC101")])


class SuppressionTest(ScanCase):
    def test_comment_suppresses_the_named_code_only(self) -> None:
        source = """\
            import tempfile
            tempfile.mkdtemp(dir="/tmp")  # tempcase: ignore[TC101]
            tempfile.mkdtemp(dir="/tmp")  # tempcase: ignore[TC101,TC106]
            tempfile.mkdtemp(dir="/tmp")  # tempcase: ignore[TC101, TC106]
            tempfile.mkdtemp(dir="/tmp")  # tempcase: ignore
            tempfile.mkdtemp(dir="/tmp")  # noqa: E501  # tempcase: ignore[TC106]
            """
        self.assertEqual(codes(source), [(2, "TC106"), (6, "TC101")])

    def test_marker_in_a_string_does_not_suppress(self) -> None:
        source = """\
            import tempfile
            x = "# tempcase: ignore"; tempfile.mkdtemp()
            y = '''
            # tempcase: ignore'''; tempfile.mkstemp()
            """
        self.assertEqual(codes(source), [(2, "TC101"), (4, "TC102")])

    def test_comment_applies_to_the_line_where_the_call_starts(self) -> None:
        source = """\
            import tempfile
            a = tempfile.mkdtemp(  # tempcase: ignore[TC101]
                prefix="x",
            )
            b = tempfile.mkstemp(
                prefix="y",  # tempcase: ignore[TC102]
            )
            """
        self.assertEqual(codes(source), [(5, "TC102")])


class PositionTest(ScanCase):
    def test_findings_sorted_by_line_then_column_one_based(self) -> None:
        source = "import tempfile\nx = (tempfile.mkstemp(), tempfile.mkdtemp())\n"
        found = [(f.line, f.col, f.code) for f in scan_source(source)]
        self.assertEqual(found, [(2, 6, "TC102"), (2, 26, "TC101")])

    def test_column_counts_characters_not_bytes(self) -> None:
        source = 'import tempfile\nnom = "été"; tempfile.mkdtemp()\n'
        (finding,) = scan_source(source)
        self.assertEqual((finding.line, finding.col), (2, 14))

    def test_form_feed_does_not_shift_lines(self) -> None:
        source = "import tempfile\n\x0c\nnom = 'été'; tempfile.mkdtemp()\n"
        (finding,) = scan_source(source)
        self.assertEqual((finding.line, finding.col), (3, 14))

    def test_findings_sorted_by_file_across_paths(self) -> None:
        self.write("b.py", "import tempfile\ntempfile.mkdtemp()\n")
        self.write("a.py", "\n\nx = '/tmp/x'\n")
        status, out, _ = self.main(str(self.scratch / "b.py"), str(self.scratch / "a.py"))
        self.assertEqual(status, 0)
        names = [Path(line.split(":")[0]).name for line in out.splitlines()]
        self.assertEqual(names, ["a.py", "b.py"])


class UnparsableFileTest(ScanCase):
    def test_syntax_error_is_a_tc000_finding_and_the_scan_goes_on(self) -> None:
        bad = self.write("bad.py", "import tempfile\n\ndef broken(:\n    pass\n")
        self.write("good.py", "import tempfile\ntempfile.mkdtemp()\n")
        status, out, err = self.main(str(self.scratch), "--check")
        self.assertEqual(status, 1)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith(f"{bad}:3:"), lines[0])
        self.assertIn(": TC000 could not parse: ", lines[0])
        self.assertIn("good.py:2:1: TC101 ", lines[1])
        self.assertEqual(err.strip(), "2 findings in 2 files")

    def test_declared_latin1_file_is_decoded(self) -> None:
        path = self.write(
            "legacy.py",
            "# -*- coding: latin-1 -*-\nimport tempfile\nnom = 'été'; tempfile.mkdtemp()\n",
            encoding="latin-1",
        )
        found = [(f.line, f.col, f.code) for f in scan_file(str(path))]
        self.assertEqual(found, [(3, 14, "TC101")])

    def test_undecodable_file_is_a_tc000_finding(self) -> None:
        path = self.scratch / "binary.py"
        path.write_bytes(b"import tempfile\nx = '\xff\xfe'\ntempfile.mkdtemp()\n")
        (finding,) = scan_file(str(path))
        self.assertEqual(finding.code, "TC000")
        self.assertTrue(finding.message.startswith("could not parse: "), finding.message)

    def test_unknown_encoding_declaration_is_a_tc000_finding(self) -> None:
        path = self.write("odd.py", "# coding: no-such-codec\nimport tempfile\n")
        (finding,) = scan_file(str(path))
        self.assertEqual(finding.code, "TC000")

    def test_too_deeply_nested_source_is_a_tc000_finding(self) -> None:
        source = "import tempfile\nx = " + "tempfile.mkdtemp() + " * 5000 + "1\n"
        self.assertEqual([f.code for f in scan_source(source)], ["TC000"])

    def test_null_byte_is_a_tc000_finding(self) -> None:
        path = self.scratch / "nul.py"
        path.write_bytes(b"x = 1\x00\n")
        self.assertEqual([f.code for f in scan_file(str(path))], ["TC000"])


class CollectFilesTest(ScanCase):
    def test_directories_walked_for_python_files_skipping_tool_directories(self) -> None:
        for name in [
            "pkg/test_b.py",
            "pkg/test_a.py",
            "pkg/sub/test_c.py",
            "pkg/notes.txt",
            "pkg/.hidden/test_h.py",
            "pkg/__pycache__/test_p.py",
            "pkg/.tox/t.py",
            "pkg/venv/v.py",
            "pkg/.venv/v.py",
            "pkg/node_modules/n.py",
            "pkg/build/b.py",
            "pkg/dist/d.py",
        ]:
            self.write(name, "")
        top = str(self.scratch / "pkg")
        self.assertEqual(
            [name[len(top) :] for name in collect_files([top])],
            ["/test_a.py", "/test_b.py", "/sub/test_c.py"],
        )

    def test_file_given_explicitly_is_scanned_whatever_its_name(self) -> None:
        path = self.write("script", "import tempfile\ntempfile.mkstemp()\n")
        status, out, _ = self.main(str(path))
        self.assertEqual(status, 0)
        self.assertTrue(out.startswith(f"{path}:2:1: TC102 "), out)

    def test_file_given_twice_is_scanned_once(self) -> None:
        path = self.write("t.py", "import tempfile\ntempfile.mkstemp()\n")
        self.assertEqual(collect_files([str(self.scratch), str(path)]), [str(path)])


class MainInProcessTest(ScanCase):
    def test_text_output_and_summary(self) -> None:
        path = self.write("t.py", "import tempfile\nd = tempfile.mkdtemp()\n")
        status, out, err = self.main(str(path))
        rule = RULES["TC101"]
        self.assertEqual(status, 0)
        self.assertEqual(out, f"{path}:2:5: TC101 {rule.message} (use: {rule.replacement})\n")
        self.assertEqual(err, "1 finding in 1 file\n")

    def test_check_exits_one_only_when_something_is_found(self) -> None:
        dirty = self.write("dirty.py", "x = '/tmp/x'\n")
        clean = self.write("clean.py", "x = 1\n")
        self.assertEqual(self.main("--check", str(dirty))[0], 1)
        status, out, err = self.main("--check", str(clean))
        self.assertEqual((status, out, err), (0, "", "no findings in 1 file\n"))

    def test_json_format(self) -> None:
        path = self.write(
            "t.py", "import tempfile\nf = tempfile.NamedTemporaryFile(delete=False)\n"
        )
        status, out, _ = self.main("--format", "json", str(path))
        self.assertEqual(status, 0)
        rule = RULES["TC104"]
        self.assertEqual(
            json.loads(out),
            [
                {
                    "path": str(path),
                    "line": 2,
                    "col": 5,
                    "code": "TC104",
                    "message": rule.message,
                    "replacement": rule.replacement,
                }
            ],
        )

    def test_select_and_ignore_filter_codes(self) -> None:
        path = self.write(
            "t.py", "import tempfile\ntempfile.mkdtemp(dir='/tmp')\ntempfile.mktemp()\n"
        )

        def found(*args: str) -> list[str]:
            return [line.split(" ")[1] for line in self.main(*args, str(path))[1].splitlines()]

        self.assertEqual(found(), ["TC101", "TC106", "TC103"])
        self.assertEqual(found("--select", "TC101,TC103"), ["TC101", "TC103"])
        self.assertEqual(found("--ignore", "TC106"), ["TC101", "TC103"])
        self.assertEqual(found("--select", "TC101,TC106", "--ignore", "tc106"), ["TC101"])

    def test_bad_arguments_are_one_line_and_status_two(self) -> None:
        path = self.write("t.py", "import tempfile\ntempfile.mkdtemp()\n")
        cases: Sequence[Sequence[str]] = [
            [str(self.scratch / "missing.py")],
            [str(path), str(self.scratch / "missing")],
            ["--select", "TC999", str(path)],
            ["--format", "xml", str(path)],
            [],
        ]
        for args in cases:
            with self.subTest(args=args):
                status, out, err = self.main(*args)
                self.assertEqual(status, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertTrue(err.startswith("python -m tempcase scan: error: "), err)


@unittest.skipUnless(_cli_has_scan(), "python -m tempcase scan is not wired yet")
class CommandLineTest(ScanCase):
    """Through ``python -m tempcase scan`` in a child process."""

    def test_paths_as_given_and_check_status(self) -> None:
        self.write("tests/test_x.py", "import tempfile\n\nclass T:\n    d = tempfile.mkdtemp()\n")
        done = run_python(["-m", "tempcase", "scan", "tests"], cwd=self.scratch)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.startswith("tests/test_x.py:4:9: TC101 "), done.stdout)
        self.assertEqual(done.stderr, "1 finding in 1 file\n")
        checked = run_python(["-m", "tempcase", "scan", "--check", "tests"], cwd=self.scratch)
        self.assertEqual(checked.returncode, 1, checked.stderr)

    def test_json_and_clean_check(self) -> None:
        self.write("ok.py", "import tempfile\nwith tempfile.TemporaryDirectory() as d:\n    pass\n")
        done = run_python(
            ["-m", "tempcase", "scan", "--check", "--format", "json", "ok.py"], cwd=self.scratch
        )
        self.assertEqual((done.returncode, json.loads(done.stdout)), (0, []), done.stderr)
        self.assertEqual(done.stderr, "no findings in 1 file\n")

    def test_missing_path_exits_two(self) -> None:
        done = run_python(["-m", "tempcase", "scan", "nowhere"], cwd=self.scratch)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stdout, "")
        self.assertEqual(
            done.stderr, "python -m tempcase scan: error: no such file or directory: nowhere\n"
        )
