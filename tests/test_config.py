"""Settings: defaults, TEMPCASE_* variables, the one configuration file, precedence, errors."""

from __future__ import annotations

import os
import sys
import unittest
import warnings
from pathlib import Path
from typing import Mapping
from unittest import mock

from tempcase._config import DEFAULT_IGNORE, ConfigError, Settings, load_settings
from tests.support import fresh_session, has_toml_reader, make_scratch

needs_toml = unittest.skipUnless(has_toml_reader(), "needs tomllib (3.11+) or tomli")

_BOOLEANS = {
    "true": True,
    "TRUE": True,
    "True": True,
    "yes": True,
    "YeS": True,
    "on": True,
    "ON": True,
    "1": True,
    "false": False,
    "FALSE": False,
    "no": False,
    "No": False,
    "off": False,
    "oFF": False,
    "0": False,
}


class _ConfigTestCase(unittest.TestCase):
    """Each test gets a fresh session and an empty project directory."""

    def setUp(self) -> None:
        fresh_session(self)
        self.project = make_scratch(self)

    def write(self, name: str, text: str) -> Path:
        path = self.project / name
        path.write_text(text, encoding="utf-8")
        return path

    def load(
        self, cli: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        return load_settings(cli, environ=environ or {}, directory=str(self.project))


class DefaultsTest(_ConfigTestCase):
    def test_nothing_set_gives_the_defaults(self) -> None:
        settings = self.load()
        self.assertEqual(settings, Settings())
        self.assertTrue(settings.detect)
        self.assertFalse(settings.strict)
        self.assertFalse(settings.remove_root_leaks)
        self.assertIsNone(settings.baseline)
        self.assertIsNone(settings.report)
        self.assertEqual(settings.keep, "never")
        self.assertIsNone(settings.basetemp)
        self.assertEqual(settings.watch, ())
        for name in ("detect", "strict", "keep", "basetemp", "watch", "ignore"):
            self.assertEqual(settings.source_of(name), "the default")

    def test_ignore_patterns_add_to_the_defaults(self) -> None:
        settings = self.load({"ignore": ("keep-*",)})
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "keep-*"))

    def test_default_ignore_covers_multiprocessing_and_coverage(self) -> None:
        settings = self.load()
        self.assertEqual(settings.ignore, DEFAULT_IGNORE)
        self.assertIn("pymp-*", settings.ignore)
        self.assertIn(".coverage", settings.ignore)
        self.assertIn(".coverage.*", settings.ignore)

    def test_unrelated_environment_variables_are_ignored(self) -> None:
        settings = self.load(environ={"TEMPCASE": "x", "TEMPCASE_COLOUR": "red", "KEEP": "always"})
        self.assertEqual(settings, Settings())

    def test_default_directory_is_the_current_one(self) -> None:
        self.write("tox.ini", "[tempcase]\nkeep = always\n")
        previous = os.getcwd()
        os.chdir(self.project)
        self.addCleanup(os.chdir, previous)
        self.assertEqual(load_settings({}, environ={}).keep, "always")

    def test_default_environment_is_os_environ(self) -> None:
        with mock.patch.dict(os.environ, {"TEMPCASE_KEEP": "failed"}):
            settings = load_settings({}, directory=str(self.project))
        self.assertEqual(settings.keep, "failed")


class EnvironmentTest(_ConfigTestCase):
    def test_detect_variable(self) -> None:
        settings = self.load(environ={"TEMPCASE_DETECT": "no"})
        self.assertFalse(settings.detect)
        self.assertIn("TEMPCASE_DETECT", settings.source_of("detect"))

    def test_strict_variable(self) -> None:
        settings = self.load(environ={"TEMPCASE_STRICT": "yes"})
        self.assertTrue(settings.strict)
        self.assertIn("TEMPCASE_STRICT", settings.source_of("strict"))

    def test_remove_root_leaks_variable(self) -> None:
        settings = self.load(environ={"TEMPCASE_REMOVE_ROOT_LEAKS": "on"})
        self.assertTrue(settings.remove_root_leaks)
        self.assertIn("TEMPCASE_REMOVE_ROOT_LEAKS", settings.source_of("remove_root_leaks"))

    def test_baseline_and_report_variables(self) -> None:
        settings = self.load(
            environ={"TEMPCASE_BASELINE": "old.json", "TEMPCASE_REPORT": "out/new.json"}
        )
        self.assertEqual(settings.baseline, "old.json")
        self.assertEqual(settings.report, "out/new.json")
        self.assertIn("TEMPCASE_BASELINE", settings.source_of("baseline"))
        self.assertIn("TEMPCASE_REPORT", settings.source_of("report"))

    def test_keep_variable(self) -> None:
        for value in ("never", "failed", "always"):
            with self.subTest(value=value):
                self.assertEqual(self.load(environ={"TEMPCASE_KEEP": value}).keep, value)

    def test_basetemp_variable(self) -> None:
        settings = self.load(environ={"TEMPCASE_BASETEMP": "/some/base"})
        self.assertEqual(settings.basetemp, "/some/base")
        self.assertIn("TEMPCASE_BASETEMP", settings.source_of("basetemp"))

    def test_watch_variable_splits_on_pathsep(self) -> None:
        value = os.pathsep.join([".", "build", "out dir"])
        self.assertEqual(
            self.load(environ={"TEMPCASE_WATCH": value}).watch, (".", "build", "out dir")
        )

    def test_watch_variable_splits_on_newlines_and_skips_empty_entries(self) -> None:
        value = "\n.\nbuild" + os.pathsep + os.pathsep + "\n\n"
        self.assertEqual(self.load(environ={"TEMPCASE_WATCH": value}).watch, (".", "build"))

    def test_ignore_variable_splits_on_commas(self) -> None:
        settings = self.load(environ={"TEMPCASE_IGNORE": "*.lock, cache-*,,"})
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "*.lock", "cache-*"))
        self.assertIn("TEMPCASE_IGNORE", settings.source_of("ignore"))

    def test_ignore_variable_splits_on_newlines(self) -> None:
        settings = self.load(environ={"TEMPCASE_IGNORE": "*.lock\ncache-*\n"})
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "*.lock", "cache-*"))

    def test_booleans_in_any_case(self) -> None:
        for text, expected in _BOOLEANS.items():
            for name in ("detect", "strict", "remove_root_leaks"):
                with self.subTest(text=text, name=name):
                    variable = f"TEMPCASE_{name.upper()}"
                    settings = self.load(environ={variable: text})
                    self.assertIs(getattr(settings, name), expected)

    def test_boolean_surrounding_blanks_are_ignored(self) -> None:
        self.assertTrue(self.load(environ={"TEMPCASE_STRICT": " on \n"}).strict)


class ConfigFileTest(_ConfigTestCase):
    @needs_toml
    def test_pyproject_table_with_toml_types(self) -> None:
        path = self.write(
            "pyproject.toml",
            "[tool.black]\nline-length = 100\n\n"
            "[tool.tempcase]\n"
            "detect = false\n"
            "strict = true\n"
            'keep = "failed"\n'
            'report = "tempcase.json"\n'
            'baseline = "old.json"\n'
            'basetemp = "/b"\n'
            'watch = [".", "build"]\n'
            'ignore = ["*.lock", "cache-*"]\n',
        )
        settings = self.load()
        self.assertFalse(settings.detect)
        self.assertTrue(settings.strict)
        self.assertEqual(settings.keep, "failed")
        self.assertEqual(settings.report, "tempcase.json")
        self.assertEqual(settings.baseline, "old.json")
        self.assertEqual(settings.basetemp, "/b")
        self.assertEqual(settings.watch, (".", "build"))
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "*.lock", "cache-*"))
        for name in ("detect", "strict", "keep", "watch", "ignore"):
            self.assertIn(str(path), settings.source_of(name))
            self.assertIn("[tool.tempcase]", settings.source_of(name))

    @needs_toml
    def test_pyproject_accepts_strings_where_lists_go(self) -> None:
        self.write("pyproject.toml", '[tool.tempcase]\nwatch = "."\nignore = "a-*, b-*"\n')
        settings = self.load()
        self.assertEqual(settings.watch, (".",))
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "a-*", "b-*"))

    @needs_toml
    def test_pyproject_keys_with_dashes_or_underscores(self) -> None:
        for key in ("remove-root-leaks", "remove_root_leaks"):
            with self.subTest(key=key):
                self.write("pyproject.toml", f"[tool.tempcase]\n{key} = true\n")
                settings = self.load()
                self.assertTrue(settings.remove_root_leaks)
                self.assertIn("pyproject.toml", settings.source_of("remove_root_leaks"))

    def test_ini_keys_with_dashes_or_underscores(self) -> None:
        for key in ("remove-root-leaks", "remove_root_leaks", "Remove-Root-Leaks"):
            with self.subTest(key=key):
                self.write("setup.cfg", f"[tempcase]\n{key} = yes\n")
                self.assertTrue(self.load().remove_root_leaks)

    @needs_toml
    def test_pyproject_key_spelling_is_kept_in_unknown_key_errors(self) -> None:
        self.write("pyproject.toml", "[tool.tempcase]\nno-detect = true\n")
        with self.assertRaises(ConfigError) as caught:
            self.load()
        self.assertIn("'no-detect'", str(caught.exception))

    def test_tox_ini_section(self) -> None:
        path = self.write(
            "tox.ini",
            "[tox]\nenvlist = py38\n\n"
            "[tempcase]\n"
            "strict = Yes\n"
            "keep = always\n"
            "watch =\n    .\n    build\n"
            "ignore = *.lock, cache-*\n",
        )
        settings = self.load()
        self.assertTrue(settings.strict)
        self.assertEqual(settings.keep, "always")
        self.assertEqual(settings.watch, (".", "build"))
        self.assertEqual(settings.ignore, (*DEFAULT_IGNORE, "*.lock", "cache-*"))
        self.assertIn(str(path), settings.source_of("keep"))
        self.assertIn("[tempcase]", settings.source_of("keep"))

    def test_setup_cfg_section(self) -> None:
        path = self.write("setup.cfg", "[metadata]\nname = x\n\n[tempcase]\ndetect = off\n")
        settings = self.load()
        self.assertFalse(settings.detect)
        self.assertIn(str(path), settings.source_of("detect"))

    def test_ini_booleans_in_any_case(self) -> None:
        for text, expected in _BOOLEANS.items():
            with self.subTest(text=text):
                self.write("setup.cfg", f"[tempcase]\nstrict = {text}\n")
                self.assertIs(self.load().strict, expected)

    def test_ini_key_case_does_not_matter(self) -> None:
        self.write("tox.ini", "[tempcase]\nKeep = failed\n")
        self.assertEqual(self.load().keep, "failed")

    @needs_toml
    def test_pyproject_wins_over_tox_ini_and_setup_cfg(self) -> None:
        self.write("pyproject.toml", '[tool.tempcase]\nkeep = "always"\n')
        self.write("tox.ini", "[tempcase]\nstrict = yes\nkeep = failed\n")
        self.write("setup.cfg", "[tempcase]\ndetect = no\n")
        settings = self.load()
        self.assertEqual(settings.keep, "always")
        # Only one file is read: nothing of the others, not even settings
        # the first one leaves unset.
        self.assertFalse(settings.strict)
        self.assertTrue(settings.detect)

    def test_tox_ini_wins_over_setup_cfg(self) -> None:
        self.write("tox.ini", "[tempcase]\nkeep = failed\n")
        self.write("setup.cfg", "[tempcase]\nkeep = always\nstrict = yes\n")
        settings = self.load()
        self.assertEqual(settings.keep, "failed")
        self.assertFalse(settings.strict)

    @needs_toml
    def test_pyproject_without_the_table_does_not_stop_the_search(self) -> None:
        self.write("pyproject.toml", "[tool.black]\nline-length = 100\n")
        path = self.write("tox.ini", "[tempcase]\nkeep = failed\n")
        settings = self.load()
        self.assertEqual(settings.keep, "failed")
        self.assertIn(str(path), settings.source_of("keep"))

    def test_pyproject_without_any_tool_table_does_not_stop_the_search(self) -> None:
        # Readable on every Python: without tomli the file has no table to warn about.
        self.write("pyproject.toml", '[project]\nname = "x"\n')
        self.write("setup.cfg", "[tempcase]\nkeep = always\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self.assertEqual(self.load().keep, "always")

    def test_ini_files_without_the_section_do_not_stop_the_search(self) -> None:
        self.write("tox.ini", "[tox]\nenvlist = py38\n")
        self.write("setup.cfg", "[tempcase]\nkeep = always\n")
        self.assertEqual(self.load().keep, "always")

    def test_files_elsewhere_are_not_read(self) -> None:
        (self.project / "sub").mkdir()
        self.write("sub/tox.ini", "[tempcase]\nkeep = always\n")
        settings = load_settings({}, environ={}, directory=str(self.project / "sub"))
        self.assertEqual(settings.keep, "always")
        self.assertEqual(self.load().keep, "never")

    def test_a_directory_named_like_a_config_file_is_skipped(self) -> None:
        (self.project / "pyproject.toml").mkdir()
        self.write("tox.ini", "[tempcase]\nkeep = failed\n")
        self.assertEqual(self.load().keep, "failed")


class TomlReaderTest(_ConfigTestCase):
    @unittest.skipUnless(sys.version_info < (3, 11), "tomllib is always there on 3.11+")
    def test_table_without_tomli_warns_that_it_is_not_applied(self) -> None:
        path = self.write("pyproject.toml", '[tool.tempcase]\nkeep = "always"\n')
        with mock.patch.dict(sys.modules, {"tomli": None}):
            with self.assertWarns(UserWarning) as caught:
                settings = self.load()
        message = str(caught.warning)
        self.assertIn("NOT applied", message)
        self.assertIn(str(path), message)
        self.assertIn("tomli", message)
        # The warning points at the caller, not at tempcase's internals.
        self.assertEqual(os.path.normcase(caught.filename), os.path.normcase(__file__))
        self.assertEqual(settings.keep, "never")

    @unittest.skipUnless(sys.version_info < (3, 11), "tomllib is always there on 3.11+")
    def test_unreadable_table_still_stops_the_search(self) -> None:
        # The pyproject.toml has the tempcase table: it is the one file, even
        # though its settings cannot be read here; tox.ini is not used instead.
        self.write("pyproject.toml", '[tool.tempcase]\nkeep = "always"\n')
        self.write("tox.ini", "[tempcase]\nkeep = failed\n")
        with mock.patch.dict(sys.modules, {"tomli": None}):
            with self.assertWarns(UserWarning):
                settings = self.load()
        self.assertEqual(settings.keep, "never")

    @unittest.skipUnless(sys.version_info < (3, 11), "tomllib is always there on 3.11+")
    def test_other_spellings_of_the_table_without_tomli_also_warn(self) -> None:
        for text in (
            "[tool.tempcase.extra]\nx = 1\n",
            '[ tool . "tempcase" ]\nkeep = "always"\n',
            'tool.tempcase.keep = "always"\n',
        ):
            with self.subTest(text=text):
                self.write("pyproject.toml", text)
                with mock.patch.dict(sys.modules, {"tomli": None}):
                    with self.assertWarns(UserWarning):
                        self.load()

    @unittest.skipUnless(sys.version_info < (3, 11), "tomllib is always there on 3.11+")
    def test_no_table_without_tomli_is_silent(self) -> None:
        self.write("pyproject.toml", "[tool.black]\nline-length = 100\n")
        self.write("setup.cfg", "[tempcase]\nkeep = always\n")
        with mock.patch.dict(sys.modules, {"tomli": None}):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                settings = self.load()
        self.assertEqual(settings.keep, "always")

    @unittest.skipUnless(sys.version_info >= (3, 11), "tomllib appeared in 3.11")
    def test_tomllib_is_used_without_tomli(self) -> None:
        self.write("pyproject.toml", '[tool.tempcase]\nkeep = "always"\nstrict = true\n')
        with mock.patch.dict(sys.modules, {"tomli": None}):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                settings = self.load()
        self.assertEqual(settings.keep, "always")
        self.assertTrue(settings.strict)


class PrecedenceTest(_ConfigTestCase):
    def test_cli_over_environment_over_file(self) -> None:
        path = self.write(
            "tox.ini",
            "[tempcase]\nkeep = always\nreport = file.json\nstrict = yes\nwatch = filedir\n",
        )
        settings = self.load(
            cli={"report": "cli.json", "watch": ("clidir",)},
            environ={"TEMPCASE_KEEP": "failed", "TEMPCASE_REPORT": "env.json"},
        )
        self.assertEqual(settings.report, "cli.json")
        self.assertEqual(settings.keep, "failed")
        self.assertTrue(settings.strict)
        self.assertEqual(settings.watch, ("clidir",))
        self.assertTrue(settings.detect)
        self.assertIn("--report", settings.source_of("report"))
        self.assertIn("--watch", settings.source_of("watch"))
        self.assertIn("TEMPCASE_KEEP", settings.source_of("keep"))
        self.assertIn(str(path), settings.source_of("strict"))
        self.assertEqual(settings.source_of("detect"), "the default")

    def test_cli_none_leaves_lower_levels_alone(self) -> None:
        settings = self.load(
            cli={"keep": None, "strict": None}, environ={"TEMPCASE_KEEP": "failed"}
        )
        self.assertEqual(settings.keep, "failed")
        self.assertFalse(settings.strict)
        self.assertIn("TEMPCASE_KEEP", settings.source_of("keep"))

    def test_cli_false_overrides_true_below(self) -> None:
        settings = self.load(cli={"detect": False}, environ={"TEMPCASE_DETECT": "yes"})
        self.assertFalse(settings.detect)
        self.assertIn("--detect", settings.source_of("detect"))

    def test_environment_over_file_for_booleans(self) -> None:
        self.write("setup.cfg", "[tempcase]\nstrict = yes\n")
        self.assertFalse(self.load(environ={"TEMPCASE_STRICT": "0"}).strict)

    def test_a_bad_file_value_fails_even_when_the_environment_overrides_it(self) -> None:
        # The file is checked whole: a typo there is reported, not hidden.
        self.write("tox.ini", "[tempcase]\nkeep = sometimes\n")
        with self.assertRaises(ConfigError):
            self.load(environ={"TEMPCASE_KEEP": "failed"})


class BadValueTest(_ConfigTestCase):
    def assert_config_error(self, *words: str, environ: Mapping[str, str] | None = None) -> None:
        with self.assertRaises(ConfigError) as caught:
            self.load(environ=environ)
        message = str(caught.exception)
        self.assertIsInstance(caught.exception, ValueError)
        for word in words:
            self.assertIn(word, message)
        self.assertNotIn("\n", message)

    @needs_toml
    def test_keep_sometimes_in_pyproject(self) -> None:
        path = self.write("pyproject.toml", '[tool.tempcase]\nkeep = "sometimes"\n')
        self.assert_config_error("keep", "'sometimes'", str(path), "never, failed, always")

    def test_keep_sometimes_in_tox_ini(self) -> None:
        path = self.write("tox.ini", "[tempcase]\nkeep = sometimes\n")
        self.assert_config_error("keep", "'sometimes'", str(path))

    def test_keep_sometimes_in_environment(self) -> None:
        self.assert_config_error(
            "keep", "'sometimes'", "TEMPCASE_KEEP", environ={"TEMPCASE_KEEP": "sometimes"}
        )

    def test_strict_maybe_in_environment(self) -> None:
        self.assert_config_error(
            "strict", "'maybe'", "TEMPCASE_STRICT", environ={"TEMPCASE_STRICT": "maybe"}
        )

    def test_detect_maybe_in_setup_cfg(self) -> None:
        path = self.write("setup.cfg", "[tempcase]\ndetect = maybe\n")
        self.assert_config_error("detect", "'maybe'", str(path))

    @needs_toml
    def test_strict_maybe_in_pyproject(self) -> None:
        path = self.write("pyproject.toml", '[tool.tempcase]\nstrict = "maybe"\n')
        self.assert_config_error("strict", "'maybe'", str(path))

    def test_empty_basetemp_in_environment(self) -> None:
        self.assert_config_error("basetemp", "TEMPCASE_BASETEMP", environ={"TEMPCASE_BASETEMP": ""})

    def test_blank_basetemp_in_environment(self) -> None:
        self.assert_config_error(
            "basetemp", "TEMPCASE_BASETEMP", environ={"TEMPCASE_BASETEMP": "   "}
        )

    def test_empty_basetemp_in_tox_ini(self) -> None:
        path = self.write("tox.ini", "[tempcase]\nbasetemp =\n")
        self.assert_config_error("basetemp", str(path))

    def test_empty_report_in_environment(self) -> None:
        self.assert_config_error("report", "TEMPCASE_REPORT", environ={"TEMPCASE_REPORT": ""})

    @needs_toml
    def test_empty_basetemp_in_pyproject(self) -> None:
        path = self.write("pyproject.toml", '[tool.tempcase]\nbasetemp = ""\n')
        self.assert_config_error("basetemp", str(path))

    @needs_toml
    def test_wrong_toml_types(self) -> None:
        cases = {
            "strict = 1": ("strict", "int"),
            'detect = ["yes"]': ("detect", "list"),
            "keep = true": ("keep", "bool"),
            "basetemp = 3": ("basetemp", "int"),
            "report = false": ("report", "bool"),
            "watch = 5": ("watch", "int"),
            "watch = [1, 2]": ("watch", "int"),
            'ignore = ["a", 2]': ("ignore", "int"),
            "ignore = { a = 1 }": ("ignore", "dict"),
        }
        for line, words in cases.items():
            with self.subTest(line=line):
                path = self.write("pyproject.toml", f"[tool.tempcase]\n{line}\n")
                self.assert_config_error(*words, str(path))

    @needs_toml
    def test_tempcase_that_is_not_a_table(self) -> None:
        path = self.write("pyproject.toml", '[tool]\ntempcase = "strict"\n')
        self.assert_config_error("[tool.tempcase]", str(path))

    @needs_toml
    def test_tool_that_is_not_a_table(self) -> None:
        path = self.write("pyproject.toml", 'tool = "x"\n')
        self.write("tox.ini", "[tempcase]\nkeep = failed\n")
        self.assert_config_error(str(path))

    @needs_toml
    def test_unknown_key_in_pyproject(self) -> None:
        path = self.write("pyproject.toml", '[tool.tempcase]\ncolour = "red"\n')
        self.assert_config_error("'colour'", str(path), "keep")

    @needs_toml
    def test_same_setting_under_both_spellings(self) -> None:
        path = self.write(
            "pyproject.toml",
            "[tool.tempcase]\nremove-root-leaks = true\nremove_root_leaks = false\n",
        )
        self.assert_config_error("remove-root-leaks", "remove_root_leaks", str(path))

    def test_same_setting_under_both_spellings_in_tox_ini(self) -> None:
        path = self.write(
            "tox.ini", "[tempcase]\nremove-root-leaks = yes\nremove_root_leaks = no\n"
        )
        self.assert_config_error("remove-root-leaks", "remove_root_leaks", str(path))

    def test_unknown_key_in_setup_cfg(self) -> None:
        path = self.write("setup.cfg", "[tempcase]\nstrickt = yes\n")
        self.assert_config_error("'strickt'", str(path))

    @needs_toml
    def test_broken_toml(self) -> None:
        path = self.write("pyproject.toml", "[tool.tempcase\nstrict = \n")
        self.assert_config_error(str(path))

    @needs_toml
    def test_toml_that_is_not_utf8(self) -> None:
        path = self.project / "pyproject.toml"
        path.write_bytes(b'[tool.tempcase]\nkeep = "caf\xe9"\n')
        self.assert_config_error(str(path))

    def test_broken_ini(self) -> None:
        path = self.write("tox.ini", "[tempcase]\nkeep = failed\nkeep = always\n")
        self.assert_config_error(str(path))

    def test_ini_without_section_header(self) -> None:
        path = self.write("setup.cfg", "keep = failed\n")
        self.assert_config_error(str(path))

    def test_ini_that_is_not_utf8(self) -> None:
        path = self.project / "tox.ini"
        path.write_bytes(b"[tempcase]\nkeep = caf\xe9\n")
        self.assert_config_error(str(path))


if __name__ == "__main__":
    unittest.main()
