"""The vector store beside the graph: parts per model, incremental, resumable, compacted (real USE embedder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from knowledge_transfer import vectors as vector_store
from knowledge_transfer.embeddings import Embedder, get_embedder
from knowledge_transfer.vectors import VectorCache, text_hash

TEXTS = [f"Pump P-{i} reports error E-{1000 + i} after the firmware update" for i in range(300)]


class Interrupted(RuntimeError):
    """Raised to stop an embedding run midway, as a killed process would."""


class CountingEmbedder:
    """The real multilingual embedder, counting the texts it encodes and optionally failing after `fail_after`."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.real: Embedder = get_embedder("use")
        self.model_id, self.dim, self.one_at_a_time = self.real.model_id, self.real.dim, self.real.one_at_a_time
        self.encoded = 0
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and self.encoded >= self.fail_after:
            raise Interrupted(f"stopped after {self.encoded} texts")
        self.encoded += len(texts)
        return self.real.encode(texts)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_store, "PART_SIZE", 64)
    monkeypatch.setattr(vector_store, "ENCODE_CHUNK", 32)


def _parts(directory: Path, model_id: str) -> list[Path]:
    return sorted((directory / model_id).glob("part-*.npz"))


def test_only_new_texts_are_embedded_and_each_run_writes_only_its_own(tmp_path: Path, small_parts: None) -> None:
    first = CountingEmbedder()
    cache = VectorCache(tmp_path, first)
    progress: list[tuple[int, int]] = []
    matrix = cache.vectors(TEXTS[:200], on_progress=lambda done, total: progress.append((done, total)))
    assert first.encoded == 200 and matrix.shape == (200, first.dim)
    assert progress[-1] == (200, 200) and len(progress) == 7  # every 32 texts
    assert len(_parts(tmp_path, first.model_id)) == 4  # 64 + 64 + 64 + 8
    # A second process (a new cache on the same directory) embeds only the 100 texts it has not seen.
    second = CountingEmbedder()
    again = VectorCache(tmp_path, second).vectors(TEXTS)
    assert second.encoded == 100
    np.testing.assert_array_equal(again[:200], matrix)
    assert np.allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    third = CountingEmbedder()
    assert VectorCache(tmp_path, third).vectors(TEXTS).shape[0] == 300 and third.encoded == 0


def test_an_interrupted_run_resumes_after_its_last_part(tmp_path: Path, small_parts: None) -> None:
    killed = CountingEmbedder(fail_after=150)
    with pytest.raises(Interrupted):
        VectorCache(tmp_path, killed).vectors(TEXTS)
    # Parts of 64 were written as they filled: 128 texts survived the interruption, the rest did not.
    survived = VectorCache(tmp_path, CountingEmbedder())
    assert len(survived) == 128
    resumed = CountingEmbedder()
    VectorCache(tmp_path, resumed).vectors(TEXTS)
    assert resumed.encoded == 300 - 128


def test_model_id_and_dimension_are_checked_on_load(tmp_path: Path, small_parts: None) -> None:
    cache = VectorCache(tmp_path, CountingEmbedder())
    cache.vectors(TEXTS[:10])
    part = _parts(tmp_path, cache.model_id)[0]
    with np.load(part) as data:
        assert str(data["model_id"]) == cache.model_id and int(data["dim"]) == cache.dim == 512
        stored = dict(data)
    # A part that claims another dimension (written by another model) is never mixed in.
    np.savez(part, **{**stored, "dim": np.array(384)})
    fresh = CountingEmbedder()
    VectorCache(tmp_path, fresh).vectors(TEXTS[:10])
    assert fresh.encoded == 10


def test_compact_merges_parts_and_drops_what_is_gone(tmp_path: Path, small_parts: None) -> None:
    cache = VectorCache(tmp_path, CountingEmbedder())
    before = cache.vectors(TEXTS[:150])
    assert len(_parts(tmp_path, cache.model_id)) == 3
    dropped = cache.compact(keep={text_hash(t) for t in TEXTS[50:150]})
    assert dropped == 50 and len(_parts(tmp_path, cache.model_id)) == 1
    reloaded = CountingEmbedder()
    after = VectorCache(tmp_path, reloaded).vectors(TEXTS[50:150])
    assert reloaded.encoded == 0
    np.testing.assert_array_equal(after, before[50:150])


def test_too_many_parts_are_merged_by_the_next_run(
    tmp_path: Path, small_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_store, "MAX_PARTS", 3)
    cache = VectorCache(tmp_path, CountingEmbedder())
    cache.vectors(TEXTS[:300])  # five parts of 64 … then merged
    assert len(_parts(tmp_path, cache.model_id)) == 1
    assert len(VectorCache(tmp_path, CountingEmbedder())) == 300


def test_the_earlier_single_file_layout_is_still_read(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    vectors = embedder.encode(TEXTS[:5])
    np.savez(
        tmp_path / f"{embedder.model_id}.npz",
        model_id=np.array(embedder.model_id),
        dim=np.array(embedder.dim),
        hashes=np.array([text_hash(t) for t in TEXTS[:5]]),
        vectors=vectors,
    )
    reader = CountingEmbedder()
    np.testing.assert_array_equal(VectorCache(tmp_path, reader).vectors(TEXTS[:5]), vectors)
    assert reader.encoded == 0


def test_vectors_of_another_shape_are_refused(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path, CountingEmbedder())
    with pytest.raises(ValueError, match="expected 2 vectors of 512"):
        cache.add(["a", "b"], np.zeros((2, 384), dtype=np.float32))
