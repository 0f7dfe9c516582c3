"""Does a soundfont-trained model make what its caption says? The judges' verdict.

The judges (:mod:`audio_gen.judges`, trained on real soundfont renders) hear one generated clip
per caption of seeded renders and say which instrument family, genre, tempo class, mode and
loudness class they hear. The same judges on the real renders of those captions are the
*ceiling*; on the renders against the captions shuffled among them, the *floor*. Each
attribute is scored over the captions that state it (:func:`audio_gen.captions.describe`: a
caption without a tempo word asks for no tempo, one without "quiet" or "loud" for a normal
level), since a clip cannot follow what it was never asked; the report counts them.

"generated" is the model's raw output (its own level: the loudness judge hears what the model
made); "delivered" is the clip as a user gets it, loudness normalised to what the prompt asks
for, so that there the prompt reader, not the model, sets "quiet" and "loud".

Splits: ``held_out`` captions the judges' own test renders (seed 1), every one a combination
training never drew (:data:`audio_gen.arrange.HELD_OUT`): the test. ``validation`` captions new
draws (seed 2) of combinations training does draw, to tune a recipe on without touching the
test. ``borrowed`` captions new draws (seed 4) of training combinations whose lead is drawn from
every genre's leads where the genre allows it (``lead_swap = 1``; about 70% are not the genre's
own): whether the named lead plays outside its own genre's band, the closest a validation split
comes to the test's question.

Then the typed prompts (:data:`TYPED_PROMPTS`: twelve prompts of the kind people type, written
without looking at the caption templates) go through the whole pipeline as a user's would, and
the judges' top instrument family and genre of each clip are compared with what it asks for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from audio_gen.judges import ATTRIBUTES, Heard, Judges, agreement, hear, rendered_set
from audio_gen.loudness import normalise
from audio_gen.pipeline import TextToMusic

SECONDS = 4.0  # the judges learnt 4 s clips
# split -> (seed of the renders, which combinations they draw, share of borrowed leads)
SPLITS = {"held_out": (1, "only", 0.0), "validation": (2, "exclude", 0.0),
          "borrowed": (4, "exclude", 1.0)}
KINDS = ("ceiling", "generated", "delivered", "floor")
TYPED_PROMPTS = Path(__file__).resolve().parent / "typed_prompts.json"


@dataclass
class AdherenceConfig:
    """Settings of a judged evaluation.

    Parameters
    ----------
    count : int
        Captions (seeded renders) to generate one clip each for.
    split : {"held_out", "validation", "borrowed"}
        Which renders give the captions (see the module's docstring).
    steps, guidance : int, float
        Generation settings.
    seed : int
        Noise seed of the first clip; clip i uses ``seed + i``.
    resample : bool
        Judge a model of another sample rate by resampling its clips to the judges' rate (its
        band stays its own); without it such a model is refused.
    typed_prompts : bool
        Also judge the clips of the typed prompts (:data:`TYPED_PROMPTS`).
    stems : bool
        Let a model trained with stems make a prompt that names a genre and a lead as the two
        parts (the pipeline's default); False makes every clip whole.
    """

    count: int = 120
    split: str = "held_out"
    steps: int = 50
    guidance: float = 3.0
    seed: int = 0
    resample: bool = False
    typed_prompts: bool = True
    stems: bool = True

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.count < 2:
            raise ValueError(f"count must be at least 2 (the floor shuffles captions), "
                             f"got {self.count}")


def check_rates(pipe: TextToMusic, judges: Judges, resample: bool) -> None:
    """Refuse a model the judges cannot hear at its own rate unless asked to resample."""
    if pipe.sample_rate != judges.sample_rate and not resample:
        raise ValueError(
            f"the model makes {pipe.sample_rate} Hz audio and the judges hear "
            f"{judges.sample_rate} Hz: retrain the judges at {pipe.sample_rate} Hz "
            f"(bench/audio_judges.py --sample-rate {pipe.sample_rate}) or resample its clips")


def hear_at(audio: np.ndarray, sample_rate: int, judges: Judges) -> Heard:
    """What the judges read of a clip made at ``sample_rate`` (resampled to theirs)."""
    if sample_rate != judges.sample_rate:
        from scipy.signal import resample_poly

        common = gcd(sample_rate, judges.sample_rate)
        audio = resample_poly(audio, judges.sample_rate // common,
                              sample_rate // common).astype(np.float32)
    return hear(audio, judges.sample_rate)


def judge_adherence(
    pipe: TextToMusic, judges: Judges, cfg: AdherenceConfig,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Accuracy per attribute of generated, delivered, real (ceiling) and shuffled (floor)
    clips, and what the judges heard of each caption's clips.

    ``on_progress(done, total)`` follows the renders, the generated clips, then the typed
    prompts' clips.
    """
    check_rates(pipe, judges, cfg.resample)
    typed = read_typed_prompts() if cfg.typed_prompts else []
    total = 2 * cfg.count + len(typed)
    seed, held_out, lead_swap = SPLITS[cfg.split]
    real, truth, captions, stated = rendered_set(
        cfg.count, seed, held_out, SECONDS, judges.sample_rate,
        on_clip=None if on_progress is None else lambda done: on_progress(done, total),
        lead_swap=lead_swap)
    generated, delivered = [], []
    for i, caption in enumerate(captions):
        clip = pipe(caption, seconds=SECONDS, steps=cfg.steps, guidance=cfg.guidance,
                    seed=cfg.seed + i, normalise_loudness=False,
                    stems=cfg.stems)
        generated.append(hear_at(clip.audio, clip.sample_rate, judges))
        target = pipe.loudness_target(clip.prompt)  # what the pipeline read of the caption
        delivered.append(hear_at(normalise(clip.audio, clip.sample_rate, target)[0],
                                 clip.sample_rate, judges))
        if on_progress is not None:
            on_progress(cfg.count + i + 1, total)
    heard = {"ceiling": real, "generated": Heard.stack(generated),
             "delivered": Heard.stack(delivered)}
    # Each set of clips is judged once: the floor is the real clips' verdicts against the
    # shuffled captions.
    said = {kind: judges.predict(clips) for kind, clips in heard.items()}
    order = np.random.default_rng(seed).permutation(len(truth))
    table = {kind: agreement(verdicts, truth, stated) for kind, verdicts in said.items()}
    table["floor"] = agreement(said["ceiling"], [truth[i] for i in order],
                               [stated[i] for i in order])
    report = {
        "captions": cfg.count,
        "split": cfg.split,
        "stems": cfg.stems and pipe.stems,
        "stated": {a: sum(a in s for s in stated) for a in ATTRIBUTES},
        "accuracy": {kind: table[kind] for kind in KINDS},
        "generated / ceiling": {a: round(table["generated"][a] / table["ceiling"][a], 3)
                                if table["ceiling"][a] else None for a in ATTRIBUTES},
        "settings": asdict(cfg),
    }
    if typed:
        report["typed_prompts"] = judge_typed_prompts(
            pipe, judges, typed, cfg,
            None if on_progress is None else lambda done: on_progress(2 * cfg.count + done,
                                                                      total))
    items = [{"caption": caption,
              "asked": {a: truth[i][a] for a in ATTRIBUTES if a in stated[i]},
              **{f"heard_{kind}": {a: said[kind][a][i] for a in ATTRIBUTES} for kind in said}}
             for i, caption in enumerate(captions)]
    return report, items


def read_typed_prompts(path: Path = TYPED_PROMPTS) -> list[dict[str, str]]:
    """The typed prompts: ``{"prompt", "instrument_family", "genre"}`` each."""
    return json.loads(path.read_text())["prompts"]


def judge_typed_prompts(
    pipe: TextToMusic, judges: Judges, prompts: list[dict[str, str]], cfg: AdherenceConfig,
    on_clip: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """How many typed prompts' clips (as a user gets them, seed ``cfg.seed + i``) the judges
    hear with the asked instrument family and genre, and what they heard of each."""
    clips = []
    for i, row in enumerate(prompts):
        clip = pipe(row["prompt"], seconds=SECONDS, steps=cfg.steps, guidance=cfg.guidance,
                    seed=cfg.seed + i, stems=cfg.stems)
        said = judges.predict(hear_at(clip.audio, clip.sample_rate, judges))
        asked = {"instrument": row["instrument_family"], "genre": row["genre"]}
        heard = {a: said[a][0] for a in asked}
        clips.append({"prompt": row["prompt"], "asked": asked, "heard": heard,
                      "right": heard == asked})
        if on_clip is not None:
            on_clip(i + 1)
    return {"right": sum(c["right"] for c in clips), "of": len(clips),
            **{f"{a}_right": sum(c["heard"][a] == c["asked"][a] for c in clips)
               for a in ("instrument", "genre")},
            "clips": clips}


def save_chart(report: dict[str, Any], path: str | Path, goal: float = 0.85) -> Path:
    """A PNG bar chart: each attribute's floor, generated, delivered and ceiling accuracy, with
    the goal (a share of the ceiling) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy_of = report["accuracy"]
    x = np.arange(len(ATTRIBUTES))
    width = 0.2
    colours = {"floor": "#bbbbbb", "generated": "#d95f02", "delivered": "#7570b3",
               "ceiling": "#1b9e77"}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for n, kind in enumerate(("floor", "generated", "delivered", "ceiling")):
        ax.bar(x + (n - 1.5) * width, [accuracy_of[kind][a] or 0.0 for a in ATTRIBUTES], width,
               label=kind, color=colours[kind])
    ax.scatter(x, [goal * (accuracy_of["ceiling"][a] or 0.0) for a in ATTRIBUTES], marker="_",
               s=900, color="black", label=f"goal ({goal:.0%} of the ceiling)", zorder=3)
    ax.set_xticks(x, ATTRIBUTES)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy of the judges")
    ax.set_title(f"adherence on {report['captions']} {report['split'].replace('_', '-')} "
                 f"captions", fontsize=10)
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False,
              markerscale=0.4)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
