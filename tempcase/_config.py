"""Settings from the command line, the environment and one configuration file."""

from __future__ import annotations

import configparser
import os
import re
import sys
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

__all__ = [
    "DEFAULT_IGNORE",
    "KEEP_CHOICES",
    "ConfigError",
    "Settings",
    "load_settings",
]

KEEP_CHOICES = ("never", "failed", "always")
# Names never reported as leaks: process-wide caches that outlive any one test
# (multiprocessing's per-process directory, coverage's data files).
DEFAULT_IGNORE = ("pymp-*", ".coverage", ".coverage.*")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting with a bad value; the message names the setting and its source."""


@dataclass(frozen=True)
class Settings:
    """The runner's settings, with where each came from (for error messages).

    ``python -m tempcase`` and a :class:`TempCaseRunner` without ``settings=``
    load them from the command line, ``TEMPCASE_*`` variables and the
    configuration file; from Python, make one directly:
    ``TempCaseRunner(settings=tempcase.Settings(strict=True))``.

    :param detect: detect leaks of tests that do not use tempcase.
    :param remove_root_leaks: also remove what a scope left in the temp dir,
        ``/tmp`` or a watched directory, when the current user owns it and it
        was made during that scope (for CI machines where the suite runs alone).
    :param strict: leaks and cleanup failures make the run fail.
    :param baseline: an earlier JSON report; with *strict*, only new leaks fail.
    :param report: where to write the JSON report.
    :param keep: keep test directories: ``never``, ``failed`` or ``always``.
    :param basetemp: where tempcase's per-user root lives.
    :param watch: more directories whose top level is compared around each test.
    :param system_tmp: also compare ``/tmp`` when the temp dir is elsewhere;
        turn it off on a shared machine where other jobs write there.
    :param ignore: name patterns never reported, added to
        :data:`DEFAULT_IGNORE` (multiprocessing's and coverage's files).
    :param sources: where each setting came from, by name, in words.

    .. versionadded:: 0.1
    """

    detect: bool = True
    remove_root_leaks: bool = False
    strict: bool = False
    baseline: str | None = None
    report: str | None = None
    keep: str = "never"
    basetemp: str | None = None
    watch: tuple[str, ...] = ()
    system_tmp: bool = True
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The user's patterns add to the defaults, however the settings are made.
        merged = tuple(dict.fromkeys((*DEFAULT_IGNORE, *self.ignore)))
        object.__setattr__(self, "ignore", merged)

    def source_of(self, name: str) -> str:
        """Where a setting came from, in words."""
        return self.sources.get(name, "the default")


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected one of true/false, yes/no, on/off, 1/0")


def _keep(value: str) -> str:
    value = value.strip()
    if value not in KEEP_CHOICES:
        raise ValueError(f"expected one of {', '.join(KEEP_CHOICES)}")
    return value


def _path(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("expected a path, got an empty value")
    return value


def _paths(value: str) -> tuple[str, ...]:
    return tuple(
        _path(v) for v in re.split(r"[\n" + re.escape(os.pathsep) + "]", value) if v.strip()
    )


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in re.split(r"[\n,]", value) if v.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "detect": _boolean,
    "remove_root_leaks": _boolean,
    "strict": _boolean,
    "baseline": _path,
    "report": _path,
    "keep": _keep,
    "basetemp": _path,
    "watch": _paths,
    "system_tmp": _boolean,
    "ignore": _patterns,
}


def _convert(name: str, raw: object, source: str) -> Any:
    """Parse one raw value; a bad one is a :class:`ConfigError` naming it and its source."""
    try:
        if isinstance(raw, bool) and _PARSERS[name] is _boolean:
            return raw
        if isinstance(raw, list) and name in ("watch", "ignore"):
            for item in raw:
                if not isinstance(item, str):
                    raise ValueError(f"expected a list of strings, got {type(item).__name__} items")
            raw = "\n".join(raw)
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {type(raw).__name__}")
        return _PARSERS[name](raw)
    except ValueError as exc:
        raise ConfigError(f"tempcase: bad value {raw!r} for {name} in {source}: {exc}") from None


def _one_line(exc: Exception) -> str:
    """The message of a parser's exception on one line (configparser's span several)."""
    return "; ".join(part.strip() for part in str(exc).splitlines() if part.strip())


# A [tool.tempcase] table (or a dotted key or sub-table under it), as far as can
# be told without a TOML parser.
_TOOL_TEMPCASE = re.compile(rb"""^[ \t]*\[?[ \t]*tool[ \t]*\.[ \t]*["']?tempcase\b""", re.MULTILINE)


def _read_pyproject(path: str) -> dict[str, object] | None:
    with open(path, "rb") as stream:
        data = stream.read()
    if sys.version_info >= (3, 11):
        import tomllib as toml_reader
    else:
        try:
            import tomli as toml_reader
        except ImportError:
            if not _TOOL_TEMPCASE.search(data):
                return None
            warnings.warn(
                f"tempcase: {path} has a [tool.tempcase] table, but this Python cannot "
                "read TOML without the 'tomli' package: its settings are NOT applied; "
                "pip install tomli",
                UserWarning,
                stacklevel=4,
            )
            # It is still the one configuration file: tox.ini and setup.cfg
            # are not read in its place.
            return {}
    try:
        parsed = toml_reader.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"tempcase: cannot read {path}: {_one_line(exc)}") from None
    tool = parsed.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"tempcase: [tool] in {path} must be a table")
    table = tool.get("tempcase")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"tempcase: [tool.tempcase] in {path} must be a table")
    return table


def _read_ini(path: str, section: str) -> dict[str, object] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"tempcase: cannot read {path}: {_one_line(exc)}") from None
    if not parser.has_section(section):
        return None
    return dict(parser.items(section))


def _config_file(directory: str) -> tuple[str | None, dict[str, object]]:
    """The first of pyproject.toml, tox.ini, setup.cfg in *directory* with a tempcase section."""
    readers: list[tuple[str, str, Callable[[str], dict[str, object] | None]]] = [
        ("pyproject.toml", "[tool.tempcase]", _read_pyproject),
        ("tox.ini", "[tempcase]", lambda p: _read_ini(p, "tempcase")),
        ("setup.cfg", "[tempcase]", lambda p: _read_ini(p, "tempcase")),
    ]
    for name, section, reader in readers:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            table = reader(path)
            if table is not None:
                return f"{section} in {path}", table
    return None, {}


def load_settings(
    cli: Mapping[str, object] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    directory: str | None = None,
) -> Settings:
    """Settings from, highest first: *cli*, ``TEMPCASE_*`` variables, one config file.

    :param cli: values given on the command line (already typed), by name.
    :param environ: the environment (default ``os.environ``).
    :param directory: where to look for the configuration file (default: cwd).
    :raises ConfigError: for an unknown key or a bad value, naming its source.
    """
    environ = os.environ if environ is None else environ
    source, table = _config_file(directory if directory is not None else os.getcwd())
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for key, raw in table.items():
        name = key.replace("-", "_")
        if name not in _PARSERS:
            raise ConfigError(
                f"tempcase: unknown setting {key!r} in {source}; known: {', '.join(_PARSERS)}"
            )
        if name in spelled:
            raise ConfigError(
                f"tempcase: {name} is set twice in {source}, as {spelled[name]!r} and {key!r}"
            )
        spelled[name] = key
        values[name] = _convert(name, raw, str(source))
        sources[name] = str(source)
    for name in _PARSERS:
        variable = f"TEMPCASE_{name.upper()}"
        if variable in environ:
            values[name] = _convert(name, environ[variable], f"the environment variable {variable}")
            sources[name] = f"the environment variable {variable}"
    for name, value in (cli or {}).items():
        if value is not None:
            values[name] = value
            sources[name] = f"the command line option --{name.replace('_', '-')}"
    return replace(Settings(), sources=sources, **values)
