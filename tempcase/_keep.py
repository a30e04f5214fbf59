"""Kept directories of failing tests (``--keep``): where they go, and the sweep."""

from __future__ import annotations

import logging
import os
import stat
import time

from tempcase._removal import remove_path

__all__ = ["KEEP_MARKER", "RETAIN_RUNS", "KeptArea"]

_log = logging.getLogger("tempcase")

KEEP_MARKER = ".tempcase-kept"
RETAIN_RUNS = 3


def _marker_time(path: str) -> float | None:
    """The creation time in a kept run's marker, or None if it is not ours."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != getattr(os, "getuid", lambda: st.st_uid)():
            return None
        import json  # here, not at import: only --keep reads markers

        with open(os.path.join(path, KEEP_MARKER), encoding="utf-8") as stream:
            created = json.load(stream).get("created")
    except (OSError, ValueError, AttributeError):
        return None
    return float(created) if isinstance(created, (int, float)) else None


class KeptArea:
    """``<per-user root>/kept/<run id>/``: this run's kept directories.

    Outside the run directory, with a marker of its own, so that neither the
    end of the run nor an orphan sweep of dead runs removes them.  When it is
    first made, the kept directories of all but the newest
    ``RETAIN_RUNS - 1`` earlier runs are removed.
    """

    def __init__(self, user_root: str, run_id: str) -> None:
        self.base = os.path.join(user_root, "kept")
        self.path = os.path.join(self.base, run_id)
        self._made = False

    def _make(self) -> None:
        import json  # here, not at import: only --keep writes markers
        import socket

        os.makedirs(self.base, mode=0o700, exist_ok=True)
        os.mkdir(self.path, 0o700)
        marker = {
            "run_id": os.path.basename(self.path),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "created": time.time(),
        }
        with open(os.path.join(self.path, KEEP_MARKER), "w", encoding="utf-8") as stream:
            json.dump(marker, stream)
        self._made = True
        self.sweep()

    def sweep(self, retain: int = RETAIN_RUNS) -> list[str]:
        """Remove the kept directories of older runs, keeping the newest *retain*.

        Only directories carrying the kept marker, owned by this user and not
        links, are considered.  Returns what was removed.
        """
        try:
            names = os.listdir(self.base)
        except OSError:
            return []
        runs = []
        user_root = os.path.dirname(self.base)
        for name in names:
            path = os.path.join(self.base, name)
            created = _marker_time(path)
            # A run whose run directory still exists may be live (another
            # worker, a parallel job): its kept directories are not swept.
            live = path != self.path and os.path.lexists(os.path.join(user_root, name))
            if created is not None and not live:
                runs.append((created, path))
        runs.sort(reverse=True)
        removed = []
        for _, path in runs[retain:]:
            if path != self.path and not remove_path(path):
                removed.append(path)
        _log.debug("swept kept directories: %s", removed)
        return removed

    def keep(self, directory: str) -> str:
        """Move *directory* into the kept area; return where it is now."""
        if not self._made:
            self._make()
        target = os.path.join(self.path, os.path.basename(directory))
        os.rename(directory, target)
        return target
