"""Loudness: integrated LUFS (ITU-R BS.1770-4, with pyloudnorm) and a true-peak limiter.

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
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

TARGETS = {"quiet": -24.0, "normal": -16.0, "loud": -11.0}  # integrated LUFS
CEILING_DBTP = -1.0  # true-peak ceiling in dB
MAX_GAIN_DB = 30.0  # a near-silent clip is raised at most this much (not noise to -16 LUFS)
BLOCK_S = 0.4  # BS.1770 gating block


@functools.cache
def _meter(sample_rate: int):
    import pyloudnorm  # small, but only loaded where loudness is measured

    return pyloudnorm.Meter(sample_rate, block_size=BLOCK_S)


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (-inf for silence).

    A clip shorter than the 0.4 s gating block is measured looped to that length (the loudness
    of a loop is that of the clip).
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(audio) or not np.any(audio):
        return -math.inf
    block = math.ceil(BLOCK_S * sample_rate) + 1
    if len(audio) < block:
        audio = np.tile(audio, math.ceil(block / len(audio)))
    return float(_meter(sample_rate).integrated_loudness(audio))


def true_peak(audio: np.ndarray, oversample: int = 4) -> float:
    """The true peak (linear): the largest magnitude of the 4x oversampled signal."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not len(audio):
        return 0.0
    return float(max(np.abs(signal.resample_poly(audio, oversample, 1)).max(),
                     np.abs(audio).max()))


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
    peaks = np.abs(signal.resample_poly(audio, 4, 1)[: 4 * len(audio)]).reshape(-1, 4).max(1)
    peaks = np.maximum(peaks, np.abs(audio))
    need = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if need.min() >= 1.0:
        return audio.astype(np.float32)
    ahead = max(1, round(lookahead * sample_rate))
    spread = ndimage.minimum_filter1d(need, size=2 * ahead + 1 + round(hold * sample_rate))
    gain = np.minimum(ndimage.uniform_filter1d(spread, size=2 * ahead + 1), need)
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
