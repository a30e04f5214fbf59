"""What a pytest run found, per process, and how an xdist worker hands it on."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Tuple, TypeVar

from tempcase._report import (
    CleanupError,
    ContextOutcome,
    Kept,
    Leak,
    RedirectReset,
    RunReport,
    to_json,
)

__all__ = ["FORMAT", "Findings"]

# Version of the plain data a worker sends (``workeroutput["tempcase"]``).
FORMAT = 1

_T = TypeVar("_T")
# A record and the xdist worker it came from (None: this process).
Tagged = Tuple[Optional[str], _T]


def _encode(text: str | None) -> bytes | None:
    # execnet carries bytes as they are; a str with lone surrogates would not pass.
    return None if text is None else text.encode("utf-8", "surrogatepass")


def _decode(data: Any) -> str | None:
    return None if data is None else bytes(data).decode("utf-8", "surrogatepass")


def _path(data: Any) -> Path:
    return Path(os.fsdecode(bytes(data)))


class Findings:
    """The leaks, cleanup failures, kept directories and counts of a run.

    Each record is tagged with the xdist worker that found it (``None`` for
    this process), so the report can name the worker where a scope ran once
    per worker.
    """

    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker
        self.leaks: list[Tagged[Leak]] = []
        self.cleanup_failures: list[Tagged[CleanupError]] = []
        self.kept: list[Tagged[Kept]] = []
        self.resets: list[Tagged[RedirectReset]] = []
        self.tests_run = 0
        self.tracked_paths = 0
        self.removed_paths = 0
        self.tests_with_paths = 0
        self.silent_workers: list[str] = []

    def add_leaks(self, leaks: list[Leak]) -> None:
        self.leaks.extend((self.worker, leak) for leak in leaks)

    def add_outcome(self, outcome: ContextOutcome) -> None:
        """Count one context's cleanup (the directories it held are settled apart)."""
        self.add_leaks(outcome.leaks)
        self.cleanup_failures.extend((self.worker, error) for error in outcome.errors)
        self.tracked_paths += outcome.tracked
        self.removed_paths += outcome.removed
        if outcome.scope == "test" and outcome.tracked:
            self.tests_with_paths += 1

    def add_settled(
        self, held: ContextOutcome, kept: list[Kept], errors: list[CleanupError], leaks: list[Leak]
    ) -> None:
        """What keeping or removing a context's held directories gave."""
        if not errors and not kept:
            self.removed_paths += held.held_paths
        self.kept.extend((self.worker, k) for k in kept)
        self.cleanup_failures.extend((self.worker, e) for e in errors)
        self.add_leaks(leaks)

    def mark_removed(self) -> None:
        """Sandbox leaks that went with the run directory are removed: say so."""
        self.leaks = [
            (worker, replace(leak, removed=True))
            if leak.where == "sandbox" and not os.path.lexists(leak.path)
            else (worker, leak)
            for worker, leak in self.leaks
        ]

    @property
    def failing(self) -> bool:
        """Whether there are leaks or cleanup failures (what strict mode fails on)."""
        return bool(self.leaks or self.cleanup_failures)

    # -- from a worker to the controller ---------------------------------------------------

    def pack(self) -> dict[str, Any]:
        """Plain data (what execnet carries: dicts, lists, bytes, numbers)."""
        return {
            "format": FORMAT,
            "tests_run": self.tests_run,
            "tracked_paths": self.tracked_paths,
            "removed_paths": self.removed_paths,
            "tests_with_paths": self.tests_with_paths,
            "leaks": [
                [
                    _encode(leak.context),
                    leak.scope,
                    os.fsencode(leak.path),
                    leak.kind,
                    leak.where,
                    leak.size,
                    leak.removed,
                ]
                for _, leak in self.leaks
            ],
            "cleanup_failures": [
                [_encode(e.context), os.fsencode(e.path), _encode(e.error)]
                for _, e in self.cleanup_failures
            ],
            "kept": [[_encode(k.context), os.fsencode(k.path)] for _, k in self.kept],
            "resets": [[_encode(r.context), r.scope, _encode(r.what)] for _, r in self.resets],
        }

    def merge(self, worker: str, data: object) -> bool:
        """Take in what *worker* sent; False if it sent nothing usable."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            self.silent_workers.append(worker)
            return False
        self.tests_run += int(data["tests_run"])
        self.tracked_paths += int(data["tracked_paths"])
        self.removed_paths += int(data["removed_paths"])
        self.tests_with_paths += int(data["tests_with_paths"])
        for context, scope, path, kind, where, size, removed in data["leaks"]:
            leak = Leak(_decode(context), scope, _path(path), kind, where, size, removed)
            self.leaks.append((worker, leak))
        for context, path, error in data["cleanup_failures"]:
            failure = CleanupError(_decode(context), _path(path), str(_decode(error)))
            self.cleanup_failures.append((worker, failure))
        for context, path in data["kept"]:
            self.kept.append((worker, Kept(_decode(context), _path(path))))
        for context, scope, what in data["resets"]:
            self.resets.append((worker, RedirectReset(_decode(context), scope, str(_decode(what)))))
        return True

    # -- the report ------------------------------------------------------------------

    def report(self, *, strict: bool, for_text: bool = False) -> RunReport:
        """The run report; *for_text* names the worker of each class, module and
        session leak (those scopes run once per worker)."""
        leaks = [_shown(w, leak) if for_text else leak for w, leak in self.leaks]
        return RunReport(
            tests_run=self.tests_run,
            tracked_paths=self.tracked_paths,
            tracked_removed=self.removed_paths,
            tracked_failed=len(self.cleanup_failures),
            tests_with_paths=self.tests_with_paths,
            leaks=leaks,
            cleanup_failures=[e for _, e in self.cleanup_failures],
            kept=[k for _, k in self.kept],
            strict=strict,
            redirect_resets=[r for _, r in self.resets],
        )

    def to_json(self, *, strict: bool) -> dict[str, Any]:
        """The JSON report, version 1; a record from an xdist worker gains a ``worker`` key."""
        data = to_json(self.report(strict=strict))
        for key, records in (
            ("leaks", self.leaks),
            ("cleanup_failures", self.cleanup_failures),
            ("kept", self.kept),
            ("redirect_resets", self.resets),
        ):
            for entry, (worker, _) in zip(data.get(key, ()), records):
                if worker is not None:
                    entry["worker"] = worker
        return data


def _shown(worker: str | None, leak: Leak) -> Leak:
    if worker is None or leak.scope == "test":
        return leak
    name = f"(session, worker {worker})" if leak.context is None else f"{leak.context} ({worker})"
    return replace(leak, context=name)
