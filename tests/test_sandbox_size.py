"""Detection's fast path for a sandbox on a tmpfs: one ``fstat`` tells it is still empty.

On a tmpfs a directory's size counts its entries, so a sandbox that was
empty and has its empty size again needs no listing and no kernel events,
even after a test made and removed a temp dir in it (what most legacy tests
do).  These tests run the sandbox on ``/dev/shm`` and are skipped where
there is no tmpfs to run it on.
"""

from __future__ import annotations

import collections
import io
import os
import shutil
import tempfile
import unittest
from pathlib import Path
from typing import Any, Callable, Counter
from unittest import mock

import tempcase
import tempcase._leaks as leaks_module
from tempcase._config import Settings
from tempcase._inotify import Watcher
from tempcase._layout import sandbox_path
from tempcase._leaks import Place
from tempcase._real import OS
from tests.support import fresh_session, make_scratch, memory_scratch

ListCalls = Counter[str]


def _on_tmpfs(path: Path) -> bool:
    return leaks_module._mount_type(str(path)) == "tmpfs"


class _ListingCounter:
    """Counts the directory listings tempcase makes, by path."""

    def __init__(self) -> None:
        self.listings: ListCalls = collections.Counter()

    def patch(self, test: unittest.TestCase) -> None:
        real = OS.scandir

        def counted(path: Any, *args: Any) -> Any:
            self.listings[os.fsdecode(path) if isinstance(path, (str, bytes)) else "<fd>"] += 1
            return real(path, *args)

        patcher = mock.patch.object(OS, "scandir", counted)
        patcher.start()
        test.addCleanup(patcher.stop)


def _run(case: type[unittest.TestCase]) -> tempcase.TempCaseResult:
    runner = tempcase.TempCaseRunner(
        stream=io.StringIO(), settings=Settings(system_tmp=False), verbosity=0
    )
    result = runner.run(unittest.TestLoader().loadTestsFromTestCase(case))
    assert isinstance(result, tempcase.TempCaseResult)
    return result


class TmpfsSandboxTest(unittest.TestCase):
    def setUp(self) -> None:
        scratch = memory_scratch(self)
        if not _on_tmpfs(scratch):
            self.skipTest("no tmpfs to put the sandbox on")
        self.session = fresh_session(self, base=scratch / "base")
        # A quiet temp root on the same tmpfs (compared by inotify, untouched).
        quiet = scratch / "quiet-tmp"
        quiet.mkdir()
        patcher = mock.patch.object(leaks_module, "system_tempdir", lambda: str(quiet))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.counter = _ListingCounter()
        self.counter.patch(self)

    def sandbox(self) -> str:
        return sandbox_path(self.session.run_dir.path)

    def test_make_and_remove_a_temp_dir_needs_no_listing(self) -> None:
        made: list[str] = []
        seen: list[int] = []  # the sandbox's listings so far, at the start of each test

        def body(case: unittest.TestCase) -> None:
            seen.append(self.counter.listings[self.sandbox()])
            with tempfile.TemporaryDirectory() as directory:
                made.append(directory)
                Path(directory, "a.txt").write_text("x", "utf-8")

        case = type("MakeDir", (unittest.TestCase,), {f"test_{i:02d}": body for i in range(30)})
        # Nor did the kernel report the temp dirs' names (inotify events).
        reported: list[dict[int, dict[str, bool]] | None] = []
        real_poll = Watcher.poll

        def poll(watcher: Watcher) -> dict[int, dict[str, bool]] | None:
            events = real_poll(watcher)
            reported.append(events)
            return events

        with mock.patch.object(Watcher, "poll", poll):
            result = _run(case)
        # (No poll at all when nothing is pending: the check stops at the ioctl.)
        self.assertEqual([events for events in reported if events], [])
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(result.testsRun, 30)
        # The temp dirs were made in the sandbox, which no test boundary listed.
        self.assertEqual({os.path.dirname(path) for path in made}, {self.sandbox()})
        self.assertEqual(len(set(seen)), 1, seen)
        self.assertEqual(result.leaks, [])

    def test_tmpdir_put_back_as_an_equal_copy_keeps_the_quick_check(self) -> None:
        # mock.patch.dict puts TMPDIR back as a new, equal string: not a
        # change (nothing reported), and the tests after it take the quick
        # check again (the full one asks the kernel for its events: a poll).
        def patch_env(case: unittest.TestCase) -> None:
            with mock.patch.dict(os.environ, {"TMPDIR": "elsewhere"}):
                pass

        def nothing(case: unittest.TestCase) -> None:
            pass

        tests: dict[str, Any] = {"test_00": patch_env}
        tests.update({f"test_{i:02d}": nothing for i in range(1, 21)})
        case = type("PatchEnv", (unittest.TestCase,), tests)
        polls: list[str] = []
        real_poll = Watcher.poll

        def poll(watcher: Watcher) -> dict[int, dict[str, bool]] | None:
            polls.append(os.environ["TMPDIR"])
            return real_poll(watcher)

        with mock.patch.object(Watcher, "poll", poll):
            result = _run(case)
        self.assertTrue(result.wasSuccessful())
        self.assertEqual((result.leaks, result.redirect_resets), ([], []))
        self.assertEqual(polls, [self.sandbox()])  # after test_00, and never again

    def test_leak_then_swap_is_attributed_to_each_test(self) -> None:
        # test_1 leaks a file; test_2 removes it and leaks another in its place
        # (same count of entries, so the same size): the sandbox is no longer
        # empty, so the size cannot vouch for it and it is looked at.
        names: dict[str, str] = {}

        def leak_one(case: unittest.TestCase) -> None:
            fd, names["first"] = tempfile.mkstemp(prefix="first-")
            os.close(fd)

        def swap(case: unittest.TestCase) -> None:
            os.unlink(names["first"])
            fd, names["second"] = tempfile.mkstemp(prefix="second-")
            os.close(fd)

        def make_and_remove(case: unittest.TestCase) -> None:
            with tempfile.TemporaryDirectory():
                pass

        case = type(
            "Swap",
            (unittest.TestCase,),
            {
                "test_0": make_and_remove,
                "test_1": leak_one,
                "test_2": swap,
                "test_3": make_and_remove,
            },
        )
        result = _run(case)
        prefix = f"{case.__module__}.{case.__qualname__}."
        self.assertEqual(
            sorted(
                (leak.context, leak.path.name.split("-")[0], leak.where) for leak in result.leaks
            ),
            [(prefix + "test_1", "first", "sandbox"), (prefix + "test_2", "second", "sandbox")],
        )

    def test_fast_path_is_only_for_tempcase_own_directory(self) -> None:
        own_dir, shared_dir = memory_scratch(self), memory_scratch(self)
        own = Place(str(own_dir), "sandbox", (), own=True)
        self.addCleanup(own.close)
        self.assertEqual(own.empty_size, os.stat(own_dir).st_size)
        # A shared place (others write there too) gets no fast path.
        shared = Place(str(shared_dir), "temp-root", ())
        self.addCleanup(shared.close)
        self.assertIsNone(shared.empty_size)


class RemovedSandboxTest(unittest.TestCase):
    """A test that removes the sandbox (``shutil.rmtree(tempfile.gettempdir())``):
    it is made again, said in the report, and the tests after it still work."""

    def run_in(self, scratch: Path) -> None:
        self.session = fresh_session(self, base=scratch / "base")
        quiet = scratch / "quiet-tmp"
        quiet.mkdir()
        with mock.patch.object(leaks_module, "system_tempdir", lambda: str(quiet)):

            def remove_sandbox(case: unittest.TestCase) -> None:
                shutil.rmtree(tempfile.gettempdir())

            def make_and_remove(case: unittest.TestCase) -> None:
                with tempfile.TemporaryDirectory():
                    pass

            def leak(case: unittest.TestCase) -> None:
                fd, _ = tempfile.mkstemp(prefix="after-")
                os.close(fd)

            case = type(
                "Removes",
                (unittest.TestCase,),
                {"test_0": remove_sandbox, "test_1": make_and_remove, "test_2": leak},
            )
            result = _run(case)
        prefix = f"{case.__module__}.{case.__qualname__}."
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertEqual(
            [(r.context, r.what) for r in result.redirect_resets],
            [(prefix + "test_0", "the sandbox was removed; made again")],
        )
        self.assertEqual(
            [(leak.context, leak.path.name.split("-")[0]) for leak in result.leaks],
            [(prefix + "test_2", "after")],
        )
        # The remade sandbox, and the leak in it, went with the end of the run.
        self.assertFalse(os.path.lexists(sandbox_path(self.session.run_dir.path)))

    def test_removed_sandbox_is_made_again(self) -> None:
        for where in ("disk", "memory"):
            with self.subTest(where=where):
                self.run_in(make_scratch(self) if where == "disk" else memory_scratch(self))


class EmptySizeTest(unittest.TestCase):
    """The probe: a size that does not follow the entries is not trusted."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = memory_scratch(self)

    def test_size_that_stays_the_same_is_not_trusted(self) -> None:
        real_stat: Callable[..., os.stat_result] = OS.stat

        def fixed_size(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            st = real_stat(path, *args, **kwargs)
            fields = list(st)
            fields[6] = 4096  # st_size, as ext4 reports for a small directory
            return os.stat_result(fields)

        with mock.patch.object(OS, "stat", fixed_size):
            self.assertIsNone(leaks_module._empty_size(str(self.scratch)))
        self.assertEqual(os.listdir(self.scratch), [])

    def test_directory_that_is_not_empty_is_not_probed(self) -> None:
        (self.scratch / "there").touch()
        self.assertIsNone(leaks_module._empty_size(str(self.scratch)))
        self.assertEqual(os.listdir(self.scratch), ["there"])

    def test_size_that_follows_the_entries_is_trusted(self) -> None:
        if not _on_tmpfs(self.scratch):
            self.skipTest("no tmpfs")
        self.assertEqual(leaks_module._empty_size(str(self.scratch)), os.stat(self.scratch).st_size)
        self.assertEqual(os.listdir(self.scratch), [])


if __name__ == "__main__":
    unittest.main()
