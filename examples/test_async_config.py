"""asyncio tests: async setUp, tasks, threads and async cleanups are all the test's."""

from __future__ import annotations

import asyncio
import unittest
from pathlib import Path

import tempcase
from configlib import load_config, write_cache


class AsyncCacheTest(tempcase.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        # asyncSetUp runs in the test's context: this file is the test's.
        self.conf = self.create_file("conf/app.json", '{"mode": "async"}')
        self.addAsyncCleanup(self.close_connections)

    async def close_connections(self) -> None:
        # The test's own cleanups run before tempcase's: its files are still there.
        if not self.conf.exists():
            raise AssertionError("the test's files went before its own cleanups ran")

    async def test_a_task_registers_what_it_makes(self) -> None:
        async def refresh_cache() -> tuple[str | None, Path]:
            loop = asyncio.get_running_loop()
            config = await loop.run_in_executor(None, load_config, self.conf)
            cache = await loop.run_in_executor(None, write_cache, config)
            return tempcase.current_context(), tempcase.register_file(cache)

        context, cache = await asyncio.create_task(refresh_cache())
        self.assertEqual(context, self.id())
        self.assertEqual(load_config(cache), {"mode": "async"})

    async def test_a_temporary_directory_in_a_coroutine(self) -> None:
        with self.with_temp_directory({"app.json": '{"workers": 4}'}) as conf_d:
            config = await asyncio.get_running_loop().run_in_executor(
                None, load_config, conf_d / "app.json"
            )
        self.assertEqual(config, {"workers": 4})
        self.assertFalse(conf_d.path.exists())


if __name__ == "__main__":
    unittest.main()
