"""The `kbcrm` command line."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from kbcrm.cli_common import console
from kbcrm.cli_common import fail as _fail
from kbcrm.cli_common import progress_bar as _progress
from kbcrm.cli_loyalty import eval_churn, loyalty_app
from kbcrm.cli_operations import customers_app, export_records_command, opportunities_app
from kbcrm.settings import EMBEDDING_DIMENSIONS, MULTILINGUAL_EMBEDDERS, Settings, get_settings

if TYPE_CHECKING:  # the ingest package is imported lazily by the commands that use it
    from ingest.articles import ArticleReport
    from ingest.catalog import CatalogReport
    from ingest.runner import IngestReport
    from kbcrm.graph import GraphStore
    from knowledge_transfer.answers.service import KnowledgeBase

app = typer.Typer(help="KBCRM: a knowledge-based CRM on a customer knowledge graph.", no_args_is_help=True)
store_app = typer.Typer(help="The graph store: status, start, stop, schema.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="Directory to write the data set to.")],
    customers: Annotated[int, typer.Option(min=1, help="Number of true customers.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Generate a seeded, realistic demo data set (exports of three departments, orders, cases, articles)."""
    from kbcrm.demo.generator import generate

    with _progress() as progress:
        task = progress.add_task("customers", total=customers)
        manifest = generate(out, customers=customers, seed=seed, progress=lambda i: progress.update(task, completed=i))
    console.print_json(json.dumps(manifest))


@app.command("load-demo")
def load_demo_command(
    directory: Annotated[Path, typer.Argument(help="A directory written by `kbcrm demo-data`.")],
) -> None:
    """Load a demo data set into the graph (store-level load; idempotent)."""
    from kbcrm.demo.load import load_demo
    from kbcrm.graph import open_store

    if not (directory / "manifest.json").exists():
        _fail(f"{directory}: no manifest.json; generate one with `kbcrm demo-data --out {directory}`")
    settings = get_settings()
    with open_store(settings) as store:
        store.ensure_schema(vector_dimension=settings.embedding_dim)
        counts = load_demo(store, directory, progress=lambda step: console.print(f"loading {step}…"))
        console.print(counts)
        _embed(store, settings)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Generate and load the demo data set first if the graph is empty.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Bind address (default: KBCRM_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: KBCRM_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default: KBCRM_WORKERS).")
    ] = None,
) -> None:
    """Serve the API and web pages (uvicorn)."""
    import uvicorn

    from ingest.demo import ensure_demo
    from kbcrm.graph import embedded_server, open_store

    settings = get_settings()
    # SIGTERM (a service manager's stop, `kill`): uvicorn shuts down gracefully, then raises the
    # signal again for its default action, which ends the process at once, before the `finally`
    # below: a one-worker server left the embedded graph server running. Raised as an exception
    # instead, it lets `finally` stop the graph server, then the process ends by the signal.
    previous = signal.signal(signal.SIGTERM, _terminated)
    terminated = False
    try:  # the embedded graph server is stopped however this ends, a failed demo set-up included
        if demo:
            summary = ensure_demo(settings, say=console.print, after_load=lambda store: _embed(store, settings))
            console.print(f"demo graph: {summary}")
        else:  # a new data directory: its constraints and indexes from the start (idempotent)
            with open_store(settings) as store:
                store.ensure_schema(vector_dimension=settings.embedding_dim)
        url = f"http://{host or settings.host}:{port or settings.port}"
        console.print(f"KBCRM on [bold]{url}[/bold]  (API docs: {url}/docs, health: {url}/health)")
        uvicorn.run(
            "api.app:served_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
            access_log=settings.access_log,
        )
    except _Terminated:
        terminated = True
    finally:
        if settings.is_embedded:
            embedded_server(settings).stop()
        signal.signal(signal.SIGTERM, previous)
    if terminated:
        signal.raise_signal(signal.SIGTERM)  # ends as the signal's previous handler says (by default: by it)


class _Terminated(BaseException):
    """SIGTERM arrived (kbcrm serve).

    A BaseException, like KeyboardInterrupt: code that catches Exception (ours, or a library's
    retry or fallback around the line the signal lands on) must not swallow a stop. As an
    Exception, a SIGTERM during the demo set-up was once lost, and the server then served on.
    """


def _terminated(_signum: int, _frame: object) -> None:
    raise _Terminated


def _embed(store: GraphStore, settings: Settings, *, prune: bool = False) -> None:
    """Embed the articles and resolved cases that have no vectors yet (after an ingest), with progress bars."""
    from knowledge_transfer.embeddings import EmbedderUnavailable
    from knowledge_transfer.indexing import embed_knowledge

    tasks: dict[str, TaskID] = {}
    try:
        with _progress() as progress:

            def show(model: str, done: int, total: int) -> None:
                if model not in tasks:
                    tasks[model] = progress.add_task(f"embed with {model}", total=total)
                progress.update(tasks[model], completed=done)

            runs = embed_knowledge(store, settings, prune=prune, on_progress=show)
    except EmbedderUnavailable as exc:
        console.print(
            f"vectors not computed ({exc}); answer assist embeds what it lacks when it starts", soft_wrap=True
        )
        return
    for run in runs:
        console.print(
            f"vectors {run.model_id} ({run.dim}-d): {run.documents} articles and resolved cases, "
            f"{run.embedded} newly embedded" + (f", {run.dropped} unused dropped" if prune else ""),
            soft_wrap=True,
        )


@app.command()
def embed(
    prune: Annotated[bool, typer.Option(help="Also drop the vectors of texts that no longer exist.")] = True,
) -> None:
    """Embed every article and resolved case that has no vector yet (ingest does this; use after a model change)."""
    from kbcrm.graph import open_store

    settings = get_settings()
    with open_store(settings) as store:
        _embed(store, settings, prune=prune)


# Ingest kinds whose rows change what answer assist searches: their ingest ends by embedding the new texts.
KNOWLEDGE_KINDS = frozenset({"cases", "case-notes"})


ingest_app = typer.Typer(
    help="Load source files into the graph: validated, idempotent, resumable, with provenance.", no_args_is_help=True
)
app.add_typer(ingest_app, name="ingest")


@contextmanager
def _ingest_store(settings: Settings) -> Iterator[GraphStore]:
    """The graph, its schema ensured, for an ingest command; a bad file or mapping or no graph: one line, exit 1."""
    from ingest.mapping import MappingError
    from ingest.readers import SourceFileError
    from kbcrm.graph import StoreError, open_store

    try:
        with open_store(settings) as store:
            store.ensure_schema(vector_dimension=settings.embedding_dim)
            yield store
    except (MappingError, SourceFileError, StoreError) as exc:
        _fail(str(exc))


def _ingest_rows(kind: str, labels: tuple[str, ...], path: Path, mapping: str, dry_run: bool, batch_size: int) -> None:
    from ingest.mapping import MappingError, load_mapping
    from ingest.readers import estimate_rows
    from ingest.runner import ingest_file
    from kbcrm.graph import open_store

    settings = get_settings()
    try:
        parsed = load_mapping(mapping)
    except MappingError as exc:
        _fail(str(exc))
    if parsed.label not in labels:
        _fail(f"{parsed.path}: maps to {parsed.label}, but {kind} files become {' or '.join(labels)}")
    with _ingest_store(settings) as store, _progress() as progress:
        task = progress.add_task(f"ingest {path.name}", total=estimate_rows(path))
        report = ingest_file(
            store,
            path=path,
            mapping=parsed,
            source_kind=kind,
            data_dir=settings.data_dir,
            dry_run=dry_run,
            batch_size=batch_size,
            on_rows=lambda n: progress.update(task, completed=n),
        )
    _print_run(report, f"run {report.run_id}" + (" (dry run: nothing written)" if dry_run else ""))
    if report.resumed_after_line:
        console.print(f"resumed an interrupted run after line {report.resumed_after_line}")
    if kind in KNOWLEDGE_KINDS and not dry_run:
        with open_store(settings) as store:
            _embed(store, settings)


def _print_run(report: IngestReport | ArticleReport, title: str) -> None:
    """The read / created / updated / unchanged / rejected table and the first reasons for rejections."""
    table = Table("read", "created", "updated", "unchanged", "rejected", title=title)
    table.add_row(*(str(v) for v in report.counts().values()))
    console.print(table)
    _print_rejections(report)


def _print_rejections(report: IngestReport | ArticleReport | CatalogReport) -> None:
    """Where a run's rejected rows are kept, and the first reasons."""
    if report.rejected:
        console.print(f"{report.rejected} rejected, with reasons, in {report.quarantine_file}")
        for r in report.rejections[:5]:
            console.print(f"  {r.file}:{r.line}: {r.field or '(row)'}={r.value!r}: {r.message}", soft_wrap=True)


PathArg = Annotated[Path, typer.Argument(help="The source file (CSV, JSON array or JSON lines).")]
DryRun = Annotated[bool, typer.Option(help="Validate and count, write nothing to the graph.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Rows per write statement.")]


# Row sources: kind, the labels its mapping may produce, default mapping (None: required), what it does.
ROW_KINDS: tuple[tuple[str, tuple[str, ...], str | None, str], ...] = (
    (
        "employees",
        ("Employee",),
        "kbcrm-employees",
        "Load the staff directory (employee id, name, e-mail, department, job title, declared expertise topics): "
        "the people cases, notes, articles and logins name. Load the catalogue (its topics) first.",
    ),
    (
        "customers",
        ("SourceRecord", "Customer"),
        None,
        "Load a department's customer export as SourceRecords (mapping sales, service, billing or yours; then "
        "`kbcrm identity resolve`), or edits to existing customers (mapping kbcrm-customers, the layout "
        "`export-records customers` writes).",
    ),
    (
        "orders",
        ("Order",),
        "orders",
        "Load orders, each linked to the customer its account resolved to "
        "(run identity resolve first); kbcrm-orders links by customer id.",
    ),
    (
        "order-lines",
        ("OrderLine",),
        "order_lines",
        "Load order lines, linked to their order and to the product (by SKU; kbcrm-order-lines by product id).",
    ),
    (
        "interactions",
        ("Interaction",),
        "interactions",
        "Load touches on any channel onto the timeline of the resolved customer (kbcrm-touches: by customer id).",
    ),
    (
        "contacts",
        ("Contact",),
        "kbcrm-contacts",
        "Load contact persons, each linked to its customer by id (the layout `export-records contacts` writes).",
    ),
    (
        "opportunities",
        ("Opportunity",),
        "kbcrm-opportunities",
        "Load opportunities with customer (required), "
        "owner and product by id (the layout `export-records opportunities` writes).",
    ),
    (
        "stage-changes",
        ("StageChange",),
        "kbcrm-stage-changes",
        "Load opportunities' stage history (load the opportunities first).",
    ),
    (
        "cases",
        ("ServiceCase",),
        "kbcrm-cases",
        "Load service cases with customer (required), product and handler "
        "by id (the layout `export-records cases` writes); --mapping zendesk-tickets reads a Zendesk export.",
    ),
    (
        "case-notes",
        ("ServiceNote",),
        "kbcrm-case-notes",
        "Load case notes onto their cases (load the cases first; then `kbcrm link-notes` links them to the catalogue); "
        "--mapping zendesk-comments reads Zendesk ticket comments.",
    ),
)


def _row_command(kind: str, labels: tuple[str, ...], default: str | None, doc: str) -> None:
    """Register `kbcrm ingest KIND PATH --mapping M`: the same runner for every row source."""

    def command(path: Path, mapping: str = default or "", dry_run: bool = False, batch_size: int = 1000) -> None:
        _ingest_rows(kind, labels, path, mapping, dry_run, batch_size)

    where = f"(default: bundled {default})" if default else "(required)"
    # Annotations set as objects: `from __future__ import annotations` would leave strings typer cannot resolve.
    command.__annotations__ = {
        "path": PathArg,
        "mapping": Annotated[str, typer.Option(help=f"Mapping YAML file, or a bundled one's name {where}.")],
        "dry_run": DryRun,
        "batch_size": BatchSize,
        "return": None,
    }
    if default is None:
        command.__defaults__ = (False, 1000)  # no default: --mapping is required
    command.__doc__ = doc
    command.__name__ = f"ingest_{kind.replace('-', '_')}"
    ingest_app.command(kind)(command)


for _kind, _labels, _default, _doc in ROW_KINDS:
    _row_command(_kind, _labels, _default, _doc)


@ingest_app.command("campaign-responses")
def ingest_campaign_responses(path: PathArg, dry_run: DryRun = False) -> None:
    """Record campaign members' responses from a mailing tool.

    The layout `export-records campaign-members` writes: campaign_id, customer_id, response, responded_at.
    """
    from ingest.readers import SourceFileError, estimate_rows
    from ingest.responses import ingest_responses
    from kbcrm.cli_operations import OPERATOR
    from kbcrm.graph import StoreError, open_store

    settings = get_settings()
    try:
        with open_store(settings) as store, _progress() as progress:
            task = progress.add_task(f"ingest {path.name}", total=estimate_rows(path))
            report = ingest_responses(
                store,
                path=path,
                principal=OPERATOR,
                data_dir=settings.data_dir,
                dry_run=dry_run,
                on_rows=lambda n: progress.update(task, completed=n),
            )
    except (SourceFileError, StoreError) as exc:
        _fail(str(exc))
    _print_run(report, f"run {report.run_id}" + (" (dry run: nothing written)" if dry_run else ""))


@ingest_app.command("articles")
def ingest_articles_command(
    directory: Annotated[Path, typer.Argument(help="A folder of Markdown files with YAML front matter.")],
    relink: Annotated[
        bool,
        typer.Option(
            help="Also derive the links of unchanged articles again (after a catalogue or linking-rule change); "
            "no new versions."
        ),
    ] = False,
) -> None:
    """Load expert know-how articles: validated front matter, links found in the text, versions kept."""
    from ingest.articles import ingest_articles

    settings = get_settings()
    with _ingest_store(settings) as store:
        report = ingest_articles(store, directory, data_dir=settings.data_dir, relink=relink)
        _print_run(report, f"articles run {report.run_id}")
        if relink:
            console.print(f"links derived again for {len(report.relinked)} unchanged articles")
        for article_id in report.replaced_edits:
            console.print(
                f"{article_id}: its changed file replaced an edit made in the console since its last ingest "
                f"(the edit is kept in its history: kbcrm kcs history {article_id})",
                soft_wrap=True,
            )
        _embed(store, settings)


@ingest_app.command("catalog")
def ingest_catalog_command(
    directory: Annotated[
        Path, typer.Argument(help="A folder of catalogue CSVs (components, products, symptoms, error_codes, topics).")
    ],
) -> None:
    """Load the product catalogue: components, products, symptoms, error codes, topics; validated, idempotent."""
    from ingest.catalog import ingest_catalog

    settings = get_settings()
    with _ingest_store(settings) as store:
        report = ingest_catalog(store, directory, data_dir=settings.data_dir)
    table = Table("file", "read", "created", "updated", "unchanged", "rejected", title=f"catalogue run {report.run_id}")
    for name, counts in report.files.items():
        table.add_row(name, *(str(v) for v in counts.values()))
    console.print(table)
    _print_rejections(report)


@ingest_app.command("evaluate-vendor")
def ingest_evaluate_vendor(
    path: Annotated[Path, typer.Argument(help="The purchased data file (CSV).")],
    key: Annotated[str, typer.Option(help="How rows match customers: email, phone or name+dob.")],
    requested: Annotated[
        list[str] | None, typer.Option(help="Attributes you bought (default: every non-key column).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Before loading a purchased file: match rate, fill rate and accuracy against the graph's customers."""
    from ingest.readers import SourceFileError
    from ingest.vendor import evaluate_vendor
    from kbcrm.graph import open_store

    try:
        with open_store() as store:
            result = evaluate_vendor(store, path, key=key, requested=requested)
    except SourceFileError as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(
        f"{result['rows']} vendor rows; {result['matched']} match a known customer by {key}: "
        f"match rate {result['match_rate']:.1%}; mean fill rate {result['mean_fill_rate']:.1%}"
    )
    fill = Table("attribute", "fill rate", title="fill rate per requested attribute")
    for attribute, rate in result["fill_rate_by_attribute"].items():
        fill.add_row(attribute, f"{rate:.1%}")
    console.print(fill)
    accuracy = Table("attribute", "compared", "agree", "accuracy", title="accuracy where the graph knows the truth")
    for attribute, numbers in result["accuracy"].items():
        accuracy.add_row(attribute, str(numbers["compared"]), str(numbers["agree"]), f"{numbers['accuracy']:.1%}")
    console.print(accuracy)


@app.command()
def why(node_id: Annotated[str, typer.Argument(help="The id of a node in the graph.")]) -> None:
    """Show where a fact came from: source file, line, ingest run and time."""
    from ingest.runner import why as provenance
    from kbcrm.graph import open_store

    with open_store() as store:
        rows = provenance(store, node_id)
    if not rows:
        _fail(f"no provenance recorded for {node_id!r} (unknown id, or loaded without ingest)")
    table = Table("file", "line", "run", "ingested at", "kind")
    for r in rows:
        table.add_row(str(r["file"]), str(r["line"]), str(r["run_id"]), str(r["ingested_at"]), str(r["source_kind"]))
    console.print(table)


identity_app = typer.Typer(help="Identity resolution: one customer across departments.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")


@identity_app.command("evaluate")
def identity_evaluate(
    path: Annotated[Path, typer.Argument(help="A labelled CSV (people or companies, one record a row).")],
    truth_column: Annotated[str, typer.Option(help="Column holding the true entity of each record.")],
    truth_pattern: Annotated[
        str | None, typer.Option(help="Regex whose first group is the entity, e.g. 'rec-(\\d+)' for Febrl.")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Record id column (default: rec_id, unique_id or id).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Link threshold (default: KBCRM_IDENTITY_THRESHOLD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Resolve a labelled file and report pairwise precision, recall, F1 and blocking pair completeness."""
    from ingest.identity.evaluate import evaluate_file
    from ingest.readers import SourceFileError

    threshold = threshold if threshold is not None else get_settings().identity_threshold
    try:
        quality = evaluate_file(
            path, truth_column=truth_column, truth_pattern=truth_pattern, id_column=id_column, threshold=threshold
        )
    except SourceFileError as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(quality))
        return
    table = Table("measure", "value", title=f"identity resolution on {path.name} (threshold {threshold:g})")
    for key in (
        "records",
        "true_entities",
        "clusters",
        "candidate_pairs",
        "pair_completeness",
        "precision",
        "recall",
        "f1",
        "seconds",
    ):
        value = quality[key]
        table.add_row(key, f"{value:.4f}" if value < 1.5 and key not in ("records",) else f"{value:,.0f}")
    console.print(table)


@identity_app.command("resolve")
def identity_resolve(
    threshold: Annotated[float | None, typer.Option(help="Link threshold (default: KBCRM_IDENTITY_THRESHOLD).")] = None,
) -> None:
    """Cluster all ingested department records (SourceRecord) into one Customer each; audited, idempotent."""
    from ingest.identity.graph import quality_against_truth, resolve_customers
    from kbcrm.graph import open_store

    settings = get_settings()
    threshold = threshold if threshold is not None else settings.identity_threshold
    with open_store(settings) as store, _progress() as progress:
        task = progress.add_task("compare candidate pairs", total=None)
        summary = resolve_customers(
            store,
            threshold=threshold,
            actor="cli",
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        quality = quality_against_truth(store)
    console.print(
        f"{summary['records']} records -> {summary['customers']} customers "
        f"({summary['merged']} merges audited, {summary['candidate_pairs']} candidate pairs compared)"
    )
    if quality is not None:
        console.print(
            f"against the demo's ground truth: precision {quality['precision']:.3f}, "
            f"recall {quality['recall']:.3f}, F1 {quality['f1']:.3f}"
        )


@identity_app.command("model")
def identity_model(
    as_json: Annotated[bool, typer.Option("--json", help="Print the parameters as JSON.")] = False,
) -> None:
    """Show the match model the last `identity resolve` fitted: how much each field's comparison level counts."""
    from ingest.identity.graph import current_model
    from ingest.identity.model import FIELDS, PRIOR
    from kbcrm.graph import open_store

    with open_store(get_settings()) as store:
        model = current_model(store)
    if as_json:
        console.print_json(model.to_json())
        return
    fitted = (
        f"m by EM on {model.pairs:,} candidate pairs, u from all record pairs ({model.random_pairs:,} sampled)"
        if model is not PRIOR
        else "not fitted yet: the prior"
    )
    table = Table("field", "level", "m", "u", "bits", title="identity match model")
    for name, level_names in FIELDS.items():
        for level, level_name in enumerate(level_names):
            bits = float(model.bits(name)[level])
            table.add_row(
                name, level_name, f"{model.m[name][level]:.4f}", f"{model.u[name][level]:.4f}", f"{bits:+.1f}"
            )
    console.print(table)
    console.print(
        f"{fitted}; prior: {model.prior:.3g} of record pairs are one customer ({model.prior_bits:+.1f} bits); "
        "a pair's score is the prior's bits plus each compared field's bits (0 = even odds)",
        soft_wrap=True,
    )


@identity_app.command("unmerge")
def identity_unmerge(
    audit_id: Annotated[str, typer.Argument(help="The id of a merge audit event (audit:merge:…).")],
) -> None:
    """Undo a customer merge: restore the absorbed customer with everything that was moved, keep them apart."""
    from ingest.identity.merge import unmerge
    from kbcrm.graph import open_store

    with open_store() as store:
        try:
            result = unmerge(store, audit_id, actor="cli")
        except ValueError as exc:
            _fail(str(exc))
    console.print(
        f"restored {result['restored']} ({result['moved_back']} relationships moved back from "
        f"{result['survivor']}); recorded as {result['audit']}"
    )


@app.command("link-notes")
def link_notes_command(
    evaluate: Annotated[
        Path | None, typer.Option(help="A demo data directory: also report precision/recall against its labels.")
    ] = None,
) -> None:
    """Link every service note to the products, components, error codes and symptoms it mentions."""
    from ingest.notes import evaluate_demo_linking, link_notes
    from kbcrm.graph import open_store

    settings = get_settings()
    with open_store(settings) as store:
        counts = link_notes(store)
        console.print(f"{counts['mentions']} mentions in {counts['notes']} notes; {counts['causes']} stated causes")
        _embed(store, settings)  # a note that states its resolution makes its case searchable
        if evaluate is not None:
            quality = evaluate_demo_linking(store, evaluate)
            table = Table(
                "measure", "precision", "recall", "F1", title=f"note linking on {int(quality['notes'])} notes"
            )
            for level in ("span", "entity"):
                table.add_row(level, *(f"{quality[f'{level}_{m}']:.3f}" for m in ("precision", "recall", "f1")))
            console.print(table)


@store_app.command("status")
def store_status() -> None:
    """Show the backend, the embedded server's pid and the graph's size."""
    from kbcrm.graph import embedded_server, open_store

    settings = get_settings()
    table = Table(show_header=False)
    table.add_row("backend", "embedded FalkorDB" if settings.is_embedded else settings.graph_uri)
    if settings.is_embedded:
        server = embedded_server(settings)
        table.add_row("data directory", str(server.directory))
        table.add_row("server pid", str(server.running_pid() or "not running"))
    with open_store(settings) as store:
        table.add_row("nodes", str(store.count_nodes()))
        table.add_row("relationships", str(store.count_relationships()))
    console.print(table)


@store_app.command("start")
def store_start() -> None:
    """Start (or reattach to) the embedded server."""
    from kbcrm.graph import embedded_server

    server = embedded_server()
    server.ensure_running()
    console.print(f"embedded FalkorDB running, pid {server.running_pid()}, socket {server.socket_path}")


@store_app.command("stop")
def store_stop() -> None:
    """Stop the embedded server cleanly (flushes the append-only file)."""
    from kbcrm.graph import embedded_server

    settings = get_settings()
    if not settings.is_embedded:
        _fail("the configured graph is not embedded; nothing to stop")
    stopped = embedded_server(settings).stop()
    console.print("stopped" if stopped else "no embedded server was running")


@store_app.command("schema")
def store_schema() -> None:
    """Create the constraints and indexes the ontology asks for (idempotent)."""
    from kbcrm.graph import open_store

    settings = get_settings()
    with open_store(settings) as store:
        store.ensure_schema(vector_dimension=settings.embedding_dim)
    console.print("schema ensured")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="turtle or json-ld.")] = "turtle",
) -> None:
    """Write the graph as RDF (Turtle or JSON-LD) with the ontology's IRIs."""
    from kbcrm.graph import open_store
    from kbcrm.rdf import export as export_rdf

    if fmt not in ("turtle", "json-ld"):
        _fail(f"--format {fmt!r}: use turtle or json-ld")
    with open_store() as store:
        triples = export_rdf(store, out, fmt=fmt)
    console.print(f"wrote {triples} triples to {out}")


@app.command()
def sparql(
    query: Annotated[str, typer.Argument(help="A SPARQL SELECT/ASK/CONSTRUCT query (prefixes kb:, schema: known).")],
    rdf_file: Annotated[Path | None, typer.Option(help="Query this export instead of exporting the graph now.")] = None,
) -> None:
    """Run a read-only SPARQL query over the RDF export of the graph."""
    from rdflib import Graph

    from kbcrm.graph import open_store
    from kbcrm.rdf import sparql as run_sparql
    from kbcrm.rdf import to_rdf

    if rdf_file is not None:
        graph = Graph().parse(rdf_file)
    else:
        with open_store() as store:
            graph = to_rdf(store)
    try:
        result = run_sparql(graph, query)
    except Exception as exc:  # rdflib raises pyparsing errors for bad or updating queries
        _fail(f"SPARQL query refused: {str(exc).splitlines()[0]} (only SELECT, ASK, CONSTRUCT and DESCRIBE run)")
    if result.type == "ASK":
        console.print(bool(result.askAnswer))
        return
    table = Table(*[str(v) for v in (result.vars or [])])
    for row in result:
        table.add_row(*[str(value) if value is not None else "" for value in row])  # type: ignore[union-attr]
    console.print(table)


kt_app = typer.Typer(help="Knowledge transfer: KCS actions on articles and cases.", no_args_is_help=True)
app.add_typer(kt_app, name="kcs")
eval_app = typer.Typer(help="Evaluations that print measured quality.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(opportunities_app, name="opportunities")
app.add_typer(customers_app, name="customers")
app.command("export-records")(export_records_command)
eval_app.command("churn")(eval_churn)


def _knowledge_base(store: GraphStore, settings: Settings) -> KnowledgeBase:
    from knowledge_transfer.answers.service import KnowledgeBase

    with console.status("indexing knowledge (embeds only new or changed texts)"):
        return KnowledgeBase.from_graph(store, settings)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in English or Chinese.")],
    customer: Annotated[str | None, typer.Option(help="Customer id: adds their installed base.")] = None,
    case: Annotated[str | None, typer.Option(help="Case id: adds the case's product and symptoms.")] = None,
    audience: Annotated[str, typer.Option(help="staff or customer (customer needs --customer).")] = "staff",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer with evidence as JSON.")] = False,
) -> None:
    """Answer assist: articles, similar resolved cases and experts, each with its evidence."""
    from kbcrm.graph import open_store
    from knowledge_transfer.answers.service import AnswerError, answer

    settings = get_settings()
    with open_store(settings) as store:
        kb = _knowledge_base(store, settings)
        try:
            result = answer(kb, store, question, customer_id=customer, case_id=case, audience=audience)
        except AnswerError as exc:
            _fail(str(exc))
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if result.linked:
        console.print("linked: " + ", ".join(f"{n.label} {n.name}" for n in result.linked))
    for s in result.suggestions:
        console.print(f"[bold]{s.kind}[/bold] {s.id}  {s.title}  [dim]score {s.score:.3f}[/dim]")
        console.print(f"    {s.summary}")
        ev = s.evidence
        if s.kind != "expert":
            console.print(
                f"    matched {', '.join(ev.matched_words) or '-'}; similarity {ev.semantic_similarity:.3f} "
                f"({ev.dense_model}); usage {ev.usage}; boosts {ev.boosts or '-'}"
            )
        for path in ev.paths[:3]:
            console.print(f"    path: {path.text}")


@app.command("who-knows")
def who_knows_command(topic: Annotated[str, typer.Argument(help="A topic or a question.")]) -> None:
    """Expert finder: employees ranked by authored/validated articles and resolved cases, with evidence."""
    from kbcrm.graph import open_store
    from knowledge_transfer.experts import who_knows

    settings = get_settings()
    with open_store(settings) as store:
        kb = _knowledge_base(store, settings)
        for s in who_knows(kb, topic):
            console.print(f"[bold]{s.title}[/bold] ({s.id})  score {s.score:.3f}: {s.summary}")


@app.command()
def recommend(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    as_of: Annotated[str | None, typer.Option(help="Date the actions are judged at (default: now, UTC).")] = None,
) -> None:
    """Next-best articles, cross-sell products and next-best actions for a customer, each with its reason."""
    from kbcrm.graph import open_store
    from kbcrm.graph.store import utc_now
    from knowledge_transfer import recommendations as rec

    with open_store(get_settings()) as store:
        items = [
            *rec.next_best_articles(store, customer),
            *rec.cross_sell(store, customer),
            *rec.next_best_actions(store, customer, as_of=as_of or utc_now()),
        ]
    if not items:
        console.print(f"no recommendation for {customer} (unknown customer, or nothing with a reason)")
    for item in items:
        console.print(f"[bold]{item.kind}[/bold] {item.title}: {item.reason}")
        for path in item.paths[:2]:
            console.print(f"    path: {path.text}")


@kt_app.command("state")
def kcs_state(
    article: Annotated[str, typer.Argument(help="Article id.")],
    state: Annotated[str, typer.Argument(help="work-in-progress, not-validated, validated or archived.")],
    by: Annotated[str, typer.Option(help="Employee id of who does it.")],
) -> None:
    """Move an article to another confidence state (the old state is kept as a version)."""
    from kbcrm.graph import open_store
    from knowledge_transfer.kcs import KcsError, set_confidence

    with open_store(get_settings()) as store:
        try:
            row = set_confidence(store, article, state, by=by)
        except KcsError as exc:
            _fail(str(exc))
    console.print(f"{article}: {row['confidence']} (version {row['version']})")


@kt_app.command("draft")
def kcs_draft(
    case: Annotated[str, typer.Argument(help="A resolved case id.")],
    by: Annotated[str, typer.Option(help="Employee id of the author.")],
) -> None:
    """Draft a work-in-progress article from a resolved case (issue, environment, cause, resolution).

    It resolves the error codes and symptoms its issue names, like an ingested article.
    """
    from kbcrm.graph import open_store
    from knowledge_transfer.kcs import KcsError, draft_from_case

    with open_store(get_settings()) as store:
        try:
            draft = draft_from_case(store, case, by=by)
        except KcsError as exc:
            _fail(str(exc))
    console.print(f"[bold]{draft.article_id}[/bold]: {draft.title}\n{draft.body}")


@kt_app.command("link")
def kcs_link(
    article: Annotated[str, typer.Argument(help="Article id.")],
    case: Annotated[str, typer.Argument(help="Case id.")],
    kind: Annotated[str, typer.Option(help="reused, created or modified.")] = "reused",
    by: Annotated[str, typer.Option(help="Employee id.")] = "",
) -> None:
    """Link an article to a case (it counts as reuse in ranking)."""
    from kbcrm.graph import open_store
    from knowledge_transfer.kcs import KcsError, link_article_to_case

    with open_store(get_settings()) as store:
        try:
            link_article_to_case(store, article, case, kind=kind, by=by)
        except KcsError as exc:
            _fail(str(exc))
    console.print(f"{article} -[{kind}]-> {case}")


@kt_app.command("history")
def kcs_history(article: Annotated[str, typer.Argument(help="Article id.")]) -> None:
    """Every version of an article, the current one last: who made it, when, state."""
    from kbcrm.graph import open_store
    from knowledge_transfer.kcs import KcsError, history

    with open_store(get_settings()) as store:
        try:
            versions = history(store, article)
        except KcsError as exc:
            _fail(str(exc))
    for v in versions:
        console.print(f"v{v['version']}  {v['created_at']}  by {v['edited_by']}  {v['confidence']}  {v['title']}")


@kt_app.command("health")
def kcs_health(
    as_of: Annotated[str | None, typer.Option(help="Date staleness is judged at (default: now, UTC).")] = None,
) -> None:
    """Content health: articles never reused, stale, low-rated, whose issue resolves nothing, and near-duplicates."""
    from kbcrm.graph import open_store
    from knowledge_transfer.portal import content_health_report

    settings = get_settings()
    with open_store(settings) as store:
        report = content_health_report(_knowledge_base(store, settings), store, as_of=as_of)
    for name, items in report.items():
        console.print(f"[bold]{name}[/bold]: {len(items)}")
        for item in items[:10]:
            console.print(f"    {item}")


def _embedder_name(chosen: str | None, settings: Settings) -> str:
    """The --embedder option, or the setting; a one-line error for a name that is none of them."""
    name = chosen or settings.embedder
    if name not in EMBEDDING_DIMENSIONS:
        _fail(f"--embedder: unknown embedder {name!r}; choose one of {', '.join(EMBEDDING_DIMENSIONS)}")
    return name


@eval_app.command("retrieval")
def eval_retrieval(
    directory: Annotated[Path, typer.Argument(help="A BEIR-layout directory: corpus.jsonl, queries.jsonl, qrels.tsv.")],
    embedder: Annotated[
        str | None, typer.Option(help="minilm-int8, minilm, use-int8 or use (default: KBCRM_EMBEDDER).")
    ] = None,
) -> None:
    """MAP, MRR, P@1, P@5, nDCG@10, recall@100 of BM25, dense and the shipped hybrid, side by side."""
    from knowledge_transfer.embeddings import get_embedder
    from knowledge_transfer.evaluation import METRICS, MODES, DatasetError, evaluate, load_beir
    from knowledge_transfer.search.fusion import FusionWeights

    settings = get_settings()
    try:
        dataset = load_beir(directory)
    except DatasetError as exc:
        _fail(str(exc))
    name = _embedder_name(embedder, settings)
    model = get_embedder(name)
    weights = FusionWeights(  # a multilingual model ranks with the weight answer assist gives it for Chinese questions
        lexical=settings.fusion_lexical_weight_multilingual
        if name in MULTILINGUAL_EMBEDDERS
        else settings.fusion_lexical_weight
    )
    console.print(
        f"{dataset.name}: {len(dataset.doc_ids)} documents, {len(dataset.query_ids)} judged queries; "
        f"dense model {model.model_id}; hybrid = z(dense) + {weights.lexical} * bm25 / max(bm25)",
        soft_wrap=True,
    )
    with _progress() as progress:
        task = progress.add_task("ranking queries", total=len(dataset.query_ids))
        results = evaluate(dataset, model, weights=weights, progress=lambda n: progress.advance(task, n))
    table = Table(title=f"{dataset.name} ({model.model_id})")
    table.add_column("retriever")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for mode in MODES:
        table.add_row(mode, *(f"{results[mode][m]:.2f}" for m in METRICS))
    console.print(table)
    best_single = max(results["bm25"]["MAP"], results["dense"]["MAP"])
    verdict = "at least as good as" if results["hybrid"]["MAP"] >= best_single else "WORSE than"
    console.print(
        f"hybrid MAP {results['hybrid']['MAP']:.2f} is {verdict} the best single retriever ({best_single:.2f})"
    )
    below = [m for m in METRICS if results["hybrid"][m] < max(results["bm25"][m], results["dense"][m])]
    console.print(
        f"hybrid >= the better single retriever on {len(METRICS) - len(below)} of {len(METRICS)} metrics"
        + (f" (below on {', '.join(below)})" if below else ""),
        soft_wrap=True,
    )


@eval_app.command("weak-match")
def eval_weak_match(
    corpus: Annotated[Path, typer.Argument(help="A BEIR-layout directory: its corpus, and its queries as on-topic.")],
    other: Annotated[Path, typer.Argument(help="A BEIR-layout directory on another subject: its queries, off-topic.")],
    embedder: Annotated[
        str | None, typer.Option(help="minilm-int8, minilm, use-int8 or use (default: KBCRM_EMBEDDER).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(min=0, max=1, help="Cosine to test (default: KBCRM_WEAK_MATCH_SIMILARITY).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Questions drawn from each set.")] = 600,
) -> None:
    """How well the weak-match threshold tells on-topic questions from off-topic ones, by best cosine in a corpus."""
    import numpy as np

    from knowledge_transfer.embeddings import get_embedder
    from knowledge_transfer.evaluation import PERCENTILES, DatasetError, load_beir, weak_match_rates

    settings = get_settings()
    try:
        own, foreign = load_beir(corpus), load_beir(other)
    except DatasetError as exc:
        _fail(str(exc))
    cut = settings.weak_match_similarity if threshold is None else threshold
    model = get_embedder(_embedder_name(embedder, settings))
    with console.status(f"encoding {len(own.doc_ids)} documents and up to {2 * limit} questions"):
        report = weak_match_rates(own, foreign, model, threshold=cut, limit=limit)
    table = Table(title=f"best cosine in {own.name} ({model.model_id})")
    table.add_column("questions")
    table.add_column("n", justify="right")
    for p in PERCENTILES:
        table.add_column(f"p{p}", justify="right")
    table.add_column(f"below {cut:g}", justify="right")
    for label, values, share in (
        (f"{own.name} (on topic)", report.on_topic, report.flagged_on_topic),
        (f"{foreign.name} (off topic)", report.off_topic, report.flagged_off_topic),
    ):
        shown = [f"{np.percentile(values, p):.3f}" for p in PERCENTILES]
        table.add_row(label, str(values.size), *shown, f"{share:.1%}")
    console.print(table)
    console.print(
        f"threshold {cut:g}: {report.flagged_off_topic:.1%} of off-topic questions called weak, "
        f"{report.flagged_on_topic:.1%} of on-topic ones (false alarms)",
        soft_wrap=True,
    )


@app.command("settings")
def show_settings() -> None:
    """List every setting, its environment variable, current value and meaning."""
    settings = get_settings()
    table = Table("value", "meaning")
    table.columns[0].overflow = "fold"
    table.add_column("environment variable", no_wrap=True)
    table.columns.insert(0, table.columns.pop())
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = "********" if "secret" in name or "password" in name else str(value)
        table.add_row(f"KBCRM_{name.upper()}", shown, field.description or "")
    console.print(table)


if __name__ == "__main__":
    app()
