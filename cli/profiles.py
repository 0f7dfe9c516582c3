"""Commands for taste profiles: profiles build / update / exclude, recommend, similar-users."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import JsonOption, OnErrorOption, app, fail, load_model, song_table
from foundation.progress import console
from pipelines.profiling import (
    build_from_logs,
    colisten_from_file,
    config_from_file,
    update_from_logs,
)
from pipelines.schemas import DataError, OnError
from recsys.artifact import Artifact, ArtifactError
from recsys.exclusions import AppliedExclusions, ExclusionError
from recsys.profile_artifact import ProfileArtifact, load_model_for, load_profiles
from recsys.profiles import song_space
from recsys.search import SongSearch
from recsys.user_index import TasteRecommender, UnknownUserError

profiles_app = typer.Typer(help="Taste profiles from listening logs.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")

LogsOption = Annotated[Path, typer.Option(
    help="A log file or folder: CSV, Parquet, JSON Lines, or Spotify extended streaming "
         "history (.json).")]
ProfilesOption = Annotated[Path, typer.Option(
    help="Profiles folder written by `songspace profiles build`.")]
UserOption = Annotated[str, typer.Option(help="The user id.")]
KOption = Annotated[int, typer.Option(help="How many.", min=1, max=1000)]


def _on_error(value: str) -> OnError:
    if value not in ("fail", "quarantine"):
        raise fail(f"--on-error must be 'fail' or 'quarantine', got {value!r}")
    return value  # type: ignore[return-value]


def _open(profiles: Path) -> ProfileArtifact:
    try:
        return load_profiles(profiles)
    except ArtifactError as error:
        raise fail(str(error)) from None


def _run_logs(call, on_error: str):
    try:
        with console.status("reading logs") as status:
            return call(lambda stage: status.update(stage))
    except DataError as error:
        hint = (" (use --on-error quarantine to set bad rows aside)"
                if error.row is not None and on_error == "fail" else "")
        raise fail(f"{error}{hint}") from None
    except (ArtifactError, ValueError) as error:
        raise fail(str(error)) from None


def _summary(report: dict, verb: str) -> None:
    console.print(
        f"read {report['events_read']:,} events from {len(report['files'])} file(s): "
        f"[bold]{report['events_used']:,} used[/], "
        f"{report['events_without_vector']:,} on songs without a vector, "
        f"{report['non_music']:,} not music")
    if report["quarantined"]:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in
                            sorted(report["quarantined_by_reason"].items()))
        console.print(f"[yellow]quarantined {report['quarantined']:,} rows[/] ({reasons}) -> "
                      f"{escape(str(report['quarantine_file']))}")
    if report["unmatched_events"]:
        top = "; ".join(
            f"{row.get('title') or row.get('song_id') or row.get('track_uri')} "
            f"({row['events']:,})" for row in report.get("top_unmatched", []))
        console.print(f"[yellow]{report['unmatched_events']:,} events of "
                      f"{report['unmatched_songs']:,} songs not in the catalogue[/] "
                      f"(most played: {escape(top)}); listed in unmatched.parquet")
    console.print(
        f"{verb} {report['users']:,} users ({report['users_with_profile']:,} with a profile, "
        f"{report['users_with_interests']:,} with several interests) in "
        f"{report['seconds']['total']:.1f}s -> [bold]{escape(report['profiles'])}[/]")


@profiles_app.command("build")
def build(
    logs: LogsOption,
    model: Annotated[Path, typer.Option(help="Model artifact written by `songspace train`.")],
    out: Annotated[Path, typer.Option(help="Profiles folder to publish (replaced atomically).")],
    on_error: OnErrorOption = "fail",
    config: Annotated[Path | None, typer.Option(
        help="TOML or JSON file of profile settings (recsys.profiles.ProfileConfig; a "
             "\\[colisten] table: recsys.colisten.CoListenConfig).")] = None,
    colisten_songs: Annotated[int | None, typer.Option(
        min=0, help="Songs the co-listening model covers, the most played first (default "
                    "10,000; 0: recommend from the profile alone).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Build every user's taste profile from listening logs, the user index, and the
    co-listening model that recommendations blend with the profiles."""
    mode = _on_error(on_error)
    try:
        cfg, colisten = config_from_file(config), colisten_from_file(config)
    except (OSError, ValueError, TypeError) as error:
        raise fail(f"{config}: {error}") from None
    if colisten_songs is not None:
        colisten = dataclasses.replace(colisten, max_songs=colisten_songs)
    artifact = load_model(model)
    report = _run_logs(lambda stage: build_from_logs(
        logs, artifact, out, config=cfg, colisten=colisten, on_error=mode, on_stage=stage),
        on_error)
    _summary(report, "built profiles of")
    if json_output:
        print(json.dumps(report))


@profiles_app.command("update")
def update(
    logs: LogsOption,
    profiles: ProfilesOption,
    on_error: OnErrorOption = "fail",
    json_output: JsonOption = False,
) -> None:
    """Apply a batch of new events to existing profiles (only the batch's users change)."""
    mode = _on_error(on_error)
    store = _open(profiles)
    report = _run_logs(lambda stage: update_from_logs(logs, store, on_error=mode,
                                                      on_stage=stage), on_error)
    _summary(report, f"updated {report['users_updated']:,} ({report['users_new']:,} new) of")
    if json_output:
        print(json.dumps(report))


def _serving(profiles: Path) -> tuple[TasteRecommender, AppliedExclusions, Artifact]:
    """The profiles with their exclusions applied, as recommend and the API serve them."""
    store = _open(profiles)
    try:
        model = load_model_for(store)
        unit = song_space(model.model.input_vectors, model.model.trained, store.state.config)
        applied = AppliedExclusions(store.path, store.state, model.catalog, unit,
                                    store.user_index)
    except ArtifactError as error:
        raise fail(str(error)) from None
    taste = TasteRecommender(store.state, model.catalog, unit, model.model.output_vectors,
                             store.user_index, excluded=applied.by_row,
                             colisten=store.colisten)
    return taste, applied, model


def _recommender(profiles: Path) -> TasteRecommender:
    return _serving(profiles)[0]


def _ask(call):
    try:
        return call()
    except UnknownUserError as error:
        raise fail(str(error)) from None
    except ValueError as error:
        raise fail(str(error)) from None


@app.command()
def recommend(
    profiles: ProfilesOption,
    user: UserOption,
    k: KOption = 10,
    diversity: Annotated[float, typer.Option(
        help="0 ranks by score; up to 1 trades score for variety (MMR).", min=0.0, max=1.0)
    ] = 0.0,
    include_played: Annotated[bool, typer.Option(
        "--include-played", help="Also recommend songs the user has already played.")] = False,
    interests: Annotated[bool, typer.Option(
        "--interests", help="Blend the user's several interests (where they have them) "
        "instead of using their one-mean profile.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Songs for a user: near their taste profile, each with the played song that explains it."""
    taste = _recommender(profiles)
    rows = _ask(lambda: taste.recommend(user, k, exclude_played=not include_played,
                                        diversity=diversity, interests=interests))
    if json_output:
        print(json.dumps(rows))
        return
    shown = [{**r, "because": f"{r['because']['title']} by {r['because']['artist']}"
              if r["because"] else ""} for r in rows]
    console.print(song_table(f"for {user}", shown, extra="because"))


@app.command(name="similar-users")
def similar_users(
    profiles: ProfilesOption,
    user: UserOption,
    k: KOption = 10,
    json_output: JsonOption = False,
) -> None:
    """Users whose taste profiles are closest to this user's."""
    taste = _recommender(profiles)
    rows = _ask(lambda: taste.similar_users(user, k))
    if json_output:
        print(json.dumps(rows))
        return
    table = Table(title=f"users with a taste like {user}'s")
    for column, justify in (("#", "right"), ("user_id", "left"), ("score", "right"),
                            ("songs in common", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for n, row in enumerate(rows, 1):
        table.add_row(str(n), escape(row["user_id"]), f"{row['score']:.3f}",
                      f"{row['songs_in_common']:,}")
    console.print(table)



# How the CLI names what an ExclusionError's field names (the API body's names).
_OPTIONS = {"songs": "--song", "playlist.songs": "--song", "playlist.name": "--playlist",
            "artists": "--artist", "song": "--song", "artist": "--artist",
            "playlist": "--playlist"}


@profiles_app.command("exclude")
def exclude(
    profiles: ProfilesOption,
    user: UserOption,
    song: Annotated[list[str] | None, typer.Option(
        "--song", help="A song id or title (repeatable); with --playlist, its songs.")] = None,
    artist: Annotated[list[str] | None, typer.Option(
        "--artist", help="An artist: all their songs (repeatable).")] = None,
    playlist: Annotated[str | None, typer.Option(
        help="Exclude the --song songs as one playlist of this name (the same name again "
             "replaces its songs); with --remove, the playlist to remove.")] = None,
    remove: Annotated[bool, typer.Option(
        "--remove", help="Remove the named exclusions instead.")] = False,
    remove_all: Annotated[bool, typer.Option(
        "--all", help="With --remove: remove all of the user's exclusions.")] = False,
    list_only: Annotated[bool, typer.Option(
        "--list", help="Show the user's exclusions; change nothing.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Keep songs, artists or a playlist out of a user's taste profile: they stop counting
    toward it, are never recommended to the user and do not count in similar users. Kept
    through `profiles build` over the same folder and `profiles update`."""
    songs, artists = song or [], artist or []
    if remove_all and not remove:
        raise fail("--all goes with --remove (remove all of the user's exclusions)")
    if list_only and (songs or artists or playlist or remove):
        raise fail("--list only shows the exclusions: give it without --song, --artist, "
                   "--playlist or --remove")
    if not (list_only or songs or artists or playlist or remove_all):
        raise fail("nothing to exclude: give --song, --artist or --playlist NAME with its "
                   "--song songs (or --list to see the user's exclusions)")
    if playlist is not None and not remove and not songs:
        raise fail(f"--playlist {playlist!r}: give the playlist's songs with --song")
    taste, applied, model = _serving(profiles)
    _ask(lambda: taste.row(user))
    search = SongSearch.from_artifact(model)
    try:
        if remove:
            listing = applied.remove(user, search, songs, artists,
                                     [playlist] if playlist else [], everything=remove_all)
        elif list_only:
            listing = applied.describe(user)
        elif playlist is not None:
            listing = applied.exclude(user, search, artists=artists, playlist=(playlist, songs))
        else:
            listing = applied.exclude(user, search, songs, artists)
    except ExclusionError as error:
        option = _OPTIONS.get(error.field.rstrip("0123456789").rstrip("."))
        raise fail(f"{option}: {error.detail}" if option else error.detail) from None
    if json_output:
        print(json.dumps(listing))
        return
    table = Table(title=f"excluded from {user}'s taste profile")
    for column in ("kind", "what", "songs", "added"):
        table.add_column(column)
    for entry in listing["songs"]:
        table.add_row("song", escape(f"{entry['title']} by {entry['artist']} "
                                     f"({entry['song_id']})"), "1", entry["added"])
    for entry in listing["artists"]:
        table.add_row("artist", escape(entry["artist"]), f"{entry['songs']:,}", entry["added"])
    for entry in listing["playlists"]:
        table.add_row("playlist", escape(entry["name"]), f"{len(entry['songs']):,}",
                      entry["added"])
    console.print(table)
    console.print(f"{listing['excluded_songs']:,} songs of the catalogue kept out of "
                  f"{escape(user)}'s profile, recommendations and similar users")
