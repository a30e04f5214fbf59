"""Helpers shared by tempcase's own tests."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
import unittest
from pathlib import Path
from typing import Callable, Iterator, Sequence

import tempcase._session as session_module
from tempcase._session import Session

__all__ = [
    "REPO_ROOT",
    "child_env",
    "fresh_session",
    "has_toml_reader",
    "let_nobody_through",
    "make_scratch",
    "memory_scratch",
    "run_as_nobody",
    "run_python",
    "run_tests",
    "tree",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _force_remove(path: str) -> None:
    """Remove a scratch tree the test made, whatever modes it left."""
    if not os.path.lexists(path):
        return
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    os.chmod(path, 0o700)
    shutil.rmtree(path)


def make_scratch(test: unittest.TestCase) -> Path:
    """A scratch directory owned by *test*, removed after it (not through tempcase)."""
    path = tempfile.mkdtemp(prefix="tempcase-test-")
    test.addCleanup(_force_remove, path)
    return Path(path)


def memory_scratch(test: unittest.TestCase) -> Path:
    """A scratch directory on a memory file system where there is one (Linux's
    ``/dev/shm``), for tests that create many files; else :func:`make_scratch`."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        path = tempfile.mkdtemp(prefix="tempcase-test-", dir=shm)
        test.addCleanup(_force_remove, path)
        return Path(path)
    return make_scratch(test)


def fresh_session(test: unittest.TestCase, base: Path | None = None) -> Session:
    """Install a new session for the duration of *test*, with its root in scratch.

    The session that was installed before comes back afterwards, so tests of
    the mixin do not disturb the session of the process running them.
    """
    if base is None:
        base = make_scratch(test) / "base"
    previous = session_module._session
    session = Session(basetemp=str(base))

    def restore() -> None:
        session.end()
        session_module._session = previous

    test.addCleanup(restore)
    session_module._session = session
    return session


def run_tests(*cases: type[unittest.TestCase]) -> unittest.TestResult:
    """Run throwaway TestCase classes against a fresh result, quietly."""
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    runner = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0)
    return runner.run(suite)


def tree(path: Path) -> list[str]:
    """Every entry below *path*, relative and sorted (empty if it is gone)."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def child_env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child run in *cwd*: tempcase importable, TMPDIR and
    tempcase's base inside *cwd*, /tmp not compared (other processes write there)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["TEMPCASE_BASETEMP"] = str(cwd / "base")
    tmp = cwd / "tmpdir"
    tmp.mkdir(exist_ok=True)
    for name in ("TMPDIR", "TEMP", "TMP"):
        env[name] = str(tmp)
    # Other processes write in the shared /tmp; only tests about it compare it.
    env["TEMPCASE_SYSTEM_TMP"] = "0"
    env.pop("PYTHONWARNINGS", None)
    env.update(extra or {})
    return env


def run_python(
    args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in a child with :func:`child_env`."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=str(cwd),
        env=child_env(cwd, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def has_toml_reader() -> bool:
    """Whether this Python can read pyproject.toml (tomllib, or tomli where installed)."""
    if sys.version_info >= (3, 11):
        return True
    try:
        import tomli  # noqa: F401
    except ImportError:
        return False
    return True


def nobody_ids() -> tuple[int, int]:
    """The uid and gid of the unprivileged ``nobody`` user."""
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def let_nobody_through(test: unittest.TestCase, path: Path) -> None:
    """Give others search (x, not read) permission on *path*'s parents while *test* runs.

    The temp dir a test run gets is often made by ``mktemp -d`` (0o700, root's):
    without this, the unprivileged child could not reach its scratch directory.
    The modes are restored after the test.
    """
    for parent in path.parents:
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
            test.addCleanup(os.chmod, parent, mode)


def run_as_nobody(test: unittest.TestCase, scratch: Path, body: Callable[[], None]) -> None:
    """Run *body* in a forked child as the unprivileged ``nobody`` user.

    As root, permission checks prove nothing, so the child drops its
    privileges first.  *scratch* is handed to ``nobody`` beforehand (and its
    TMPDIR points inside it).  A failure in the child fails *test*, with the
    child's traceback.  Skipped where fork or setuid is not available; run
    in-process when not root already.
    """
    if not hasattr(os, "fork"):
        test.skipTest("needs fork")
    if os.getuid() != 0:
        body()
        return
    try:
        uid, gid = nobody_ids()
    except KeyError:
        test.skipTest("no 'nobody' user on this machine")
    let_nobody_through(test, scratch)
    os.chown(scratch, uid, gid)
    for root, dirs, files in os.walk(scratch):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.environ["TMPDIR"] = str(scratch)
            tempfile.tempdir = None
            body()
            code = 0
        except BaseException:
            os.write(write_fd, traceback.format_exc().encode("utf-8", "replace"))
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as stream:
        report = stream.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 if hasattr(os, "waitstatus_to_exitcode") else status:
        test.fail(f"the unprivileged child failed:\n{report}")


def mode_of(path: Path) -> int:
    """The permission bits of *path*, not following a link."""
    return stat.S_IMODE(os.lstat(path).st_mode)


def iter_tree(path: Path) -> Iterator[Path]:
    """*path* and everything below it."""
    yield path
    yield from path.rglob("*")
