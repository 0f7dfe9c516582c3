""""More like this": one scoring of similar songs for every place that asks (`songspace
similar`, a mix of one song, the API, the web page).

A song's neighbours are scored by three kinds of evidence, each standardised over the songs
that can be recommended, then added with weights:

- **in·out**: the song's song2vec input vector against the output vectors (what playlists play
  next to it);
- **co-listening**: EASE's item-item weights learnt from the training playlists
  (`recsys.colisten`), both directions (what predicts it and what it predicts);
- **tags**: cosine of the songs' Last.fm tags weighted by inverse document frequency
  (radio-station tags left out), which is what makes "more like Hotel California" stay in its
  genre when playlists mix genres.

The weights were chosen on half of the yes_big songs with a genre family (the other half and
co-membership in the validation playlists reported, `bench/README.md`): collaborative evidence
alone followed the radio's mixes (65% of neighbours in the query's genre family, ALS 72%);
the blend keeps co-membership above both and brings genre agreement to about 75%.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import sparse

from foundation.settings import Settings
from recsys.base import top_k
from recsys.colisten import CoListening
from recsys.tags import is_station_tag


@dataclass
class SimilarConfig(Settings):
    """Weights of each kind of evidence (0 leaves one out)."""

    kind: ClassVar[str] = "similar songs"

    in_out_weight: float = 1.0
    colisten_weight: float = 1.0
    tag_weight: float = 1.5

    def __post_init__(self) -> None:
        self._require({"in_out_weight": self.in_out_weight >= 0,
                       "colisten_weight": self.colisten_weight >= 0,
                       "tag_weight": self.tag_weight >= 0})


def tag_matrix(song_tags: Sequence[Sequence[str]]) -> sparse.csr_matrix:
    """Unit rows of idf-weighted tags (radio-station tags left out); zero rows for songs
    without tags."""
    tags = [sorted({t for t in s if not is_station_tag(t)}) for s in song_tags]
    frequency = Counter(t for s in tags for t in s)
    vocabulary = {t: j for j, t in enumerate(sorted(frequency))}
    n = len(tags)
    rows = np.repeat(np.arange(n), [len(s) for s in tags])
    cols = np.asarray([vocabulary[t] for s in tags for t in s], np.int64)
    idf = np.log(n / np.asarray([frequency[t] for s in tags for t in s], np.float64))
    matrix = sparse.csr_matrix((idf.astype(np.float32), (rows, cols)),
                               shape=(n, len(vocabulary)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sparse.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32)) @ matrix).tocsr()


class SimilarSongs:
    """Scores of every song as a neighbour of one song.

    Parameters
    ----------
    input_vectors, output_vectors : float32 (n_items, d)
        song2vec's vectors.
    colisten : CoListening, optional
        Learnt from the training playlists; without it, that evidence is left out.
    song_tags : the catalogue's tags per song.
    servable : bool (n_items,)
        Songs that may be answered (a vector, not a placeholder).
    """

    def __init__(self, input_vectors: np.ndarray, output_vectors: np.ndarray,
                 colisten: CoListening | None, song_tags: Sequence[Sequence[str]],
                 servable: np.ndarray, config: SimilarConfig | None = None) -> None:
        self.input_vectors, self.output_vectors = input_vectors, output_vectors
        self.colisten = colisten
        self.incoming = colisten.weights.tocsc() if colisten is not None else None
        self.tags = tag_matrix(song_tags)
        self.tags_t = self.tags.T.tocsr()
        self.servable = servable
        self.config = config or SimilarConfig()

    def evidence(self, vector: np.ndarray, song: int | None = None) -> dict[str, np.ndarray]:
        """Each kind of evidence for a query: a song, or an estimated vector (`song` None:
        in·out only, as nothing else knows an unplayed song)."""
        found = {"in_out": self.output_vectors @ vector}
        if song is None:
            return found
        # Straight from the sparse arrays: scipy's row and column indexing took a quarter of
        # a query, and `evaluate --similar` asks about every song.
        n = len(self.servable)
        if self.colisten is not None:
            both = _dense_line(self.colisten.weights, song, n)
            both += _dense_line(self.incoming, song, n)
            found["colisten"] = both
        if self.tags[song].nnz:
            found["tags"] = np.asarray((self.tags[song] @ self.tags_t).todense(),
                                       np.float32).ravel()
        return found

    def scores(self, song: int | None = None, vector: np.ndarray | None = None) -> np.ndarray:
        """float32 (n_items,): the blend for a song (or a vector standing for one); -inf for
        songs that may not be answered, and for the song itself."""
        if vector is None:
            if song is None:
                raise ValueError("give a song or a vector")
            vector = self.input_vectors[song]
        weights = {"in_out": self.config.in_out_weight,
                   "colisten": self.config.colisten_weight, "tags": self.config.tag_weight}
        total = np.zeros(len(self.servable), np.float64)
        for name, values in self.evidence(vector, song).items():
            if weights[name]:
                total += weights[name] * _standardised(values, self.servable)
        total[~self.servable] = -np.inf
        if song is not None:
            total[song] = -np.inf
        return total.astype(np.float32)

    def top(self, song: int, k: int, exclude: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """The k songs most like `song` (fewer when fewer may be answered) and their scores,
        best first; `exclude` (catalogue rows) are left out too."""
        scores = self.scores(song)
        if exclude is not None:
            scores[exclude] = -np.inf
        best = top_k(scores[None, :], k)[0][0]
        best = best[np.isfinite(scores[best])]
        return best, scores[best]


def _dense_line(matrix: sparse.csr_matrix | sparse.csc_matrix, i: int, n: int) -> np.ndarray:
    """Row `i` of a CSR matrix (column `i` of a CSC one) as a dense float32 array of `n`."""
    out = np.zeros(n, np.float32)
    start, end = matrix.indptr[i], matrix.indptr[i + 1]
    out[matrix.indices[start:end]] = matrix.data[start:end]
    return out


def _standardised(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    sub = values[among].astype(np.float64)
    spread = sub.std()
    if spread < 1e-12:
        return np.zeros(len(values))
    return (values - sub.mean()) / spread
