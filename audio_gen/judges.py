"""Judges of what a clip sounds like, learnt from real soundfont renders: instrument family
(of the melody), genre, tempo class, mode and loudness class.

Issue 17 asks for adherence measured by classifiers trained on real renders: a judge is trained
on renders of the combinations training draws, then asked about clips of combinations it never
heard (:data:`audio_gen.arrange.HELD_OUT`). Its accuracy on real renders of those captions is
the *ceiling* a generator can reach; against the captions shuffled among the clips it is the
*floor*; on generated clips, the generator's adherence.

Features are summaries a listener's attributes live in, computed from the waveform alone:
log-mel band means and spreads (timbre, register, brightness), the autocorrelation of the onset
strength at log-spaced tempi (pulse, as in :mod:`audio_gen.analysis`), key-invariant major and
minor profile correlations of the chroma (mode) and the integrated loudness. Each attribute's
judge is a multinomial logistic regression on the standardised features (torch, L-BFGS).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audio_gen.analysis import ONSET_HOP, onset_strength
from audio_gen.arrange import Arrangement
from audio_gen.loudness import integrated_loudness
from audio_gen.styles import INSTRUMENTS

ATTRIBUTES = ("instrument", "genre", "tempo", "mode", "loudness")
# Krumhansl-Kessler key profiles (major, minor), tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
N_MELS, N_FFT, TEMPI = 48, 2048, np.geomspace(50.0, 200.0, 32)


def labels(arrangement: Arrangement) -> dict[str, str]:
    """What a clip's caption says of each judged attribute."""
    return {"instrument": INSTRUMENTS[arrangement.lead].family, "genre": arrangement.style,
            "tempo": arrangement.tempo, "mode": arrangement.mode,
            "loudness": arrangement.loudness}


def _mel_filters(sample_rate: int) -> np.ndarray:
    """(N_MELS, N_FFT/2+1) triangular mel filters from 40 Hz to Nyquist."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(40.0), mel(sample_rate / 2), N_MELS + 2))
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - low) / np.maximum(centre - low, 1e-9)
    falling = (high - freqs) / np.maximum(high - centre, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The feature vector of one clip (float32)."""
    audio = np.asarray(audio, np.float64)
    hop = N_FFT // 4
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2))
    count = 1 + (len(padded) - N_FFT) // hop
    frames = np.lib.stride_tricks.as_strided(
        padded, (count, N_FFT), (padded.strides[0] * hop, padded.strides[0]))
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=1)) ** 2
    log_mel = np.log(power @ _mel_filters(sample_rate).T + 1e-10)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    pitched = (freqs > 55.0) & (freqs < 2000.0)
    pitch_class = np.round(12 * np.log2(freqs[pitched] / 440.0)).astype(int) % 12
    chroma = np.zeros(12)
    np.add.at(chroma, pitch_class, np.sqrt(power[:, pitched]).sum(0))
    chroma /= max(chroma.sum(), 1e-12)

    def fit(profile):  # 0 for a clip without pitched energy (silence, drums alone)
        if np.ptp(chroma) == 0:
            return 0.0
        return max(np.corrcoef(np.roll(profile, k), chroma)[0, 1] for k in range(12))

    onset = onset_strength(audio, sample_rate, ONSET_HOP)
    onset = onset - onset.mean()
    rate = sample_rate / ONSET_HOP
    auto = np.correlate(onset, onset, "full")[len(onset) - 1:]
    auto = auto / max(auto[0], 1e-12)
    lags = np.clip(np.round(60.0 * rate / TEMPI).astype(int), 1, len(auto) - 1)
    loudness = integrated_loudness(audio, sample_rate)
    major, minor = fit(MAJOR), fit(MINOR)
    return np.concatenate([log_mel.mean(0), log_mel.std(0), auto[lags],
                           [major, minor, major - minor, max(loudness, -70.0)]]
                          ).astype(np.float32)


@dataclass
class Judge:
    """One attribute's classifier: class names, feature standardisation, weights."""

    attribute: str
    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (F + 1, C), the last row the bias

    @classmethod
    def fit(cls, attribute: str, x: np.ndarray, y: Sequence[str], l2: float = 1e-2) -> Judge:
        classes = sorted(set(y))
        mean, scale = x.mean(0), x.std(0) + 1e-6
        inputs = torch.from_numpy(np.c_[(x - mean) / scale, np.ones(len(x))]).float()
        target = torch.tensor([classes.index(v) for v in y])
        weights = torch.zeros(inputs.shape[1], len(classes), requires_grad=True)
        optimiser = torch.optim.LBFGS([weights], max_iter=200, line_search_fn="strong_wolfe")

        def loss():
            optimiser.zero_grad()
            value = torch.nn.functional.cross_entropy(inputs @ weights, target) + l2 * (
                weights[:-1] ** 2).sum()
            value.backward()
            return value

        optimiser.step(loss)
        return cls(attribute, classes, mean, scale, weights.detach().numpy())

    def predict(self, x: np.ndarray) -> list[str]:
        scores = np.c_[(x - self.mean) / self.scale, np.ones(len(x))] @ self.weights
        return [self.classes[i] for i in scores.argmax(1)]

    def as_dict(self) -> dict:
        return {"attribute": self.attribute, "classes": self.classes,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Judge:
        return cls(data["attribute"], list(data["classes"]),
                   *(np.asarray(data[k], np.float32) for k in ("mean", "scale", "weights")))


def fit_judges(x: np.ndarray, truth: Sequence[dict[str, str]]) -> dict[str, Judge]:
    """A judge per attribute from clips' features and labels."""
    return {a: Judge.fit(a, x, [t[a] for t in truth]) for a in ATTRIBUTES}


def accuracy(judges: dict[str, Judge], x: np.ndarray, truth: Sequence[dict[str, str]]
             ) -> dict[str, float]:
    """Share of clips whose judged attribute is the one their caption says."""
    return {a: float(np.mean([p == t[a] for p, t in zip(judge.predict(x), truth, strict=True)]))
            for a, judge in judges.items()}


def rendered_set(count: int, seed: int, held_out: str, seconds: float, sample_rate: int
                 ) -> tuple[np.ndarray, list[dict[str, str]], list[str]]:
    """Features, labels and captions of `count` seeded soundfont renders (``held_out`` as for
    :func:`audio_gen.arrange.sample_arrangement`: "exclude" for the judges' training,
    "only" for the held-out combinations)."""
    from audio_gen.render import Renderer, make_clip  # FluidSynth: Debian's libfluidsynth3

    renderer, rng = Renderer(sample_rate), np.random.default_rng(seed)
    x, truth, captions = [], [], []
    for _ in range(count):
        clip = make_clip(rng, renderer, seconds, held_out=held_out)
        x.append(features(clip.audio, sample_rate))
        truth.append(labels(clip.spec))
        captions.append(clip.caption)
    return np.stack(x), truth, captions


def save_judges(judges: dict[str, Judge], path: Path) -> None:
    path.write_text(json.dumps({a: j.as_dict() for a, j in judges.items()}) + "\n")


def load_judges(path: Path) -> dict[str, Judge]:
    return {a: Judge.from_dict(d) for a, d in json.loads(path.read_text()).items()}
