"""Clean audio out: the shipped model's clips before and after the output stage's loudness
normalisation and true-peak limit, and the whole-process time of `songspace generate`.

For each prompt and seed the model generates a clip at the default settings with the
normalisation off (its own level, as the WAV writer got it before issue 17), then the clip is
normalised as the pipeline does (to the loudness the prompt asks for). Reported per clip:
integrated loudness (LUFS), sample peak, share of samples at full scale (which the 16-bit WAV
writer hard-clips), and after normalisation the loudness and true peak. Then `songspace
generate` is run as a whole process for a 4 s clip (one thread), three times, for a prompt the
whole-clip model makes and for one it hands to the parts model.

    OMP_NUM_THREADS=1 python bench/audio_clean.py [--steps 50] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "results" / "audio_clean.json"
PROMPTS = ("a slow piano melody", "loud fast drum beat", "quiet bass line",
           "a bright guitar riff in a high register", "soft ambient pad",
           "upbeat jazz with saxophone solo", "calm lo-fi hip hop beat for studying",
           "heavy metal guitar riff")
#: Prompts the parts model makes (a lead the genre never played: two parts, mixed).
HANDED_OVER = ("heavy metal with a violin lead", "a quiet folk song with a trumpet solo",
               "loud techno with a flute lead")


def clips(steps: int, seeds: int) -> list[dict]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from audio_gen import DEFAULT_CHECKPOINT
    from audio_gen.loudness import integrated_loudness, normalise
    from audio_gen.pipeline import TextToMusic

    pipe = TextToMusic.from_pretrained(DEFAULT_CHECKPOINT)
    rows = []
    for prompt in PROMPTS + HANDED_OVER:
        for seed in range(seeds):
            out = pipe(prompt, seconds=4.0, steps=steps, seed=seed, normalise_loudness=False)
            raw = out.audio
            clean, report = normalise(raw, pipe.sample_rate, pipe.loudness_target(out.prompt))
            rows.append({
                "prompt": prompt, "seed": seed, "asks": out.prompt.asks("loudness"),
                "parts": out.stems is not None,
                "raw_lufs": round(integrated_loudness(raw, pipe.sample_rate), 1),
                "raw_peak_dbfs": round(float(20 * np.log10(max(np.abs(raw).max(), 1e-9))), 2),
                "raw_full_scale_share": float(np.mean(np.abs(raw) >= 0.9999)),
                "lufs": round(report.after_lufs, 1), "true_peak_db": round(report.true_peak_db, 2),
                "target_lufs": report.target_lufs,
                "full_scale_samples": int(np.sum(np.abs(clean) >= 0.9999)),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def whole_process(prompt: str, runs: int = 3) -> list[float]:
    """Wall seconds of `songspace generate PROMPT` for a 4 s clip, process start to exit."""
    songspace = Path(sys.executable).with_name("songspace")
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([str(songspace), "generate", prompt, "--out",
                            str(Path(scratch) / "x.wav"), "--seconds", "4"], check=True,
                           capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    rows = clips(args.steps, args.seeds)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("songspace")), "generate", "piano",
                    "--out", "refused.wav", "--seconds", "0"], capture_output=True)
    refused = time.perf_counter() - started
    times = whole_process(PROMPTS[0])
    handed_over_times = whole_process(HANDED_OVER[0])
    quiet = [r["lufs"] for r in rows if r["asks"] == "quiet"]
    loud = [r["lufs"] for r in rows if r["asks"] == "loud"]
    normal = [r["lufs"] for r in rows if r["asks"] is None]
    summary = {
        "clips": len(rows), "steps": args.steps,
        "raw_lufs_range": [min(r["raw_lufs"] for r in rows), max(r["raw_lufs"] for r in rows)],
        "raw_clips_at_full_scale": sum(r["raw_full_scale_share"] > 0 for r in rows),
        "lufs_normal_median": statistics.median(normal), "lufs_quiet": quiet,
        "lufs_loud": loud, "max_true_peak_db": max(r["true_peak_db"] for r in rows),
        "full_scale_samples_after": sum(r["full_scale_samples"] for r in rows),
        "bad_seconds_refused_after_s": round(refused, 2),
        "whole_process_4s_clip_s": [round(t, 2) for t in times],
        "whole_process_4s_clip_parts_s": [round(t, 2) for t in handed_over_times],
        "clips_made_as_parts": sum(r["parts"] for r in rows),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(summary, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"summary": summary, "clips": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
