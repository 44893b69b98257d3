"""Only PostgreSQL, Chromium and the Noto fonts may be missing: every other tool a test uses comes with
`pip install -e '.[test]'`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .system_services import CHROMIUM, NOTO, POSTGRESQL, SERVICES, SKIP_PREFIX, need

TESTS = Path(__file__).resolve().parent
# Who may skip (outside CI) for a missing system service, and for which.
NEEDS = {
    "conftest.py": {"POSTGRESQL"},  # the PostgreSQL half of every database test
    "test_cli.py": {"POSTGRESQL"},  # `migrate` against a PostgreSQL server
    "test_backup.py": {"POSTGRESQL"},  # the pg_dump command `backup` gives, run against the server
    "test_browser.py": {"CHROMIUM"},  # pages in a real browser
    "test_processes.py": {"POSTGRESQL"},  # several server processes share one database
    "test_flyer_scripts.py": {"NOTO"},  # flyers in Japanese, Devanagari, emoji
}
SKIPPING = {"skip", "skipif", "importorskip"}


def calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def name_of(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def test_only_postgresql_chromium_and_noto_may_be_missing() -> None:
    assert set(SERVICES) == {POSTGRESQL, CHROMIUM, NOTO}
    with pytest.raises(ValueError, match="not a system service"):
        need("zbarimg", there=False)


def test_these_tests_and_no_others_need_a_system_service() -> None:
    found: dict[str, set[str]] = {}
    for path in sorted(TESTS.glob("*.py")):
        if path.name in {"system_services.py", "test_system_services.py"}:
            continue
        tree = ast.parse(path.read_text())
        for call in calls(tree):
            if name_of(call.func) == "need" and call.args:
                found.setdefault(path.name, set()).add(name_of(call.args[0]))
            where = f"{path.name}:{call.lineno}"
            assert name_of(call.func) not in SKIPPING, f"{where} skips; use need() for a system service"
            assert name_of(call.func) != "which", f"{where} looks for a program on the PATH"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in SKIPPING and name_of(node.value) in {"mark", "pytest"}:
                raise AssertionError(f"{path.name}:{node.lineno} skips; use need() for a system service")
    assert found == NEEDS


def test_a_skip_for_any_other_reason_fails_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.system_services import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(
        test_sample=f"""
        import pytest

        def test_skipped_for_a_missing_tool():
            pytest.skip("zbarimg is not installed")

        def test_skipped_for_a_system_service():
            pytest.skip("{SKIP_PREFIX} PostgreSQL")

        @pytest.mark.xfail(reason="known")
        def test_expected_to_fail():
            assert False
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped for a reason other than a missing system service*zbarimg*"])
