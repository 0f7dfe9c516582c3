"""How fast the training recipe's pool is rendered: one process against worker processes.

Builds the first ``--clips`` clips of a recipe's pool with ``audio_gen.train.generated_pool``,
as ``songspace audio train`` does (captions encoded by the real text encoder), once per worker
count, each in a fresh process, and prints the rendering rate, the ratio to one process, the
caption-encoding time, the process's peak resident memory (a forked worker only adds a
renderer) and whether every pool is the same as one process's, tensor for tensor.

    python bench/render_speed.py [--config bench/audio_configs/soundfont_24k.toml]
                                 [--clips 600] [--workers 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.fresh_process import one_row, parse_or_answer  # noqa: E402

OUT = REPO / "bench" / "results" / "render_speed.json"


def one_setting(args: argparse.Namespace) -> dict:
    """Build the pool with ``args.workers[0]`` workers; time its two stages."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import tomllib

    import torch

    from audio_gen.codec import MelCodec
    from audio_gen.text_encoder import load_text_encoder
    from audio_gen.train import TrainConfig, generated_pool

    torch.set_num_threads(args.threads)
    cfg = TrainConfig.from_dict(tomllib.loads(Path(args.config).read_text()))
    encoder = load_text_encoder(cfg.text_encoder, cfg.text_max_length)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        marks[stage] = time.perf_counter() - started

    pool = generated_pool(cfg, MelCodec(cfg.codec), encoder, args.clips, progress,
                          workers=args.workers[0])
    digest = hashlib.sha256()
    for name, value in sorted(pool.state().items()):
        digest.update(name.encode())
        digest.update(value.numpy().tobytes() if isinstance(value, torch.Tensor)
                      else json.dumps(value).encode())
    rendering = marks["rendering clips"]
    return {
        "workers": args.workers[0], "clips": args.clips, "threads": args.threads,
        "render_s": round(rendering, 2), "clips_per_s": round(args.clips / rendering, 2),
        "encode_captions_s": round(marks["encoding captions"] - rendering, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "sha256": digest.hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "bench/audio_configs/soundfont_24k.toml"))
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the process")
    args = parse_or_answer(parser, one_setting)
    if args is None:
        return
    rows = []
    for workers in args.workers:
        rows.append(one_row(__file__, ["--config", args.config, "--clips", str(args.clips),
                                       "--workers", str(workers), "--threads",
                                       str(args.threads)], cwd=REPO))
    base = rows[0]
    print(f"{args.clips} clips of {Path(args.config).name}, {args.threads} torch threads")
    print(f"{'workers':>7} {'render s':>9} {'clips/s':>8} {'x first':>8} {'captions s':>11} "
          f"{'peak MiB':>9}  same pool")
    for row in rows:
        row["speedup"] = round(base["render_s"] / row["render_s"], 2)
        row["same_pool"] = row["sha256"] == base["sha256"]
        print(f"{row['workers']:>7} {row['render_s']:>9.1f} {row['clips_per_s']:>8.1f} "
              f"{row['speedup']:>7.2f}x {row['encode_captions_s']:>11.1f} "
              f"{row['peak_rss_mib']:>9}  {row['same_pool']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"-> {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
