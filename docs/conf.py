"""Sphinx configuration for tempcase's documentation."""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

project = "tempcase"
author = "The tempcase developers"
copyright = "2026, The tempcase developers"
release = _distribution_version("tempcase")
version = ".".join(release.split(".")[:2])

# No intersphinx: the docs are built without network access.
extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest"]

autodoc_typehints = "description"
autodoc_member_order = "bysource"

doctest_global_setup = "import tempcase"

exclude_patterns = ["_build"]

html_theme = "alabaster"
html_static_path: list[str] = []
