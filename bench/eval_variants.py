"""Sampling-time variants of the shipped text-to-music pair, judged as `songspace audio
evaluate` judges the shipped one (issue 17, ninth part; neither is shipped):

- ``every-lead-as-parts``: every prompt naming a genre and a lead goes to the parts model, the
  genre's own leads too (shipped: only leads the genre never played in training).
- ``mode-contrast``: for a prompt whose mode the prompt reader finds (a mode word, or a mood or
  purpose word that implies one), each step of the whole-clip model adds
  ``weight * (prompt - the prompt in the opposite mode)``: the prompt without its mode and mood
  words, plus "in a {opposite} key", as a third prompt in the batch.

    python bench/eval_variants.py every-lead-as-parts -- audio evaluate --split validation \\
        --count 60 --no-typed-prompts --threads 2 --out runs/every_lead --json
    python bench/eval_variants.py mode-contrast --weight 2 -- audio evaluate ...
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.guidance_terms import with_third_prompt

OPPOSITE = {"major": "minor", "minor": "major"}


def opposite_mode_prompt(pipe, text: str) -> str | None:
    """``text`` in the other mode, or None when the reader finds no mode in it."""
    from audio_gen.tonality import MOOD_MODES

    report = pipe.understand(text)
    if report is None:
        return None
    mode = report.asks("mode")
    for kind in ("mood", "purpose"):
        mode = mode or MOOD_MODES.get(report.asks(kind) or "")
    if mode is None:
        return None
    out = text
    for match in report.known:
        if match.kind in ("mode", "mood", "purpose"):
            out = re.sub(re.escape(match.phrase), "", out, flags=re.IGNORECASE)
    out = re.sub(r"\bin an?( key)?\s*(?=,|$)|\bkey\b", "", out, flags=re.IGNORECASE)
    out = re.sub(r"(,\s*)+,", ",", re.sub(r"\s+,", ",", re.sub(r"\s+", " ", out))).strip(" ,")
    return f"{out}, in a {OPPOSITE[mode]} key"


def every_lead_as_parts() -> None:
    import audio_gen.pipeline as pipeline
    from audio_gen.stems import genre_and_lead

    pipeline.borrows_lead = lambda report: genre_and_lead(report) is not None


def mode_contrast(weight: float) -> None:
    import torch

    from audio_gen.pipeline import TextToMusic

    call, predict = TextToMusic.__call__, TextToMusic._predict

    def contrasted_call(self, text, *args, **kwargs):
        other = (opposite_mode_prompt(self, text)
                 if text and kwargs.get("prompt_embeds") is None else None)
        self._opposite = None if other is None else self.text_encoder.encode([other])
        try:
            return call(self, text, *args, **kwargs)
        finally:
            self._opposite = None

    def contrasted_predict(self, x, t, embeds, guidance, beat=None):
        third = getattr(self, "_opposite", None)
        if (third is None or x.shape[0] != 1 or isinstance(guidance, torch.Tensor)
                or guidance in (0, 1)):  # the parts (two clips) and unguided steps as shipped
            return predict(self, x, t, embeds, guidance, beat)
        return with_third_prompt(self, x, t, embeds, guidance, beat, third, weight, 1, 2)

    TextToMusic.__call__, TextToMusic._predict = contrasted_call, contrasted_predict


def main() -> None:
    argv = sys.argv[1:]
    ours, theirs = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=["every-lead-as-parts", "mode-contrast"])
    parser.add_argument("--weight", type=float, default=2.0, help="mode-contrast's weight")
    args = parser.parse_args(ours)
    if args.variant == "every-lead-as-parts":
        every_lead_as_parts()
    else:
        mode_contrast(args.weight)
    from cli.main import app

    sys.argv = ["songspace", *theirs]
    app()


if __name__ == "__main__":
    main()
