"""Load: 100,000 tracked paths in one scope, cleaned completely, memory given back."""

from __future__ import annotations

import os
import unittest

import tempcase
from tests.support import fresh_session, memory_scratch


class LoadTest(unittest.TestCase):
    def test_a_hundred_thousand_registered_files_are_all_removed(self) -> None:
        scratch = memory_scratch(self)
        session = fresh_session(self, scratch / "base")
        tree = scratch / "tree"
        with tempcase.scope("load"):
            for d in range(1_000):
                directory = tree / f"d{d:04d}"
                directory.mkdir(parents=True)
                tempcase.register_directory(directory)
                for f in range(100):
                    path = directory / f"f{f:03d}.txt"
                    path.touch()
                    tempcase.register_file(path)
            stats = tempcase.get_stats()
            self.assertEqual(stats.paths_by_context["load"], 101_000)
            result = tempcase.cleanup_context("load")
        self.assertTrue(result.ok, result.errors[:3])
        self.assertEqual(result.removed, 101_000)
        self.assertEqual(os.listdir(tree), [])
        self.assertEqual(session.registry.live(), [session.registry.session])
        self.assertEqual(tempcase.get_stats().tracked_paths, 0)

    def test_a_tracked_tree_of_a_hundred_thousand_files_goes_in_one_removal(self) -> None:
        scratch = memory_scratch(self)
        fresh_session(self, scratch / "base")
        seen: dict[str, object] = {}

        class T(tempcase.TestCase):
            def test_big(self) -> None:
                root = self.tempcase_dir.path
                for d in range(1_000):
                    directory = root / f"d{d:04d}"
                    directory.mkdir()
                    for f in range(100):
                        (directory / f"f{f:03d}").touch()
                seen["root"] = root

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(T).run(result)
        self.assertTrue(result.wasSuccessful(), result.errors)
        root = seen["root"]
        assert isinstance(root, os.PathLike)
        self.assertFalse(os.path.exists(root))


if __name__ == "__main__":
    unittest.main()
