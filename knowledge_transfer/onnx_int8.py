"""Embedders with int8 dense layers on onnxruntime: the graph writer, build, cache and session they share.

numpy runs float32 matrix products only, and for one short question a model's time goes
mostly to streaming its weights from memory (docs/portal-load.md). Here a model's float32
forward pass is written as an ONNX graph with `onnx`'s helpers, from the installed model's
own files (no download, no converted model shipped), and onnxruntime's dynamic quantisation
turns its MatMul nodes into int8 products: weights per output channel, activations per
tensor at run time, so a quarter of the bytes to stream. The result is kept in a cache
directory (`KBCRM_MODEL_CACHE`, default `~/.cache/kbcrm`), named by the model id and a hash
of the source weights, the graph's version and onnxruntime's version: a changed model,
graph or runtime builds anew. Users: `minilm_int8` (English) and `use_int8` (multilingual).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def model_cache() -> Path:
    """Where built models are kept: KBCRM_MODEL_CACHE, else $XDG_CACHE_HOME/kbcrm or ~/.cache/kbcrm."""
    configured = os.environ.get("KBCRM_MODEL_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kbcrm"


class GraphWriter:
    """Builds a float32 ONNX graph (opset 20) node by node; each node's output is named after it."""

    def __init__(self) -> None:
        self.initialisers: list[Any] = []
        self.nodes: list[Any] = []

    def const(self, name: str, value: np.ndarray) -> str:
        """A constant (initialiser) called `name`."""
        from onnx import numpy_helper

        self.initialisers.append(numpy_helper.from_array(np.ascontiguousarray(value) if value.ndim else value, name))
        return name

    def node(self, op: str, *inputs: str, **attributes: Any) -> str:
        """Operator `op` applied to the named inputs; returns its output's name."""
        from onnx import helper

        output = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, list(inputs), [output], **attributes))
        return output

    def dense(self, x: str, name: str, weight: np.ndarray, bias: np.ndarray | None = None) -> str:
        """X @ weight (+ bias): the MatMul nodes are what quantisation turns into int8."""
        product = self.node("MatMul", x, self.const(f"{name}.w", weight))
        return product if bias is None else self.node("Add", product, self.const(f"{name}.b", bias))

    def layer_norm(self, x: str, name: str, gamma: np.ndarray, beta: np.ndarray, eps: float) -> str:
        """Layer normalisation over the last axis."""
        return self.node(
            "LayerNormalization",
            x,
            self.const(f"{name}.g", gamma),
            self.const(f"{name}.b", beta),
            axis=-1,
            epsilon=eps,
        )

    def serialise(self, name: str, inputs: Sequence[Any], output: str, output_info: Any) -> bytes:
        """The checked model, with node `output` exposed as the graph output `output_info` names."""
        from onnx import checker, helper

        nodes = [*self.nodes, helper.make_node("Identity", [output], [output_info.name])]
        graph = helper.make_graph(nodes, name, list(inputs), [output_info], self.initialisers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
        model.ir_version = 10
        checker.check_model(model)
        return bytes(model.SerializeToString())


def build_int8(graph: bytes, target: Path) -> None:
    """Quantise the float32 `graph` and write it to `target` (atomically: a half-written file is never seen)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice (pre-processing, shape inference) as warnings
    try:
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            source, built = Path(work) / "float32.onnx", Path(work) / "int8.onnx"
            source.write_bytes(graph)
            quantize_dynamic(
                source,
                built,
                op_types_to_quantize=["MatMul"],  # dense layers only: MiniLM's attention products stay float32
                per_channel=True,  # MiniLM: per-tensor weight scales gave cosine 0.966 to float32; per channel 0.994
                weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
            os.replace(built, target)
    finally:
        root.setLevel(level)


def cached_model(
    model_id: str, sources: Sequence[Path], graph_version: int, graph: Callable[[], bytes], cache: Path | None
) -> Path:
    """The int8 model built from the weights files `sources`: from the cache, or built into it (`graph()`) once."""
    import onnxruntime

    digest = hashlib.sha256()
    for source in sources:
        with source.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    digest.update(f"graph {graph_version} onnxruntime {onnxruntime.__version__}".encode())
    target = (cache or model_cache()) / f"{model_id}-{digest.hexdigest()[:16]}.onnx"
    if not target.is_file():
        build_int8(graph(), target)
    return target


# Graph fusions the sessions leave out (see session_options).
UNFUSED = ["SkipLayerNormFusion"]


def session_options() -> tuple[Any, dict[str, Any]]:
    """What open_session gives onnxruntime: its SessionOptions, and the InferenceSession keywords."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread, the caller's: the server encodes on its request threads, one BLAS thread each
    # (api/app.py), and onnxruntime's own pool would spin on cores those threads need.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the quantised graph's shape-inference notes are not errors
    # onnxruntime fuses each residual Add and the LayerNormalization after it into one
    # SkipLayerNormalization node, whose CPU kernel took about 39 us per call here against about
    # 7 us for the two nodes it replaces (per-node profile, onnxruntime 1.32, an 18-token
    # question). Without the fusion an int8 MiniLM question costs 1.99 instead of 2.50 ms (CPU
    # time, 240 portal questions, five interleaved rounds) and its quality is the same: cosine to
    # the float32 vectors 0.9901 at worst and 0.9939 on average either way on 103 portal
    # questions. The hidden states differ by about 1e-6, which moves an activation scale now and
    # then, so 64 of 300 portal questions' vectors differ from the fused graph's at the int8
    # rounding level (cosine 0.9947 at worst), as vectors computed on a CPU with other
    # instructions do: the model id stays. USE's graph is not affected.
    return options, {"providers": ["CPUExecutionProvider"], "disabled_optimizers": UNFUSED}


def open_session(model: Callable[[], Path]) -> Any:
    """An onnxruntime session on the calling thread for the model file `model()` gives (built again if damaged)."""
    import onnxruntime

    options, keywords = session_options()
    path = model()
    try:
        return onnxruntime.InferenceSession(str(path), options, **keywords)
    except Exception:  # a damaged cache file (the atomic write makes it unlikely): build it again
        path.unlink(missing_ok=True)
        return onnxruntime.InferenceSession(str(model()), options, **keywords)
