"""Safe removal: links, mounts, modes, races and errors (hazards 1-3, 5-9, 11-14, 31, 45)."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import threading
import unittest
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import tempcase
import tempcase._removal as removal
from tests.support import (
    fresh_session,
    let_nobody_through,
    make_scratch,
    mode_of,
    nobody_ids,
    run_as_nobody,
    run_tests,
)

PRECIOUS = "keep me"
MODES = [m << 6 for m in range(8)]  # 0o000, 0o100, ..., 0o700


def _fake_dev(st: os.stat_result) -> os.stat_result:
    """*st* as if it were on another device."""
    return os.stat_result(
        (
            st.st_mode,
            st.st_ino,
            st.st_dev + 1,
            st.st_nlink,
            st.st_uid,
            st.st_gid,
            st.st_size,
            int(st.st_atime),
            int(st.st_mtime),
            int(st.st_ctime),
        )
    )


class _Listed:
    """What ``os.scandir`` returns, from entries already read."""

    def __init__(self, entries: list[Any]) -> None:
        self.entries = entries

    def __enter__(self) -> Iterator[Any]:
        return iter(self.entries)

    def __exit__(self, *exc: object) -> None:
        return None


class RemovalTestBase(unittest.TestCase):
    """A scratch dir with ``outside/precious``, which must survive every test."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.outside = self.scratch / "outside"
        self.outside.mkdir()
        self.precious = self.outside / "precious"
        self.precious.write_text(PRECIOUS)
        self.addCleanup(self._check_outside)  # before the scratch dir goes
        self.session = fresh_session(self, base=self.scratch / "base")

    def _check_outside(self) -> None:
        self.assertEqual(self.precious.read_text(), PRECIOUS)

    def make_tree(self, name: str = "tree") -> Path:
        """``name/`` holding a file and ``sub/`` with a file, made during the run."""
        top = self.scratch / name
        (top / "sub").mkdir(parents=True)
        (top / "file").write_text("x")
        (top / "sub" / "file").write_text("y")
        return top

    def clean_scope(self, register: Callable[[], object]) -> tempcase.CleanupResult:
        """Register in a custom scope, clean it, and return what the cleanup said."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tempcase.TempcaseWarning)
            with tempcase.scope("removal"):
                register()
                return tempcase.cleanup_context("removal")

    def clean_directory(self, path: str | Path) -> tempcase.CleanupResult:
        """Register the directory *path* in a custom scope and clean it."""
        return self.clean_scope(lambda: tempcase.register_directory(path))


class SymlinkTest(RemovalTestBase):
    """Hazards 1 and 3: links are unlinked, their targets never touched."""

    def test_links_inside_test_directory_are_unlinked_targets_kept(self) -> None:
        outside = self.outside
        seen: list[Path] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("sub/file", "x")
                root = self.tempcase_dir.path
                os.symlink(outside, root / "to_dir")
                os.symlink(outside / "precious", root / "sub" / "to_file")
                os.symlink(outside / "missing", root / "dangling")
                seen.append(root)

        result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertFalse(os.path.lexists(seen[0]))

    def test_links_inside_registered_directory_are_unlinked_targets_kept(self) -> None:
        tree = self.make_tree()
        os.symlink(self.outside, tree / "sub" / "to_dir")
        os.symlink(self.precious, tree / "to_file")
        os.symlink(self.outside / "missing", tree / "dangling")
        result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))

    def test_registered_symlink_to_directory_removes_only_the_link(self) -> None:
        link = self.scratch / "link"
        os.symlink(self.outside, link)
        result = self.clean_scope(lambda: tempcase.register_directory(link))
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(link))

    def test_symlink_registered_with_trailing_separator_keeps_target(self) -> None:
        for suffix in ("/", "/.", "//", "/./"):
            with self.subTest(suffix=suffix):
                link = self.scratch / "link"
                os.symlink(self.outside, link)
                self.clean_directory(str(link) + suffix)
                self.assertFalse(os.path.lexists(link))

    def test_symlink_file_registered_with_trailing_separator_keeps_target(self) -> None:
        link = self.scratch / "link"
        os.symlink(self.precious, link)
        self.clean_scope(lambda: tempcase.register_file(str(link)))
        self.assertFalse(os.path.lexists(link))

    def test_remove_path_refuses_dot_components_instead_of_following_a_link(self) -> None:
        link = self.scratch / "link"
        os.symlink(self.outside, link)
        for suffix in ("/.", "/./", "/..", "/sub/.."):
            with self.subTest(suffix=suffix):
                problems = removal.remove_path(str(link) + suffix)
                self.assertEqual(len(problems), 1)
                self.assertIn("refused", problems[0].error)
                self.assertTrue(os.path.islink(link))

    def test_remove_path_strips_trailing_separators_of_a_link(self) -> None:
        link = self.scratch / "link"
        os.symlink(self.outside, link)
        self.assertEqual(removal.remove_path(str(link) + "//"), [])
        self.assertFalse(os.path.lexists(link))

    def test_remove_path_refuses_the_file_system_root(self) -> None:
        for root in ("/", "//", "///"):
            with self.subTest(root=root):
                problems = removal.remove_path(root)
                self.assertEqual(len(problems), 1)
                self.assertIn("refused", problems[0].error)

    def test_portable_walk_unlinks_links_too(self) -> None:
        tree = self.make_tree()
        os.symlink(self.outside, tree / "sub" / "to_dir")
        os.symlink(self.precious, tree / "to_file")
        with mock.patch.object(removal, "_FD_WALK", False):
            self.assertEqual(removal.remove_path(str(tree)), [])
        self.assertFalse(os.path.lexists(tree))

    def test_descriptor_walk_is_used_on_posix(self) -> None:
        if os.name != "posix":
            self.skipTest("POSIX only")
        self.assertTrue(removal._FD_WALK)


class SwapTest(RemovalTestBase):
    """Hazards 2, 6 and 31: a link swapped in during or before cleanup is never followed."""

    def swap_for_link(self, path: Path) -> None:
        """Move the directory *path* away and put a link to ``outside/`` there."""
        os.rename(path, self.scratch / f"moved-{path.name}")
        os.symlink(self.outside, path)

    def test_subdirectory_swapped_after_listing_is_unlinked_not_followed(self) -> None:
        tree = self.make_tree()
        real_scandir = removal._scandir
        swapped: list[bool] = []

        def scandir(fd: Any) -> _Listed:
            with real_scandir(fd) as it:
                entries = list(it)
            if not swapped:
                swapped.append(True)
                self.swap_for_link(tree / "sub")
            return _Listed(entries)

        with mock.patch.object(removal, "_scandir", scandir):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(swapped, [True])
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))
        self.assertTrue((self.scratch / "moved-sub" / "file").exists())

    def test_file_replaced_by_a_directory_after_listing_is_removed_as_a_directory(self) -> None:
        # The walk unlinks what scandir listed as a file without an lstat; a
        # directory put there since is refused by unlink and walked instead.
        tree = self.make_tree()
        real_unlink = removal._unlink
        swapped: list[bool] = []

        def unlink(name: Any, *args: Any, **kwargs: Any) -> None:
            if name == "file" and kwargs.get("dir_fd") is not None and not swapped:
                swapped.append(True)
                os.unlink(tree / "file")
                (tree / "file").mkdir()
                (tree / "file" / "inner").write_text("z")
            real_unlink(name, *args, **kwargs)

        with mock.patch.object(removal, "_unlink", unlink):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(swapped, [True])
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))

    def test_link_listed_by_scandir_is_unlinked_without_a_look_at_its_target(self) -> None:
        tree = self.make_tree()
        os.symlink(self.outside, tree / "to-outside")
        looked: list[str] = []
        real_lstat = removal._lstat

        def lstat(name: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            looked.append(os.fsdecode(name))
            return real_lstat(name, *args, **kwargs)

        with mock.patch.object(removal, "_lstat", lstat):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))
        # Files and links inside the tree go by scandir's type alone.
        self.assertNotIn("to-outside", looked)
        self.assertNotIn("file", looked)

    def test_subdirectory_swapped_before_it_is_opened_is_not_entered(self) -> None:
        tree = self.make_tree()
        real_open = removal._open

        def open_(name: str, flags: int, *args: Any, dir_fd: int | None = None) -> int:
            if name == "sub" and dir_fd is not None and not os.path.islink(tree / "sub"):
                self.swap_for_link(tree / "sub")
            return real_open(name, flags, *args, dir_fd=dir_fd)

        with mock.patch.object(removal, "_open", open_):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual([e.path for e in result.errors], [tree / "sub"])
        self.assertTrue(os.path.islink(tree / "sub"))

    def test_permission_fallback_never_chmods_through_a_swapped_link(self) -> None:
        tree = self.make_tree()
        os.chmod(self.outside, 0o555)
        self.addCleanup(os.chmod, self.outside, 0o755)
        real_open = removal._open
        denied: list[bool] = []

        def open_(name: str, flags: int, *args: Any, dir_fd: int | None = None) -> int:
            if name == "sub" and flags == removal._DIR_FLAGS and not denied:
                denied.append(True)
                self.swap_for_link(tree / "sub")
                raise PermissionError(errno.EACCES, "Permission denied", name)
            return real_open(name, flags, *args, dir_fd=dir_fd)

        with mock.patch.object(removal, "_open", open_):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(denied, [True])
        self.assertEqual(mode_of(self.outside), 0o555)
        self.assertEqual([e.path for e in result.errors], [tree / "sub"])

    def test_retry_after_permission_error_acts_on_the_opened_directory(self) -> None:
        tree = self.make_tree()
        real_unlink = removal._unlink
        calls: list[str] = []

        def unlink(name: str, *, dir_fd: int | None = None) -> None:
            calls.append(name)
            if len(calls) == 1 and dir_fd is not None:
                self.swap_for_link(tree / "sub")
                raise PermissionError(errno.EACCES, "Permission denied", name)
            real_unlink(name, dir_fd=dir_fd)

        (tree / "file").unlink()  # so that the first unlink is the one in sub/
        outside_mode = mode_of(self.outside)
        with mock.patch.object(removal, "_unlink", unlink):
            self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(calls[:2], ["file", "file"])
        self.assertEqual(os.listdir(self.scratch / "moved-sub"), [])
        self.assertEqual(mode_of(self.outside), outside_mode)

    def test_registered_directory_replaced_by_link_removes_link_and_says_replaced(self) -> None:
        tree = self.make_tree()

        def register_then_swap() -> None:
            tempcase.register_directory(tree)
            self.swap_for_link(tree)

        result = self.clean_scope(register_then_swap)
        self.assertFalse(os.path.lexists(tree))
        self.assertTrue((self.scratch / "moved-tree" / "sub" / "file").exists())
        self.assertEqual(len(result.errors), 1)
        self.assertEqual(result.errors[0].path, tree)
        self.assertEqual(result.errors[0].context, "removal")
        self.assertIn("replaced", result.errors[0].error)

    def test_registered_file_replaced_by_link_keeps_target(self) -> None:
        path = self.scratch / "file"
        path.write_text("x")

        def register_then_swap() -> None:
            tempcase.register_file(path)
            path.unlink()
            os.symlink(self.precious, path)

        result = self.clean_scope(register_then_swap)
        self.assertFalse(os.path.lexists(path))
        self.assertIn("replaced", result.errors[0].error)


class MountTest(RemovalTestBase):
    """Hazard 8: a directory on another device is left in place and reported."""

    def test_subdirectory_on_another_device_is_left_and_reported(self) -> None:
        tree = self.make_tree()
        (tree / "mnt").mkdir()
        (tree / "mnt" / "data").write_text("on another file system")
        real_lstat = removal._lstat

        def lstat(path: str, *, dir_fd: int | None = None) -> os.stat_result:
            st = real_lstat(path, dir_fd=dir_fd)
            return _fake_dev(st) if path == "mnt" else st

        with mock.patch.object(removal, "_lstat", lstat):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual([e.path for e in result.errors], [tree / "mnt"])
        self.assertIn("another file system", result.errors[0].error)
        self.assertEqual((tree / "mnt" / "data").read_text(), "on another file system")
        self.assertEqual(sorted(os.listdir(tree)), ["mnt"])

    def test_registered_directory_now_on_another_device_is_left(self) -> None:
        tree = self.make_tree()
        real_lstat = removal._lstat

        def lstat(path: str, *, dir_fd: int | None = None) -> os.stat_result:
            st = real_lstat(path, dir_fd=dir_fd)
            return _fake_dev(st) if path == str(tree) else st

        def register_then_mount() -> None:
            tempcase.register_directory(tree)
            stack.enter_context(mock.patch.object(removal, "_lstat", lstat))

        with ExitStack() as stack:
            result = self.clean_scope(register_then_mount)
        self.assertIn("another file system", result.errors[0].error)
        self.assertTrue((tree / "sub" / "file").exists())


class RaceTest(RemovalTestBase):
    """Hazards 9 and 11: concurrent deletion is success; transient errors are retried."""

    def test_entries_deleted_concurrently_count_as_removed(self) -> None:
        tree = self.make_tree()
        for name in ("a", "b", "c"):
            (tree / name).mkdir()
            (tree / name / "f").write_text(name)
        real_unlink = removal._unlink
        raced: list[bool] = []

        def unlink(name: str, *, dir_fd: int | None = None) -> None:
            if not raced:  # another process removes everything else first
                raced.append(True)
                for entry in os.listdir(tree):
                    if os.path.isdir(tree / entry):
                        shutil.rmtree(tree / entry)
                    else:
                        os.unlink(tree / entry)
            real_unlink(name, dir_fd=dir_fd)

        with mock.patch.object(removal, "_unlink", unlink):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(raced, [True])
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))

    def test_whole_tree_deleted_during_walk_is_not_an_error(self) -> None:
        tree = self.make_tree()
        real_scandir = removal._scandir

        def scandir(fd: Any) -> Any:
            shutil.rmtree(tree, ignore_errors=True)
            return real_scandir(fd)

        with mock.patch.object(removal, "_scandir", scandir):
            self.assertEqual(removal.remove_path(str(tree)), [])
        self.assertFalse(os.path.lexists(tree))

    def test_already_missing_path_counts_as_removed(self) -> None:
        path = self.scratch / "never-made"
        gone = self.make_tree("gone")

        def register() -> None:
            tempcase.register_file(path)
            tempcase.register_directory(gone)
            shutil.rmtree(gone)

        result = self.clean_scope(register)
        self.assertEqual(result.errors, [])
        self.assertEqual(result.removed, 2)

    def test_rmdir_not_empty_once_is_retried(self) -> None:
        tree = self.make_tree()
        real_rmdir = removal._rmdir
        calls: list[str] = []
        sleeps: list[float] = []

        def rmdir(path: str, *, dir_fd: int | None = None) -> None:
            calls.append(path)
            if calls.count(path) == 1:
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
            real_rmdir(path, dir_fd=dir_fd)

        with mock.patch.object(removal, "_rmdir", rmdir), mock.patch.object(
            removal, "_sleep", sleeps.append
        ):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual(result.errors, [])
        self.assertFalse(os.path.lexists(tree))
        self.assertEqual(sorted(calls), sorted(["sub", "sub", str(tree), str(tree)]))
        self.assertEqual(len(sleeps), 2)

    def test_rmdir_busy_forever_is_reported_after_bounded_retries(self) -> None:
        tree = self.make_tree()
        calls: list[str] = []

        def rmdir(path: str, *, dir_fd: int | None = None) -> None:
            calls.append(path)
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)

        with mock.patch.object(removal, "_rmdir", rmdir), mock.patch.object(
            removal, "_sleep", lambda delay: None
        ):
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
        self.assertEqual([e.path for e in result.errors], [tree / "sub"])
        self.assertIn("EBUSY", result.errors[0].error)
        self.assertEqual(calls, ["sub"] * (len(removal._RETRY_DELAYS) + 1))
        self.assertEqual(os.listdir(tree), ["sub"])


class ShapeTest(RemovalTestBase):
    """Hazards 12 and 13: deep trees, long paths and FIFOs."""

    def test_deep_tree_and_long_path_are_removed(self) -> None:
        deep = "/".join(["d"] * 300) + "/file"
        long_name = "/".join(["abcdefghij"] * 26) + "/file"
        seen: list[Path] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                seen.append(self.create_file(deep, "deep"))
                seen.append(self.create_file(long_name, "long"))
                seen.append(self.tempcase_dir.path)

        result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertGreater(len(str(seen[1])), 250)
        self.assertEqual(seen[0].parts.count("d"), 300)
        self.assertFalse(os.path.lexists(seen[2]))

    def test_fifo_is_removed_without_being_opened(self) -> None:
        if not hasattr(os, "mkfifo"):
            self.skipTest("needs os.mkfifo")
        seen: list[Path] = []
        loose = self.scratch / "loose-fifo"

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                os.mkfifo(self.create_subdirectory("sub") / "fifo")
                os.mkfifo(loose)
                self.register_temp_file(loose)
                seen.append(self.tempcase_dir.path)

        outcome: list[unittest.TestResult] = []
        worker = threading.Thread(target=lambda: outcome.append(run_tests(T)), daemon=True)
        worker.start()
        worker.join(120)  # a guard against a hang, not a measurement
        self.assertFalse(worker.is_alive(), "cleanup blocked on a FIFO")
        self.assertTrue(outcome[0].wasSuccessful(), outcome[0].errors)
        self.assertFalse(os.path.lexists(seen[0]))
        self.assertFalse(os.path.lexists(loose))


class MockedOsTest(RemovalTestBase):
    """Hazard 45: a test's mock of ``os`` neither sees nor breaks tempcase's cleanup."""

    def test_mocked_os_unlink_during_cleanup_records_no_tempcase_call(self) -> None:
        patchers = [mock.patch("os.unlink"), mock.patch("os.rmdir"), mock.patch("shutil.rmtree")]
        mocks: list[mock.MagicMock] = []
        seen: list[Path] = []
        registered = self.make_tree()

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("sub/file", "x")
                self.register_temp_directory(registered)
                seen.append(self.tempcase_dir.path)
                # Started here and stopped by the outer test: still active
                # while tempcase cleans this test up.
                mocks.extend(p.start() for p in patchers)

        try:
            result = run_tests(T)
        finally:
            for patcher in patchers:
                patcher.stop()
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertEqual(len(mocks), 3)
        for recorder in mocks:
            self.assertEqual(recorder.call_args_list, [])
        self.assertFalse(os.path.lexists(seen[0]))
        self.assertFalse(os.path.lexists(registered))


@unittest.skipUnless(hasattr(os, "fork") and hasattr(os, "getuid"), "needs fork and uids")
class PermissionTest(RemovalTestBase):
    """Hazards 5, 7 and 14, as the unprivileged ``nobody`` user."""

    def test_chmod_fallback_never_changes_link_targets_outside(self) -> None:
        scratch, outside = self.scratch, self.outside

        def body() -> None:
            for mode in MODES:
                target = outside / f"target-{mode:o}"
                target.write_text("outside")
                os.chmod(target, 0o400)
                other = outside / f"other-{mode:o}"
                other.write_text("outside")
                os.chmod(other, mode)
                tree = scratch / f"tree-{mode:o}"
                ro = tree / "ro"
                ro.mkdir(parents=True)
                os.symlink(target, ro / "to_file")
                os.symlink(other, ro / "to_other")
                os.symlink(outside, ro / "to_dir")
                os.symlink(outside, tree / "to_dir")
                os.chmod(ro, 0o500)
                os.chmod(tree, mode)
                outside_mode = mode_of(outside)
                result = self.clean_directory(tree)
                self.assertEqual(result.errors, [], oct(mode))
                self.assertFalse(os.path.lexists(tree), oct(mode))
                self.assertEqual(mode_of(target), 0o400, oct(mode))
                self.assertEqual(mode_of(other), mode, oct(mode))
                self.assertEqual(mode_of(outside), outside_mode, oct(mode))

        run_as_nobody(self, scratch, body)

    def test_every_mode_three_levels_deep_is_removed(self) -> None:
        scratch = self.scratch

        def apply_modes(root: Path, mode: int) -> None:
            for level in ("a/b/c", "a/b", "a", ""):
                here = root / level if level else root
                for entry in here.iterdir():
                    if entry.is_file():
                        os.chmod(entry, mode)
                os.chmod(here, mode)

        def make_case(mode: int, seen: list[Path]) -> type[unittest.TestCase]:
            class T(tempcase.TestCase):
                def test_it(self) -> None:
                    for name in ("f", "a/f", "a/b/f", "a/b/c/f"):
                        self.create_file(name, "x")
                    self.create_subdirectory("a/b/c/empty")
                    seen.append(self.tempcase_dir.path)
                    apply_modes(self.tempcase_dir.path, mode)

            return T

        def body() -> None:
            for mode in MODES:
                seen: list[Path] = []
                T = make_case(mode, seen)
                result = run_tests(T)
                self.assertTrue(result.wasSuccessful(), (oct(mode), result.errors))
                self.assertFalse(os.path.lexists(seen[0]), oct(mode))

                tree = scratch / f"tree-{mode:o}"
                (tree / "a" / "b" / "c").mkdir(parents=True)
                for name in ("f", "a/f", "a/b/f", "a/b/c/f"):
                    (tree / name).write_text("x")
                apply_modes(tree, mode)
                cleaned = self.clean_directory(tree)
                self.assertEqual(cleaned.errors, [], oct(mode))
                self.assertFalse(os.path.lexists(tree), oct(mode))

        run_as_nobody(self, scratch, body)

    def test_read_only_registered_file_is_removed(self) -> None:
        scratch = self.scratch

        def body() -> None:
            path = scratch / "read-only"
            path.write_text("x")
            os.chmod(path, 0o400)
            result = self.clean_scope(lambda: tempcase.register_file(path))
            self.assertEqual(result.errors, [])
            self.assertFalse(os.path.lexists(path))

        run_as_nobody(self, scratch, body)

    def test_read_only_parent_of_registered_file_is_left_as_it_is(self) -> None:
        scratch = self.scratch

        def body() -> None:
            parent = scratch / "read-only-dir"
            parent.mkdir()
            path = parent / "file"
            path.write_text("x")
            os.chmod(parent, 0o500)
            result = self.clean_scope(lambda: tempcase.register_file(path))
            self.assertEqual([e.path for e in result.errors], [path])
            self.assertEqual(mode_of(parent), 0o500)
            self.assertTrue(path.exists())

        run_as_nobody(self, scratch, body)

    def make_locked(self) -> tuple[Path, Path]:
        """``tree/`` for nobody, holding ``locked/file``, both root's: undeletable by nobody."""
        other = make_scratch(self)
        os.chmod(other, 0o755)
        let_nobody_through(self, other)
        tree = other / "tree"
        (tree / "locked").mkdir(parents=True)
        (tree / "locked" / "file").write_text("x")
        (tree / "free").write_text("x")
        if os.getuid() == 0:
            uid, gid = nobody_ids()
            os.chown(tree, uid, gid)
            os.chown(tree / "free", uid, gid)
        else:
            self.skipTest("needs root to make a file the test user cannot delete")
        return tree, tree / "locked" / "file"

    def test_undeletable_file_is_reported_and_test_outcome_unchanged(self) -> None:
        tree, locked = self.make_locked()

        def body() -> None:
            class T(tempcase.TestCase):
                def test_it(self) -> None:
                    self.register_temp_directory(tree)

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = run_tests(T)
            self.assertTrue(result.wasSuccessful(), result.errors)
            self.assertEqual((result.testsRun, result.failures, result.errors), (1, [], []))
            shown = [w for w in caught if issubclass(w.category, tempcase.TempcaseWarning)]
            self.assertEqual(len(shown), 1)
            self.assertIn(str(locked), str(shown[0].message))
            self.assertEqual(tempcase.get_stats().failed, 1)
            self.assertTrue(locked.exists())
            self.assertFalse((tree / "free").exists())

        run_as_nobody(self, self.scratch, body)

    def test_undeletable_file_is_in_cleanup_result_errors(self) -> None:
        tree, locked = self.make_locked()

        def body() -> None:
            result = self.clean_scope(lambda: tempcase.register_directory(tree))
            self.assertFalse(result.ok)
            self.assertEqual([e.path for e in result.errors], [locked])
            self.assertIn("EACCES", result.errors[0].error)
            self.assertEqual(result.errors[0].context, "removal")
            self.assertTrue(locked.exists())

        run_as_nobody(self, self.scratch, body)


if __name__ == "__main__":  # pragma: no cover
    unittest.main()


@unittest.skipUnless(sys.platform.startswith("linux"), "the mount table is Linux's")
class MountTableCacheTest(unittest.TestCase):
    """The mount table is read once, not for every tree removed (it costs ~70 us)."""

    def test_many_removals_read_the_mount_table_once(self) -> None:
        scratch = make_scratch(self)
        reads = []
        real_read = removal._MOUNTS._read

        def counted() -> bytes:
            reads.append(1)
            return real_read()

        removal._MOUNTS._points = None  # start from an unread table
        with mock.patch.object(removal._MOUNTS, "_read", counted):
            for i in range(50):
                tree = scratch / f"t{i}" / "sub"
                tree.mkdir(parents=True)
                (tree / "f").write_text("x")
                self.assertEqual(removal.remove_path(str(scratch / f"t{i}")), [])
        self.assertEqual(len(reads), 1)
