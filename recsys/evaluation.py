"""Next-song evaluation on held-out playlists, the same code for every recommender.

For each held-out playlist and each position i >= 1 (or a seeded sample of positions), the model
sees the songs before i and ranks the whole catalogue minus those songs; the song at i is the
answer. Answers the model never saw in training (or that the catalogue lacks) count as misses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recsys.base import Recommender, mask_items, top_k

METRICS = ("hr@10", "hr@100", "ndcg@10", "mrr", "coverage@10")


@dataclass
class Cases:
    """Evaluation cases: contexts (known songs only) and the index of the answer (-1 unknown)."""

    contexts: list[np.ndarray]
    targets: np.ndarray
    playlists: int

    def __len__(self) -> int:
        return len(self.targets)


def make_cases(
    playlists: Sequence[np.ndarray], max_positions: int | None = None, seed: int = 0
) -> Cases:
    """One case per position i >= 1 of every playlist with at least two songs; with
    max_positions, a seeded sample of that many positions per playlist."""
    rng = np.random.default_rng(seed)
    contexts, targets, used = [], [], 0
    for songs in playlists:
        if len(songs) < 2:
            continue
        used += 1
        positions = np.arange(1, len(songs))
        if max_positions is not None and len(positions) > max_positions:
            positions = np.sort(rng.choice(positions, max_positions, replace=False))
        for i in positions:
            before = songs[:i]
            contexts.append(before[before >= 0])
            targets.append(songs[i])
    return Cases(contexts, np.asarray(targets, dtype=np.int64), used)


def rank_targets(
    model: Recommender, cases: Cases, batch_size: int = 1024, k_coverage: int = 10,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank of each answer among the songs the context does not hold (inf when it is
    a miss by construction), and the set of songs that appeared in some top-k.
    ``on_batch(done, total)`` is told the cases ranked so far after each batch."""
    ranks = np.full(len(cases), np.inf)
    shown = np.zeros(model.n_items, bool)
    for start in range(0, len(cases), batch_size):
        stop = min(start + batch_size, len(cases))
        contexts = cases.contexts[start:stop]
        targets = cases.targets[start:stop]
        scores = mask_items(model.score(contexts), contexts)
        top, top_scores = top_k(scores, k_coverage)
        shown[top[np.isfinite(top_scores)]] = True
        known = targets >= 0
        target_scores = np.full(len(targets), -np.inf, np.float32)
        target_scores[known] = scores[np.flatnonzero(known), targets[known]]
        better = (scores > target_scores[:, None]).sum(axis=1)
        # Ties go against the answer: a model cannot win by scoring everything the same.
        ties = (scores == target_scores[:, None]).sum(axis=1) - 1
        batch_ranks = 1.0 + better + np.maximum(ties, 0)
        batch_ranks[~np.isfinite(target_scores)] = np.inf
        ranks[start:stop] = batch_ranks
        if on_batch is not None:
            on_batch(stop, len(cases))
    return ranks, shown


def metrics_from_ranks(ranks: np.ndarray, shown: np.ndarray) -> dict[str, float]:
    hit10 = ranks <= 10
    ndcg = np.where(hit10, 1.0 / np.log2(np.minimum(ranks, 1e9) + 1.0), 0.0)
    return {
        "hr@10": float(hit10.mean()),
        "hr@100": float((ranks <= 100).mean()),
        "ndcg@10": float(ndcg.mean()),
        "mrr": float(np.where(np.isfinite(ranks), 1.0 / ranks, 0.0).mean()),
        "coverage@10": float(shown.mean()),
    }


def evaluate_model(model: Recommender, cases: Cases,
                   on_batch: Callable[[int, int], None] | None = None) -> dict[str, float]:
    started = time.perf_counter()
    ranks, shown = rank_targets(model, cases, on_batch=on_batch)
    result = metrics_from_ranks(ranks, shown)
    result["eval_seconds"] = round(time.perf_counter() - started, 3)
    return result


def evaluate_models(
    models: Sequence[Recommender],
    train: Sequence[np.ndarray],
    cases: Cases,
    n_items: int,
    fitted: Sequence[str] = (),
    on_model: Callable[[str, str], None] | None = None,
    on_cases: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Fit (unless named in `fitted`) and evaluate every model on the same cases.

    ``on_model(name, stage)`` is told "fitting" / "evaluating" as each model starts them;
    ``on_cases(name, done, total)`` the cases evaluated so far, batch by batch.

    Returns the JSON object of `songspace evaluate --json`:
    {"cases": N, "playlists": P, "unknown_targets": U, "models": {name: {metric: value}}}.
    """
    results: dict[str, dict[str, float]] = {}
    for model in models:
        fit_seconds = 0.0
        if model.name not in fitted:
            if on_model:
                on_model(model.name, "fitting")
            started = time.perf_counter()
            model.fit(train, n_items)
            fit_seconds = time.perf_counter() - started
        if on_model:
            on_model(model.name, "evaluating")
        on_batch = None if on_cases is None else (
            lambda done, total, name=model.name: on_cases(name, done, total))
        results[model.name] = evaluate_model(model, cases, on_batch=on_batch)
        results[model.name]["fit_seconds"] = round(fit_seconds, 3)
    return {
        "cases": len(cases),
        "playlists": cases.playlists,
        "unknown_targets": int((cases.targets < 0).sum()),
        "models": results,
    }
