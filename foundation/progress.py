"""Progress bars and console output shared by the commands (on stderr, so --json stays clean)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# soft_wrap: never break a path or an error message across lines.
console = Console(stderr=True, soft_wrap=True)


def progress_bar(*columns) -> Progress:
    """The commands' progress bar: description, bar, done/total, the given columns, elapsed
    time and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                    MofNCompleteColumn(), *columns, TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console)
