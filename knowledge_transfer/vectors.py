"""Embeddings kept beside the graph, keyed by model and content, so only new or changed texts are embedded.

Each model has a directory, `<data_dir>/vectors/<model_id>/`, of part files. A part
(`part-*.npz`) holds, for some texts, the SHA-1 of the text and its vector, and beside
them the model id and the dimension, which are checked on load: a part another model
wrote is never mixed into this model's vector space. New vectors are written as a new
part every `PART_SIZE` texts, so

- an ingest writes only what it embedded (no rewrite of the whole store),
- a killed embedding job resumes after its last written part,
- two processes (the server and an ingest) never overwrite each other's parts.

When a model has more than `MAX_PARTS` parts they are merged into one (`compact`), and
`compact(keep=…)` also drops the vectors of texts that no longer exist. A file
`<model_id>.npz` from an earlier layout is read as one more part.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np

from knowledge_transfer.embeddings import Embedder

PART_SIZE = 2048
ENCODE_CHUNK = 128
MAX_PARTS = 16


def text_hash(text: str) -> str:
    """Content key of a text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Vectors of one embedder, by text hash, persisted as part files."""

    def __init__(self, directory: Path | None, embedder: Embedder) -> None:
        self.embedder = embedder
        self.model_id, self.dim = embedder.model_id, embedder.dim
        self.directory = directory / embedder.model_id if directory else None
        self.legacy = directory / f"{embedder.model_id}.npz" if directory else None
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((0, self.dim), dtype=np.float32)
        self.embedded_last = 0
        self._parts: list[Path] = []
        self._load()

    def _load(self) -> None:
        chunks: list[np.ndarray] = []
        count = 0
        for path in self._part_paths():
            try:
                with np.load(path, allow_pickle=False) as data:
                    if str(data["model_id"]) != self.model_id or int(data["dim"]) != self.dim:
                        continue
                    hashes, vectors = data["hashes"].tolist(), data["vectors"].astype(np.float32)
            except (FileNotFoundError, OSError, KeyError, ValueError):
                continue  # merged away by another process meanwhile, or unreadable: re-embedded if needed
            self._parts.append(path)
            fresh = [i for i, h in enumerate(hashes) if h not in self.rows]
            for offset, i in enumerate(fresh):
                self.rows[hashes[i]] = count + offset
            chunks.append(vectors[fresh])
            count += len(fresh)
        if chunks:
            self.matrix = np.vstack(chunks)

    def _part_paths(self) -> list[Path]:
        paths = sorted(self.directory.glob("part-*.npz")) if self.directory and self.directory.is_dir() else []
        if self.legacy and self.legacy.is_file():
            paths.insert(0, self.legacy)
        return paths

    def __len__(self) -> int:
        return len(self.rows)

    def missing(self, texts: Sequence[str]) -> dict[str, str]:
        """The texts (by hash) that have no vector yet."""
        return {h: t for h, t in ((text_hash(t), t) for t in texts) if h not in self.rows}

    def vectors(self, texts: Sequence[str], *, on_progress: Callable[[int, int], object] | None = None) -> np.ndarray:
        """Vectors for the texts, embedding (and saving, part by part) only those not seen before.

        `on_progress(done, total)` is called every `ENCODE_CHUNK` texts with the count embedded so far.
        """
        missing = self.missing(texts)
        self.embedded_last = len(missing)
        pending = list(missing.items())
        keys: list[str] = []
        made: list[np.ndarray] = []
        for start in range(0, len(pending), ENCODE_CHUNK):
            chunk = pending[start : start + ENCODE_CHUNK]
            keys += [h for h, _ in chunk]
            made.append(self.embedder.encode([t for _, t in chunk]))
            if len(keys) >= PART_SIZE or start + ENCODE_CHUNK >= len(pending):
                self.add(keys, np.vstack(made))
                keys, made = [], []
            if on_progress is not None:
                on_progress(start + len(chunk), len(pending))
        if len(self._parts) > MAX_PARTS:
            self.compact()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.matrix[[self.rows[text_hash(t)] for t in texts]]

    def add(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Keep vectors made elsewhere (same model) and write them as one part."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(hashes), self.dim):
            raise ValueError(f"{self.model_id}: expected {len(hashes)} vectors of {self.dim}, got {vectors.shape}")
        start = self.matrix.shape[0]
        self.matrix = np.vstack([self.matrix, vectors]) if start else vectors
        for offset, h in enumerate(hashes):
            self.rows[h] = start + offset
        if self.directory is not None:
            self._parts.append(self._write(f"part-{uuid.uuid4().hex}.npz", list(hashes), vectors))

    def compact(self, keep: Collection[str] | None = None) -> int:
        """Merge the parts into one, keeping only the hashes in `keep` when given; returns vectors dropped."""
        ordered = sorted(self.rows, key=self.rows.__getitem__)
        kept = [h for h in ordered if keep is None or h in keep]
        dropped = len(ordered) - len(kept)
        self.matrix = self.matrix[[self.rows[h] for h in kept]] if kept else np.zeros((0, self.dim), np.float32)
        self.rows = {h: i for i, h in enumerate(kept)}
        if self.directory is None:
            return dropped
        old, self._parts = self._parts, []
        # "part-0…" sorts first, so a reader that lists the directory mid-compaction sees the merged part.
        merged = self._write(f"part-0-{uuid.uuid4().hex}.npz", kept, self.matrix)
        for path in old:
            path.unlink(missing_ok=True)
        self._parts = [merged]
        return dropped

    def _write(self, name: str, hashes: list[str], vectors: np.ndarray) -> Path:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        tmp = self.directory / f".{name}.tmp.npz"
        np.savez(
            tmp, model_id=np.array(self.model_id), dim=np.array(self.dim), hashes=np.array(hashes), vectors=vectors
        )
        os.replace(tmp, path)
        return path
