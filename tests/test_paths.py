"""Helper names: every refusal of the contract, through every helper, writes nothing."""

from __future__ import annotations

import functools
import ntpath
import os
import stat
import unittest
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

import tempcase
import tempcase._paths as paths_module
from tests.support import fresh_session, make_scratch, run_tests, tree

MARKER = ".tempcase-run"

# Hazard 20: absolute names and drive-relative ones, which os.path.join would
# let escape the directory.
ABSOLUTE = ("/etc/x", "//srv/x", "/", "/mypath1", "C:x", "C:\\x", "c:/x", "\\\\server\\share\\x")
# Any '..' component, even one that would come back inside (never normalised).
TRAVERSAL = (
    "..",
    "../x",
    "a/../../x",
    "a/..",
    "../mypath3",
    "../../mypath4",
    "mypath5/..",
    "mypath6/../mypath6",
    "mypath7/../mypath7/..",
)
EMPTY_OR_DOT = ("", "a//b", "a/", ".", "./x", "a/./b", "./mypath1", "a/.")
NUL = ("a\x00b", "\x00", "dir/\x00")  # hazard 22
BACKSLASH = ("..\\x", "a\\b", "dir\\..\\..\\x")

# Hazard 24: names Windows reserves, refused on every platform.  Modelled on
# the isreserved table of CPython's test_ntpath.
WINDOWS_RESERVED = (
    "CON",
    "con",
    "Con",
    "PRN",
    "AUX",
    "NUL",
    "nul.txt",
    "NUL.tar.gz",
    "COM1",
    "com9",
    "COM1 .log",
    "LPT1",
    "lpt9",
    "COM\u00b9",
    "COM\u00b2",
    "COM\u00b3",
    "LPT\u00b9",
    "lpt\u00b2",
    "CONIN$",
    "conout$",
    "PRN  ",
    "AUX  .txt",
    "COM1:bar",
    "LPT9   :bar",
    "dir/CON",
    "CON/x",
    "trailing.",
    "trailing ",
    " ",
    " foo ",
    "sub./x",
    "a:b",
    "a:b:$DATA",
    "<",
    ">",
    "|",
    "?",
    "*",
    '"',
    "x\x01y",
    "\x1f",
    "tab\tname",
    "line\n",
)
# Names that look close to a reserved one but are fine everywhere.
FINE = (
    "console.txt",
    "CONX",
    "nul_",
    "_nul",
    "bar.com9",
    "bar.lpt9",
    "COM10",
    "LPT",
    ".hidden",
    "a.b.c",
    "..a",
    "a..b",
    " leading",
    "caf\u00e9.txt",
    "\u65e5\u672c\u8a9e.txt",
    "x/y/z.txt",
)

BAD_NAMES: tuple[str, ...] = (
    ABSOLUTE + TRAVERSAL + EMPTY_OR_DOT + NUL + BACKSLASH + WINDOWS_RESERVED
)
NOT_NAMES: tuple[object, ...] = (5, None, 1.5, ["a"])


def written_since(before: set[str], base: Path) -> list[str]:
    """What appeared below *base* since *before*, except tempcase's own directories.

    The per-user root, the run directory with its marker and the context
    directories are made on first use; anything inside a context directory,
    or any other file, was written by a helper.
    """
    found = []
    for rel in sorted(set(tree(base)) - before):
        parts = PurePosixPath(rel).parts
        path = base / rel
        own_dir = len(parts) <= 3 and path.is_dir() and not path.is_symlink()
        if not own_dir and not (len(parts) == 3 and parts[2] == MARKER):
            found.append(rel)
    return found


def assert_refused(
    case: unittest.TestCase,
    base: Path,
    call: Callable[[], object],
    name: object,
    error: type[Exception] = ValueError,
) -> None:
    """*call* raises *error* naming *name*, and nothing is written below *base*."""
    before = set(tree(base))
    with case.assertRaises(error) as caught:
        call()
    if error is ValueError:
        text = os.fspath(name) if isinstance(name, os.PathLike) else name
        case.assertIn(repr(text), str(caught.exception))
    case.assertEqual(written_since(before, base), [])


def assert_passed(case: unittest.TestCase, result: unittest.TestResult, runs: int) -> None:
    """The throwaway run had *runs* tests, all of them (and their subtests) passing."""
    problems = [text for _test, text in result.errors + result.failures]
    case.assertEqual(problems, [], "\n".join(problems))
    case.assertEqual(result.testsRun, runs)
    case.assertEqual(result.skipped, [])


class SessionTestCase(unittest.TestCase):
    """A fresh session whose tree lives in ``self.base``, and an outside dir."""

    def setUp(self) -> None:
        scratch = make_scratch(self)
        self.base = scratch / "base"
        self.session = fresh_session(self, self.base)
        self.outside = make_scratch(self)
        self.precious = self.outside / "precious"
        self.precious.write_text("keep me", encoding="utf-8")
        os.chmod(self.precious, 0o640)

    def assert_outside_unchanged(self) -> None:
        self.assertEqual(tree(self.outside), ["precious"])
        self.assertEqual(self.precious.read_text(encoding="utf-8"), "keep me")
        self.assertEqual(stat.S_IMODE(os.lstat(self.precious).st_mode), 0o640)


class RefusedThroughMixinTest(SessionTestCase):
    """Each bad name, given to a mixin helper, raises and leaves no entry."""

    def run_each(self, call: Callable[[tempcase.TestCase, object], object]) -> None:
        base = self.base

        class T(tempcase.TestCase):
            def test_bad_names(self) -> None:
                for name in BAD_NAMES:
                    with self.subTest(name=name):
                        assert_refused(self, base, functools.partial(call, self, name), name)

            def test_non_str_names(self) -> None:
                for name in NOT_NAMES:
                    with self.subTest(name=name):
                        assert_refused(
                            self, base, functools.partial(call, self, name), name, TypeError
                        )

            def test_path_like_bad_names(self) -> None:
                for text in ("../x", "a/..", "/etc/x", "CON", "nul.txt"):
                    name = PurePosixPath(text)
                    with self.subTest(name=name):
                        assert_refused(self, base, functools.partial(call, self, name), name)

        assert_passed(self, run_tests(T), 3)

    def test_create_file_refuses_bad_names_and_writes_nothing(self) -> None:
        self.run_each(lambda case, name: case.create_file(name, "x"))  # type: ignore[arg-type]

    def test_create_subdirectory_refuses_bad_names_and_writes_nothing(self) -> None:
        self.run_each(lambda case, name: case.create_subdirectory(name))  # type: ignore[arg-type]

    def test_with_temp_directory_files_refused_before_the_directory_is_made(self) -> None:
        def call(case: tempcase.TestCase, name: object) -> None:
            with case.with_temp_directory({name: "x"}):  # type: ignore[dict-item]
                raise AssertionError("the block ran")

        self.run_each(call)

    def test_create_temp_directory_files_refused_before_the_directory_is_made(self) -> None:
        self.run_each(lambda case, name: case.create_temp_directory({name: "x"}))  # type: ignore[dict-item]


class RefusedThroughTempDirectoryTest(SessionTestCase):
    """Each bad name, given to a TempDirectory or the module-level helpers, raises."""

    def each_name(
        self, call: Callable[[object], object], names: Sequence[object] = BAD_NAMES
    ) -> None:
        for name in names:
            with self.subTest(name=name):
                assert_refused(self, self.base, functools.partial(call, name), name)
        for name in NOT_NAMES:
            with self.subTest(name=name):
                assert_refused(self, self.base, functools.partial(call, name), name, TypeError)

    def test_create_file_refuses_bad_names_and_writes_nothing(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            self.each_name(lambda name: d.create_file(name, "x"))  # type: ignore[arg-type]
            self.assertEqual(d.files(), [])
            self.assertEqual(os.listdir(d), [])

    def test_create_subdirectory_refuses_bad_names_and_writes_nothing(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            self.each_name(lambda name: d.create_subdirectory(name))  # type: ignore[arg-type]
            self.assertEqual(os.listdir(d), [])

    def test_create_temp_directory_files_refused_before_the_directory_is_made(self) -> None:
        with tempcase.scope("s"):
            self.each_name(lambda name: tempcase.create_temp_directory({name: "x"}))  # type: ignore[dict-item]

    def test_temp_directory_files_refused_before_the_directory_is_made(self) -> None:
        with tempcase.scope("s"):
            self.each_name(lambda name: tempcase.TempDirectory({name: "x"}))  # type: ignore[dict-item]

    def test_one_bad_name_among_good_ones_writes_none_of_them(self) -> None:
        with tempcase.scope("s"):
            files = {"good.txt": "1", "sub/also-good.txt": "2", "../escape": "3"}
            assert_refused(
                self, self.base, lambda: tempcase.create_temp_directory(files), "../escape"
            )

    def test_slash_operator_refuses_bad_names(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            self.each_name(lambda name: d / name)  # type: ignore[operator]

    def test_exists_and_readers_refuse_bad_names(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            self.each_name(d.exists)  # type: ignore[arg-type]
            self.each_name(d.read_file)  # type: ignore[arg-type]
            self.each_name(d.read_bytes)  # type: ignore[arg-type]

    def test_nul_byte_raises_rather_than_reporting_missing(self) -> None:
        # Hazard 22: os.path.exists() says False for a NUL byte; tempcase says why.
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory({"a": "x"})
            with self.assertRaisesRegex(ValueError, "NUL"):
                d.exists("a\x00b")
            with self.assertRaisesRegex(ValueError, "NUL"):
                d.create_file("a\x00b")

    def test_messages_say_which_rule_was_broken(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            cases = {
                "/etc/x": "absolute",
                "C:x": "absolute",
                "a/../../x": "leaves the directory",
                "a//b": "empty",
                "a/./b": "'.'",
                "..\\x": "backslash",
                "nul.txt": "Windows reserves",
                "": "empty",
            }
            for name, words in cases.items():
                with self.subTest(name=name), self.assertRaises(ValueError) as caught:
                    d.create_file(name)
                self.assertIn(words, str(caught.exception))
                self.assertIn("create_file", str(caught.exception))

    def test_refused_mapping_conflict_writes_nothing(self) -> None:
        # "a" as a file and "a/b" below it cannot both be made: refused up front,
        # not after "a" was written.
        with tempcase.scope("s"):
            cases = [
                ({"a": "1", "a/b": "2"}, "a"),
                ({"a/b": "2", "a": "1"}, "a"),
                ({"a/b/c": "", "a/b": ""}, "a/b"),
            ]
            for files, name in cases:
                with self.subTest(files=files):
                    make = functools.partial(tempcase.create_temp_directory, files)
                    assert_refused(self, self.base, make, name)

    def test_same_name_given_twice_in_a_mapping_is_refused(self) -> None:
        with tempcase.scope("s"):
            files: dict[object, str] = {"a/b.txt": "1", PurePosixPath("a/b.txt"): "2"}
            assert_refused(
                self,
                self.base,
                lambda: tempcase.create_temp_directory(files),  # type: ignore[arg-type]
                "a/b.txt",
            )


class WindowsReservedNamesTest(SessionTestCase):
    """The reserved-name rules hold on every platform (hazard 24)."""

    def test_reserved_names_are_refused_on_this_platform(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            for name in WINDOWS_RESERVED:
                with self.subTest(name=name):
                    assert_refused(self, self.base, functools.partial(d.create_file, name), name)
                    assert_refused(
                        self, self.base, functools.partial(d.create_subdirectory, name), name
                    )

    def test_names_close_to_reserved_ones_are_written(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            for name in FINE:
                with self.subTest(name=name):
                    path = d.create_file(name, name)
                    self.assertEqual(path, d.path.joinpath(*name.split("/")))
                    self.assertEqual(d.read_file(name), name)
            self.assertEqual(d.files(), sorted(FINE))

    def test_names_close_to_reserved_ones_are_fine_as_directories(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            for name in FINE:
                with self.subTest(name=name):
                    self.assertTrue(d.create_subdirectory(name).is_dir())

    @unittest.skipUnless(hasattr(ntpath, "isreserved"), "ntpath.isreserved is 3.13+")
    def test_table_agrees_with_ntpath_isreserved(self) -> None:
        isreserved: Callable[[str], bool] = ntpath.isreserved  # type: ignore[attr-defined,unused-ignore]
        # "./" keeps ntpath from taking "a:" in "a:b" for a drive: these are
        # names relative to the directory.
        for name in WINDOWS_RESERVED:
            with self.subTest(name=name):
                self.assertTrue(isreserved("./" + name))
        for name in FINE:
            with self.subTest(name=name):
                self.assertFalse(isreserved("./" + name))

    def test_reserved_prefix_or_suffix_of_a_generated_name_is_refused(self) -> None:
        # The random middle is never empty: "nul." starts a device name, and "."
        # or " " ends a name with what Windows drops.
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            before = set(tree(self.base))
            for prefix in ("nul.", "CON.", "a:", "a/b", "a\\b"):
                with self.subTest(prefix=prefix):
                    with self.assertRaises(ValueError):
                        tempcase.create_temp_file(prefix=prefix)
                    with self.assertRaises(ValueError):
                        tempcase.create_temp_directory(prefix=prefix)
                    with self.assertRaises(ValueError):
                        d.unique_filename(prefix=prefix)
            for suffix in (".", " ", ".txt.", "a|b", "/x"):
                with self.subTest(suffix=suffix):
                    with self.assertRaises(ValueError):
                        tempcase.create_temp_file(suffix=suffix)
                    with self.assertRaises(ValueError):
                        d.unique_filename(suffix=suffix)
                    with self.assertRaises(ValueError):
                        d.create_numbered_files("n", "x", 2, suffix=suffix)
            self.assertEqual(written_since(before, self.base), [])

    def test_ordinary_prefixes_and_suffixes_are_accepted(self) -> None:
        with tempcase.scope("s"):
            path = tempcase.create_temp_file("x", ".txt", prefix="CON")
            self.assertTrue(path.name.startswith("CON"))
            self.assertTrue(path.name.endswith(".txt"))
            self.assertTrue(tempcase.create_temp_directory(prefix=".nul").path.is_dir())


class SymlinksAndOtherEntriesTest(SessionTestCase):
    """Links and non-files at a helper's name: refused, the outside untouched."""

    def test_intermediate_symlink_to_outside_is_refused(self) -> None:
        # Hazard 21: the test made sub -> outside, then asks for sub/x.
        base, outside = self.base, self.outside

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                os.symlink(outside, self.tempcase_dir / "sub")
                for name in ("sub/x", "sub/deeper/x", "sub/precious"):
                    with self.subTest(name=name):
                        bad_file = functools.partial(self.create_file, name, "bad")
                        assert_refused(self, base, bad_file, name)
                        bad_dir = functools.partial(self.create_subdirectory, name)
                        assert_refused(self, base, bad_dir, name)
                assert_refused(self, base, lambda: self.create_subdirectory("sub"), "sub")

        assert_passed(self, run_tests(T), 1)
        self.assert_outside_unchanged()

    def test_intermediate_symlink_to_an_inside_directory_is_refused_too(self) -> None:
        # tempcase never writes through a link, wherever it points.
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory({"real/keep.txt": "k"})
            os.symlink("real", d / "alias")
            with self.assertRaisesRegex(ValueError, "symbolic link"):
                d.create_file("alias/x")
            self.assertEqual(d.files(), ["alias", "real/keep.txt"])

    def test_symlink_planted_at_the_name_is_refused_and_target_kept(self) -> None:
        # Hazard 15: a link at a helper's fixed name is never followed.
        base, precious = self.base, self.precious

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                os.symlink(precious, self.tempcase_dir / "config.json")
                assert_refused(
                    self, base, lambda: self.create_file("config.json", "{}"), "config.json"
                )
                self.assertTrue((self.tempcase_dir / "config.json").is_symlink())

        assert_passed(self, run_tests(T), 1)
        self.assert_outside_unchanged()

    def test_dangling_symlink_at_the_name_does_not_create_its_target(self) -> None:
        target = self.outside / "created-through-link"
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            os.symlink(target, d / "f.txt")
            with self.assertRaisesRegex(ValueError, "symbolic link"):
                d.create_file("f.txt", "x")
            self.assertTrue(d.exists("f.txt"))
        self.assertFalse(os.path.lexists(target))
        self.assert_outside_unchanged()

    def test_symlink_planted_at_a_numbered_name_writes_none_of_them(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            os.symlink(self.precious, d / "n_002.txt")
            with self.assertRaisesRegex(ValueError, "n_002.txt"):
                d.create_numbered_files("n", "line {}", 3)
            self.assertEqual(d.files(), ["n_002.txt"])
        self.assert_outside_unchanged()

    def test_create_file_refuses_an_existing_directory(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory({"sub/keep.txt": "k"})
            with self.assertRaisesRegex(ValueError, "'sub' is a directory"):
                d.create_file("sub", "x")
            self.assertEqual(d.read_file("sub/keep.txt"), "k")

    def test_create_file_refuses_a_symlink_to_a_directory(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            os.symlink(self.outside, d / "link")
            with self.assertRaisesRegex(ValueError, "symbolic link"):
                d.create_file("link", "x")
        self.assert_outside_unchanged()

    @unittest.skipUnless(hasattr(os, "mkfifo"), "needs mkfifo")
    def test_create_file_refuses_a_fifo_without_blocking(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            os.mkfifo(d / "pipe")
            with self.assertRaisesRegex(ValueError, "not a regular file"):
                d.create_file("pipe", "x")

    def test_create_subdirectory_refuses_a_file_in_the_way(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory({"f": "x"})
            for name in ("f", "f/sub"):
                with self.subTest(name=name), self.assertRaisesRegex(ValueError, "not a directory"):
                    d.create_subdirectory(name)
            with self.assertRaisesRegex(ValueError, "not a directory"):
                d.create_file("f/x", "y")
            self.assertEqual(d.files(), ["f"])
            self.assertEqual(d.read_file("f"), "x")


class AcceptedNamesTest(SessionTestCase):
    """What the rules let through: relative '/'-separated str or os.PathLike names."""

    def test_path_like_names_are_accepted_everywhere(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory({PurePosixPath("m/a.txt"): "A"})  # type: ignore[dict-item]
            self.assertEqual(d.create_file(PurePosixPath("b/c.txt"), "C"), d.path / "b" / "c.txt")
            self.assertEqual(d.create_subdirectory(Path("e/f")), d.path / "e" / "f")
            self.assertTrue(d.exists(PurePosixPath("b/c.txt")))
            self.assertEqual(d.read_file(PurePosixPath("m/a.txt")), "A")
            self.assertEqual(d.read_bytes(Path("b/c.txt")), b"C")
            self.assertEqual(d / PurePosixPath("b/c.txt"), d.path / "b" / "c.txt")
            self.assertEqual(d.files(), ["b/c.txt", "m/a.txt"])

    def test_slash_operator_does_not_create(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
            path = d / "a/b.txt"
            self.assertIsInstance(path, Path)
            self.assertEqual(path, d.path / "a" / "b.txt")
            self.assertFalse(os.path.lexists(d.path / "a"))


class CheckedNamesTest(unittest.TestCase):
    """Names are checked once and remembered; a refused name is refused every time."""

    def test_refused_name_is_refused_again_with_the_caller_named(self) -> None:
        for func in ("create_file", "create_subdirectory"):
            with self.subTest(func=func):
                with self.assertRaisesRegex(ValueError, f"^{func}: name '../x'"):
                    paths_module.split_name("../x", func=func)

    def test_str_subclass_is_checked_each_time(self) -> None:
        class Name(str):
            pass

        self.assertEqual(paths_module.split_name(Name("a/b"), func="f"), ("a", "b"))
        self.assertNotIn(Name("a/b"), [k for k in paths_module._CHECKED if type(k) is not str])

    def test_remembered_names_stay_bounded(self) -> None:
        for i in range(paths_module._CHECKED_MAX + 10):
            self.assertEqual(paths_module.split_name(f"n{i}/x.txt", func="f"), (f"n{i}", "x.txt"))
        self.assertLessEqual(len(paths_module._CHECKED), paths_module._CHECKED_MAX)


class MixinNamesTest(SessionTestCase):
    """The mixin's helpers obey the same rules."""

    def test_mixin_accepts_nested_names_and_creates_parents(self) -> None:
        seen: dict[str, object] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                path = self.create_file("conf/app/settings.json", "{}")
                seen["path"] = path
                seen["inside"] = path.parent.parent.parent == self.tempcase_dir.path
                seen["files"] = self.tempcase_dir.files()

        assert_passed(self, run_tests(T), 1)
        self.assertTrue(seen["inside"])
        self.assertEqual(seen["files"], ["conf/app/settings.json"])
        self.assertFalse(os.path.lexists(seen["path"]))  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
