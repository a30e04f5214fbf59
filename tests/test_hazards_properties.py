"""Property-based hazard tests (issue 7 point 4; hazards 1, 5, 7, 20-22, 24, 25).

Random trees registered with ``register_directory`` are always fully removed
and nothing outside changes; random helper names are created inside the
directory or refused with ``ValueError``/``TypeError``, never anything else.
"""

from __future__ import annotations

import itertools
import ntpath
import os
import stat
import unittest
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple, Union

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tempcase
import tempcase._session as session_module
from tempcase._paths import is_windows_reserved
from tempcase._session import Session
from tests.support import fresh_session, make_scratch, run_as_nobody

# No example database: the suite writes nothing outside its scratch space.
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass(frozen=True)
class File:
    content: bytes
    mode: int


@dataclass(frozen=True)
class Link:
    """A symlink: ``out-dir``, ``out-file``, ``out-missing``, ``in-top`` (a cycle), ``in-self``."""

    to: str


@dataclass(frozen=True)
class Dir:
    children: dict[str, Node]
    mode: int


Node = Union[File, Link, Dir]

NAMES = st.sampled_from(["a", "b", "c", "d.txt", "\u00e9t\u00e9", "x y"])
FILE_MODES = st.sampled_from([0o000, 0o200, 0o400, 0o600, 0o644, 0o755])
DIR_MODES = st.sampled_from([m << 6 for m in range(8)])  # 0o000 ... 0o700
LEAVES = st.one_of(
    st.builds(File, st.binary(max_size=16), FILE_MODES),
    st.builds(Link, st.sampled_from(["out-dir", "out-file", "out-missing", "in-top", "in-self"])),
)
TREES = st.recursive(
    LEAVES,
    lambda children: st.builds(Dir, st.dictionaries(NAMES, children, max_size=4), DIR_MODES),
    max_leaves=12,
)
TOPS = st.builds(Dir, st.dictionaries(NAMES, TREES, max_size=4), DIR_MODES)


def build(path: Path, node: Dir, top: Path, outside: Path) -> None:
    """Make *node* at *path*; modes are set after the children, deepest first."""
    path.mkdir()
    for name, child in node.children.items():
        where = path / name
        if isinstance(child, Dir):
            build(where, child, top, outside)
        elif isinstance(child, File):
            where.write_bytes(child.content)
            os.chmod(where, child.mode)
        else:
            target = {
                "out-dir": outside,
                "out-file": outside / "ro-file",
                "out-missing": outside / "missing",
                "in-top": top,
                "in-self": path,
            }[child.to]
            os.symlink(target, where)
    os.chmod(path, node.mode)


def make_outside(outside: Path) -> None:
    """An ``outside/`` tree of several modes that a cleanup must never change."""
    outside.mkdir()
    (outside / "ro-file").write_text("read only")
    os.chmod(outside / "ro-file", 0o400)
    (outside / "rw-file").write_text("read write")
    (outside / "sub").mkdir()
    (outside / "sub" / "inner").write_text("inner")
    os.chmod(outside / "sub", 0o500)
    os.chmod(outside, 0o755)


Snapshot = Dict[str, Tuple[int, int, bytes]]


def snapshot(path: Path) -> Snapshot:
    """Mode, mtime and content of everything below *path*, links not followed."""
    seen: Snapshot = {}
    for root, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            full = os.path.join(root, name)
            st_ = os.lstat(full)
            content = b""
            if stat.S_ISREG(st_.st_mode):
                with open(full, "rb") as stream:
                    content = stream.read()
            seen[os.path.relpath(full, path)] = (st_.st_mode, st_.st_mtime_ns, content)
    return seen


def check_tree_property(scratch: Path, outside: Path, top: Dir, serial: int) -> None:
    """Build *top*, register it, clean it: all gone, ``outside/`` unchanged."""
    before = snapshot(outside)
    tree = scratch / f"tree-{serial}"
    build(tree, top, tree, outside)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tempcase.TempcaseWarning)
        with tempcase.scope(f"tree-{serial}"):
            tempcase.register_directory(tree)
            result = tempcase.cleanup_context(f"tree-{serial}")
    assert result.errors == [], result.errors
    assert not os.path.lexists(tree), f"{tree} is left"
    after = snapshot(outside)
    assert after == before, (before, after)


class RandomTreeTest(unittest.TestCase):
    """Hazards 1, 5 and 7: links in and out, read-only files and directories."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.session = fresh_session(self, base=self.scratch / "base")
        self.outside = self.scratch / "outside"
        make_outside(self.outside)
        self.serial = itertools.count()

    @SETTINGS
    @given(top=TOPS)
    def test_random_tree_is_fully_removed_and_outside_unchanged(self, top: Dir) -> None:
        check_tree_property(self.scratch, self.outside, top, next(self.serial))

    def test_random_trees_as_an_unprivileged_user(self) -> None:
        # As root, permission checks prove nothing: the chmod fallbacks (and that
        # they never follow a link out) run for real only as another user.
        scratch, outside = self.scratch, self.outside
        serial = itertools.count()

        @settings(SETTINGS, max_examples=30)
        @given(top=TOPS)
        def prop(top: Dir) -> None:
            check_tree_property(scratch, outside, top, next(serial))

        def body() -> None:
            session_module._session = Session(basetemp=str(scratch / "nobody-base"))
            prop()

        run_as_nobody(self, scratch, body)


COMPONENTS = st.one_of(
    st.sampled_from(
        [
            "", ".", "..", "a", "b.txt", "CON", "nul.txt", "COM1", "LPT\u00b9", "x.", "x ",
            "a:b", "a\\b", "a\x00b", "~", "\udcff", "\ud800", "\u20ac" * 3, "con ", ".hidden",
        ]
    ),
    st.text(max_size=6),
    st.text(st.characters(), max_size=6),
)  # fmt: skip
NAMES_GIVEN = st.one_of(
    st.lists(COMPONENTS, min_size=1, max_size=4).map("/".join),
    st.lists(COMPONENTS, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.integers(),
    st.none(),
)


class RandomNameTest(unittest.TestCase):
    """Hazards 20, 21, 22, 24 and 25: any name is made inside or refused, nothing else."""

    def setUp(self) -> None:
        self.scratch = make_scratch(self)
        self.session = fresh_session(self, base=self.scratch / "base")
        self.outside = self.scratch / "outside"
        make_outside(self.outside)
        self.scope = tempcase.scope("names")
        self.scope.__enter__()
        self.addCleanup(self.scope.__exit__, None, None, None)
        self.directory = tempcase.create_temp_directory()
        os.symlink(self.outside, self.directory.path / "outlink")
        self.around = self.directory.path.parent

    def test_unencodable_name_writes_no_parent_directory(self) -> None:
        with self.assertRaisesRegex(ValueError, "cannot be encoded"):
            self.directory.create_file("newdir/\ud800", "x")
        self.assertFalse(os.path.lexists(self.directory.path / "newdir"))

    @SETTINGS
    @given(name=NAMES_GIVEN)
    def test_any_name_is_made_inside_or_refused(self, name: object) -> None:
        before_outside = snapshot(self.outside)
        before_around = sorted(os.listdir(self.around))
        before_inside = snapshot(self.directory.path)
        try:
            made = self.directory.create_file(name, "x")  # type: ignore[arg-type]
        except (ValueError, TypeError):
            made = None
            # Refused before anything is written (a lone surrogate once left its parents).
            self.assertEqual(snapshot(self.directory.path), before_inside)
        if made is not None:
            if isinstance(name, bytes):  # accepted as the file system would decode it
                name = os.fsdecode(name)
            assert isinstance(name, str)
            inside = str(self.directory.path) + os.sep
            self.assertTrue(str(made).startswith(inside), made)
            relative = str(made)[len(inside) :]
            self.assertEqual(relative.split(os.sep), name.split("/"))
            self.assertTrue(stat.S_ISREG(os.lstat(made).st_mode))
            for part in name.split("/"):
                self.assertFalse(is_windows_reserved(part), part)
                if hasattr(ntpath, "isreserved"):  # 3.13+
                    self.assertFalse(ntpath.isreserved("./" + part), part)
            os.unlink(made)
        self.assertEqual(snapshot(self.outside), before_outside)
        self.assertEqual(sorted(os.listdir(self.around)), before_around)
