"""A map from the text space (sentence embeddings of songs' metadata) into song2vec's space.

Ridge regression from a song's text embedding to its input vector, and another to its output
vector, fitted on the songs that have vectors. A song's artist is the other strong clue: when
the artist has songs with vectors, the estimate moves towards their mean. The ridge strength
and that pull are chosen on held-out songs (a seeded share of the songs with vectors, never
the test playlists), then the map is refitted on every song with a vector.

How close an estimate lands is measured on the held-out songs, against two baselines (the
mean vector; the artist's mean): the cosine with the song's true input vector, the rank of the
song itself among all songs when searching with the estimate (as a percentile; lower is
better), and the overlap of the estimate's input·output neighbours with the true ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.interests import unit_rows

# Grids searched on the held-out songs.
RIDGE_GRID = (0.1, 1.0, 10.0)
ARTIST_GRID = (0.0, 0.25, 0.5, 0.75)
NEIGHBOURS = 10
# Fewer songs with vectors leave too few to hold out and compare 10 neighbours among.
MIN_SONGS = 50


class TooFewSongsError(ValueError):
    """Too few songs with vectors to fit and validate the map."""


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1), x.dtype)])


def ridge(x: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Weights (D+1, V) of ridge regression x -> y with an unpenalised bias (the last row)."""
    xb = _with_bias(x.astype(np.float64))
    gram = xb.T @ xb
    penalty = np.full(xb.shape[1], strength)
    penalty[-1] = 0.0
    gram[np.diag_indices_from(gram)] += penalty
    return np.linalg.solve(gram, xb.T @ y.astype(np.float64)).astype(np.float32)


def artist_means(vectors: np.ndarray, artists: np.ndarray, members: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per catalogue row, the mean vector of the `members` songs by the same artist, and
    whether that artist has any member. `artists`: an integer code per row."""
    n_artists = int(artists.max()) + 1 if len(artists) else 0
    rows = np.flatnonzero(members)
    sums = np.zeros((n_artists, vectors.shape[1]), np.float64)
    np.add.at(sums, artists[rows], vectors[rows])
    counts = np.bincount(artists[rows], minlength=n_artists)
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return means[artists], counts[artists] > 0


@dataclass
class TextMap:
    """Fitted weights: text embedding -> input and output vectors (the last row is the bias),
    and how much an estimate leans towards its artist's mean."""

    inputs: np.ndarray  # (D+1, V)
    outputs: np.ndarray  # (D+1, V)
    ridge: float
    artist_weight: float
    validation: dict = field(default_factory=dict)

    def apply(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The text-only estimates (input vectors, output vectors) of (B, D) embeddings."""
        x = _with_bias(embeddings.astype(np.float32))
        return x @ self.inputs, x @ self.outputs

    def estimate(self, embeddings: np.ndarray, inputs: np.ndarray, outputs: np.ndarray,
                 trained: np.ndarray, artists: np.ndarray, rows: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Estimated (input, output) vectors of catalogue `rows`: the text map, pulled towards
        the mean of the artist's songs with vectors when there are some."""
        text_in, text_out = self.apply(embeddings[rows])
        if self.artist_weight == 0 or not len(rows):
            return text_in, text_out
        mean_in, has = artist_means(inputs, artists, trained)
        mean_out, _ = artist_means(outputs, artists, trained)
        w = np.where(has[rows], self.artist_weight, 0.0)[:, None].astype(np.float32)
        return (1 - w) * text_in + w * mean_in[rows], (1 - w) * text_out + w * mean_out[rows]


def _quality(estimates: np.ndarray, truth_rows: np.ndarray, inputs: np.ndarray,
             outputs: np.ndarray, pool: np.ndarray) -> dict:
    """How close estimated input vectors land to the true ones of `truth_rows`: cosine, the
    song's own rank among `truth_rows` + `pool` songs (percentile), the share ranked in the
    top 1%, and the overlap of top-10 input·output neighbours among `pool` songs."""
    searched = np.concatenate([truth_rows, pool])
    unit_est, unit_all = unit_rows(estimates), unit_rows(inputs[searched])
    scores = unit_est @ unit_all.T  # (H, H + P)
    own = scores[np.arange(len(truth_rows)), np.arange(len(truth_rows))]
    rank = (scores > own[:, None]).sum(axis=1) / len(searched)
    est_next = estimates @ outputs[pool].T
    true_next = inputs[truth_rows] @ outputs[pool].T
    found = np.argpartition(-est_next, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    wanted = np.argpartition(-true_next, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    overlap = np.mean([len(set(a) & set(b)) / NEIGHBOURS for a, b in zip(found, wanted,
                                                                          strict=True)])
    cosine = np.sum(unit_est * unit_rows(inputs[truth_rows]), axis=1)
    return {
        "cosine": round(float(np.mean(cosine)), 4),
        "median_rank": round(float(np.median(rank)), 4),
        "top_1pct": round(float(np.mean(rank < 0.01)), 4),
        f"neighbours@{NEIGHBOURS}": round(float(overlap), 4),
    }


def fit_text_map(embeddings: np.ndarray, inputs: np.ndarray, outputs: np.ndarray,
                 trained: np.ndarray, artists: np.ndarray, holdout: float = 0.1,
                 seed: int = 0) -> TextMap:
    """Fit the map on the songs with vectors (and a text), choosing the ridge strength and the
    artist pull on a seeded `holdout` share of them.

    Parameters
    ----------
    embeddings : (N, D) text embeddings per catalogue row (zero rows: no text).
    inputs, outputs : (N, V) song2vec input and output vectors.
    trained : bool (N,) songs with vectors.
    artists : int (N,) an artist code per row.
    holdout : share of the songs with vectors held out to choose the settings and report the
        map's quality (`TextMap.validation`).

    Returns
    -------
    TextMap
        Refitted on every song with a vector, with the held-out figures of the chosen setting
        and of the baselines in ``validation``.

    Raises
    ------
    TooFewSongsError
        With fewer than ``MIN_SONGS`` songs that have a vector and a text.
    """
    usable = np.flatnonzero(trained & (np.linalg.norm(embeddings, axis=1) > 0))
    if len(usable) < MIN_SONGS:
        raise TooFewSongsError(f"only {len(usable)} songs have both a vector and a text; the "
                               f"text map needs at least {MIN_SONGS}")
    shuffled = np.random.default_rng(seed).permutation(usable)
    n_held = max(1, round(holdout * len(usable)))
    held, kept = np.sort(shuffled[:n_held]), np.sort(shuffled[n_held:])
    fit_mask = np.zeros(len(trained), bool)
    fit_mask[kept] = True
    mean_in, has = artist_means(inputs, artists, fit_mask)
    best: tuple[float, float, float] | None = None  # (median rank, ridge, artist weight)
    for strength in RIDGE_GRID:
        weights = ridge(embeddings[kept], inputs[kept], strength)
        text = _with_bias(embeddings[held]) @ weights
        for pull in ARTIST_GRID:
            w = np.where(has[held], pull, 0.0)[:, None]
            quality = _quality((1 - w) * text + w * mean_in[held], held, inputs, outputs, kept)
            if best is None or quality["median_rank"] < best[0]:
                best = (quality["median_rank"], strength, pull)
    assert best is not None
    _, strength, pull = best
    held_map = TextMap(ridge(embeddings[kept], inputs[kept], strength),
                       ridge(embeddings[kept], outputs[kept], strength), strength, pull)
    validation = {
        "songs": len(usable), "held_out": len(held),
        "held_out_with_artist": round(float(has[held].mean()), 4),
        "methods": {
            "mean_vector": _quality(np.repeat(inputs[kept].mean(0, keepdims=True), len(held),
                                              axis=0), held, inputs, outputs, kept),
            "artist_mean": _quality(np.where(has[held, None], mean_in[held],
                                             inputs[kept].mean(0)), held, inputs, outputs, kept),
            "text_map": _quality(held_map.apply(embeddings[held])[0], held, inputs, outputs,
                                 kept),
            "text_map_and_artist": _quality(held_map.estimate(
                embeddings, inputs, outputs, fit_mask, artists, held)[0], held, inputs,
                outputs, kept),
        },
    }
    return TextMap(ridge(embeddings[usable], inputs[usable], strength),
                   ridge(embeddings[usable], outputs[usable], strength), strength, pull,
                   validation)
