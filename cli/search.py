"""Commands that query a trained model: similar, arithmetic, continue, search, tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonOption, app, fail, load_model, song_table
from foundation.progress import console
from recsys.catalog import InvalidNameError
from recsys.search import SongSearch, UnknownSongError
from recsys.tags import parse_mix

ModelOption = Annotated[Path, typer.Option(help="Artifact folder written by `songspace train`.")]
KOption = Annotated[int, typer.Option(help="How many songs.", min=1, max=1000)]


def open_search(model: Path) -> SongSearch:
    return SongSearch.from_artifact(load_model(model))


def resolve(songs: SongSearch, query: str) -> int:
    """A song id or title; says so when a title names several songs."""
    try:
        found = songs.resolve(query)
    except (UnknownSongError, InvalidNameError) as error:
        raise fail(str(error)) from None
    if found.matches > 1:
        song = songs.describe(found.index)
        console.print(f"{found.matches} songs match {query!r}; using the most played: "
                      f"{song['title']} by {song['artist']} ({song['song_id']})")
    return found.index


def resolve_weighted(songs: SongSearch, query: str) -> tuple[int, float]:
    """'SONG' or 'SONG@WEIGHT' (the whole text is tried as a song first)."""
    head, sep, tail = query.rpartition("@")
    if sep:
        try:
            weight = float(tail)
        except ValueError:
            pass
        else:
            try:
                return songs.resolve(query).index, 1.0
            except (UnknownSongError, InvalidNameError):
                return resolve(songs, head), weight
    return resolve(songs, query), 1.0


def show(rows: list[dict], title: str, json_output: bool, extra: str | None = None) -> None:
    if json_output:
        print(json.dumps(rows))
    else:
        console.print(song_table(title, rows, extra))


def _run(call):
    try:
        return call()
    except (KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise fail(str(message)) from None


@app.command()
def similar(
    query: Annotated[str, typer.Argument(help="Song id or title (or 'title artist').")],
    model: ModelOption,
    k: KOption = 10,
    exclude_artist: Annotated[bool, typer.Option(help="Leave out the song's own artist.")] = False,
    scoring: Annotated[str, typer.Option(
        help="blend (default): song2vec's in.out, co-listening and tags together; in_out: "
             "input vector . output vectors alone; cosine: cosine of input vectors.")
    ] = "blend",
    json_output: JsonOption = False,
) -> None:
    """Songs most like a song: what playlists play next to it, what the same listeners play,
    and the same tags, blended (the answer everywhere "more like this" is asked)."""
    songs = open_search(model)
    index = resolve(songs, query)
    rows = _run(lambda: songs.similar(index, k, exclude_artist=exclude_artist, scoring=scoring))
    song = songs.describe(index)
    if song.get("estimated"):
        console.print(f"{song['title']} by {song['artist']} was played {songs.plays[index]:.0f}"
                      f" times in the training playlists (min_count is "
                      f"{songs.model.config.min_count}): its vector is estimated from its "
                      "title, artist and tags")
    show(rows, f"songs similar to {song['title']} by {song['artist']}"
         f"{' (estimated)' if song.get('estimated') else ''}", json_output)


@app.command()
def arithmetic(
    model: ModelOption,
    plus: Annotated[list[str], typer.Option(
        help="A song to move towards (id or title; 'SONG@0.5' gives it a weight). Repeatable.")],
    minus: Annotated[list[str] | None, typer.Option(
        help="A song to move away from (same forms). Repeatable.")] = None,
    k: KOption = 10,
    json_output: JsonOption = False,
) -> None:
    """Song arithmetic: more like these, less like those ("this song, minus that, plus that")."""
    songs = open_search(model)
    positive = [resolve_weighted(songs, q) for q in plus]
    negative = [resolve_weighted(songs, q) for q in minus or []]
    rows = _run(lambda: songs.arithmetic(
        [i for i, _ in positive], [i for i, _ in negative], k,
        [w for _, w in positive], [w for _, w in negative],
    ))
    names = " + ".join(songs.describe(i)["title"] for i, _ in positive)
    if negative:
        names += " - " + " - ".join(songs.describe(i)["title"] for i, _ in negative)
    show(rows, names, json_output)


@app.command(name="continue")
def continue_playlist(
    songs_so_far: Annotated[list[str], typer.Argument(help="The playlist so far, in order.")],
    model: ModelOption,
    k: KOption = 10,
    temperature: Annotated[float, typer.Option(
        min=0, help="0 takes the k best songs; above 0 the k songs are drawn from the "
        "ranker's scores (1 = their own spread; higher is more adventurous).")] = 0.0,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the draw at a temperature above 0 (same seed, same songs).")] = None,
    grow: Annotated[bool, typer.Option(
        "--grow", help="Grow a whole playlist of k new songs: each pick joins the playlist "
        "before the next one is chosen; no repeats.")] = False,
    max_per_artist: Annotated[int | None, typer.Option(
        min=1, help="With --grow: at most this many songs of one artist in the playlist, "
        "the given songs included.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Playlist continuation: the songs most likely to come next (the two-stage ranker)."""
    songs = open_search(model)
    context = [resolve(songs, q) for q in songs_so_far]
    rows = _run(lambda: songs.continue_playlist(context, k, temperature, seed, grow,
                                                max_per_artist))
    title = f"a playlist grown from {len(context)} songs" if grow else \
        f"next after {len(context)} songs"
    show(rows, title, json_output)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words of a title or artist (prefixes work).")],
    model: ModelOption,
    limit: Annotated[int, typer.Option(help="How many songs.", min=1, max=1000)] = 10,
    json_output: JsonOption = False,
) -> None:
    """Find songs by title or artist, ignoring case and accents; most played first."""
    rows = open_search(model).search_text(query, limit)
    if not rows and not json_output:
        console.print(f"no song matches {query!r}")
    show(rows, f"songs matching {query!r}", json_output, extra="plays")


@app.command()
def tags(
    model: ModelOption,
    song: Annotated[str | None, typer.Argument(help="Show this song's top tag axes.")] = None,
    mix: Annotated[str | None, typer.Option(
        help="Find songs for a tag mix, e.g. 'rock:0.7,classical:0.3'.")] = None,
    k: KOption = 10,
    json_output: JsonOption = False,
) -> None:
    """Tag axes: how much of each tag is in a song, or the songs nearest a tag mix."""
    if (song is None) == (mix is None):
        raise fail("give either a SONG or --mix")
    songs = open_search(model)
    if mix is not None:
        weights = _run(lambda: parse_mix(mix))
        show(_run(lambda: songs.by_tags(weights, k)), f"songs for {mix}", json_output)
        return
    index = resolve(songs, song)
    axes = _run(lambda: songs.song_tags(index, k))
    if json_output:
        print(json.dumps(axes))
    else:
        info = songs.describe(index)
        console.print(f"[bold]{info['title']}[/] by {info['artist']}")
        for axis in axes:
            bar = "█" * round(axis["percentile"] * 30)
            console.print(f"  {axis['tag']:>24s} {bar} {axis['percentile']:.0%}")
