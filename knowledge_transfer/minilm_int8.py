"""all-MiniLM-L6-v2 with int8 weights on onnxruntime: the default English question and document encoder.

The numpy port (`MiniLMEmbedder`) runs the model in float32 at numpy's GEMM speed, close to
one core's peak here, so a new question cost 5-6 ms of CPU whatever the batch; it was most
of what a portal search for a new question costs (README, Benchmarks). Here the same weights
become an ONNX graph whose dense layers onnxruntime's dynamic quantisation turns into int8
matrix products (weights per output channel, activations per tensor, quantised at run time):
about a third of the CPU per question, at a cosine of about 0.994 to the float32 vectors, and
retrieval quality within 0.3 points on every metric of StackFAQ and Banking77 (README).

The graph is built from the model directory's own files (no download, no converted model
shipped): the port's loader reads the tokenizer (and the weights, only to build); this module writes the graph with
`onnx`'s helpers, quantises it and keeps the result in a cache directory
(`KBCRM_MODEL_CACHE`, default `~/.cache/kbcrm`), named by a hash of the weights file, this
module's graph version and onnxruntime's version, so a changed model or runtime builds anew.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_transfer.embeddings import MiniLMEmbedder, mean_pool, minilm_path

# Bumped whenever onnx_graph() changes, so cached models from an older graph are not used.
GRAPH_VERSION = 1


def model_cache() -> Path:
    """Where built models are kept: KBCRM_MODEL_CACHE, else $XDG_CACHE_HOME/kbcrm or ~/.cache/kbcrm."""
    configured = os.environ.get("KBCRM_MODEL_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kbcrm"


def onnx_graph(port: MiniLMEmbedder) -> bytes:
    """The float32 BERT forward pass of the port's weights as a serialised ONNX model (opset 20).

    Inputs: `ids` (texts x length, int64), `positions` (length, int64) and `mask_bias`
    (texts x 1 x 1 x length, float32: 0 for a token, -1e9 for padding). Output: `hidden`, the last
    hidden states (texts x length x 384); pooling stays with the caller, as in the port.
    """
    from onnx import TensorProto, checker, helper, numpy_helper

    w, heads = port.w, port.heads
    hidden = w["embeddings.word_embeddings.weight"].shape[1]
    initialisers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        initialisers.append(numpy_helper.from_array(np.ascontiguousarray(value) if value.ndim else value, name))
        return name

    def node(op: str, *inputs: str, **attributes: Any) -> str:
        output = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, list(inputs), [output], **attributes))
        return output

    def dense(x: str, name: str) -> str:
        return node(
            "Add", node("MatMul", x, const(f"{name}.w", w[f"{name}.weight"])), const(f"{name}.b", w[f"{name}.bias"])
        )

    def layer_norm(x: str, name: str) -> str:
        return node(
            "LayerNormalization",
            x,
            const(f"{name}.g", w[f"{name}.weight"]),
            const(f"{name}.b", w[f"{name}.bias"]),
            axis=-1,
            epsilon=port.eps,
        )

    words = node("Gather", const("words", w["embeddings.word_embeddings.weight"]), "ids")
    places = node("Gather", const("places", w["embeddings.position_embeddings.weight"]), "positions")
    token_type = const("token_type", w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(node("Add", node("Add", words, places), token_type), "embeddings.LayerNorm")
    split = const("split_heads", np.array([0, 0, 3, heads, hidden // heads], dtype=np.int64))
    join = const("join_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("scale", np.array(1 / np.sqrt(hidden // heads), dtype=np.float32))
    parts = [const(f"part{j}", np.array(j, dtype=np.int64)) for j in range(3)]
    for i in range(port.layers):
        p = f"encoder.layer.{i}"
        # (texts, length, 3 x hidden) -> (3, texts, heads, length, head): query, key and value per head
        qkv = node("Transpose", node("Reshape", dense(x, f"{p}.attention.self.qkv"), split), perm=[2, 0, 3, 1, 4])
        q, k, v = (node("Gather", qkv, part, axis=0) for part in parts)
        scores = node(
            "Add", node("Mul", node("MatMul", q, node("Transpose", k, perm=[0, 1, 3, 2])), scale), "mask_bias"
        )
        context = node("MatMul", node("Softmax", scores, axis=-1), v)
        context = node("Reshape", node("Transpose", context, perm=[0, 2, 1, 3]), join)
        x = layer_norm(node("Add", dense(context, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm")
        ffn = dense(node("Gelu", dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
        x = layer_norm(node("Add", ffn, x), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["texts", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("mask_bias", TensorProto.FLOAT, ["texts", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["texts", "length", hidden])],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    checker.check_model(model)
    return bytes(model.SerializeToString())


def build_int8(port: MiniLMEmbedder, target: Path) -> None:
    """Write the int8 model of the port's weights to `target` (atomically: a half-written file is never seen)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice (pre-processing, shape inference) as warnings
    try:
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            source, built = Path(work) / "float32.onnx", Path(work) / "int8.onnx"
            source.write_bytes(onnx_graph(port))
            quantize_dynamic(
                source,
                built,
                op_types_to_quantize=["MatMul"],  # the dense layers: attention's own products stay float32
                per_channel=True,  # per-tensor weight scales measured cosine 0.966 to float32; per channel 0.994
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
            os.replace(built, target)
    finally:
        root.setLevel(level)


def cached_model(path: Path, cache: Path | None = None) -> Path:
    """The int8 model file for the weights in model directory `path`, built into the cache the first time."""
    import onnxruntime

    digest = hashlib.sha256()
    with (path / "model.safetensors").open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    digest.update(f"graph {GRAPH_VERSION} onnxruntime {onnxruntime.__version__}".encode())
    target = (cache or model_cache()) / f"{MiniLMInt8Embedder.model_id}-{digest.hexdigest()[:16]}.onnx"
    if not target.is_file():
        build_int8(MiniLMEmbedder(path), target)  # the float32 weights are read only here
    return target


class MiniLMInt8Embedder(MiniLMEmbedder):
    """all-MiniLM-L6-v2 with int8 dense layers, run by onnxruntime on the calling thread.

    Tokenising and mean pooling are the port's; only the forward pass differs, and it takes
    one text at a time. Its vectors differ from the float32 model's (cosine about 0.994), so they carry
    their own model id and a switch between the two re-embeds the stored documents.
    """

    model_id = "all-MiniLM-L6-v2-int8"

    def __init__(self, path: Path | None = None, *, cache: Path | None = None) -> None:
        import onnxruntime

        path = path or minilm_path()
        # One text per forward pass. Activations are quantised with one scale per tensor, the whole batch's:
        # in a batch, a text's vector would depend on the texts (and padding) it shares the batch with, so the
        # same question could rank differently under load. Alone, its vector depends on its own text only.
        # int8 gains little from batching anyway: 1.9 ms per question alone, 1.7 ms in batches of 8 (README).
        super().__init__(path, batch_size=1, weights=False)
        model = cached_model(path, cache)
        options = onnxruntime.SessionOptions()
        # One thread, the caller's: the server encodes on its request threads, one BLAS thread each
        # (api/app.py), and onnxruntime's own pool would spin on cores those threads need.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the quantised graph's shape-inference notes are not errors
        try:
            self.session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception:  # a damaged cache file (the atomic write makes it unlikely): build it again
            model.unlink(missing_ok=True)
            model = cached_model(path, cache)
            self.session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled last hidden states from the int8 graph."""
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        positions = np.arange(ids.shape[1], dtype=np.int64)
        (hidden,) = self.session.run(None, {"ids": ids, "positions": positions, "mask_bias": bias})
        return mean_pool(hidden, mask)
