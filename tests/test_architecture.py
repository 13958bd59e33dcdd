"""Layering rules of the codebase, checked on the source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ontology <- kbcrm <- ingest, knowledge_transfer <- api
ALLOWED = {
    "ontology": {"ontology"},
    "kbcrm": {"ontology", "kbcrm"},
    "ingest": {"ontology", "kbcrm", "ingest"},
    "knowledge_transfer": {"ontology", "kbcrm", "ingest", "knowledge_transfer"},
    "api": {"ontology", "kbcrm", "ingest", "knowledge_transfer", "api"},
}
PROJECT = set(ALLOWED)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        if package == "kbcrm" and path.name == "cli.py":
            continue  # the CLI is the composition root and may call every layer
        wrong = _imports(path) - ALLOWED[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_no_cypher_in_http_handlers() -> None:
    pattern = re.compile(r"\b(MATCH|MERGE|CREATE|DETACH)\s*\(", re.I)
    for path in (ROOT / "api").rglob("*.py"):
        assert not pattern.search(path.read_text()), f"{path.relative_to(ROOT)} contains Cypher"


def test_torch_stays_out_of_paths_that_do_not_embed() -> None:
    code = "import sys, api.app, kbcrm.cli, kbcrm.demo.load, kbcrm.rdf; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
