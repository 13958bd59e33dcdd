"""Hybrid retrieval: BM25 (bm25s) + dense vectors (exact numpy) fused by a documented method."""

from knowledge_transfer.search.fusion import FusionWeights, fuse
from knowledge_transfer.search.index import Candidate, HybridIndex, rank_of, top_k

__all__ = ["Candidate", "FusionWeights", "HybridIndex", "fuse", "rank_of", "top_k"]
