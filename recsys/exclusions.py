"""Exclusions: what a listener keeps out of their taste profile ("exclude from your taste
profile", as streaming services offer it).

A user excludes songs (an id or a title, resolved as everywhere else), artists (every song of
the artist in the catalogue, matched ignoring case, accents and punctuation) or a playlist:
songspace knows no playlists of its listeners, so a playlist is a name and its songs (the same
name again replaces its songs). The songs a user excludes

- do not count toward their profile or interests: their evidence is kept, so removing the
  exclusion gives the profile back as it was;
- are never recommended to them, played or not, nor given as the "because" of a
  recommendation;
- do not count in similar users: the user's profile leaves them out, and so does "songs in
  common".

They live in ``exclusions.json`` in the profiles folder, beside the files of the build but not
among the manifest's checksummed files (it changes between builds). Every change is a
read-modify-write under a lock on the folder's parent directory, put in place by an atomic
rename; a profiles build or update over the folder takes the same lock while it swaps the new
folder in and carries the file over (:func:`publishing_keeping_exclusions`), so exclusions
survive rebuilds and updates and none made meanwhile is lost. The profile files keep every
event's evidence: exclusions are applied when profiles are loaded to serve
(:class:`AppliedExclusions`), recomputing only the users who have some.

    {"format": "songspace.exclusions", "format_version": 1, "users": {"alice": {
        "songs": [{"song_id", "title", "artist", "added"}], "artists": [{"artist", "added"}],
        "playlists": [{"name", "songs": [{"song_id", "title", "artist"}], "added"}]}}}
"""

from __future__ import annotations

import datetime as dt
import difflib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from foundation.publishing import publishing
from recsys.artifact import ArtifactError
from recsys.catalog import Catalog, InvalidNameError, normalise_text
from recsys.index import VectorIndex
from recsys.profiles import ProfileState, profiles_from_pairs
from recsys.search import SongSearch, UnknownSongError
from recsys.user_index import update_user_index

FILE = "exclusions.json"
FORMAT = "songspace.exclusions"
FORMAT_VERSION = 1
KINDS = ("songs", "artists", "playlists")
Entries = dict[str, list[dict]]  # one user's exclusions: kind -> entries


class ExclusionError(ValueError):
    """A change the exclusions cannot take; `field` names the input as the API body does
    (``songs.0``, ``artists.1``, ``playlist.songs.2``), `code` is the API's error code."""

    def __init__(self, field: str, detail: str, code: str = "invalid_parameter",
                 suggestions: list[dict] | None = None) -> None:
        self.field, self.detail, self.code, self.suggestions = field, detail, code, suggestions
        super().__init__(f"{field}: {detail}")


def _empty() -> Entries:
    return {kind: [] for kind in KINDS}


@dataclass
class Exclusions:
    """Every user's exclusions, as ``exclusions.json`` holds them."""

    users: dict[str, Entries] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str | Path) -> Exclusions:
        """The exclusions of a profiles folder (none when it has no file).

        Raises
        ------
        ArtifactError
            If the file is not an exclusions file this version reads.
        """
        path = Path(folder) / FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
            if data["format"] != FORMAT or data["format_version"] > FORMAT_VERSION:
                raise ValueError(f"format {data['format']!r} version "
                                 f"{data['format_version']!r}")
            return cls({user: {kind: list(entries.get(kind, [])) for kind in KINDS}
                        for user, entries in data["users"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ArtifactError(f"{path}: expected a songspace exclusions file "
                                f"(format {FORMAT!r}, version {FORMAT_VERSION}): {error}") from None

    def write(self, folder: str | Path) -> None:
        """Put the file in place atomically (callers hold :func:`locked`)."""
        folder = Path(folder)
        users = {user: entries for user, entries in sorted(self.users.items())
                 if any(entries.values())}
        text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "users": users},
                          indent=1, ensure_ascii=False)
        staging = folder / f".{FILE}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            with open(staging, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, folder / FILE)
        finally:
            staging.unlink(missing_ok=True)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def of(self, user_id: str) -> Entries:
        return self.users.get(user_id) or _empty()

    def add(self, user_id: str, songs: list[dict], artists: list[str],
            playlist: dict | None) -> None:
        """Add resolved entries (a song or artist already excluded stays as it was)."""
        mine = self.users.setdefault(user_id, _empty())
        added = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        have = {entry["song_id"] for entry in mine["songs"]}
        for song in songs:
            if song["song_id"] not in have:
                have.add(song["song_id"])
                mine["songs"].append({**song, "added": added})
        have = {normalise_text(entry["artist"]) for entry in mine["artists"]}
        for artist in artists:
            if normalise_text(artist) not in have:
                have.add(normalise_text(artist))
                mine["artists"].append({"artist": artist, "added": added})
        if playlist is not None:
            name = normalise_text(playlist["name"])
            mine["playlists"] = [p for p in mine["playlists"] if normalise_text(p["name"]) != name]
            mine["playlists"].append({**playlist, "added": added})

    def remove(self, user_id: str, songs: Sequence[tuple[str, str | None]],
               artists: Sequence[str], playlists: Sequence[str], everything: bool) -> None:
        """Remove entries: songs as (what was typed, the song id it resolves to or None),
        artists and playlists by name; ``everything`` removes them all.

        Raises
        ------
        ExclusionError
            ``exclusion_not_found`` for an entry the user does not have (nothing is removed).
        """
        mine = self.of(user_id)
        if everything:
            self.users.pop(user_id, None)
            return
        wanted = [("song", n, query, _matcher("song", query, song_id))
                  for n, (query, song_id) in enumerate(songs)]
        wanted += [(kind, n, name, _matcher(kind, name)) for kind, names in
                   (("artist", artists), ("playlist", playlists)) for n, name in enumerate(names)]
        for kind, n, query, match in wanted:
            entries = mine[f"{kind}s"]
            if not any(match(e) for e in entries):
                names = ", ".join(repr(e.get("title") or e.get("artist") or e.get("name"))
                                  for e in entries) or "none"
                raise ExclusionError(f"{kind}.{n}", f"{query!r} is not among {user_id!r}'s "
                                     f"excluded {kind}s ({names})", "exclusion_not_found")
            mine[f"{kind}s"] = [e for e in entries if not match(e)]
        self.users[user_id] = mine


def _matcher(kind: str, query: str, song_id: str | None = None) -> Callable[[dict], bool]:
    """Whether an entry is the one a removal names: a song by the id typed or resolved, an
    artist or a playlist by its name as people type it."""
    if kind == "song":
        return lambda entry: entry["song_id"] in (query, song_id)
    key, name = normalise_text(query), "artist" if kind == "artist" else "name"
    return lambda entry: normalise_text(entry[name]) == key


@contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Hold the lock that exclusion changes and profiles publishes of `folder` share: a lock on
    its parent directory (no lock file to leave behind; the folder itself is swapped whole)."""
    parent = Path(folder).absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def change_exclusions(folder: str | Path, change: Callable[[Exclusions], None]) -> Exclusions:
    """Read, change and write the folder's exclusions under the lock; a `change` that raises
    writes nothing."""
    with locked(folder):
        exclusions = Exclusions.read(folder)
        change(exclusions)
        exclusions.write(folder)
    return exclusions


@contextmanager
def publishing_keeping_exclusions(target: str | Path) -> Iterator[Path]:
    """:func:`foundation.publishing.publishing`, carrying the exclusions of the folder being
    replaced into the new one: copied under the lock, which is held until the swap is done, so
    that a change made meanwhile is neither lost nor half-copied."""
    target = Path(target)
    # The stack is left after `publishing` is: the lock taken last is released after the swap.
    with ExitStack() as held, publishing(target) as staging:
        yield staging
        held.enter_context(locked(target))
        if (target / FILE).is_file():
            shutil.copyfile(target / FILE, staging / FILE)


class ArtistNames:
    """The catalogue's artists, typed as people type them."""

    def __init__(self, catalog: Catalog) -> None:
        artists = catalog.songs["artist"].fill_null("")
        keys = {name: normalise_text(name) for name in artists.unique().to_list()}
        self._songs: dict[str, np.ndarray] = {}
        self._names: dict[str, str] = {}
        frame = pl.DataFrame({"key": artists.replace_strict(keys, return_dtype=pl.Utf8),
                              "artist": artists}).with_row_index("song")
        for key, rows, names in frame.filter(pl.col("key") != "").group_by(
                "key", maintain_order=True).agg("song", "artist").iter_rows():
            self._songs[key] = np.asarray(rows, np.int64)
            self._names[key] = max(set(names), key=names.count)  # the usual spelling

    def songs(self, artist: str) -> np.ndarray:
        """Catalogue indices of the artist's songs (empty when the catalogue has none)."""
        return self._songs.get(normalise_text(artist), np.zeros(0, np.int64))

    def resolve(self, query: str, field: str) -> str:
        """The catalogue's spelling of a typed artist name."""
        key = normalise_text(query)
        if not key:
            raise ExclusionError(field, f"{query!r} is not an artist name: a name with at least "
                                 "one letter or digit was expected")
        if key in self._names:
            return self._names[key]
        close = difflib.get_close_matches(key, self._names, n=5, cutoff=0.75)
        hint = "; did you mean " + ", ".join(repr(self._names[k]) for k in close) if close else ""
        raise ExclusionError(field, f"no artist {query!r} in the catalogue{hint}",
                             "artist_not_found")


def resolve_songs(songs: SongSearch, queries: Sequence[str], field: str) -> list[dict]:
    """``{"song_id", "title", "artist"}`` of songs typed as ids or titles."""
    found = []
    for n, query in enumerate(queries):
        try:
            found.append(songs.describe(songs.resolve(query).index))
        except UnknownSongError as error:
            raise ExclusionError(f"{field}.{n}", str(error), "song_not_found",
                                 error.suggestions) from None
        except InvalidNameError as error:
            raise ExclusionError(f"{field}.{n}", str(error)) from None
    return found


class AppliedExclusions:
    """The exclusions of a profiles folder applied to its loaded profiles, kept in step with
    the file (changes made here, by another process, or by other workers of a server).

    Parameters
    ----------
    folder : Path
        The profiles folder (where ``exclusions.json`` lives).
    state : ProfileState
        Its profiles; the rows of users with exclusions are recomputed in place.
    catalog : Catalog
    unit_vectors : float32 (n_items, d)
        The vectors the state was built with (`recsys.profiles.song_space`).
    user_index : VectorIndex
        The user index, kept in step with the recomputed profiles.
    """

    def __init__(self, folder: str | Path, state: ProfileState, catalog: Catalog,
                 unit_vectors: np.ndarray, user_index: VectorIndex) -> None:
        self.folder, self.state, self.catalog = Path(folder), state, catalog
        self.unit_vectors, self.user_index = unit_vectors, user_index
        # Catalogue indices each user row keeps out (TasteRecommender reads this dict).
        self.by_row: dict[int, np.ndarray] = {}
        self.exclusions = Exclusions()
        self._artists: ArtistNames | None = None
        self._seen: tuple | None = None
        self.refresh()

    @property
    def artists(self) -> ArtistNames:
        if self._artists is None:  # normalising every artist takes a moment: on first use
            self._artists = ArtistNames(self.catalog)
        return self._artists

    def _signature(self) -> tuple | None:
        try:
            stat = (self.folder / FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def refresh(self) -> None:
        """Read the file again when it changed since it was last read, and apply it."""
        seen = self._signature()
        if seen != self._seen:
            self._use(Exclusions.read(self.folder))
            self._seen = seen

    def _use(self, exclusions: Exclusions) -> None:
        before, self.exclusions = self.exclusions, exclusions
        changed = [user for user in set(before.users) | set(exclusions.users)
                   if before.of(user) != exclusions.of(user)]
        self._apply(self._rows(changed))

    def after_update(self, rows: np.ndarray) -> None:
        """Apply exclusions again to the users among `rows` that have some: an update of
        their events recomputed their profiles from all their evidence."""
        if self.exclusions.users:
            rows = np.asarray(rows)
            self._apply(rows[self.state.users.gather(rows).is_in(
                list(self.exclusions.users)).to_numpy()])

    def _rows(self, user_ids: list[str]) -> np.ndarray:
        frame = self.state.users.alias("user_id").to_frame().with_row_index("row")
        return frame.filter(pl.col("user_id").is_in(user_ids))["row"].to_numpy()

    def items(self, entries: Entries) -> np.ndarray:
        """The catalogue indices a user's entries keep out, sorted."""
        ids = [s["song_id"] for s in entries["songs"]]
        ids += [s["song_id"] for p in entries["playlists"] for s in p["songs"]]
        parts = [self.catalog.encode(ids)]
        parts += [self.artists.songs(a["artist"]) for a in entries["artists"]]
        items = np.unique(np.concatenate(parts))
        return items[items >= 0]

    def _apply(self, rows: np.ndarray) -> None:
        """Recompute the profiles of user `rows` without what they exclude now."""
        if not len(rows):
            return
        rows = np.unique(rows).astype(np.int64)
        for row, user in zip(rows.tolist(), self.state.users.gather(rows).to_list(),
                             strict=True):
            items = self.items(self.exclusions.of(user))
            if len(items):
                self.by_row[row] = items
            else:
                self.by_row.pop(row, None)
        without_excluded(self.state, rows, self.by_row, self.unit_vectors)
        update_user_index(self.user_index, self.state, rows)

    # -- changes ------------------------------------------------------------------------------
    def exclude(self, user_id: str, songs: SongSearch, song_queries: Sequence[str] = (),
                artists: Sequence[str] = (), playlist: tuple[str, Sequence[str]] | None = None
                ) -> dict:
        """Exclude songs, artists or a playlist ``(name, songs)`` for a user, durably; returns
        :meth:`describe`. Everything is resolved before anything is written.

        Raises
        ------
        ExclusionError
            Nothing to exclude, an unknown song or artist (with suggestions), a bad name.
        """
        if not (song_queries or artists or playlist):
            raise ExclusionError("body", "nothing to exclude: give songs, artists or a "
                                 "playlist")
        found = resolve_songs(songs, song_queries, "songs")
        names = [self.artists.resolve(a, f"artists.{n}") for n, a in enumerate(artists)]
        entry = None
        if playlist is not None:
            name, members = playlist
            if not normalise_text(name):
                raise ExclusionError("playlist.name", f"{name!r} is not a playlist name: a "
                                     "name with at least one letter or digit was expected")
            if not members:
                raise ExclusionError("playlist.songs", "a playlist needs at least one song")
            entry = {"name": name.strip(), "songs": resolve_songs(songs, members,
                                                                  "playlist.songs")}
        self._write(lambda ex: ex.add(user_id, found, names, entry))
        return self.describe(user_id)

    def remove(self, user_id: str, songs: SongSearch, song_queries: Sequence[str] = (),
               artists: Sequence[str] = (), playlists: Sequence[str] = (),
               everything: bool = False) -> dict:
        """Remove some of a user's exclusions (``everything``: all of them); returns
        :meth:`describe`.

        Raises
        ------
        ExclusionError
            Nothing named, or an entry the user does not have (``exclusion_not_found``).
        """
        if not (song_queries or artists or playlists or everything):
            raise ExclusionError("body", "nothing to remove: name songs, artists or playlists, "
                                 "or all of them")
        pairs = []
        for query in song_queries:
            try:  # a song the catalogue no longer has is still removed by its id
                pairs.append((query, songs.catalog.song_ids[songs.resolve(query).index]))
            except (UnknownSongError, InvalidNameError):
                pairs.append((query, None))
        self._write(lambda ex: ex.remove(user_id, pairs, artists, playlists, everything))
        return self.describe(user_id)

    def _write(self, change: Callable[[Exclusions], None]) -> None:
        self._use(change_exclusions(self.folder, change))
        self._seen = self._signature()

    def describe(self, user_id: str) -> dict:
        """``{"user_id", "songs", "artists", "playlists", "excluded_songs"}``: the entries
        (an artist's with how many catalogue songs it has) and how many catalogue songs they
        keep out in all."""
        entries = self.exclusions.of(user_id)
        return {
            "user_id": user_id,
            "songs": entries["songs"],
            "artists": [{**a, "songs": len(self.artists.songs(a["artist"]))}
                        for a in entries["artists"]],
            "playlists": entries["playlists"],
            "excluded_songs": len(self.items(entries)),
        }


def without_excluded(state: ProfileState, rows: np.ndarray, excluded: dict[int, np.ndarray],
                     unit_vectors: np.ndarray) -> None:
    """Recompute, in place, the profiles and interests of user `rows` from their (user, song)
    evidence less the songs `excluded` maps them to (steps 4 and 5 of `recsys.profiles`)."""
    n_items = len(unit_vectors)
    is_row = np.zeros(len(state), bool)
    is_row[rows] = True
    pairs = state.pairs.take(np.flatnonzero(is_row[state.pairs.user]))
    keys = pairs.user.astype(np.int64) * n_items + pairs.item
    hidden = [row * n_items + items for row, items in excluded.items() if is_row[row]]
    if hidden:
        pairs = pairs.take(np.flatnonzero(~np.isin(keys, np.concatenate(hidden))))
    pairs.user = np.searchsorted(rows, pairs.user).astype(np.int32)
    fresh = profiles_from_pairs(state.users.gather(rows), pairs, state.last_ts[rows],
                                unit_vectors, state.config, clusters=state.clusters)
    for name, values in (("weighted_sum", fresh.weighted_sum),
                         ("total_weight", fresh.total_weight), ("_profiles", fresh.profiles),
                         ("_has_profile", fresh.has_profile)):
        array = getattr(state, name)
        if array is not None:  # a cache not computed yet stays so
            array[rows] = values
    fresh.interests.user = rows[fresh.interests.user].astype(np.int32)
    state.interests = state.interests.replaced(is_row, fresh.interests)
