"""Embeddings kept beside the graph, keyed by model and content, so only new or changed texts are embedded.

One file per model (`<data_dir>/vectors/<model_id>.npz`) holds, for each embedded text,
the SHA-1 of the text and its vector; the model id and dimension are stored in the file
and checked on load, so a model change can never mix vector spaces (the file is rebuilt).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge_transfer.embeddings import Embedder


def text_hash(text: str) -> str:
    """Content key of a text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Vectors of one embedder, by text hash, persisted in one file."""

    def __init__(self, directory: Path | None, embedder: Embedder) -> None:
        self.embedder = embedder
        self.path = directory / f"{embedder.model_id}.npz" if directory else None
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self.embedded_last = 0
        if self.path and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["model_id"]) == embedder.model_id and int(data["dim"]) == embedder.dim:
                    self.matrix = data["vectors"].astype(np.float32)
                    self.rows = {h: i for i, h in enumerate(data["hashes"].tolist())}

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for the texts, embedding only those not seen before; saves when anything was new."""
        hashes = [text_hash(t) for t in texts]
        missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in self.rows}
        self.embedded_last = len(missing)
        if missing:
            fresh = self.embedder.encode(list(missing.values()))
            start = self.matrix.shape[0]
            self.matrix = np.vstack([self.matrix, fresh]) if start else fresh
            for offset, h in enumerate(missing):
                self.rows[h] = start + offset
            self._save()
        if not hashes:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self.matrix[[self.rows[h] for h in hashes]]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.rows, key=self.rows.__getitem__)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            model_id=np.array(self.embedder.model_id),
            dim=np.array(self.embedder.dim),
            hashes=np.array(ordered),
            vectors=self.matrix,
        )
        os.replace(tmp, self.path)
