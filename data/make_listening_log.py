"""Write the sample listening logs of the embedded data (seeded: the same files every time).

    .venv/bin/python data/make_listening_log.py

Eight made-up listeners of the yes.com radio playlists in ``data/yes_small``. Each has a taste,
a Last.fm tag (alice: classic rock, bob: country, ...): their history is a few dozen real
playlists of the data set whose songs mostly carry that tag, each played as one listening
session (songs in the playlist's order) at a plausible time of day between 3 January and
13 March 2011, within the months the playlists were logged. One session in six is a playlist of
another style, skipped more. Within a session a song is played to the end, played in part or
skipped early; some full plays are followed by a like or an add to a playlist, some skips by a
dislike.

* ``data/listening_log/events.csv``: six listeners (alice, bob, carol, dave, erin, frank),
  songs named by ``song_id``, with ``duration_ms`` where the player knew it, in time order,
  and six bad rows (one per kind of fault) that ``--on-error quarantine`` sets aside.
* ``data/listening_log/grace/Streaming_History_Audio_2011.json``: grace's listening in
  Spotify's "Extended streaming history" export format (songs named by title and artist, some
  with a " - Remastered" edition suffix; two podcast episodes; two songs the catalogue lacks).
  The export has no user name: the folder names the user.
* ``data/listening_log_update/events.jsonl``: a week later (14 to 20 March), a batch for
  ``songspace profiles update`` as JSON Lines: more of alice and bob, and heidi, a new
  listener (alternative).

Run it after changing it; ``tests/test_sample_log.py`` checks that the shipped files are
exactly what it writes and that ``profiles build`` counts them as it says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

DATA = Path(__file__).resolve().parent
SEED = 20110103
START = dt.datetime(2011, 1, 3, tzinfo=dt.UTC)
DAYS = 70  # 3 January to 13 March 2011
UPDATE_START = START + dt.timedelta(days=DAYS)  # 14 March
UPDATE_DAYS = 7

# user -> (tag their favourite playlists carry, sessions)
TASTES: dict[str, tuple[str, int]] = {
    "alice": ("classic rock", 44),
    "bob": ("country", 40),
    "carol": ("hip-hop", 38),
    "dave": ("pop", 40),
    "erin": ("metal", 42),
    "frank": ("christian", 40),
    "grace": ("80s", 36),
    "heidi": ("alternative", 9),
}
CSV_USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
SPOTIFY_USER = "grace"
# user -> sessions in the update batch
UPDATE_SESSIONS = {"alice": 4, "bob": 3, "heidi": 9}
COLUMNS = ("user_id", "song_id", "ts", "ms_played", "event", "duration_ms")

# Rows a real export gets wrong, one per kind of fault: (the row's fields, the reason
# `songspace profiles build --on-error quarantine` gives).
BAD_ROWS: tuple[tuple[dict[str, str], str], ...] = (
    ({"ts": "yesterday evening"}, "bad timestamp"),
    ({"ms_played": "-1200"}, "negative ms_played"),
    ({"event": "pause"}, "unknown event"),
    ({"user_id": ""}, "missing value"),
    ({"duration_ms": "0"}, "bad duration"),
    ({"ms_played": "3m20s"}, "not an integer"),
)
# Songs grace streamed that the catalogue does not have: (title, artist, streams).
NOT_IN_CATALOGUE = (("Running Up That Hill", "Kate Bush", 3), ("Here Comes The Sun",
                                                               "The Beatles", 2))
PODCASTS = ("The Daily Show Podcast: 7 March", "Song Exploder: Take On Me")


@dataclass
class Written:
    """What the script wrote, for its summary and for the test of the sample log."""

    csv_events: int = 0
    csv_bad: dict[str, int] = field(default_factory=dict)
    csv_bad_lines: list[int] = field(default_factory=list)  # line numbers, the header is 1
    spotify_streams: int = 0
    spotify_podcasts: int = 0
    spotify_unmatched_events: int = 0
    spotify_unmatched_songs: int = 0
    update_events: int = 0
    users: tuple[str, ...] = ()
    update_users: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def duration_ms(song_id: str) -> int:
    """A fixed, plausible length for each song: 2.5 to 5.5 minutes, in whole seconds."""
    return random.Random(f"duration-{song_id}").randint(150, 330) * 1000


def load() -> tuple[pl.DataFrame, dict[str, list[str]]]:
    songs = pl.read_parquet(DATA / "yes_small" / "songs.parquet")
    playlists = pl.read_parquet(DATA / "yes_small" / "playlists.parquet")
    grouped = (playlists.sort("playlist_id", "position")
               .group_by("playlist_id", maintain_order=True).agg("song_id")
               .filter(pl.col("song_id").list.len() >= 6)
               .sort(pl.col("playlist_id").cast(pl.Int64)))
    return songs, {pid: ids for pid, ids in grouped.iter_rows()}


def playlists_of(tag: str, songs: pl.DataFrame, playlists: dict[str, list[str]]) -> list[str]:
    """Playlists (ids, in id order) at least 70% of whose songs carry the tag."""
    tagged = set(songs.filter(pl.col("tags").list.contains(tag))["song_id"].to_list())
    return [pid for pid, ids in playlists.items()
            if sum(s in tagged for s in ids) >= 0.7 * len(ids)]


def session_start(rng: random.Random, first: dt.datetime, days: int) -> dt.datetime:
    """A day in the window and a time of day people listen at: commute, lunch, evening."""
    day = first + dt.timedelta(days=rng.randrange(days))
    hour = rng.choices([7, 8, 12, 13, 17, 18, 19, 20, 21, 22, 23],
                       weights=[3, 3, 2, 2, 3, 4, 5, 5, 5, 3, 2])[0]
    return day + dt.timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))


def session(rng: random.Random, user: str, ids: list[str], start: dt.datetime,
            liked: bool) -> list[dict]:
    """The events of one listening session: the playlist's songs in order."""
    events: list[dict] = []
    now = start
    skip_p = 0.1 if liked else 0.45
    for song in ids:
        length = duration_ms(song)
        known = rng.random() < 0.9  # the player knew the song's length
        draw = rng.random()
        if draw < skip_p:
            event, played = "skip", rng.randint(3_000, 40_000)
        elif draw < skip_p + 0.15:
            event, played = "play", int(length * rng.uniform(0.3, 0.9))
        else:
            event, played = "play", length
        events.append({"user_id": user, "song_id": song, "ts": now, "ms_played": played,
                       "event": event, "duration_ms": length if known else None})
        after = now + dt.timedelta(milliseconds=played)
        extra = None
        if event == "play" and played == length:
            if rng.random() < (0.09 if liked else 0.02):
                extra = "like"
            elif rng.random() < (0.04 if liked else 0.0):
                extra = "add_to_playlist"
        elif event == "skip" and rng.random() < (0.08 if liked else 0.25):
            extra = "dislike"
        if extra:
            events.append({"user_id": user, "song_id": song,
                           "ts": after - dt.timedelta(seconds=rng.randint(5, 60)),
                           "ms_played": 0, "event": extra, "duration_ms": None})
        now = after + dt.timedelta(seconds=rng.randint(1, 4))
    return events


def history(rng: random.Random, user: str, sessions: int, first: dt.datetime, days: int,
            own: list[str], others: list[str], playlists: dict[str, list[str]],
            used: set[str]) -> list[dict]:
    """A user's sessions: their taste's playlists (each at most once), one in six another;
    a session starts after the one before it ended."""
    events: list[dict] = []
    busy: list[tuple[dt.datetime, dt.datetime]] = []
    for _ in range(sessions):
        liked = rng.random() >= 1 / 6
        pool = [p for p in (own if liked else others) if p not in used]
        pid = rng.choice(pool)
        used.add(pid)
        while True:
            start = session_start(rng, first, days)
            played = session(rng, user, playlists[pid], start, liked)
            end = max(e["ts"] for e in played) + dt.timedelta(minutes=10)
            if not any(start < b and a < end for a, b in busy):
                break
        busy.append((start, end))
        events += played
    return events


def iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def row_text(event: dict) -> dict[str, str]:
    return {"user_id": event["user_id"], "song_id": event["song_id"], "ts": iso(event["ts"]),
            "ms_played": str(event["ms_played"]), "event": event["event"],
            "duration_ms": "" if event["duration_ms"] is None else str(event["duration_ms"])}


def write_csv(path: Path, events: list[dict], rng: random.Random, written: Written) -> None:
    rows = [row_text(e) for e in events]
    # The bad rows sit among the good ones, each a copy of a good row with one field broken.
    spots = sorted(rng.sample(range(50, len(rows)), len(BAD_ROWS)), reverse=True)
    bad = []
    for spot, (broken, reason) in zip(spots, BAD_ROWS, strict=True):
        bad.append({**rows[spot], **broken})
        rows.insert(spot, bad[-1])
        written.csv_bad[reason] = written.csv_bad.get(reason, 0) + 1
    written.csv_bad_lines = sorted(n + 2 for n, row in enumerate(rows)
                                   if any(row is b for b in bad))
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(text.getvalue())
    written.csv_events = len(rows)


def write_spotify(path: Path, events: list[dict], songs: pl.DataFrame, rng: random.Random,
                  written: Written) -> None:
    names = {sid: (title, artist) for sid, title, artist in
             songs.select("song_id", "title", "artist").iter_rows()}
    streams: list[tuple[dt.datetime, dict]] = []
    for e in events:
        if e["event"] not in ("play", "skip"):
            continue  # the export has plays only
        title, artist = names[e["song_id"]]
        if rng.random() < 0.08:
            title += " - Remastered 2009"
        done = e["event"] == "play" and e["ms_played"] == duration_ms(e["song_id"])
        streams.append((e["ts"], {
            "ts": iso(e["ts"]), "platform": "android", "ms_played": e["ms_played"],
            "conn_country": "US", "master_metadata_track_name": title,
            "master_metadata_album_artist_name": artist,
            "master_metadata_album_album_name": None, "spotify_track_uri": None,
            "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
            "reason_start": "trackdone", "reason_end": "trackdone" if done else (
                "fwdbtn" if e["event"] == "skip" else "endplay"),
            "shuffle": False, "skipped": e["event"] == "skip", "offline": False,
            "incognito_mode": False}))
    for title, artist, count in NOT_IN_CATALOGUE:
        for _ in range(count):
            ts = session_start(rng, START, DAYS)
            streams.append((ts, {**streams[0][1], "ts": iso(ts), "ms_played": 240_000,
                                 "master_metadata_track_name": title,
                                 "master_metadata_album_artist_name": artist,
                                 "reason_end": "trackdone", "skipped": False}))
        written.spotify_unmatched_events += count
        written.spotify_unmatched_songs += 1
    for name in PODCASTS:
        ts = session_start(rng, START, DAYS)
        streams.append((ts, {**streams[0][1], "ts": iso(ts), "ms_played": 1_500_000,
                             "master_metadata_track_name": None,
                             "master_metadata_album_artist_name": None,
                             "episode_name": name, "episode_show_name": name.split(":")[0],
                             "reason_end": "endplay", "skipped": False}))
    streams.sort(key=lambda pair: pair[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([s for _, s in streams], indent=1) + "\n")
    written.spotify_streams = len(streams)
    written.spotify_podcasts = len(PODCASTS)


def write_jsonl(path: Path, events: list[dict], written: Written) -> None:
    lines = []
    for e in events:
        row = {k: v for k, v in row_text(e).items() if k != "duration_ms"}
        row["ms_played"] = e["ms_played"]
        if e["duration_ms"] is not None:
            row["duration_ms"] = e["duration_ms"]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    written.update_events = len(lines)


def main(out: Path = DATA) -> Written:
    """Write the logs under ``out`` (``data/`` by default); what was written."""
    rng = random.Random(SEED)
    songs, playlists = load()
    mine = {user: playlists_of(tag, songs, playlists) for user, (tag, _) in TASTES.items()}
    used: set[str] = set()
    first: list[dict] = []
    spotify: list[dict] = []
    for user, (_, sessions) in TASTES.items():
        if user in UPDATE_SESSIONS and user not in CSV_USERS:
            continue  # only in the update batch
        others = [p for u, ps in mine.items() if u != user for p in ps]
        events = history(rng, user, sessions, START, DAYS, mine[user], others, playlists, used)
        (spotify if user == SPOTIFY_USER else first).extend(events)
    later: list[dict] = []
    for user, sessions in UPDATE_SESSIONS.items():
        others = [p for u, ps in mine.items() if u != user for p in ps]
        later += history(rng, user, sessions, UPDATE_START, UPDATE_DAYS, mine[user], others,
                         playlists, used)
    written = Written(users=(*CSV_USERS, SPOTIFY_USER), update_users=tuple(UPDATE_SESSIONS))
    order = {name: n for n, name in enumerate(TASTES)}
    first.sort(key=lambda e: (e["ts"], order[e["user_id"]]))
    later.sort(key=lambda e: (e["ts"], order[e["user_id"]]))
    logs, update = out / "listening_log", out / "listening_log_update"
    logs.mkdir(parents=True, exist_ok=True)
    update.mkdir(parents=True, exist_ok=True)
    write_csv(logs / "events.csv", first, rng, written)
    write_spotify(logs / SPOTIFY_USER / "Streaming_History_Audio_2011.json", spotify, songs,
                  rng, written)
    write_jsonl(update / "events.jsonl", later, written)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    print(json.dumps(main(target).as_dict(), indent=1))
