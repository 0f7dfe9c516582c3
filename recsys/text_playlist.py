"""A playlist from a description: "rainy Sunday morning acoustic", "90s gangsta rap".

The description is embedded with the encoder the songs were described with, then:

1. **relevance** of every song with a vector (learnt or estimated), as the sum of z-scores of
   three views: the song's *tags* (the description's affinity to each tag name, a softmax over
   the catalogue's tags, summed over the song's tags), the song's *sentence* (cosine with its
   title-artist-tags embedding: titles and artists count too) and the *mapped* view (the
   description mapped into song2vec's space by the text map, cosine with the song's vector);
2. **fit together**: from the most relevant candidates, the playlist starts with the best and
   grows greedily, each pick maximising its relevance plus ``coherence`` times the cosine of
   its song2vec vector with the mean of the songs picked so far (the collaborative space
   decides which of the relevant songs belong together), at most ``max_per_artist`` songs by
   one artist.

A song's score is its relevance plus ``coherence`` times its cosine with the mean of the
whole playlist: how well it fits the words and the other songs. The weights were set on
descriptions other than those judged in `bench/text_playlists.py` (see bench/README.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.interests import unit_rows
from recsys.next_song import artist_codes
from recsys.search import SongSearch
from recsys.song_text import SentenceEncoder, SongText


@dataclass(frozen=True)
class TextPlaylistConfig:
    """tag_temperature : softmax temperature over the tag names' cosines (lower: fewer tags).
    sentence_weight, mapped_weight : weights of the sentence and mapped views against the
        tags view (1).
    candidates : the most relevant songs the playlist is picked from.
    coherence : weight of the fit with the songs picked so far.
    max_per_artist : songs of one artist at most.
    """

    tag_temperature: float = 0.1
    sentence_weight: float = 1.0
    mapped_weight: float = 0.5
    candidates: int = 100
    coherence: float = 6.0
    max_per_artist: int = 2


def _zscore(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    chosen = values[rows]
    return (values - chosen.mean()) / max(float(chosen.std()), 1e-9)


class TextPlaylists:
    """Playlists from descriptions over a model's songs (a `SongSearch` with its estimated
    vectors) and their `SongText`."""

    def __init__(self, songs: SongSearch, song_text: SongText, encoder: SentenceEncoder,
                 config: TextPlaylistConfig | None = None) -> None:
        self.songs, self.song_text, self.encoder = songs, song_text, encoder
        self.config = config or TextPlaylistConfig()
        # Fast tokenizers refuse to be used from two threads at once (the API's pool).
        self._encoding = threading.Lock()
        self.rows = np.flatnonzero(songs.known & ~songs.catalog.placeholder)
        self.learnt = np.flatnonzero(songs.model.trained & ~songs.catalog.placeholder)
        index = {t: i for i, t in enumerate(song_text.tags)}
        song_rows, tag_cols = [], []
        for song, tags in enumerate(songs.catalog.songs["tags"].to_list()):
            for tag in tags:
                if tag in index:
                    song_rows.append(song)
                    tag_cols.append(index[tag])
        self.song_tags = sp.csr_matrix(
            (np.ones(len(song_rows), np.float32), (song_rows, tag_cols)),
            shape=(len(songs.catalog), len(song_text.tags)))  # (N, T) 0/1
        self.unit_vectors = unit_rows(songs.model.input_vectors)
        self.artists = artist_codes(songs.artists)

    def relevance(self, query: np.ndarray) -> np.ndarray:
        """(N,) how well each song fits a description's unit embedding (-inf: never a pick)."""
        cfg, text = self.config, self.song_text
        affinity = text.tag_embeddings @ query / cfg.tag_temperature
        weights = np.exp(affinity - affinity.max())
        by_tags = self.song_tags @ (weights / weights.sum())
        by_sentence = text.embeddings @ query
        mapped_in, _ = text.text_map.apply(query[None, :])
        by_map = _zscore(self.unit_vectors @ unit_rows(mapped_in)[0], self.learnt)
        # An estimated vector came from the song's own text: its mapped view would count the
        # text twice, so it stays neutral.
        by_map[self.songs.estimated] = 0.0
        score = (_zscore(by_tags, self.rows) + cfg.sentence_weight * _zscore(by_sentence,
                 self.rows) + cfg.mapped_weight * by_map)
        out = np.full(len(score), -np.inf)
        out[self.rows] = score[self.rows]
        return out

    def query(self, description: str) -> np.ndarray:
        """The description's unit embedding (D,)."""
        if not description.strip():
            raise ValueError("a playlist needs a description, e.g. '90s gangsta rap'")
        with self._encoding:
            pooled = self.encoder.pooled([description])
        return unit_rows(np.asarray(pooled, np.float32))[0]

    def playlist(self, description: str, k: int = 20) -> list[dict]:
        """k songs for a description, in playlist order, each with its score."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        relevance = self.relevance(self.query(description))
        cfg = self.config
        pool = max(cfg.candidates, 5 * k)
        candidates = np.argsort(-relevance, kind="stable")[:min(pool, len(self.rows))]
        picks, scores = self._grow(candidates, relevance, k)
        return [self.songs.describe(int(i), s) for i, s in zip(picks, scores, strict=True)]

    def _grow(self, candidates: np.ndarray, relevance: np.ndarray, k: int
              ) -> tuple[list[int], list[float]]:
        """Greedy picks from `candidates` (positions into it), then each pick's score:
        relevance plus coherence times its cosine with the mean of the whole playlist."""
        cfg = self.config
        vectors = self.unit_vectors[candidates]  # (C, V)
        artists = self.artists[candidates]
        open_ = np.ones(len(candidates), bool)
        total = np.zeros(vectors.shape[1], np.float32)
        picks: list[int] = []
        while len(picks) < k and open_.any():
            objective = relevance[candidates] + cfg.coherence * (vectors @ unit_rows(
                total[None, :])[0])
            objective[~open_] = -np.inf
            best = int(np.argmax(objective))
            picks.append(best)
            total += vectors[best]
            open_[best] = False
            if np.count_nonzero(artists[picks] == artists[best]) >= cfg.max_per_artist:
                open_ &= artists != artists[best]
        fit = vectors[picks] @ unit_rows(total[None, :])[0]
        scores = relevance[candidates[picks]] + cfg.coherence * fit
        return [int(candidates[p]) for p in picks], [float(s) for s in scores]
