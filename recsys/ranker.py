"""The two-stage next-song ranker ("songspace"): candidate generators, then LightGBM's
lambdarank over features of each (candidate, context) pair.

Stage 1: each generator (song2vec in·out, session kNN, VSTAN, co-occurrence, optionally the
transformer) proposes its top `per_generator` songs; their union, minus the context, is the
candidate set (a few hundred per case).
Stage 2: a learned ranker orders the candidates from features: each generator's score, rank
and gap to its best score, popularity, song2vec similarity of the candidate to the last song
and to the whole context, transition counts between the last songs and the candidate in both
directions, artist repeats, position in the playlist, and how many generators proposed it.

Honest training: `fit` receives the training playlists only. They are split (seeded, whole
playlists) into a generator fold and a held-out fold; generators are fitted on the first, and the
ranker learns from next-song cases of the held-out fold (with an inner split of it for early
stopping), so its features look like those of playlists the generators never saw. Then, with
`refit`, the generators are refitted on all the training playlists for serving (or taken from
`fitted`, models already trained on exactly those playlists, e.g. the artifact's song2vec).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
from scipy import sparse

from foundation.progress import duration
from recsys.base import Context, Recommender, mask_items, top_k
from recsys.evaluation import Cases, make_cases

logger = logging.getLogger(__name__)

# A factory gets the generators fitted so far (the transformer needs song2vec's vectors) and
# returns an unfitted model; the ranker fits it on the fold it is building.
GeneratorFactory = Callable[[Mapping[str, Recommender]], Recommender]


def lightgbm():
    """The LightGBM module, imported without its scikit-learn integration (songspace trains and
    predicts with the Booster API alone): LightGBM imports scikit-learn whenever it is
    installed (the audio extra brings it), which cost 1.3 s of every process that loads the
    ranker (`continue`, `serve`, `evaluate`), three times LightGBM's own import.
    scikit-learn stays importable for anyone else."""
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        import lightgbm as module

        return module
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # import sklearn: ImportError
    try:
        import lightgbm as module
    finally:
        del sys.modules["sklearn"]
    return module


@dataclass
class RankerConfig:
    """Settings of the two-stage ranker.

    per_generator : candidates each generator proposes.
    rank_cap : ranks beyond it are reported as rank_cap (and the rank feature saturates).
    holdout : with folds=1, the fraction of the training playlists whose cases train the ranker.
    folds : >1 cross-fits: each of `folds` parts gives cases from generators fitted on the rest.
    max_positions : cases per held-out playlist (a seeded sample of positions).
    max_cases : at most this many training cases in all (a seeded sample; the early-stopping
        cases in proportion), which bounds the fit's time on large data (None = all).
    inner_valid : fraction of the held-out playlists used for early stopping.
    rounds, learning_rate, num_leaves, min_data_in_leaf, feature_fraction, early_stopping,
    truncation : LightGBM lambdarank settings.
    refit : refit the generators on all training playlists once the ranker has learned.
    threads, seed : of LightGBM and the fold split.
    """

    per_generator: int = 100
    rank_cap: int = 500
    holdout: float = 0.2
    folds: int = 1
    max_positions: int | None = None
    max_cases: int | None = None
    inner_valid: float = 0.15
    rounds: int = 600
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    early_stopping: int = 50
    truncation: int = 30
    refit: bool = True
    threads: int = 2
    seed: int = 0


@dataclass
class TrainingLog:
    """What the ranker learned from: per fold, the playlist indices (into fit's sentences)
    its generators were fitted on and those its cases came from; the case counts, the chosen
    iteration and validation NDCG, and timings."""

    folds: list[dict[str, list[int]]] = field(default_factory=list)
    cases: int = 0
    cases_with_answer: int = 0
    rows: int = 0
    best_iteration: int = 0
    inner_ndcg10: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)


class Transitions:
    """Counts of song b played right after a (1 step) and two steps after, from playlists."""

    def __init__(self, sentences: Sequence[np.ndarray], n_items: int) -> None:
        self.next1 = _pairs_matrix(sentences, n_items, 1)
        self.next2 = _pairs_matrix(sentences, n_items, 2)


def _pairs_matrix(sentences: Sequence[np.ndarray], n_items: int, step: int) -> sparse.csr_matrix:
    rows, cols = [], []
    for s in sentences:
        s = s[s >= 0]
        if len(s) > step:
            rows.append(s[:-step])
            cols.append(s[step:])
    if not rows:
        return sparse.csr_matrix((n_items, n_items), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_items, n_items))


def _lookup(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for paired index arrays (0 where rows < 0)."""
    ok = rows >= 0
    out = np.zeros(len(rows), np.float32)
    if ok.any():
        out[ok] = np.asarray(matrix[rows[ok], cols[ok]]).ravel()
    return out


class TwoStageRanker(Recommender):
    """Candidates from several generators, ordered by LightGBM lambdarank.

    generators : name -> factory; must include "song2vec" (its vectors give the similarity
        features). See `default_generators`.
    artists : artist index per catalogue row (for the artist features); None = no artists.
    fitted : generators already fitted on exactly the playlists `fit` will get, used for
        serving instead of refitting them (e.g. the artifact's song2vec).
    fold_fitted : per fold, generators already fitted on that fold's generator playlists in an
        earlier fit with the same seed, holdout and folds (`ranker.fold_generators`), so that
        tuning the ranker's own settings does not retrain song2vec each time.
    """

    name = "songspace"

    def __init__(
        self,
        generators: Mapping[str, GeneratorFactory],
        config: RankerConfig | None = None,
        artists: np.ndarray | None = None,
        fitted: Mapping[str, Recommender] | None = None,
        fold_fitted: Sequence[Mapping[str, Recommender]] = (),
    ) -> None:
        if "song2vec" not in generators:
            raise ValueError("the ranker needs a 'song2vec' generator")
        self.factories = dict(generators)
        self.config = config or RankerConfig()
        self.artists = None if artists is None else np.asarray(artists, np.int64)
        self.fitted = dict(fitted or {})
        self.fold_fitted = list(fold_fitted)
        self.fold_generators: list[dict[str, Recommender]] = []
        self.generators: dict[str, Recommender] = {}
        self.booster = None
        self.feature_names: list[str] = []
        self.log = TrainingLog()

    # -- generators ---------------------------------------------------------------------------
    def _fit_generators(self, sentences: Sequence[np.ndarray], n_items: int,
                        reuse: Mapping[str, Recommender]) -> dict[str, Recommender]:
        models: dict[str, Recommender] = {}
        for name, factory in self.factories.items():
            started = time.perf_counter()
            if name in reuse:
                models[name] = reuse[name]
            else:
                models[name] = factory(models).fit(sentences, n_items)
            self.log.seconds[f"fit_{name}"] = round(
                self.log.seconds.get(f"fit_{name}", 0) + time.perf_counter() - started, 2)
        return models

    def _set_generators(self, models: dict[str, Recommender], sentences: Sequence[np.ndarray],
                        n_items: int) -> None:
        self.generators = models
        self.n_items = n_items
        counts = np.bincount(
            np.concatenate([s[s >= 0] for s in sentences]) if sentences else np.zeros(0, int),
            minlength=n_items,
        )
        self.log_pop = np.log1p(counts).astype(np.float32)
        self.transitions = Transitions(sentences, n_items)
        self.next1_t = self.transitions.next1.T.tocsr()
        s2v = models["song2vec"]
        vectors = s2v.input_vectors
        self.unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.unit = self.unit.astype(np.float32)
        self.out_vectors = s2v.output_vectors.astype(np.float32)
        self.input_vectors = vectors.astype(np.float32)

    # -- features -------------------------------------------------------------------------------
    def candidates(self, contexts: Sequence[Context]) -> tuple[np.ndarray, np.ndarray, dict]:
        """Candidate pairs (row, item) and every generator's full score matrix."""
        cfg = self.config
        scores = {name: model.score(contexts) for name, model in self.generators.items()}
        chosen = np.zeros((len(contexts), self.n_items), bool)
        for matrix in scores.values():
            masked = mask_items(matrix.copy(), contexts)
            ids, values = top_k(masked, cfg.per_generator)
            rows = np.repeat(np.arange(len(contexts)), ids.shape[1])
            ok = np.isfinite(values.ravel())
            chosen[rows[ok], ids.ravel()[ok]] = True
        mask_items_bool(chosen, contexts)
        rows, items = np.nonzero(chosen)
        return rows, items, scores

    def features(self, contexts: Sequence[Context], rows: np.ndarray, items: np.ndarray,
                 scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        cfg = self.config
        b = len(contexts)
        cols: dict[str, np.ndarray] = {}
        proposed = np.zeros(len(rows), np.float32)
        for name, matrix in scores.items():
            masked = mask_items(matrix.copy(), contexts)
            ids, _ = top_k(masked, cfg.rank_cap)
            rank = np.full((b, self.n_items), cfg.rank_cap, np.float32)
            np.put_along_axis(rank, ids, np.arange(ids.shape[1], dtype=np.float32)[None], 1)
            best = masked.max(axis=1)
            value = matrix[rows, items]
            value = np.where(np.isfinite(value), value, np.nan).astype(np.float32)
            cols[f"{name}_score"] = value
            cols[f"{name}_rank"] = rank[rows, items]
            cols[f"{name}_gap"] = (best[rows] - value).astype(np.float32)
            proposed += cols[f"{name}_rank"] < cfg.per_generator
        last = np.array([c[-1] if len(c) else -1 for c in contexts], np.int64)
        prev = np.array([c[-2] if len(c) > 1 else -1 for c in contexts], np.int64)
        lengths = np.array([len(c) for c in contexts], np.float32)
        # Mean of the context's unit vectors: the "whole playlist" direction.
        ctx_rows = np.repeat(np.arange(b), [len(c) for c in contexts])
        ctx_items = np.concatenate([np.asarray(c, np.int64) for c in contexts]) if b else []
        ctx = sparse.csr_matrix(
            (np.ones(len(ctx_rows), np.float32), (ctx_rows, ctx_items)), shape=(b, self.n_items)
        )
        mean_ctx = np.asarray(ctx @ self.unit) / np.maximum(lengths, 1)[:, None]
        recent = np.stack([_recent_mean(c, self.unit, 5) for c in contexts]) if b else mean_ctx
        cand_unit = self.unit[items]
        last_r = last[rows]
        safe_last = np.maximum(last_r, 0)
        cols["cos_last"] = np.where(last_r >= 0, (cand_unit * self.unit[safe_last]).sum(1), 0)
        cols["cos_context"] = (cand_unit * mean_ctx[rows]).sum(1)
        cols["cos_recent5"] = (cand_unit * recent[rows]).sum(1)
        cols["inout_last"] = np.where(
            last_r >= 0, (self.input_vectors[safe_last] * self.out_vectors[items]).sum(1), 0)
        cols["next_after_last"] = _lookup(self.transitions.next1, last_r, items)
        cols["before_last"] = _lookup(self.next1_t, last_r, items)
        cols["two_after_prev"] = _lookup(self.transitions.next1, prev[rows], items)
        cols["two_after_last"] = _lookup(self.transitions.next2, last_r, items)
        cols["popularity"] = self.log_pop[items]
        cols["position"] = lengths[rows]
        cols["proposed_by"] = proposed
        if self.artists is not None:
            artist = self.artists[items]
            n_artists = int(self.artists.max()) + 1
            per_artist = sparse.csr_matrix(
                (np.ones(len(ctx_rows), np.float32), (ctx_rows, self.artists[ctx_items])),
                shape=(b, n_artists),
            )
            cols["artist_in_context"] = _lookup(per_artist, rows, artist)
            cols["artist_share"] = cols["artist_in_context"] / np.maximum(lengths[rows], 1)
            cols["same_artist_last"] = np.where(
                last_r >= 0, self.artists[safe_last] == artist, False).astype(np.float32)
            # Radio programmes space an artist's songs out: how long ago was it last heard?
            seen = _artist_recency(contexts, self.artists, n_artists)
            back = _lookup(seen, rows, artist)
            cols["artist_steps_back"] = np.where(back > 0, lengths[rows] + 1 - back, np.nan)
        names = list(cols)
        matrix = np.column_stack([np.asarray(cols[n], np.float32) for n in names])
        return matrix, names

    # -- training -------------------------------------------------------------------------------
    def fit(self, sentences: Sequence[np.ndarray], n_items: int, *,
            on_stage: Callable[[str], None] | None = None) -> Self:
        """Cross-fit the generators fold by fold, collect the training rows, train LightGBM.

        ``on_stage`` is told what the fit does now: each fold with done/total, the time a fold
        takes and an ETA for the rest of the folds (they are most of the fit), then LightGBM.
        """
        lgb = lightgbm()
        tell = on_stage or (lambda _: None)
        cfg = self.config
        self.log = TrainingLog()
        rng = np.random.default_rng(cfg.seed)
        folds = self._folds(sentences, rng)
        # Inner split of the case playlists: early stopping sees playlists LightGBM did not.
        held_all = np.concatenate([held for _, held in folds])
        n_inner = max(1, round(len(held_all) * cfg.inner_valid))
        inner = set(rng.choice(held_all, size=min(n_inner, len(held_all)), replace=False))
        parts: dict[str, list] = {"train": [], "valid": []}
        self.fold_generators = []
        folds_started = time.perf_counter()
        for number, (gen_idx, held) in enumerate(folds):
            tell(self._fold_stage(number, len(folds), time.perf_counter() - folds_started))
            self.log.folds.append({"generator_playlists": gen_idx,
                                   "case_playlists": held.tolist()})
            fold = [sentences[i] for i in gen_idx]
            started = time.perf_counter()
            reuse = self.fold_fitted[number] if number < len(self.fold_fitted) else {}
            self.fold_generators.append(self._fit_generators(fold, n_items, reuse))
            self._set_generators(self.fold_generators[-1], fold, n_items)
            self.log.seconds["generators_folds"] = round(
                self.log.seconds.get("generators_folds", 0) + time.perf_counter() - started, 2)
            started = time.perf_counter()
            for part in ("train", "valid"):
                idx = [i for i in held if (i in inner) == (part == "valid")]
                cases = make_cases([sentences[i] for i in idx], cfg.max_positions,
                                   seed=cfg.seed + number)
                if cfg.max_cases is not None:
                    share = cfg.inner_valid / (1 - cfg.inner_valid) if part == "valid" else 1.0
                    cases = _sample_cases(cases, max(1, round(cfg.max_cases * share / len(folds))),
                                          rng)
                x, y, groups = self._training_rows(cases)
                parts[part].append((x, y, groups))
                self.log.cases += len(cases)
                self.log.cases_with_answer += len(groups)
                self.log.rows += len(y)
            self.log.seconds["features"] = round(
                self.log.seconds.get("features", 0) + time.perf_counter() - started, 2)
        data = {part: tuple(np.concatenate([chunk[j] for chunk in chunks]) for j in range(3))
                for part, chunks in parts.items()}

        params = {
            "objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
            "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_data_in_leaf, "feature_fraction": cfg.feature_fraction,
            "lambdarank_truncation_level": cfg.truncation, "num_threads": cfg.threads,
            "seed": cfg.seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }
        train_set = lgb.Dataset(data["train"][0], data["train"][1], group=data["train"][2],
                                feature_name=self.feature_names, free_raw_data=True)
        valid_set = lgb.Dataset(data["valid"][0], data["valid"][1], group=data["valid"][2],
                                reference=train_set)
        tell(f"fitting the ranker: LightGBM on {len(data['train'][1]):,} rows (the "
             f"{len(folds)} folds took {duration(time.perf_counter() - folds_started)})")
        started = time.perf_counter()
        self.booster = lgb.train(
            params, train_set, num_boost_round=cfg.rounds, valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(cfg.early_stopping, verbose=False)],
        )
        self.log.best_iteration = int(self.booster.best_iteration or cfg.rounds)
        self.log.inner_ndcg10 = float(self.booster.best_score["valid_0"]["ndcg@10"])
        self.log.seconds["lightgbm"] = round(time.perf_counter() - started, 2)

        if cfg.refit:
            tell("fitting the ranker: its generators on all the playlists")
            started = time.perf_counter()
            models = self._fit_generators(sentences, n_items, self.fitted)
            self._set_generators(models, sentences, n_items)
            self.log.seconds["generators_refit"] = round(time.perf_counter() - started, 2)
        return self

    @staticmethod
    def _fold_stage(done: int, total: int, elapsed: float) -> str:
        """'fitting the ranker: fold 2/3, 0:00:16 a fold, ETA 0:00:32 for the folds'."""
        text = f"fitting the ranker: fold {done + 1}/{total}"
        if done:
            each = elapsed / done
            left = duration(each * (total - done))
            text += f", {duration(each)} a fold, ETA {left} for the folds"
        return text

    def _folds(self, sentences: Sequence[np.ndarray],
               rng: np.random.Generator) -> list[tuple[list[int], np.ndarray]]:
        """(generator playlists, case playlists) per fold. One fold: a `holdout` share of the
        playlists gives the cases. K folds (cross-fitting): every playlist gives cases once,
        from generators fitted on the other K-1 folds."""
        cfg = self.config
        usable = np.array([i for i, s in enumerate(sentences) if int((s >= 0).sum()) >= 2])
        if cfg.folds <= 1:
            n_hold = min(max(2, round(len(usable) * cfg.holdout)), len(usable))
            helds = [np.sort(rng.choice(usable, size=n_hold, replace=False))]
        else:
            helds = [np.sort(part) for part in np.array_split(rng.permutation(usable),
                                                               cfg.folds)]
        folds = []
        for held in helds:
            held_set = set(held.tolist())
            folds.append(([i for i in range(len(sentences)) if i not in held_set], held))
        return folds

    def _training_rows(self, cases, batch_size: int = 1024):
        xs, ys, groups = [], [], []
        for start in range(0, len(cases), batch_size):
            contexts = cases.contexts[start:start + batch_size]
            targets = cases.targets[start:start + batch_size]
            rows, items, scores = self.candidates(contexts)
            x, self.feature_names = self.features(contexts, rows, items, scores)
            y = (items == targets[rows]).astype(np.float32)
            # Only cases whose answer is among the candidates teach the ranker anything.
            has = np.bincount(rows, weights=y, minlength=len(contexts)) > 0
            keep = has[rows]
            xs.append(x[keep])
            ys.append(y[keep])
            counts = np.bincount(rows[keep], minlength=len(contexts))
            groups.append(counts[counts > 0])
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)

    # -- scoring --------------------------------------------------------------------------------
    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        b = len(contexts)
        rows, items, scores = self.candidates(contexts)
        # Songs outside the candidates rank below them all, in song2vec's order, so HR@100
        # and the tail stay meaningful; unknown songs stay -inf.
        base = scores["song2vec"]
        out = np.full((b, self.n_items), -np.inf, np.float32)
        finite = np.isfinite(base)
        order = np.argsort(np.argsort(np.where(finite, base, -np.inf), axis=1), axis=1)
        out[finite] = (order[finite] / self.n_items - 2.0).astype(np.float32)  # in [-2, -1)
        if len(rows):
            x, _ = self.features(contexts, rows, items, scores)
            pred = self.booster.predict(x, num_threads=self.config.threads,
                                        num_iteration=self.log.best_iteration)
            # Shift each row's ranker scores to >= 0, above every non-candidate.
            low = np.full(b, np.inf)
            np.minimum.at(low, rows, pred)
            out[rows, items] = (pred - low[rows]).astype(np.float32)
        return out

    def importances(self, kind: str = "gain") -> dict[str, float]:
        """Share of the total gain (or split count) of each feature, largest first."""
        values = self.booster.feature_importance(importance_type=kind).astype(float)
        total = values.sum() or 1.0
        pairs = sorted(zip(self.feature_names, values / total, strict=True), key=lambda p: -p[1])
        return {name: round(float(v), 4) for name, v in pairs}

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[str]:
        """The booster and the ranker's settings; the generators are saved by their owners
        (song2vec in the artifact, the transformer by SequenceModel.save)."""
        folder = Path(folder)
        self.booster.save_model(str(folder / "ranker.txt"),
                                num_iteration=self.log.best_iteration)
        meta = {"config": asdict(self.config), "feature_names": self.feature_names,
                "generators": list(self.factories), "log": {
                    k: v for k, v in asdict(self.log).items()
                    if k != "folds"}}
        (folder / "ranker.json").write_text(json.dumps(meta, indent=2) + "\n")
        return ["ranker.txt", "ranker.json"]

    @classmethod
    def load(cls, folder: str | Path, generators: Mapping[str, Recommender],
             sentences: Sequence[np.ndarray], n_items: int,
             artists: np.ndarray | None = None) -> TwoStageRanker:
        """A ranker ready to score: the booster from `folder`, fitted generators (by the same
        names as when it was trained) and the training playlists for the count features."""
        lgb = lightgbm()

        folder = Path(folder)
        meta = json.loads((folder / "ranker.json").read_text())
        missing = set(meta["generators"]) - set(generators)
        if missing:
            raise ValueError(f"ranker needs generators {sorted(missing)}")
        factories = {name: _fixed(generators[name]) for name in meta["generators"]}
        ranker = cls(factories, RankerConfig(**meta["config"]), artists)
        ranker.booster = lgb.Booster(model_file=str(folder / "ranker.txt"))
        ranker.feature_names = meta["feature_names"]
        ranker.log.best_iteration = ranker.booster.current_iteration()
        ranker._set_generators({n: generators[n] for n in meta["generators"]}, sentences,
                               n_items)
        return ranker


def _sample_cases(cases: Cases, limit: int, rng: np.random.Generator) -> Cases:
    """At most `limit` of the cases, drawn without replacement, in their original order."""
    if len(cases) <= limit:
        return cases
    keep = np.sort(rng.choice(len(cases), size=limit, replace=False))
    return Cases([cases.contexts[i] for i in keep], cases.targets[keep], cases.playlists)


def _artist_recency(contexts: Sequence[Context], artists: np.ndarray,
                    n_artists: int) -> sparse.csr_matrix:
    """(B, n_artists): 1 + the position of each artist's last song in the context (0 = never)."""
    rows, cols, vals = [], [], []
    for row, c in enumerate(contexts):
        if not len(c):
            continue
        reversed_artists = artists[np.asarray(c, np.int64)][::-1]
        found, first = np.unique(reversed_artists, return_index=True)
        rows.append(np.full(len(found), row))
        cols.append(found)
        vals.append((len(c) - first).astype(np.float32))
    if not rows:
        return sparse.csr_matrix((len(contexts), n_artists), dtype=np.float32)
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(contexts), n_artists),
    )


def _fixed(model: Recommender) -> GeneratorFactory:
    return lambda fitted: model


def _recent_mean(context: Context, unit: np.ndarray, n: int) -> np.ndarray:
    c = np.asarray(context, np.int64)[-n:]
    return unit[c].mean(axis=0) if len(c) else np.zeros(unit.shape[1], np.float32)


def mask_items_bool(chosen: np.ndarray, contexts: Sequence[Context]) -> None:
    """Clear the context songs from a boolean (B, n_items) candidate matrix, in place."""
    rows = np.repeat(np.arange(len(contexts)), [len(c) for c in contexts])
    cols = np.fromiter((i for c in contexts for i in c), dtype=np.int64, count=len(rows))
    chosen[rows, cols] = False


def default_generators(song2vec_config=None, sknn=None, vstan=None,
                       transformer=None, iknn: bool = True) -> dict[str, GeneratorFactory]:
    """song2vec, SKNN, VSTAN, co-occurrence and item kNN (and the transformer when its config
    is given). Each argument is that generator's config (None = its default)."""
    from recsys.baselines import CoOccurrence
    from recsys.sequence_model import SequenceModel
    from recsys.session_knn import SKNN, VSTAN, ItemKNN, SessionKNN
    from recsys.song2vec import Song2Vec

    factories: dict[str, GeneratorFactory] = {
        "song2vec": lambda fitted: Song2Vec(song2vec_config),
        "sknn": lambda fitted: SessionKNN(sknn, name="sknn") if sknn else SKNN(),
        "vstan": lambda fitted: SessionKNN(vstan, name="vstan") if vstan else VSTAN(),
        "cooccurrence": lambda fitted: CoOccurrence(),
    }
    if iknn:
        factories["iknn"] = lambda fitted: ItemKNN()
    if transformer is not None:
        factories["transformer"] = lambda fitted: SequenceModel(
            transformer, (fitted["song2vec"].input_vectors, fitted["song2vec"].output_vectors))
    return factories
