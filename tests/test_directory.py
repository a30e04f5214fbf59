"""TempDirectory and the temp-file helpers: every helper, modes, lifetimes."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
import unittest
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

import tempcase
from tests.support import fresh_session, make_scratch, run_as_nobody, run_tests, tree
from tests.test_paths import assert_passed, written_since


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def below(path: Path, root: Path) -> bool:
    """Whether *path* is *root* or inside it (lexically; both are absolute)."""
    return path == root or root in path.parents


class SessionTestCase(unittest.TestCase):
    """A fresh session whose tree lives in ``self.base``."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.base = self.scratch / "base"
        self.session = fresh_session(self, self.base)

    def in_scope(self, name: str = "s") -> None:
        """Run the rest of the test inside ``tempcase.scope(name)``."""
        manager = tempcase.scope(name)
        manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)


class PathProtocolTest(SessionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.in_scope()

    def test_path_is_a_path_and_name_is_its_str(self) -> None:
        d = tempcase.create_temp_directory()
        self.assertIsInstance(d.path, Path)
        self.assertTrue(d.path.is_absolute())
        self.assertTrue(d.path.is_dir())
        self.assertEqual(d.name, str(d.path))
        self.assertIsInstance(d.name, str)
        self.assertEqual(str(d), d.name)

    def test_fspath_is_accepted_by_os_fspath_and_open(self) -> None:
        d = tempcase.create_temp_directory({"f.txt": "hi"})
        self.assertIsInstance(d, os.PathLike)
        self.assertEqual(os.fspath(d), d.name)
        self.assertEqual(Path(d), d.path)
        self.assertEqual(os.listdir(d), ["f.txt"])
        with open(os.path.join(d, "f.txt"), encoding="utf-8") as stream:
            self.assertEqual(stream.read(), "hi")
        with self.assertRaises(IsADirectoryError):  # open() took it as a path
            open(d)

    def test_slash_returns_the_path_of_a_name_without_creating_it(self) -> None:
        d = tempcase.create_temp_directory()
        path = d / "a/b.txt"
        self.assertIsInstance(path, Path)
        self.assertEqual(path, d.path / "a" / "b.txt")
        self.assertEqual(os.listdir(d), [])


class WritingTest(SessionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.in_scope()
        self.d = tempcase.create_temp_directory()

    def test_text_is_written_in_utf8_by_default(self) -> None:
        text = "caf\u00e9 \u2713 \u65e5\u672c"
        path = self.d.create_file("t.txt", text)
        self.assertEqual(path.read_bytes(), text.encode("utf-8"))
        self.assertEqual(self.d.read_file("t.txt"), text)

    def test_text_is_written_as_given_without_newline_translation(self) -> None:
        self.d.create_file("n.txt", "a\r\nb\nc\r")
        self.assertEqual(self.d.read_bytes("n.txt"), b"a\r\nb\nc\r")
        self.assertEqual(self.d.read_file("n.txt"), "a\r\nb\nc\r")

    def test_encoding_is_used_for_writing_and_reading(self) -> None:
        self.d.create_file("l.txt", "caf\u00e9", encoding="latin-1")
        self.assertEqual(self.d.read_bytes("l.txt"), b"caf\xe9")
        self.assertEqual(self.d.read_file("l.txt", encoding="latin-1"), "caf\u00e9")
        with self.assertRaises(UnicodeDecodeError):
            self.d.read_file("l.txt")  # UTF-8 unless told otherwise
        self.d.create_file("w.txt", "\u00e9", encoding="utf-16-le")
        self.assertEqual(self.d.read_bytes("w.txt"), b"\xe9\x00")
        self.assertEqual(self.d.read_file("w.txt", encoding="utf-16-le"), "\u00e9")

    def test_unknown_encoding_raises_before_anything_is_written(self) -> None:
        with self.assertRaises(LookupError):
            self.d.create_file("f.txt", "x", encoding="no-such-codec")
        self.assertEqual(self.d.files(), [])

    def test_bytes_like_content_is_written_as_is(self) -> None:
        raw = b"\x00\xff\r\n\x80"
        self.assertEqual(self.d.create_file("b", raw).read_bytes(), raw)
        self.assertEqual(self.d.create_file("ba", bytearray(raw)).read_bytes(), raw)
        self.assertEqual(self.d.create_file("mv", memoryview(raw)).read_bytes(), raw)
        # encoding is for text only
        self.assertEqual(self.d.create_file("e", raw, encoding="ascii").read_bytes(), raw)

    def test_default_content_is_empty(self) -> None:
        self.assertEqual(self.d.create_file("empty").read_bytes(), b"")

    def test_existing_regular_file_is_overwritten(self) -> None:
        first = self.d.create_file("f.txt", "a much longer first version")
        second = self.d.create_file("f.txt", "short")
        self.assertEqual(first, second)
        self.assertEqual(self.d.read_file("f.txt"), "short")
        self.assertEqual(self.d.files(), ["f.txt"])

    def test_missing_parents_are_created(self) -> None:
        path = self.d.create_file("a/b/c/f.txt", "x")
        self.assertEqual(path, self.d.path / "a" / "b" / "c" / "f.txt")
        for parent in ("a", "a/b", "a/b/c"):
            self.assertTrue((self.d / parent).is_dir())
            self.assertFalse((self.d / parent).is_symlink())
        self.assertEqual(self.d.read_file("a/b/c/f.txt"), "x")

    def test_create_subdirectory_makes_parents_and_accepts_an_existing_one(self) -> None:
        path = self.d.create_subdirectory("x/y")
        self.assertEqual(path, self.d.path / "x" / "y")
        self.assertTrue(path.is_dir())
        self.d.create_file("x/y/keep.txt", "k")
        self.assertEqual(self.d.create_subdirectory("x/y"), path)
        self.assertEqual(self.d.create_subdirectory("x"), self.d.path / "x")
        self.assertEqual(self.d.read_file("x/y/keep.txt"), "k")

    def test_bad_content_types_raise_type_error_before_anything_is_written(self) -> None:
        before = set(tree(self.base))
        for content in (5, {"a": 1}, None, 1.5, ["x"]):
            with self.subTest(content=content):
                with self.assertRaises(TypeError):
                    self.d.create_file("f.txt", content)  # type: ignore[arg-type]
                with self.assertRaises(TypeError):
                    self.d.create_file("new/f.txt", content)  # type: ignore[arg-type]
                with self.assertRaises(TypeError):
                    tempcase.create_temp_file(content)  # type: ignore[arg-type]
                with self.assertRaises(TypeError):
                    tempcase.create_temp_directory({"f": content})  # type: ignore[dict-item]
                with self.assertRaises(TypeError):
                    tempcase.TempDirectory({"ok": "", "f": content})  # type: ignore[dict-item]
        self.assertEqual(written_since(before, self.base), [])

    def test_files_that_are_not_a_mapping_raise_type_error(self) -> None:
        before = set(tree(self.base))
        for files in (["a"], "a", 5):
            with self.subTest(files=files), self.assertRaises(TypeError):
                tempcase.create_temp_directory(files)  # type: ignore[arg-type]
        self.assertEqual(written_since(before, self.base), [])

    def test_every_returned_path_is_a_pathlib_path(self) -> None:
        returned: list[Any] = [
            self.d.path,
            self.d / "x",
            self.d.create_file("f"),
            self.d.create_subdirectory("s"),
            *self.d.create_numbered_files("n", "{}", 2),
            tempcase.create_temp_file(),
            tempcase.create_temp_directory().path,
            tempcase.TempDirectory().path,
        ]
        for value in returned:
            with self.subTest(value=value):
                self.assertIsInstance(value, Path)


class ReadingTest(SessionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.in_scope()
        self.d = tempcase.create_temp_directory()

    def test_exists_sees_files_directories_and_dangling_links(self) -> None:
        self.d.create_file("f")
        self.d.create_subdirectory("sub")
        os.symlink("nowhere", self.d / "dangling")
        for name in ("f", "sub", "dangling"):
            with self.subTest(name=name):
                self.assertTrue(self.d.exists(name))
        self.assertFalse(self.d.exists("missing"))
        self.assertFalse(self.d.exists("sub/missing"))

    def test_read_bytes_returns_the_exact_bytes(self) -> None:
        self.d.create_file("b", b"\x00\x01\xfe")
        self.assertEqual(self.d.read_bytes("b"), b"\x00\x01\xfe")

    def test_read_of_a_missing_name_raises_file_not_found(self) -> None:
        with self.assertRaises(FileNotFoundError):
            self.d.read_file("missing")
        with self.assertRaises(FileNotFoundError):
            self.d.read_bytes("missing")

    def test_files_is_empty_for_a_new_directory(self) -> None:
        self.assertEqual(self.d.files(), [])

    def test_files_lists_every_non_directory_as_sorted_posix_paths(self) -> None:
        self.d.create_file("b.txt")
        self.d.create_file("a/z.txt")
        self.d.create_file("a/b/c.txt")
        self.d.create_file("a.txt")
        self.d.create_subdirectory("empty/deeper")
        os.symlink("a", self.d / "link-to-dir")
        os.symlink("nowhere", self.d / "a" / "dangling")
        expected = ["a.txt", "a/b/c.txt", "a/dangling", "a/z.txt", "b.txt", "link-to-dir"]
        if hasattr(os, "mkfifo"):
            os.mkfifo(self.d / "pipe")
            expected.append("pipe")
        self.assertEqual(self.d.files(), sorted(expected))

    def test_unique_filename_is_not_present_and_not_created(self) -> None:
        self.d.create_file("taken.tmp")
        names = {self.d.unique_filename() for _ in range(20)}
        self.assertEqual(len(names), 20)
        for name in names:
            self.assertTrue(name.startswith("temp"))
            self.assertTrue(name.endswith(".tmp"))
            self.assertFalse(self.d.exists(name))
        custom = self.d.unique_filename(prefix="out-", suffix=".json")
        self.assertTrue(custom.startswith("out-") and custom.endswith(".json"))
        self.assertEqual(self.d.files(), ["taken.tmp"])

    def test_unique_filename_skips_a_name_already_present(self) -> None:
        self.d.create_file("tempaaaa.tmp")
        with mock.patch.object(secrets, "token_hex", side_effect=["aaaa", "aaaa", "bbbb"]):
            self.assertEqual(self.d.unique_filename(), "tempbbbb.tmp")


class NumberedFilesTest(SessionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.in_scope()
        self.d = tempcase.create_temp_directory()

    def test_names_contents_and_order(self) -> None:
        paths = self.d.create_numbered_files("data", "row {}", 3)
        self.assertEqual(paths, [self.d.path / f"data_00{i}.txt" for i in (1, 2, 3)])
        contents = [p.read_text(encoding="utf-8") for p in paths]
        self.assertEqual(contents, ["row 1", "row 2", "row 3"])

    def test_suffix_and_subdirectory(self) -> None:
        paths = self.d.create_numbered_files("logs/day", "{}", 2, suffix=".csv")
        self.assertEqual(self.d.files(), ["logs/day_001.csv", "logs/day_002.csv"])
        self.assertEqual(paths[1].read_text(encoding="utf-8"), "2")

    def test_width_is_three_digits_up_to_999(self) -> None:
        paths = self.d.create_numbered_files("n", "{}", 999)
        self.assertEqual((paths[0].name, paths[-1].name), ("n_001.txt", "n_999.txt"))

    def test_width_grows_from_1000(self) -> None:
        paths = self.d.create_numbered_files("n", "{}", 1000)
        self.assertEqual(len(paths), 1000)
        self.assertEqual((paths[0].name, paths[-1].name), ("n_0001.txt", "n_1000.txt"))
        self.assertEqual(self.d.files(), [p.name for p in paths])  # sorts in number order

    def test_count_zero_writes_nothing(self) -> None:
        self.assertEqual(self.d.create_numbered_files("n", "{}", 0), [])
        self.assertEqual(self.d.files(), [])

    def test_bad_count_writes_nothing(self) -> None:
        with self.assertRaises(ValueError):
            self.d.create_numbered_files("n", "{}", -1)
        for count in (1.5, "3", None, True):
            with self.subTest(count=count), self.assertRaises(TypeError):
                self.d.create_numbered_files("n", "{}", count)  # type: ignore[arg-type]
        self.assertEqual(os.listdir(self.d), [])

    def test_bad_basename_or_pattern_writes_nothing(self) -> None:
        with self.assertRaises(TypeError):
            self.d.create_numbered_files(None, "{}", 2)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            self.d.create_numbered_files("../n", "{}", 2)
        with self.assertRaises(TypeError):
            self.d.create_numbered_files("n", b"{}", 2)  # type: ignore[arg-type]
        with self.assertRaises(KeyError):
            self.d.create_numbered_files("n", "{missing}", 2)
        self.assertEqual(os.listdir(self.d), [])


class CleanupTest(SessionTestCase):
    def test_cleanup_removes_it_and_later_writes_raise_runtime_error(self) -> None:
        self.in_scope()
        d = tempcase.create_temp_directory({"a/b.txt": "x"})
        d.cleanup()
        self.assertFalse(os.path.lexists(d.path))
        for write in (
            lambda: d.create_file("c.txt", "y"),
            lambda: d.create_subdirectory("e"),
            lambda: d.create_numbered_files("n", "{}", 1),
        ):
            with self.assertRaisesRegex(RuntimeError, "cleaned"):
                write()
        self.assertFalse(os.path.lexists(d.path))  # not recreated
        d.cleanup()  # a second time is harmless

    def test_context_manager_removes_it_at_block_exit(self) -> None:
        self.in_scope()
        with tempcase.create_temp_directory({"a": "1"}) as d:
            self.assertIsInstance(d, tempcase.TempDirectory)
            self.assertEqual(d.read_file("a"), "1")
        self.assertFalse(os.path.lexists(d.path))
        with tempcase.TempDirectory({"b": "2"}) as other:
            self.assertTrue(other.exists("b"))
        self.assertFalse(os.path.lexists(other.path))

    def test_context_manager_removes_it_when_the_block_raises(self) -> None:
        self.in_scope()
        with self.assertRaises(KeyError), tempcase.create_temp_directory({"a": "1"}) as d:
            raise KeyError("boom")
        self.assertFalse(os.path.lexists(d.path))

    def test_constructor_is_create_temp_directory(self) -> None:
        self.in_scope()
        files: dict[str, str | bytes] = {"x/y.txt": "1", "z": b"\x00"}
        made = tempcase.TempDirectory(files, prefix="pre")
        created = tempcase.create_temp_directory(files, prefix="pre")
        self.assertNotEqual(made.path, created.path)
        self.assertEqual(made.path.parent, created.path.parent)
        self.assertTrue(made.path.name.startswith("pre"))
        self.assertEqual(made.files(), created.files())
        self.assertEqual(made.read_bytes("z"), created.read_bytes("z"))
        self.assertEqual(tempcase.get_stats().paths_by_context["s"], 2 * 4)

    def test_module_level_helpers_are_removed_when_the_scope_exits(self) -> None:
        with tempcase.scope("s"):
            self.assertEqual(tempcase.current_context(), "s")
            f = tempcase.create_temp_file("x", ".txt")
            d = tempcase.create_temp_directory({"a/b": "1"})
            t = tempcase.TempDirectory()
            for path in (f, d.path, t.path):
                self.assertTrue(below(path, self.base))
                self.assertTrue(os.path.lexists(path))
        for path in (f, d.path, t.path):
            self.assertFalse(os.path.lexists(path))

    def test_directory_of_an_ended_scope_refuses_writes(self) -> None:
        with tempcase.scope("s"):
            d = tempcase.create_temp_directory()
        for write in (
            lambda: d.create_file("c.txt", "y"),
            lambda: d.create_subdirectory("e"),
            lambda: d.create_numbered_files("n", "{}", 1),
        ):
            with self.assertRaisesRegex(RuntimeError, "'s'"):
                write()
        self.assertFalse(os.path.lexists(d.path))

    def test_directory_from_before_cleanup_context_refuses_writes(self) -> None:
        self.in_scope()
        d = tempcase.create_temp_directory({"a": "1"})
        self.assertTrue(tempcase.cleanup_context("s").ok)
        self.assertFalse(os.path.lexists(d.path))
        with self.assertRaises(RuntimeError):
            d.create_file("a", "2")
        self.assertFalse(os.path.lexists(d.path))
        fresh = tempcase.create_temp_directory({"a": "3"})  # the scope goes on
        self.assertEqual(fresh.read_file("a"), "3")

    def test_cleanup_stops_counting_what_it_removed(self) -> None:
        self.in_scope()
        tempcase.create_temp_file()
        before = tempcase.get_stats().paths_by_context["s"]
        d = tempcase.create_temp_directory({"a/b.txt": "x"})
        self.assertEqual(tempcase.get_stats().paths_by_context["s"], before + 3)
        d.cleanup()
        self.assertEqual(tempcase.get_stats().paths_by_context["s"], before)


class MixinScratchTest(SessionTestCase):
    """The mixin's temp helpers: unique, in the scratch area, never in tempcase_dir."""

    def test_create_temp_file_is_unique_and_outside_tempcase_dir(self) -> None:
        base = self.base
        seen: dict[str, Any] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                a = self.create_temp_file("x", ".txt", prefix="cfg")
                b = self.create_temp_file(b"\x00")
                c = self.create_temp_file("\u00e9", encoding="latin-1")
                self.assertEqual(len({a, b, c}), 3)
                self.assertTrue(a.name.startswith("cfg") and a.name.endswith(".txt"))
                self.assertEqual(a.read_text(encoding="utf-8"), "x")
                self.assertEqual(b.read_bytes(), b"\x00")
                self.assertEqual(c.read_bytes(), b"\xe9")
                self.assertEqual(self.tempcase_dir.files(), [])
                for path in (a, b, c):
                    self.assertIsInstance(path, Path)
                    self.assertTrue(below(path, base))
                    self.assertFalse(below(path, self.tempcase_dir.path))
                self.create_file("mine.txt")
                self.assertEqual(self.tempcase_dir.files(), ["mine.txt"])
                seen["paths"] = [a, b, c]

        assert_passed(self, run_tests(T), 1)
        self.assertEqual([p for p in seen["paths"] if os.path.lexists(p)], [])

    def test_create_temp_directory_is_unique_and_outside_tempcase_dir(self) -> None:
        base = self.base
        seen: dict[str, Any] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                a = self.create_temp_directory({"conf/app.json": "{}"})
                b = self.create_temp_directory(prefix="other")
                self.assertNotEqual(a.path, b.path)
                self.assertTrue(b.path.name.startswith("other"))
                self.assertEqual(a.files(), ["conf/app.json"])
                self.assertEqual(self.tempcase_dir.files(), [])
                for d in (a, b):
                    self.assertTrue(below(d.path, base))
                    self.assertFalse(below(d.path, self.tempcase_dir.path))
                    self.assertFalse(below(self.tempcase_dir.path, d.path))
                seen["dirs"] = [a, b]

        assert_passed(self, run_tests(T), 1)
        for d in seen["dirs"]:
            self.assertFalse(os.path.lexists(d.path))
            with self.assertRaises(RuntimeError):  # its test ended
                d.create_file("late.txt")
            self.assertFalse(os.path.lexists(d.path))

    def test_tempcase_dir_refuses_writes_after_its_test(self) -> None:
        seen: dict[str, Any] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt")
                seen["dir"] = self.tempcase_dir

        assert_passed(self, run_tests(T), 1)
        d = seen["dir"]
        self.assertFalse(os.path.lexists(d.path))
        with self.assertRaises(RuntimeError):
            d.create_file("late.txt")
        self.assertFalse(os.path.lexists(d.path))

    def test_with_temp_directory_is_populated_and_removed_at_block_exit(self) -> None:
        seen: dict[str, Any] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                files = {"config.json": "{}", "scripts/helper.py": "print()"}
                with self.with_temp_directory(files) as d:
                    self.assertIsInstance(d, tempcase.TempDirectory)
                    self.assertEqual(d.files(), ["config.json", "scripts/helper.py"])
                    self.assertEqual(d.read_file("scripts/helper.py"), "print()")
                    self.assertFalse(below(d.path, self.tempcase_dir.path))
                seen["gone at exit"] = not os.path.lexists(d.path)
                with self.with_temp_directory() as empty:
                    self.assertEqual(empty.files(), [])
                self.assertEqual(self.tempcase_dir.files(), [])

        assert_passed(self, run_tests(T), 1)
        self.assertTrue(seen["gone at exit"])

    def test_with_temp_directory_is_removed_when_the_block_raises(self) -> None:
        seen: dict[str, Any] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                with self.assertRaises(KeyError), self.with_temp_directory({"a": "1"}) as d:
                    seen["path"] = d.path
                    raise KeyError("boom")
                seen["gone at exit"] = not os.path.lexists(d.path)

        assert_passed(self, run_tests(T), 1)
        self.assertTrue(seen["gone at exit"])

    def test_with_temp_directory_is_tracked_until_the_block_exits(self) -> None:
        # A block that never finishes (its generator is left open) still
        # leaves nothing: the directory belongs to the test until then.
        seen: dict[str, Any] = {}
        keep: list[contextlib.AbstractContextManager[tempcase.TempDirectory]] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                before = tempcase.get_stats().paths_by_context.get(self.id(), 0)
                manager = self.with_temp_directory({"a": "1"})
                keep.append(manager)
                d = manager.__enter__()
                seen["path"] = d.path
                seen["tracked"] = tempcase.get_stats().paths_by_context[self.id()] - before
                self.fail("the test fails inside the block")

        result = run_tests(T)
        self.assertEqual(len(result.failures), 1)
        self.assertGreaterEqual(seen["tracked"], 2)
        self.assertFalse(os.path.lexists(seen["path"]))
        keep[0].__exit__(None, None, None)  # the late exit finds it gone, and is quiet


class PredictableNamesTest(SessionTestCase):
    """Hazard 15: a taken or planted name is skipped, never followed."""

    @unittest.skipUnless(hasattr(tempfile, "_get_candidate_names"), "needs tempfile internals")
    def test_a_taken_or_planted_name_is_skipped(self) -> None:
        self.in_scope()
        outside = make_scratch(self)
        precious = outside / "precious"
        precious.write_text("keep me", encoding="utf-8")
        tempcase.create_temp_file()  # the run and scratch directories exist from here on
        names: Iterator[str] = iter(["zzz", "aaa", "bbb", "ccc", "ccc", "ddd"])
        with mock.patch.object(tempfile, "_get_candidate_names", return_value=names):
            first = tempcase.create_temp_file("1", ".t", prefix="p")
            os.symlink(precious, first.parent / "paaa.t")
            second = tempcase.create_temp_file("2", ".t", prefix="p")
            third = tempcase.create_temp_directory(prefix="p")
            fourth = tempcase.create_temp_directory(prefix="p")
        self.assertEqual((first.name, second.name), ("pzzz.t", "pbbb.t"))
        self.assertEqual((third.path.name, fourth.path.name), ("pccc", "pddd"))
        self.assertEqual(precious.read_text(encoding="utf-8"), "keep me")
        self.assertEqual(tree(outside), ["precious"])


class ModesTest(SessionTestCase):
    """Hazard 16: directories 0o700 and files 0o600, whatever the umask."""

    def make_everything(self) -> list[Path]:
        d = tempcase.create_temp_directory({"a/b.txt": "x"})
        d.create_file("c/d/e.txt", "y")
        d.create_subdirectory("f/g")
        d.create_numbered_files("h/n", "{}", 2)
        t = tempcase.TempDirectory({"i": ""})
        return [
            *(p for p in (d.path, *d.path.rglob("*"))),
            *(p for p in (t.path, *t.path.rglob("*"))),
            tempcase.create_temp_file("z"),
        ]

    def assert_modes(self, umask: int | None) -> None:
        with tempcase.scope("warm"):  # the run directory is made under the usual umask
            tempcase.create_temp_file()
        previous = os.umask(umask) if umask is not None else None
        try:
            with tempcase.scope("s"):
                paths = self.make_everything()
                modes = {str(p.relative_to(self.base)): (p.is_dir(), mode_of(p)) for p in paths}
        finally:
            if previous is not None:
                os.umask(previous)
        self.assertEqual(len(modes), 14)
        for name, (is_dir, mode) in modes.items():
            with self.subTest(name=name):
                self.assertEqual(mode, 0o700 if is_dir else 0o600)

    def test_modes_with_the_default_umask(self) -> None:
        self.assert_modes(None)

    def test_modes_with_umask_0(self) -> None:
        self.assert_modes(0)

    def test_modes_with_umask_022(self) -> None:
        self.assert_modes(0o022)

    def test_modes_with_a_umask_that_masks_the_owner_too(self) -> None:
        self.assert_modes(0o777)

    def test_unprivileged_user_can_write_nested_files_under_umask_777(self) -> None:
        with tempcase.scope("warm"):  # the run directory, made before the umask changes
            tempcase.create_temp_file()

        def body() -> None:
            os.umask(0o777)
            with tempcase.scope("s"):
                d = tempcase.create_temp_directory({"a/b.txt": "x"})
                d.create_file("c/d/e.txt", "y")
                d.create_numbered_files("f/n", "{}", 2)
                assert d.read_file("c/d/e.txt") == "y"
                assert d.read_file("f/n_002.txt") == "2"
                assert tempcase.create_temp_file("z").read_text(encoding="utf-8") == "z"

        run_as_nobody(self, self.scratch, body)


if __name__ == "__main__":
    unittest.main()
