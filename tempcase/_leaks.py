"""Find what tests leave behind without tempcase: a sandbox for tempfile, and diffs.

While tests run, ``tempfile.tempdir`` and ``TMPDIR``/``TEMP``/``TMP`` point to
the run's sandbox (next to the per-user root, named after the run), so
anything made through ``tempfile`` (by the tests, the code they call, or child
processes) lands there.  The top level of the sandbox, of the real temp dir
and of each watched directory is compared at each scope boundary; a new entry
is a leak of the scope that just ended.  Sandbox leaks go with the sandbox at
the end of the run; leaks in shared places are only reported.

Per boundary, a place whose directory mtime has not moved costs one ``stat``:
it is listed only when its mtime says it changed, or when the last listing was
too close to the last change to trust the mtime ("racy clean").  On Linux the
kernel says which names changed (inotify), for all places in one ``ioctl``.
The sandbox on a tmpfs is the exception: there a directory's size counts its
entries, so one ``fstat`` tells that a sandbox that was empty still is, even
after a test made and removed a temp dir in it, which is what most tests do;
inotify would queue and hand over two events for that.
"""

from __future__ import annotations

import fnmatch
import gc
import logging
import os
import tempfile
import time
from array import array
from pathlib import Path
from typing import Callable, Sequence

from tempcase._inotify import FIONREAD, Watcher, open_watcher
from tempcase._layout import USER_ROOT_PREFIX, sandbox_path, system_tempdir
from tempcase._real import OS
from tempcase._removal import remove_path
from tempcase._report import Leak, RedirectReset, describe_path

__all__ = ["Detector", "Place", "RedirectReset"]

_log = logging.getLogger("tempcase")
_ENV_NAMES = ("TMPDIR", "TEMP", "TMP")
# The store behind os.environ and TMPDIR's key in it, where CPython has them
# (a dict of encoded values): the check after each test looks the value up
# there and compares it with the very object tempcase put there, a dict
# lookup where os.environ.get() encodes the key and decodes the value.
_ENVIRON = os.environ
_ENV_DATA: dict[object, object] | None = getattr(_ENVIRON, "_data", None)
_TMPDIR_KEY: object = None
if isinstance(_ENV_DATA, dict) and callable(getattr(_ENVIRON, "encodekey", None)):
    _TMPDIR_KEY = _ENVIRON.encodekey("TMPDIR")
else:  # pragma: no cover - not CPython
    _ENV_DATA = None
# File systems whose directory mtimes cannot be trusted (attribute caching).
_UNTRUSTED_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "fuse.sshfs", "fuse.s3fs", "vboxsf"}
)
# File systems where a directory's size goes up and down with its entries, so
# that the size of an empty directory means empty (tmpfs: 20 bytes an entry).
_SIZE_COUNTS_ENTRIES = frozenset({"tmpfs"})
_PROBE_NAME = ".tempcase-size-probe"
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# How long after a change a directory's mtime cannot be trusted to move again:
# Linux stamps files from a clock that ticks every 1-10 ms (the jiffy); file
# systems with whole-second times (FAT, HFS+) need two seconds.
_FINE_WINDOW = 0.01
_COARSE_WINDOW = 2.0


def _mount_type(path: str) -> str | None:
    """The file system type of the mount holding *path* (Linux), else None."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as stream:
            lines = stream.readlines()
    except OSError:
        return None
    best, best_type = "", None
    real = os.path.realpath(path)
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = fields[fields.index("-") + 1]
        inside = real == mount_point or real.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type


class Place:
    """A directory whose top level is compared around scopes.

    :param path: the directory.
    :param where: ``sandbox``, ``temp-root`` or ``watched``.
    :param ignore: name patterns never reported.
    :param own: the directory is tempcase's own (the sandbox): each listing
        dates its mtime back, so that the next change moves it for sure and
        the listing is never racy.
    """

    __slots__ = (
        "empty_size",
        "entries",
        "fd",
        "ignore",
        "mtime_ns",
        "own",
        "path",
        "racy",
        "trust_mtime",
        "where",
    )

    def __init__(self, path: str, where: str, ignore: Sequence[str], *, own: bool = False) -> None:
        self.path = path
        self.where = where
        self.own = own
        self.ignore = tuple(ignore)
        fs_type = _mount_type(path)
        self.trust_mtime = fs_type not in _UNTRUSTED_FS
        # The size this directory has when empty, where that size means empty
        # (see _empty_size); None elsewhere.
        self.empty_size = _empty_size(path) if own and fs_type in _SIZE_COUNTS_ENTRIES else None
        self.entries: dict[str, int] = {}
        self.mtime_ns = -1
        self.racy = True
        # An open descriptor makes the per-test check an fstat, which skips
        # the path lookup (about half the cost of a stat).
        try:
            self.fd: int | None = OS.open(path, _DIR_FLAGS)
        except OSError:
            self.fd = None
        self.relist()

    def close(self) -> None:
        """Let go of the directory's descriptor."""
        if self.fd is not None:
            OS.close(self.fd)
            self.fd = None

    def stat(self) -> os.stat_result:
        """The directory's stat: through its descriptor while it still has a name."""
        fd = self.fd
        if fd is not None:
            st = OS.fstat(fd)
            if st.st_nlink:
                return st
            self.close()  # removed since it was opened: look the path up again
        return OS.stat(self.path)

    def changed(self) -> os.stat_result | None:
        """The directory's stat if it may have changed since it was last listed, else None.

        One ``stat`` when nothing changed.  The mtime cannot be trusted when the
        last listing came within a clock tick of the last change (a change in
        the same tick keeps the mtime): then the directory is listed again.
        """
        try:
            st = self.stat()
        except OSError:
            return _MISSING if self.entries else None
        if st.st_mtime_ns != self.mtime_ns or self.racy or not self.trust_mtime:
            return st
        return None

    def relist(self, st: os.stat_result | None = None) -> list[str]:
        """List the directory again; return the names new since the last listing.

        A name whose inode changed (replaced under the same name) counts as new.
        """
        listed_at = time.time()
        try:
            if self.own and self.trust_mtime:
                return self._relist_own()
            if st is None or st is _MISSING:
                st = self.stat()
            with OS.scandir(self.path) as it:
                current = {entry.name: entry.inode() for entry in it}
        except OSError:
            current = {}
        else:
            mtime_ns = self.mtime_ns = st.st_mtime_ns
            # Whole-second file systems (FAT, HFS+) need a wider window.
            window = _COARSE_WINDOW if mtime_ns % 1_000_000_000 == 0 else _FINE_WINDOW
            self.racy = listed_at - mtime_ns / 1e9 < window
        return self._new_names(current)

    def _relist_own(self) -> list[str]:
        """List tempcase's own directory, dating its mtime back first.

        After ``utime``, any change sets the mtime to now: if the ``stat``
        after the listing still shows the old date, nothing changed while
        listing, and the next change will show; otherwise list again next time.
        Without this, every boundary within a clock tick of a change (many fast
        tests after one that leaked) would list the sandbox again.
        """
        back = (time.time_ns() // 10**9 - 3600) * 10**9
        OS.utime(self.path, ns=(back, back))
        with OS.scandir(self.path) as it:
            current = {entry.name: entry.inode() for entry in it}
        st = self.stat()
        self.mtime_ns = st.st_mtime_ns
        self.racy = st.st_mtime_ns != back
        return self._new_names(current)

    def _new_names(self, current: dict[str, int]) -> list[str]:
        previous = self.entries
        self.entries = current
        if not current:
            return []
        return [
            name
            for name, inode in current.items()
            if previous.get(name) != inode and not self._ignored(name)
        ]

    def touched(self, names: dict[str, bool]) -> list[str]:
        """Look at the names the kernel reported changed; return those new since last seen.

        *names* maps each name to whether its last event made it appear; one
        that was removed last is simply gone, without a look.
        """
        new = []
        entries = self.entries
        for name, appeared in names.items():
            if not appeared:
                entries.pop(name, None)
                continue
            try:
                inode = OS.lstat(os.path.join(self.path, name)).st_ino
            except OSError:
                entries.pop(name, None)
                continue
            if entries.get(name) != inode:
                entries[name] = inode
                if not self._ignored(name):
                    new.append(name)
        return new

    def _ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.ignore)

    def still_there(self, name: str, inode: int | None = None) -> bool:
        """Whether *name* is still present and still the entry seen when it was
        found (*inode*; by default, the one of the last listing)."""
        if inode is None:
            inode = self.entries.get(name)
        try:
            return OS.lstat(os.path.join(self.path, name)).st_ino == inode
        except OSError:
            return False


def _empty_size(path: str) -> int | None:
    """The size of the empty directory *path* if its size follows its entries, else None.

    Checked, not assumed: the size must grow when an entry is made and come
    back when it is removed.  *path* is tempcase's own, new and empty.
    """
    probe = os.path.join(path, _PROBE_NAME)
    try:
        with OS.scandir(path) as entries:
            if next(entries, None) is not None:
                return None
        empty = OS.stat(path).st_size
        OS.mkdir(probe, 0o700)
        try:
            grown = OS.stat(path).st_size
        finally:
            OS.rmdir(probe)
        back = OS.stat(path).st_size
    except OSError:
        return None
    return empty if grown != empty and back == empty else None


def _as_path(path: str) -> Path:
    """A ``Path`` for a record, also while pyfakefs is active.

    pyfakefs swaps ``pathlib``: on 3.12+ a ``Path`` made through the swapped
    name breaks once the fake file system is gone, while on 3.11 and older the
    real class itself cannot be used while it is active.  Take the real class
    where it works, else the name as it stands.
    """
    try:
        return OS.path(path)
    except Exception:
        return Path(path)


# changed() of a directory that has disappeared: list it (as empty) again.
_MISSING = os.stat_result((0,) * 10)


class Detector:
    """The sandbox and the diffs of one top-level run.

    :param run_dir: the run directory; the sandbox is made next to the
        per-user root (:func:`~tempcase._layout.sandbox_path`), or inside the
        run directory if that name is taken.
    :param ignore: name patterns never reported.
    :param watch: more directories to compare (``where: watched``).
    :param remove_root_leaks: also remove leaks in the temp dir and watched
        directories that the current user owns and that were made during the
        scope.
    :param watch_system_tmp: also compare ``/tmp`` when the temp dir is
        elsewhere (hard-coded ``/tmp`` paths are the commonest legacy leak).
    :param use_inotify: on Linux, let the kernel say what changed (one
        ``ioctl`` per boundary for all places) instead of comparing mtimes.
    """

    def __init__(
        self,
        run_dir: str,
        *,
        ignore: Sequence[str] = (),
        watch: Sequence[str] = (),
        remove_root_leaks: bool = False,
        use_inotify: bool = True,
        watch_system_tmp: bool = True,
    ) -> None:
        self.watch_system_tmp = watch_system_tmp
        self.sandbox = sandbox_path(run_dir)
        self._inner_sandbox = os.path.join(run_dir, "tmp")
        self.ignore = tuple(ignore)
        self.watch = tuple(os.path.abspath(w) for w in watch)
        self.remove_root_leaks = remove_root_leaks
        self.resets: list[RedirectReset] = []
        self.places: list[Place] = []
        # What a class, module or the session made: (place, name, inode) until it ends.
        self._pending: dict[tuple[str, str | None], list[tuple[Place, str, int]]] = {}
        self._saved_tempdir: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._scope_started = time.time()
        self.installed = False
        self.use_inotify = use_inotify
        self._watcher: Watcher | None = None
        self._watched: dict[int, Place] = {}
        self._unwatched: list[Place] = []
        # The quick check after a test (see _quiet_check), or None.
        self.quiet: Callable[[], bool] | None = None
        self._env_seen: object = None

    # -- the sandbox ---------------------------------------------------------------

    def install(self) -> None:
        """Point ``tempfile`` and the temp dir variables at the sandbox; start comparing."""
        if self.installed:
            return
        self._make_sandbox(first=True)
        self._saved_tempdir = tempfile.tempdir
        self._saved_env = {name: os.environ.get(name) for name in _ENV_NAMES}
        self._redirect()
        root = system_tempdir()
        # tempcase's own: the per-user roots and the sandboxes of every run
        # (other runs, of other users too, start and end meanwhile).
        ignore = (*self.ignore, f"{USER_ROOT_PREFIX}*", "pytest-of-*")
        self.places = [
            Place(self.sandbox, "sandbox", self.ignore, own=True),
            Place(root, "temp-root", ignore),
        ]
        if (
            self.watch_system_tmp
            and os.name == "posix"
            and os.path.isdir("/tmp")
            and os.path.realpath(root) != "/tmp"
        ):
            # Hard-coded /tmp paths are the commonest legacy leak.
            self.places.append(Place("/tmp", "temp-root", ignore))
        for directory in self.watch:
            self.places.append(Place(directory, "watched", ignore))
        self._watch_places()
        self.installed = True
        _log.debug("detection: sandbox %s, places %s", self.sandbox, [p.path for p in self.places])

    def _make_sandbox(self, *, first: bool = False) -> None:
        if first:
            try:
                OS.mkdir(self.sandbox, 0o700)
            except OSError as exc:
                # The name is taken (what a run whose directory is gone left,
                # or anything put there): the run directory is ours alone.
                _log.debug("sandbox %s: %s; made in the run directory", self.sandbox, exc)
                self.sandbox = self._inner_sandbox
                OS.mkdir(self.sandbox, 0o700)
        else:
            OS.makedirs(self.sandbox, mode=0o700, exist_ok=True)
        OS.chmod(self.sandbox, 0o700)
        # Date the new sandbox back, so that its mtime is trusted at once
        # (no racy listings while the first tests run); any change moves it.
        an_hour_ago = time.time_ns() - 3600 * 10**9
        OS.utime(self.sandbox, ns=(an_hour_ago, an_hour_ago))

    def _sandbox_removed(self, look_again: bool) -> bool:
        """Whether a scope removed the sandbox and nothing stands in its place
        (anything else, a link put there included, is left alone).

        Its descriptor says so first (no link left): inotify tells nothing
        while tempcase holds the directory open.
        """
        fd = self.places[0].fd
        if fd is not None and not look_again:
            try:
                if OS.fstat(fd).st_nlink:
                    return False
            except OSError:
                pass
        try:
            OS.lstat(self.sandbox)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return False

    def _remake_sandbox(self, context: str | None, scope: str) -> None:
        """Make the sandbox again after a scope removed it (``shutil.rmtree(
        tempfile.gettempdir())``): every later ``tempfile`` call would fail."""
        old = self.places[0]
        old.close()
        self._make_sandbox()
        self.places[0] = Place(self.sandbox, "sandbox", self.ignore, own=True)
        if self._watcher is not None:
            self._watcher.close()
        self._watch_places()
        self.resets.append(RedirectReset(context, scope, "the sandbox was removed; made again"))

    def _watch_places(self) -> None:
        """Hand the places the kernel can watch to inotify; the others use mtimes."""
        watcher = open_watcher() if self.use_inotify else None
        self._watcher, self._watched, self._unwatched = watcher, {}, []
        for place in self.places:
            if watcher is not None and place.trust_mtime and place.empty_size is None:
                try:
                    self._watched[watcher.add(place.path)] = place
                    place.relist()  # what was there before the watch began
                    continue
                except OSError as exc:
                    _log.debug("inotify: %s", exc)
            self._unwatched.append(place)
        self.quiet = self._quiet_check()

    def _quiet_check(self) -> Callable[[], bool] | None:
        """The check after a test, for the common set-up: every place watched
        by inotify but the sandbox, which is told empty by its size.  None for
        any other set-up (the full :meth:`boundary` runs every time).

        True means that nothing needs a closer look: ``tempfile.tempdir`` and
        ``TMPDIR`` still point to the sandbox (the very objects tempcase set),
        no inotify event is pending and the sandbox is empty as it was.  It
        costs two system calls (an ``ioctl`` and an ``fstat``) and no more: it
        runs after every test.
        """
        watcher = self._watcher
        sandbox = self.places[0] if self.places else None
        if (
            watcher is None
            or watcher.fd is None
            or OS.ioctl is None
            or sandbox is None
            or self._unwatched != [sandbox]
            or sandbox.empty_size is None
            or sandbox.fd is None
            or self.remove_root_leaks  # it dates every boundary
        ):
            return None
        ioctl, fstat, inotify_fd, pending = OS.ioctl, OS.fstat, watcher.fd, array("i", [0])
        env_data, env_key, environ = _ENV_DATA, _TMPDIR_KEY, _ENVIRON
        if env_data is None:
            return None
        empty_size, path, detector = sandbox.empty_size, self.sandbox, self
        tempfile_module, os_module = tempfile, os

        def quiet() -> bool:
            # The redirect: tempfile's cached directory, which most code
            # uses, and TMPDIR, which child processes use first (TEMP and TMP
            # only without it); an equal copy of either is put back by the
            # full check.  Then no inotify event pending, and the sandbox
            # empty as it was (its size, and a link count that says it still
            # has its name).  Its descriptor is read each time: the place
            # lets go of it when the sandbox is removed.
            if (
                tempfile_module.tempdir is not path
                or os_module.environ is not environ
                or env_data.get(env_key) is not detector._env_seen
            ):
                return False
            ioctl(inotify_fd, FIONREAD, pending, True)
            fd = sandbox.fd
            if pending[0] or sandbox.entries or fd is None:
                return False
            st = fstat(fd)
            return st.st_size == empty_size and st.st_nlink > 0

        return quiet

    def _redirect(self) -> None:
        tempfile.tempdir = self.sandbox
        for name in _ENV_NAMES:
            os.environ[name] = self.sandbox
        self._note_env()

    def _note_env(self) -> None:
        """Note the object that stands for TMPDIR in os.environ's store, for
        the check after each test (see _quiet_check)."""
        if _ENV_DATA is not None and os.environ is _ENVIRON:
            self._env_seen = _ENV_DATA.get(_TMPDIR_KEY)

    def _env_is_sandbox(self) -> bool:
        """Whether TMPDIR still points to the sandbox.  An equal copy (which
        ``mock.patch.dict`` puts back, for one) is noted as the one to expect."""
        if os.environ.get("TMPDIR") != self.sandbox:
            return False
        self._note_env()
        return True

    def uninstall(self) -> None:
        """Restore ``tempfile.tempdir`` and the environment as they were."""
        if not self.installed:
            return
        self.installed = False
        self.quiet = None
        for place in self.places:
            place.close()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        tempfile.tempdir = self._saved_tempdir
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _check_redirect(self, context: str | None, scope: str) -> None:
        what = []
        # tempfile.tempdir reset to None (pyfakefs does, for one) still finds
        # the sandbox through TMPDIR: put it back without a word.
        unset = tempfile.tempdir is None and os.environ.get("TMPDIR") == self.sandbox
        if tempfile.tempdir != self.sandbox and not unset:
            what.append(f"tempfile.tempdir was {tempfile.tempdir!r}")
        for name in _ENV_NAMES:
            if os.environ.get(name) != self.sandbox:
                what.append(f"{name} was {os.environ.get(name)!r}")
        if what:
            self.resets.append(RedirectReset(context, scope, "; ".join(what)))
        if what or unset or tempfile.tempdir is not self.sandbox:  # (an equal copy)
            self._redirect()
        else:
            self._note_env()

    # -- boundaries ------------------------------------------------------------

    def boundary(
        self, context: str | None, scope: str, *, quiet_checked: bool = False
    ) -> list[Leak]:
        """Attribute what appeared since the last boundary to (*context*, *scope*).

        For a test, the leaks are returned at once (after a ``gc.collect()``
        when something is suspected in the sandbox, so finalizers get their
        chance).  For a class, module or the session they wait for
        :meth:`end_scope`: a directory that ``setUpClass`` makes and
        ``tearDownClass`` removes is nobody's leak.  When nothing changed, this
        costs one ``stat`` per place: it runs after every test.

        *quiet_checked* says that the caller has just run :attr:`quiet`, which
        said no (a runner calls it first, saving the calls in between).
        """
        if not self.installed:
            return []
        quiet = self.quiet
        if scope == "test":
            # After every test: first the quick check, which also says that
            # tempfile's cached directory and TMPDIR are the sandbox still.
            if quiet is not None and not quiet_checked and quiet():
                return []
            if tempfile.tempdir is not self.sandbox or not self._env_is_sandbox():
                self._check_redirect(context, scope)
        else:
            # All of the redirect is checked at fixture boundaries.
            self._check_redirect(context, scope)
            if quiet is not None and quiet():
                self._scope_started = time.time()
                return []
        found: list[tuple[Place, str, int]] = []
        look_again = False  # whether the sandbox itself may be gone
        if self._watcher is not None:
            events = self._watcher.poll()
            if events is None:  # the queue overflowed: look at everything
                look_again = True
                for place in self._watched.values():
                    found.extend((place, name, place.entries[name]) for name in place.relist())
            else:
                for wd, names in events.items():
                    place = self._watched[wd]
                    found.extend(
                        (place, name, place.entries[name]) for name in place.touched(names)
                    )
        for place in self._unwatched:
            # Place.changed(), inlined: this loop runs after every test.
            st: os.stat_result | None
            try:
                current = place.stat()
            except OSError:
                st = _MISSING if place.entries else None
            else:
                if current.st_size == place.empty_size and not place.entries:
                    continue  # empty at the last look and still empty: nothing new
                unchanged = current.st_mtime_ns == place.mtime_ns
                st = None if unchanged and not place.racy and place.trust_mtime else current
            if st is not None:
                for name in place.relist(st):
                    found.append((place, name, place.entries[name]))
        if self._sandbox_removed(look_again):
            self._remake_sandbox(context, scope)
        if not found:
            self._scope_started = time.time()
            return []
        if scope != "test":
            self._pending.setdefault((scope, context), []).extend(found)
            self._scope_started = time.time()
            return []
        return self._confirm(found, context, scope)

    def end_scope(self, context: str | None, scope: str) -> list[Leak]:
        """The leaks of a class, module or session scope that has ended."""
        if not self.installed:
            return []
        found = self._pending.pop((scope, context), [])
        return self._confirm(found, context, scope) if found else []

    def _confirm(
        self, found: list[tuple[Place, str, int]], context: str | None, scope: str
    ) -> list[Leak]:
        if any(place.where == "sandbox" for place, _, _ in found):
            gc.collect()  # a finalizer may remove a TemporaryDirectory nobody closed
        leaks = []
        started = self._scope_started
        self._scope_started = time.time()
        for place, name, inode in found:
            # Gone, or replaced since (then it is the leak of whoever replaced it).
            if not place.still_there(name, inode):
                continue
            path = os.path.join(place.path, name)
            kind, size = describe_path(path)
            removed = False
            if place.where != "sandbox" and self.remove_root_leaks:
                removed = self._remove_own(path, started)
            leaks.append(Leak(context, scope, _as_path(path), kind, place.where, size, removed))
        return leaks

    def _remove_own(self, path: str, since: float) -> bool:
        """Remove a temp-root leak if it is the user's and was made during the scope."""
        try:
            st = OS.lstat(path)
        except OSError:
            return False
        if getattr(os, "getuid", lambda: st.st_uid)() != st.st_uid or st.st_ctime < since - 1:
            return False
        return not remove_path(path) and not os.path.lexists(path)
