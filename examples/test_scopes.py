"""Scopes: what a module, a class and a custom scope create, and when it goes.

In ``setUpModule`` and ``setUpClass`` there is no ``self``: use the
module-level functions, which create for the scope that is running.
"""

from __future__ import annotations

import unittest
from pathlib import Path
from typing import ClassVar

import tempcase
from configlib import load_config_dir

SHARED: tempcase.TempDirectory
CLASS_FILES: list[Path] = []


def setUpModule() -> None:
    global SHARED
    # The module's under python -m tempcase and pytest, the session's under
    # plain python -m unittest: removed after tearDownModule, or at exit.
    SHARED = tempcase.create_temp_directory({"00-defaults.json": '{"debug": false}'})


class MergeTest(tempcase.TestCase):
    base: ClassVar[tempcase.TempDirectory]

    @classmethod
    def setUpClass(cls) -> None:
        # The class's: shared by its tests, removed after tearDownClass.
        cls.base = tempcase.create_temp_directory({"10-base.json": '{"mode": "production"}'})
        CLASS_FILES.append(cls.base.path)

    def test_reads_the_class_directory(self) -> None:
        self.assertEqual(load_config_dir(self.base), {"mode": "production"})
        self.assertEqual(tempcase.current_context(), self.id())

    def test_adds_a_file_for_this_test_only(self) -> None:
        with self.with_temp_directory() as conf_d:
            for source in (SHARED, self.base):
                for name in source.files():
                    conf_d.create_file(name, source.read_file(name))
            conf_d.create_file("20-test.json", '{"mode": "test"}')
            self.assertEqual(load_config_dir(conf_d), {"debug": False, "mode": "test"})

    def test_a_custom_scope(self) -> None:
        with tempcase.scope("merge step"):
            self.assertEqual(tempcase.current_context(), "merge step")
            step = tempcase.create_temp_directory({"30-step.json": "{}"})
        self.assertFalse(step.path.exists(), "removed when the block exits")
        self.assertEqual(tempcase.current_context(), self.id())


def tearDownModule() -> None:
    # Runs after MergeTest's tearDownClass: the class's directory is gone.
    left = [path for path in CLASS_FILES if path.exists()]
    if left:
        raise AssertionError(f"left behind by setUpClass: {left}")


if __name__ == "__main__":
    unittest.main()
