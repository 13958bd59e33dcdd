"""Identity resolution measured on real labelled data (Febrl, Splink fake people)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.identity.compare import date_similarity, jaro_winkler, soundex, within_one_edit
from ingest.identity.evaluate import evaluate_file, read_labelled
from ingest.identity.resolver import Weights, resolve

from .conftest import SHARED_DATA, TEST_DATA

FEBRL = (TEST_DATA / "febrl_dataset1.csv", "rec_id", r"rec-(\d+)")
SPLINK = (TEST_DATA / "splink_fake_1000.csv", "cluster", None)


def test_comparators_match_textbook_values() -> None:
    assert [soundex(w) for w in ("Robert", "Rupert", "Tymczak", "Pfister", "Ashcraft")] == [
        "R163",
        "R163",
        "T522",
        "P236",
        "A261",
    ]
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.961, abs=1e-3)
    assert jaro_winkler("dwayne", "duane") == pytest.approx(0.840, abs=1e-3)
    assert jaro_winkler("dixon", "dicksonx") == pytest.approx(0.813, abs=1e-3)
    assert within_one_edit("4011", "4101") and not within_one_edit("4011", "4110")
    assert date_similarity("19800402", "19800204") == 0.7 and date_similarity("19800402", "19500101") == 0


def test_febrl_dataset1_f1_at_least_0_99() -> None:
    quality = evaluate_file(FEBRL[0], truth_column=FEBRL[1], truth_pattern=FEBRL[2])
    assert quality["f1"] >= 0.99 and quality["precision"] >= 0.99
    assert quality["pair_completeness"] >= 0.99


@pytest.mark.parametrize("name", ["dataset2.csv", "dataset3.csv"])
def test_febrl_larger_sets_f1_at_least_0_99(name: str) -> None:
    path = SHARED_DATA / "febrl" / name
    if not path.exists():
        pytest.skip("../shared/data is not beside this checkout")
    quality = evaluate_file(path, truth_column="rec_id", truth_pattern=r"rec-(\d+)")
    assert quality["f1"] >= 0.99 and quality["pair_completeness"] >= 0.99


def test_splink_fake_people_regression_guard() -> None:
    # Measured 0.933 (precision 1.0, recall 0.875); the goal is 0.97 — see the README and issue note.
    quality = evaluate_file(SPLINK[0], truth_column=SPLINK[1])
    assert quality["f1"] >= 0.93 and quality["precision"] >= 0.99


def test_resolution_is_deterministic_whatever_the_input_order() -> None:
    records, _ = read_labelled(FEBRL[0], truth_column=FEBRL[1], truth_pattern=FEBRL[2])
    first = resolve(records)
    shuffled = records[:]
    random.Random(4).shuffle(shuffled)
    second = resolve(shuffled)
    assert first.clusters == second.clusters
    assert [(link.left, link.right, link.score) for link in first.links] == [
        (link.left, link.right, link.score) for link in second.links
    ]


def test_threshold_is_a_setting_that_trades_recall_for_precision() -> None:
    strict = evaluate_file(SPLINK[0], truth_column="cluster", weights=Weights(threshold=14))
    loose = evaluate_file(SPLINK[0], truth_column="cluster", weights=Weights(threshold=3))
    assert strict["recall"] < loose["recall"] and strict["precision"] >= loose["precision"]


def test_links_say_which_fields_agreed() -> None:
    records = [
        {"id": "a", "given": "Anna", "family": "Müller", "dob": "19800402", "email": "anna@example.de"},
        {"id": "b", "given": "Anna", "family": "Mueller", "dob": "19800402", "email": "anna@example.de"},
        {"id": "c", "given": "Jonas", "family": "Weber", "dob": "19750101", "email": "jw@example.de"},
    ]
    result = resolve(records)
    assert result.clusters == [["a", "b"], ["c"]]
    assert set(result.links[0].agreed) >= {"given", "dob", "email"}


def test_cli_evaluate_prints_metrics(tmp_path: Path) -> None:
    from kbcrm.cli import app

    result = CliRunner().invoke(
        app,
        ["identity", "evaluate", str(FEBRL[0]), "--truth-column", "rec_id", "--truth-pattern", r"rec-(\d+)", "--json"],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["f1"] >= 0.99 and body["records"] == 1000
    missing = CliRunner().invoke(app, ["identity", "evaluate", str(FEBRL[0]), "--truth-column", "nope"])
    assert missing.exit_code == 1 and "no column 'nope'" in missing.output
