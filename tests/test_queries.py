"""The SQL modules: every statement has its own name (a second assignment would silently replace the first)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import petition

PACKAGE = Path(petition.__file__).parent
SQL_MODULES = [PACKAGE / "queries.py", PACKAGE / "feedback" / "queries.py"]


@pytest.mark.parametrize("module", SQL_MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_sql_statement_name_is_given_twice(module: Path) -> None:
    seen: dict[str, int] = {}
    twice = []
    for node in ast.parse(module.read_text()).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                if target.id in seen:
                    twice.append(f"{target.id} (lines {seen[target.id]} and {node.lineno})")
                seen[target.id] = node.lineno
    assert not twice, f"named twice in {module.name}: {', '.join(twice)}"
