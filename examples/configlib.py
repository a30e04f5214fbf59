"""A tiny configuration loader: the code under test in the example suite."""

from __future__ import annotations

import configparser
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "SUFFIXES",
    "ConfigError",
    "load_config",
    "load_config_dir",
    "unpack_bundle",
    "write_cache",
]

#: The file name suffixes that :func:`load_config` understands.
SUFFIXES = (".json", ".ini", ".cfg")


class ConfigError(ValueError):
    """A configuration file that cannot be read."""


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load one JSON (``.json``) or INI (``.ini``, ``.cfg``) file into a dict.

    An INI file becomes one dict per section, its values left as strings.

    :param path: the file to read, as UTF-8.
    :returns: the configuration.
    :raises ConfigError: when the format is unknown or the file is malformed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(
            f"{path}: unknown configuration format {suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a JSON object")
        return data
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: invalid INI: {exc}") from exc
    return {section: dict(parser[section]) for section in parser.sections()}


def load_config_dir(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Merge the configuration files directly in *directory*, in name order.

    Later files win, key by key at the top level; other files and
    subdirectories are ignored.

    :param directory: the directory to read.
    :returns: the merged configuration.
    :raises ConfigError: when one of the files cannot be read.
    """
    merged: dict[str, Any] = {}
    for entry in sorted(Path(directory).iterdir()):
        if entry.suffix.lower() in SUFFIXES and entry.is_file():
            merged.update(load_config(entry))
    return merged


def write_cache(config: Mapping[str, Any]) -> Path:
    """Write *config* to a new JSON file in the system's temporary directory.

    The caller owns the file: nothing here removes it.

    :param config: the configuration to write.
    :returns: the new file's path.
    """
    fd, name = tempfile.mkstemp(prefix="configlib-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return Path(name)


def unpack_bundle(files: Mapping[str, str]) -> Path:
    """Unpack a bundle of configuration files into a new temporary directory.

    The caller owns the directory: nothing here removes it.

    :param files: file names mapped to their text.
    :returns: the new directory's path.
    """
    directory = Path(tempfile.mkdtemp(prefix="bundle-"))
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory
