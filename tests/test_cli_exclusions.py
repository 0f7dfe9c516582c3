"""profiles exclude through the CLI: excluded songs, artists and playlists count as never played
for the profile, are never recommended, do not count in similar users, and survive rebuilds
and updates of the profiles folder (on the session's model and the test split's playlists as
listening histories)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from recsys.catalog import normalise_text
from tests.conftest import run
from tests.test_cli_profiles import START, as_events, write_csv


@pytest.fixture(scope="module")
def listeners(splits) -> dict[str, list[str]]:
    """20 users: test-split playlists of 8 distinct songs or more, as listening histories."""
    playlists = pl.read_parquet(splits / "test" / "playlists.parquet")
    grouped = (playlists.sort("playlist_id", "position")
               .group_by("playlist_id", maintain_order=True).agg(pl.col("song_id").unique(
                   maintain_order=True))
               .filter(pl.col("song_id").list.len() >= 8).head(20))
    return {f"user{pid}": songs for pid, songs in grouped.iter_rows()}


@pytest.fixture(scope="module")
def songs(model) -> pl.DataFrame:
    return pl.read_parquet(model / "songs.parquet")


def build(model: Path, rows: list[dict], out: Path) -> Path:
    logs = write_csv(out.with_name(out.name + ".csv"), rows)
    run("profiles", "build", "--logs", logs, "--model", model, "--out", out)
    return out


def everyone(listeners: dict[str, list[str]], skip: tuple[str, set[str]] = ("", set())
             ) -> list[dict]:
    """Everybody's plays; `skip` = (user, songs) leaves those plays of that user out."""
    user, gone = skip
    return [e for u, played in listeners.items() for e in as_events(u, played)
            if not (u == user and e["song_id"] in gone)]


def cli_json(*args, code: int = 0):
    return json.loads(run(*args, "--json", code=code).stdout)


def exclude(profiles: Path, user: str, *args: str, code: int = 0):
    result = run("profiles", "exclude", "--profiles", profiles, "--user", user, *args,
                 *(("--json",) if code == 0 else ()), code=code)
    return json.loads(result.stdout) if code == 0 else result.stderr


def recommend(profiles: Path, user: str, *args: str) -> list[dict]:
    return cli_json("recommend", "--profiles", profiles, "--user", user, *args)


def test_excluded_songs_count_as_never_played(model, listeners, tmp_path):
    """With three songs excluded, a user is recommended what a clone of them who never played
    those songs (the other plays at the same times, in the same build) is, and the two are
    twins among similar users."""
    user, played = next(iter(listeners.items()))
    gone = played[:3]
    clone = [e for e in as_events("clone", played) if e["song_id"] not in gone]
    profiles = build(model, everyone(listeners) + clone, tmp_path / "p")
    before = recommend(profiles, user, "--k", "10")
    twin = cli_json("similar-users", "--profiles", profiles, "--user", user, "--k", "5")[0]
    assert twin["user_id"] == "clone" and twin["score"] < 0.9999
    listing = exclude(profiles, user, "--song", gone[0], "--song", gone[1], "--song", gone[2])
    assert [s["song_id"] for s in listing["songs"]] == gone and listing["excluded_songs"] == 3
    assert set(listing) == {"user_id", "songs", "artists", "playlists", "excluded_songs"}

    expected = [r for r in recommend(profiles, "clone", "--k", "50")
                if r["song_id"] not in gone][:10]
    got = recommend(profiles, user, "--k", "10")
    assert got != before
    assert [r["song_id"] for r in got] == [r["song_id"] for r in expected]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected], abs=2e-4)
    assert [r["because"] for r in got] == [r["because"] for r in expected]
    # Never recommended, even with the played songs allowed.
    everything = recommend(profiles, user, "--k", "1000", "--include-played")
    assert not {r["song_id"] for r in everything} & set(gone)
    assert {r["song_id"] for r in everything} & set(played[3:])

    similar = cli_json("similar-users", "--profiles", profiles, "--user", user, "--k", "6")
    assert similar[0]["user_id"] == "clone" and similar[0]["score"] == pytest.approx(1.0)
    assert similar[0]["songs_in_common"] == len(played) - 3
    mirror = cli_json("similar-users", "--profiles", profiles, "--user", "clone", "--k", "6")
    assert mirror[0]["user_id"] == user and mirror[0]["songs_in_common"] == len(played) - 3
    # Beyond each other, the two find the same users.
    assert [(u["user_id"], u["songs_in_common"]) for u in similar[1:]] == [
        (u["user_id"], u["songs_in_common"]) for u in mirror[1:]]
    assert [u["score"] for u in similar[1:]] == pytest.approx([u["score"] for u in mirror[1:]],
                                                              abs=2e-4)


def test_similar_users_leave_excluded_songs_out(model, listeners, tmp_path):
    user, played = next(iter(listeners.items()))
    profiles = build(model, everyone(listeners) + as_events("twin", played), tmp_path / "p")
    before = cli_json("similar-users", "--profiles", profiles, "--user", user, "--k", "3")[0]
    assert before["user_id"] == "twin" and before["songs_in_common"] == len(played)
    assert before["score"] == pytest.approx(1.0)
    exclude(profiles, user, "--song", played[0], "--song", played[1])
    twin = cli_json("similar-users", "--profiles", profiles, "--user", user, "--k", "3")[0]
    assert twin["user_id"] == "twin" and twin["songs_in_common"] == len(played) - 2
    assert twin["score"] < before["score"]
    # The twin's own profile still counts every song it played.
    mirror = cli_json("similar-users", "--profiles", profiles, "--user", "twin", "--k", "3")[0]
    assert mirror["user_id"] == user and mirror["songs_in_common"] == len(played) - 2


def test_an_excluded_artist_is_never_recommended_nor_a_reason(model, listeners, songs,
                                                               tmp_path):
    user = next(iter(listeners))
    profiles = build(model, everyone(listeners), tmp_path / "p")
    top = recommend(profiles, user, "--k", "10")
    artists = {top[0]["artist"], top[0]["because"]["artist"]}
    typed = [a.upper() for a in sorted(artists)]  # as people type: case does not matter
    listing = exclude(profiles, user, *[x for a in typed for x in ("--artist", a)])
    assert {a["artist"] for a in listing["artists"]} == artists
    by_artist = songs.group_by("artist").len()
    for entry in listing["artists"]:
        assert entry["songs"] == by_artist.filter(pl.col("artist") == entry["artist"])[
            "len"].item()
    assert listing["excluded_songs"] == sum(a["songs"] for a in listing["artists"])
    keys = {normalise_text(a) for a in artists}
    rows = recommend(profiles, user, "--k", "200", "--include-played")
    assert len(rows) == 200
    assert not [r for r in rows if normalise_text(r["artist"]) in keys]
    assert not [r for r in rows if normalise_text(r["because"]["artist"]) in keys]


def test_a_playlist_is_excluded_listed_and_removed_by_name(model, listeners, songs, tmp_path):
    user, played = next(iter(listeners.items()))
    profiles = build(model, everyone(listeners), tmp_path / "p")
    before = recommend(profiles, user, "--k", "10")
    # A song by its title, as the other commands take it (one whose title is its own).
    titled = songs.filter(pl.col("song_id").is_in(played)).with_columns(
        key=pl.col("title").map_elements(normalise_text, return_dtype=pl.Utf8))
    counts = songs.with_columns(key=pl.col("title").map_elements(
        normalise_text, return_dtype=pl.Utf8)).group_by("key").len()
    unique = titled.join(counts, on="key").filter(pl.col("len") == 1).row(0, named=True)
    listing = exclude(profiles, user, "--playlist", "Kids party", "--song", unique["title"],
                      "--song", played[1] if played[1] != unique["song_id"] else played[2])
    (playlist,) = listing["playlists"]
    assert playlist["name"] == "Kids party" and len(playlist["songs"]) == 2
    assert unique["song_id"] in {s["song_id"] for s in playlist["songs"]}
    assert set(playlist["songs"][0]) == {"song_id", "title", "artist"}
    hidden = {s["song_id"] for s in playlist["songs"]}
    assert not {r["song_id"] for r in recommend(profiles, user, "--k", "1000",
                                                 "--include-played")} & hidden
    assert exclude(profiles, user, "--list") == listing
    # Removed by its name as people type it: the profile is the one before, exactly.
    listing = exclude(profiles, user, "--remove", "--playlist", "KIDS PARTY")
    assert listing["playlists"] == [] and listing["excluded_songs"] == 0
    assert recommend(profiles, user, "--k", "10") == before


def test_exclusions_survive_a_rebuild_and_an_update(model, listeners, tmp_path):
    user, played = next(iter(listeners.items()))
    rows = everyone(listeners)
    profiles = build(model, rows, tmp_path / "p")
    exclude(profiles, user, "--song", played[0], "--song", played[1])
    listing = exclude(profiles, user, "--artist", recommend(profiles, user)[0]["artist"])
    excluded = recommend(profiles, user, "--k", "10")

    build(model, rows, profiles)  # the same folder, rebuilt from the logs
    assert exclude(profiles, user, "--list") == listing
    assert recommend(profiles, user, "--k", "10") == excluded
    manifest = json.loads((profiles / "manifest.json").read_text())
    assert "exclusions.json" not in manifest["files"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]

    # An update that plays an excluded song again: it still does not count.
    later = as_events(user, [played[0]] * 3 + played[2:4], START + dt.timedelta(days=3))
    run("profiles", "update", "--logs", write_csv(tmp_path / "later.csv", later),
        "--profiles", profiles)
    assert exclude(profiles, user, "--list") == listing
    everything = recommend(profiles, user, "--k", "1000", "--include-played")
    assert not {r["song_id"] for r in everything} & set(played[:2])
    reference = build(model, rows + later, tmp_path / "reference")
    exclude(reference, user, "--song", played[0], "--song", played[1], "--artist",
            listing["artists"][0]["artist"])
    assert recommend(profiles, user, "--k", "10") == recommend(reference, user, "--k", "10")

    # Removing everything gives the profile of all the evidence back.
    cleared = exclude(profiles, user, "--remove", "--all")
    assert (cleared["songs"], cleared["artists"], cleared["excluded_songs"]) == ([], [], 0)
    assert {r["song_id"] for r in recommend(profiles, user, "--k", "1000",
                                            "--include-played")} & set(played[:2])


def test_bad_exclusions_are_refused_naming_what_is_wrong(model, listeners, tmp_path):
    user, played = next(iter(listeners.items()))
    profiles = build(model, everyone(listeners), tmp_path / "p")
    assert "no user 'nobody'" in exclude(profiles, "nobody", "--song", played[0], code=2)
    error = exclude(profiles, user, "--song", "hotel californa", code=2)
    assert "--song: no song 'hotel californa'" in error and "did you mean" in error
    error = exclude(profiles, user, "--artist", "the eagels", code=2)
    assert "--artist: no artist 'the eagels'" in error and "The Eagles" in error
    assert "nothing to exclude" in exclude(profiles, user, code=2)
    assert "give the playlist's songs" in exclude(profiles, user, "--playlist", "x", code=2)
    assert "--all goes with --remove" in exclude(profiles, user, "--all", code=2)
    assert not (profiles / "exclusions.json").exists()  # nothing was written
    exclude(profiles, user, "--song", played[0])
    error = exclude(profiles, user, "--remove", "--song", played[1], code=2)
    assert f"--song: {played[1]!r} is not among {user!r}'s excluded songs" in error
    error = exclude(profiles, user, "--remove", "--artist", "The Eagles", code=2)
    assert "--artist: 'The Eagles' is not among" in error
    assert [s["song_id"] for s in exclude(profiles, user, "--list")["songs"]] == [played[0]]


def test_batch_recommendations_honour_exclusions(model, listeners, tmp_path):
    """The batch pipeline's recommend step scores a user with exclusions as `songspace
    recommend` does: the excluded songs neither recommended nor counted."""
    from pipelines.engines import LocalEngine
    from pipelines.steps import read_recommendations, recommend_everyone
    from recsys.profile_artifact import load_profiles

    user, played = next(iter(listeners.items()))
    profiles = build(model, everyone(listeners), tmp_path / "p")
    exclude(profiles, user, "--song", played[0], "--song", played[1])
    expected = recommend(profiles, user, "--k", "20")

    out = tmp_path / "batch"
    out.mkdir()
    recommend_everyone(load_profiles(profiles), out, k=20, partitions=2, batch_size=64,
                       engine=LocalEngine())
    top = read_recommendations(out).filter(pl.col("user_id") == user)
    assert top["song_ids"][0].to_list() == [r["song_id"] for r in expected]
    assert top["scores"][0].to_list() == pytest.approx([r["score"] for r in expected], abs=1e-3)
