"""Files that the code under test creates by itself, handed over to tempcase.

``write_cache`` and ``unpack_bundle`` make their own temporary file and
directory and leave them to the caller. Registering them makes them the
test's: they are removed when the test ends, whatever its outcome.
"""

from __future__ import annotations

import os
import unittest

import tempcase
from configlib import load_config, load_config_dir, unpack_bundle, write_cache


class RegisterTest(tempcase.TestCase):
    def test_a_file_the_code_made(self) -> None:
        cache = self.register_temp_file(write_cache({"mode": "test"}))
        self.assertEqual(load_config(cache), {"mode": "test"})

    def test_a_directory_the_code_made(self) -> None:
        files = {"10-base.json": '{"mode": "production"}', "20-test.json": '{"mode": "test"}'}
        bundle = self.register_temp_directory(unpack_bundle(files))
        self.assertEqual(load_config_dir(bundle), {"mode": "test"})

    def test_a_path_registered_before_it_exists(self) -> None:
        bundle = self.register_temp_directory(unpack_bundle({}))
        output = self.register_temp_file(bundle / "merged.json")  # not written yet
        output.write_text('{"merged": true}', encoding="utf-8")
        self.assertEqual(load_config(output), {"merged": True})

    def test_what_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "current working directory"):
            self.register_temp_directory(os.getcwd())
        with self.assertRaisesRegex(ValueError, "'..' component"):
            self.register_temp_file("build/../cache.json")


if __name__ == "__main__":
    unittest.main()
