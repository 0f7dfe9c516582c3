"""Does generated audio match its caption? Attribute accuracy on held-out combinations.

For captions of the (instrument, tempo, register) combinations that training never saw
(:data:`audio_gen.synth.HELD_OUT`), the pipeline generates clips and :mod:`audio_gen.analysis`
(signal measurements written independently of the synthesiser) says which register, tempo,
brightness and loudness it hears. The same measurement on real synthesiser clips of the same
attributes is the ceiling (and the same clips passed through the spectrogram codec show what a
perfect denoiser could reach); generation with guidance 0 (the text ignored) is the floor. Diversity
compares spectrograms generated with different seeds for one caption against two real renders
of the same attributes.

The validation split (``EvalConfig.split="validation"``) asks instead for new random draws of the
combinations training *does* see: a recipe is tuned on it, so that the held-out figures stay an
honest test.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audio_gen.analysis import classify, measure
from audio_gen.pipeline import TextToMusic
from audio_gen.synth import HELD_OUT, ClipSpec, caption, render, sample_spec

logger = logging.getLogger(__name__)

ATTRIBUTES = ("register", "tempo", "brightness", "loudness")
SPLITS = ("held_out", "validation")
VALIDATION_SEED = 7919  # added to the evaluation seed, so validation draws differ from training's


@dataclass
class EvalConfig:
    """Settings of an evaluation run.

    Parameters
    ----------
    captions_per_combo : int
        Captions (attribute draws) per held-out combination.
    seeds : int
        Generated clips per caption (different seeds; also used for diversity).
    steps, guidance, seconds : int, float, float
        Generation settings.
    seed : int
        Seeds the captions, the real clips and the first generation seed.
    split : {"held_out", "validation"}
        Held-out combinations (the test), or as many new draws of training combinations (for
        tuning a recipe).
    """

    captions_per_combo: int = 3
    seeds: int = 2
    steps: int = 50
    guidance: float = 3.0
    seconds: float = 4.0
    seed: int = 0
    split: str = "held_out"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")


@dataclass
class EvalItem:
    """One measured clip: ``kind`` is "real", "codec" (real through encode and decode),
    "generated" or "floor"."""

    caption: str
    spec: ClipSpec
    kind: str
    seed: int
    labels: dict[str, str | None]
    measurements: dict[str, Any]
    spectrogram: torch.Tensor

    def summary(self) -> dict[str, Any]:
        return {"caption": self.caption, "kind": self.kind, "seed": self.seed,
                "attributes": self.spec.as_dict(), "heard": self.labels,
                "measurements": self.measurements}


def evaluation_prompts(cfg: EvalConfig) -> list[tuple[ClipSpec, str]]:
    """Seeded attribute draws and full captions: ``captions_per_combo`` for every held-out
    combination, or (validation split) as many random draws of training combinations."""
    if cfg.split == "validation":
        rng = np.random.default_rng(cfg.seed + VALIDATION_SEED)
        specs = [sample_spec(rng, held_out="exclude")
                 for _ in range(cfg.captions_per_combo * len(HELD_OUT))]
        return [(spec, caption(spec, rng, drop=0.0)) for spec in specs]
    rng = np.random.default_rng(cfg.seed)
    prompts = []
    for instrument, tempo, register in sorted(HELD_OUT, key=str):
        fixed = {"instrument": instrument, "tempo": tempo}
        if register is not None:
            fixed["register"] = register
        for _ in range(cfg.captions_per_combo):
            spec = sample_spec(rng, held_out="only", fixed=fixed)
            prompts.append((spec, caption(spec, rng, drop=0.0)))
    return prompts


def accuracy(items: list[EvalItem]) -> dict[str, float | None]:
    """Share of clips whose heard attribute equals the caption's, per attribute (attributes a
    clip does not have, such as the register of drums, are skipped)."""
    result: dict[str, float | None] = {}
    for name in ATTRIBUTES:
        pairs = [(getattr(i.spec, name), i.labels[name]) for i in items
                 if getattr(i.spec, name) is not None]
        result[name] = (sum(want == heard for want, heard in pairs) / len(pairs)
                        if pairs else None)
    return result


def _mean_pairwise(images: list[torch.Tensor]) -> float:
    pairs = list(combinations(images, 2))
    return float(np.mean([(a - b).abs().mean().item() for a, b in pairs])) if pairs else math.nan


def _mean(values: list[float]) -> float | None:
    """Mean of the finite values (None when there are none, e.g. a single seed)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _measured(audio: np.ndarray, sample_rate: int, spec: ClipSpec) -> tuple[dict, dict]:
    m = measure(audio, sample_rate)
    return classify(m, pitched=spec.instrument != "drums"), m.as_dict()


def evaluate(
    pipeline: TextToMusic,
    cfg: EvalConfig,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[EvalItem]]:
    """Measure attribute accuracy of generated audio against ceiling and floor.

    Parameters
    ----------
    pipeline : TextToMusic
        The model under test.
    cfg : EvalConfig
        Settings.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each caption.

    Returns
    -------
    (dict, list of EvalItem)
        The report (accuracies, ratios to the ceiling, diversity, speed, settings) and every
        measured clip.
    """
    sr = pipeline.sample_rate
    prompts = evaluation_prompts(cfg)
    rng = np.random.default_rng(cfg.seed + 1)
    items: list[EvalItem] = []
    diversity_generated, diversity_real, real_time = [], [], []
    for n, (spec, text) in enumerate(prompts):
        real_images = []
        for copy in range(2):
            audio = render(spec, cfg.seconds, sr, rng)
            image = pipeline.codec.encode(torch.from_numpy(audio))
            real_images.append(image)
            if copy == 0:
                labels, values = _measured(audio, sr, spec)
                items.append(EvalItem(text, spec, "real", -1, labels, values, image))
                decoded = pipeline.codec.decode(image, samples=len(audio)).numpy()
                labels, values = _measured(decoded, sr, spec)
                items.append(EvalItem(text, spec, "codec", -1, labels, values, image))
        generated = []
        for s in range(cfg.seeds):
            # The model's own level is judged: the output stage's normalisation would set
            # the loudness attribute from the prompt's words, not from what the model made.
            out = pipeline(text, cfg.seconds, cfg.steps, cfg.guidance, seed=cfg.seed + s,
                           normalise_loudness=False)
            real_time.append(cfg.seconds / out.timings["total"])
            labels, values = _measured(out.audio, sr, spec)
            values["clock_bpm"] = out.bpm
            values["key"] = out.key
            items.append(EvalItem(text, spec, "generated", cfg.seed + s, labels, values,
                                  out.spectrogram))
            generated.append(out.spectrogram)
        out = pipeline(text, cfg.seconds, cfg.steps, 0.0, seed=cfg.seed, normalise_loudness=False)
        labels, values = _measured(out.audio, sr, spec)
        values["clock_bpm"] = out.bpm
        items.append(EvalItem(text, spec, "floor", cfg.seed, labels, values, out.spectrogram))
        diversity_generated.append(_mean_pairwise(generated))
        diversity_real.append(_mean_pairwise(real_images))
        if on_progress is not None:
            on_progress(n + 1, len(prompts))

    by_kind = {k: accuracy([i for i in items if i.kind == k])
               for k in ("real", "codec", "generated", "floor")}
    ratio = {a: (by_kind["generated"][a] / by_kind["real"][a]
                 if by_kind["real"][a] else None) for a in ATTRIBUTES}
    report = {
        "prompts": len(prompts),
        "split": cfg.split,
        "held_out_combinations": len(HELD_OUT),
        "accuracy": {"ceiling (real clips)": by_kind["real"],
                     "real clips through the codec": by_kind["codec"],
                     "generated": by_kind["generated"],
                     "floor (guidance 0)": by_kind["floor"]},
        "generated / ceiling": ratio,
        "diversity": {
            "generated across seeds": _mean(diversity_generated),
            "real renders of the same attributes": _mean(diversity_real),
        },
        "real_time_factor": float(np.mean(real_time)) if real_time else None,
        "settings": asdict(cfg),
    }
    return report, items


def save_grid(items: list[EvalItem], path: str | Path, rows: int = 10) -> Path:
    """A PNG grid: one row per caption (the first of each held-out combination), columns real
    clip, generated clips and the guidance-0 floor, with the caption above each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    captions = list(dict.fromkeys(i.caption for i in items))
    seen_combos, chosen = set(), []
    for text in captions:
        spec = next(i.spec for i in items if i.caption == text)
        if spec.combination not in seen_combos:
            seen_combos.add(spec.combination)
            chosen.append(text)
    chosen = chosen[:rows]
    columns = max(sum(1 for i in items if i.caption == t and i.kind != "codec")
                  for t in chosen)
    fig, axes = plt.subplots(len(chosen), columns, figsize=(3.2 * columns, 2.1 * len(chosen)),
                             squeeze=False, gridspec_kw={"hspace": 0.75, "wspace": 0.05})
    for r, text in enumerate(chosen):
        row = [i for i in items if i.caption == text and i.kind != "codec"]
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            item = row[c]
            ax.imshow(item.spectrogram.numpy(), origin="lower", aspect="auto", vmin=-1, vmax=1,
                      cmap="magma")
            name = {"real": "real clip", "floor": "guidance 0"}.get(item.kind,
                                                                   f"seed {item.seed}")
            heard = ", ".join(v for k, v in item.labels.items() if v)
            ax.set_title(f"{name} - heard: {heard}", fontsize=7)
        axes[r, 0].annotate(f'"{text}"', xy=(0.0, 1.32), xycoords="axes fraction", fontsize=8,
                            fontweight="bold", ha="left", va="bottom", annotation_clip=False)
    fig.subplots_adjust(left=0.02, right=0.99, top=1 - 0.35 / len(chosen), bottom=0.01)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
