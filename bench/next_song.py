"""Next-song benchmark for issue 14: every peer (song2vec, co-occurrence, ALS, SKNN, V-SKNN,
VSTAN, SASRec, the song2vec-initialised transformer) and the two-stage ranker ("songspace"),
tuned on the validation split, the test split scored once at the end.

Inputs are what the CLI writes: `songspace split ... --valid 0.1 --test 0.1 --seed 0` (SPLITS with
train/ valid/ test/) and `songspace train --playlists SPLITS/train --seed 0` (MODEL). Stages, each
resumable (settings chosen so far live in --state):

    python bench/next_song.py --stage knn        # tune SKNN, V-SKNN, VSTAN on validation
    python bench/next_song.py --stage sequence   # train transformer + SASRec, validation scores
    python bench/next_song.py --stage ranker     # tune the ranker on validation
    python bench/next_song.py --stage final      # everything with the tuned settings: valid + test

Common flags: --splits DIR --model DIR --work DIR (weights, outside the repo) --state FILE
--out FILE (final JSON, default bench/results/next_song.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.baselines import ALS, BPR, CoOccurrence, Popularity  # noqa: E402
from recsys.catalog import Catalog  # noqa: E402
from recsys.evaluation import evaluate_model, make_cases  # noqa: E402
from recsys.ranker import RankerConfig, TwoStageRanker, default_generators  # noqa: E402
from recsys.sequence_model import SequenceConfig, SequenceModel  # noqa: E402
from recsys.session_knn import ItemKNN, SessionKNN, SessionKNNConfig  # noqa: E402
from recsys.song2vec import Song2Vec  # noqa: E402

COLUMNS = ("hr@10", "hr@100", "ndcg@10", "mrr", "coverage@10", "fit_seconds", "eval_seconds")

KNN_START = {
    "sknn": SessionKNNConfig(k=50),
    "vsknn": SessionKNNConfig(k=100, similarity="dot", weighting="linear", idf=True),
    "vstan": SessionKNNConfig(k=100, similarity="cosine", weighting="exp", spw=5.0, inh=5.0,
                              before_weight=0.5, idf=True),
}
KNN_GRID = {
    "sknn": [("k", [20, 30, 50, 100, 200, 500, 1000]), ("context_window", [0, 20, 50]),
             ("idf", [False, True])],
    "vsknn": [("k", [50, 100, 200, 500, 1000]), ("similarity", ["dot", "cosine"]),
              ("idf", [True, False])],
    "vstan": [("k", [100, 200, 500, 1000]), ("spw", [2.0, 5.0, 10.0, 30.0]),
              ("inh", [0.0, 2.0, 5.0, 20.0]), ("before_weight", [0.0, 0.5, 1.0]),
              ("idf", [True, False])],
}


def load(splits: Path, model_dir: Path):
    songs = pl.read_parquet(model_dir / "songs.parquet")
    catalog = Catalog(songs)
    data = {
        name: catalog.encode_playlists(pl.read_parquet(splits / name / "playlists.parquet"))
        for name in ("train", "valid", "test")
    }
    _, artists = np.unique(np.asarray(songs["artist"].to_list(), dtype=object).astype(str),
                           return_inverse=True)
    return catalog, data, artists.astype(np.int64), Song2Vec.load(model_dir)


def rounded(result: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}


def run(model, train, cases, n_items, fitted=False) -> dict:
    fit_seconds = 0.0
    if not fitted:
        started = time.perf_counter()
        model.fit(train, n_items)
        fit_seconds = time.perf_counter() - started
    result = evaluate_model(model, cases)
    result["fit_seconds"] = round(fit_seconds, 2)
    return rounded(result)


def table(results: dict[str, dict], title: str) -> str:
    lines = [f"\n{title}", "| model | " + " | ".join(COLUMNS) + " |",
             "| --- |" + " --- |" * len(COLUMNS)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |")
    return "\n".join(lines)


def coordinate_search(name, train, cases, n_items, log, state_knn) -> SessionKNNConfig:
    """Each setting in turn takes the value with the best validation HR@10 (NDCG@10 breaks
    ties), the others held at their current best."""
    # A search re-run starts from the best found so far.
    best = SessionKNNConfig(**state_knn[name]) if name in state_knn else KNN_START[name]
    best_result = run(SessionKNN(best, name=name), train, cases, n_items)
    log.append({"model": name, "config": dataclasses.asdict(best), **best_result})
    print(name, "start", best_result["hr@10"], best_result["ndcg@10"], flush=True)
    for field, values in KNN_GRID[name]:
        for value in values:
            if getattr(best, field) == value:
                continue
            config = dataclasses.replace(best, **{field: value})
            result = run(SessionKNN(config, name=name), train, cases, n_items)
            log.append({"model": name, "config": dataclasses.asdict(config), **result})
            print(name, field, value, result["hr@10"], result["ndcg@10"], flush=True)
            key = (result["hr@10"], result["ndcg@10"])
            if key > (best_result["hr@10"], best_result["ndcg@10"]):
                best, best_result = config, result
    print(name, "best", dataclasses.asdict(best), best_result["hr@10"], flush=True)
    return best


def sequence_config(state: dict, name: str) -> SequenceConfig:
    return SequenceConfig(**state.get("sequence", {}).get(name, {}))


def song2vec_fold_config(s2v: Song2Vec):
    # The fold's song2vec: the artifact's settings, on both cores (speed over bit-exactness).
    return dataclasses.replace(s2v.config, workers=2, compute_loss=False)


def make_ranker(state, s2v, artists, ranker_overrides=None, with_transformer=None):
    knn = state.get("knn", {})
    use_transformer = state.get("ranker_transformer", False) if with_transformer is None \
        else with_transformer
    generators = default_generators(
        song2vec_fold_config(s2v),
        sknn=SessionKNNConfig(**knn["sknn"]) if "sknn" in knn else None,
        vstan=SessionKNNConfig(**knn["vstan"]) if "vstan" in knn else None,
        transformer=sequence_config(state, "transformer") if use_transformer else None,
    )
    config = RankerConfig(**{**state.get("ranker", {}), **(ranker_overrides or {})})
    return TwoStageRanker(generators, config, artists, fitted={"song2vec": s2v})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True,
                        choices=["knn", "sequence", "ranker", "final"])
    parser.add_argument("--splits", type=Path, default=Path("/work/exp14/splits"))
    parser.add_argument("--model", type=Path, default=Path("/work/exp14/model"))
    parser.add_argument("--work", type=Path, default=Path("/work/exp14/work"))
    parser.add_argument("--state", type=Path,
                        default=REPO / "bench/results/next_song_tuning.json")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/next_song.json")
    parser.add_argument("--only", nargs="*", default=None,
                        help="knn stage: tune only these of sknn, vsknn, vstan")
    parser.add_argument("--ranker", default="",
                        help='ranker stage: JSON of RankerConfig overrides, e.g. {"folds": 3}')
    parser.add_argument("--adopt", action="store_true",
                        help="ranker stage: keep these settings and the fitted ranker for final")
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="training time box of each sequence model")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    state = json.loads(args.state.read_text()) if args.state.exists() else {"log": []}
    catalog, data, artists, s2v = load(args.splits, args.model)
    n_items = len(catalog)
    train = data["train"]
    valid = make_cases(data["valid"])
    print(f"train {len(train)} playlists; valid {len(valid)} cases; {n_items} songs", flush=True)

    def save_state():
        args.state.parent.mkdir(parents=True, exist_ok=True)
        args.state.write_text(json.dumps(state, indent=1) + "\n")

    if args.stage == "knn":
        state.setdefault("knn", {})
        for name in args.only or ("sknn", "vsknn", "vstan"):
            best = coordinate_search(name, train, valid, n_items, state["log"], state["knn"])
            state["knn"][name] = dataclasses.asdict(best)
            save_state()

    elif args.stage == "sequence":
        state.setdefault("sequence", {})
        for name, init in (("transformer", "song2vec"), ("sasrec", "random")):
            config = SequenceConfig(**{**state["sequence"].get(name, {}), "init": init,
                                       "max_minutes": args.minutes})
            vectors = (s2v.input_vectors, s2v.output_vectors) if init == "song2vec" else None
            model = SequenceModel(config, vectors, name=name)
            result = run(model, train, valid, n_items)
            model.save(args.work)
            result["history"] = model.history
            state["log"].append({"model": name, "config": dataclasses.asdict(config), **result})
            state["sequence"][name] = dataclasses.asdict(config)
            print(name, rounded(result), flush=True)
            save_state()

    elif args.stage == "ranker":
        overrides = json.loads(args.ranker) if args.ranker else {}
        base = make_ranker(state, s2v, artists, overrides)
        if state.get("ranker_transformer"):
            base.fitted["transformer"] = SequenceModel.load(args.work, "transformer")
        result = run(base, train, valid, n_items)
        config = {**state.get("ranker", {}), **overrides}
        state["log"].append({"model": "songspace", "config": config, **result,
                             "ranker_log": {k: v for k, v in dataclasses.asdict(base.log).items()
                                            if k != "folds"},
                             "importances": base.importances()})
        print("songspace", config, result, flush=True)
        print(json.dumps(base.importances()), flush=True)
        if args.adopt:
            # The fitted ranker (trained on training playlists only) is what `final` scores.
            state["ranker"] = config
            base.fold_generators, base.fold_fitted = [], []
            base.factories = dict.fromkeys(base.factories)  # lambdas do not pickle
            with open(args.work / "ranker.pkl", "wb") as handle:
                pickle.dump(base, handle)
        save_state()

    else:
        test = make_cases(data["test"])
        knn = state["knn"]
        models = {
            "song2vec": s2v,
            "popularity": Popularity(),
            "cooccurrence": CoOccurrence(),
            "als": ALS(seed=0),
            "bpr": BPR(seed=0),
            "iknn": ItemKNN(),
            "sknn": SessionKNN(SessionKNNConfig(**knn["sknn"]), name="sknn"),
            "vsknn": SessionKNN(SessionKNNConfig(**knn["vsknn"]), name="vsknn"),
            "vstan": SessionKNN(SessionKNNConfig(**knn["vstan"]), name="vstan"),
        }
        results: dict[str, dict] = {"valid": {}, "test": {}}
        for name, model in models.items():
            fitted = name == "song2vec"
            results["valid"][name] = run(model, train, valid, n_items, fitted=fitted)
            results["test"][name] = run(model, train, test, n_items, fitted=True)
            results["test"][name]["fit_seconds"] = results["valid"][name]["fit_seconds"]
            print(name, results["test"][name], flush=True)
        for name in ("transformer", "sasrec"):
            model = SequenceModel.load(args.work, name)
            fit_seconds = model.history[-1]["seconds"] if model.history else 0.0
            for split, cases in (("valid", valid), ("test", test)):
                results[split][name] = run(model, train, cases, n_items, fitted=True)
                results[split][name]["fit_seconds"] = fit_seconds
        # The ranker adopted in the ranker stage, fitted on the training playlists only.
        with open(args.work / "ranker.pkl", "rb") as handle:
            ranker = pickle.load(handle)
        adopted = [e for e in state["log"] if e["model"] == "songspace"
                   and e["config"] == state["ranker"]][-1]
        results["valid"]["songspace"] = run(ranker, train, valid, n_items, fitted=True)
        results["test"]["songspace"] = run(ranker, train, test, n_items, fitted=True)
        for split in ("valid", "test"):
            results[split]["songspace"]["fit_seconds"] = adopted["fit_seconds"]
        ranker.save(args.work)
        out = {
            "cases": {"valid": len(valid), "test": len(test)},
            "settings": {"knn": knn, "sequence": state.get("sequence", {}),
                         "ranker": dataclasses.asdict(ranker.config),
                         "ranker_generators": {
                             name: dataclasses.asdict(g.config)
                             if dataclasses.is_dataclass(getattr(g, "config", None))
                             else type(g).__name__ for name, g in ranker.generators.items()},
                         "song2vec": s2v.config.to_dict()},
            "ranker_log": {k: v for k, v in dataclasses.asdict(ranker.log).items()
                           if k != "folds"},
            "importances_gain": ranker.importances("gain"),
            "importances_split": ranker.importances("split"),
            **results,
        }
        best_peer = {m: max(v[m] for k, v in results["test"].items() if k != "songspace")
                     for m in ("hr@10", "ndcg@10")}
        out["lift_over_best_peer"] = {
            m: round(results["test"]["songspace"][m] / best_peer[m] - 1, 4) for m in best_peer
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(table(results["valid"], f"validation ({len(valid)} cases)"))
        print(table(results["test"], f"test ({len(test)} cases)"))
        print("\nlift of songspace over the best peer (test):", out["lift_over_best_peer"])
        print("importances (gain):", json.dumps(out["importances_gain"]))


if __name__ == "__main__":
    main()
