"""Reading and writing WAV files (the only place audio files are touched)."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio in [-1, 1] as a 16-bit PCM WAV file.

    Parameters
    ----------
    path : str or Path
        Where to write; parent folders are created.
    audio : ndarray (S,)
        Samples; values outside [-1, 1] are clipped.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    Path
        The path written.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return path


def read_wav(path: str | Path | BinaryIO) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file (8/16/24/32-bit, any channel count) as mono float32 in [-1, 1].

    ``path`` may also be an open binary file (e.g. ``io.BytesIO`` of an upload).

    Returns
    -------
    (ndarray (S,), int)
        The samples, averaged over channels, and the sample rate.
    """
    try:
        with wave.open(path if hasattr(path, "read") else str(path), "rb") as handle:
            channels, width = handle.getnchannels(), handle.getsampwidth()
            rate, raw = handle.getframerate(), handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as error:
        path = getattr(path, "name", "the upload") if hasattr(path, "read") else path
        raise ValueError(f"{path}: expected a PCM WAV file ({error or 'truncated'})") from None
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        data = (np.where(ints >= 1 << 23, ints - (1 << 24), ints) / float(1 << 23))
        data = data.astype(np.float32)
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{path}: unsupported WAV sample width {width} bytes")
    return data.reshape(-1, channels).mean(axis=1), rate
