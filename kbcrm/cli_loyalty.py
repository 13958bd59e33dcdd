"""`kbcrm loyalty …` and `kbcrm eval churn`: CLV fits on any transaction file, the loyalty job, its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID
from rich.table import Table

from kbcrm.cli_common import console, fail, parse_date, progress_bar
from kbcrm.settings import get_settings

loyalty_app = typer.Typer(
    help="Loyalty intelligence: CLV, churn warning, tiers, segments, report.", no_args_is_help=True
)


@loyalty_app.command("clv")
def loyalty_clv(
    transactions: Annotated[Path, typer.Option(help="CSV with a header, or the whitespace CDNOW layout.")],
    calibration_end: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD) of the calibration period.")],
    customer_col: Annotated[
        str | None, typer.Option(help="Customer column (name, or position for headerless files).")
    ] = None,
    date_col: Annotated[str | None, typer.Option(help="Date column (yyyymmdd or ISO dates).")] = None,
    amount_col: Annotated[str | None, typer.Option(help="Amount column.")] = None,
    model: Annotated[str, typer.Option(help="bgnbd or pareto-nbd.")] = "bgnbd",
    unit: Annotated[str, typer.Option(help="Time unit of the parameters: weeks or days.")] = "weeks",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Fit BG/NBD or Pareto/NBD (+ Gamma-Gamma) on a transaction file; hold-out check when data follows."""
    from kbcrm.loyalty.clv import analyse
    from kbcrm.loyalty.fitting import FitError
    from kbcrm.loyalty.transactions import TransactionError, read_transactions

    if model not in ("bgnbd", "pareto-nbd"):
        fail(f"--model: {model!r} is not bgnbd or pareto-nbd")
    if unit not in ("weeks", "days"):
        fail(f"--unit: {unit!r} is not weeks or days")
    end = parse_date(calibration_end, "--calibration-end")
    settings = get_settings()
    try:
        tx = read_transactions(transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col)
        result = analyse(
            tx,
            calibration_end=end,
            model=model,  # type: ignore[arg-type]
            unit=unit,
            months=settings.clv_horizon_months,
            annual_discount=settings.clv_annual_discount,
        )
    except (TransactionError, ValueError, FitError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    s = result.summary
    console.print(
        f"{transactions}: {len(s)} customers with a first purchase by {end}, {int((s.frequency > 0).sum())} repeat "
        f"buyers, {int(s.frequency.sum())} repeat transactions (same-day purchases merged); time unit: {unit}"
    )
    for fit in (result.purchases, result.spend):
        if fit is None:
            continue
        table = Table(title=f"{fit.model}: log-likelihood {fit.log_likelihood:.1f} ({fit.customers} customers)")
        table.add_column("parameter")
        table.add_column("estimate", justify="right")
        table.add_column("std. error", justify="right")
        for name, value in fit.params.items():
            table.add_row(name, f"{value:.4f}", f"{fit.standard_errors[name]:.4f}")
        console.print(table)
        odd = [k for k, v in fit.params.items() if v < 1e-4 or v > 1e4]
        if odd:
            console.print(
                f"[yellow]warning:[/yellow] {fit.model} parameter(s) {', '.join(odd)} at the edge of the space: "
                "the data does not identify the model well (e.g. no visible dropout)"
            )
    if result.holdout is not None:
        h = result.holdout
        table = Table(title=f"hold-out: {h.length:g} {unit} after {end}")
        table.add_column("past repeat purchases")
        table.add_column("customers", justify="right")
        table.add_column("actual mean", justify="right")
        table.add_column("predicted mean", justify="right")
        for bucket, n, actual, predicted in h.by_frequency:
            table.add_row(bucket, str(n), f"{actual:.3f}", f"{predicted:.3f}")
        table.add_row("all", str(len(s)), f"total {h.actual:,.0f}", f"total {h.predicted:,.1f}")
        console.print(table)
        console.print(
            f"predicted vs actual hold-out transactions: {h.predicted:,.1f} vs {h.actual:,.0f} ({h.error:+.1%})"
        )
    if result.clv is not None:
        console.print(
            f"{settings.clv_horizon_months}-month CLV (discount {settings.clv_annual_discount:.0%} a year): "
            f"mean {result.clv.mean():,.2f}, total {result.clv.sum():,.0f}; mean P(alive) {result.p_alive.mean():.3f}"
        )


@loyalty_app.command("run")
def loyalty_run(
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this date (default: the latest activity in the graph).")
    ] = None,
) -> None:
    """Score every customer (CLV, P(alive), churn risk, RFM, tier, credit, segments) and write it to the graph."""
    from kbcrm.graph import open_store
    from kbcrm.loyalty.job import NothingToScore, run_loyalty

    settings = get_settings()
    when = parse_date(as_of, "--as-of") if as_of else None
    tasks: dict[str, TaskID] = {}
    with open_store(settings) as store, progress_bar() as progress:

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total or None)
            progress.update(tasks[step], completed=done, total=total or None)

        try:
            summary = run_loyalty(store, settings, as_of=when, progress=tick)
        except NothingToScore as exc:
            progress.stop()
            fail(str(exc))
    console.print(
        f"as of {summary.as_of}: {summary.customers} customers ({summary.buyers} with orders) scored, "
        f"{summary.written} written, {summary.skipped_pages} page(s) already written; model {summary.model_version}"
    )
    if summary.purchases:
        p = summary.purchases
        console.print(
            f"  {p['model']}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in p["params"].items())
            + f", LL {p['log_likelihood']:.1f}"
        )
    if summary.churn:
        c = summary.churn
        console.print(
            f"  churn model {c['version']}: trained as of {c['trained_as_of']} on {c['training_customers']} customers "
            f"({c['churned_share']:.0%} churned within {c['horizon_days']} days); out-of-fold AUC "
            f"{c['auc_out_of_fold']:.3f}, calibration error {c['calibration_error']:.3f}"
        )
    console.print("  tiers: " + ", ".join(f"{k} {v}" for k, v in summary.tiers.items()))
    console.print("  credit ratings: " + ", ".join(f"{k} {v}" for k, v in summary.credit.items()))
    console.print(f"  relationship graph: {summary.communities} communities")
    for segment in summary.segments:
        console.print(f"  segment [bold]{segment['name']}[/bold]: {segment['description']}")
    for note in summary.notes:
        console.print(f"  [yellow]note:[/yellow] {note}")


@loyalty_app.command("report")
def loyalty_report(
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("loyalty-report.html"),
) -> None:
    """A self-contained HTML report of the last `kbcrm loyalty run` (plots inline, no network needed)."""
    from kbcrm.graph import open_store
    from kbcrm.loyalty.report import ReportError, write_report

    settings = get_settings()
    with open_store(settings) as store:
        try:
            path = write_report(store, settings, out)
        except ReportError as exc:
            fail(str(exc))
    console.print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def eval_churn(
    file: Annotated[Path, typer.Argument(help="A churn file in the IBM Telco layout (customerID, …, Churn).")],
    seed: Annotated[int, typer.Option(help="Seed of the stratified 80/20 split.")] = 42,
) -> None:
    """AUC, Brier score and calibration error of the churn model on a stratified 80/20 split."""
    from kbcrm.loyalty.evaluation import ChurnDataError, evaluate_churn

    try:
        result = evaluate_churn(file, seed=seed)
    except ChurnDataError as exc:
        fail(str(exc))
    q = result.quality
    console.print(
        f"{file}: trained on {result.train_customers}, tested on {q.customers} customers "
        f"({q.churn_rate:.1%} churned); model {result.model_version}"
    )
    console.print(f"AUC {q.auc:.4f}   Brier {q.brier:.4f}   expected calibration error {q.calibration_error:.4f}")
    table = Table(title="reliability (test split)")
    for column in ("mean predicted", "observed churn", "customers"):
        table.add_column(column, justify="right")
    for predicted, observed, n in q.reliability:
        table.add_row(f"{predicted:.3f}", f"{observed:.3f}", str(n))
    console.print(table)
    for customer, probability, reasons in result.examples[:3]:
        console.print(f"{customer}: churn {probability:.2f} because " + "; ".join(r.text for r in reasons))
