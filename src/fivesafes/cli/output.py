"""Output conventions of the CLI: human or JSON summaries, progress bars, errors."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from fivesafes.errors import FivesafesError

console = Console()
errors = Console(stderr=True)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


def comma_list(*texts: str | None) -> list[str]:
    """The names in comma-separated option values (``a,b`` or a repeated option),
    trimmed, blanks dropped, in order."""
    return [part.strip() for text in texts if text for part in text.split(",") if part.strip()]


def comma_lists(texts: Iterable[str] | None) -> list[str]:
    """:func:`comma_list` of a repeatable option's values."""
    return comma_list(*(texts or ()))


def print_attacker_bounds(
    bounds: list[dict[str, Any]], title: str, most: int | None = None
) -> None:
    """The table of what an attacker knows of each withheld cell of a table of sums
    (``attacker_bounds`` of a check: its labels, lower bound and interval), the
    first ``most`` rows if given, then how many more ``--json`` holds."""
    grid = Table(title=title)
    for col in ("cell", "at least (its negative contributions)", "attacker's range"):
        grid.add_column(col)
    for b in bounds[:most]:
        rng = b["interval"]
        grid.add_row(
            " × ".join(b["labels"].values()),
            f"{b['lower_bound']:g}",
            "not computed" if rng is None else f"{_bound(rng[0], '-∞')} to {_bound(rng[1], '+∞')}",
        )
    console.print(grid)
    if most is not None and len(bounds) > most:
        console.print(f"... and {len(bounds) - most} more (see --json).")


def _bound(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:g}"


def emit_json(summary: dict[str, Any]) -> None:
    """Print one JSON document on standard output."""
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")


@contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on standard error, fed with ``(stage, fraction done)``."""
    if not enabled or not errors.is_terminal:  # off a terminal it only leaves a blank line
        yield lambda stage, fraction: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=1.0, stage="")

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, stage=stage)

        yield update


def report_user_error(exc: FivesafesError) -> int:
    message = " ".join(str(exc).split("\n"))
    errors.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return EXIT_USER


def report_internal_error(exc: BaseException) -> int:
    errors.print(
        Text.assemble(
            ("internal error: ", "bold red"),
            f"{type(exc).__name__}: {exc}. This is a bug in fivesafes; please report it "
            "with the command you ran (set FIVESAFES_DEBUG=1 to see the traceback).",
        ),
        soft_wrap=True,
    )
    if os.environ.get("FIVESAFES_DEBUG"):
        traceback.print_exception(exc)
    return EXIT_INTERNAL
