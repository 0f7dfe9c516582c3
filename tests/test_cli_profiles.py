"""profiles build / update, recommend and similar-users driven through the CLI, on listening logs
made from the embedded data's held-out playlists and the session's seeded model."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import run

START = dt.datetime(2021, 3, 1, tzinfo=dt.UTC)


def as_events(user: str, songs: list[str], start: dt.datetime = START) -> list[dict]:
    """Full plays of `songs`, four minutes apart."""
    return [{"user_id": user, "song_id": s, "ts": (start + dt.timedelta(minutes=4 * n))
             .isoformat().replace("+00:00", "Z"), "ms_played": 200_000, "event": "play"}
            for n, s in enumerate(songs)]


def write_csv(path: Path, rows: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    frame = pl.DataFrame(rows, schema={"user_id": pl.Utf8, "song_id": pl.Utf8, "ts": pl.Utf8,
                                       "ms_played": pl.Int64, "event": pl.Utf8})
    text = frame.write_csv()
    path.write_text(text + "".join(line + "\n" for line in extra_lines))
    return path


@pytest.fixture(scope="module")
def listeners(splits) -> dict[str, list[str]]:
    """40 users: the test split's playlists of 5 songs or more, as listening histories."""
    playlists = pl.read_parquet(splits / "test" / "playlists.parquet")
    grouped = (playlists.sort("playlist_id", "position").group_by("playlist_id",
                                                                  maintain_order=True)
               .agg("song_id").filter(pl.col("song_id").list.len() >= 5).head(40))
    return {f"user{pid}": songs for pid, songs in grouped.iter_rows()}


def out_json(result) -> dict | list:
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def built(model, listeners, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("profiles")
    rows = [e for user, songs in listeners.items() for e in as_events(user, songs)]
    bad = ("carol,1,last tuesday,1000,play", "carol,1,2021-03-01T00:00:00Z,-5,play",
           "dave,no-such-song,2021-03-01T00:00:00Z,1000,play",
           "dave,no-such-song,2021-03-01T00:04:00Z,1000,play",
           "dave,another-unknown,2021-03-01T00:08:00Z,1000,play")
    logs = write_csv(folder / "logs.csv", rows, bad)
    report = out_json(run("profiles", "build", "--logs", logs, "--model", model, "--out",
                          folder / "profiles", "--on-error", "quarantine", "--json"))
    return folder / "profiles", {"report": report, "good": len(rows)}


def test_build_counts_every_event(built, model, listeners):
    profiles, info = built
    report = info["report"]
    assert report["events_read"] == info["good"] + 5
    assert report["quarantined"] == 2
    assert report["quarantined_by_reason"] == {"bad timestamp": 1, "negative ms_played": 1}
    assert (report["unmatched_events"], report["unmatched_songs"]) == (3, 2)
    assert report["events_used"] + report["events_without_vector"] == info["good"]
    assert report["users"] == len(listeners)
    assert len((profiles / "quarantine.jsonl").read_text().splitlines()) == 2
    manifest = json.loads((profiles / "manifest.json").read_text())
    trained = json.loads((model / "manifest.json").read_text())
    assert manifest["model"]["fingerprint"] == trained["training_data"]["fingerprint"]
    assert manifest["model"]["path"] == str(model.absolute())
    unmatched = pl.read_parquet(profiles / "unmatched.parquet")
    assert unmatched.select("song_id", "events").rows() == [("no-such-song", 2),
                                                            ("another-unknown", 1)]


def test_build_stops_at_the_first_bad_row_by_default(model, tmp_path):
    logs = write_csv(tmp_path / "logs.csv", as_events("u", ["1", "2"]),
                     ("u,3,not a time,1000,play",))
    result = run("profiles", "build", "--logs", logs, "--model", model, "--out", tmp_path / "p",
                 code=2)
    assert "row 4, field 'ts'" in result.stderr and "--on-error quarantine" in result.stderr
    assert not (tmp_path / "p").exists()


def test_recommend_keeps_the_json_contract(built, listeners):
    profiles, _ = built
    user, heard = next(iter(listeners.items()))
    rows = out_json(run("recommend", "--profiles", profiles, "--user", user, "--k", "10",
                        "--json"))
    assert len(rows) == 10
    assert all(set(r) == {"song_id", "title", "artist", "score", "because"} for r in rows)
    assert not {r["song_id"] for r in rows} & set(heard)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert all(r["because"]["song_id"] in heard for r in rows)
    again = out_json(run("recommend", "--profiles", profiles, "--user", user, "--k", "1000",
                         "--json", "--include-played"))
    # With played songs allowed the ranking can only get better, and they do come up.
    assert all(a["score"] >= b["score"] for a, b in zip(again, rows, strict=False))
    assert {r["song_id"] for r in again} & set(heard)
    varied = out_json(run("recommend", "--profiles", profiles, "--user", user, "--k", "10",
                          "--json", "--diversity", "0.8"))
    assert len(varied) == 10 and len({r["artist"] for r in varied}) >= len(
        {r["artist"] for r in rows})
    table = run("recommend", "--profiles", profiles, "--user", user, "--k", "3")
    assert "because" in table.stderr


def test_a_country_listener_is_recommended_country(model, splits, tmp_path):
    songs = pl.read_parquet(splits / "train" / "songs.parquet")
    plays = pl.read_parquet(splits / "train" / "playlists.parquet")["song_id"].value_counts()
    tagged = songs.join(plays, on="song_id").with_columns(
        country=pl.col("tags").list.contains("country"))
    history = (tagged.filter(pl.col("country")).sort("count", descending=True)["song_id"]
               .head(15).to_list())
    logs = write_csv(tmp_path / "logs.csv", as_events("cowboy", history))
    run("profiles", "build", "--logs", logs, "--model", model, "--out", tmp_path / "p")
    rows = out_json(run("recommend", "--profiles", tmp_path / "p", "--user", "cowboy", "--k",
                        "20", "--json"))
    country = set(tagged.filter(pl.col("country"))["song_id"].to_list())
    share = sum(r["song_id"] in country for r in rows) / len(rows)
    base = tagged["country"].mean()
    assert share >= 0.6 and share > 3 * base


def test_update_equals_a_full_build(model, listeners, tmp_path):
    users = list(listeners)
    first = [e for u in users[:30] for e in as_events(u, listeners[u][: len(listeners[u]) // 2])]
    second = [e for u in users[:30]
              for e in as_events(u, listeners[u][len(listeners[u]) // 2:],
                                 START + dt.timedelta(days=40))]
    second += [e for u in users[30:] for e in as_events(u, listeners[u])]
    a = write_csv(tmp_path / "a.csv", first)
    b = write_csv(tmp_path / "b.csv", second)
    # Profiles alone: an update keeps the co-listening model its build learnt (a rebuild
    # relearns it), see test_co_listening_finds_what_the_profile_cannot.
    alone = ("--colisten-songs", "0")
    run("profiles", "build", "--logs", a, "--model", model, "--out", tmp_path / "inc", *alone)
    report = out_json(run("profiles", "update", "--logs", b, "--profiles", tmp_path / "inc",
                          "--json"))
    assert (report["users_updated"], report["users_new"], report["users"]) == (40, 10, 40)
    both = tmp_path / "both"
    both.mkdir()
    a.rename(both / "a.csv")
    b.rename(both / "b.csv")
    run("profiles", "build", "--logs", both, "--model", model, "--out", tmp_path / "full",
        *alone)
    for user in (users[0], users[35]):
        args = ("recommend", "--user", user, "--k", "10", "--json")
        inc = out_json(run(*args, "--profiles", tmp_path / "inc"))
        full = out_json(run(*args, "--profiles", tmp_path / "full"))
        assert [r["song_id"] for r in inc] == [r["song_id"] for r in full]
        assert [r["score"] for r in inc] == pytest.approx([r["score"] for r in full], abs=2e-4)
    history = json.loads((tmp_path / "inc" / "manifest.json").read_text())["history"]
    assert [h["kind"] for h in history] == ["build", "update"]


def test_similar_users_finds_a_twin(model, listeners, tmp_path):
    user, songs = next(iter(listeners.items()))
    rows = [e for u, s in listeners.items() for e in as_events(u, s)]
    rows += as_events("twin", songs)
    logs = write_csv(tmp_path / "logs.csv", rows)
    run("profiles", "build", "--logs", logs, "--model", model, "--out", tmp_path / "p")
    similar = out_json(run("similar-users", "--profiles", tmp_path / "p", "--user", user,
                           "--k", "5", "--json"))
    assert similar[0]["user_id"] == "twin" and similar[0]["score"] == pytest.approx(1.0)
    assert similar[0]["songs_in_common"] == len(set(songs))
    assert all(set(r) == {"user_id", "score", "songs_in_common"} for r in similar)
    assert user not in {r["user_id"] for r in similar}


def test_unknown_user_and_a_retrained_model_are_reported(built, tmp_path):
    profiles, _ = built
    result = run("recommend", "--profiles", profiles, "--user", "nobody", code=2)
    assert "no user 'nobody'" in result.stderr
    run("similar-users", "--profiles", profiles, "--user", "nobody", code=2)
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in profiles.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"]["fingerprint"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = run("recommend", "--profiles", copy, "--user", "nobody", code=2)
    assert "rebuild the profiles" in result.stderr
    result = run("recommend", "--profiles", tmp_path, "--user", "x", code=2)
    assert "not a songspace profiles folder" in result.stderr


def test_co_listening_finds_what_the_profile_cannot(model, splits, tmp_path):
    """Twenty listeners play two songs far apart in song2vec's space together; a new listener
    of the first is recommended the second because of it, which the profile alone does not
    do. An update keeps the co-listening model of the build."""
    from recsys.artifact import load_artifact

    artifact = load_artifact(model)
    vectors = artifact.model.input_vectors
    known = [i for i in range(len(artifact.catalog)) if artifact.model.trained[i]
             and not artifact.catalog.placeholder[i]]
    first = known[0]
    unit = vectors / (1e-9 + (vectors ** 2).sum(axis=1, keepdims=True) ** 0.5)
    second = min(known[1:], key=lambda i: float(unit[i] @ unit[first]))
    ids = artifact.catalog.song_ids
    fans = [e for n in range(20) for e in as_events(f"fan{n}", [ids[first], ids[second]])]
    logs = write_csv(tmp_path / "logs.csv", fans + as_events("newcomer", [ids[first]]))

    def recommended(folder: Path, *options: str) -> list[dict]:
        run("profiles", "build", "--logs", logs, "--model", model, "--out", folder, *options)
        return out_json(run("recommend", "--profiles", folder, "--user", "newcomer", "--k",
                            "10", "--json"))

    blended = recommended(tmp_path / "blended")
    alone = recommended(tmp_path / "alone", "--colisten-songs", "0")
    assert ids[second] not in [r["song_id"] for r in alone]
    assert blended[0]["song_id"] == ids[second]
    assert blended[0]["because"]["song_id"] == ids[first]
    assert (tmp_path / "blended" / "colisten.npz").is_file()
    assert not (tmp_path / "alone" / "colisten.npz").exists()

    learnt = (tmp_path / "blended" / "colisten.npz").read_bytes()
    more = write_csv(tmp_path / "more.csv", as_events("later", [ids[second]]))
    run("profiles", "update", "--logs", more, "--profiles", tmp_path / "blended")
    assert (tmp_path / "blended" / "colisten.npz").read_bytes() == learnt
