"""Tokenizer, embedders, fusion and the BEIR evaluation, on real models and real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
import onnx
import onnxruntime
import pytest
from typer.testing import CliRunner

from kbcrm.cli import app
from kbcrm.settings import EMBEDDING_DIMENSIONS, MULTILINGUAL_EMBEDDERS, Settings
from knowledge_transfer.embeddings import (
    _GELU_CHUNK,
    BatchingEncoder,
    Embedder,
    MiniLMEmbedder,
    UseEmbedder,
    _erf,
    _gelu,
    _gelu_rows,
    get_embedder,
)
from knowledge_transfer.evaluation import DatasetError, evaluate, load_beir, query_metrics
from knowledge_transfer.minilm_int8 import MiniLMInt8Embedder
from knowledge_transfer.onnx_int8 import session_options
from knowledge_transfer.search.fusion import FusionWeights, fuse, standardise
from knowledge_transfer.search.index import HybridIndex
from knowledge_transfer.text import add_terms, tokenize
from knowledge_transfer.use_int8 import UseInt8Embedder

DATA = Path(__file__).parent / "data"


def test_tokenizer_keeps_codes_whole_and_segments_chinese() -> None:
    tokens = tokenize("Pump AX-120 shows E402 and E-1234; bearings grinding")
    assert {"ax-120", "ax120", "e402", "e-1234", "e1234", "bear", "grind"} <= set(tokens)
    assert "and" not in tokens
    add_terms(["密封泄漏"])
    zh = tokenize("设备出现密封泄漏，显示故障码E-1012。AX-120漏油")
    assert {"密封泄漏", "e-1012", "ax-120", "漏油"} <= set(zh)


def test_minilm_numpy_port_matches_sentence_transformers() -> None:
    reference = np.load(DATA / "minilm_reference.npz")
    texts = [str(t) for t in reference["texts"]]
    vectors = MiniLMEmbedder().encode(texts)
    assert vectors.shape == (len(texts), 384)
    cosine = (vectors * reference["vectors"]).sum(axis=1)
    assert cosine.min() > 0.9999, cosine


def test_minilm_erf_is_as_exact_as_float32_allows() -> None:
    from scipy.special import erf

    x = np.concatenate([np.linspace(-8, 8, 20_001), np.random.default_rng(0).normal(0, 3, 20_000)]).astype(np.float32)
    fast = _erf(x)
    assert fast.dtype == np.float32
    assert np.abs(fast - erf(x.astype(np.float64))).max() < 1e-6  # the formula's 1.5e-7 plus float32 rounding
    assert _erf(np.float32([0.0, -0.0]))[0] == 0 and np.all(_erf(np.float32([-9.0, 9.0])) == [-1, 1])


def test_use_is_cross_lingual_and_minilm_is_not() -> None:
    use, minilm = UseEmbedder(), get_embedder("minilm")
    texts = ["The pump is leaking oil", "泵漏油", "How do I reset my password?"]
    u = use.encode(texts)
    assert u[0] @ u[1] > 0.6 and u[0] @ u[2] < 0.3
    m = minilm.encode(["泵漏油", "重置密码"])
    assert m[0] @ m[1] > 0.5, "MiniLM is expected to confuse unrelated Chinese texts (why USE handles Chinese)"


def test_standardise_ignores_masked_documents_and_fusion_keeps_masks() -> None:
    scores = np.array([1.0, 2.0, 3.0, -np.inf], dtype=np.float32)
    z = standardise(scores)
    assert np.isneginf(z[3]) and abs(float(z[:3].mean())) < 1e-6
    fused = fuse(scores, scores, FusionWeights(lexical=0.5))
    assert np.isneginf(fused[3]) and fused[2] > fused[1] > fused[0]


def test_metrics_on_a_hand_checked_ranking() -> None:
    m = query_metrics(["a", "x", "b", "y"], {"a": 1.0, "b": 1.0})
    assert m["MAP"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["MRR"] == 1.0 and m["P@1"] == 1.0 and m["P@5"] == pytest.approx(0.4) and m["R@100"] == 1.0


@pytest.mark.parametrize("name", ["minilm", "minilm-int8"])
def test_hybrid_is_at_least_as_good_as_either_retriever_on_a_real_slice(name: str) -> None:
    dataset = load_beir(DATA / "stackfaq_mini")
    results = evaluate(dataset, get_embedder(name))
    best = max(results["bm25"]["MAP"], results["dense"]["MAP"])
    assert results["hybrid"]["MAP"] >= best - 0.5, results
    assert results["dense"]["MAP"] > results["bm25"]["MAP"] > 50


def test_int8_minilm_stays_close_to_the_float32_model_and_ranks_as_well(tmp_path: Path) -> None:
    reference = np.load(DATA / "minilm_reference.npz")
    texts = [str(t) for t in reference["texts"]]
    int8 = MiniLMInt8Embedder(cache=tmp_path)
    built = list(tmp_path.glob("all-MiniLM-L6-v2-int8-*.onnx"))
    assert len(built) == 1 and int8.model_id != MiniLMEmbedder.model_id and int8.w == {}
    vectors = int8.encode(texts)
    cosine = (vectors * reference["vectors"]).sum(1)
    # int8 dense layers: about 0.99 to sentence-transformers' float32 vectors, never near the 0.6 of unrelated texts
    assert cosine.min() > 0.97 and cosine.mean() > 0.985, cosine
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # every reference text's nearest reference vector is its own float32 vector
    assert list((vectors @ reference["vectors"].T).argmax(1)) == list(range(len(texts)))

    # a text's vector does not depend on the texts encoded with it (activations are quantised per tensor)
    assert np.array_equal(int8.encode([texts[5], texts[0], "a much longer text " * 20])[1], vectors[0])

    # the session leaves out onnxruntime's SkipLayerNormalization fusion, whose kernel was the slower (session_options)
    assert "SkipLayerNormalization" in _optimised_ops(built[0], tmp_path, disabled_optimizers=[])  # by default
    ops = _optimised_ops(built[0], tmp_path)
    assert "SkipLayerNormalization" not in ops and {"LayerNormalization", "DynamicQuantizeMatMul"} <= ops

    _assert_the_cache_is_reused_and_a_damaged_one_rebuilt(
        lambda: MiniLMInt8Embedder(cache=tmp_path), built[0], texts[:3], vectors[:3]
    )


def _optimised_ops(model: Path, tmp_path: Path, **changed: object) -> set[str]:
    """The operators of `model` as onnxruntime runs it with open_session's settings (and `changed` keywords)."""
    options, keywords = session_options()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    onnxruntime.InferenceSession(str(model), options, **{**keywords, **changed})
    return {node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node}


def _assert_the_cache_is_reused_and_a_damaged_one_rebuilt(
    load: Callable[[], Embedder], built: Path, texts: list[str], vectors: np.ndarray
) -> None:
    stamp = built.stat().st_mtime_ns
    again = load()  # from the cache, not built again
    assert built.stat().st_mtime_ns == stamp
    assert np.array_equal(again.encode(texts), vectors)
    built.write_bytes(b"not a model")  # a damaged cache file is built again
    assert np.allclose(load().encode(texts), vectors, atol=1e-6)


def test_int8_use_stays_close_to_the_float32_model_in_english_and_chinese(tmp_path: Path) -> None:
    queries = [json.loads(line)["text"] for line in (DATA / "stackfaq_mini" / "queries.jsonl").open()][:40]
    chinese = [
        "泵漏油",
        "我的设备出现压力传感器故障，怎么处理？",
        "空气过滤器堵塞导致压缩机过热",
        "如何重置密码",
        "AX-120离心泵的机械密封需要更换",
        "油分离器滤芯堵塞，更换滤芯后恢复正常",
        "传动皮带打滑，噪音很大",
        "温度传感器读数异常",
    ]
    texts = queries + chinese + [""]
    int8 = UseInt8Embedder(cache=tmp_path)
    built = list(tmp_path.glob("use-multilingual-v3-int8-*.onnx"))
    assert len(built) == 1 and int8.model_id != UseEmbedder.model_id
    vectors, reference = int8.encode(texts), UseEmbedder().encode(texts)
    cosine = (vectors * reference).sum(1)
    # int8 matrix products: about 0.997 to the float32 vectors (0.9915 at worst on 283 texts), English and Chinese
    assert cosine.min() > 0.98 and cosine.mean() > 0.99, cosine
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert list((vectors @ reference.T).argmax(1)) == list(range(len(texts)))
    # still cross-lingual: a Chinese question sits next to its English translation, not next to an unrelated one
    pump = int8.encode(["The pump is leaking oil", "泵漏油", "How do I reset my password?"])
    assert pump[0] @ pump[1] > 0.6 and pump[0] @ pump[2] < 0.3

    # a text's vector does not depend on the texts encoded with it (activations are quantised per tensor)
    assert np.array_equal(int8.encode([chinese[3], texts[0], "a much longer text " * 40])[1], vectors[0])

    _assert_the_cache_is_reused_and_a_damaged_one_rebuilt(
        lambda: UseInt8Embedder(cache=tmp_path), built[0], texts[:3], vectors[:3]
    )


def test_index_mask_is_applied_before_ranking() -> None:
    texts = ["pump leaking oil", "pump leaking oil at the seal", "password reset"]
    index = HybridIndex(texts, get_embedder("minilm"))
    hits = index.search("pump oil leak", k=3, mask=np.array([False, True, True]))
    assert next(h.index for h in hits) == 1 and 0 not in [h.index for h in hits]
    assert "pump" in hits[0].matched_terms


def test_bad_beir_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"corpus.jsonl: file not found"):
        load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl: line 2: field '_id' missing"):
        load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "x"}) + "\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td9\t1\n")
    with pytest.raises(DatasetError, match=r"qrels.tsv: line 2: corpus-id 'd9'"):
        load_beir(tmp_path)


def test_eval_retrieval_command_prints_all_three(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "retrieval", str(DATA / "stackfaq_mini")], env={"KBCRM_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    for name in ("bm25", "dense", "hybrid", "MAP", "nDCG@10", "R@100", "bm25 / max(bm25)"):
        assert name in result.output
    assert re.search(r"hybrid >= the better single retriever on \d of 6 metrics", result.output)
    bad = CliRunner().invoke(app, ["eval", "retrieval", str(tmp_path)], env={"KBCRM_DATA_DIR": str(tmp_path)})
    assert bad.exit_code != 0 and "corpus.jsonl: file not found" in bad.output
    unknown = CliRunner().invoke(
        app,
        ["eval", "retrieval", str(DATA / "stackfaq_mini"), "--embedder", "bert"],
        env={"KBCRM_DATA_DIR": str(tmp_path)},
    )
    assert unknown.exit_code != 0 and "--embedder: unknown embedder 'bert'; choose one of minilm-int8" in unknown.output


def test_weak_match_rates_and_the_eval_command(tmp_path: Path) -> None:
    """On-topic questions clear the shipped threshold; what it calls weak, and the command that prints it."""
    from knowledge_transfer.embeddings import get_embedder
    from knowledge_transfer.evaluation import weak_match_rates

    faq, banking = load_beir(DATA / "stackfaq_mini"), load_beir(DATA / "banking77_mini")
    threshold = Settings().weak_match_similarity
    report = weak_match_rates(faq, banking, get_embedder("minilm-int8"), threshold=threshold)
    assert report.on_topic.size == len(faq.query_texts) and report.off_topic.size == len(banking.query_texts)
    assert report.flagged_on_topic == 0.0  # no false alarm: every FAQ question finds its subject
    assert report.on_topic.min() > report.off_topic.mean()
    strict = weak_match_rates(faq, banking, get_embedder("minilm-int8"), threshold=0.45)
    assert strict.flagged_off_topic > report.flagged_off_topic and strict.flagged_off_topic > 0.8
    result = CliRunner().invoke(
        app,
        ["eval", "weak-match", str(DATA / "stackfaq_mini"), str(DATA / "banking77_mini"), "--threshold", "0.45"],
        env={"KBCRM_DATA_DIR": str(tmp_path), "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert f"threshold 0.45: {strict.flagged_off_topic:.1%} of off-topic questions called weak" in result.output
    assert "stackfaq_mini (on topic)" in result.output and "banking77_mini (off topic)" in result.output


def test_the_multilingual_embedders_are_the_settings_choices() -> None:
    # eval retrieval gives these the multilingual lexical weight; a new multilingual model must join them
    assert set(get_args(Settings.model_fields["multilingual_embedder"].annotation)) - {"none"} == MULTILINGUAL_EMBEDDERS
    assert EMBEDDING_DIMENSIONS.keys() >= MULTILINGUAL_EMBEDDERS


def test_gelu_in_cache_sized_blocks_equals_gelu() -> None:
    x = np.random.default_rng(1).normal(0, 3, (3 * _GELU_CHUNK // 1536 + 5, 1536)).astype(np.float32)
    expected = _gelu(x)
    assert np.array_equal(_gelu_rows(x.copy()), expected)  # the block boundaries change nothing


def test_minilm_gives_a_text_the_same_vector_alone_and_in_a_padded_batch() -> None:
    minilm = get_embedder("minilm")
    texts = ["pump", "the pump makes a grinding noise after the firmware update on AX-120", "E-1012 on AX-120"]
    together = minilm.encode(texts)
    alone = np.vstack([minilm.encode([t]) for t in texts])
    assert np.abs(together - alone).max() < 1e-5


class GatedEmbedder:
    """A real embedder whose encode calls wait for `gate` (so a test can let texts queue up), texts failing on 'bad'."""

    one_at_a_time = False  # queued and batched by BatchingEncoder (GatedOneAtATime below says otherwise)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder, self.model_id, self.dim = embedder, embedder.model_id, embedder.dim
        self.gate, self.entered, self.calls = threading.Event(), threading.Event(), []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.gate.wait(30)
        if any("bad" in t for t in texts):
            raise ValueError("a bad text")
        return self.embedder.encode(texts)


def test_batching_encoder_encodes_waiting_texts_in_one_batch_and_fails_only_the_bad_one() -> None:
    use = UseEmbedder()
    gated = GatedEmbedder(use)
    encoder = BatchingEncoder(gated)
    texts = ["pump leaks oil", "display is blank", "泵漏油", "bad input", "firmware update failed", "noise"]
    results: dict[str, Any] = {}

    def ask(text: str) -> None:
        try:
            results[text] = encoder.encode_one(text)
        except ValueError as exc:
            results[text] = exc

    first = threading.Thread(target=ask, args=(texts[0],))
    first.start()
    assert gated.entered.wait(30)  # the first text runs alone (no one else is waiting); the others queue behind it
    others = [threading.Thread(target=ask, args=(t,)) for t in texts[1:]]
    for thread in others:
        thread.start()
    while len(encoder._waiting) < len(others):
        time.sleep(0.01)
    gated.gate.set()
    for thread in [first, *others]:
        thread.join(30)
    assert gated.calls[0] == [texts[0]] and sorted(gated.calls[1]) == sorted(texts[1:])  # one batch for the five
    assert (encoder.batches, encoder.texts) == (2, 6)
    assert isinstance(results["bad input"], ValueError)
    for text in texts:
        if text != "bad input":
            assert np.abs(results[text] - use.encode([text])[0]).max() < 1e-6, text
    assert np.abs(encoder.encode_one("noise") - use.encode(["noise"])[0]).max() < 1e-6  # and it goes on


def test_an_embedder_that_takes_one_text_at_a_time_encodes_on_each_callers_thread_without_queueing(
    tmp_path: Path,
) -> None:
    class GatedOneAtATime(GatedEmbedder):
        one_at_a_time = True  # as the int8 embedders declare: batching would only make texts wait

    int8 = UseInt8Embedder(cache=tmp_path)
    gated = GatedOneAtATime(int8)
    encoder = BatchingEncoder(gated)
    texts = ["pump leaks oil", "泵漏油", "display is blank"]
    results: dict[str, np.ndarray] = {}
    threads = [threading.Thread(target=lambda t=t: results.update({t: encoder.encode_one(t)})) for t in texts]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(gated.calls) < len(texts) and time.monotonic() < deadline:
        time.sleep(0.01)
    # all three are inside encode at once, each alone: none waits behind another's pass
    assert sorted(map(tuple, gated.calls)) == sorted((t,) for t in texts) and not encoder._waiting
    gated.gate.set()
    for thread in threads:
        thread.join(30)
    for text in texts:
        assert np.array_equal(results[text], int8.encode([text])[0]), text


def test_building_an_index_makes_no_multiprocessing_semaphore() -> None:
    """bm25s's progress bars made tqdm create a POSIX semaphore that uvicorn workers leaked at every shutdown."""
    code = (
        "import multiprocessing.synchronize as s\n"
        "made = []\n"
        "original = s.SemLock.__init__\n"
        "def counted(self, *args, **kwargs):\n"
        "    made.append(1)\n"
        "    original(self, *args, **kwargs)\n"
        "s.SemLock.__init__ = counted\n"
        "from knowledge_transfer.search.index import HybridIndex\n"
        "index = HybridIndex(['pump makes noise', 'seal leaks'], None)\n"
        "print(len(made), index.size)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.split() == ["0", "2"], done.stderr
