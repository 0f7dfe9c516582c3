"""Creativity on top of any recommender's scores: sample the continuation at a temperature
instead of taking the top-k (as a language model samples its next word), and grow a whole
playlist from seed songs, one pick at a time.

Temperature 0 is exactly the top-k; sampling is seeded and reproducible.
"""

from __future__ import annotations

import numpy as np

from recsys.base import Context, Recommender, mask_items, top_k


def sample_top(
    scores: np.ndarray, k: int, temperature: float = 0.0, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """k distinct items drawn from softmax(scores / temperature), in draw order, and their
    scores. scores: (n_items,) with -inf for items that must not be drawn.

    Temperature 0 returns `top_k` (best first). Otherwise the Gumbel-top-k trick draws k items
    without replacement with exactly the sequential softmax probabilities, in one vectorised
    step; the same seed gives the same draw.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    finite = np.isfinite(scores)
    k = min(k, int(finite.sum()))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if temperature == 0:
        ids, values = top_k(scores[None, :], k)
        return ids[0].astype(np.int64), values[0].astype(np.float32)
    rng = np.random.default_rng(seed)
    # Scores differ in scale between models; dividing by their spread makes a temperature
    # mean the same thing for any model (1 = the spread of the candidates' scores).
    spread = float(np.std(scores[finite])) or 1.0
    keys = np.where(finite, scores / (spread * temperature), -np.inf)
    keys = keys + rng.gumbel(size=len(scores))
    ids, _ = top_k(keys[None, :], k)
    ids = ids[0].astype(np.int64)
    return ids, scores[ids].astype(np.float32)


def generate_playlist(
    model: Recommender,
    seeds: Context,
    n: int,
    temperature: float = 0.0,
    seed: int | None = 0,
    artists: np.ndarray | None = None,
    max_per_artist: int | None = None,
    pool: int = 200,
) -> tuple[list[int], list[float]]:
    """Grow a playlist of n new songs after `seeds`: each pick is drawn (at `temperature`) from
    the model's scores for the playlist so far and becomes context for the next one. No song
    repeats (seeds included), and with `artists` (artist index per item) and `max_per_artist`,
    no artist appears more than that many times in the whole playlist (seeds included).
    Draws are limited to the `pool` best songs at each step so a high temperature stays within
    plausible songs. Returns the new songs' indices (fewer than n if the model runs out) and
    the score each had when it was drawn."""
    rng = np.random.default_rng(seed)
    playlist = [int(i) for i in seeds]
    picks: list[int] = []
    picked_scores: list[float] = []
    counts: dict[int, int] = {}
    if artists is not None:
        for i in playlist:
            counts[int(artists[i])] = counts.get(int(artists[i]), 0) + 1
    for _ in range(n):
        scores = mask_items(model.score([playlist]), [playlist])[0]
        if artists is not None and max_per_artist is not None:
            full = [a for a, c in counts.items() if c >= max_per_artist]
            if full:
                scores[np.isin(artists, full)] = -np.inf
        scores = best_of(scores, pool)
        step_seed = int(rng.integers(2**63 - 1))
        ids, values = sample_top(scores, 1, temperature, step_seed)
        if not len(ids):
            break
        pick = int(ids[0])
        picks.append(pick)
        picked_scores.append(float(values[0]))
        playlist.append(pick)
        if artists is not None:
            counts[int(artists[pick])] = counts.get(int(artists[pick]), 0) + 1
    return picks, picked_scores


def continue_playlist(
    model: Recommender, context: Context, k: int = 10, temperature: float = 0.0,
    seed: int | None = 0, pool: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """The next k songs for a context: top-k at temperature 0, else a seeded sample from the
    `pool` best songs (what `songspace continue --temperature T --seed N` calls)."""
    scores = mask_items(model.score([context]), [context])[0]
    return sample_top(best_of(scores, max(pool, k)), k, temperature, seed)


def best_of(scores: np.ndarray, pool: int) -> np.ndarray:
    """The scores with all but the `pool` best set to -inf (0 keeps them all), so a high
    temperature still draws among plausible songs."""
    if not pool or np.isfinite(scores).sum() <= pool:
        return scores
    keep, _ = top_k(scores[None, :], pool)
    limited = np.full_like(scores, -np.inf)
    limited[keep[0]] = scores[keep[0]]
    return limited

