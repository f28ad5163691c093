"""The package's shape, as docs/architecture.md and CONTRIBUTING.md promise: short functions,
subpackages whose imports only point down their layers (so no import cycle between them), and
docs that describe the code, with no issue numbers or commit hashes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import REPO

MAX_LINES = 60  # of a function's code, its docstring not counted


def _long_functions(root: Path = REPO) -> list[str]:
    found = []
    for path in sorted((root / "w2v_spark").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines -= (first.end_lineno or first.lineno) - first.lineno + 1
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(root / 'w2v_spark')}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_the_package_is_long():
    assert _long_functions() == []


def test_the_check_finds_a_long_function(tmp_path):
    """The check above can fail: a package with one long function is caught."""
    (tmp_path / "w2v_spark" / "train").mkdir(parents=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    (tmp_path / "w2v_spark" / "train" / "long.py").write_text(f'def f():\n    """Doc."""\n{body}\n')
    assert _long_functions(tmp_path) == [f"train/long.py:1 f ({MAX_LINES + 2} lines)"]


def test_docs_carry_no_issue_numbers_or_commit_hashes():
    docs = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
    pattern = re.compile(r"\bissues? #?\d+|\(#\d+\)|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b", re.IGNORECASE)
    hits = [
        f"{d.relative_to(REPO)}: {m.group(0)}" for d in docs for m in pattern.finditer(d.read_text(encoding="utf-8"))
    ]
    assert hits == []


# The subpackages, lowest first: a module may import its own subpackage, those below it, and the
# top-level modules (config, errors, private and the package's own __init__), never one above.
LAYERS = ["kernels", "runtime", "text", "io", "train", "job", "ml", "cli"]


def _imports(root: Path = REPO) -> list[tuple[str, str, int]]:
    """(importing subpackage or "" for a top-level module, imported subpackage, line) for every
    import of a w2v_spark subpackage, function-level ones included."""
    found = []
    for path in sorted((root / "w2v_spark").rglob("*.py")):
        parts = path.relative_to(root / "w2v_spark").parts
        where = parts[0] if len(parts) > 1 else ""
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "w2v_spark":
                names = [f"w2v_spark.{a.name}" for a in node.names]
            for name in names:
                bits = name.split(".")
                if bits[0] == "w2v_spark" and len(bits) > 1 and bits[1] in LAYERS:
                    found.append((where, bits[1], node.lineno))
    return found


def _upward(root: Path = REPO) -> list[str]:
    return [
        f"{where or '(top level)'} imports {target} (line {line})"
        for where, target, line in _imports(root)
        if where in LAYERS and LAYERS.index(target) > LAYERS.index(where)
    ]


def test_subpackages_import_only_their_own_layer_and_those_below():
    assert _upward() == []


def test_the_layer_check_finds_an_upward_import(tmp_path):
    (tmp_path / "w2v_spark" / "train").mkdir(parents=True)
    (tmp_path / "w2v_spark" / "train" / "x.py").write_text("from w2v_spark.job import run\n")
    assert _upward(tmp_path) == ["train imports job (line 1)"]


README_LINES = 250  # a manual; references live in docs/


def test_the_readme_is_a_manual_of_at_most_250_lines():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= README_LINES


_CITED = re.compile(r"((?:docs/[\w/.-]+|CONTRIBUTING)\.md)#([\w-]+)")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    return set(re.findall(r'<a id="([\w-]+)"', text))


def _broken_citations(root: Path = REPO) -> list[str]:
    """Doc anchors cited by the code, its messages and --help, and the tests that do not exist."""
    files = [*(root / "w2v_spark").rglob("*.py"), *(root / "tests").rglob("*.py"), *(root / "conf").glob("*")]
    broken = []
    for path in sorted(p for p in files if p.resolve() != Path(__file__).resolve()):  # this file cites examples
        for page, anchor in _CITED.findall(path.read_text(encoding="utf-8")):
            target = root / page
            if not target.exists() or anchor not in _anchors(target):
                broken.append(f"{path.relative_to(root)}: {page}#{anchor}")
    return broken


def test_every_doc_anchor_the_code_cites_exists():
    assert _broken_citations() == []


def test_the_anchor_check_finds_a_missing_one(tmp_path):
    (tmp_path / "w2v_spark").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text('<a id="here"></a>Text.\n')
    (tmp_path / "w2v_spark" / "m.py").write_text("# see docs/a.md#here and docs/a.md#gone\n")
    assert _broken_citations(tmp_path) == ["w2v_spark/m.py: docs/a.md#gone"]
