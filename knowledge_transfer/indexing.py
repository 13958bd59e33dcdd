"""Embedding at ingest: every article and resolved case gets its vectors when it enters the graph.

The ingest commands (articles, cases, case notes, the demo load) call `embed_knowledge`
after writing: it reads the searchable documents exactly as answer assist does, and each
embedder's vector store (knowledge_transfer.vectors) embeds only the texts it has no
vector for — a new article, an edited one, a case with a new note. So the server's
knowledge base, built later or rebuilt after a change, finds every vector ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kbcrm.graph import GraphStore
from kbcrm.settings import Settings
from knowledge_transfer.answers.corpus import load_documents
from knowledge_transfer.embeddings import configured_embedders
from knowledge_transfer.vectors import VectorCache, text_hash


@dataclass
class EmbeddingRun:
    """What one embedder did for the current documents."""

    model_id: str
    dim: int
    documents: int
    embedded: int
    dropped: int


def embed_knowledge(
    store: GraphStore,
    settings: Settings,
    *,
    prune: bool = False,
    on_progress: Callable[[str, int, int], object] | None = None,
) -> list[EmbeddingRun]:
    """Embed the articles and resolved cases no vector exists for, with every embedder answer assist uses.

    `prune` also drops the stored vectors of texts no document has any more (old versions
    of edited articles). `on_progress(model_id, done, total)` follows the embedding.
    """
    texts = [d.search_text for d in load_documents(store)]
    runs = []
    english, multilingual = configured_embedders(settings)
    for model in filter(None, (english, multilingual)):
        cache = VectorCache(settings.data_dir / "vectors", model)
        report = (lambda done, total, m=model.model_id: on_progress(m, done, total)) if on_progress else None
        cache.vectors(texts, on_progress=report)
        dropped = cache.compact(keep={text_hash(t) for t in texts}) if prune else 0
        runs.append(EmbeddingRun(model.model_id, model.dim, len(texts), cache.embedded_last, dropped))
    return runs
