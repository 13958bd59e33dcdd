"""The `kbcrm` command line, end to end against a real embedded graph in a temporary data dir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rdflib import Graph
from typer.testing import CliRunner

from kbcrm.cli import app
from kbcrm.graph import embedded_server
from kbcrm.settings import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    embedded_server().destroy()
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_load_export_sparql_stop(data_dir: Path, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    _ok("demo-data", "--customers", "15", "--seed", "2", "--out", str(demo))
    assert json.loads((demo / "manifest.json").read_text())["customers"] == 15
    _ok("load-demo", str(demo))
    status = _ok("store", "status")
    assert "embedded FalkorDB" in status and "nodes" in status

    ttl = tmp_path / "graph.ttl"
    assert "triples" in _ok("export", "--out", str(ttl), "--format", "turtle")
    jsonld = tmp_path / "graph.jsonld"
    _ok("export", "--out", str(jsonld), "--format", "json-ld")
    assert len(Graph().parse(ttl)) == len(Graph().parse(jsonld, format="json-ld")) > 1000

    out = _ok("sparql", "SELECT (COUNT(?c) AS ?n) WHERE { ?c a kb:Customer }", "--rdf-file", str(ttl))
    assert "15" in out
    refused = CliRunner().invoke(app, ["sparql", "DELETE WHERE { ?s ?p ?o }", "--rdf-file", str(ttl)])
    assert refused.exit_code == 1 and "refused" in refused.output

    first = _ok("ingest", "customers", str(demo / "sales_customers.csv"), "--mapping", "sales")
    assert "15" in first and "run " in first
    again = _ok("ingest", "customers", str(demo / "sales_customers.csv"), "--mapping", "sales")
    assert "│ 15   │ 0       │ 0       │ 15        │ 0        │" in again
    origin = _ok("why", "sales:S0000001")
    assert "customers" in origin and "│ 2 " in origin
    _ok("ingest", "customers", str(demo / "service_customers.jsonl"), "--mapping", "service")
    _ok("ingest", "customers", str(demo / "billing_accounts.csv"), "--mapping", "billing")
    resolved = _ok("identity", "resolve")
    assert "-> 15 customers" in resolved and "F1 1.000" in resolved
    bad_kind = CliRunner().invoke(app, ["ingest", "spaceships", str(ttl), "--mapping", "sales"])
    assert bad_kind.exit_code == 2 and "No such command" in bad_kind.output

    assert "stopped" in _ok("store", "stop")
    assert embedded_server().running_pid() is None


def test_bad_arguments_get_one_line_errors(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["load-demo", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no manifest.json" in result.output
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "x"), "--format", "xml"])
    assert result.exit_code == 1 and "turtle or json-ld" in result.output


def test_settings_command_lists_every_setting() -> None:
    out = _ok("settings")
    for name in type(get_settings()).model_fields:
        assert f"KBCRM_{name.upper()}" in out
