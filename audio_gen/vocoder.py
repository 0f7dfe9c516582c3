"""A small neural vocoder: the codec's normalised log-mel image -> waveform, Vocos style.

Griffin-Lim (:meth:`audio_gen.codec.MelCodec.decode`) has to guess the phase from the
magnitude alone and the least-squares inverse of the mel filter bank blurs every frame, so drum
hits and plucks come back smeared over a whole window. Vocos (Siuzdak, 2023) instead predicts
each STFT frame's log-magnitude and phase with a stack of ConvNeXt blocks at the frame rate and
lets an inverse STFT make the samples: no upsampling layers, so it is small and fast on a CPU.

Two departures from Vocos, both for a short CPU training without a discriminator: the
predicted log-magnitude is a correction to a fixed guess read off the image
(:meth:`Vocoder.prior`), and the loss has a phase term (:func:`phase_loss`) besides the
multi-resolution STFT and mel terms.

Reading order: :class:`VocoderConfig`, :class:`ConvNeXtBlock`, :class:`Vocoder` (its
:meth:`~Vocoder.forward` is the whole model), the losses it trains on
(:func:`multi_resolution_stft_loss`, :func:`mel_loss`, :func:`phase_loss`,
:func:`vocoder_loss`), then saving and loading a vocoder folder. Training itself lives in
``bench/vocoder.py``.

The input is exactly what :meth:`MelCodec.encode` returns, (..., n_mels, frames) in [-1, 1];
the output is (..., frames * hop_length) samples, like :meth:`MelCodec.decode`, so one can
stand in for the other.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audio_gen.codec import CodecConfig
from foundation.publishing import publishing, sha256_file
from foundation.settings import reject_unknown

INDEX = "vocoder.json"
WEIGHTS = "vocoder.pt"
FORMAT = 1
# (n_fft, hop) of the multi-resolution STFT loss: 21, 43 and 85 ms windows at 24 kHz, so both
# the attack of a hit and the partials of a held note are checked.
RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))
# The codec settings that change what an image means; the Griffin-Lim iteration count does not.
TIED_CODEC_FIELDS = ("sample_rate", "n_fft", "hop_length", "n_mels", "f_min", "f_max",
                     "db_min", "db_max")


# ----------------------------------------------------------------------------- the config

@dataclass(frozen=True)
class VocoderConfig:
    """Sizes of the vocoder and the codec whose images it reads.

    Parameters
    ----------
    codec : CodecConfig
        The spectrogram settings; the inverse STFT uses its ``n_fft`` and ``hop_length``.
    dim : int
        Channels of the ConvNeXt trunk.
    intermediate : int
        Hidden width of each block's pointwise MLP.
    layers : int
        ConvNeXt blocks.
    kernel : int
        Width in frames of the depthwise convolutions (7 frames = 112 ms at hop 384 / 24 kHz).
    max_log_magnitude : float
        Ceiling of the predicted log-magnitude: keeps an early, untrained step from making
        samples so large that the loss overflows (exp(7) is above any full-scale bin).
    """

    codec: CodecConfig = field(default_factory=CodecConfig)
    dim: int = 256
    intermediate: int = 768
    layers: int = 5
    kernel: int = 7
    max_log_magnitude: float = 7.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VocoderConfig:
        reject_unknown(cls, values, "vocoder")
        values = dict(values)
        codec = values.pop("codec", None)
        codec = codec if isinstance(codec, CodecConfig) else CodecConfig.from_dict(codec or {})
        return cls(codec=codec, **values)


def check_codec(vocoder: VocoderConfig, codec: CodecConfig) -> None:
    """Raise ValueError when ``codec`` makes images the vocoder was not trained to read."""
    differ = [name for name in TIED_CODEC_FIELDS
              if getattr(vocoder.codec, name) != getattr(codec, name)]
    if differ:
        raise ValueError("the vocoder was trained on another codec: "
                         + ", ".join(f"{n} {getattr(vocoder.codec, n)} != {getattr(codec, n)}"
                                     for n in differ))


# ----------------------------------------------------------------------------- the model

class ConvNeXtBlock(nn.Module):
    """Depthwise conv along time, then a pointwise MLP, added back through a learnt scale.

    The depthwise convolution is where frames see their neighbours (the phase of a frame
    depends on them); the MLP mixes channels per frame. Starting the residual scale small keeps
    the untrained stack close to the identity, which lets a deep-ish stack train at a high
    learning rate.
    """

    def __init__(self, dim: int, intermediate: int, kernel: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.dwconv(x).transpose(1, 2)  # (B, T, C): LayerNorm and Linear act on channels
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class Vocoder(nn.Module):
    """Normalised log-mel image (..., n_mels, F) -> waveform (..., F * hop_length)."""

    def __init__(self, cfg: VocoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.codec
        self.embed = nn.Conv1d(c.n_mels, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.intermediate, cfg.kernel, 1.0 / cfg.layers)
            for _ in range(cfg.layers))
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.bins = c.n_fft // 2 + 1
        self.head = nn.Linear(cfg.dim, 2 * self.bins)  # log-magnitude and phase of each bin
        # The buffers are not saved: rebuilt from the config, so a state dict holds only
        # learnt weights.
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        # The codec's own mel filter bank (torchaudio's defaults, as MelCodec uses), for
        # :meth:`prior`: how many bins' worth of power each band sums (its log), and how each
        # linear bin shares out over the bands that cover it (rows sum to 1, or 0 for the
        # few bins outside f_min..f_max).
        from torchaudio.functional import melscale_fbanks  # heavy import, as in the codec

        bank = melscale_fbanks(self.bins, c.f_min, c.f_max, c.n_mels, c.sample_rate)
        cover = bank.sum(1, keepdim=True)
        self.register_buffer("band_log_width", bank.sum(0).clamp_min(1e-8).log()[:, None],
                             persistent=False)
        self.register_buffer("spread", bank / cover.clamp_min(1e-8), persistent=False)
        self.register_buffer("uncovered", (cover <= 0).float(), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        # Vocos's initialisation: small truncated-normal weights keep an untrained head's
        # correction near 0, so the first magnitudes are the prior's and the phases near 0.
        if isinstance(module, nn.Conv1d | nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def prior(self, image: torch.Tensor) -> torch.Tensor:
        """A fixed first guess of each bin's natural-log magnitude (B, bins, F): each band's
        power spread evenly over the bins it sums, bins shared between bands averaged.

        The net predicts a correction to it (and the phase), so an untrained vocoder already
        has the codec's level scale and spectral envelope; learning them from a zero start
        took most of a CPU budget's steps (log-magnitudes span about 15 nats).
        """
        c = self.cfg.codec
        db = (image.clamp(-1.0, 1.0) + 1.0) / 2.0 * (c.db_max - c.db_min) + c.db_min
        per_bin = db * (math.log(10.0) / 10.0) - self.band_log_width  # ln power of one bin
        floor = c.db_min * math.log(10.0) / 10.0
        return 0.5 * (self.spread @ per_bin + self.uncovered * floor)

    def spectrum(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, n_mels, F) -> complex STFT (B, n_fft // 2 + 1, F)."""
        x = self.embed(image)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, 2 * bins, F)
        log_magnitude, angle = x.split(self.bins, dim=1)
        log_magnitude = self.prior(image) + log_magnitude
        magnitude = torch.exp(log_magnitude.clamp(max=self.cfg.max_log_magnitude))
        # cos/sin of an unbounded angle rather than a predicted (re, im) pair: the magnitude
        # then comes only from the magnitude half, and the phase wraps without a seam.
        return torch.polar(magnitude, angle)

    def forward(self, image: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """Waveform (..., samples), default ``F * hop_length``; not clamped (for training)."""
        c = self.cfg.codec
        if image.shape[-2] != c.n_mels:
            raise ValueError(f"expected {c.n_mels} mel bins, got {image.shape[-2]}")
        lead, frames = image.shape[:-2], image.shape[-1]
        spec = self.spectrum(image.reshape(-1, c.n_mels, frames).float())
        # The codec dropped the last of the F + 1 frames of a centred STFT of F * hop samples;
        # repeating the last one gives torch.istft the frame count it expects (as the codec's
        # Griffin-Lim does).
        spec = torch.cat([spec, spec[..., -1:]], dim=-1)
        audio = torch.istft(spec, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.n_fft,
                            window=self.window, center=True, length=frames * c.hop_length)
        if samples is not None:
            audio = audio[..., :samples]
        return audio.reshape(*lead, audio.shape[-1])

    @torch.no_grad()
    def decode(self, image: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """Like :meth:`MelCodec.decode`: waveform (..., samples) clamped to [-1, 1]."""
        return self(image, samples).clamp(-1.0, 1.0)


# ----------------------------------------------------------------------------- the losses

def _magnitude(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    spec = torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft, device=audio.device),
                      return_complex=True)
    # |z| through a clamped square root: torch's complex abs has no useful gradient at 0.
    return torch.view_as_real(spec).pow(2).sum(-1).clamp_min(1e-12).sqrt()


def stft_distance_terms(
    predicted: torch.Tensor, target: torch.Tensor,
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS, floor: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral convergence and log-magnitude L1, each averaged over the resolutions.

    Spectral convergence (``||T - P||_F / ||T||_F`` per clip, then averaged) weighs the loud
    bins, the log-magnitude L1 (natural log, bins under ``floor`` clamped) the quiet ones;
    several window sizes keep the model from trading time resolution for frequency
    resolution. Per clip, so a quiet clip counts as much as a loud one. Inputs (B, S) or (S,).
    """
    predicted = predicted.reshape(-1, predicted.shape[-1])
    target = target.reshape(-1, target.shape[-1])
    convergence, log_l1 = predicted.new_zeros(()), predicted.new_zeros(())
    for n_fft, hop in resolutions:
        p, t = _magnitude(predicted, n_fft, hop), _magnitude(target, n_fft, hop)
        convergence = convergence + ((t - p).flatten(1).norm(dim=1)
                                     / t.flatten(1).norm(dim=1).clamp_min(1e-8)).mean()
        log_l1 = log_l1 + (p.clamp_min(floor).log() - t.clamp_min(floor).log()).abs().mean()
    return convergence / len(resolutions), log_l1 / len(resolutions)


def multi_resolution_stft_loss(
    predicted: torch.Tensor, target: torch.Tensor,
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS, floor: float = 1e-5,
) -> torch.Tensor:
    """Mean over resolutions of spectral convergence plus log-magnitude L1
    (:func:`stft_distance_terms`); 0 for identical signals."""
    convergence, log_l1 = stft_distance_terms(predicted, target, resolutions, floor)
    return convergence + log_l1


def mel_loss(predicted: torch.Tensor, target: torch.Tensor, mel: nn.Module,
             codec: CodecConfig) -> torch.Tensor:
    """L1 of natural-log mel power (``mel``: the codec's ``MelSpectrogram``), floored 10 dB
    below the codec's range: what lies under the range is silence to the codec, but a floor
    at its very edge would stop the gradient of a bin predicted too quiet."""
    floor = 10.0 ** ((codec.db_min - 10.0) / 10.0)
    return (mel(predicted).clamp_min(floor).log() - mel(target).clamp_min(floor).log()
            ).abs().mean()


def phase_loss(predicted: torch.Tensor, target: torch.Tensor, n_fft: int, hop: int
               ) -> torch.Tensor:
    """Group delay and instantaneous frequency of ``predicted`` against ``target``, weighted by
    the target's magnitude: 0 when they agree, at most 2 (opposite phase everywhere).

    Magnitude losses leave the phase to be found indirectly, and a transient rendered with the
    wrong phase lands at the frame centre instead of where it was: smeared by up to half a
    window. The phase step between neighbouring bins (group delay) says where in the frame the
    energy sits, the step between neighbouring frames (instantaneous frequency) what a partial
    does over time; both are well defined where the absolute phase is not. Compared as unit
    complex numbers, so that wrapping at +-pi costs nothing (APNet's anti-wrapping, smooth).
    """
    window = torch.hann_window(n_fft, device=predicted.device)
    p, t = (torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window,
                       return_complex=True) for x in (predicted, target))

    def unit(z: torch.Tensor) -> torch.Tensor:
        # not z / |z|: complex abs has no gradient at 0, and a silent bin's step is 0
        return z * torch.rsqrt(z.real.square() + z.imag.square() + 1e-14)

    total = predicted.new_zeros(())
    for dim in (1, 2):  # across bins (group delay), across frames (instantaneous frequency)
        n = p.shape[dim] - 1
        step_p = p.narrow(dim, 1, n) * p.narrow(dim, 0, n).conj()
        step_t = t.narrow(dim, 1, n) * t.narrow(dim, 0, n).conj()
        weight = step_t.abs().sqrt()  # geometric mean of the two bins' magnitudes
        error = (unit(step_p) - unit(step_t)).abs()
        total = total + ((weight * error).flatten(1).sum(1)
                         / weight.flatten(1).sum(1).clamp_min(1e-8)).mean()
    return total / 2


def vocoder_loss(predicted: torch.Tensor, target: torch.Tensor, mel: nn.Module,
                 codec: CodecConfig, mel_weight: float = 1.0, phase_weight: float = 5.0
                 ) -> torch.Tensor:
    """The training objective: :func:`multi_resolution_stft_loss` + ``mel_weight`` x
    :func:`mel_loss` + ``phase_weight`` x :func:`phase_loss` at the codec's STFT (no
    adversarial terms: they would need a discriminator and many more steps than a CPU budget
    gives). Without a heavy phase term a short training leaves onsets more smeared than
    Griffin-Lim does (see ``bench/vocoder.py``)."""
    loss = (multi_resolution_stft_loss(predicted, target)
            + mel_weight * mel_loss(predicted, target, mel, codec))
    if phase_weight:
        loss = loss + phase_weight * phase_loss(predicted, target, codec.n_fft,
                                                codec.hop_length)
    return loss


# ----------------------------------------------------------------------------- on disk

def save_vocoder(folder: str | Path, vocoder: Vocoder, meta: dict[str, Any] | None = None
                 ) -> Path:
    """Publish a vocoder folder atomically: ``vocoder.pt`` (float32 state dict) and
    ``vocoder.json`` (config, parameter count, ``meta``, the weights' checksum)."""
    index = {"format": FORMAT, "vocoder": vocoder.cfg.to_dict(),
             "parameters": vocoder.num_parameters, "meta": meta or {}}
    with publishing(folder) as staging:
        torch.save({k: v.contiguous() for k, v in vocoder.state_dict().items()},
                   staging / WEIGHTS)
        index["sha256"] = {WEIGHTS: sha256_file(staging / WEIGHTS)}
        (staging / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return Path(folder)


def load_vocoder(folder: str | Path, verify: bool = True) -> tuple[Vocoder, dict[str, Any]]:
    """The vocoder of a folder written by :func:`save_vocoder` (in eval mode) and its meta.

    Raises
    ------
    ValueError
        When a file is missing, the format is unknown or the checksum differs.
    """
    folder = Path(folder)
    index_path, weights = folder / INDEX, folder / WEIGHTS
    if not index_path.is_file() or not weights.is_file():
        raise ValueError(f"{folder}: not a vocoder folder (needs {INDEX} and {WEIGHTS})")
    index = json.loads(index_path.read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{folder}: vocoder format {index.get('format')} is not {FORMAT}")
    expected = index.get("sha256", {}).get(WEIGHTS)
    if verify and expected and sha256_file(weights) != expected:
        raise ValueError(f"{weights}: checksum differs from {INDEX}; the file is damaged")
    vocoder = Vocoder(VocoderConfig.from_dict(index["vocoder"]))
    vocoder.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return vocoder.eval(), index.get("meta", {})

