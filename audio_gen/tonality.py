"""The key grid: a clip's key and mode laid out mel row by mel row for the denoiser to follow.

Why it exists: the beat clock (:mod:`audio_gen.rhythm`) showed that a small denoiser learns what
notes sound like long before it learns where to put them, and that telling it outright fixes
that. Mode was the same: asked for "minor" or "sad", the models played the notes of no key in
particular and the mode judge heard them at the floor (bench/README.md, issue 17). The key grid
tells the denoiser which mel rows hold the notes of the key's scale, of its tonic chord and of
its tonic, as the beat clock tells it which frames hold beats. Training lays out each clip's
real key; generation lays out the key the prompt asks for ("in D minor"), or a seeded tonic in
the mode its words ask for ("minor", "sad"), or none (zeros: the model's own choice).

A mel band near middle C spans about a semitone and a half, so the low rows carry little of a
key: each row holds the share of its band (weighted as its triangular filter weighs it) that
lies on the set's pitch classes, so blurred rows come out near the chance level, which is
subtracted.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import torch

from audio_gen.arrange import MODES
from audio_gen.captions import KEYS
from audio_gen.codec import CodecConfig, mel_to_hz

#: Channels of the grid: the scale's pitch classes, the tonic triad's, the tonic's.
KEY_CHANNELS = 3
#: How a prompt's mood words imply the mode: the soundfont captions' mood is the mode's
#: (:attr:`audio_gen.arrange.Arrangement.mood`; "aggressive" is metal's, of either mode).
MOOD_MODES = {"calm": "major", "happy": "major", "sad": "minor", "dark": "minor"}

_SPELLINGS = {name.lower(): pc for pc, name in enumerate(KEYS)} | {
    "db": 1, "d#": 3, "gb": 6, "g#": 8, "a#": 10}
_STATED_KEY = re.compile(r"\bin ([a-g](?:#|b)?)[ -]?(major|minor)\b", re.IGNORECASE)
_SAMPLES_PER_BAND = 33
_PITCH_BLUR = 0.25  # semitones: a note's partials are not exactly tempered


def key_name(tonic: int, mode: str) -> str:
    """"D minor" for (2, "minor")."""
    return f"{KEYS[tonic % 12]} {mode}"


def stated_key(text: str) -> tuple[int, str] | None:
    """The key a prompt names ("in D minor", "in Bb major"): (tonic pitch class, mode)."""
    match = _STATED_KEY.search(text)
    if match is None:
        return None
    return _SPELLINGS[match.group(1).lower()], match.group(2).lower()


def pitch_sets(tonic: int, mode: str) -> list[set[int]]:
    """The grid's three pitch-class sets of a key: its scale, its tonic triad, its tonic."""
    scale = [(tonic + step) % 12 for step in MODES[mode]]
    return [set(scale), {scale[0], scale[2], scale[4]}, {scale[0]}]


def band_pitch_classes(codec: CodecConfig) -> np.ndarray:
    """(n_mels, 12): each mel band's weight on each pitch class (rows sum to 1), as its
    triangular filter weighs the frequencies it spans."""
    points = codec.mel_points(torch.float64).numpy()
    # Sample each band's triangle (in mel) and weigh the samples as the filter does.
    offsets = np.linspace(0.0, 2.0, _SAMPLES_PER_BAND)
    weights = 1.0 - np.abs(offsets - 1.0)
    spacing = points[1] - points[0]
    mels = points[:-2, None] + offsets[None, :] * spacing  # (M, S)
    hz = mel_to_hz(mels)
    pitch = 69.0 + 12.0 * np.log2(np.maximum(hz, 1e-3) / 440.0)
    notes = np.arange(-24, 150)
    near = np.exp(-0.5 * ((pitch[..., None] - notes) / _PITCH_BLUR) ** 2)  # (M, S, N)
    near /= near.sum(-1, keepdims=True)
    per_class = np.stack([near[..., notes % 12 == pc].sum(-1) for pc in range(12)], -1)
    profile = (per_class * weights[None, :, None]).sum(1)
    return profile / profile.sum(-1, keepdims=True)


class KeyGrid:
    """Lays out keys for one codec's mel bands.

    Parameters
    ----------
    codec : CodecConfig
        The spectrogram's bands.
    """

    def __init__(self, codec: CodecConfig) -> None:
        classes = band_pitch_classes(codec)  # (M, 12)
        table = np.zeros((2, 12, KEY_CHANNELS, codec.n_mels))
        for m, mode in enumerate(MODES):
            for tonic in range(12):
                for c, members in enumerate(pitch_sets(tonic, mode)):
                    share = classes[:, sorted(members)].sum(-1)
                    chance = len(members) / 12.0
                    table[m, tonic, c] = (share - chance) / math.sqrt(chance * (1 - chance))
        self.table = torch.tensor(table, dtype=torch.float32)  # (mode, tonic, C, M)

    @staticmethod
    def of(codec: CodecConfig) -> KeyGrid:
        """The grid of a codec's bands, made once per process (training asks every step)."""
        return _grid(codec.n_mels, codec.f_min, codec.f_max)

    def __call__(self, tonic: torch.Tensor, minor: torch.Tensor) -> torch.Tensor:
        """The grids (B, 3, n_mels) of a batch of keys: ``tonic`` (B,) pitch classes 0-11 and
        ``minor`` (B,) 1 for minor, 0 for major; NaN in either gives zeros (no key)."""
        tonic = torch.as_tensor(tonic, dtype=torch.float32).reshape(-1)
        minor = torch.as_tensor(minor, dtype=torch.float32).reshape(-1)
        known = torch.isfinite(tonic) & torch.isfinite(minor)
        rows = self.table[torch.where(known, minor, 0).long().clamp(0, 1),
                          torch.where(known, tonic, 0).long() % 12]
        return rows * known[:, None, None]


@functools.lru_cache(maxsize=8)
def _grid(n_mels: int, f_min: float, f_max: float) -> KeyGrid:
    return KeyGrid(CodecConfig(n_mels=n_mels, f_min=f_min, f_max=f_max))
