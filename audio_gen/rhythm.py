"""The beat clock: a tempo and a first beat, laid out frame by frame for the denoiser to follow.

Why it exists: a denoiser of convolutions and attention learns what notes sound like long before
it learns to space them evenly. Asked for "slow" music, the U-Net without a clock placed notes at
one irregular rate whatever the caption said (tempo accuracy 0.35 of the ceiling, with the other
attributes near 0.9). Mustango (Melechovsky et al., 2023) met the same problem and answered it
the same way: predict the beats from the text, then condition the diffusion model on them.

Here the tempo is read from the prompt by a small head on the text encoder's token states
(:class:`TempoHead`, trained beside the denoiser on the captions' true BPM), or given outright
(``--bpm``). Training lays out each clip's real beat grid; generation lays out the predicted one.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from torch import nn

from audio_gen.request import BPM_RANGE

#: Channels of the clock: a pulse on every beat, and the cosine and sine of the beat phase.
BEAT_CHANNELS = 3
#: Where generation puts the first beat (training clips start within 0-0.15 s).
FIRST_BEAT_S = 0.05

_LOG_BPM_CENTRE = math.log(100.0)
_LOG_BPM_SCALE = 0.5


def beat_grid(
    bpm: torch.Tensor, first_beat: torch.Tensor, frames: int, frame_rate: float,
    width: float = 1.0,
) -> torch.Tensor:
    """The clock of a batch of clips, one column per spectrogram frame.

    Parameters
    ----------
    bpm : Tensor (B,)
        Beats per minute; NaN (or <= 0) where the beat is unknown, which gives an all-zero clock.
    first_beat : Tensor (B,)
        Time of the first beat in seconds.
    frames : int
        Frames of the spectrogram (frame ``k`` is centred at ``k / frame_rate`` seconds).
    frame_rate : float
        Frames per second.
    width : float
        Standard deviation of each pulse, in frames.

    Returns
    -------
    Tensor (B, 3, frames)
        Pulse (1 on a beat, falling off within a frame or two; none before the first beat),
        cos and sin of 2 pi x the beat phase.
    """
    bpm = torch.as_tensor(bpm, dtype=torch.float32).reshape(-1, 1)
    first_beat = torch.as_tensor(first_beat, dtype=torch.float32).reshape(-1, 1)
    known = torch.isfinite(bpm) & (bpm > 0) & torch.isfinite(first_beat)
    bpm = torch.where(known, bpm, torch.ones_like(bpm))
    first_beat = torch.where(known, first_beat, torch.zeros_like(first_beat))
    seconds = torch.arange(frames, dtype=torch.float32)[None] / frame_rate  # (1, T)
    phase = (seconds - first_beat) * bpm / 60.0  # beats since the first beat, (B, T)
    frames_per_beat = 60.0 * frame_rate / bpm
    distance = (phase - torch.round(phase)) * frames_per_beat  # frames to the nearest beat
    pulse = torch.exp(-0.5 * (distance / width) ** 2) * (phase > -0.5)
    angle = 2.0 * math.pi * phase
    grid = torch.stack([pulse, torch.cos(angle), torch.sin(angle)], dim=1)  # (B, 3, T)
    return grid * known[:, :, None]


def estimate_beat(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """BPM and first beat (seconds) of a clip, for audio that comes without them.

    The tempo is the analysis's (:func:`audio_gen.analysis.tempo_of_onsets`); the first beat is
    the phase whose pulse train at that tempo collects the most of the same onset strength.
    Returns NaNs when no beat is heard.
    """
    from audio_gen.analysis import ONSET_HOP, onset_strength, tempo_of_onsets

    onset = onset_strength(audio, sample_rate, ONSET_HOP)
    frame_rate = sample_rate / ONSET_HOP
    bpm = tempo_of_onsets(onset, frame_rate)
    if bpm is None:
        return math.nan, math.nan
    period = 60.0 * frame_rate / bpm
    offsets = np.arange(int(np.ceil(period)))
    beats = np.arange(0.0, len(onset), period)
    index = np.round(offsets[:, None] + beats[None, :]).astype(int)
    scores = np.where(index < len(onset), onset[np.minimum(index, len(onset) - 1)], 0.0).sum(1)
    return float(bpm), float(offsets[int(np.argmax(scores))] / frame_rate)


class TempoHead(nn.Module):
    """Reads the tempo a prompt asks for from its token states.

    Attention pooling (one learned score per token, softmax over the real tokens) picks out the
    words that speak of tempo, and a small MLP turns them into log-BPM. Pooling the tokens this
    way matters: from the encoder's mean-pooled vector, where the tempo word is one of a dozen,
    the same MLP told slow, medium and fast apart in 90% of captions, against 100% here (on
    held-out combinations too). Trained with the denoiser (:meth:`loss`) on the captions of the
    training clips; for the empty prompt it learns the average tempo.
    """

    def __init__(self, text_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.score = nn.Linear(text_dim, 1)
        self.net = nn.Sequential(nn.Linear(text_dim, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Standardised log-BPM, (B, L, text_dim) -> (B,).

        ``mask`` is what the denoiser's cross-attention takes: bool (True on real tokens) or an
        additive bias (``-inf`` on padding, log-weights of mixed prompts).
        """
        tokens = tokens.float()
        if mask is None:
            bias = tokens.new_zeros(tokens.shape[:2])
        elif mask.dtype == torch.bool:
            bias = torch.zeros(mask.shape).masked_fill(~mask, -torch.inf)
        else:
            bias = mask.float()
        real = torch.isfinite(bias)
        scores = (self.score(tokens).squeeze(-1) + bias).masked_fill(~real, -1e4)
        weights = torch.softmax(scores, dim=-1) * real  # no real token: a zero vector
        return self.net((weights[..., None] * tokens).sum(1)).squeeze(-1)

    def bpm(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted beats per minute, (B,)."""
        value = torch.exp(self(tokens, mask) * _LOG_BPM_SCALE + _LOG_BPM_CENTRE)
        return value.clamp(*BPM_RANGE)

    def loss(
        self, tokens: torch.Tensor, mask: torch.Tensor | None, bpm: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared error in standardised log-BPM over the clips whose BPM is known."""
        known = torch.isfinite(bpm) & (bpm > 0)
        if not bool(known.any()):
            return tokens.new_zeros((), dtype=torch.float32)
        target = (torch.log(bpm[known]) - _LOG_BPM_CENTRE) / _LOG_BPM_SCALE
        prediction = self(tokens[known], None if mask is None else mask[known])
        return torch.nn.functional.mse_loss(prediction, target)


_STATED_BPM = re.compile(r"\b(\d{2,3}(?:\.\d+)?)\s*bpm\b", re.IGNORECASE)


def stated_bpm(text: str) -> float | None:
    """The tempo a prompt gives as a number ("... at 140 BPM"), or None."""
    found = _STATED_BPM.search(text)
    if found is None:
        return None
    bpm = float(found.group(1))
    return bpm if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None


def training_tempo_classes(data: str | None) -> dict[str, tuple[float, float]] | None:
    """The BPM range of each tempo word ("slow", "medium", "fast") in a model's training
    captions, by its data source (a model folder's ``meta["data"]``); None for a folder of
    captioned audio, whose words have no ranges."""
    if data == "soundfont":
        from audio_gen.styles import TEMPO_CLASSES

        return dict(TEMPO_CLASSES)
    if data in (None, "synth"):
        from audio_gen.synth import TEMPI

        return dict(TEMPI)
    return None


def keep_within(bpm: float, bounds: tuple[float, float], margin: float = 0.25) -> float:
    """``bpm`` moved into the middle of ``bounds`` (``margin`` of the range's width in log-BPM
    off each end), or kept when it lies there already.

    Why: the tempo head regresses towards the tempo a genre usually has, so for a pairing
    training never drew ("a fast string quartet") it reads a tempo near the class boundary, or
    on the wrong side of it (bench/README.md, "Issue 17, fifth part"). A clock well
    inside the class the prompt names is what the prompt asks for.
    """
    low, high = (math.log(b) for b in bounds)
    inset = margin * (high - low)
    return float(math.exp(min(max(math.log(bpm), low + inset), high - inset)))
