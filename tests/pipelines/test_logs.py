"""Listening-log readers: every format, bad rows in both error modes, catalogue matching, and
Spotify's extended streaming history on a realistic sample."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.logs import (
    EVENT_SCHEMA,
    LOG_REASONS,
    core_title,
    detect_log_format,
    read_logs,
)
from pipelines.schemas import DataError

UTC = dt.UTC
CATALOGUE = pl.DataFrame({
    "song_id": ["s1", "s2", "s3", "spotify:track:4u7EnebtmKWzUH433cf5Qv"],
    "title": ["Hotel California", "Clair de Lune", "Don't Stop Me Now", "Bohemian Rhapsody"],
    "artist": ["Eagles", "Claude Debussy", "Queen", "Queen"],
})

GOOD_CSV = (
    "user_id,song_id,ts,ms_played,event,duration_ms\n"
    "alice,s1,2021-03-04T18:22:11Z,200000,play,391000\n"
    "alice,s2,2021-03-04 18:30:00,5000,skip,\n"
    "bob,s3,1614882131,0,like,\n"
    "bob,s1,1614882131500,120000,play,\n"
    "bob,s2,2021-03-04T20:00:00+02:00,,add_to_playlist,\n"
)
# Lines 3.. of a CSV with one fault each, in the order the checks run.
BAD_CSV_LINES = [
    "carol,s1,yesterday,1000,play,",  # 3: bad timestamp
    "carol,s1,2021-03-04T18:22:11Z,-5,play,",  # 4: negative ms_played
    "carol,s1,2021-03-04T18:22:11Z,1000,replay,",  # 5: unknown event
    ",s1,2021-03-04T18:22:11Z,1000,play,",  # 6: missing user
    "carol,s1,2021-03-04T18:22:11Z,1.5s,play,",  # 7: not an integer
    "carol,s1,2021-03-04T18:22:11Z,,skip,",  # 8: a skip without ms_played
    "carol,s1,2021-03-04T18:22:11Z,10,play,-3",  # 9: bad duration
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def quarantined(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_csv_rows_become_canonical_events_with_every_time_form(tmp_path):
    listening = read_logs(write(tmp_path / "logs.csv", GOOD_CSV))
    events = listening.events
    assert events.columns[:6] == list(EVENT_SCHEMA)
    assert events["ts"].to_list() == [
        dt.datetime(2021, 3, 4, 18, 22, 11, tzinfo=UTC),
        dt.datetime(2021, 3, 4, 18, 30, tzinfo=UTC),
        dt.datetime(2021, 3, 4, 18, 22, 11, tzinfo=UTC),  # epoch seconds
        dt.datetime(2021, 3, 4, 18, 22, 11, 500000, tzinfo=UTC),  # epoch milliseconds
        dt.datetime(2021, 3, 4, 18, 0, tzinfo=UTC),  # +02:00 offset
    ]
    assert events["event"].cast(pl.Utf8).to_list() == ["play", "skip", "like", "play",
                                                        "add_to_playlist"]
    assert events["ms_played"].to_list() == [200000, 5000, 0, 120000, 0]
    assert events["duration_ms"].to_list() == [391000, None, None, None, None]
    assert listening.report.events_read == 5 and listening.report.quarantined == 0


def test_bad_rows_are_quarantined_with_their_reason_line_and_text(tmp_path):
    path = write(tmp_path / "logs.csv", GOOD_CSV.splitlines()[0] + "\n"
                 + "\n".join([GOOD_CSV.splitlines()[1], *BAD_CSV_LINES]) + "\n")
    quarantine = tmp_path / "bad.jsonl"
    listening = read_logs(path, on_error="quarantine", quarantine_path=quarantine)
    rows = quarantined(quarantine)
    assert [(r["row"], r["field"], r["reason"]) for r in rows] == [
        (3, "ts", "bad timestamp"),
        (4, "ms_played", "negative ms_played"),
        (5, "event", "unknown event"),
        (6, "user_id", "missing value"),
        (7, "ms_played", "not an integer"),
        (8, "ms_played", "missing value"),
        (9, "duration_ms", "bad duration"),
    ]
    assert rows[0]["raw"] == BAD_CSV_LINES[0] and rows[0]["file"] == str(path)
    assert "got 'yesterday'" in rows[0]["detail"] and "got -5" in rows[1]["detail"]
    assert set(rows[0]) == {"file", "row", "field", "reason", "detail", "raw"}
    assert all(r["reason"] in LOG_REASONS for r in rows)
    report = listening.report
    assert listening.events.height == 1 and report.events_read == 8
    assert report.quarantined == 7 and report.quarantined_by_reason["missing value"] == 2

    with pytest.raises(DataError, match=r"logs.csv, row 3, field 'ts': expected a time"):
        read_logs(path)


def test_a_quoted_field_spanning_lines_keeps_exact_line_numbers(tmp_path):
    path = write(tmp_path / "logs.csv",
                 'user_id,title,artist,ts,ms_played,event\n'
                 'alice,"Two\nLines",Band,2021-03-04T18:22:11Z,10,play\n'
                 'alice,Song,Band,never,10,play\n')
    with pytest.raises(DataError, match="row 4, field 'ts'"):
        read_logs(path)


def test_parquet_with_typed_columns_and_jsonl_with_broken_lines(tmp_path):
    frame = pl.DataFrame({
        "user_id": ["u1", "u1", "u2"],
        "song_id": ["s1", "s2", "s3"],
        "ts": [dt.datetime(2021, 1, 1), dt.datetime(2021, 1, 2), dt.datetime(2021, 1, 3)],
        "ms_played": [1000, -1, 3000],
        "event": ["play", "play", "Like"],
    })
    frame.write_parquet(tmp_path / "logs.parquet")
    listening = read_logs(tmp_path / "logs.parquet", on_error="quarantine",
                          quarantine_path=tmp_path / "q.jsonl")
    assert listening.events["event"].cast(pl.Utf8).to_list() == ["play", "like"]
    assert listening.events["ts"][0] == dt.datetime(2021, 1, 1, tzinfo=UTC)
    (bad,) = quarantined(tmp_path / "q.jsonl")
    assert (bad["row"], bad["reason"], json.loads(bad["raw"])["ms_played"]) == (
        2, "negative ms_played", -1)

    lines = [json.dumps({"user_id": "u1", "song_id": "s1", "ts": "2021-01-01T00:00:00Z",
                         "ms_played": 5, "event": "play"}), "{not json",
             json.dumps({"user_id": "u1", "song_id": "s1", "ts": "2021-01-01T00:00:00Z",
                         "ms_played": 5, "event": "play"})[:-10]]
    path = write(tmp_path / "logs.jsonl", "\n".join(lines))
    listening = read_logs(path, on_error="quarantine", quarantine_path=tmp_path / "q2.jsonl")
    assert listening.events.height == 1
    assert [(r["row"], r["reason"]) for r in quarantined(tmp_path / "q2.jsonl")] == [
        (2, "invalid json"), (3, "truncated line")]


def test_unreadable_files_fail_in_both_modes(tmp_path):
    write(tmp_path / "a.csv", "user_id,song_id,ts,event\nu,s,2021-01-01,play\n")
    with pytest.raises(DataError, match="missing column 'ms_played'"):
        read_logs(tmp_path / "a.csv", on_error="quarantine", quarantine_path=tmp_path / "q")
    write(tmp_path / "b.csv", "user_id,ts,ms_played,event\nu,2021-01-01,1,play\n")
    with pytest.raises(DataError, match="name the song by song_id, track_uri, or title"):
        read_logs(tmp_path / "b.csv")
    with pytest.raises(DataError, match="cannot tell the log format"):
        detect_log_format(write(tmp_path / "c.txt", "x"))
    with pytest.raises(DataError, match="no log files"):
        read_logs(write(tmp_path / "empty" / "notes.txt", "x").parent)


def test_unmatched_songs_are_counted_and_listed_never_lost(tmp_path):
    path = write(tmp_path / "logs.csv",
                 "user_id,song_id,title,artist,ts,ms_played,event\n"
                 "u1,s1,,,2021-01-01T00:00:00Z,1,play\n"
                 "u1,nope,,,2021-01-01T00:00:00Z,1,play\n"
                 "u1,nope,,,2021-01-01T00:00:00Z,1,play\n"
                 "u1,,clair de lune,CLAUDE DEBUSSY,2021-01-01T00:00:00Z,1,play\n"
                 "u1,,Unknown Song,Nobody,2021-01-01T00:00:00Z,1,play\n"
                 "u2,bad,,,soon,1,play\n")
    listening = read_logs(path, songs=CATALOGUE, on_error="quarantine",
                          quarantine_path=tmp_path / "q.jsonl")
    report = listening.report
    assert listening.events["song_id"].to_list() == ["s1", "s2"]
    assert listening.unmatched.select("song_id", "title", "events").rows() == [
        ("nope", None, 2), (None, "Unknown Song", 1)]
    assert (report.unmatched_events, report.unmatched_songs, report.quarantined) == (3, 2, 1)
    assert report.matched_by == {"song_id": 1, "track_uri": 0, "title_artist": 1,
                                 "core_title_artist": 0}
    assert report.events_read == (report.matched_events + report.unmatched_events
                                  + report.quarantined + report.non_music)


# --------------------------------------------------------------------------------------------
# Spotify extended streaming history
# --------------------------------------------------------------------------------------------


def stream(ts: str, ms: int, track: str | None, artist: str | None, uri: str | None, *,
           reason_end: str = "trackdone", skipped: bool | None = None, **extra) -> dict:
    """One entry as Spotify's export writes it (2023 layout, every field present)."""
    return {
        "ts": ts, "platform": "android", "ms_played": ms, "conn_country": "DE",
        "ip_addr": "203.0.113.7", "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": track and f"{track} (Album)",
        "spotify_track_uri": uri, "episode_name": None, "episode_show_name": None,
        "spotify_episode_uri": None, "audiobook_title": None, "audiobook_uri": None,
        "audiobook_chapter_uri": None, "audiobook_chapter_title": None,
        "reason_start": "clickrow", "reason_end": reason_end, "shuffle": False,
        "skipped": skipped, "offline": False, "offline_timestamp": 1623698318000,
        "incognito_mode": False, **extra,
    }


def spotify_sample(folder: Path) -> Path:
    entries = [
        # Played to the end: a play whose ms_played is the duration; matched by core title.
        stream("2021-06-14T19:22:03Z", 391_376, "Hotel California - 2013 Remaster", "Eagles",
               "spotify:track:40riOy7x9W7GXjyGp4pjAv"),
        # Skipped (the flag), and a forward-button skip in an export without the flag.
        stream("2021-06-14T19:28:40Z", 4_211, "Clair de lune", "Claude Debussy",
               "spotify:track:6kf2qkPOlDvGyJcXxeMzCk", reason_end="fwdbtn", skipped=True),
        stream("2021-06-14T19:29:00Z", 8_000, "Don\u2019t Stop Me Now", "Queen",
               "spotify:track:5T8EDUDqKcs6OSOwEsfqG7", reason_end="fwdbtn"),
        # The catalogue keys this one by its uri.
        stream("2021-06-14T19:33:12Z", 120_000, "Bohemian Rhapsody - Remastered 2011", "Queen",
               "spotify:track:4u7EnebtmKWzUH433cf5Qv", reason_end="endplay"),
        # A podcast episode: not music, counted apart.
        {**stream("2021-06-15T07:00:00Z", 1_500_000, None, None, None),
         "episode_name": "Episode 12", "episode_show_name": "A Show",
         "spotify_episode_uri": "spotify:episode:0Q86acNRm6V9GYx55SXKwf"},
        # Broken: a time that is not one, and a negative ms_played.
        stream("2021-06-15", 1000, "Clair de lune", "Claude Debussy", "spotify:track:x")
        | {"ts": "15/06/2021 08:00"},
        stream("2021-06-15T08:05:00Z", -20, "Clair de lune", "Claude Debussy",
               "spotify:track:6kf2qkPOlDvGyJcXxeMzCk"),
        # Not in the catalogue.
        stream("2021-06-15T08:10:00Z", 200_000, "Obscure B-Side", "Some Band",
               "spotify:track:1aaaaaaaaaaaaaaaaaaaaa"),
    ]
    path = folder / "bob" / "Streaming_History_Audio_2021_0.json"
    write(path, json.dumps(entries, indent=2, ensure_ascii=False))
    return path


def test_spotify_extended_streaming_history(tmp_path):
    path = spotify_sample(tmp_path / "exports")
    listening = read_logs(tmp_path / "exports", songs=CATALOGUE, on_error="quarantine",
                          quarantine_path=tmp_path / "q.jsonl")
    events = listening.events
    assert events["song_id"].to_list() == ["s1", "s2", "s3",
                                           "spotify:track:4u7EnebtmKWzUH433cf5Qv"]
    assert events["event"].cast(pl.Utf8).to_list() == ["play", "skip", "skip", "play"]
    assert events["user_id"].unique().to_list() == ["bob"]  # no username: the folder's name
    assert events["duration_ms"].to_list() == [391_376, None, None, None]
    assert events["ts"][0] == dt.datetime(2021, 6, 14, 19, 22, 3, tzinfo=UTC)
    report = listening.report
    assert (report.events_read, report.non_music, report.quarantined) == (8, 1, 2)
    assert report.quarantined_by_reason == {"bad timestamp": 1, "negative ms_played": 1}
    # Case and the curly apostrophe do not matter; " - 2013 Remaster" needs the core title.
    assert report.matched_by == {"song_id": 0, "track_uri": 1, "title_artist": 2,
                                 "core_title_artist": 1}
    assert listening.unmatched["title"].to_list() == ["Obscure B-Side"]
    rows = quarantined(tmp_path / "q.jsonl")
    assert [r["row"] for r in rows] == ["[5]", "[6]"] and rows[0]["file"] == str(path)
    assert json.loads(rows[0]["raw"])["ts"] == "15/06/2021 08:00"

    # An export that names its user keeps that name.
    named = [stream("2021-06-14T19:22:03Z", 1000, "Clair de lune", "Claude Debussy", None,
                    username="alice_music")]
    write(tmp_path / "alice.json", json.dumps(named))
    assert read_logs(tmp_path / "alice.json").events["user_id"].to_list() == ["alice_music"]
    with pytest.raises(DataError, match="expected a JSON array of streams"):
        read_logs(write(tmp_path / "mpd.json", '{"playlists": []}'))


def test_core_title_drops_editions_and_brackets():
    assert core_title("Hotel California - 2013 Remaster") == "hotel california"
    assert core_title("Fancy (w/ T.I. & Swizz Beatz)") == "fancy"
    assert core_title("(Untitled)") == "untitled"


def test_bad_rows_of_a_large_csv_read_in_chunks_are_all_quarantined(tmp_path):
    # A CSV this large reaches polars in several chunks; several bad rows over such a frame
    # once made polars panic while the messages were formatted.
    good = GOOD_CSV.splitlines()[1]
    lines = [good] * 6000
    for at, bad in ((100, BAD_CSV_LINES[0]), (3000, BAD_CSV_LINES[2]), (5900, BAD_CSV_LINES[4])):
        lines[at] = bad
    path = write(tmp_path / "big.csv", GOOD_CSV.splitlines()[0] + "\n" + "\n".join(lines) + "\n")
    quarantine = tmp_path / "bad.jsonl"
    listening = read_logs(path, on_error="quarantine", quarantine_path=quarantine)
    assert [(r["row"], r["reason"]) for r in quarantined(quarantine)] == [
        (102, "bad timestamp"), (3002, "unknown event"), (5902, "not an integer")]
    assert listening.events.height == 5997
