"""Tokenizer, embedders, fusion and the BEIR evaluation, on real models and real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kbcrm.cli import app
from knowledge_transfer.embeddings import MiniLMEmbedder, UseEmbedder, _erf, get_embedder
from knowledge_transfer.evaluation import DatasetError, evaluate, load_beir, query_metrics
from knowledge_transfer.search.fusion import FusionWeights, fuse, standardise
from knowledge_transfer.search.index import HybridIndex
from knowledge_transfer.text import add_terms, tokenize

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


def test_hybrid_is_at_least_as_good_as_either_retriever_on_a_real_slice() -> None:
    dataset = load_beir(DATA / "stackfaq_mini")
    results = evaluate(dataset, get_embedder("minilm"))
    best = max(results["bm25"]["MAP"], results["dense"]["MAP"])
    assert results["hybrid"]["MAP"] >= best - 0.5, results
    assert results["dense"]["MAP"] > results["bm25"]["MAP"] > 50


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
