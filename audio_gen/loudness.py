"""Loudness: integrated LUFS (ITU-R BS.1770-4) and a true-peak limiter.

Every clip that leaves the pipeline, and every training render, goes through
:func:`normalise`: a gain to the target loudness, then a look-ahead limiter so that the true
peak (4x oversampled) stays under the ceiling, then (when the limiter took loudness away) one
more round. No sample reaches full scale, so the 16-bit WAV writer never clips.

What a user expects from "quiet" and "loud": a quiet piece should still be quieter than a
normal one when both play at the same volume setting, and a loud one louder. So the target is
not one number but one per requested loudness (:data:`TARGETS`): -16 LUFS (the common level of
streamed music on phones and the web) for prompts that say nothing about it, -24 LUFS for
quiet ones and -11 LUFS for loud ones. The pipeline picks it from what the prompt asks for
(:mod:`audio_gen.understanding`).

Everything here runs on torch(audio) and numpy, which the generator has loaded already. The
meter, the oversampling and the limiter's filters once came from pyloudnorm and scipy.signal /
scipy.ndimage, whose import was about a tenth of a whole `songspace generate`; tests check
that they give the same figures as those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional as AF

TARGETS = {"quiet": -24.0, "normal": -16.0, "loud": -11.0}  # integrated LUFS
CEILING_DBTP = -1.0  # true-peak ceiling in dB
MAX_GAIN_DB = 30.0  # a near-silent clip is raised at most this much (not noise to -16 LUFS)
BLOCK_S = 0.4  # BS.1770 gating block


def _k_filters(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770's K-weighting as two biquads (b, a), from the Audio EQ Cookbook's formulas (as
    pyloudnorm designs them): a +4 dB high shelf at 1,500 Hz, then a high-pass at 38 Hz."""
    def design(kind: str, gain_db: float, q: float, freq: float):
        big_a, w0 = 10.0 ** (gain_db / 40.0), 2.0 * math.pi * freq / sample_rate
        cos, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
        if kind == "high shelf":
            root = 2.0 * math.sqrt(big_a) * alpha
            b = [big_a * ((big_a + 1) + (big_a - 1) * cos + root),
                 -2.0 * big_a * ((big_a - 1) + (big_a + 1) * cos),
                 big_a * ((big_a + 1) + (big_a - 1) * cos - root)]
            a = [(big_a + 1) - (big_a - 1) * cos + root, 2.0 * ((big_a - 1) - (big_a + 1) * cos),
                 (big_a + 1) - (big_a - 1) * cos - root]
        else:  # high pass
            b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
            a = [1 + alpha, -2.0 * cos, 1 - alpha]
        return np.array(b) / a[0], np.array(a) / a[0]

    return [design("high shelf", 4.0, 1 / math.sqrt(2), 1500.0),
            design("high pass", 0.0, 0.5, 38.0)]


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4; -inf for silence, or when every block is
    under the -70 LUFS gate).

    A clip shorter than the 0.4 s gating block is measured looped to that length (the loudness
    of a loop is that of the clip). torchaudio's own ``loudness`` is not used: its filters clip
    their output at full scale, which understates a loud clip before it is normalised.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(audio) or not np.any(audio):
        return -math.inf
    block = math.ceil(BLOCK_S * sample_rate) + 1
    if len(audio) < block:
        audio = np.tile(audio, math.ceil(block / len(audio)))
    weighted = torch.from_numpy(audio)[None]
    for b, a in _k_filters(sample_rate):
        weighted = AF.lfilter(weighted, torch.from_numpy(a), torch.from_numpy(b), clamp=False)
    energy = np.concatenate([[0.0], np.cumsum(weighted[0].numpy() ** 2)])
    # Blocks of 0.4 s every 0.1 s, bounded as pyloudnorm bounds them.
    count = round((len(audio) / sample_rate - BLOCK_S) / (BLOCK_S * 0.25)) + 1
    steps = np.arange(count) * 0.25
    starts = np.minimum((BLOCK_S * steps * sample_rate).astype(int), len(audio))
    ends = np.minimum((BLOCK_S * (steps + 1) * sample_rate).astype(int), len(audio))
    mean_square = (energy[ends] - energy[starts]) / (BLOCK_S * sample_rate)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(mean_square)
    kept = block_lufs >= -70.0  # the absolute gate
    if not kept.any():
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(mean_square[kept].mean()) - 10.0
    kept &= block_lufs > relative
    return -0.691 + 10.0 * math.log10(mean_square[kept].mean())


def _oversampled(audio: np.ndarray, factor: int = 4) -> np.ndarray:
    """``audio`` at ``factor`` times its rate (windowed-sinc interpolation)."""
    return AF.resample(torch.from_numpy(audio), 1, factor).numpy()


def true_peak(audio: np.ndarray, oversample: int = 4) -> float:
    """The true peak (linear): the largest magnitude of the 4x oversampled signal."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(audio):
        return 0.0
    return float(max(np.abs(_oversampled(audio, oversample)).max(), np.abs(audio).max()))


def _centred(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded for a centred window of ``size`` (mirrored at the ends, the edge
    sample repeated), so that window ``i`` of the result is centred on sample ``i``."""
    return np.pad(values, (size // 2, (size - 1) // 2), mode="symmetric")


def sliding_min(values: np.ndarray, size: int) -> np.ndarray:
    """The minimum over a centred window of ``size`` samples at every sample."""
    padded = torch.from_numpy(-_centred(values, size))[None, None]
    return -torch.nn.functional.max_pool1d(padded, size, stride=1)[0, 0].numpy()


def sliding_mean(values: np.ndarray, size: int) -> np.ndarray:
    """The mean over a centred window of ``size`` samples at every sample."""
    sums = np.concatenate([[0.0], np.cumsum(_centred(values, size))])
    return (sums[size:] - sums[:-size]) / size


def limit(audio: np.ndarray, sample_rate: int, ceiling_db: float = CEILING_DBTP,
          lookahead: float = 0.005, hold: float = 0.03) -> np.ndarray:
    """A look-ahead peak limiter: true peaks stay under ``ceiling_db``.

    The gain each sample needs (ceiling over its oversampled peak) is spread by a minimum filter
    over the look-ahead plus a hold time, then smoothed by a moving average no wider than the
    minimum filter, so the smoothed gain never exceeds what any sample needs, attacks before a
    peak arrives and releases after it.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    if not len(audio):
        return audio.astype(np.float32)
    peaks = np.abs(_oversampled(audio)[: 4 * len(audio)]).reshape(-1, 4).max(1)
    peaks = np.maximum(peaks, np.abs(audio))
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if need.min() >= 1.0:
        return audio.astype(np.float32)
    ahead = max(1, round(lookahead * sample_rate))
    spread = sliding_min(need, 2 * ahead + 1 + round(hold * sample_rate))
    gain = np.minimum(sliding_mean(spread, 2 * ahead + 1), need)
    out = audio * gain
    over = true_peak(out) / ceiling  # the gain ramps can let an interpolated peak through
    if over > 1.0:
        out /= over * 1.0001
    return out.astype(np.float32)


@dataclass
class LoudnessReport:
    """What :func:`normalise` did: loudness before and after (LUFS), gain and true peak (dB)."""

    before_lufs: float
    after_lufs: float
    gain_db: float
    true_peak_db: float
    target_lufs: float

    def as_dict(self) -> dict:
        return {k: (None if not math.isfinite(v) else round(v, 2))
                for k, v in self.__dict__.items()}


def normalise(
    audio: np.ndarray, sample_rate: int, target_lufs: float = TARGETS["normal"],
    ceiling_db: float = CEILING_DBTP, max_gain_db: float = MAX_GAIN_DB,
) -> tuple[np.ndarray, LoudnessReport]:
    """Bring a clip to ``target_lufs`` with its true peak under ``ceiling_db``.

    Parameters
    ----------
    audio : ndarray (S,)
        Mono float audio.
    sample_rate : int
        Its rate in Hz.
    target_lufs : float
        Integrated loudness wanted (see :data:`TARGETS`).
    ceiling_db : float
        True-peak ceiling in dBTP (below 0, so no sample reaches full scale).
    max_gain_db : float
        Most gain applied (a near-silent clip stays quiet rather than raising its noise).

    Returns
    -------
    (ndarray (S,) float32, LoudnessReport)
    """
    if ceiling_db >= 0:
        raise ValueError(f"ceiling_db must be below 0 dBTP, got {ceiling_db}")
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    before = integrated_loudness(audio, sample_rate)
    if not np.any(audio):  # silence: nothing to normalise, nothing to clip
        return audio.astype(np.float32), LoudnessReport(before, before, 0.0, -math.inf,
                                                        target_lufs)
    # Below the -70 LUFS gate everything is gated out: judge the level by its plain energy.
    level = before if math.isfinite(before) else (
        10.0 * math.log10(np.mean(audio**2)) - 0.691)
    gain_db = min(target_lufs - level, max_gain_db)
    out = limit(audio * 10.0 ** (gain_db / 20.0), sample_rate, ceiling_db)
    after = integrated_loudness(out, sample_rate)
    if target_lufs - after > 0.5 and gain_db < max_gain_db:  # the limiter took some away
        extra = min(target_lufs - after, 6.0, max_gain_db - gain_db)
        out = limit(out * 10.0 ** (extra / 20.0), sample_rate, ceiling_db)
        gain_db += extra
        after = integrated_loudness(out, sample_rate)
    peak = true_peak(out)
    return out, LoudnessReport(before, after, gain_db,
                               20.0 * math.log10(peak) if peak > 0 else -math.inf, target_lufs)
