"""Data and model commands: ingest, split, train, evaluate and the demo. Commands stay thin:
they parse, call library code, print."""

from __future__ import annotations

import json
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.audio import offline
from cli.common import (
    JsonOption,
    OnErrorOption,
    app,
    epoch_progress,
    evaluation_progress,
    fail,
    load_model,
    song_table,
)
from cli.profiles import build as build_profiles
from cli.profiles import recommend
from cli.text import TEXT_ENCODER_ENV, TEXT_ENCODER_HELP, embedding_progress, text_map_table
from foundation.paths import DEFAULT_DATA
from foundation.progress import console
from pipelines.readers import read_playlists, write_dataset
from pipelines.schemas import DataError, Dataset, OnError
from pipelines.splits import playlist_sizes, split_dataset
from pipelines.training import (
    MODEL_NAMES,
    available_models,
    evaluate_artifact,
    evaluate_similar_artifact,
    train_song2vec,
)
from recsys.artifact import load_artifact
from recsys.evaluation import METRICS
from recsys.next_song import NextSongConfig
from recsys.search import SongSearch
from recsys.song2vec import Song2VecConfig, TrainingDataError
from recsys.song_text import TextMapConfig


def _on_error(value: str) -> OnError:
    if value not in ("fail", "quarantine"):
        raise fail(f"--on-error must be 'fail' or 'quarantine', got {value!r}")
    return value  # type: ignore[return-value]


def _read(
    path: Path, *, songs: Path | None = None, split: str = "train", on_error: str = "fail",
    quarantine: Path | None = None,
) -> Dataset:
    mode = _on_error(on_error)
    if mode == "quarantine" and quarantine is None:
        quarantine = Path(tempfile.mkdtemp(prefix="songspace-")) / "quarantine.jsonl"
    try:
        dataset = read_playlists(
            path, songs_path=songs, split=split, on_error=mode, quarantine_path=quarantine
        )
    except DataError as error:
        row_level = error.row is not None and mode == "fail"
        hint = " (use --on-error quarantine to set bad rows aside)" if row_level else ""
        raise fail(f"{error}{hint}") from None
    except (FileNotFoundError, ValueError) as error:
        raise fail(str(error)) from None
    report = dataset.report
    summary = f"read {report.playlists:,} playlists, {report.songs:,} songs from {path}"
    if report.placeholder_songs:
        summary += (f"; {report.placeholder_songs:,} placeholder songs (no title or artist, "
                    "e.g. '-' by '-': never found by name, never recommended)")
    if report.quarantined:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.quarantined_by_reason.items()))
        summary += (f"; [yellow]quarantined {report.quarantined:,} rows[/] ({reasons}) "
                    f"-> {report.quarantine_file}")
    console.print(summary)
    return dataset


def _load_config(path: Path | None) -> tuple[dict, dict, dict]:
    """The song2vec settings, the [next_song] and the [text_map] settings of a train config
    file."""
    if path is None:
        return {}, {}, {}
    try:
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise fail(f"{path}: cannot read config: {error}") from None
    if not isinstance(values, dict):
        kind = type(values).__name__
        raise fail(f"{path}: expected a table (a JSON object) of song2vec settings, got a {kind}")
    extra = {name: values.pop(name, {}) for name in ("next_song", "text_map")}
    for name, table in extra.items():
        if not isinstance(table, dict):
            raise fail(f"{path}, field '{name}': expected a table of "
                       f"{name.replace('_', '-')} settings")
    tables = sorted(k for k, v in values.items() if k != "song2vec" and isinstance(v, dict))
    if ("song2vec" in values and len(values) > 1) or tables:
        unknown = ", ".join(tables or sorted(set(values) - {"song2vec"}))
        raise fail(f"{path}: unknown table(s) or key(s) {unknown}: expected a [song2vec] "
                   "table (or song2vec settings at the top level), a [next_song] and a "
                   "[text_map] table")
    return values.get("song2vec", values), extra["next_song"], extra["text_map"]


@contextmanager
def _stages() -> Iterator[Callable[[str], None]]:
    """A status line for the long stages after song2vec (ranker, sequence models); off a
    terminal it logs each stage and a heartbeat, so a long fit is never silent."""
    with ExitStack() as stack:
        status: list = []

        def on_stage(text: str) -> None:
            if status:
                status[0].update(text)
            else:
                status.append(stack.enter_context(console.status(text)))
            if console.is_terminal:  # keeps each stage above the spinner; off one, the status
                console.log(text)  # line is the log (printing it twice said it twice)

        yield on_stage


def _metrics_table(result: dict) -> Table:
    table = Table(title=f"next-song prediction, {result['cases']:,} cases")
    table.add_column("model")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    best = {m: max(v[m] for v in result["models"].values()) for m in METRICS}
    for name, values in result["models"].items():
        cells = [
            f"[bold green]{values[m]:.4f}[/]" if values[m] == best[m] else f"{values[m]:.4f}"
            for m in METRICS
        ]
        table.add_row(name, *cells)
    return table


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="Playlist file or folder, any supported format.")],
    out: Annotated[Path, typer.Option(help="Folder for songs.parquet + playlists.parquet.")],
    songs: Annotated[Path | None, typer.Option(help="Catalogue file for plain formats.")] = None,
    on_error: OnErrorOption = "fail",
    quarantine: Annotated[Path | None, typer.Option(help="Where bad rows go.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Validate playlists in any supported format and store them in the canonical Parquet form."""
    if on_error == "quarantine" and quarantine is None:
        quarantine = out.with_name(out.name + ".quarantine.jsonl")
    dataset = _read(path, songs=songs, on_error=on_error, quarantine=quarantine)
    write_dataset(dataset, out)
    if json_output:
        print(json.dumps(dataset.report.as_dict()))


@app.command()
def split(
    path: Annotated[Path, typer.Argument(help="Playlist file or folder, any supported format.")],
    out: Annotated[Path, typer.Option(help="Folder to hold train/, valid/ and test/.")],
    valid: Annotated[float, typer.Option(
        help="Fraction of the playlists of two or more songs held out for validation.")] = 0.1,
    test: Annotated[float, typer.Option(
        help="Fraction of the playlists of two or more songs held out for the test.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
) -> None:
    """Carve seeded train / valid / test splits of whole playlists out of one playlist set.

    The fractions apply to playlists of two or more songs; single-song ones all stay in train.
    """
    if valid < 0 or test < 0 or valid + test >= 1:
        raise fail(f"--valid {valid:g} and --test {test:g}: expected fractions of at least 0 "
                   f"that sum to less than 1 (they sum to {valid + test:g})")
    dataset = _read(path)
    sizes = playlist_sizes(dataset)
    total, evaluable = sizes.height, int((sizes["len"] >= 2).sum())
    console.print(f"--valid and --test apply to the {evaluable:,} playlists of two or more "
                  f"songs (of {total:,}); the {total - evaluable:,} single-song ones stay in "
                  "train")
    parts = split_dataset(dataset, valid=valid, test=test, seed=seed)
    for name, part in parts.items():
        write_dataset(part, out / name)
        playlists = part.playlists["playlist_id"].n_unique()
        share = "" if name == "train" else (
            f" ({playlists / max(evaluable, 1):.1%} of those of two or more songs, "
            f"{playlists / max(total, 1):.1%} of all)")
        console.print(f"{name}: {playlists:,} playlists{share} -> {out / name}")


@app.command()
def train(
    playlists: Annotated[Path, typer.Option(help="Playlist file, or a yes.com variant folder.")],
    out: Annotated[Path, typer.Option(help="Artifact folder to publish (replaced atomically).")],
    config: Annotated[
        Path | None, typer.Option(help="TOML or JSON file of song2vec settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; makes training reproducible "
                                             "(one worker thread).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the number of epochs.")] = None,
    sequence_minutes: Annotated[float | None, typer.Option(
        min=0, help="Also train the sequence models (the song2vec-initialised transformer and "
        "SASRec), each for this many minutes; 0 (the default) leaves them out. About 7 is the "
        "measured recipe on yes_big.")] = None,
    ranker_cases: Annotated[int | None, typer.Option(
        min=10, help="Train the next-song ranker on at most this many cases of the training "
        "playlists (default 100,000; fewer trains faster).")] = None,
    ranker: Annotated[bool | None, typer.Option(
        "--ranker/--no-ranker", help="Train the next-song ranker (default: on; \\[next_song] "
        "ranker in --config sets it too). Off, `continue` ranks by song2vec alone, and "
        "training is much quicker (the ranker's cross-fitting is most of its time).")] = None,
    text_map: Annotated[bool | None, typer.Option(
        "--text-map/--no-text-map", help="Describe the songs with the text encoder and fit "
        "the map into song2vec's space (default: on; a \\[text_map] table in --config sets it "
        "too): songs without a vector get estimated ones, and `playlist` works. Off saves "
        "the embedding time (about a minute per 5,000 songs on one thread).")] = None,
    text_encoder: Annotated[str | None, typer.Option(
        envvar=TEXT_ENCODER_ENV, help=f"{TEXT_ENCODER_HELP} Default: 'default', or the "
        "\\[text_map] table's encoder.")] = None,
    songs: Annotated[Path | None, typer.Option(help="Catalogue file for plain formats.")] = None,
    on_error: OnErrorOption = "fail",
    json_output: JsonOption = False,
) -> None:
    """Train song2vec on playlists, then the two-stage next-song ranker behind `continue`
    (settings: a \\[next_song] table in --config) and the text map (a \\[text_map] table), and
    publish the model artifact."""
    values, next_values, text_values = _load_config(config)
    if seed is not None:
        values.update(seed=seed, workers=1)
        next_values.setdefault("seed", seed)
    if epochs is not None:
        values["epochs"] = epochs
    if sequence_minutes is not None:
        next_values["sequence_minutes"] = sequence_minutes
    if ranker_cases is not None:
        next_values["max_cases"] = ranker_cases
    if ranker is not None:
        next_values["ranker"] = ranker
    if text_map is not None:
        text_values["enabled"] = text_map
    if text_encoder is not None:
        text_values["encoder"] = text_encoder
    try:
        cfg = Song2VecConfig.from_dict(values, str(config or "settings"))
        next_cfg = NextSongConfig.from_dict(next_values, str(config or "settings"))
        text_cfg = TextMapConfig.from_dict(text_values, str(config or "settings"))
    except (TypeError, ValueError) as error:
        raise fail(str(error)) from None
    quarantine = Path(tempfile.mkdtemp(prefix="songspace-")) / "quarantine.jsonl"
    dataset = _read(playlists, songs=songs, on_error=on_error, quarantine=quarantine)
    if text_cfg.enabled:
        offline()  # torch itself loads only if a song's text is not in the shipped tables
    try:
        with epoch_progress(cfg.epochs) as on_epoch, _stages() as on_stage, \
                embedding_progress() as on_text:
            path, metrics = train_song2vec(
                dataset, cfg, out, source=str(playlists.absolute()), on_epoch=on_epoch,
                next_song=next_cfg, on_stage=on_stage, text_map=text_cfg, on_text=on_text,
            )
    except TrainingDataError as error:
        raise fail(f"{playlists}: {error}") from None
    if "skipped" in metrics.get("text_map", {}):
        console.print(f"[yellow]no text map:[/] {metrics['text_map']['skipped']}")
    elif "text_map" in metrics:
        console.print(text_map_table(metrics["text_map"]))
    console.print(
        f"trained in {metrics['train_seconds']:.1f}s ({metrics['songs_per_s']:,.0f} songs/s) "
        f"-> [bold]{path}[/]"
    )
    if json_output:
        print(json.dumps({"model": str(path), "metrics": metrics,
                          "read_report": dataset.report.as_dict()}))


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Artifact folder written by `songspace train`.")],
    test: Annotated[Path | None, typer.Option(help="Held-out playlists, any supported format "
                                              "(a yes.com folder is read from its test.txt).")
                    ] = None,
    similar: Annotated[bool, typer.Option(
        "--similar", help="Judge similar songs by the songs' tags instead (no --test needed).")
    ] = False,
    models: Annotated[str | None, typer.Option(help="Comma-separated models to compare, of "
                                               f"{', '.join(MODEL_NAMES)} (default: every one "
                                               "the model can give).")] = None,
    max_positions: Annotated[int | None, typer.Option(
        help="Sample at most this many positions per playlist (seeded).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of position sampling and baselines.")] = 0,
    on_error: OnErrorOption = "fail",
    json_output: JsonOption = False,
) -> None:
    """Next-song prediction on held-out playlists: song2vec and the baselines side by side."""
    artifact = load_model(model)
    if similar:
        with console.status("finding neighbours"):
            report = evaluate_similar_artifact(artifact, seed=seed)
        if json_output:
            print(json.dumps(report))
        else:
            console.print(_similar_table(report))
        return
    if test is None:
        raise fail("--test is required (or --similar)")
    quarantine = Path(tempfile.mkdtemp(prefix="songspace-")) / "quarantine.jsonl"
    test_set = _read(test, split="test", on_error=on_error, quarantine=quarantine)
    names = available_models(artifact) if models is None else tuple(
        n.strip() for n in models.split(",") if n.strip())
    started = time.perf_counter()
    with evaluation_progress(names) as (on_model, on_cases):
        try:
            result = evaluate_artifact(
                artifact, test_set, models=names, max_positions=max_positions, seed=seed,
                on_model=on_model, on_cases=on_cases,
            )
        except ValueError as error:
            raise fail(str(error)) from None
    result["seconds"] = round(time.perf_counter() - started, 2)
    if result["test_songs_not_in_catalogue"]:
        console.print(f"[yellow]{result['test_songs_not_in_catalogue']:,} test songs are not in "
                      "the model's catalogue; they count as misses.[/]")
    if json_output:
        print(json.dumps(result))
    else:
        console.print(_metrics_table(result))


def _similar_table(report: dict) -> Table:
    k = report["k"]
    table = Table(title=f"similar songs judged by Last.fm tags, {report['songs']:,} songs "
                        f"with a genre family, top {k}")
    # Short headings, so that the table fits 80 columns (keys as in --json).
    columns = {f"genre_agreement@{k}": f"genre@{k}", f"tag_jaccard@{k}": f"Jaccard@{k}",
               f"tag_jaccard_no_stations@{k}": "no stations", f"same_artist@{k}": "same artist"}
    table.add_column("method")
    for heading in columns.values():
        table.add_column(heading, justify="right")
    for name, values in report["models"].items():
        table.add_row(name, *(f"{values[c]:.4f}" for c in columns))
    return table


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes its splits and model.")] = Path(
        "artifacts/demo"
    ),
    data: Annotated[Path, typer.Option(help="Playlists to use.")] = DEFAULT_DATA,
    song: Annotated[str, typer.Option(help="Song to show neighbours of.")] = "Bohemian Rhapsody",
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 0,
    epochs: Annotated[int, typer.Option(
        help="Training epochs; fewer than `train`'s tuned default so the demo takes a minute.")
    ] = 30,
    logs: Annotated[Path, typer.Option(help="Listening logs to build taste profiles from.")
                    ] = DEFAULT_DATA.parent / "listening_log",
    user: Annotated[str, typer.Option(help="User of the logs to recommend songs to.")] = "alice",
) -> None:
    """The main job on the embedded data: split, train, evaluate against the baselines, show
    songs similar to a famous song, build taste profiles from the sample listening log and
    recommend songs to one of its users."""
    started = time.perf_counter()
    parts = split_dataset(_read(data), valid=0.0, test=0.1, seed=seed)
    train_set = parts["train"]
    cfg = Song2VecConfig(seed=seed, epochs=epochs)
    with epoch_progress(cfg.epochs) as on_epoch, _stages() as on_stage:
        path, _ = train_song2vec(train_set, cfg, out / "model", source=str(data.absolute()),
                                 on_epoch=on_epoch, next_song=NextSongConfig(
                                     seed=seed, folds=2, max_cases=2000),
                                 on_stage=on_stage)
    artifact = load_artifact(path)
    # Three positions per held-out playlist keep the demo's evaluation to seconds.
    with evaluation_progress(available_models(artifact)) as (on_model, on_cases):
        result = evaluate_artifact(artifact, parts["test"], max_positions=3, seed=seed,
                                   on_model=on_model, on_cases=on_cases)
    console.print(_metrics_table(result))
    songs = SongSearch.from_artifact(artifact)
    index = songs.resolve(song).index
    found = songs.describe(index)
    rows = songs.similar(index, 10)
    console.print(song_table(f"songs similar to {found['title']} by {found['artist']}", rows))
    profiles = out / "profiles"
    build_profiles(logs=logs, model=path, out=profiles, on_error="quarantine", config=None,
                   json_output=False)
    recommend(profiles=profiles, user=user, k=10, diversity=0.0, include_played=False,
              interests=False, json_output=False)
    console.print(f"done in {time.perf_counter() - started:.0f}s; model at [bold]{path}[/], "
                  f"profiles at [bold]{profiles}[/]; try `songspace similar \"Hotel California\" "
                  f"--model {path}` or `songspace recommend --profiles {profiles} --user bob`")
