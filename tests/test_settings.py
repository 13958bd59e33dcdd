"""Settings: one class, KBCRM_* variables, each documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbcrm.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"`KBCRM_{name.upper()}`" in README.read_text(), f"document KBCRM_{name.upper()} in README.md"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KBCRM_APPENDFSYNC", "always")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.appendfsync == "always"
    assert settings.graph_dir == tmp_path / "graph" and settings.is_embedded


def test_graph_uri_selects_the_backend() -> None:
    assert Settings(graph_uri="falkordb+embedded:///srv/kb").graph_dir == Path("/srv/kb")
    assert not Settings(graph_uri="neo4j+s://db.example:7687").is_embedded


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="appendfsync"):
        Settings(appendfsync="never")  # type: ignore[arg-type]
