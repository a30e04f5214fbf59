"""What belongs to which context, and which context is current."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Iterator

from tempcase._removal import Identity

__all__ = ["SCOPES", "Context", "Registry", "Tracked", "cached_pid"]

SCOPES = ("test", "class", "module", "session", "custom")


@dataclass(frozen=True)
class Tracked:
    """A path registered from outside tempcase's own directories."""

    path: str
    identity: Identity | None


_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))

    def cached_pid() -> int:
        """This process's id (getpid is a system call; a child learns its own at fork)."""
        return _PID[0]

else:  # pragma: no cover - Windows: no fork
    cached_pid = os.getpid


class Context:
    """One activation of a scope: a test run, a class, a module, the session.

    The same name can be active twice (a test id run again by a nested run),
    so contexts are objects, not names.  ``generation`` moves on at every
    cleanup, so a :class:`TempDirectory` from before it refuses writes.
    """

    __slots__ = (
        "closed",
        "created",
        "dirs",
        "external",
        "generation",
        "name",
        "owner_pid",
        "scope",
    )

    def __init__(self, name: str | None, scope: str) -> None:
        self.name = name
        self.scope = scope
        self.owner_pid = cached_pid()
        self.dirs: dict[str, str] = {}
        self.external: dict[str, Tracked] = {}
        self.created = 0
        self.generation = 0
        self.closed = False

    @property
    def tracked(self) -> int:
        """How many paths this context holds now."""
        return self.created + len(self.external)

    def __repr__(self) -> str:
        return f"<Context {self.scope} {self.name!r} tracked={self.tracked}>"


class Registry:
    """The process-wide context stack and the paths each context tracks.

    A process-wide stack, not a ``ContextVar``: ``IsolatedAsyncioTestCase``
    copies the context when it is created, and paths registered from other
    threads during a test belong to that test.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.session = Context(None, "session")
        self._stack: list[Context] = []
        self._live: dict[int, Context] = {id(self.session): self.session}
        self._owners: dict[str, Context] = {}

    def reinit_after_fork(self) -> None:
        """Replace the lock in a forked child (another thread may have held it)."""
        self.lock = threading.RLock()

    def current(self) -> Context:
        """The innermost active context, the session when none is."""
        stack = self._stack
        return stack[-1] if stack else self.session

    def stack(self) -> list[Context]:
        """A copy of the active contexts, outermost first."""
        return list(self._stack)

    def new(self, name: str | None, scope: str) -> Context:
        """Make a context.  It is kept (see :meth:`live`) once it tracks something:
        most tests track nothing, and pay nothing for it."""
        return Context(name, scope)

    def is_kept(self, ctx: Context) -> bool:
        """Whether *ctx* is kept (it has tracked something since it was made)."""
        return id(ctx) in self._live

    def adopt(self, ctx: Context) -> None:
        """Keep *ctx* until it is dropped: it tracks something now.  Call with the lock held."""
        self._live[id(ctx)] = ctx

    def push(self, ctx: Context) -> None:
        """Make *ctx* the current context."""
        self._stack.append(ctx)  # atomic: no lock needed

    @contextlib.contextmanager
    def active(self, ctx: Context) -> Iterator[Context]:
        """Make *ctx* current for the block."""
        self.push(ctx)
        try:
            yield ctx
        finally:
            self.pop(ctx)

    def pop(self, ctx: Context) -> None:
        """End *ctx*'s activation, and any left open above it; others are untouched."""
        stack = self._stack
        if stack and stack[-1] is ctx:
            stack.pop()  # the usual case, atomic
            return
        with self.lock:
            for index in range(len(self._stack) - 1, -1, -1):
                if self._stack[index] is ctx:
                    del self._stack[index:]
                    return

    def drop(self, ctx: Context) -> None:
        """Forget a cleaned context, so memory stays flat over any number of tests."""
        with self.lock:
            ctx.closed = True
            if ctx is not self.session:
                self._live.pop(id(ctx), None)
            for path in ctx.external:
                if self._owners.get(path) is ctx:
                    del self._owners[path]
            ctx.external.clear()

    def live(self) -> list[Context]:
        """Every context not yet dropped, the session first."""
        with self.lock:
            return list(self._live.values())

    def track(self, ctx: Context, tracked: Tracked) -> bool:
        """Register *tracked* for *ctx*; False if some context already has it.

        The first registrant keeps a path: registering it again, from any
        context, changes nothing and removes it once.
        """
        with self.lock:
            if tracked.path in self._owners:
                return False
            self._owners[tracked.path] = ctx
            ctx.external[tracked.path] = tracked
            self._live[id(ctx)] = ctx
            return True

    def untrack_all(self, ctx: Context) -> None:
        """Forget every external path of *ctx* (its cleanup has run)."""
        with self.lock:
            owners = self._owners
            for path in ctx.external:
                if owners.get(path) is ctx:
                    del owners[path]
            ctx.external.clear()
