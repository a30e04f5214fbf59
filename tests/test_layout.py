"""Where files live: the per-user root, the run directory, per-test directories."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import stat
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import tempcase
import tempcase._layout as layout
import tempcase._session as session_module
from tempcase._paths import is_windows_reserved
from tempcase._session import Session
from tests.support import (
    fresh_session,
    iter_tree,
    make_scratch,
    mode_of,
    nobody_ids,
    run_as_nobody,
    run_tests,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# A name tempcase may give a directory: portable characters only.
_PORTABLE = re.compile(r"^[A-Za-z0-9_.-]+$")
# What the layout may add to the base's length, whatever the test id:
# "/tempcase-of-<uid>" + "/run-XXXXXXXX" + "/<name>" with a name of <= 60 chars.
_MAX_OVERHEAD = len("/tempcase-of-4294967295") + len("/run-XXXXXXXX") + 1 + 60


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def _flock_free(path: str | Path) -> bool:
    """Try to take (and at once drop) an exclusive flock on *path* through a new open."""
    assert fcntl is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _end_later(test: unittest.TestCase, session: Session) -> Session:
    test.addCleanup(session.end)
    return session


class UserRootTest(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.base = self.scratch / "base"
        self.session = fresh_session(self, self.base)
        self.root = self.base / layout.user_root_name()

    def test_root_is_named_by_uid_under_the_basetemp_setting(self) -> None:
        seen: dict[str, Path] = {}

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                seen["file"] = self.create_file("a.txt", "x")

        self.assertTrue(run_tests(T).wasSuccessful())
        if hasattr(os, "getuid"):
            self.assertEqual(self.root.name, f"tempcase-of-{os.getuid()}")
        self.assertEqual(seen["file"].parents[2], self.root)
        self.assertTrue(seen["file"].parents[1].name.startswith("run-"))
        self.assertEqual(os.listdir(self.base), [self.root.name])

    def test_root_is_under_tempcase_basetemp_when_no_setting_is_given(self) -> None:
        env_base = self.scratch / "from-env"
        with mock.patch.dict(os.environ, {"TEMPCASE_BASETEMP": str(env_base)}):
            session = _end_later(self, Session())
        self.assertEqual(session.basetemp_source, "TEMPCASE_BASETEMP")
        run = session.run_dir.path
        self.assertEqual(Path(run).parent, env_base / layout.user_root_name())

    def test_every_level_is_private_with_umask_zero(self) -> None:
        modes: dict[str, int] = {}
        base, root = self.base, self.root

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("sub/deeper/a.txt", "x")
                self.create_subdirectory("empty")
                self.create_temp_file("y")
                self.create_temp_directory({"in/b.txt": "z"})
                for path in iter_tree(root):
                    modes[str(path.relative_to(base))] = os.lstat(path).st_mode

        old = os.umask(0)
        try:
            result = run_tests(T)
        finally:
            os.umask(old)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreater(len(modes), 10)
        self.assertEqual(stat.S_IMODE(modes[root.name]), 0o700)
        self.assertEqual(mode_of(self.base), 0o700)
        for name, mode in modes.items():
            with self.subTest(name=name):
                if stat.S_ISDIR(mode):
                    self.assertEqual(stat.S_IMODE(mode), 0o700)
                else:
                    self.assertTrue(stat.S_ISREG(mode))
                    self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_layout_directories_are_0o700_under_a_restrictive_umask(self) -> None:
        modes: dict[str, int] = {}
        base, root = self.base, self.root

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.assertTrue(self.tempcase_dir.path.is_dir())
                for path in iter_tree(root):
                    modes[str(path.relative_to(base))] = stat.S_IMODE(os.lstat(path).st_mode)

        old = os.umask(0o277)
        try:
            result = run_tests(T)
        finally:
            os.umask(old)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(len(modes), 4)  # root, run dir, its marker, the test's directory
        for name, mode in modes.items():
            with self.subTest(name=name):
                self.assertEqual(mode, 0o600 if name.endswith(layout.MARKER) else 0o700)

    def test_symlinked_root_is_refused_and_nothing_is_written_through_it(self) -> None:
        outside = self.scratch / "outside"
        outside.mkdir()
        self.base.mkdir()
        self.root.symlink_to(outside)

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt", "x")

        result = run_tests(T)
        self.assertEqual(len(result.errors), 1)
        message = result.errors[0][1]
        self.assertIn("PermissionError", message)
        self.assertIn("symbolic link", message)
        self.assertIn("TEMPCASE_BASETEMP", message)
        self.assertEqual(os.listdir(outside), [])
        self.assertTrue(self.root.is_symlink())

    def test_dangling_symlink_root_is_refused_and_its_target_not_made(self) -> None:
        target = self.scratch / "planted"
        self.base.mkdir()
        self.root.symlink_to(target)
        with self.assertRaisesRegex(PermissionError, "symbolic link.*TEMPCASE_BASETEMP"):
            self.session.run_dir  # noqa: B018 - the property creates the run directory
        self.assertFalse(os.path.lexists(target))

    def test_root_that_is_a_file_is_refused(self) -> None:
        self.base.mkdir()
        self.root.write_text("not mine to touch")
        with self.assertRaisesRegex(PermissionError, "not a directory.*TEMPCASE_BASETEMP"):
            self.session.run_dir  # noqa: B018
        self.assertEqual(self.root.read_text(), "not mine to touch")

    def test_world_writable_root_is_repaired_to_0o700(self) -> None:
        base = self.scratch / "mine"

        def body() -> None:
            root = base / layout.user_root_name()
            os.makedirs(root)
            os.chmod(root, 0o777)
            session = Session(basetemp=str(base))
            try:
                session.run_dir  # noqa: B018
                if mode_of(root) != 0o700:
                    raise AssertionError(f"root mode is {mode_of(root):o}, not 700")
            finally:
                session.end()

        run_as_nobody(self, self.scratch, body)

    def test_own_root_without_read_permission_is_repaired(self) -> None:
        # As a plain user a 0o000 directory cannot be opened to fchmod it.
        base = self.scratch / "mine"

        def body() -> None:
            root = base / layout.user_root_name()
            os.makedirs(root)
            os.chmod(root, 0o000)
            session = Session(basetemp=str(base))
            try:
                run = session.run_dir.path
                if mode_of(root) != 0o700 or not os.path.isdir(run):
                    raise AssertionError(f"root mode is {mode_of(root):o}, not 700")
            finally:
                session.end()

        run_as_nobody(self, self.scratch, body)

    def test_root_owned_by_another_user_is_refused(self) -> None:
        # A shared base like /tmp, where someone else made the victim's root first.
        shared = make_scratch(self)
        os.chmod(shared, 0o1777)
        uid_patch: contextlib.AbstractContextManager[object]
        if _uid() == 0:
            uid, _gid = nobody_ids()
            planted = shared / f"tempcase-of-{uid}"
            planted.mkdir(mode=0o700)  # owned by root
            uid_patch = contextlib.nullcontext()
        else:  # not root: pretend to be the uid after ours
            planted = shared / f"tempcase-of-{_uid() + 1}"
            planted.mkdir(mode=0o700)
            uid_patch = mock.patch("os.getuid", return_value=_uid() + 1)

        def body() -> None:
            session = Session(basetemp=str(shared))
            try:
                with uid_patch:
                    session.run_dir  # noqa: B018
            except PermissionError as exc:
                if not re.search(r"belongs to uid \d+, not to you.*TEMPCASE_BASETEMP", str(exc)):
                    raise AssertionError(f"unclear message: {exc}") from exc
            else:
                raise AssertionError("another user's root was accepted")
            finally:
                session.end()

        run_as_nobody(self, self.scratch, body)
        self.assertEqual(os.listdir(planted), [])
        self.assertEqual(os.listdir(shared), [planted.name])

    def test_own_root_is_accepted_by_an_unprivileged_user(self) -> None:
        base = self.scratch / "mine"

        def body() -> None:
            root = base / layout.user_root_name()
            os.makedirs(root, 0o700)
            previous = session_module._session
            session = session_module._session = Session(basetemp=str(base))
            seen: list[Path] = []

            class T(tempcase.TestCase):
                def test_it(self) -> None:
                    seen.append(self.create_file("a.txt", "x"))

            try:
                result = run_tests(T)
                if not result.wasSuccessful():
                    raise AssertionError(str(result.errors + result.failures))
                if seen[0].parents[2] != root or os.lstat(root).st_uid != _uid():
                    raise AssertionError(f"{seen[0]} is not in {root} owned by {_uid()}")
            finally:
                session.end()
                session_module._session = previous

        run_as_nobody(self, self.scratch, body)

    def test_empty_basetemp_setting_is_a_value_error(self) -> None:
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.scratch)  # if '' were taken as the cwd, the root would land here
        session = _end_later(self, Session(basetemp=""))
        with self.assertRaisesRegex(ValueError, "basetemp setting is empty"):
            session.run_dir  # noqa: B018
        with mock.patch.dict(os.environ, {"TEMPCASE_BASETEMP": ""}):
            session = _end_later(self, Session())
        with self.assertRaisesRegex(ValueError, "TEMPCASE_BASETEMP is empty"):
            session.run_dir  # noqa: B018
        self.assertEqual(os.listdir(self.scratch), [])

    def test_empty_base_fails_the_test_that_writes(self) -> None:
        session_module._session = _end_later(self, Session(basetemp=""))

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt")

        result = run_tests(T)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("ValueError", result.errors[0][1])
        self.assertIn("empty", result.errors[0][1])

    def test_user_given_base_keeps_its_own_files(self) -> None:
        mine = self.scratch / "mine"
        (mine / "keep").mkdir(parents=True)
        (mine / "precious").write_text("data")
        (mine / "keep" / "notes.txt").write_text("notes")
        session_module._session = session = _end_later(self, Session(basetemp=str(mine)))
        made: list[Path] = []

        class T(tempcase.TestCase):
            def test_one(self) -> None:
                made.append(self.create_file("a.txt", "x"))

            def test_two(self) -> None:
                made.append(self.create_temp_file("y"))

        self.assertTrue(run_tests(T).wasSuccessful())
        run = Path(session.run_dir.path)
        session.end()
        root = mine / layout.user_root_name()
        self.assertEqual(sorted(os.listdir(mine)), sorted(["keep", "precious", root.name]))
        self.assertEqual((mine / "precious").read_text(), "data")
        self.assertEqual((mine / "keep" / "notes.txt").read_text(), "notes")
        self.assertEqual(os.listdir(root), [])
        self.assertFalse(run.exists())
        self.assertEqual(len(made), 2)

    def test_dot_base_is_the_cwd_and_keeps_its_files(self) -> None:
        (self.scratch / "precious").write_text("data")
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.scratch)
        session_module._session = session = _end_later(self, Session(basetemp="."))

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                self.create_file("a.txt", "x")

        self.assertTrue(run_tests(T).wasSuccessful())
        session.end()
        self.assertEqual((self.scratch / "precious").read_text(), "data")
        names = set(os.listdir(self.scratch))
        self.assertEqual(names, {"precious", layout.user_root_name()})


class RunDirectoryTest(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.base = self.scratch / "base"
        self.session = fresh_session(self, self.base)
        self.root = self.base / layout.user_root_name()

    def test_each_session_gets_its_own_run_directory(self) -> None:
        other = _end_later(self, Session(basetemp=str(self.base)))
        first, second = Path(self.session.run_dir.path), Path(other.run_dir.path)
        self.assertNotEqual(first, second)
        for run in (first, second):
            self.assertEqual(run.parent, self.root)
            self.assertTrue(run.name.startswith(layout.RUN_PREFIX))
            self.assertTrue((run / layout.MARKER).is_file())
        other.end()
        self.assertFalse(second.exists())
        self.assertTrue((first / layout.MARKER).is_file())

    def test_marker_names_the_run_pid_host_and_start(self) -> None:
        run = Path(self.session.run_dir.path)
        marker = run / layout.MARKER
        data = json.loads(marker.read_text(encoding="utf-8"))
        self.assertEqual(data["run_id"], run.name)
        self.assertEqual(data["pid"], os.getpid())
        self.assertEqual(data["host"], socket.gethostname())
        self.assertEqual(data["started"], self.session.started)
        self.assertEqual(mode_of(marker), 0o600)
        self.assertEqual(sorted(os.listdir(run)), [layout.MARKER])

    @unittest.skipIf(fcntl is None, "needs flock")
    def test_run_directory_is_locked_until_the_session_ends(self) -> None:
        run = self.session.run_dir.path
        fd = os.open(run, os.O_RDONLY)  # opened now: the directory is gone after end()
        try:
            with self.assertRaises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.assertFalse(_flock_free(run))
            self.session.end()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        self.assertFalse(os.path.lexists(run))
        self.assertEqual(os.listdir(self.root), [])

    @unittest.skipIf(fcntl is None, "needs flock")
    def test_lock_is_held_before_the_marker_is_written(self) -> None:
        free_at_marker: list[bool] = []
        real_dump = json.dump
        root = self.root

        def dump(obj: Any, stream: Any, **kwargs: Any) -> None:
            (run,) = [name for name in os.listdir(root) if name.startswith(layout.RUN_PREFIX)]
            free_at_marker.append(_flock_free(root / run))
            real_dump(obj, stream, **kwargs)

        with mock.patch.object(json, "dump", dump):
            self.session.run_dir  # noqa: B018
        self.assertEqual(free_at_marker, [False])

    @unittest.skipIf(fcntl is None, "needs flock")
    def test_lock_descriptor_is_not_inherited(self) -> None:
        lock_fd = self.session.run_dir._lock_fd
        assert lock_fd is not None
        self.assertFalse(os.get_inheritable(lock_fd))

    def test_failed_marker_leaves_no_run_directory(self) -> None:
        def no_space(src: Any, dst: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        with mock.patch.object(os, "replace", no_space):
            with self.assertRaises(OSError):
                self.session.run_dir  # noqa: B018
        self.assertEqual(os.listdir(self.root), [])
        self.assertFalse(self.session.has_run_dir)
        # the next try works, and its lock is not blocked by a leftover
        self.assertTrue((Path(self.session.run_dir.path) / layout.MARKER).is_file())

    def test_session_end_removes_the_run_directory_with_its_contents(self) -> None:
        session_file = tempcase.create_temp_file("owned by the session")
        run = Path(self.session.run_dir.path)
        self.assertIn(run, session_file.parents)
        self.session.end()
        self.assertFalse(run.exists())
        self.assertEqual(os.listdir(self.root), [])


class ContextDirectoryTest(unittest.TestCase):
    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.base = self.scratch / "b"  # short, for the socket test
        self.session = fresh_session(self, self.base)
        self.root = self.base / layout.user_root_name()

    def test_tests_that_create_nothing_make_no_directory_at_all(self) -> None:
        class T(tempcase.TestCase):
            def test_passes(self) -> None:
                self.assertEqual(tempcase.current_context(), self.id())

            def test_fails(self) -> None:
                self.fail("on purpose")

            @unittest.skip("on purpose")
            def test_skipped(self) -> None:
                pass

        result = run_tests(T)
        self.assertEqual((len(result.failures), len(result.skipped)), (1, 1))
        self.assertFalse(self.session.has_run_dir)
        self.assertFalse(self.base.exists())

    def test_directory_is_made_on_first_use_only(self) -> None:
        seen: dict[str, list[str]] = {}

        def entries() -> list[str]:
            run = self.session.run_dir.path
            return sorted(n for n in os.listdir(run) if n != layout.MARKER)

        class T(tempcase.TestCase):
            def test_a_scratch_only(self) -> None:
                self.create_temp_file("x")
                seen["scratch"] = entries()

            def test_b_own_dir(self) -> None:
                seen["before"] = entries()
                self.create_file("f.txt")
                seen["after"] = entries()

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(len(seen["scratch"]), 1)
        self.assertTrue(seen["scratch"][0].endswith(".tmp"))
        self.assertEqual(seen["before"], [])
        self.assertEqual(len(seen["after"]), 1)
        self.assertTrue(seen["after"][0].startswith("test_b_own_dir-"))

    def test_directory_is_named_from_test_id_hash_and_counter(self) -> None:
        names: list[str] = []

        class T(tempcase.TestCase):
            def test_named(self) -> None:
                names.append(self.tempcase_dir.path.name)

        class U(tempcase.TestCase):
            def test_named(self) -> None:
                names.append(self.tempcase_dir.path.name)

        self.assertTrue(run_tests(T, U).wasSuccessful())
        pattern = re.compile(r"^test_named-([0-9a-f]+)-([0-9]+)$")
        matches = [pattern.match(name) for name in names]
        self.assertTrue(all(matches), names)
        hashes = {m.group(1) for m in matches if m}
        self.assertEqual(len(hashes), 2)  # T.test_named and U.test_named told apart

    def test_same_test_id_twice_in_one_run_gets_two_directories(self) -> None:
        paths: list[Path] = []

        class T(tempcase.TestCase):
            def test_it(self) -> None:
                paths.append(self.create_file("same.txt", self.id()))
                assert len(os.listdir(self.tempcase_dir.path.parent)) == 2  # marker + own

        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertTrue(run_tests(T).wasSuccessful())
        self.assertEqual(len(paths), 2)
        self.assertNotEqual(paths[0].parent, paths[1].parent)

    def test_nested_runs_of_one_id_never_share_a_directory(self) -> None:
        dirs: list[Path] = []

        class Inner(tempcase.TestCase):
            def test_it(self) -> None:
                dirs.append(self.tempcase_dir.path)

        class Outer(tempcase.TestCase):
            def test_it(self) -> None:
                outer = self.tempcase_dir.path

                def same_id() -> str:  # the inner test shows the same id as the outer one
                    return self.id()

                inner = Inner("test_it")
                inner.id = same_id  # type: ignore[method-assign]
                unittest.TestSuite([inner]).run(unittest.TestResult())
                dirs.append(outer)
                assert outer.is_dir()

        self.assertTrue(run_tests(Outer).wasSuccessful())
        self.assertEqual(len(dirs), 2)
        self.assertNotEqual(dirs[0], dirs[1])

    def test_awkward_test_ids_give_distinct_portable_names(self) -> None:
        ids = {
            "test_long": "pkg.mod.C.test_x (" + "p" * 1000 + ")",
            "test_long_word": "x" * 1000,
            "test_euro": "\u20ac" * 100,
            "test_slash": "pkg.mod.C.test[a/b]",
            "test_angle": "pkg.mod.C.test[<:>]",
            "test_surrogate": "pkg.mod.C.test[\udcff]",
            "test_con": "CON",
            "test_nul_ext": "tests/test_x.py::NUL.txt",
            "test_com": "tests/test_x.py::COM1.log ",
            "test_dot": "pkg.mod.C.test_x.",
        }
        seen: dict[str, Path] = {}
        base = self.base

        class T(tempcase.TestCase):
            def id(self) -> str:
                return ids[self._testMethodName]

            def _probe(self) -> None:
                path = self.create_file("probe.txt", "x")
                assert path.read_text() == "x"
                assert len(str(path.parent)) - len(str(base)) <= _MAX_OVERHEAD
                seen[self._testMethodName] = path.parent

        for method in ids:
            setattr(T, method, T._probe)
        result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        names = [path.name for path in seen.values()]
        self.assertEqual(len(names), len(ids))
        self.assertEqual(len(set(names)), len(ids))
        for name in names:
            with self.subTest(name=name):
                self.assertLessEqual(len(name), 60)
                self.assertRegex(name, _PORTABLE)
                self.assertFalse(is_windows_reserved(name))
                self.assertFalse(is_windows_reserved(name + ".tmp"))

    def test_context_dir_name_tells_similar_ids_apart_at_one_serial(self) -> None:
        groups = [
            ["\u20ac" * 100, "\u20ac" * 101, "\u00e9" * 100],
            ["test[a/b]", "test[a:b]", "test[a_b]", "test[a b]"],
            ["x" * 1000, "x" * 1001, "x" * 999 + "y"],
            ["test[\udcff]", "test[\udcfe]", "test[\ud800]"],
            ["CON", "con", "CON."],
        ]
        for group in groups:
            with self.subTest(group=group[0][:10]):
                names = [layout.context_dir_name(label, 7) for label in group]
                self.assertEqual(len(set(names)), len(group), names)

    def test_context_dir_name_is_never_a_reserved_name(self) -> None:
        labels = [
            "CON",
            "tests/t.py::NUL.txt",
            "t.py::AUX",
            "t.py::COM\u00b9.log",
            "t.py::LPT9 .x",
            "pkg.C.test.",
            "t.py::a.",
            None,
            "",
            "...",
        ]
        for label in labels:
            for suffix in ("", ".tmp"):
                name = layout.context_dir_name(label, 1) + suffix
                with self.subTest(label=label, suffix=suffix):
                    self.assertRegex(name, _PORTABLE)
                    self.assertFalse(is_windows_reserved(name))
                    self.assertLessEqual(len(name), 60)

    def test_test_directory_path_stays_short(self) -> None:
        lengths: list[int] = []

        class SomeFeatureTest(tempcase.TestCase):
            def test_reads_config(self) -> None:
                lengths.append(len(str(self.tempcase_dir)))

        self.assertTrue(run_tests(SomeFeatureTest).wasSuccessful())
        # At most 60 characters on top of the base: below 100 for a base of up to 39.
        self.assertLessEqual(lengths[0] - len(str(self.base)), 60)

    @unittest.skipUnless(hasattr(socket, "AF_UNIX"), "needs UNIX sockets")
    def test_unix_socket_binds_in_the_test_directory(self) -> None:
        # sun_path holds 104 (macOS) to 108 (Linux) bytes with its NUL: a
        # base of up to 48 bytes leaves room for the layout and "/s.sock".
        if len(os.fsencode(self.base)) > 48:
            self.skipTest(f"the temp dir is too long for a short base: {self.base}")
        seen: list[int] = []

        class T(tempcase.TestCase):
            def test_serves(self) -> None:
                path = self.tempcase_dir / "s.sock"
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
                    server.bind(str(path))
                    server.listen(1)
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                        client.connect(str(path))
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        seen.append(len(os.fsencode(path)))

        result = run_tests(T)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertEqual(len(seen), 1)
        self.assertLess(seen[0], 104)

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_forked_child_and_parent_never_share_a_directory_name(self) -> None:
        with tempcase.scope("worker"):
            tempcase.create_temp_file("before the fork")
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(read_fd)
                # The scope is never left: the child's directory stays for the parent to see.
                with tempcase.scope("worker"):
                    made = tempcase.create_temp_file("child")
                    os.write(write_fd, os.fsencode(made.parent))
                    os._exit(0)
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as stream:
            child_dir = Path(os.fsdecode(stream.read()))
        _, status = os.waitpid(pid, 0)
        self.assertEqual(status, 0)
        self.assertTrue(child_dir.is_dir())
        with tempcase.scope("worker"):
            parent_dir = tempcase.create_temp_file("parent").parent
            self.assertNotEqual(parent_dir, child_dir)
            self.assertEqual(parent_dir.parent, child_dir.parent)
            # the child's file is untouched
            self.assertEqual([p.read_text() for p in child_dir.iterdir()], ["child"])
        self.assertFalse(parent_dir.exists())
