"""Per-test temporary files for unittest and pytest, removed whatever the outcome."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tempcase._case import TempFileTestCase, TestCase
from tempcase._directory import TempDirectory, create_temp_directory, create_temp_file
from tempcase._paths import PathArg
from tempcase._report import CleanupError, CleanupResult, Kept, Leak, Stats, TempcaseWarning
from tempcase._session import (
    cleanup_all,
    cleanup_context,
    current_context,
    get_stats,
    register,
    scope,
)

__all__ = [
    "CleanupError",
    "CleanupResult",
    "IsolatedAsyncioTestCase",
    "Kept",
    "Leak",
    "Settings",
    "Stats",
    "TempCaseResult",
    "TempCaseRunner",
    "TempDirectory",
    "TempFileTestCase",
    "TempcaseWarning",
    "TestCase",
    "__version__",
    "cleanup_all",
    "cleanup_context",
    "create_temp_directory",
    "create_temp_file",
    "current_context",
    "get_stats",
    "main",
    "register_directory",
    "register_file",
    "scope",
]

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from tempcase._async_case import IsolatedAsyncioTestCase
    from tempcase._cli import main
    from tempcase._config import Settings
    from tempcase._runner import TempCaseResult, TempCaseRunner

# Imported on first use: asyncio, the runner and its detection cost more to
# import than a test that only uses the mixin should pay.
_LAZY = {
    "IsolatedAsyncioTestCase": "tempcase._async_case",
    "Settings": "tempcase._config",
    "TempCaseResult": "tempcase._runner",
    "TempCaseRunner": "tempcase._runner",
    "main": "tempcase._cli",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tempcase' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def register_file(path: PathArg, *, adopt_existing: bool = False) -> Path:
    """Remove *path*, a file made by other means, when the current context ends.

    It may not exist yet.  It is made absolute now, with the current working
    directory.

    :param adopt_existing: allow a path that existed before the run started.
    :raises ValueError: for a ``..`` component, a directory, or a path that
        existed before the run (unless *adopt_existing*).

    .. versionadded:: 0.1
    """
    return register(path, kind="file", adopt_existing=adopt_existing, func="register_file")


def register_directory(path: PathArg, *, adopt_existing: bool = False) -> Path:
    """Remove the directory *path*, made by other means, when the current context ends.

    It may not exist yet.  ``/``, the home directory, the current working
    directory, the system temp dir and their parents, and any directory
    holding tempcase's own run directory are always refused.

    :param adopt_existing: allow a path that existed before the run started.
    :raises ValueError: for a protected directory, a ``..`` component, a
        file, or a path that existed before the run (unless *adopt_existing*).

    .. versionadded:: 0.1
    """
    return register(
        path, kind="directory", adopt_existing=adopt_existing, func="register_directory"
    )
