"""An example suite: the configuration loader tested with tempcase's mixin.

Run it from the repository root with ``python -m unittest discover -s examples``.
"""

from __future__ import annotations

import asyncio
import os
import unittest
from pathlib import Path
from typing import ClassVar

import tempcase
from configlib import ConfigError, load_config, load_config_dir


class LoadConfigTest(tempcase.TestCase):
    """One file at a time, each made in the test's own directory."""

    def test_reads_json(self) -> None:
        path = self.create_file("app.json", '{"mode": "test", "workers": 2}')
        self.assertEqual(load_config(path), {"mode": "test", "workers": 2})

    def test_reads_ini_sections_as_dicts(self) -> None:
        path = self.create_file("conf/app.ini", "[server]\nhost = localhost\nport = 8080\n")
        self.assertEqual(load_config(path), {"server": {"host": "localhost", "port": "8080"}})

    def test_reads_utf8(self) -> None:
        path = self.create_file("app.cfg", "[owner]\nname = Zoë Ångström\n")
        self.assertEqual(load_config(path)["owner"]["name"], "Zoë Ångström")

    def test_reads_a_file_written_as_bytes(self) -> None:
        path = self.create_file("raw.json", b'{"binary": true}')
        self.assertEqual(load_config(path), {"binary": True})

    def test_refuses_an_unknown_format(self) -> None:
        path = self.create_temp_file("mode: test\n", suffix=".yaml")
        with self.assertRaisesRegex(ConfigError, "unknown configuration format '.yaml'"):
            load_config(path)

    def test_refuses_malformed_json(self) -> None:
        path = self.create_temp_file('{"mode": ', suffix=".json")
        with self.assertRaisesRegex(ConfigError, "invalid JSON"):
            load_config(path)

    def test_refuses_a_json_list(self) -> None:
        path = self.create_temp_file("[1, 2]", suffix=".json")
        with self.assertRaisesRegex(ConfigError, "must be a JSON object"):
            load_config(path)

    def test_files_go_in_the_tests_own_directory(self) -> None:
        path = self.create_file("conf/app.json", "{}")
        self.create_temp_file("{}", suffix=".json")  # made elsewhere, not in tempcase_dir
        self.assertEqual(path, self.tempcase_dir / "conf/app.json")
        self.assertEqual(self.tempcase_dir.files(), ["conf/app.json"])


class LoadConfigDirTest(tempcase.TestCase):
    """A directory of files, built in one call."""

    def test_merges_files_in_name_order(self) -> None:
        files = {
            "10-base.json": '{"mode": "production", "debug": false}',
            "20-local.json": '{"mode": "test"}',
            "README.txt": "not a configuration file",
        }
        with self.with_temp_directory(files) as conf_d:
            self.assertEqual(load_config_dir(conf_d), {"mode": "test", "debug": False})
        self.assertFalse(conf_d.path.exists(), "removed when the block exits")

    def test_ignores_subdirectories(self) -> None:
        conf_d = self.create_subdirectory("conf.d")
        self.create_subdirectory("conf.d/disabled.json")
        self.create_file("conf.d/app.json", '{"enabled": true}')
        self.assertEqual(load_config_dir(conf_d), {"enabled": True})

    def test_reads_a_directory_made_by_the_helper(self) -> None:
        conf_d = self.create_temp_directory({"app.ini": "[db]\nname = test\n"})
        conf_d.create_numbered_files("extra", '{{"extra_{}": true}}', 2, suffix=".json")
        self.assertEqual(
            load_config_dir(conf_d),
            {"db": {"name": "test"}, "extra_1": True, "extra_2": True},
        )


class AsyncLoadConfigTest(tempcase.IsolatedAsyncioTestCase):
    """The mixin works with asyncio tests too."""

    async def test_loads_in_a_worker_thread(self) -> None:
        path = self.create_file("app.json", '{"mode": "async"}')
        loop = asyncio.get_running_loop()
        config = await loop.run_in_executor(None, load_config, path)
        self.assertEqual(config, {"mode": "async"})


class ExpectedFailureTest(tempcase.TestCase):
    """A test that fails on purpose: its files vanish all the same."""

    created: ClassVar[list[Path]] = []

    @unittest.expectedFailure
    def test_fails_on_purpose_after_creating_files(self) -> None:
        path = self.create_file("app.json", '{"mode": "test"}')
        scratch = self.create_temp_directory({"data/input.ini": "[input]\nrows = 3\n"})
        self.created.extend([path, scratch.path])
        self.assertEqual(load_config(path), {"mode": "production"})  # fails: it is "test"

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        # Runs after every test of the class has ended and been cleaned up.
        if not cls.created:
            raise AssertionError("the expected failure created no files")
        left = [path for path in cls.created if os.path.lexists(path)]
        if left:
            raise AssertionError(f"left behind by a failed test: {left}")


if __name__ == "__main__":
    unittest.main()
