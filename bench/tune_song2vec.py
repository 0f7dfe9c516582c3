"""The search behind song2vec's defaults, on a validation split carved from yes_big's train.txt.

Split (seeded, whole playlists): 10% test (reported once, at the end), 10% validation (used for
every choice), 80% train. A coordinate search: from a start config, each hyperparameter in turn
takes the candidate value that maximises validation HR@10 (NDCG@10 breaks ties); for every trained
model the cheap scoring choices (input·output vs cosine, context decay and window) are searched
too. The config with the best validation HR@10 becomes the default. With --simplify, epochs and
dimensions of that config are then lowered while validation HR@10 stays within one standard error
of the best, and the cheaper config is reported instead. Results go to --out; bench/README.md
quotes them.

    python bench/tune_song2vec.py [--data DIR] [--quick] [--resume FILE] [--simplify] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.readers import read_playlists  # noqa: E402
from pipelines.splits import split_dataset  # noqa: E402
from recsys.baselines import default_baselines  # noqa: E402
from recsys.catalog import Catalog  # noqa: E402
from recsys.evaluation import evaluate_model, evaluate_models, make_cases  # noqa: E402
from recsys.song2vec import Song2Vec, Song2VecConfig  # noqa: E402

START = Song2VecConfig(vector_size=100, window=5, negative=10, ns_exponent=-0.5, sample=1e-3,
                       epochs=30, workers=2, compute_loss=False)
SEARCH: list[tuple[str, list]] = [
    ("ns_exponent", [-0.5, 0.0, 0.25, 0.5, 0.75]),
    ("window", [3, 5, 10, 20]),
    ("sample", [0.0, 1e-4, 1e-3, 1e-2]),
    ("negative", [5, 10, 20]),
    ("epochs", [15, 30, 60, 100]),
    ("vector_size", [64, 100, 200]),
    ("alpha", [0.01, 0.025, 0.05]),
    ("min_count", [1, 2, 3]),
]
# Every scoring choice, searched for the start and the tuned model; a first full search showed
# long, flat contexts winning by far, so the hyperparameter stages only re-check those.
SCORING = [
    {"scoring": scoring, "context_decay": decay, "context_window": window}
    for scoring in ("in_out", "cosine")
    for decay in (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)
    for window in (5, 20, 50)
    if not (decay == 0.0 and window > 5)
]
SCORING_SHORTLIST = [
    {"scoring": "in_out", "context_decay": decay, "context_window": window}
    for decay in (0.9, 1.0)
    for window in (20, 50)
]


def key(metrics: dict) -> tuple[float, float]:
    return metrics["hr@10"], metrics["ndcg@10"]


SIMPLIFY = [("epochs", [30, 60]), ("vector_size", [64, 100])]


def simplify(best: dict, train, n_items: int, valid, log: list[dict]) -> Song2VecConfig:
    """Lower the costly settings of the best config while HR@10 stays within one standard error
    of the best; every config tried is appended to the log."""
    top = max(entry["hr@10"] for entry in log)
    floor = top - np.sqrt(top * (1 - top) / len(valid))
    current = Song2VecConfig.from_dict(best["config"])
    for name, cheaper in SIMPLIFY:
        for value in cheaper:
            if value >= getattr(current, name):
                break
            cfg = dataclasses.replace(current, **{name: value})
            _, metrics, _ = fit_and_score(cfg, train, n_items, valid)
            log.append({"step": f"simplify {name}={value}", "config": cfg.to_dict(), **metrics})
            print(f"simplify {name}={value}: hr@10 {metrics['hr@10']:.4f} (floor {floor:.4f})",
                  flush=True)
            if metrics["hr@10"] >= floor:
                current = cfg
                break
    return current


def fit_and_score(
    cfg: Song2VecConfig, train, n_items: int, cases, scorings=SCORING_SHORTLIST
) -> tuple[dict, dict, list]:
    """Train once; return the best scoring settings, their metrics, and every variant's."""
    started = time.perf_counter()
    model = Song2Vec(cfg).fit(train, n_items)
    seconds = time.perf_counter() - started
    variants = []
    for scoring in scorings:
        model.config = dataclasses.replace(cfg, **scoring)
        variants.append({**scoring, **evaluate_model(model, cases)})
    best = max(variants, key=key)
    best_scoring = {k: best[k] for k in ("scoring", "context_decay", "context_window")}
    return best_scoring, {**best, "fit_seconds": round(seconds, 1)}, variants


def search(train, n_items: int, valid, quick: bool) -> tuple[list[dict], list[dict]]:
    """Coordinate search; returns the log of every trained config and the start's variants."""
    log: list[dict] = []
    best_cfg = START
    _, best_metrics, start_variants = fit_and_score(best_cfg, train, n_items, valid, SCORING)
    log.append({"step": "start", "config": best_cfg.to_dict(), **best_metrics})
    print(f"start: {best_metrics['hr@10']:.4f}")
    for name, values in SEARCH:
        values = values[:2] if quick else values
        for value in values:
            if value == getattr(best_cfg, name):
                continue
            cfg = dataclasses.replace(best_cfg, **{name: value})
            scoring, metrics, _ = fit_and_score(cfg, train, n_items, valid)
            log.append({"step": f"{name}={value}", "config": cfg.to_dict(), **metrics})
            print(f"{name}={value}: hr@10 {metrics['hr@10']:.4f} ndcg@10 {metrics['ndcg@10']:.4f}"
                  f" ({scoring})", flush=True)
            if key(metrics) > key(best_metrics):
                best_cfg, best_metrics = cfg, metrics
        print(f"-> {name}={getattr(best_cfg, name)}  valid hr@10 {best_metrics['hr@10']:.4f}")
    return log, start_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared/data/yes_playlists/yes_big")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/tune_song2vec.json")
    parser.add_argument("--quick", action="store_true", help="Two values per setting (smoke).")
    parser.add_argument("--resume", type=Path, help="Reuse the search log of an earlier run.")
    parser.add_argument("--simplify", action="store_true",
                        help="Report the cheapest config within one standard error instead.")
    args = parser.parse_args()

    parts = split_dataset(read_playlists(args.data), valid=0.1, test=0.1, seed=0)
    catalog = Catalog(parts["train"].songs)
    train = catalog.encode_playlists(parts["train"].playlists)
    valid = make_cases(catalog.encode_playlists(parts["valid"].playlists))
    test = make_cases(catalog.encode_playlists(parts["test"].playlists))
    print(f"train {len(train):,} playlists; valid {len(valid):,} cases; test {len(test):,} cases")

    if args.resume:
        earlier = json.loads(args.resume.read_text())
        log, start_variants = earlier["search"], earlier["scoring_variants_start"]
    else:
        log, start_variants = search(train, len(catalog), valid, args.quick)
    best = max(log, key=key)
    print(f"best: {best['step']} hr@10 {best['hr@10']:.4f}")
    chosen_cfg = Song2VecConfig.from_dict(best["config"])
    if args.simplify:
        chosen_cfg = simplify(best, train, len(catalog), valid, log)
    # The full scoring search once more, on the chosen hyperparameters.
    best_scoring, _, variants = fit_and_score(chosen_cfg, train, len(catalog), valid, SCORING)
    tuned = dataclasses.replace(chosen_cfg, **best_scoring)
    # The final report: tuned song2vec and the baselines, fitted on train, scored on test.
    final_model = Song2Vec(tuned).fit(train, len(catalog))
    valid_report = evaluate_models([final_model, *default_baselines()], train, valid,
                                   len(catalog), fitted=("song2vec",))
    test_report = evaluate_models([final_model, *default_baselines()], train, test,
                                  len(catalog), fitted=("song2vec",))
    result = {"tuned": tuned.to_dict(), "best_step": best["step"],
              "search": log, "scoring_variants_start": start_variants,
              "scoring_variants_tuned": variants,
              "valid": valid_report, "test": test_report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for split_name, report in (("valid", valid_report), ("test", test_report)):
        print(f"{split_name} ({report['cases']:,} cases)")
        for name, m in report["models"].items():
            print(f"  {name:13s} hr@10 {m['hr@10']:.4f} hr@100 {m['hr@100']:.4f} "
                  f"ndcg@10 {m['ndcg@10']:.4f} mrr {m['mrr']:.4f} cov@10 {m['coverage@10']:.4f}")
    print(f"tuned config: {json.dumps(tuned.to_dict())}")


if __name__ == "__main__":
    main()
