"""Command-line parsing shared by tempcase's commands: bad arguments in one line."""

from __future__ import annotations

import argparse
from typing import NoReturn

from typing_extensions import override

__all__ = ["Parser", "UsageError"]


class UsageError(Exception):
    """A bad command line: reported in one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting."""

    @override
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
