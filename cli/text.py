"""Commands over the songs' text: a playlist from a description, and the text map fitted onto
a model trained without it. The text encoder named in the artifact is loaded offline (torch and
transformers are imported only here, inside the commands)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.audio import _torch as offline_torch
from cli.common import JsonOption, app, fail, load_model
from cli.search import KOption, ModelOption, show
from cli.search import _run as run_query
from foundation.progress import console, progress_bar
from pipelines.training import add_text_map
from recsys.search import SongSearch
from recsys.song_text import TextMapConfig
from recsys.text_playlist import TextPlaylistConfig, TextPlaylists

TEXT_ENCODER_HELP = ("Encoder of the songs' titles, artists and tags: 'default' "
                     "(all-MiniLM-L6-v2, shipped as a package), 'hashing-N' (a weight-free "
                     "stand-in) or a local Hugging Face model folder.")
TEXT_ENCODER_ENV = "SONGSPACE_TEXT_ENCODER"


@contextmanager
def embedding_progress(label: str = "describing songs with the text encoder"
                       ) -> Iterator[Callable[[int, int], None]]:
    """A progress row for embedding the songs' sentences, shown from its first report;
    yields the ``on_progress(done, total)`` callback."""
    progress = progress_bar()
    task: list = []
    with progress:

        def on_progress(done: int, total: int) -> None:
            if not task:
                task.append(progress.add_task(label, total=total, unit="texts"))
            progress.update(task[0], completed=done, total=total)

        yield on_progress


def text_map_table(summary: dict) -> Table:
    """The map's quality on held-out songs, against the baselines."""
    validation = summary["validation"]
    table = Table(title=f"text map on {validation['held_out']:,} held-out songs "
                  f"(ridge {summary['ridge']:g}, artist weight {summary['artist_weight']:g})")
    methods = validation["methods"]
    columns = list(next(iter(methods.values())))
    table.add_column("estimate")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in methods.items():
        table.add_row(name, *(f"{values[c]:.4f}" for c in columns))
    return table


def load_encoder(spec: str, max_length: int, threads: int = 1):
    """The text encoder `spec`, with the Hugging Face libraries offline."""
    offline_torch(threads)
    from audio_gen.text_encoder import load_text_encoder

    try:
        return load_text_encoder(spec, max_length=max_length)
    except (FileNotFoundError, OSError, ValueError) as error:
        raise fail(str(error)) from None


@app.command()
def playlist(
    text: Annotated[str, typer.Argument(help="What the playlist should be, e.g. \"rainy "
                                        "Sunday morning acoustic\".")],
    model: ModelOption,
    k: KOption = 20,
    max_per_artist: Annotated[int, typer.Option(
        min=1, help="At most this many songs by one artist.")] = 2,
    json_output: JsonOption = False,
) -> None:
    """A playlist from a description: songs whose tags, titles and artists fit the words,
    picked so that they also belong together in the song2vec space."""
    artifact = load_model(model)
    song_text = artifact.song_text
    if song_text is None:
        raise fail(f"{model} has no text map (it was trained with --no-text-map); add one "
                   f"with `songspace text-map --model {model}`")
    encoder = load_encoder(song_text.encoder, song_text.max_length)
    playlists = TextPlaylists(SongSearch.from_artifact(artifact), song_text, encoder,
                              TextPlaylistConfig(max_per_artist=max_per_artist))
    rows = run_query(lambda: playlists.playlist(text, k))
    show(rows, f"a playlist for {text!r}", json_output)


@app.command(name="text-map")
def text_map(
    model: ModelOption,
    out: Annotated[Path | None, typer.Option(
        help="Where to publish the model with its text map (default: replace --model, "
        "atomically).")] = None,
    text_encoder: Annotated[str, typer.Option(envvar=TEXT_ENCODER_ENV,
                                              help=TEXT_ENCODER_HELP)] = "default",
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for the encoder.")] = 1,
    json_output: JsonOption = False,
) -> None:
    """Describe a trained model's songs with the text encoder and fit the map into its
    song2vec space (what `train` does unless --no-text-map): songs without a vector get
    estimated ones, and `playlist` works."""
    artifact = load_model(model)
    config = TextMapConfig(encoder=text_encoder)
    offline_torch(threads)
    with embedding_progress() as on_progress:
        path, summary = add_text_map(artifact, config, out or model, on_progress)
    console.print(text_map_table(summary))
    console.print(f"text map fitted in {sum(summary['seconds'].values()):.1f}s -> "
                  f"[bold]{path}[/]")
    if json_output:
        print(json.dumps({"model": str(path), "text_map": summary}))
