"""Judges of what a clip sounds like, learnt from real soundfont renders: instrument family
(of the melody), genre, tempo class, mode and loudness class.

Issue 17 asks for adherence measured by classifiers trained on real renders. A judge's accuracy
on real renders of the held-out combinations (:data:`audio_gen.arrange.HELD_OUT`) is the
*ceiling* a generator can reach; against the captions shuffled among the clips it is the
*floor*; on generated clips, the generator's adherence.

The judges are measuring instruments, not the generator, so they train on renders of *every*
combination, held-out pairs included (``held_out="any"``); what they are tested on are other
renders (another seed) of the held-out combinations. The held-out restriction is the
generator's: a generator that never heard a vibraphone in jazz is asked for one, and the judge
that checks it should know what a vibraphone sounds like wherever it plays. Judges trained
without those pairs learnt which instruments and tempi go with which genre instead of what
they sound like, and failed exactly on the held-out clips (instrument 0.38, tempo 0.49).

What the judges read of a clip (:class:`Heard`, from the waveform alone):

* a log-mel spectrogram, for a small convolutional net with one head for the melody's
  instrument family and one for the genre (timbre is in the spectrogram's texture, which band
  means cannot hold);
* the pulse: the autocorrelation of the onset strength of low, middle, high and all bands at
  96 log-spaced tempi, with :func:`audio_gen.analysis.tempo_of_onsets`'s estimate, read by a
  small MLP together with the log-mel band means and spreads (which tell it, for instance,
  that arpeggiated eighths in a ballad are not its beat);
* chroma of the whole clip, its bass, its treble, its first and its last quarter, read by
  learnt key profiles: each mode scores the chroma rotated to each of the 12 tonics, trained on
  key and mode together (a clip's key is in its arrangement), and the mode's score is the
  log-sum over tonics. Major and its relative minor share their notes; the bass and the
  clip's first and last chords say which note is home;
* the level: integrated loudness, peak, RMS and crest factor, for a logistic regression.

Everything trains on one CPU thread in a few minutes (torch, seeded).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from audio_gen.analysis import band_flux, tempo_of_onsets
from audio_gen.arrange import Arrangement
from audio_gen.loudness import integrated_loudness
from audio_gen.styles import INSTRUMENTS

ATTRIBUTES = ("instrument", "genre", "tempo", "mode", "loudness")
MODES = ("major", "minor")
N_MELS, MEL_FFT, MEL_HOP, MEL_FMIN = 64, 2048, 512, 30.0
CHROMA_FFT = 8192  # 2.9 Hz bins at 24 kHz: a semitone apart even in the bass
PULSE_HOP, PULSE_BANDS = 128, 24  # band_flux frames of 1024 samples
TEMPI = np.geomspace(40.0, 240.0, 96)
# (low Hz, high Hz, which quarter of the clip or None for all of it) of each chroma channel
CHROMA_PARTS = ((55.0, 2000.0, None), (40.0, 260.0, None), (260.0, 2000.0, None),
                (40.0, 2000.0, 0), (40.0, 2000.0, 3))


def labels(arrangement: Arrangement) -> dict[str, str]:
    """What a clip's caption says of each judged attribute, and its key (pitch class of the
    tonic, "0" to "11"): the mode judge learns key and mode together."""
    return {"instrument": INSTRUMENTS[arrangement.lead].family, "genre": arrangement.style,
            "tempo": arrangement.tempo, "mode": arrangement.mode,
            "loudness": arrangement.loudness, "key": str(arrangement.key)}


# ----------------------------------------------------------------------------- hearing

@dataclass
class Heard:
    """What the judges read of N clips (one sample rate, one length)."""

    sample_rate: int
    log_mel: np.ndarray  # (N, N_MELS, frames)
    pulse: np.ndarray  # (N, 4 * len(TEMPI) + 4)
    chroma: np.ndarray  # (N, len(CHROMA_PARTS), 12), each channel summing to 1
    level: np.ndarray  # (N, 4): integrated LUFS, peak dBFS, RMS dBFS, crest dB

    def __len__(self) -> int:
        return len(self.level)

    def __getitem__(self, index) -> Heard:
        index = np.atleast_1d(np.arange(len(self))[index])
        return Heard(self.sample_rate, *(getattr(self, f.name)[index]
                                         for f in fields(self)[1:]))

    @property
    def timbre(self) -> np.ndarray:
        """(N, 2 * N_MELS) log-mel band means and spreads."""
        return np.concatenate([self.log_mel.mean(2), self.log_mel.std(2)], 1)

    @classmethod
    def stack(cls, heard: Sequence[Heard]) -> Heard:
        rates = {h.sample_rate for h in heard}
        if len(rates) != 1:
            raise ValueError(f"clips at several sample rates: {sorted(rates)}")
        return cls(rates.pop(), *(np.concatenate([getattr(h, f.name) for h in heard])
                                  for f in fields(cls)[1:]))


def _frames(audio: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Centred frames (count, size) of a padded signal, as views."""
    padded = np.pad(audio, (size // 2, size // 2))
    count = 1 + (len(padded) - size) // hop
    return np.lib.stride_tricks.as_strided(
        padded, (count, size), (padded.strides[0] * hop, padded.strides[0]))


def _mel_filters(sample_rate: int) -> np.ndarray:
    """(N_MELS, MEL_FFT/2+1) triangular mel filters from MEL_FMIN to Nyquist, each summing to
    1 (so a band's level does not depend on its width)."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(MEL_FMIN), mel(sample_rate / 2), N_MELS + 2))
    freqs = np.fft.rfftfreq(MEL_FFT, 1.0 / sample_rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - low) / np.maximum(centre - low, 1e-9)
    falling = (high - freqs) / np.maximum(high - centre, 1e-9)
    filters = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters / np.maximum(filters.sum(1, keepdims=True), 1e-12)


def _log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    power = np.abs(np.fft.rfft(_frames(audio, MEL_FFT, MEL_HOP) * np.hanning(MEL_FFT))) ** 2
    # floored at -160 dB so that silence gives finite, ordinary-looking values
    return np.log(power @ _mel_filters(sample_rate).T + 1e-16).T.astype(np.float32)


def _chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    magnitude = np.abs(np.fft.rfft(
        _frames(audio, CHROMA_FFT, CHROMA_FFT // 4) * np.hanning(CHROMA_FFT)))
    freqs = np.fft.rfftfreq(CHROMA_FFT, 1.0 / sample_rate)
    quarter = max(1, len(magnitude) // 4)
    channels = []
    for low, high, part in CHROMA_PARTS:
        rows = magnitude if part is None else magnitude[part * quarter:(part + 1) * quarter]
        band = (freqs > low) & (freqs < high)
        pitch_class = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
        chroma = np.zeros(12)
        np.add.at(chroma, pitch_class, rows[:, band].sum(0))
        # a clip without pitched energy (silence, drums alone) reads as all pitch classes
        channels.append(chroma / chroma.sum() if chroma.sum() > 1e-12 else np.full(12, 1 / 12))
    return np.stack(channels).astype(np.float32)


def _pulse(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset strength autocorrelation of low (< 200 Hz: kick, bass), middle, high (> 2 kHz:
    hats, snare) and all bands at TEMPI, then the estimated tempo (log2 of BPM/100, 0 when none
    is found), whether one was, and the onset strength's mean and spread. The flux is
    :func:`audio_gen.analysis.band_flux`, the onset strength's, kept per band."""
    flux, centres = band_flux(audio, sample_rate, PULSE_HOP, PULSE_BANDS)
    groups = (centres < 200.0, (centres >= 200.0) & (centres < 2000.0), centres >= 2000.0,
              np.ones(PULSE_BANDS, bool))
    rate = sample_rate / PULSE_HOP
    lags = 60.0 * rate / TEMPI
    parts = []
    for group in groups:
        onset = flux[:, group].sum(1)
        onset = onset - onset.mean()
        n = len(onset)
        auto = np.fft.irfft(np.abs(np.fft.rfft(onset, n=2 * n)) ** 2)[:n]
        parts.append(np.interp(lags, np.arange(n), auto / max(auto[0], 1e-12)))
    total = np.concatenate([[0.0], flux.sum(1)])
    bpm = tempo_of_onsets(total, rate)
    parts.append([np.log2(bpm / 100.0) if bpm else 0.0, float(bpm is not None), total.mean(),
                  total.std()])
    return np.concatenate(parts).astype(np.float32)


def _level(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    lufs = max(integrated_loudness(audio, sample_rate), -70.0)
    peak = 20.0 * np.log10(max(np.abs(audio).max(initial=0.0), 1e-9))
    rms = 10.0 * np.log10(max(np.mean(audio ** 2), 1e-18))
    return np.array([lufs, peak, rms, peak - rms], np.float32)


def hear(audio: np.ndarray, sample_rate: int) -> Heard:
    """What the judges read of one clip (a :class:`Heard` of length 1)."""
    audio = np.asarray(audio, np.float64)
    return Heard(sample_rate, _log_mel(audio, sample_rate)[None], _pulse(audio, sample_rate)[None],
                 _chroma(audio, sample_rate)[None], _level(audio, sample_rate)[None])


# ----------------------------------------------------------------------------- the judges

class Standardised(nn.Module):
    """A net on standardised inputs (the mean and scale of its training inputs)."""

    def __init__(self, net: nn.Module, width: int) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.scale)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
                         nn.BatchNorm2d(outputs), nn.ReLU())


class TimbreNet(nn.Module):
    """A small CNN on log-mels with a head per attribute. Time is pooled (mean and max), the
    frequency axis kept at 8 bands, so register and brightness stay readable."""

    def __init__(self, heads: dict[str, int], width: int = 16) -> None:
        super().__init__()
        self.register_buffer("band_mean", torch.zeros(N_MELS, 1))
        self.register_buffer("band_scale", torch.ones(N_MELS, 1))
        self.body = nn.Sequential(_block(1, width), nn.MaxPool2d(2), _block(width, 2 * width),
                                  nn.MaxPool2d(2), _block(2 * width, 4 * width), nn.MaxPool2d(2),
                                  _block(4 * width, 4 * width))
        self.drop = nn.Dropout(0.3)
        self.shared = nn.Sequential(nn.Linear(4 * width * (N_MELS // 8) * 2, 128), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(128, count) for name, count in heads.items()})

    @staticmethod
    def prepare(log_mel: np.ndarray) -> torch.Tensor:
        """Log-mels less each clip's mean level: the loudness class is the level judge's, and
        the timbre judges should not tell instruments apart by how loud a clip was made."""
        log_mel = np.maximum(log_mel, np.log(1e-7))  # near-silent bins all alike
        return torch.from_numpy(log_mel - log_mel.mean((1, 2), keepdims=True)).float()

    def forward(self, log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        x = ((log_mel - self.band_mean) / self.band_scale)[:, None]
        z = self.body(x)
        z = self.shared(self.drop(torch.cat([z.mean(3), z.amax(3)], 1).flatten(1)))
        return {name: head(self.drop(z)) for name, head in self.heads.items()}


class KeyProfiles(nn.Module):
    """Learnt major and minor profiles of each chroma channel: scores (N, mode, tonic) of the
    chroma rotated to each tonic."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.profiles = nn.Parameter(torch.zeros(len(MODES), channels, 12))
        self.bias = nn.Parameter(torch.zeros(len(MODES)))

    @staticmethod
    def prepare(chroma: np.ndarray) -> torch.Tensor:
        log_chroma = np.log(chroma + 1e-3)  # a weak pitch class still counts
        return torch.from_numpy(log_chroma - log_chroma.mean(2, keepdims=True)).float()

    def forward(self, chroma: torch.Tensor) -> torch.Tensor:
        rotated = torch.stack([torch.roll(chroma, -tonic, dims=2) for tonic in range(12)], 1)
        return torch.einsum("nkcj,mcj->nmk", rotated, self.profiles) + self.bias[None, :, None]


def _pulse_inputs(heard: Heard) -> np.ndarray:
    return np.concatenate([heard.pulse, heard.timbre], 1)


class Judges:
    """The five judges, their classes and the sample rate they listen at."""

    def __init__(self, sample_rate: int, classes: dict[str, list[str]], timbre: TimbreNet,
                 pulse: Standardised, key: KeyProfiles, level: Standardised) -> None:
        self.sample_rate, self.classes = sample_rate, classes
        self.timbre, self.pulse, self.key, self.level = timbre, pulse, key, level
        for net in (timbre, pulse, key, level):
            net.eval()

    @torch.no_grad()
    def scores(self, heard: Heard) -> dict[str, torch.Tensor]:
        """Each attribute's class scores (N, classes)."""
        if heard.sample_rate != self.sample_rate:
            raise ValueError(f"the judges listen at {self.sample_rate} Hz, "
                             f"the clips are at {heard.sample_rate} Hz")
        batches = [self.timbre(batch) for batch in TimbreNet.prepare(heard.log_mel).split(128)]
        out = {name: torch.cat([b[name] for b in batches]) for name in ("instrument", "genre")}
        out["tempo"] = self.pulse(torch.from_numpy(_pulse_inputs(heard)))
        out["mode"] = torch.logsumexp(self.key(KeyProfiles.prepare(heard.chroma)), 2)
        out["loudness"] = self.level(torch.from_numpy(heard.level))
        return out

    def predict(self, heard: Heard) -> dict[str, list[str]]:
        """Each attribute's judged class of each clip."""
        return {a: [self.classes[a][i] for i in s.argmax(1).tolist()]
                for a, s in self.scores(heard).items()}

    def state(self) -> dict:
        return {"sample_rate": self.sample_rate, "classes": self.classes,
                "timbre": self.timbre.state_dict(), "pulse": self.pulse.state_dict(),
                "key": self.key.state_dict(), "level": self.level.state_dict()}

    @classmethod
    def from_state(cls, state: dict) -> Judges:
        classes = state["classes"]
        timbre, pulse, key, level = _empty_nets(classes, state["level"]["mean"].shape[0],
                                                state["pulse"]["mean"].shape[0],
                                                state["key"]["profiles"].shape[1])
        for net, name in ((timbre, "timbre"), (pulse, "pulse"), (key, "key"), (level, "level")):
            net.load_state_dict(state[name])
        return cls(state["sample_rate"], classes, timbre, pulse, key, level)


def _empty_nets(classes: dict[str, list[str]], level_width: int, pulse_width: int,
                chroma_channels: int) -> tuple[TimbreNet, Standardised, KeyProfiles,
                                               Standardised]:
    timbre = TimbreNet({a: len(classes[a]) for a in ("instrument", "genre")})
    pulse = Standardised(nn.Sequential(nn.Dropout(0.2), nn.Linear(pulse_width, 256), nn.ReLU(),
                                       nn.Dropout(0.3), nn.Linear(256, len(classes["tempo"]))),
                         pulse_width)
    level = Standardised(nn.Linear(level_width, len(classes["loudness"])), level_width)
    return timbre, pulse, KeyProfiles(chroma_channels), level


def _standardise(net: Standardised, x: np.ndarray) -> torch.Tensor:
    """Set the net's standardisation from its training inputs; the inputs as a tensor."""
    net.mean.copy_(torch.from_numpy(x.mean(0)))
    net.scale.copy_(torch.from_numpy(x.std(0) + 1e-6))
    return torch.from_numpy(x)


def _fit_lbfgs(params: list[torch.Tensor], loss: Callable[[], torch.Tensor]) -> None:
    optimiser = torch.optim.LBFGS(params, max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        value = loss()
        value.backward()
        return value

    optimiser.step(closure)


def _fit_timbre(net: TimbreNet, log_mel: np.ndarray, targets: dict[str, torch.Tensor],
                epochs: int, generator: torch.Generator, log: Callable[[str], None]) -> None:
    x = TimbreNet.prepare(log_mel)
    net.band_mean.copy_(x.mean((0, 2))[:, None])
    net.band_scale.copy_(x.std((0, 2))[:, None] + 1e-3)
    batch = min(32, len(x))
    steps = epochs * (len(x) // batch)
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 3e-3, total_steps=steps)
    crop = max(8, round(0.85 * x.shape[-1]))  # a random 85% of the clip: where notes fall varies
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x) - batch + 1, batch):
            index = order[start:start + batch]
            offset = int(torch.randint(0, x.shape[-1] - crop + 1, (1,), generator=generator))
            out = net(x[index][..., offset:offset + crop])
            loss = sum(nn.functional.cross_entropy(out[name], target[index],
                                                   label_smoothing=0.05)
                       for name, target in targets.items())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        log(f"timbre net epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}")
    net.eval()


def _fit_pulse(net: Standardised, x: np.ndarray, target: torch.Tensor, epochs: int,
               generator: torch.Generator) -> None:
    inputs = _standardise(net, x)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.1)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), 64):
            index = order[start:start + 64]
            loss = nn.functional.cross_entropy(net(inputs[index]), target[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    net.eval()


def fit_judges(heard: Heard, truth: Sequence[dict[str, str]], *, seed: int = 0,
               timbre_epochs: int = 16, pulse_epochs: int = 150,
               log: Callable[[str], None] = lambda message: None) -> Judges:
    """The five judges from clips and their labels (:func:`labels`, key included).

    Choices (net sizes, epochs, regularisation) were made on a validation split of training
    renders and on renders of the held-out combinations with a seed neither the training nor
    the bench's test renders use.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classes = {a: sorted({t[a] for t in truth}) for a in ATTRIBUTES}
    classes["mode"] = list(MODES)  # the key profiles' order, whatever the clips hold
    target = {a: torch.tensor([classes[a].index(t[a]) for t in truth]) for a in ATTRIBUTES}
    pulse_inputs = _pulse_inputs(heard)
    timbre, pulse, key, level = _empty_nets(classes, heard.level.shape[1],
                                            pulse_inputs.shape[1], heard.chroma.shape[1])
    _fit_timbre(timbre, heard.log_mel, {a: target[a] for a in ("instrument", "genre")},
                timbre_epochs, generator, log)
    _fit_pulse(pulse, pulse_inputs, target["tempo"], pulse_epochs, generator)
    log("pulse net fitted")

    chroma = KeyProfiles.prepare(heard.chroma)
    key_and_mode = target["mode"] * 12 + torch.tensor([int(t["key"]) for t in truth])
    with torch.no_grad():  # a start off zero, where the 12 rotations would score alike
        key.profiles.normal_(0.0, 0.1, generator=generator)
    _fit_lbfgs(list(key.parameters()), lambda: nn.functional.cross_entropy(
        key(chroma).flatten(1), key_and_mode) + 1e-3 * (key.profiles ** 2).sum())

    level_inputs = _standardise(level, heard.level)
    _fit_lbfgs(list(level.parameters()), lambda: nn.functional.cross_entropy(
        level(level_inputs), target["loudness"]) + 1e-2 * (level.net.weight ** 2).sum())
    log("key profiles and level judge fitted")
    return Judges(heard.sample_rate, classes, timbre, pulse, key, level)


def accuracy(judges: Judges, heard: Heard, truth: Sequence[dict[str, str]]
             ) -> dict[str, float]:
    """Share of clips whose judged attribute is the one their caption says."""
    return agreement(judges.predict(heard), truth)


def agreement(predicted: dict[str, list[str]], truth: Sequence[dict[str, str]],
              stated: Sequence[Collection[str]] | None = None) -> dict[str, float | None]:
    """Share of clips whose judged attribute (:meth:`Judges.predict`) is the one in ``truth``;
    with ``stated`` (each clip's caption's stated attributes), only over the clips whose caption
    states it (None where none does)."""
    shares: dict[str, float | None] = {}
    for a, said in predicted.items():
        right = [p == t[a] for i, (p, t) in enumerate(zip(said, truth, strict=True))
                 if stated is None or a in stated[i]]
        shares[a] = float(np.mean(right)) if right else None
    return shares


class RenderedSet(NamedTuple):
    """Seeded renders as the judges read them, their labels, captions, and the attributes
    each caption states (:func:`audio_gen.captions.describe`)."""

    heard: Heard
    truth: list[dict[str, str]]
    captions: list[str]
    stated: list[frozenset[str]]


def rendered_set(count: int, seed: int, held_out: str, seconds: float, sample_rate: int,
                 on_clip: Callable[[int], None] | None = None, *, lead_swap: float = 0.0,
                 ) -> RenderedSet:
    """What the judges read of `count` seeded soundfont renders, their labels and captions
    (``held_out`` and ``lead_swap`` as for :func:`audio_gen.arrange.sample_arrangement`: "any"
    for the judges' training, "only" for the held-out combinations); ``on_clip(done)`` after
    each."""
    from audio_gen.render import Renderer, make_clip  # FluidSynth: Debian's libfluidsynth3

    renderer, rng = Renderer(sample_rate), np.random.default_rng(seed)
    heard, truth, captions, stated = [], [], [], []
    for done in range(1, count + 1):
        clip = make_clip(rng, renderer, seconds, held_out=held_out, lead_swap=lead_swap)
        heard.append(hear(clip.audio, sample_rate))
        truth.append(labels(clip.spec))
        captions.append(clip.caption)
        stated.append(clip.stated)
        if on_clip is not None:
            on_clip(done)
    return RenderedSet(Heard.stack(heard), truth, captions, stated)


def save_judges(judges: Judges, path: Path) -> None:
    torch.save(judges.state(), path)


def load_judges(path: Path) -> Judges:
    return Judges.from_state(torch.load(path, weights_only=True))
