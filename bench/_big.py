"""The Big scenarios, one measurement per child process (run by bench/run.py).

Modes (each builds a fresh tree of DIRS directories of FILES small files
first, untimed, then times one thing):

- ``register``: ``tempcase.register_directory`` for each directory and
  ``tempcase.register_file`` for each file, inside ``tempcase.scope(...)``;
  then the end of the scope, which removes the registered paths one by one;
- ``tree-tempcase``: the top directory registered in a scope; the end of the
  scope removes the tree;
- ``tree-rmtree``: ``shutil.rmtree`` of the tree;
- ``tree-rm``: ``rm -rf`` of the tree (wall clock, with its fork and exec).

Prints one line of JSON: the seconds of each timed step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time


def build(root: str, dirs: int, files: int) -> tuple[list[str], list[str]]:
    """Make *dirs* directories of *files* one-line files under *root*."""
    os.mkdir(root)
    made_dirs, made_files = [], []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for d in range(dirs):
        directory = os.path.join(root, f"d{d:04d}")
        os.mkdir(directory)
        made_dirs.append(directory)
        for f in range(files):
            path = os.path.join(directory, f"f{f:04d}.txt")
            fd = os.open(path, flags, 0o600)
            os.write(fd, b"x\n")
            os.close(fd)
            made_files.append(path)
    return made_dirs, made_files


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/_big.py", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("register", "tree-tempcase", "tree-rmtree", "tree-rm"))
    parser.add_argument("root", help="the tree to make (must not exist)")
    parser.add_argument("--dirs", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100, help="files per directory")
    args = parser.parse_args()
    perf = time.perf_counter
    if args.mode.startswith("tree-") and args.mode != "tree-tempcase":
        build(args.root, args.dirs, args.files)
        started = perf()
        if args.mode == "tree-rmtree":
            shutil.rmtree(args.root)
        else:
            subprocess.run(["rm", "-rf", "--", args.root], check=True)
        result = {"remove": perf() - started}
    else:
        import tempcase  # the run starts here: the tree below is made during it

        dirs, files = build(args.root, args.dirs, args.files)
        scope = tempcase.scope("bench-big")
        scope.__enter__()
        started = perf()
        if args.mode == "register":
            tempcase.register_directory(args.root)
            for directory in dirs:
                tempcase.register_directory(directory)
            for path in files:
                tempcase.register_file(path)
        else:
            tempcase.register_directory(args.root)
        registered = perf()
        scope.__exit__(None, None, None)
        ended = perf()
        result = {
            "register": registered - started,
            "paths": 1 + len(dirs) + len(files) if args.mode == "register" else 1,
            "remove": ended - registered,
        }
    if os.path.lexists(args.root):
        raise SystemExit(f"{args.mode}: {args.root} is still there")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
