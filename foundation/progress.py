"""Progress bars and console output shared by the commands (on stderr, so --json stays clean)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from recsys.song2vec import EpochCallback, EpochStats

# soft_wrap: never break a path or an error message across lines.
console = Console(stderr=True, soft_wrap=True)


def progress_bar(*columns) -> Progress:
    """The commands' progress bar: description, bar, done/total, the given columns, elapsed
    time and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20),
                    MofNCompleteColumn(), *columns, TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console)


@contextmanager
def epoch_progress(epochs: int, label: str = "training song2vec") -> Iterator[EpochCallback]:
    """A progress bar over epochs showing songs/s and the epoch's loss; yields the callback."""
    progress = progress_bar(TextColumn("epochs"), TextColumn("{task.fields[rate]}"),
                            TextColumn("{task.fields[loss]}"))
    with progress:
        task = progress.add_task(label, total=epochs, rate="", loss="")

        def on_epoch(stats: EpochStats) -> None:
            loss = f"loss {stats.loss:,.0f}" if stats.loss is not None else ""
            progress.update(task, advance=1, rate=f"{stats.songs_per_s:,.0f} songs/s", loss=loss)

        yield on_epoch
