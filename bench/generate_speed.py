"""Text-to-music speed: real-time factor of 4-second clips against sampler steps, with the
attribute accuracy reached at each setting and the peak memory.

Real-time factor = seconds of audio / wall-clock seconds of generation (prompt encoding,
denoising with classifier-free guidance and Griffin-Lim decoding; the one-off model load is
reported separately). Each setting runs in a fresh process, so its peak resident memory is its
own. Accuracy is measured as in `songspace audio evaluate`: captions of held-out attribute
combinations, judged by the independent signal analysis.

    python bench/generate_speed.py [--model DIR] [--steps 10 25 50] [--samplers ddim dpm++]
                                   [--threads 1 2] [--captions-per-combo 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.fresh_process import one_row, parse_or_answer  # noqa: E402

OUT = REPO / "bench" / "results" / "generate_speed.json"
ATTRIBUTES = ("register", "tempo", "brightness", "loudness")


def one_setting(args: argparse.Namespace) -> dict:
    """Generate every held-out caption once at one setting; time and judge each clip."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads[0])
    from audio_gen.analysis import classify, measure
    from audio_gen.evaluate import EvalConfig, evaluation_prompts
    from audio_gen.pipeline import TextToMusic

    started = time.perf_counter()
    bf16 = args.precisions[0] == "bf16"
    pipe = TextToMusic.from_pretrained(args.model, scheduler=args.samplers[0], bf16=bf16)
    load = time.perf_counter() - started
    pipe("warm-up", seconds=1.0, steps=1)  # first calls allocate; not part of the timing
    steps = args.steps[0]
    prompts = evaluation_prompts(EvalConfig(captions_per_combo=args.captions_per_combo))
    walls, hits, totals = [], dict.fromkeys(ATTRIBUTES, 0), dict.fromkeys(ATTRIBUTES, 0)
    for spec, text in prompts:
        out = pipe(text, seconds=args.seconds, steps=steps, guidance=args.guidance, seed=0)
        walls.append(out.timings["total"])
        heard = classify(measure(out.audio, out.sample_rate), pitched=spec.instrument != "drums")
        for name in ATTRIBUTES:
            if getattr(spec, name) is not None:
                totals[name] += 1
                hits[name] += heard[name] == getattr(spec, name)
    wall = statistics.median(walls)
    return {
        "sampler": args.samplers[0], "steps": steps, "threads": args.threads[0],
        "precision": args.precisions[0],
        "clips": len(walls), "seconds_of_audio": args.seconds,
        "median_wall_s": round(wall, 3), "real_time_factor": round(args.seconds / wall, 3),
        "accuracy": {k: round(hits[k] / totals[k], 3) for k in ATTRIBUTES},
        "model_load_s": round(load, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "audio_gen" / "checkpoints"
                        / "default")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--samplers", nargs="+", default=["ddim", "dpm++"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--captions-per-combo", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parse_or_answer(parser, one_setting)
    if args is None:
        return
    rows = []
    settings = [(t, p, s, n) for t in args.threads for p in args.precisions
                for s in args.samplers for n in args.steps]
    for threads, precision, sampler, steps in settings:
        row = one_row(__file__, [
            "--model", str(args.model), "--steps", str(steps), "--samplers", sampler,
            "--threads", str(threads), "--captions-per-combo", str(args.captions_per_combo),
            "--seconds", str(args.seconds), "--guidance", str(args.guidance),
            "--precisions", precision])
        rows.append(row)
        print(f"{sampler:6} {steps:3d} steps, {threads} thread(s), {precision}: real-time "
              f"factor {row['real_time_factor']:.2f}, accuracy {row['accuracy']}, peak "
              f"{row['peak_rss_mb']:.0f} MB", flush=True)
    print("\n| sampler | steps | threads | precision | real-time factor | s per 4 s clip "
          "| register | tempo | brightness | loudness | peak RSS (MB) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        acc = r["accuracy"]
        print(f"| {r['sampler']} | {r['steps']} | {r['threads']} | {r['precision']} "
              f"| {r['real_time_factor']:.2f} "
              f"| {r['median_wall_s']:.2f} | {acc['register']:.2f} | {acc['tempo']:.2f} "
              f"| {acc['brightness']:.2f} | {acc['loudness']:.2f} | {r['peak_rss_mb']:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": vars(args) | {"model": str(args.model),
                                                              "out": str(args.out)},
                                    "rows": rows}, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
