"""tempcase migrate: the rewrites, what is left alone and why, the command line, and a real run."""

from __future__ import annotations

import ast
import collections
import contextlib
import io
import re
import sys
import textwrap
import unittest
from pathlib import Path
from typing import Iterator
from unittest import mock

from tempcase._migrate import main
from tests.support import fresh_session, make_scratch, run_python
from tests.test_leaks import LEGACY_LEAKS, LeakRow, legacy_scratch, ours, outcome, row, run_cli
from tests.test_leaks import MODULE as LEGACY

try:
    import libcst  # noqa: F401

    HAVE_LIBCST = True
except ImportError:
    HAVE_LIBCST = False

needs_libcst = unittest.skipUnless(HAVE_LIBCST, "needs libcst (pip install tempcase[migrate])")


def migrate(source: str) -> tuple[str, list[str]]:
    """The migrated text of *source* and its skip lines (``line:col: reason``)."""
    from tempcase._migrate_module import migrate_module

    outcome = migrate_module(textwrap.dedent(source).encode("utf-8"), set())
    return outcome.code, [f"{line}:{col}: {reason}" for line, col, reason in outcome.skips]


def run_main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


HEAD = "import os\nimport shutil\nimport tempfile\nimport unittest\n"
# HEAD after a rewrite that used shutil and tempfile: neither is used any more.
OS_HEAD = "import os\nimport unittest\nimport tempcase\n"
# HEAD after a rewrite that used tempfile only: shutil was unused before, so it stays.
SHUTIL_HEAD = "import os\nimport shutil\nimport unittest\nimport tempcase\n"


@needs_libcst
class RewriteTest(unittest.TestCase):
    """Each rewrite, before and after, exactly."""

    def setUp(self) -> None:
        fresh_session(self)

    def check(self, before: str, after: str, head: str) -> None:
        """HEAD + *before* migrates to *head* + *after*, and a second run changes nothing."""
        code, skips = migrate(HEAD + textwrap.dedent(before))
        self.assertEqual(skips, [])
        self.assertEqual(code, head + textwrap.dedent(after))
        self.assertEqual(migrate(code), (code, []))

    def test_mkdtemp_removed_in_teardown_becomes_create_temp_directory(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def setUp(self):
                    self.work = tempfile.mkdtemp(prefix="work-")

                def tearDown(self):
                    shutil.rmtree(self.work)

                def test_x(self):
                    open(self.work + "/a", "w").close()
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory(prefix="work-"))

                def test_x(self):
                    open(self.work + "/a", "w").close()
            """,
            OS_HEAD,
        )

    def test_mkdtemp_with_add_cleanup_drops_the_cleanup(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def test_x(self):
                    d = tempfile.mkdtemp()
                    self.addCleanup(shutil.rmtree, d, ignore_errors=True)
                    self.assertTrue(os.path.isdir(d))
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    d = os.fspath(self.create_temp_directory())
                    self.assertTrue(os.path.isdir(d))
            """,
            OS_HEAD,
        )

    def test_try_finally_rmtree_is_unwrapped(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def test_x(self):
                    d = tempfile.mkdtemp()
                    # the body
                    try:
                        self.assertTrue(os.path.isdir(d))
                    finally:
                        shutil.rmtree(d)
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    d = os.fspath(self.create_temp_directory())
                    # the body
                    self.assertTrue(os.path.isdir(d))
            """,
            OS_HEAD,
        )

    def test_mkstemp_and_close_become_create_temp_file(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def test_x(self):
                    fd, path = tempfile.mkstemp(suffix=".zip", prefix="z")
                    os.close(fd)
                    self.assertTrue(path.endswith(".zip"))
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    path = os.fspath(self.create_temp_file(suffix=".zip", prefix="z"))
                    self.assertTrue(path.endswith(".zip"))
            """,
            SHUTIL_HEAD,
        )

    def test_named_temporary_file_written_then_used_by_name(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def test_x(self):
                    f = tempfile.NamedTemporaryFile(suffix=".dat", delete=False)
                    f.write(b"\\0" * 3)
                    f.close()
                    self.assertEqual(os.path.getsize(f.name), 3)
                    os.unlink(f.name)
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    f_path = os.fspath(self.create_temp_file(b"\\0" * 3, suffix=".dat"))
                    self.assertEqual(os.path.getsize(f_path), 3)
            """,
            SHUTIL_HEAD,
        )

    def test_named_temporary_file_in_with_block(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def test_x(self):
                    with tempfile.NamedTemporaryFile("w", delete=False, encoding="utf-8") as f:
                        f.write("Zoë")
                    self.assertTrue(os.path.exists(f.name))
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    f_path = os.fspath(self.create_temp_file("Zoë"))
                    self.assertTrue(os.path.exists(f_path))
            """,
            SHUTIL_HEAD,
        )

    def test_temporary_directory_cleaned_in_teardown_keeps_name(self) -> None:
        self.check(
            """
            class T(unittest.TestCase):
                def setUp(self):
                    self.td = tempfile.TemporaryDirectory(prefix="td-")

                def tearDown(self):
                    self.td.cleanup()
                    super().tearDown()

                def test_x(self):
                    self.assertTrue(os.path.isdir(self.td.name))
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.td = self.create_temp_directory(prefix="td-")

                def tearDown(self):
                    super().tearDown()

                def test_x(self):
                    self.assertTrue(os.path.isdir(self.td.name))
            """,
            SHUTIL_HEAD,
        )

    def test_comments_and_formatting_are_kept(self) -> None:
        before = """\
            class T(  unittest.TestCase ):  # odd spacing stays
                '''Doc.'''

                def setUp(self):
                    # why a directory
                    self.d = tempfile.mkdtemp(  prefix = 'x-' )  # trailing comment
                    self.values = [1,2,   3]  # untouched

                def tearDown(self):
                    x = 1 ;  y = 2
                    shutil.rmtree(self.d)  # gone
            """
        code, skips = migrate(HEAD + textwrap.dedent(before))
        self.assertEqual(skips, [])
        self.assertIn("class T(  tempcase.TempFileTestCase, unittest.TestCase ):  # odd", code)
        self.assertIn("        # why a directory\n", code)
        self.assertIn(
            "self.d = os.fspath(self.create_temp_directory(prefix='x-'))  # trailing comment",
            code,
        )
        self.assertIn("self.values = [1,2,   3]  # untouched", code)
        self.assertIn("x = 1 ;  y = 2\n", code)
        self.assertNotIn("rmtree", code)
        self.assertNotIn("# gone", code)

    def test_existing_imports_are_used_not_repeated(self) -> None:
        source = """\
            import os, tempfile
            import unittest
            from tempcase import TempFileTestCase


            class T(unittest.TestCase):
                def test_x(self):
                    fd, p = tempfile.mkstemp()
                    os.close(fd)
            """
        code, _ = migrate(source)
        self.assertIn("class T(TempFileTestCase, unittest.TestCase):", code)
        self.assertNotIn("import tempcase\n", code)
        self.assertEqual(code.count("import os"), 1)

    def test_aliased_and_from_imports_are_resolved(self) -> None:
        source = """\
            import tempfile as tf
            from os import close
            from unittest import TestCase


            class T(TestCase):
                def test_x(self):
                    fd, p = tf.mkstemp()
                    close(fd)
            """
        code, skips = migrate(source)
        self.assertEqual(skips, [])
        self.assertIn("class T(tempcase.TempFileTestCase, TestCase):", code)
        self.assertIn("p = os.fspath(self.create_temp_file())", code)
        self.assertIn("import os\n", code)

    def test_same_local_name_in_two_methods_is_rewritten_in_each(self) -> None:
        # A local name means nothing outside its method: each rmtree is its own.
        self.check(
            """
            class T(unittest.TestCase):
                def test_a(self):
                    d = tempfile.mkdtemp()
                    try:
                        self.assertTrue(d)
                    finally:
                        shutil.rmtree(d)

                def test_b(self):
                    d = tempfile.mkdtemp()
                    self.addCleanup(shutil.rmtree, d)
                    self.assertTrue(d)
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_a(self):
                    d = os.fspath(self.create_temp_directory())
                    self.assertTrue(d)

                def test_b(self):
                    d = os.fspath(self.create_temp_directory())
                    self.assertTrue(d)
            """,
            OS_HEAD,
        )

    def test_attribute_named_like_a_module_attribute_is_rewritten(self) -> None:
        # self.path is not os.path: only an owner that may be the test counts.
        self.check(
            """
            class T(unittest.TestCase):
                def setUp(self):
                    self.tmpdir = tempfile.mkdtemp()
                    self.path = os.path.join(self.tmpdir, "db")

                def tearDown(self):
                    shutil.rmtree(self.tmpdir)

                def test_a(self):
                    self.assertFalse(os.path.exists(self.path))
            """,
            """
            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.tmpdir = os.fspath(self.create_temp_directory())
                    self.path = os.path.join(self.tmpdir, "db")

                def test_a(self):
                    self.assertFalse(os.path.exists(self.path))
            """,
            OS_HEAD,
        )


@needs_libcst
class TidyTest(unittest.TestCase):
    """A setUp/tearDown the rewrite empties goes, and so does an import it leaves
    unused; whatever else might matter stays."""

    def setUp(self) -> None:
        fresh_session(self)

    def check(self, before: str, after: str) -> None:
        """*before* migrates to *after* exactly, and a second run changes nothing."""
        code, skips = migrate(before)
        self.assertEqual(skips, [])
        self.assertEqual(code, textwrap.dedent(after))
        self.assertEqual(migrate(code), (code, []))

    def test_emptied_teardown_listed_first_goes_with_its_blank_lines(self) -> None:
        self.check(
            """\
            import shutil
            import tempfile
            import unittest


            class T(unittest.TestCase):
                def tearDown(self):
                    shutil.rmtree(self.work, ignore_errors=True)

                def setUp(self):
                    self.work = tempfile.mkdtemp()

                def test_x(self):
                    self.assertTrue(self.work)
            """,
            """\
            import unittest
            import os
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory())

                def test_x(self):
                    self.assertTrue(self.work)
            """,
        )

    def test_teardown_doing_anything_else_stays_without_the_removal(self) -> None:
        self.check(
            """\
            import shutil
            import tempfile
            import unittest


            class T(unittest.TestCase):
                def setUp(self):
                    self.work = tempfile.mkdtemp()
                    self.log = []

                def tearDown(self):
                    '''Nothing else to do.'''
                    shutil.rmtree(self.work)

                def test_x(self):
                    self.log.append(self.work)
            """,
            """\
            import unittest
            import os
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory())
                    self.log = []

                def tearDown(self):
                    '''Nothing else to do.'''

                def test_x(self):
                    self.log.append(self.work)
            """,
        )

    def test_emptied_teardown_overriding_a_local_base_stays(self) -> None:
        # Without it, Base.tearDown would run for T's tests.
        self.check(
            """\
            import shutil
            import tempfile
            import unittest


            class Base(unittest.TestCase):
                def tearDown(self):
                    print("base")


            class T(Base):
                def setUp(self):
                    self.work = tempfile.mkdtemp()

                def tearDown(self):
                    shutil.rmtree(self.work)
            """,
            """\
            import unittest
            import os
            import tempcase


            class Base(unittest.TestCase):
                def tearDown(self):
                    print("base")


            class T(tempcase.TempFileTestCase, Base):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory())

                def tearDown(self):
                    pass
            """,
        )

    def test_emptied_method_that_is_not_a_hook_stays(self) -> None:
        # setUp calls it: removing it would break setUp.
        self.check(
            """\
            import shutil
            import tempfile
            import unittest


            class T(unittest.TestCase):
                def setUp(self):
                    self.work = tempfile.mkdtemp()
                    self.register()

                def register(self):
                    self.addCleanup(shutil.rmtree, self.work)
            """,
            """\
            import unittest
            import os
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory())
                    self.register()

                def register(self):
                    pass
            """,
        )

    def test_from_imports_left_unused_are_removed_and_os_added_for_fspath(self) -> None:
        self.check(
            """\
            from __future__ import annotations

            import unittest
            from os import close
            from shutil import copy, rmtree
            from tempfile import mkdtemp, mkstemp


            class T(unittest.TestCase):
                def setUp(self):
                    self.work = mkdtemp()
                    self.addCleanup(rmtree, self.work)

                def test_x(self):
                    fd, path = mkstemp()
                    close(fd)
                    copy(path, self.work)
            """,
            """\
            from __future__ import annotations

            import unittest
            from shutil import copy
            import os
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def setUp(self):
                    self.work = os.fspath(self.create_temp_directory())

                def test_x(self):
                    path = os.fspath(self.create_temp_file())
                    copy(path, self.work)
            """,
        )

    def test_os_left_unused_is_removed_from_a_shared_import_line(self) -> None:
        # No .name is used afterwards, so the rewrite adds no os.fspath.
        self.check(
            """\
            import os, tempfile, unittest


            class T(unittest.TestCase):
                def test_x(self):
                    f = tempfile.NamedTemporaryFile(delete=False)
                    f.write(b"x")
                    f.close()
                    self.addCleanup(os.unlink, f.name)
            """,
            """\
            import unittest
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    self.create_temp_file(b"x")
            """,
        )

    def test_import_os_path_already_binds_os(self) -> None:
        self.check(
            """\
            import os.path
            import shutil
            import tempfile
            import unittest


            class T(unittest.TestCase):
                def test_x(self):
                    d = tempfile.mkdtemp()
                    self.addCleanup(shutil.rmtree, d)
                    self.assertTrue(os.path.isdir(d))
            """,
            """\
            import os.path
            import unittest
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    d = os.fspath(self.create_temp_directory())
                    self.assertTrue(os.path.isdir(d))
            """,
        )

    def test_function_level_imports_left_unused_are_removed(self) -> None:
        # Counted in the function only: the module-level shutil, still used, stays.
        self.check(
            """\
            import os
            import shutil
            import unittest


            class T(unittest.TestCase):
                def test_gone(self):
                    import tempfile, shutil
                    d = tempfile.mkdtemp()
                    try:
                        self.assertTrue(os.path.isdir(d))
                    finally:
                        shutil.rmtree(d)

                def test_kept(self):
                    import tempfile, shutil
                    d = tempfile.mkdtemp()
                    self.addCleanup(shutil.rmtree, d)
                    shutil.copy(__file__, d)

                def test_other(self):
                    shutil.copy(__file__, ".")
            """,
            """\
            import os
            import shutil
            import unittest
            import tempcase


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_gone(self):
                    d = os.fspath(self.create_temp_directory())
                    self.assertTrue(os.path.isdir(d))

                def test_kept(self):
                    import shutil
                    d = os.fspath(self.create_temp_directory())
                    shutil.copy(__file__, d)

                def test_other(self):
                    shutil.copy(__file__, ".")
            """,
        )

    def test_imports_still_used_commented_exported_or_unused_before_stay(self) -> None:
        self.check(
            """\
            import os
            import shutil  # for rmtree
            import unittest
            from tempfile import gettempdir, mkdtemp
            from tempfile import mkstemp as make

            __all__ = ["T", "make"]


            class T(unittest.TestCase):
                def test_x(self):
                    d = mkdtemp()
                    self.addCleanup(shutil.rmtree, d)
                    fd, p = make()
                    os.close(fd)
                    self.assertNotEqual(d, gettempdir())
            """,
            """\
            import os
            import shutil  # for rmtree
            import unittest
            from tempfile import gettempdir
            from tempfile import mkstemp as make
            import tempcase

            __all__ = ["T", "make"]


            class T(tempcase.TempFileTestCase, unittest.TestCase):
                def test_x(self):
                    d = os.fspath(self.create_temp_directory())
                    p = os.fspath(self.create_temp_file())
                    self.assertNotEqual(d, gettempdir())
            """,
        )


@needs_libcst
class MroTest(unittest.TestCase):
    """The mixin goes first, once, and only where the bases are known."""

    def setUp(self) -> None:
        fresh_session(self)

    def test_class_that_has_the_mixin_gets_no_second_one(self) -> None:
        code, skips = migrate(
            HEAD
            + "import tempcase\n\nclass T(tempcase.TestCase):\n"
            + "    def test_x(self):\n        fd, p = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        self.assertEqual(skips, [])
        self.assertIn("class T(tempcase.TestCase):", code)
        self.assertEqual(code.count("TempFileTestCase"), 0)
        self.assertEqual(code.count("import tempcase"), 1)

    def test_subclass_of_a_converted_local_base_inherits_the_mixin(self) -> None:
        code, skips = migrate(
            HEAD
            + "class Base(unittest.TestCase):\n"
            + "    def test_a(self):\n        fd, p = tempfile.mkstemp()\n        os.close(fd)\n\n"
            + "class Sub(Base):\n"
            + "    def test_b(self):\n        fd, q = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        self.assertEqual(skips, [])
        self.assertIn("class Base(tempcase.TempFileTestCase, unittest.TestCase):", code)
        self.assertIn("class Sub(Base):", code)
        self.assertIn("q = os.fspath(self.create_temp_file())", code)
        namespace: dict[str, object] = {}
        exec(compile(code, "<migrated>", "exec"), namespace)  # the MRO is valid

    def test_local_mixin_base_goes_after_the_tempcase_mixin(self) -> None:
        code, _ = migrate(
            HEAD
            + "class Helpers:\n    pass\n\n"
            + "class T(Helpers, unittest.TestCase):\n"
            + "    def test_b(self):\n        fd, q = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        self.assertIn("class T(tempcase.TempFileTestCase, Helpers, unittest.TestCase):", code)

    def test_unresolvable_base_is_left_alone(self) -> None:
        code, skips = migrate(
            HEAD
            + "from helpers import BaseTest\n\nclass T(BaseTest):\n"
            + "    def test_x(self):\n        fd, p = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        self.assertNotIn("create_temp_file", code)
        self.assertEqual(skips, ["9:17: the base BaseTest of class T cannot be resolved"])

    def test_base_that_a_subclass_lists_after_the_mixin_is_left_alone(self) -> None:
        from tempcase._migrate_module import migrate_module

        source = (
            HEAD
            + "class Base(unittest.TestCase):\n"
            + "    def test_a(self):\n        fd, p = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        outcome = migrate_module(source.encode(), {"Base"})
        self.assertEqual(outcome.code, source)
        self.assertIn("would make that MRO inconsistent", outcome.skips[0][2])

    def test_class_defining_a_helper_name_is_left_alone(self) -> None:
        code, skips = migrate(
            HEAD
            + "class T(unittest.TestCase):\n"
            + "    def create_temp_file(self):\n        return 1\n\n"
            + "    def test_x(self):\n        fd, p = tempfile.mkstemp()\n        os.close(fd)\n"
        )
        self.assertNotIn("self.create_temp_file(", code)
        self.assertIn("defines create_temp_file, which TempFileTestCase provides", skips[0])


LEFT_ALONE = {
    "returned": (
        "    def make(self):\n        return tempfile.mkdtemp()\n",
        "it is returned, so the path escapes the test",
    ),
    "returned_later": (
        "    def make(self):\n        d = tempfile.mkdtemp()\n        return d\n",
        "it is returned",
    ),
    "stored_on_class": (
        "    def test_x(self):\n        d = tempfile.mkdtemp()\n        type(self).shared = d\n",
        "it is stored outside the test (type(self).shared)",
    ),
    "reached_through_class": (
        "    def setUp(self):\n        self.d = tempfile.mkdtemp()\n"
        "    @classmethod\n    def tearDownClass(cls):\n        print(cls.d)\n",
        "self.d is also reached as cls.d, beyond this test",
    ),
    "global": (
        "    def test_x(self):\n        global SHARED\n        SHARED = tempfile.mkdtemp()\n",
        "it is stored in the global 'SHARED'",
    ),
    "kept_across_tests": (
        "    def test_x(self):\n        d = tempfile.mkdtemp()\n        sys.path.append(d)\n",
        "it is kept by sys.path.append(), beyond the test",
    ),
    "nested_function": (
        "    def test_x(self):\n        d = tempfile.mkdtemp()\n"
        "        def later():\n            return d\n        CALLBACKS.append(later)\n",
        "it is used in a nested function or class, which may outlive the test",
    ),
    "classmethod": (
        "    @classmethod\n    def setUpClass(cls):\n        cls.d = tempfile.mkdtemp()\n",
        "in a classmethod: shared by the class's tests",
    ),
    "dir": (
        "    def test_x(self):\n        d = tempfile.mkdtemp(dir='.')\n",
        "dir= is kept as it is (tempcase decides where the path lives)",
    ),
    "suffix_on_directory": (
        "    def test_x(self):\n        d = tempfile.mkdtemp(suffix='x')\n",
        "suffix= has no tempcase equivalent",
    ),
    "bytes_prefix": (
        "    def test_x(self):\n        d = tempfile.mkdtemp(prefix=b'x')\n",
        "prefix= is not a str literal (bytes would change the path's type)",
    ),
    "descriptor_used": (
        "    def test_x(self):\n        fd, p = tempfile.mkstemp()\n"
        "        os.write(fd, b'x')\n        os.close(fd)\n",
        "the descriptor 'fd' is used, not only closed",
    ),
    "descriptor_not_closed": (
        "    def test_x(self):\n        fd, p = tempfile.mkstemp()\n",
        "the descriptor 'fd' is not closed once with os.close()",
    ),
    "removed_part_way": (
        "    def test_x(self):\n        d = tempfile.mkdtemp()\n        shutil.rmtree(d)\n"
        "        self.assertFalse(os.path.exists(d))\n",
        "line 11 removes it part-way through the test",
    ),
    "file_used_as_file": (
        "    def test_x(self):\n        f = tempfile.NamedTemporaryFile(delete=False)\n"
        "        f.write(b'x')\n        f.close()\n        g(f)\n",
        "f is used as a file after it is written, not only through f.name",
    ),
    "text_in_locale_encoding": (
        "    def test_x(self):\n        f = tempfile.NamedTemporaryFile('w', delete=False)\n"
        "        f.write('Zoë')\n        f.close()\n",
        "non-literal or non-ASCII text without encoding='utf-8' depends on the locale",
    ),
    "temporary_directory_used_as_object": (
        "    def setUp(self):\n        self.td = tempfile.TemporaryDirectory()\n"
        "        self.addCleanup(self.td.cleanup)\n"
        "    def test_x(self):\n        with self.td as name:\n            pass\n",
        "self.td is used as",
    ),
    "wrapped_in_another_call": (
        "    def test_x(self):\n        d = os.path.realpath(tempfile.mkdtemp())\n"
        "        self.addCleanup(shutil.rmtree, d)\n",
        "the result is passed to os.path.realpath(), not bound to a name as it is",
    ),
    "temporary_directory_never_cleaned": (
        "    def setUp(self):\n        self.td = tempfile.TemporaryDirectory()\n",
        "it is never cleaned up explicitly (tearDown or addCleanup)",
    ),
}


@needs_libcst
class LeftAloneTest(unittest.TestCase):
    """What cannot be proved safe is unchanged, with one reason per occurrence."""

    def setUp(self) -> None:
        fresh_session(self)

    def test_each_unsafe_occurrence_is_left_alone_with_its_reason(self) -> None:
        for name, (body, reason) in LEFT_ALONE.items():
            with self.subTest(name):
                source = "import sys\n" + HEAD + "\n\nclass T(unittest.TestCase):\n" + body
                code, skips = migrate(source)
                self.assertEqual(code, source)
                self.assertEqual(len(skips), 1, skips)
                self.assertIn(reason, skips[0])

    def test_code_outside_a_test_case_is_reported(self) -> None:
        source = HEAD + "\nROOT = tempfile.mkdtemp()\n\ndef helper():\n    d = tempfile.mkdtemp()\n"
        code, skips = migrate(source)
        self.assertEqual(code, source)
        self.assertEqual(
            skips,
            [
                "6:8: not in a TestCase method (module or class level code)",
                "9:9: not in a TestCase method (in function helper())",
            ],
        )

    def test_plain_class_is_not_a_test_case(self) -> None:
        source = HEAD + "\nclass Tool:\n    def run(self):\n        d = tempfile.mkdtemp()\n"
        _, skips = migrate(source)
        self.assertEqual(skips, ["8:13: class Tool is not a unittest.TestCase subclass"])

    def test_star_import_is_reported_as_unresolved(self) -> None:
        source = "from tempfile import *\n\ndef f():\n    return mkdtemp()\n"
        code, skips = migrate(source)
        self.assertEqual(code, source)
        self.assertEqual(skips, ["4:12: the call could not be resolved for a rewrite"])

    def test_ignore_comment_leaves_the_line_alone_silently(self) -> None:
        source = (
            HEAD
            + "class T(unittest.TestCase):\n    def test_x(self):\n"
            + "        fd, p = tempfile.mkstemp()  # tempcase: ignore[TC102]\n"
            + "        os.close(fd)\n"
        )
        self.assertEqual(migrate(source), (source, []))

    def test_with_temporary_directory_is_not_legacy(self) -> None:
        source = (
            HEAD + "class T(unittest.TestCase):\n    def test_x(self):\n"
            "        with tempfile.TemporaryDirectory() as d:\n            pass\n"
        )
        self.assertEqual(migrate(source), (source, []))


SAMPLE = HEAD + textwrap.dedent(
    """
    class UnpackTest(unittest.TestCase):
        def setUp(self):
            self.work = tempfile.mkdtemp()
            self.td = tempfile.TemporaryDirectory()
            self.addCleanup(self.td.cleanup)

        def tearDown(self):
            shutil.rmtree(self.work)

        def test_writes(self):
            fd, path = tempfile.mkstemp(suffix=".txt")
            os.close(fd)
            with open(path, "w") as f:
                f.write("x")
            self.assertEqual(os.path.getsize(path), 1)
            self.assertTrue(os.path.isdir(self.work))
            self.assertTrue(os.path.isdir(self.td.name))

        def test_named(self):
            f = tempfile.NamedTemporaryFile(suffix=".dat", delete=False)
            f.write(b"abc")
            f.close()
            with open(f.name, "rb") as stream:
                self.assertEqual(stream.read(), b"abc")

        def test_returned(self):
            self.assertTrue(os.path.isdir(self.make()))

        def make(self):
            d = tempfile.mkdtemp()
            self.addCleanup(shutil.rmtree, d)
            return d
    """
)


@needs_libcst
class IdempotenceTest(unittest.TestCase):
    def setUp(self) -> None:
        fresh_session(self)

    def test_second_run_changes_nothing(self) -> None:
        once, skips = migrate(SAMPLE)
        self.assertNotEqual(once, SAMPLE)
        self.assertEqual(len(skips), 1)
        twice, skips_again = migrate(once)
        self.assertEqual(twice, once)
        reasons = [skip.split(": ", 1)[1] for skip in skips]
        self.assertEqual([skip.split(": ", 1)[1] for skip in skips_again], reasons)


@needs_libcst
class CommandTest(unittest.TestCase):
    """``migrate`` through ``main``, and the suite it produces run for real."""

    def setUp(self) -> None:
        fresh_session(self)
        self.scratch = make_scratch(self)
        self.file = self.scratch / "test_sample.py"
        self.file.write_text(SAMPLE, encoding="utf-8")

    def test_diff_is_the_default_and_changes_nothing(self) -> None:
        status, out, err = run_main(str(self.file))
        self.assertEqual(status, 0)
        self.assertIn("-class UnpackTest(unittest.TestCase):", out)
        self.assertIn("+class UnpackTest(tempcase.TempFileTestCase, unittest.TestCase):", out)
        self.assertEqual(self.file.read_text(encoding="utf-8"), SAMPLE)
        self.assertIn(f"{self.file}:35:13: skipped: it is returned", err)
        self.assertIn("1 file to rewrite (4 rewrites), 1 occurrence left alone", err)

    def test_write_rewrites_in_place_and_check_reports_changes(self) -> None:
        self.assertEqual(run_main("--check", str(self.file))[0], 1)
        status, out, _ = run_main("--write", str(self.scratch))
        self.assertEqual((status, out), (0, ""))
        text = self.file.read_text(encoding="utf-8")
        self.assertIn("self.work = os.fspath(self.create_temp_directory())", text)
        self.assertEqual(run_main("--check", str(self.file))[:2], (0, ""))

    def test_diff_and_write_together_are_refused(self) -> None:
        status, _, err = run_main("--diff", "--write", str(self.file))
        self.assertEqual(status, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)

    def test_missing_path_is_a_usage_error(self) -> None:
        status, _, err = run_main(str(self.scratch / "nope.py"))
        self.assertEqual(status, 2)
        self.assertIn("no such file or directory", err)

    def test_unparsable_file_is_reported_and_skipped(self) -> None:
        bad = self.scratch / "bad.py"
        bad.write_text("def (:\n", encoding="utf-8")
        status, out, err = run_main(str(bad))
        self.assertEqual((status, out), (0, ""))
        self.assertIn(f"{bad}:1:", err)
        self.assertIn("skipped", err)

    def test_relative_import_without_a_module_name_is_no_crash(self) -> None:
        (self.scratch / "test_rel.py").write_text(
            "from . import helper\n" + SAMPLE, encoding="utf-8"
        )
        status, out, err = run_main("--write", str(self.scratch))
        self.assertEqual((status, out), (0, ""))
        self.assertIn("2 files rewritten (8 rewrites), 2 occurrences left alone, in 2 files", err)
        text = (self.scratch / "test_rel.py").read_text(encoding="utf-8")
        self.assertTrue(text.startswith("from . import helper\nimport os\n"), text)
        self.assertIn("\nimport tempcase\n", text)

    def test_file_failing_unexpectedly_is_reported_and_the_others_done(self) -> None:
        from tempcase import _migrate_module

        real = _migrate_module.migrate_module

        def fail_on_marker(source: bytes, protected: set[str]) -> _migrate_module.Outcome:
            if b"# fail here" in source:
                raise RuntimeError("unforeseen\nsecond line")
            return real(source, protected)

        bad = self.scratch / "test_bad.py"
        bad.write_text("# fail here\n" + SAMPLE, encoding="utf-8")
        last = self.scratch / "test_z.py"
        last.write_text(SAMPLE, encoding="utf-8")
        with mock.patch.object(_migrate_module, "migrate_module", fail_on_marker):
            status, out, err = run_main("--write", str(self.scratch))
        self.assertEqual((status, out), (3, ""))
        failed = [line for line in err.splitlines() if ": failed: " in line]
        self.assertEqual(
            failed,
            [
                f"{bad}:1:1: failed: RuntimeError: unforeseen (the file is left unchanged; "
                "please report this as a bug of tempcase migrate)"
            ],
        )
        self.assertIn("2 files rewritten (8 rewrites), 2 occurrences left alone, in 3 files", err)
        self.assertTrue(err.rstrip().endswith(", 1 failed"))
        self.assertEqual(bad.read_text(encoding="utf-8"), "# fail here\n" + SAMPLE)
        for done in (self.file, last):
            self.assertIn("create_temp_directory", done.read_text(encoding="utf-8"))

    def test_undecodable_files_are_reported_and_skipped(self) -> None:
        unknown = self.scratch / "unknown.py"
        unknown.write_bytes(b"# -*- coding: zlatin-1 -*-\nx = 1\n")
        mismatch = self.scratch / "mismatch.py"
        mismatch.write_bytes(b"# -*- coding: ascii -*-\n\nx = '\xc3\xa9'\n")
        status, out, err = run_main(str(self.scratch))
        self.assertEqual(status, 0)
        self.assertIn("+class UnpackTest(tempcase.TempFileTestCase, unittest.TestCase):", out)
        self.assertIn(
            f"{mismatch}:3:1: skipped: the file cannot be decoded as ascii (byte 0xc3)", err
        )
        self.assertIn(
            f"{unknown}:1:1: skipped: the file cannot be decoded (unknown encoding: zlatin-1)", err
        )
        self.assertIn("1 file to rewrite (4 rewrites), 3 occurrences left alone, in 3 files", err)

    def test_migrated_suite_runs_clean_where_the_original_leaked(self) -> None:
        suite = self.scratch / "suite"
        suite.mkdir()
        (suite / "test_legacy.py").write_text(
            SAMPLE.replace("self.assertTrue(os.path.isdir(self.make()))", "self.assertTrue(True)"),
            "utf-8",
        )
        args = ["-m", "tempcase", "discover", "-s", "suite", "--strict"]
        before = run_python(args, cwd=self.scratch)
        self.assertEqual(before.returncode, 1, before.stderr)
        self.assertIn("test_named", before.stderr + before.stdout)
        migrated = run_python(["-m", "tempcase", "migrate", "--write", "suite"], cwd=self.scratch)
        self.assertEqual(migrated.returncode, 0, migrated.stderr)
        after = run_python(args, cwd=self.scratch)
        self.assertEqual(after.returncode, 0, after.stdout + after.stderr)
        self.assertIn("Ran 3 tests", after.stderr)
        self.assertIn("OK", after.stderr)
        self.assertNotIn("leak", (after.stdout + after.stderr).lower())


# LEGACY_SUITE (tests/test_leaks.py) through migrate: the functions it rewrites
# ("Class.method", or a function's name at module level) ...
DEMO_CONVERTED = {
    "Leaky.test_named_delete_false",
    "Leaky.test_leaks_only_when_failing",
    "Leaky.test_read_only",
    "Leaky.test_subtest",
    "WellBehaved.test_mkstemp_removed",
}
# ... the ones where it leaves a maker call alone, and why ...
DEMO_REFUSED = {
    "setUpModule": "not in a TestCase method (in function setUpModule())",
    "Cycle.__init__": "Cycle.__init__() is not a test's instance method",
    "Leaky.test_mkdtemp": "the result is not assigned to one name",
    "Leaky.test_mkstemp": "'_' is bound more than once in test_mkstemp()",
    "Leaky.test_replace": "the descriptor 'fd' is used, not only closed",
    "ClassLeak.setUpClass": "in a classmethod: shared by the class's tests",
    "SharedDirectory.setUpClass": "in a classmethod: shared by the class's tests",
    "WellBehaved.test_skipped": "the result is not assigned to one name",
}
# ... and the leaking code it has no rewrite for: no maker call it can match
# (paths joined to gettempdir() or the real temp dir, a FIFO, a symlink, a
# child process, tempfile.mkdtemp handed to a thread, a watched directory, and
# what the module writes when it is imported, the session's leak).
DEMO_UNMATCHED = {
    None,
    "Leaky.test_hardcoded_under_gettempdir",
    "Leaky.test_child_process",
    "Leaky.test_thread",
    "Leaky.test_symlink_outside",
    "Leaky.test_fifo",
    "Leaky.test_real_temp_dir",
    "Leaky.test_watched",
}


def _each_function(source: str) -> Iterator[tuple[str, ast.FunctionDef]]:
    """The module-level functions and methods of *source*, as ``name`` or ``Class.method``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for func in node.body:
                if isinstance(func, ast.FunctionDef):
                    yield f"{node.name}.{func.name}", func


def _functions(source: str) -> dict[str, str]:
    """Each function of *source*, by name: its AST dump."""
    return {name: ast.dump(func) for name, func in _each_function(source)}


def _function_at(source: str, line: int) -> str:
    """The name of the function of *source* that holds *line*."""
    for name, func in _each_function(source):
        if func.lineno <= line <= (func.end_lineno or 0):
            return name
    raise AssertionError(f"line {line} is in no function")


def _leak_context(function: str | None) -> str | None:
    """The report's context for a leak of *function*: its test, its class for
    setUpClass, the module for setUpModule, the session for None."""
    if function is None:
        return None
    if function == "setUpModule":
        return LEGACY
    if function.endswith(".setUpClass"):
        return f"{LEGACY}.{function.split('.')[0]}"
    return f"{LEGACY}.{function}"


@needs_libcst
class LegacyDemoTest(unittest.TestCase):
    """The project's legacy demo suite (tests/test_leaks.py), converted by migrate, run."""

    def setUp(self) -> None:
        fresh_session(self)

    def run_suite(self, scratch: Path) -> tuple[tuple[int, str, str], list[LeakRow]]:
        proc, report = run_cli(scratch, LEGACY, "--watch", "watched", "--no-system-tmp")
        return outcome(proc), [row(leak) for leak in ours(report, scratch)]

    def test_converted_suite_keeps_its_outcomes_and_leaks_only_what_was_left_alone(
        self,
    ) -> None:
        original = legacy_scratch(self)
        before = self.run_suite(original)
        self.assertEqual(collections.Counter(before[1]), collections.Counter(LEGACY_LEAKS))

        scratch = legacy_scratch(self)  # the suite makes fixed names: a place of its own
        path = scratch / f"{LEGACY}.py"
        source = path.read_text(encoding="utf-8")
        migrated = run_python(["-m", "tempcase", "migrate", "--write", path.name], cwd=scratch)
        self.assertEqual(migrated.returncode, 0, migrated.stderr)
        converted = path.read_text(encoding="utf-8")

        # What migrate changed, and what it reported as left alone, function by function.
        old, new = _functions(source), _functions(converted)
        self.assertEqual(set(old), set(new))
        self.assertEqual({name for name in old if old[name] != new[name]}, DEMO_CONVERTED)
        skips = re.findall(r"^[^:\n]+:(\d+):\d+: skipped: (.*)$", migrated.stderr, re.M)
        refused = {_function_at(source, int(line)): reason for line, reason in skips}
        self.assertEqual(len(refused), len(skips), migrated.stderr)
        self.assertEqual(refused, DEMO_REFUSED)

        after = self.run_suite(scratch)
        # The same tests run, with the same failures, errors, skips and exit status.
        self.assertEqual(after[0], before[0])
        self.assertEqual(before[0][2], "FAILED (failures=1, skipped=1, expected failures=1)")
        # No converted test leaks; every other leak of the original is still there.
        converted_contexts = {_leak_context(name) for name in DEMO_CONVERTED}
        self.assertEqual([leak for leak in after[1] if leak[0] in converted_contexts], [])
        left_alone = {_leak_context(name) for name in [*DEMO_REFUSED, *DEMO_UNMATCHED]}
        remaining = [leak for leak in LEGACY_LEAKS if leak[0] in left_alone]
        self.assertEqual(collections.Counter(after[1]), collections.Counter(remaining))
        # Each leak of the original is either converted away or left with a reason.
        self.assertEqual(
            collections.Counter(LEGACY_LEAKS),
            collections.Counter(remaining)
            + collections.Counter(leak for leak in LEGACY_LEAKS if leak[0] in converted_contexts),
        )
        gone = sorted(leak[4] for leak in LEGACY_LEAKS if leak[0] in converted_contexts)
        self.assertEqual(gone, ["named-*", "onfail-*", "readonly-*", "subtest-*"])


class MissingLibcstTest(unittest.TestCase):
    def setUp(self) -> None:
        fresh_session(self)

    def test_missing_libcst_is_one_line_and_status_2(self) -> None:
        scratch = make_scratch(self)
        (scratch / "t.py").write_text("x = 1\n", encoding="utf-8")
        with mock.patch.dict(sys.modules, {"libcst": None}):
            status, out, err = run_main(str(scratch / "t.py"))
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(
            err,
            "python -m tempcase migrate: error: the migrate command needs libcst: "
            "pip install tempcase[migrate]\n",
        )


if __name__ == "__main__":
    unittest.main()
