"""Song search over a trained model: similar songs, song arithmetic, playlist continuation,
tag axes and text search, on FAISS indexes built once per model.

    songs = SongSearch.from_artifact(load_artifact("models/yes_big"))
    songs.similar("268", k=10, exclude_artist=True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recsys.artifact import Artifact
from recsys.base import Context, Recommender, context_matrix
from recsys.catalog import Catalog, InvalidNameError, normalise_text
from recsys.colisten import CoListening
from recsys.generation import continue_playlist as sample_continuation
from recsys.generation import generate_playlist
from recsys.index import IndexConfig, VectorIndex
from recsys.next_song import artist_codes
from recsys.similar_songs import SimilarSongs
from recsys.song2vec import Song2Vec
from recsys.song_text import with_estimates
from recsys.tags import TagAxes
from recsys.text_search import TextSearch


class UnknownSongError(KeyError):
    """A song id or title the catalogue does not have; carries close title matches."""

    def __init__(self, query: str, suggestions: list[dict]) -> None:
        self.query, self.suggestions = query, suggestions
        hint = "; did you mean " + ", ".join(
            f"{s['title']!r} by {s['artist']} ({s['song_id']})" for s in suggestions
        ) if suggestions else ""
        super().__init__(f"no song {query!r} in the catalogue{hint}")

    def __str__(self) -> str:
        return self.args[0]


@dataclass
class Resolved:
    index: int
    matches: int  # how many songs the query named; > 1 means the most played was picked


class SongSearch:
    """Every vector query songspace answers about songs, composed from model + catalogue."""

    def __init__(
        self, model: Song2Vec, catalog: Catalog, plays: np.ndarray,
        index_config: IndexConfig | None = None,
        load_continuation: Callable[[], Recommender | None] | None = None,
        estimated: np.ndarray | None = None, colisten: CoListening | None = None,
    ) -> None:
        self.model, self.catalog = model, catalog
        self._load_continuation = load_continuation
        self.plays = np.asarray(plays, dtype=np.float64)
        # Songs whose vectors the text map estimated (`recsys.song_text.with_estimates`): they
        # are searched and answered like the others, and marked wherever they show.
        self.estimated = np.zeros(len(model.trained), bool) if estimated is None else estimated
        self.known = model.trained | self.estimated
        ids = catalog.song_ids
        # Placeholders ("-" by "-") keep their vectors but are never an answer.
        known_rows = np.flatnonzero(self.known & ~catalog.placeholder)
        self.known_ids = [ids[i] for i in known_rows]
        config = index_config or IndexConfig()
        # cosine over input vectors: songs played in the same company. Learnt vectors only:
        # estimated ones are averages of their kind and would crowd every cosine list (in
        # input.output lists they are as rare as their estimated output vectors make them).
        learnt_rows = np.flatnonzero(model.trained & ~catalog.placeholder)
        self.song_index = VectorIndex.build([ids[i] for i in learnt_rows],
                                            model.input_vectors[learnt_rows], config)
        # raw inner product with output vectors: "what comes next" (the dual-embedding view)
        self.next_index = VectorIndex.build(
            self.known_ids, model.output_vectors[known_rows],
            IndexConfig(**{**config.__dict__, "metric": "ip"}),
        )
        self.artists = catalog.songs["artist"].to_list()
        self._by_artist: dict[str, list[str]] = {}
        for i in known_rows:
            self._by_artist.setdefault(self.artists[i], []).append(ids[i])
        self.text = TextSearch(catalog.songs["title"].to_list(), self.artists, self.plays,
                               hidden=catalog.placeholder)
        self.tags = TagAxes.fit(model.unit_inputs, catalog.songs["tags"].to_list(),
                                model.trained)
        # "More like this" (`recsys.similar_songs`): in.out, co-listening and tags blended.
        self.more_like = SimilarSongs(model.input_vectors, model.output_vectors, colisten,
                                      catalog.songs["tags"].to_list(),
                                      self.known & ~catalog.placeholder)

    @cached_property
    def continuation(self) -> Recommender | None:
        """What `continue` ranks with: the two-stage ranker when the artifact holds one, loaded
        on first use: loading fits the ranker's candidate generators and imports LightGBM
        (seconds), which similar songs, search and tags never need."""
        return self._load_continuation() if self._load_continuation is not None else None

    @classmethod
    def from_artifact(cls, artifact: Artifact, index_config: IndexConfig | None = None):
        counts = artifact.playlists["song_id"].value_counts()
        plays = np.zeros(len(artifact.catalog))
        rows = artifact.catalog.encode(counts["song_id"].to_list())
        plays[rows[rows >= 0]] = counts["count"].to_numpy()[rows >= 0]
        model, estimated = artifact.model, None
        if artifact.song_text is not None:  # songs without a vector get estimated ones
            model, estimated = with_estimates(model, artifact.song_text, artifact.artists,
                                              artifact.catalog.placeholder)
        return cls(model, artifact.catalog, plays, index_config,
                   load_continuation=lambda: artifact.next_song.get("songspace"),
                   estimated=estimated,
                   colisten=artifact.colisten)

    # -- naming songs -------------------------------------------------------------------------
    def describe(self, index: int, score: float | None = None) -> dict:
        row = self.catalog.describe(index)
        if score is not None:
            row["score"] = round(float(score), 4)
        if self.estimated[index]:
            row["estimated"] = True
        return row

    def resolve(self, query: str) -> Resolved:
        """A song id, or a title ("title", "title artist", "artist - title"); several matches
        resolve to the most played one. A title may be typed without its "(w/ ...)" or
        "(feat. ...)" part, or cut short when only one title starts that way. Placeholder
        songs are never found by a name; a name without a letter or digit is an
        :class:`InvalidNameError`."""
        by_id = self.catalog.index_of(query)
        if by_id is None and not normalise_text(query):
            raise InvalidNameError(query)
        matches = [by_id] if by_id is not None else (
            self.text.exact(query) or self.text.exact_bare(query)
            or self.text.unique_prefix(query))
        if not matches:
            raise UnknownSongError(query, self.suggest(query))
        return Resolved(matches[0], len(matches))

    def suggest(self, query: str, limit: int = 5) -> list[dict]:
        return [self.describe(i) for i in self.text.close_matches(query, limit)]

    def _require_vector(self, index: int) -> None:
        if not self.known[index]:
            song = self.describe(index)
            raise KeyError(f"{song['title']!r} by {song['artist']} ({song['song_id']}) was "
                           "never played in the training playlists, so it has no vector")

    def _hits(self, ids: list[str], scores: np.ndarray) -> list[dict]:
        return [self.describe(self.catalog.index_of(i), s) for i, s in zip(ids, scores,
                                                                           strict=True)]

    # -- queries ------------------------------------------------------------------------------
    def similar(
        self, song: int, k: int = 10, exclude_artist: bool = False, scoring: str = "blend"
    ) -> list[dict]:
        """Songs most like a song. "blend" (the default, everywhere a single song is asked
        about) adds song2vec's in.out, co-listening and tag evidence (`recsys.similar_songs`),
        chosen by genre agreement, tag overlap and co-membership in held-out playlists
        (bench/README.md); "in_out" scores the input vector against the output vectors alone,
        "cosine" compares input vectors."""
        self._require_vector(song)
        exclude = {self.catalog.song_ids[song]}
        if exclude_artist:
            exclude.update(self._by_artist.get(self.artists[song], ()))
        if scoring == "blend":
            best, scores = self.more_like.top(song, k, self.catalog.encode(sorted(exclude)))
            return [self.describe(int(i), float(v)) for i, v in zip(best, scores, strict=True)]
        if scoring not in ("in_out", "cosine"):
            raise ValueError(f"scoring must be 'blend', 'in_out' or 'cosine', got {scoring!r}")
        index = self.next_index if scoring == "in_out" else self.song_index
        ids, scores = index.search(self.model.input_vectors[song], k, exclude=exclude)
        return self._hits(ids[0], scores[0])

    def arithmetic(
        self,
        positive: Sequence[int],
        negative: Sequence[int] = (),
        k: int = 10,
        positive_weights: Sequence[float] | None = None,
        negative_weights: Sequence[float] | None = None,
    ) -> list[dict]:
        """Recommend by example: sum of (weighted) unit vectors of the positive songs minus
        those of the negative songs; the inputs themselves are never returned. One song alone
        is "more like this": the answer of :meth:`similar`."""
        if not positive:
            raise ValueError("song arithmetic needs at least one positive song")
        weights = [1.0] if positive_weights is None else list(positive_weights)
        if len(positive) == 1 and not negative and len(weights) == 1 and weights[0] > 0:
            return self.similar(positive[0], k)
        vector = np.zeros(self.model.input_vectors.shape[1], np.float32)
        for songs, weights, sign in ((positive, positive_weights, 1.0),
                                     (negative, negative_weights, -1.0)):
            weights = [1.0] * len(songs) if weights is None else list(weights)
            if len(weights) != len(songs):
                raise ValueError(f"{len(songs)} songs but {len(weights)} weights")
            for song, weight in zip(songs, weights, strict=True):
                self._require_vector(song)
                vector += sign * weight * self.model.unit_inputs[song]
        exclude = {self.catalog.song_ids[i] for i in (*positive, *negative)}
        ids, scores = self.song_index.search(vector, k, exclude=exclude)
        return self._hits(ids[0], scores[0])

    def continue_playlist(
        self, songs: Sequence[int], k: int = 10, temperature: float = 0.0,
        seed: int | None = None, grow: bool = False, max_per_artist: int | None = None,
    ) -> list[dict]:
        """Next songs for a playlist so far, ranked by the two-stage ranker (song2vec's
        recency-weighted context vector against the output vectors when the artifact has
        none). Temperature 0 takes the top k; above 0 the k songs are a seeded sample of the
        scores. With `grow`, each pick joins the playlist before the next one is chosen (a
        whole new playlist of k songs), no artist more than `max_per_artist` times."""
        context = [s for s in songs if self.known[s]]
        if not context:
            raise ValueError("none of the playlist's songs has a vector; cannot continue it")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if self.continuation is None and temperature == 0 and not grow:
            return self._in_out_continuation(context, songs, k)
        allowed = self.known & ~self.catalog.placeholder
        scorer = _Candidates(self.continuation or self.model, allowed, songs)
        if grow:
            picks, scores = generate_playlist(scorer, context, k, temperature, seed,
                                              artist_codes(self.artists), max_per_artist)
            return [self.describe(i, s) for i, s in zip(picks, scores, strict=True)]
        ids, scores = sample_continuation(scorer, context, k, temperature, seed)
        return [self.describe(int(i), s) for i, s in zip(ids, scores, strict=True)]

    def _in_out_continuation(self, context: list[int], songs: Sequence[int],
                             k: int) -> list[dict]:
        cfg = self.model.config
        exclude = {self.catalog.song_ids[s] for s in songs}
        if cfg.scoring == "cosine":
            query = self.model.context_vectors([context])
            ids, scores = self.song_index.search(query, k, exclude=exclude)
        else:
            weights = context_matrix([context], self.model.n_items, cfg.context_decay,
                                     cfg.context_window)
            query = np.asarray(weights @ self.model.input_vectors, dtype=np.float32)
            ids, scores = self.next_index.search(query, k, exclude=exclude)
        return self._hits(ids[0], scores[0])

    def song_tags(self, song: int, top: int = 10) -> list[dict]:
        self._require_vector(song)
        return self.tags.profile(self.model.input_vectors[song], top)

    def by_tags(self, mix: dict[str, float], k: int = 10) -> list[dict]:
        """Songs nearest to a tag mix, e.g. {"rock": 0.7, "classical": 0.3}."""
        ids, scores = self.song_index.search(self.tags.mix(mix), k)
        return self._hits(ids[0], scores[0])

    def search_text(self, query: str, limit: int = 10) -> list[dict]:
        return [{**self.describe(i), "plays": int(self.plays[i])}
                for i in self.text.search(query, limit)]


class _Candidates(Recommender):
    """A model's scores limited to the songs `continue` may offer: songs with a vector, never
    a placeholder, never one the listener already gave."""

    name = "continuation"

    def __init__(self, model: Recommender, allowed: np.ndarray, given: Sequence[int]) -> None:
        self.model, self.n_items = model, len(allowed)
        self.blocked = ~allowed
        self.blocked[np.asarray(list(given), np.int64)] = True

    def fit(self, sentences, n_items):  # the wrapped model is fitted already
        return self

    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        scores = self.model.score(contexts)
        scores[:, self.blocked] = -np.inf
        return scores
