"""An experiment of issue 17, not shipped: does a guidance term of its own for the prompt's
instrument (composable diffusion) make the shipped model play a lead in a genre it never heard
it in? Captions of the held-out instrument x genre pairs at seed 3 (not the test's seed 1),
the shipped model and judges, one clip per caption; the instrument is the prompt's first
instrument phrase as the prompt reader finds it.

    .venv/bin/python bench/composed_guidance.py [--count 40] [--steps 25]
        [--alone 1.5,3,6] [--contrast 2,4]
        -> bench/results/composed_guidance.json

``alone``: ``prediction + w (instrument phrase alone - empty prompt)``; ``contrast``:
``prediction + w (prompt - prompt without the instrument phrase)``; w = 0 is the model as
shipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.guidance_terms import with_third_prompt  # noqa: E402

OUT = REPO / "bench" / "results" / "composed_guidance.json"
SEED = 3  # the judges' test renders are seed 1, evaluate's validation split seed 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--alone", default="1.5,3,6")
    parser.add_argument("--contrast", default="2,4")
    args = parser.parse_args()

    import torch

    from audio_gen import DEFAULT_CHECKPOINT, DEFAULT_JUDGES
    from audio_gen.adherence import SECONDS, hear_at
    from audio_gen.judges import Heard, agreement, load_judges, rendered_set
    from audio_gen.pipeline import TextToMusic
    from audio_gen.text_encoder import TextEmbedding

    torch.set_num_threads(1)

    class ComposedGuidance(TextToMusic):
        """The pipeline with one more guidance term, ``weight (plus - minus)``, where plus and
        minus are two of [empty prompt, prompt, third prompt]: the third prompt joins the
        guided batch, so a step evaluates three prompts, not two."""

        extra: tuple[float, TextEmbedding, int, int] | None = None

        def _predict(self, x, t, embeds, guidance, beat=None):
            if self.extra is None:
                return super()._predict(x, t, embeds, guidance, beat)
            weight, third, plus, minus = self.extra
            return with_third_prompt(self, x, t, embeds, guidance, beat, third, weight, plus,
                                     minus)

    base = TextToMusic.from_pretrained(DEFAULT_CHECKPOINT)
    pipe = ComposedGuidance(base.unet, base.scheduler, base.codec, base.text_encoder)
    pipe.vocabulary = base.vocabulary
    judges = load_judges(DEFAULT_JUDGES)
    real, truth, captions, stated = rendered_set(args.count, SEED, "only", SECONDS,
                                                 judges.sample_rate)
    instruments = []
    for caption in captions:
        found = [m for m in base.understand(caption).known if m.kind == "instrument"]
        instruments.append(found[0].phrase if found else None)

    def extra(kind: str, weight: float, caption: str, instrument: str | None):
        if not weight or instrument is None:
            return None
        if kind == "alone":  # + w (instrument phrase - empty prompt)
            return weight, base.text_encoder.encode([instrument]), 2, 0
        without = re.sub(r"\s+", " ", re.sub(re.escape(instrument), "", caption,
                                             flags=re.IGNORECASE))
        return weight, base.text_encoder.encode([without]), 1, 2  # + w (prompt - without)

    runs = [("shipped", 0.0)] + [(kind, float(w)) for kind in ("alone", "contrast")
                                 for w in getattr(args, kind).split(",") if w]
    results = []
    for kind, weight in runs:
        started, heard = time.perf_counter(), []
        for i, (caption, instrument) in enumerate(zip(captions, instruments, strict=True)):
            pipe.extra = extra(kind, weight, caption, instrument)
            clip = pipe(caption, seconds=SECONDS, steps=args.steps, guidance=3.0, seed=i,
                        normalise_loudness=False)
            heard.append(hear_at(clip.audio, clip.sample_rate, judges))
        accuracy = agreement(judges.predict(Heard.stack(heard)), truth, stated)
        results.append({"kind": kind, "weight": weight,
                        "seconds": round(time.perf_counter() - started, 1),
                        "accuracy": {a: round(v, 3) for a, v in accuracy.items()}})
        print(json.dumps(results[-1]), flush=True)
    report = {"captions": args.count, "seed": SEED, "steps": args.steps,
              "with_instrument": sum(i is not None for i in instruments),
              "ceiling": {a: round(v, 3) for a, v in
                          agreement(judges.predict(real), truth, stated).items()},
              "runs": results}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
