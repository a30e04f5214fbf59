"""``python -m tempcase``: unittest's command line with tempcase's cleanup and report."""

from __future__ import annotations

from tempcase._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
