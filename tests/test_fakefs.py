"""Detection under a fake file system (pyfakefs), which swaps os in every module."""

from __future__ import annotations

import importlib.util
import json
import shutil
import textwrap
import unittest

from tests.support import make_scratch, run_python

CLASS_FAKE_SUITE = """
import os
import unittest

from pyfakefs import fake_filesystem_unittest


class ClassFake(fake_filesystem_unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.setUpClassPyfakefs()  # the fake file system stays on for the whole class

    def test_child_leaks_for_real(self):
        # A child process writes on the real disk, into the sandbox (TMPDIR).
        os.system('mktemp -d "$TMPDIR/childleak.XXXXXX" > /dev/null 2>&1')

    def test_fake_only(self):
        os.makedirs("/fake/dir")


class RealAfter(unittest.TestCase):
    def test_real(self):
        import tempfile
        tempfile.mkstemp(prefix="after-")
"""


@unittest.skipUnless(importlib.util.find_spec("pyfakefs"), "needs pyfakefs")
class FakeFileSystemTest(unittest.TestCase):
    def test_leak_under_a_class_wide_fake_file_system_is_the_tests(self) -> None:
        scratch = make_scratch(self)
        (scratch / "test_fake.py").write_text(textwrap.dedent(CLASS_FAKE_SUITE))
        plain = run_python(["-m", "unittest", "test_fake"], cwd=scratch)
        if plain.returncode != 0:  # pyfakefs 6.3 breaks pathlib on 3.12.1, for one
            self.skipTest(f"pyfakefs does not work on this Python:\n{plain.stderr[-400:]}")
        for leftover in (scratch / "tmpdir").iterdir():
            leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
        done = run_python(["-m", "tempcase", "test_fake", "--report", "r.json"], cwd=scratch)
        self.assertEqual(done.returncode, 0, done.stderr)
        leaks = json.loads((scratch / "r.json").read_text())["leaks"]
        ours = sorted(
            (
                leak["context"],
                leak["scope"],
                leak["kind"],
                leak["where"],
                leak["path"].split("/")[-1][:6],
            )
            for leak in leaks
            if leak["where"] == "sandbox"
        )
        self.assertEqual(
            ours,
            [
                (
                    "test_fake.ClassFake.test_child_leaks_for_real",
                    "test",
                    "directory",
                    "sandbox",
                    "childl",
                ),
                ("test_fake.RealAfter.test_real", "test", "file", "sandbox", "after-"),
            ],
        )
        self.assertEqual(list((scratch / "tmpdir").iterdir()), [])


if __name__ == "__main__":
    unittest.main()
