"""The judges of issue 17 (`audio_gen.judges`) trained on real soundfont renders, and the two
bounds a text-to-music model's adherence is read between: the judges' accuracy on real renders
of held-out combinations (the ceiling) and against the same clips' captions shuffled (the
floor). A model's generated clips are judged the same way once one is trained on the soundfont
source (`--model`).

The judges train on renders of every combination (seed ``--seed``, held-out pairs included:
they are the measuring instruments, not the generator) and are tested on renders of the
held-out combinations only (seed ``--seed`` + 1, so other clips). Their design was chosen on
renders neither uses (a validation split of training renders and held-out renders of seed
``--seed`` + 2); the test renders were read once, for the table.

    .venv/bin/python bench/audio_judges.py [--train 2400] [--test 300] [--seconds 4]
        -> bench/results/audio_judges.json and the judges themselves (torch), shipped as
           audio_gen/checkpoints/judges.pt (what `songspace audio evaluate` hears with)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "audio_judges.json"


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=2400)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sample-rate", type=int, default=24000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lead-swap", type=float, default=0.35,
                        help="share of training renders whose lead is borrowed from another "
                             "genre, so that the instrument judge hears the lead, not its band")
    parser.add_argument("--borrowed", type=int, default=120,
                        help="extra test renders whose lead is borrowed (seed + 3)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--judges", type=Path, default=None,
                        help="where to save the judges (default: the shipped judges.pt)")
    args = parser.parse_args()
    import torch

    from audio_gen import DEFAULT_JUDGES
    from audio_gen.judges import ATTRIBUTES, accuracy, fit_judges, rendered_set, save_judges

    torch.set_num_threads(1)  # a few minutes on one core, beside whatever else runs

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    started = time.perf_counter()
    x, truth, _, _ = rendered_set(args.train, args.seed, "any", args.seconds, args.sample_rate,
                                  lead_swap=args.lead_swap)
    rendered = time.perf_counter()
    log(f"{args.train} training renders heard")
    judges = fit_judges(x, truth, seed=args.seed, log=log)
    fitted = time.perf_counter()
    x_test, truth_test, captions, _ = rendered_set(args.test, args.seed + 1, "only", args.seconds,
                                                args.sample_rate)
    shuffled = [truth_test[i] for i in np.random.default_rng(args.seed).permutation(args.test)]
    # Renders whose lead is borrowed wherever a style allows it (a judge that learnt each lead
    # with its band names the band's usual lead here).
    x_borrowed, truth_borrowed, _, _ = rendered_set(args.borrowed, args.seed + 3, "exclude",
                                                    args.seconds, args.sample_rate, lead_swap=1.0)
    chance = {a: max(np.mean([t[a] == v for t in truth_test])
                     for v in {t[a] for t in truth_test}) for a in ATTRIBUTES}
    result = {
        "settings": vars(args),
        "seconds": {"render_and_features_train": round(rendered - started, 1),
                    "fit": round(fitted - rendered, 1),
                    "total": round(time.perf_counter() - started, 1)},
        "classes": {a: judges.classes[a] for a in ATTRIBUTES},
        "train_accuracy": accuracy(judges, x, truth),
        "ceiling": accuracy(judges, x_test, truth_test),
        "floor": accuracy(judges, x_test, shuffled),
        "majority_class": chance,
        "borrowed_leads": accuracy(judges, x_borrowed, truth_borrowed),
        "held_out_examples": captions[:5],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    save_judges(judges, args.judges or DEFAULT_JUDGES)
    print(f"{'attribute':12} {'train':>7} {'ceiling':>8} {'floor':>7} {'majority':>9}")
    for a in ATTRIBUTES:
        print(f"{a:12} {result['train_accuracy'][a]:7.3f} {result['ceiling'][a]:8.3f} "
              f"{result['floor'][a]:7.3f} {chance[a]:9.3f}")
    print(f"borrowed leads: instrument {result['borrowed_leads']['instrument']:.3f}, genre "
          f"{result['borrowed_leads']['genre']:.3f}")
    return result


if __name__ == "__main__":
    main()
