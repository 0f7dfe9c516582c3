"""How loud should the lead be when a clip is made as two parts? (issue 17, eighth part)

A prompt handed to the parts model (:func:`audio_gen.stems.borrows_lead`) is made as the lead
alone and the band alone, and :func:`audio_gen.stems.mix_images` adds their mel powers at equal
level. This bench generates each caption of a validation split once, keeps the two parts'
images, and has the judges hear the mix at several lead levels (and the lead alone), so every
level is judged on the same denoised parts. Captions the whole-clip model makes are judged
once and count the same at every level. ``--lead-guidance`` guides the lead part harder (or
more softly) than the band, whose guidance stays the pipeline's 3.

    .venv/bin/python bench/lead_level.py --split borrowed --count 60 --threads 2
    .venv/bin/python bench/lead_level.py --lead-guidance 4.5
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

import audio_gen.pipeline as pipeline
from audio_gen import DEFAULT_CHECKPOINT, DEFAULT_JUDGES
from audio_gen.adherence import SECONDS, SPLITS, hear_at
from audio_gen.judges import ATTRIBUTES, Heard, agreement, load_judges, rendered_set
from audio_gen.stems import mix_images

LEVELS = (-3.0, 0.0, 3.0, 6.0, 9.0, 12.0)
LEAD_ALONE = "lead alone"
GUIDANCE = 3.0


def guide_the_lead_with(lead_guidance: float) -> None:
    """Make the pipeline guide the first clip of a two-part batch (the lead) with
    ``lead_guidance`` and the second (the band) as asked."""
    plain = pipeline.TextToMusic._predict

    def predict(self, x, t, embeds, guidance, beat=None):
        if x.shape[0] == 2 and guidance not in (0, 1):  # the lead, then the band
            guidance = torch.tensor([lead_guidance, guidance]).view(2, 1, 1, 1)
        return plain(self, x, t, embeds, guidance, beat)

    pipeline.TextToMusic._predict = predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", choices=["validation", "borrowed"], default="borrowed")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lead-guidance", type=float, default=GUIDANCE)
    parser.add_argument("--out", type=Path, default=Path("bench/results/lead_level"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    parts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def keeping_parts(lead, backing, codec, lead_db=0.0):
        parts["last"] = (lead.clone(), backing.clone())
        return mix_images(lead, backing, codec, lead_db)

    pipeline.mix_images = keeping_parts  # the pipeline mixes through this name
    if args.lead_guidance != GUIDANCE:
        guide_the_lead_with(args.lead_guidance)
    pipe = pipeline.TextToMusic.from_pretrained(args.model)
    codec = (pipe.parts_model or pipe).codec
    judges = load_judges(DEFAULT_JUDGES)
    seed, held_out, lead_swap = SPLITS[args.split]
    real, truth, captions, stated = rendered_set(args.count, seed, held_out, SECONDS,
                                                 judges.sample_rate, lead_swap=lead_swap)
    kinds = [f"{level:+g} dB" for level in LEVELS] + [LEAD_ALONE]
    heard: dict[str, list[Heard]] = {kind: [] for kind in kinds}
    handed = []
    for i, caption in enumerate(captions):
        parts.clear()
        clip = pipe(caption, seconds=SECONDS, steps=50, guidance=GUIDANCE, seed=i,
                    normalise_loudness=False)
        samples = len(clip.audio)
        frames = math.ceil(samples / codec.cfg.hop_length)
        handed.append("last" in parts)
        if not handed[-1]:
            whole = hear_at(clip.audio, clip.sample_rate, judges)
            for kind in kinds:
                heard[kind].append(whole)
            continue
        lead, backing = parts["last"]
        images = {f"{level:+g} dB": mix_images(lead, backing, codec, level) for level in LEVELS}
        images[LEAD_ALONE] = lead
        for kind, image in images.items():
            audio = codec.decode(image[:, :frames], samples=samples).numpy()
            heard[kind].append(hear_at(audio, clip.sample_rate, judges))
        print(f"{i + 1}/{len(captions)} {caption}", flush=True)

    said = {kind: judges.predict(Heard.stack(clips)) for kind, clips in heard.items()}
    said["ceiling"] = judges.predict(real)
    mine = [i for i, h in enumerate(handed) if h]
    report = {"split": args.split, "captions": args.count, "handed over": len(mine),
              "lead guidance": args.lead_guidance,
              "all captions": {}, "handed over only": {}}
    for kind, verdicts in said.items():
        report["all captions"][kind] = agreement(verdicts, truth, stated)
        report["handed over only"][kind] = agreement(
            {a: [verdicts[a][i] for i in mine] for a in ATTRIBUTES},
            [truth[i] for i in mine], [stated[i] for i in mine])
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.split
    if args.lead_guidance != GUIDANCE:
        name += f"_lead_guidance_{args.lead_guidance:g}"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=1))
    for scope in ("all captions", "handed over only"):
        print(scope)
        for kind, shares in report[scope].items():
            print(f"  {kind:12s}", "  ".join(f"{a} {'-' if s is None else f'{s:.3f}'}"
                                             for a, s in shares.items()))


if __name__ == "__main__":
    main()
