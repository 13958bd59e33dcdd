"""Third-party data evaluation against the customers in the graph (nothing is loaded)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.readers import SourceFileError
from ingest.vendor import evaluate_vendor
from kbcrm.graph.falkordb_backend import FalkorDBStore

TODAY = date(2026, 11, 23)


def _age(dob: str) -> int:
    born = date.fromisoformat(dob)
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


def _vendor_file(demo_dir: Path, tmp_path: Path) -> tuple[Path, int, int]:
    with (demo_dir / "truth" / "customers.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    rows, people = [], 0
    for i, customer in enumerate(truth[:30]):
        person = customer["kind"] == "person"
        people += person
        rows.append(
            {
                "email": customer["email"].upper() if i % 3 == 0 else customer["email"],
                "city": customer["city"] if i < 25 else "Atlantis",
                "country": customer["country"],
                "age": str(_age(customer["birth_date"])) if person else "",
                "income_band": "" if i % 2 else "B",
            }
        )
    rows += [
        {"email": f"stranger{i}@example.org", "city": "Paris", "country": "FR", "age": "40", "income_band": "C"}
        for i in range(10)
    ]
    path = tmp_path / "vendor.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, len(rows), people


def test_match_fill_and_accuracy(demo_store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> None:
    path, total, people = _vendor_file(demo_dir, tmp_path)
    result = evaluate_vendor(demo_store, path, key="email", today=TODAY)
    assert result["rows"] == total == 40 and result["matched"] == 30
    assert result["match_rate"] == pytest.approx(0.75)
    assert result["fill_rate_by_attribute"]["city"] == 1.0
    assert result["fill_rate_by_attribute"]["income_band"] == pytest.approx((15 + 10) / 40)
    assert result["accuracy"]["city"] == {"compared": 30, "agree": 25, "accuracy": pytest.approx(25 / 30)}
    assert result["accuracy"]["country"]["accuracy"] == 1.0
    if people:
        assert result["accuracy"]["age"] == {"compared": people, "agree": people, "accuracy": 1.0}
    assert demo_store.count_nodes("Customer") == 40  # nothing was loaded


def test_bad_keys_and_columns_are_one_line_errors(demo_store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> None:
    path, _, _ = _vendor_file(demo_dir, tmp_path)
    with pytest.raises(SourceFileError, match="needs column"):
        evaluate_vendor(demo_store, path, key="phone")
    with pytest.raises(SourceFileError, match="use one of email, phone, name\\+dob"):
        evaluate_vendor(demo_store, path, key="shoe_size")
    with pytest.raises(SourceFileError, match="requested attribute"):
        evaluate_vendor(demo_store, path, key="email", requested=["net_worth"])


def test_cli_prints_json(
    demo_store: FalkorDBStore, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded
) -> None:
    from kbcrm.cli import app
    from kbcrm.settings import get_settings

    path, _, _ = _vendor_file(demo_dir, tmp_path)
    monkeypatch.setenv("KBCRM_GRAPH_URI", f"falkordb+embedded://{embedded.directory}")
    monkeypatch.setenv("KBCRM_GRAPH_NAME", demo_store.graph_name)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ingest", "evaluate-vendor", str(path), "--key", "email", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["matched"] == 30
