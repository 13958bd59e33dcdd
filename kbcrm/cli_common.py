"""What every `kbcrm` command module shares: consoles, the one-line error exit, date options, progress bars."""

from __future__ import annotations

import sys
from datetime import date
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with status 1."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(1)


def parse_date(text: str, option: str) -> date:
    """A YYYY-MM-DD option value, or the error exit naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


def progress_bar() -> Progress:
    """Rich progress on stderr (rate, ETA); silent when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
    )
