"""`kbcrm opportunities …`, `kbcrm customers timeline` and `kbcrm export-records`: business operations from a shell."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.cli_common import console, fail, parse_date, progress_bar

# The command line acts as an operator with full rights (whoever can run it can open the store).
OPERATOR = Principal("user:cli", "command line", Role.admin)

opportunities_app = typer.Typer(help="Sales pipeline: list, forecast, move a stage.", no_args_is_help=True)
customers_app = typer.Typer(
    help="Customers: the timeline of everything that happened; portal invitations.", no_args_is_help=True
)


@opportunities_app.command("list")
def opportunities_list(
    stage: Annotated[str, typer.Option(help="A stage, 'open' (every stage but won/lost) or '' for all.")] = "open",
    owner: Annotated[str, typer.Option(help="Only this owner's (employee id).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Opportunities with amount, probability, weighted amount and expected close."""
    from kbcrm.graph import open_store
    from kbcrm.operations.opportunities.service import OpportunityError, list_opportunities

    with open_store() as store:
        try:
            rows = list_opportunities(store, principal=OPERATOR, stage=stage, owner_id=owner, limit=500)
        except OpportunityError as exc:
            fail(str(exc))
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("id", "customer", "stage", "amount", "p", "weighted", "close", "owner", title="opportunities")
    for r in rows:
        close = str(r["closed_on"] or r["expected_close"]) + (" overdue" if r["overdue"] else "")
        table.add_row(
            r["id"],
            r["customer_name"] or "",
            r["stage"],
            f"{r['amount']:.0f} {r['currency']}",
            f"{r['probability']:.2f}",
            f"{r['weighted_amount']:.0f}",
            close,
            r["owner_name"] or "",
        )
    console.print(table)


@opportunities_app.command("forecast")
def opportunities_forecast(
    start: Annotated[str, typer.Option(help="First month (any day in it, YYYY-MM-DD); default this month.")] = "",
    months: Annotated[int, typer.Option(min=1, max=36, help="How many months.")] = 6,
    owner: Annotated[str, typer.Option(help="Only this owner's (employee id).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Weighted forecast per month, owner and currency (open: amount × probability; won: amount)."""
    from kbcrm.graph import open_store
    from kbcrm.operations.opportunities.service import forecast

    first = parse_date(start, "--start") if start else datetime.now(UTC).date()
    with open_store() as store:
        result = forecast(store, principal=OPERATOR, start=first, months=months, owner_id=owner)
    if as_json:
        console.print_json(json.dumps(result, default=str))
        return
    table = Table("month", "owner", "currency", "open", "pipeline", "weighted", "won", title="weighted forecast")
    for r in result["rows"]:
        table.add_row(
            r["month"],
            r["owner_name"] or "-",
            r["currency"] or "",
            str(r["open_count"]),
            f"{r['pipeline']:.0f}",
            f"{r['weighted']:.0f}",
            f"{r['won']:.0f}",
        )
    console.print(table)
    console.print(result["method"])


@opportunities_app.command("move")
def opportunities_move(
    opportunity: Annotated[str, typer.Argument(help="Opportunity id.")],
    stage: Annotated[str, typer.Argument(help="prospecting, qualification, proposal, negotiation, won or lost.")],
    reason: Annotated[str, typer.Option(help="Why (required for won, lost and reopening).")] = "",
) -> None:
    """Move an opportunity to another stage; the move is kept in its history."""
    from kbcrm.graph import open_store
    from kbcrm.operations.opportunities.service import OpportunityError, move_stage

    with open_store() as store:
        try:
            moved = move_stage(store, principal=OPERATOR, opportunity_id=opportunity, stage=stage, reason=reason)
        except OpportunityError as exc:
            fail(str(exc))
    console.print(
        f"{moved['id']}: {moved['stage']} (probability {moved['probability']:g}), {len(moved['history'])} moves"
    )


@customers_app.command("timeline")
def customers_timeline(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    kind: Annotated[list[str], typer.Option(help="touch, case, order, opportunity, campaign, consent.")] = [],  # noqa: B006
    limit: Annotated[int, typer.Option(min=1, max=500)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything that happened with a customer, newest first."""
    from kbcrm.graph import open_store
    from kbcrm.operations.touches.service import TouchError, timeline

    with open_store() as store:
        try:
            entries = timeline(store, principal=OPERATOR, customer_id=customer, kinds=tuple(kind), limit=limit)
        except (TouchError, AccessDenied) as exc:
            fail(str(exc))
    if as_json:
        console.print_json(json.dumps(entries, default=str))
        return
    table = Table("when", "kind", "what", "detail", title=f"timeline of {customer}")
    for e in entries:
        detail = " · ".join(
            str(e[k]) for k in ("channel", "direction", "outcome", "status", "to_stage", "response") if e.get(k)
        )
        table.add_row(e["at"], e["kind"], str(e["title"] or e["id"]), detail)
    console.print(table)


@customers_app.command("invite")
def customers_invite(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    contacts: Annotated[list[str], typer.Argument(help="Contact ids of that customer, one or more.")],
    days: Annotated[int, typer.Option(min=1, max=90, help="How long the links stay valid.")] = 14,
    base_url: Annotated[
        str, typer.Option(help="Where the portal is served (default: KBCRM_PUBLIC_URL, else KBCRM_HOST:KBCRM_PORT).")
    ] = "",
) -> None:
    """Invite contact persons of a customer to create their own portal logins; prints each link once.

    With e-mail on (KBCRM_SMTP_HOST), each link is also e-mailed to its contact.
    """
    from kbcrm.access.invitations import InvitationError, email_links, invite
    from kbcrm.graph import open_store
    from kbcrm.mail import SmtpMailer
    from kbcrm.settings import get_settings

    settings = get_settings()
    base = base_url or settings.public_url or f"http://{settings.host}:{settings.port}"
    mailer = SmtpMailer.from_settings(settings)
    with open_store() as store:
        try:
            sent = invite(store, principal=OPERATOR, customer_id=customer, contact_ids=contacts, days=days)
        except (InvitationError, AccessDenied) as exc:
            fail(str(exc))
        errors = email_links(store, sent, mailer=mailer, base_url=base, actor=OPERATOR.user_id) if mailer else {}
    console.print(f"portal invitations for {customer} (the links are shown only now; each works once):")
    for s in sent:
        who = f"{s.contact_name} <{s.email}>" if s.email else s.contact_name
        line = f"  {s.contact_id}  {who}  expires {s.expires_at[:10]}\n    {s.link(base)}"
        if mailer is not None:
            line += "\n    e-mailed" if errors.get(s.id) is None else f"\n    not e-mailed: {errors[s.id]}"
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def export_records_command(
    kind: Annotated[
        str,
        typer.Argument(
            help="customers, contacts, touches, opportunities, stage-changes, orders, order-lines, cases, case-notes "
            "or campaign-members."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="CSV file to write.")],
) -> None:
    """Write every record of a kind to CSV, in the layout `kbcrm ingest KIND` reads back."""
    from kbcrm.graph import open_store
    from kbcrm.operations.records.service import EXPORTS, ExportError, export_records

    with open_store() as store, progress_bar() as progress:
        task = progress.add_task(f"export {kind}", total=None)
        try:
            rows = export_records(store, kind=kind, path=out, on_rows=lambda n: progress.update(task, completed=n))
        except ExportError as exc:
            fail(str(exc))
    spec = EXPORTS[kind]
    console.print(
        f"wrote {rows} {kind} to {out} (read back with: {spec.import_command(out)})",
        soft_wrap=True,  # one line, so the command can be copied
    )
    if spec.read_only:
        console.print(f"read-only columns, not imported: {', '.join(spec.read_only)}")
