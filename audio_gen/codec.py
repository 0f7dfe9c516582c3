"""Waveform <-> normalised log-mel image.

The diffusion model works on log-mel images scaled to [-1, 1] against a *fixed* decibel range, not
per clip, so that loudness survives the round trip. The inverse runs torchaudio's
``InverseMelScale`` (least squares back to a linear-frequency power spectrogram) and
``GriffinLim`` (phase estimation) with a deterministic zero-phase start, so decoding is repeatable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from foundation.settings import reject_unknown


@dataclass(frozen=True)
class CodecConfig:
    """Spectrogram settings; saved with a checkpoint because the model is tied to them.

    Parameters
    ----------
    sample_rate : int
        Audio sample rate in Hz (mono).
    n_fft : int
        FFT size of the STFT.
    hop_length : int
        Samples between frames; 256 at 16 kHz gives 62.5 frames a second.
    n_mels : int
        Mel bands (the image height).
    f_min, f_max : float
        Frequency range of the mel filter bank in Hz.
    db_min, db_max : float
        Decibel range (of mel power, reference 1.0) mapped onto [-1, 1]; values outside are
        clipped. Fixed, so a quiet clip stays quiet.
    griffin_lim_iters : int
        Iterations of Griffin-Lim phase estimation when decoding.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    f_min: float = 30.0
    f_max: float = 8_000.0
    db_min: float = -55.0
    db_max: float = 45.0
    griffin_lim_iters: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CodecConfig:
        reject_unknown(cls, values, "codec")
        return cls(**values)

    def frames(self, samples: int) -> int:
        """Number of spectrogram frames the codec makes of ``samples`` samples."""
        return samples // self.hop_length

    def band_centres_hz(self) -> torch.Tensor:
        """Centre frequency of each mel band (the HTK mel scale torchaudio uses), lowest first."""
        return mel_to_hz(self.mel_points()[1:-1])

    def mel_points(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The filter bank's n_mels + 2 points on the mel scale: band ``i`` rises from point
        ``i``, peaks at ``i + 1`` and falls to ``i + 2``."""
        return torch.linspace(hz_to_mel(self.f_min), hz_to_mel(self.f_max), self.n_mels + 2,
                              dtype=dtype)


def hz_to_mel(hz: float) -> float:
    """The HTK mel scale (torchaudio's default)."""
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel):
    """The inverse of :func:`hz_to_mel`, elementwise on tensors and arrays."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


class MelCodec(torch.nn.Module):
    """Encode waveforms to normalised log-mel images and decode them back to audio.

    Parameters
    ----------
    cfg : CodecConfig
        Spectrogram settings.
    """

    def __init__(self, cfg: CodecConfig | None = None) -> None:
        super().__init__()
        import torchaudio.transforms as T  # heavy import, only where the codec is used

        self.cfg = cfg = cfg or CodecConfig()
        self.mel = T.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
            f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels, power=2.0,
        )
        self.inverse_mel = T.InverseMelScale(
            n_stft=cfg.n_fft // 2 + 1, n_mels=cfg.n_mels, sample_rate=cfg.sample_rate,
            f_min=cfg.f_min, f_max=cfg.f_max,
        )
        self.griffin_lim = T.GriffinLim(
            n_fft=cfg.n_fft, hop_length=cfg.hop_length, power=2.0,
            n_iter=cfg.griffin_lim_iters, rand_init=False,
        )

    def normalise(self, mel_power: torch.Tensor) -> torch.Tensor:
        """Mel power -> [-1, 1] by the fixed decibel range."""
        db = 10.0 * torch.log10(mel_power.clamp_min(1e-10))
        span = self.cfg.db_max - self.cfg.db_min
        return ((db - self.cfg.db_min) / span * 2.0 - 1.0).clamp(-1.0, 1.0)

    def denormalise(self, image: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> mel power (the inverse of :meth:`normalise` inside the range)."""
        span = self.cfg.db_max - self.cfg.db_min
        db = (image.clamp(-1.0, 1.0) + 1.0) / 2.0 * span + self.cfg.db_min
        return torch.pow(10.0, db / 10.0)

    def encode(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform (..., S) in [-1, 1] -> image (..., n_mels, S // hop_length) in [-1, 1]."""
        frames = self.cfg.frames(waveform.shape[-1])
        # The centred STFT yields one frame more than S // hop; dropping it keeps lengths simple.
        return self.normalise(self.mel(waveform))[..., :frames]

    def decode(self, image: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """Image (..., n_mels, F) -> waveform (..., samples), default ``F * hop_length``."""
        if image.shape[-2] != self.cfg.n_mels:
            raise ValueError(f"expected {self.cfg.n_mels} mel bins, got {image.shape[-2]}")
        frames = image.shape[-1]
        power = self.inverse_mel(self.denormalise(image).float())  # (..., n_fft/2+1, F)
        # A centred STFT of F * hop samples has F + 1 frames (encode dropped the last one):
        # repeat the last frame so Griffin-Lim's re-analysis lines up with its input.
        power = torch.cat([power, power[..., -1:]], dim=-1)
        self.griffin_lim.length = frames * self.cfg.hop_length
        audio = self.griffin_lim(power)
        if samples is not None:
            audio = audio[..., :samples]
        return audio.clamp(-1.0, 1.0)
