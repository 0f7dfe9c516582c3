"""Shared pieces of the command line: the typer app, options, errors, tables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape
from rich.progress import TextColumn
from rich.table import Table
from typer.core import TyperGroup

from foundation.progress import console, progress_bar
from recsys.artifact import Artifact, ArtifactError, load_artifact
from recsys.song2vec import EpochCallback, EpochStats

# Errors a person can act on: their message says what and where, so no "(--debug ...)" hint.
_EXPECTED_ERRORS = (ValueError, OSError, ArtifactError)


def one_line(error: BaseException) -> str:
    """An exception as one line for a person: the file and what went wrong."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    else:
        text = str(error)
    text = " ".join(text.split()) or type(error).__name__
    if isinstance(error, _EXPECTED_ERRORS):
        return text
    return f"{type(error).__name__}: {text} (songspace --debug ... shows the traceback)"


class _OneLineErrors(TyperGroup):
    """Every error that escapes a command ends as one line on stderr and exit 2; with
    ``--debug`` (or SONGSPACE_DEBUG=1) it propagates with its traceback instead."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, typer.Exit,
                typer.Abort):
            raise
        except Exception as error:
            if _debug(ctx):
                raise
            console.print(f"[bold red]error:[/] {escape(one_line(error))}")
            raise typer.Exit(2) from None


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or os.environ.get("SONGSPACE_DEBUG", "") not in (
        "", "0")


app = typer.Typer(
    cls=_OneLineErrors,
    help="songspace: song2vec embeddings, recommendations and text-to-music.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of an error instead of its one-line message.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}

OnErrorOption = Annotated[
    str, typer.Option("--on-error", help="fail: stop at the first bad row; quarantine: set bad "
                      "rows aside in a file with the reason and go on.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def load_model(model: Path) -> Artifact:
    try:
        return load_artifact(model)
    except ArtifactError as error:
        raise fail(str(error)) from None


def song_table(title: str, rows: list[dict], extra: str | None = None) -> Table:
    """Songs as a readable table: rank, title, artist, score (when the rows have one) and one
    extra column."""
    table = Table(title=title)
    scored = any(row.get("score") is not None for row in rows)
    columns = [("#", "right"), ("title", "left"), ("artist", "left")]
    if scored:
        columns.append(("score", "right"))
    if extra:
        columns.append((extra, "left"))
    columns.append(("song_id", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for n, row in enumerate(rows, 1):
        score = row.get("score")
        title = f"{escape(row['title'])} [dim](estimated)[/]" if row.get("estimated") else \
            row["title"]
        cells = [str(n), title, row["artist"]]
        if scored:
            cells.append("" if score is None else f"{score:.3f}")
        if extra:
            cells.append(str(row.get(extra, "")))
        table.add_row(*cells, row["song_id"])
    return table


@contextmanager
def epoch_progress(epochs: int, label: str = "training song2vec") -> Iterator[EpochCallback]:
    """Progress over epochs showing songs/s and the epoch's loss; yields the callback."""
    progress = progress_bar(TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[loss]}"))
    with progress:
        task = progress.add_task(label, total=epochs, unit="epochs", rate="", loss="")

        def on_epoch(stats: EpochStats) -> None:
            loss = f"loss {stats.loss:,.0f}" if stats.loss is not None else ""
            progress.update(task, advance=1, rate=f"{stats.songs_per_s:,.0f} songs/s", loss=loss)

        yield on_epoch


@contextmanager
def evaluation_progress(
    models: Sequence[str],
) -> Iterator[tuple[Callable[[str, str], None], Callable[[str, int, int], None]]]:
    """A row per model, fitting then evaluating its cases (done/total, rate, ETA); yields the
    ``on_model`` and ``on_cases`` callbacks of `pipelines.training.evaluate_artifact`."""
    progress = progress_bar()
    tasks: dict[str, object] = {}
    with progress:

        def on_model(name: str, stage: str) -> None:
            number = f"{list(models).index(name) + 1}/{len(models)}" if name in models else "?"
            label = f"{stage} {name} (model {number})"
            if name not in tasks:
                tasks[name] = progress.add_task(label, total=None, unit="cases")
            else:
                progress.recount(tasks[name], description=label)

        def on_cases(name: str, done: int, total: int) -> None:
            if name not in tasks:
                on_model(name, "evaluating")
            progress.update(tasks[name], completed=done, total=total)

        yield on_model, on_cases
