"""The package's shape, as the README's "Development" section promises: short functions; and
docs that describe the code, with no issue numbers or commit hashes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO

MAX_LINES = 60  # of a function's code, its docstring not counted


def _long_functions(root: Path = REPO) -> list[str]:
    found = []
    for path in sorted((root / "w2v_spark").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines -= (first.end_lineno or first.lineno) - first.lineno + 1
            if lines > MAX_LINES:
                found.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_the_package_is_long():
    assert _long_functions() == []


def test_the_check_finds_a_long_function(tmp_path):
    """The check above can fail: a package with one long function is caught."""
    (tmp_path / "w2v_spark").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    (tmp_path / "w2v_spark" / "long.py").write_text(f'def f():\n    """Doc."""\n{body}\n')
    assert _long_functions(tmp_path) == [f"long.py:1 f ({MAX_LINES + 2} lines)"]


def test_docs_carry_no_issue_numbers_or_commit_hashes():
    docs = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    pattern = re.compile(r"\bissues? #?\d+|\(#\d+\)|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b", re.IGNORECASE)
    hits = [
        f"{d.relative_to(REPO)}: {m.group(0)}" for d in docs for m in pattern.finditer(d.read_text(encoding="utf-8"))
    ]
    assert hits == []
