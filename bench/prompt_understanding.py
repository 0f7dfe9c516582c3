"""What a model trained on each data source would understand of the twelve typed prompts of
`audio_gen/typed_prompts.json` (issue 17: prompts of the kind people type, genre + instrument +
mood, none copied from the caption templates): each phrase's nearest known concept through the
text encoder (`audio_gen.understanding`, threshold 0.64), for the synthesiser's vocabulary
(the shipped model) and the soundfont source's (the retraining).

    .venv/bin/python bench/prompt_understanding.py   # -> bench/results/prompt_understanding.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = REPO / "bench" / "results" / "prompt_understanding.json"


def main() -> dict:
    import torch

    from audio_gen.adherence import read_typed_prompts
    from audio_gen.text_encoder import load_text_encoder
    from audio_gen.train import training_vocabulary
    from audio_gen.understanding import Vocabulary

    torch.set_num_threads(1)
    prompts = read_typed_prompts()
    encoder = load_text_encoder("default")
    result: dict = {"prompts": prompts, "sources": {}}
    for source in ("synth", "soundfont"):
        vocabulary = Vocabulary(training_vocabulary(source, []), encoder)
        reports = [vocabulary.read(p["prompt"]) for p in prompts]
        result["sources"][source] = {
            "fully_known": sum(not r.unknown for r in reports),
            "instrument_known": sum(any(m.kind == "instrument" for m in r.known)
                                    for r in reports),
            "genre_known": sum(any(m.kind in ("genre", "style") for m in r.known)
                               for r in reports),
            "reports": [r.as_dict() for r in reports]}
        print(f"{source}: {result['sources'][source]['fully_known']}/{len(prompts)} prompts "
              "fully known")
        for p, r in zip(prompts, reports, strict=True):
            unknown = ", ".join(f"{m.phrase} ({m.similarity:.2f})" for m in r.unknown) or "-"
            print(f"  {p['prompt'][:58]:58}  unknown: {unknown}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
