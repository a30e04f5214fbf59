"""The mixin on ``unittest.IsolatedAsyncioTestCase`` (imported on first use: asyncio is heavy)."""

from __future__ import annotations

import unittest

from tempcase._case import TempFileTestCase

__all__ = ["IsolatedAsyncioTestCase"]


class IsolatedAsyncioTestCase(TempFileTestCase, unittest.IsolatedAsyncioTestCase):
    """``unittest.IsolatedAsyncioTestCase`` with :class:`TempFileTestCase` mixed in.

    .. versionadded:: 0.1
    """
