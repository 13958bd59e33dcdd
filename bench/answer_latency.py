"""Answer-assist latency benchmark: p50/p95 of `answer()` on a large generated corpus.

Generates N documents (half knowledge articles, half resolved service cases; one in ten
Chinese) from the demo catalogue — products, symptoms, error codes, causes and fixes, with
filler so no two texts are alike — and builds the production KnowledgeBase over them
(the same tokenizer, bm25s index, embedders, audience masks and boosts). Then it times,
question by question, in the same run:

* the baseline: a raw bm25s query (tokenize with the English stemmer + retrieve top 10)
  on the same corpus;
* `answer()` for an engineer (no context), for an engineer with a customer context
  (installed base read from the real embedded graph), and for a customer (audience
  filter) — each including the question's embedding, the spaCy mention linking, the
  fusion and the evidence.

Corpus vectors: by default random unit vectors stand in for the documents' embeddings
(the time of an exact dot product does not depend on the values, and embedding 100k texts
on 2 cores takes about an hour); `--embed-corpus` embeds them for real, once, cached in
the data directory. Question embeddings are always real.

Goal (issue 4): p95 <= 50 ms at 100k documents on 2 cores.

    python bench/answer_latency.py [--docs 100000] [--questions 200] [--embed-corpus]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ingest.notes import NoteLinker
from kbcrm.demo.catalog import FAULTS, PRODUCTS, SYMPTOM_BY_ID, SYMPTOMS
from kbcrm.graph.embedded import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings
from knowledge_transfer.answers.corpus import KnowledgeDoc, Link
from knowledge_transfer.answers.service import KnowledgeBase, answer
from knowledge_transfer.embeddings import get_embedder, normalise
from knowledge_transfer.vectors import VectorCache, text_hash

ROOT = Path(__file__).resolve().parent.parent
FILLER_TEXT = (
    "after the last service visit the operator noticed it again during the night shift while the line ran at full "
    "load and the spare part from stock was checked twice before the technician arrived on site with the kit"
)
FILLER = FILLER_TEXT.split(" ")
ZH_FILLER = ["夜班", "满负荷", "现场", "技术员", "备件", "检查", "再次", "出现"]


def error_id(code: str) -> str:
    return f"err:{code}"


def generate(n: int, seed: int) -> list[KnowledgeDoc]:
    """N documents: articles and resolved cases about real catalogue faults, one in ten in Chinese."""
    rng = random.Random(seed)
    docs: list[KnowledgeDoc] = []
    for i in range(n):
        product, fault = rng.choice(PRODUCTS), rng.choice(FAULTS)
        symptom = SYMPTOM_BY_ID[fault.symptom]
        chinese = i % 10 == 9
        filler = " ".join(rng.choices(ZH_FILLER if chinese else FILLER, k=rng.randint(12, 40)))
        links = [
            Link("APPLIES_TO", product.id, "Product", product.name),
            Link("RESOLVES", symptom.id, "Symptom", symptom.name),
            Link("RESOLVES", error_id(fault.code), "ErrorCode", fault.code),
        ]
        if i % 2 == 0:
            if chinese:
                title = f"{product.name_zh} {fault.code}：{symptom.name_zh}"
                text = f"原因：{fault.cause_zh}。解决方法：{fault.resolution_zh}。{filler}"
            else:
                title = f"{product.name}: {fault.code} {fault.description}"
                text = f"{symptom.name.capitalize()}. Cause: {fault.cause}. Fix: {fault.resolution}. {filler}"
            audience = rng.choice(("customer", "public", "internal"))
            confidence = rng.choices(("validated", "not-validated", "work-in-progress"), (8, 1, 1))[0]
            docs.append(
                KnowledgeDoc(
                    kind="article",
                    id=f"kb-{i:06d}",
                    title=title,
                    text=text,
                    audience=audience,
                    confidence=confidence,
                    language="zh" if chinese else "en",
                    version=1,
                    views=rng.randint(0, 500),
                    helpful=rng.randint(0, 40),
                    not_helpful=rng.randint(0, 10),
                    reused=rng.randint(0, 20),
                    links=links,
                    people=[("AUTHORED", f"emp-{rng.randint(1, 60):03d}", "An Expert")],
                )
            )
        else:
            subject = f"{symptom.name_zh} {product.name_zh}" if chinese else f"{symptom.name} on {product.name}"
            resolution = fault.resolution_zh if chinese else fault.resolution
            docs.append(
                KnowledgeDoc(
                    kind="case",
                    id=f"C-{i:06d}",
                    title=subject,
                    text=f"{fault.code} {filler}",
                    audience="internal",
                    confidence=None,
                    language="zh" if chinese else "en",
                    resolution_id=f"res-{i:06d}",
                    links=[*links, Link("RESOLVED_BY", f"res-{i:06d}", "Resolution", resolution)],
                    people=[("HANDLED_BY", f"emp-{rng.randint(1, 60):03d}", "An Engineer")],
                )
            )
    return docs


def questions(count: int, seed: int) -> list[str]:
    """Questions engineers and customers type: symptoms, products, codes, in English and Chinese."""
    rng = random.Random(seed + 1)
    out = []
    for i in range(count):
        product, fault = rng.choice(PRODUCTS), rng.choice(FAULTS)
        symptom = SYMPTOM_BY_ID[fault.symptom]
        shape = i % 5
        if shape == 0:
            out.append(
                f"{rng.choice((symptom.name, *symptom.aliases))} on the {rng.choice((product.name, *product.aliases))}"
            )
        elif shape == 1:
            out.append(f"error {fault.code}")
        elif shape == 2:
            out.append(f"{product.sku} shows {fault.code} after restart, what should I replace?")
        elif shape == 3:
            out.append(f"{product.name_zh} {symptom.name_zh}")
        else:
            out.append(f"how do I fix {symptom.name} quickly")
    return out


def linker_terms() -> list[dict[str, object]]:
    """The vocabulary the question linker gets (what NoteLinker.from_graph reads from a real graph)."""
    terms: list[dict[str, object]] = [
        {
            "id": p.id,
            "name": p.name,
            "aliases": list(p.aliases),
            "name_zh": p.name_zh,
            "sku": p.sku,
            "code": None,
            "label": "Product",
        }
        for p in PRODUCTS
    ]
    terms += [
        {
            "id": s.id,
            "name": s.name,
            "aliases": list(s.aliases),
            "name_zh": s.name_zh,
            "sku": None,
            "code": None,
            "label": "Symptom",
        }
        for s in SYMPTOMS
    ]
    terms += [
        {
            "id": error_id(f.code),
            "name": f.code,
            "aliases": [],
            "name_zh": None,
            "sku": None,
            "code": f.code,
            "label": "ErrorCode",
        }
        for f in FAULTS
    ]
    return terms


def prefill_random_vectors(cache: VectorCache, texts: list[str], seed: int) -> None:
    """Store random unit vectors for the texts, as if the cache's embedder had embedded them."""
    rng = np.random.default_rng(seed)
    hashes = sorted({text_hash(t) for t in texts})
    cache.add(hashes, normalise(rng.standard_normal((len(hashes), cache.dim), dtype=np.float32)))


def timed(call: Callable[[str], object], items: list[str], warmup: int = 5) -> list[float]:
    for q in items[:warmup]:
        call(q)
    out = []
    for q in items:
        start = time.perf_counter()
        call(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embed-corpus", action="store_true", help="embed the documents for real (slow, cached)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench-answer")
    args = parser.parse_args()
    console = Console()
    import bm25s
    import Stemmer

    settings = Settings(data_dir=args.data_dir)
    with console.status(f"generating {args.docs:,} documents"):
        docs = generate(args.docs, args.seed)
        texts = [d.search_text for d in docs]
    embedder = get_embedder(settings.embedder)
    multilingual = get_embedder(settings.multilingual_embedder) if settings.multilingual_embedder != "none" else None
    vectors_dir = args.data_dir / ("vectors" if args.embed_corpus else f"random-{args.docs}-{args.seed}")
    if not args.embed_corpus:
        for model in (m for m in (embedder, multilingual) if m is not None):
            cache = VectorCache(vectors_dir, model)
            if not len(cache):
                prefill_random_vectors(cache, texts, args.seed)
    start = time.perf_counter()
    with console.status("building the knowledge base (tokenize, bm25s index, vectors, masks, boosts)"):
        kb = KnowledgeBase(
            docs,
            settings=settings,
            embedder=embedder,
            multilingual=multilingual,
            linker=NoteLinker(linker_terms()),
            vectors_dir=vectors_dir,
        )
    build_s = time.perf_counter() - start

    stemmer = Stemmer.Stemmer("english")
    with console.status("building the raw bm25s baseline index"):
        raw = bm25s.BM25()
        raw.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)

    def raw_query(q: str) -> object:
        return raw.retrieve(
            bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=10, show_progress=False
        )

    items = questions(args.questions, args.seed)
    with tempfile.TemporaryDirectory() as graph_dir:
        server = EmbeddedServer(Path(graph_dir))
        store = FalkorDBStore(graph_name="bench", socket_path=server.ensure_running())
        try:
            store.ensure_schema(vector_dimension=embedder.dim)
            store.upsert_nodes("Customer", [{"id": "cust-bench", "name": "Bench Customer"}])
            store.upsert_nodes("Product", [{"id": p.id, "name": p.name} for p in PRODUCTS[:3]])
            store.upsert_relationships(
                "OWNS",
                [{"start": "cust-bench", "end": p.id} for p in PRODUCTS[:3]],
                start_label="Customer",
                end_label="Product",
            )
            runs: dict[str, list[float]] = {}
            cases = [
                ("raw bm25s query (baseline)", raw_query),
                ("answer() engineer", lambda q: answer(kb, store, q, audience="staff")),
                (
                    "answer() engineer + customer context",
                    lambda q: answer(kb, store, q, audience="staff", customer_id="cust-bench"),
                ),
                ("answer() customer (portal)", lambda q: answer(kb, store, q, audience="customer")),
            ]
            with Progress(console=console) as progress:
                task = progress.add_task("timing", total=len(cases))
                for name, call in cases:
                    # Every question is encoded inside the timing: the knowledge base's cache of question
                    # vectors is emptied first, or the later rows would reuse the first row's encodings.
                    runs[name] = timed(lambda q, call=call: (kb.question_vector.cache_clear(), call(q)), items)
                    progress.advance(task)
        finally:
            store.close()
            server.destroy()

    table = Table(title=f"answer latency, {args.docs:,} documents, {len(items)} questions, 2-core budget")
    for column in ("what", "p50 ms", "p95 ms", "p99 ms", "mean ms", "p95 / baseline p95"):
        table.add_column(column, justify="left" if column == "what" else "right")
    base95 = percentile(runs["raw bm25s query (baseline)"], 95)
    for name, values in runs.items():
        p95 = percentile(values, 95)
        table.add_row(
            name,
            f"{percentile(values, 50):.1f}",
            f"{p95:.1f}",
            f"{percentile(values, 99):.1f}",
            f"{statistics.fmean(values):.1f}",
            f"{p95 / base95:.1f}×",
        )
    console.print(table)
    vectors = "embedded for real" if args.embed_corpus else "random unit vectors (latency only; --embed-corpus)"
    console.print(
        f"models: {embedder.model_id}"
        + (f" + {multilingual.model_id}" if multilingual else "")
        + f"; corpus vectors: {vectors}; knowledge base built in {build_s:.1f} s"
    )
    worst = max(percentile(v, 95) for k, v in runs.items() if k.startswith("answer"))
    verdict = "OK" if worst <= 50 else "ABOVE GOAL"
    console.print(f"worst answer() p95: [bold]{worst:.1f} ms[/bold] (goal ≤ 50 ms) {verdict}")


if __name__ == "__main__":
    main()
