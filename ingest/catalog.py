"""The product catalogue: components, products, symptoms, error codes and topics from a folder of CSV files.

The layout is the demo generator's `catalog/` (lists separated by `;`; a file that is absent
is skipped). Each file is an ordinary row ingest (ingest.runner) with its bundled mapping:

* `components.csv` (`kbcrm-components`): component_id, name, aliases, name_zh
* `products.csv` (`kbcrm-products`): product_id, sku, name, aliases, name_zh, category,
  list_price, launched_on, components (→ `HAS_COMPONENT`, one to each listed component)
* `symptoms.csv` (`kbcrm-symptoms`): symptom_id, name, aliases, name_zh, components (the
  components that cause it: Component → `HAS_SYMPTOM`)
* `error_codes.csv` (`kbcrm-error-codes`): code, description, symptom_id (→ `INDICATES`)
* `topics.csv` (`kbcrm-topics`): topic_id, name, name_zh

Files are loaded in that order, so a product may name a component of the same folder. So the
runner's guarantees hold: every row is validated (required fields, numbers, dates, and that
what it names exists), a bad row is quarantined with file, line, field and reason and nothing
of it is written, a row and its links are one write, every node is `DERIVED_FROM` its file
(with the line), a re-run of an unchanged folder changes nothing, a changed row replaces its
properties and the links it lists, and an interrupted run resumes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.mapping import load_mapping
from ingest.readers import SourceFileError
from ingest.runner import IngestReport, RunCounts, ingest_file
from ingest.validate import Rejection
from kbcrm.graph import GraphStore

FILES = (
    ("components.csv", "kbcrm-components"),
    ("products.csv", "kbcrm-products"),
    ("symptoms.csv", "kbcrm-symptoms"),
    ("error_codes.csv", "kbcrm-error-codes"),
    ("topics.csv", "kbcrm-topics"),
)


@dataclass
class CatalogReport(RunCounts):
    """What one catalogue run did, in all and per file (each file's own ingest run in `runs`)."""

    run_id: str = ""
    quarantine_file: str = ""
    rejections: list[Rejection] = field(default_factory=list)
    runs: dict[str, IngestReport] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, dict[str, int]]:
        """Per file: read, created, updated, unchanged, rejected."""
        return {name: run.counts() for name, run in self.runs.items()}


def ingest_catalog(store: GraphStore, directory: Path, *, data_dir: Path) -> CatalogReport:
    """Load the catalogue files of `directory` (see the module docstring); one quarantine file for the run."""
    if not directory.is_dir():
        raise SourceFileError(f"{directory}: not a directory of catalogue files")
    present = [(name, mapping) for name, mapping in FILES if (directory / name).exists()]
    if not present:
        raise SourceFileError(f"{directory}: none of the catalogue files ({', '.join(name for name, _ in FILES)})")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    report = CatalogReport(run_id=run_id, quarantine_file=str(data_dir / "quarantine" / f"catalog-{run_id}.csv"))
    for name, mapping in present:
        run = ingest_file(
            store,
            path=directory / name,
            mapping=load_mapping(mapping),
            source_kind="catalog",
            data_dir=data_dir,
            quarantine=Path(report.quarantine_file),
        )
        report.runs[name] = run
        report.rejections.extend(run.rejections)
        for count, value in run.counts().items():
            setattr(report, count, getattr(report, count) + value)
    return report
