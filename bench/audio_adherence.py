"""Issue 17's adherence table and typed prompts: what a text-to-music model's clips sound like
to the judges (`bench/audio_judges.py`, trained on real soundfont renders), next to the ceiling
(the judges on real renders of the same captions) and the floor (those renders against the
captions shuffled).

The held-out table is `songspace audio evaluate`'s for a soundfont model
(`audio_gen.adherence`): the judges' own test renders, seeded renders of the combinations
training never drew (`arrange.HELD_OUT`, seed 1), of which the first `--count` are captioned;
the model makes one clip per caption (seed = the clip's number), judged on its raw output
("generated": the model's own adherence) and as a user gets it, loudness normalised to what the
prompt asks for ("delivered": the prompt reader, not the model, sets "quiet" and "loud" there).
Then the twelve typed prompts (`audio_gen/typed_prompts.json`, written without looking at the
caption templates) go through the whole pipeline as a user's would, and their clips' top
instrument and genre are compared with what each prompt asks for. `songspace audio evaluate`
on a soundfont model computes the same (`audio_gen.adherence`); this script keeps the bench's
result file and `--resample`.

    .venv/bin/python bench/audio_adherence.py --model audio_gen/checkpoints/default
        [--count 120] [--steps 50] [--guidance 3] -> bench/results/audio_adherence.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "audio_adherence.json"


def main() -> dict:
    from audio_gen import DEFAULT_JUDGES

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--judges", type=Path, default=DEFAULT_JUDGES)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--split", default="held_out",
                        help="held_out (the judges' test renders, seed 1) or validation (new "
                             "draws of training combinations, seed 2)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--resample", action="store_true",
                        help="judge a model of another sample rate (e.g. the 16 kHz synthesiser "
                             "model) by resampling its clips; its band stays its own")
    parser.add_argument("--skip-typed", action="store_true",
                        help="only the held-out table (e.g. on --split validation)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from audio_gen.adherence import AdherenceConfig, judge_adherence
    from audio_gen.judges import ATTRIBUTES, load_judges
    from audio_gen.pipeline import TextToMusic

    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            print(f"[{time.perf_counter() - started:6.0f} s] {done}/{total} clips rendered or "
                  "generated", flush=True)

    judges = load_judges(args.judges)
    pipe = TextToMusic.from_pretrained(args.model)
    cfg = AdherenceConfig(count=args.count, split=args.split, steps=args.steps,
                          guidance=args.guidance, resample=args.resample,
                          typed_prompts=not args.skip_typed)
    report, _ = judge_adherence(pipe, judges, cfg, on_progress=progress)
    table = report["accuracy"]
    result = {"settings": {k: str(v) for k, v in vars(args).items()},
              "seconds": round(time.perf_counter() - started, 1), **table,
              "generated_share_of_ceiling": report["generated / ceiling"]}
    if "typed_prompts" in report:
        result["typed_prompts"] = report["typed_prompts"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'attribute':12} {'generated':>9} {'delivered':>9} {'ceiling':>8} {'share':>6} "
          f"{'floor':>6}")
    for a in ATTRIBUTES:
        print(f"{a:12} {table['generated'][a]:9.3f} {table['delivered'][a]:9.3f} "
              f"{table['ceiling'][a]:8.3f} {report['generated / ceiling'][a]:6.2f} "
              f"{table['floor'][a]:6.3f}")
    if "typed_prompts" in report:
        typed = report["typed_prompts"]
        print(f"typed prompts, top instrument and genre both right: {typed['right']}/"
              f"{typed['of']} (instrument {typed['instrument_right']}, genre "
              f"{typed['genre_right']})")
    return result


if __name__ == "__main__":
    main()
