"""all-MiniLM-L6-v2 with int8 weights on onnxruntime: the default English question and document encoder.

The numpy port (`MiniLMEmbedder`) runs the model in float32 at numpy's GEMM speed, close to
one core's peak here, so a new question cost 5-6 ms of CPU whatever the batch; it was most
of what a portal search for a new question costs (docs/portal-load.md). Here the same weights
become an ONNX graph whose dense layers onnxruntime's dynamic quantisation turns into int8
matrix products (`onnx_int8`): about a third of the CPU per question, at a cosine of about
0.994 to the float32 vectors, and retrieval quality within 0.3 points on every metric of
StackFAQ and Banking77 (README). The port's loader reads the tokenizer (and the weights,
only to build the graph).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowledge_transfer.embeddings import MiniLMEmbedder, mean_pool, minilm_path
from knowledge_transfer.onnx_int8 import GraphWriter, cached_model, open_session

# Bumped whenever onnx_graph() changes, so cached models from an older graph are not used.
GRAPH_VERSION = 1


def onnx_graph(port: MiniLMEmbedder) -> bytes:
    """The float32 BERT forward pass of the port's weights as a serialised ONNX model (opset 20).

    Inputs: `ids` (texts x length, int64), `positions` (length, int64) and `mask_bias`
    (texts x 1 x 1 x length, float32: 0 for a token, -1e9 for padding). Output: `hidden`, the last
    hidden states (texts x length x 384); pooling stays with the caller, as in the port.
    """
    from onnx import TensorProto, helper

    w, heads = port.w, port.heads
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    g = GraphWriter()

    def dense(x: str, name: str) -> str:
        return g.dense(x, name, w[f"{name}.weight"], w[f"{name}.bias"])

    def layer_norm(x: str, name: str) -> str:
        return g.layer_norm(x, name, w[f"{name}.weight"], w[f"{name}.bias"], port.eps)

    words = g.node("Gather", g.const("words", w["embeddings.word_embeddings.weight"]), "ids")
    places = g.node("Gather", g.const("places", w["embeddings.position_embeddings.weight"]), "positions")
    token_type = g.const("token_type", w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(g.node("Add", g.node("Add", words, places), token_type), "embeddings.LayerNorm")
    split = g.const("split_heads", np.array([0, 0, 3, heads, hidden // heads], dtype=np.int64))
    join = g.const("join_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const("scale", np.array(1 / np.sqrt(hidden // heads), dtype=np.float32))
    parts = [g.const(f"part{j}", np.array(j, dtype=np.int64)) for j in range(3)]
    for i in range(port.layers):
        p = f"encoder.layer.{i}"
        # (texts, length, 3 x hidden) -> (3, texts, heads, length, head): query, key and value per head
        qkv = g.node("Transpose", g.node("Reshape", dense(x, f"{p}.attention.self.qkv"), split), perm=[2, 0, 3, 1, 4])
        q, k, v = (g.node("Gather", qkv, part, axis=0) for part in parts)
        scores = g.node(
            "Add", g.node("Mul", g.node("MatMul", q, g.node("Transpose", k, perm=[0, 1, 3, 2])), scale), "mask_bias"
        )
        context = g.node("MatMul", g.node("Softmax", scores, axis=-1), v)
        context = g.node("Reshape", g.node("Transpose", context, perm=[0, 2, 1, 3]), join)
        x = layer_norm(
            g.node("Add", dense(context, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm"
        )
        ffn = dense(g.node("Gelu", dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
        x = layer_norm(g.node("Add", ffn, x), f"{p}.output.LayerNorm")
    return g.serialise(
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["texts", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask_bias", TensorProto.FLOAT, ["texts", 1, 1, "length"]),
        ],
        x,
        helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["texts", "length", hidden]),
    )


def cached_minilm(path: Path, cache: Path | None = None) -> Path:
    """The int8 model file for the weights in model directory `path`, built into the cache the first time."""
    return cached_model(
        MiniLMInt8Embedder.model_id,
        [path / "model.safetensors"],
        GRAPH_VERSION,
        lambda: onnx_graph(MiniLMEmbedder(path)),  # the float32 weights are read only here
        cache,
    )


class MiniLMInt8Embedder(MiniLMEmbedder):
    """all-MiniLM-L6-v2 with int8 dense layers, run by onnxruntime on the calling thread.

    Tokenising and mean pooling are the port's; only the forward pass differs, and it takes
    one text at a time. Its vectors differ from the float32 model's (cosine about 0.994), so they carry
    their own model id and a switch between the two re-embeds the stored documents.
    """

    model_id = "all-MiniLM-L6-v2-int8"
    one_at_a_time = True  # BatchingEncoder calls it from each asking thread instead of queueing texts

    def __init__(self, path: Path | None = None, *, cache: Path | None = None) -> None:
        path = path or minilm_path()
        # One text per forward pass. Activations are quantised with one scale per tensor, the whole batch's:
        # in a batch, a text's vector would depend on the texts (and padding) it shares the batch with, so the
        # same question could rank differently under load. Alone, its vector depends on its own text only.
        # int8 gains little from batching anyway: 1.9 ms per question alone, 1.7 ms in batches of 8 (README).
        super().__init__(path, batch_size=1, weights=False)
        self.session = open_session(lambda: cached_minilm(path, cache))

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled last hidden states from the int8 graph."""
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        positions = np.arange(ids.shape[1], dtype=np.int64)
        (hidden,) = self.session.run(None, {"ids": ids, "positions": positions, "mask_bias": bias})
        return mean_pool(hidden, mask)
