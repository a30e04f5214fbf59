"""pytest configuration of tempcase's own tests: pytester, for the plugin's tests."""

from __future__ import annotations

pytest_plugins = ["pytester"]
