"""A folder of the user's own audio: ``*.wav`` files plus ``captions.csv`` (file, caption).

Every file is read, mixed to mono, resampled to the model's rate and cut into clips of the
training length (the last piece is kept, padded with silence, when it is at least half a clip).
Each clip carries its file's caption. ``songspace audio synth`` writes folders in this format.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_gen.audio_io import read_wav

logger = logging.getLogger(__name__)

CAPTIONS = "captions.csv"


@dataclass
class CaptionedClip:
    audio: np.ndarray  # (S,) float32
    caption: str
    source: str


def read_captions(folder: Path) -> list[tuple[str, str]]:
    """Rows of ``captions.csv`` as (file, caption), checked; errors name the row."""
    path = folder / CAPTIONS
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {CAPTIONS} (columns: file, caption)")
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "caption"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with columns 'file' and 'caption', "
                             f"got {reader.fieldnames}")
        for number, row in enumerate(reader, start=2):
            name, caption = (row["file"] or "").strip(), (row["caption"] or "").strip()
            if not name or not caption:
                raise ValueError(f"{path}, row {number}: 'file' and 'caption' must not be empty")
            if not (folder / name).is_file():
                raise ValueError(f"{path}, row {number}: file {name!r} not found in {folder}")
            rows.append((name, caption))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def load_folder(
    folder: str | Path, seconds: float, sample_rate: int
) -> list[CaptionedClip]:
    """Read a captioned audio folder and cut it into clips.

    Parameters
    ----------
    folder : str or Path
        Holds ``captions.csv`` and the WAV files it names.
    seconds : float
        Clip length.
    sample_rate : int
        Target sample rate (files are resampled with torchaudio).

    Returns
    -------
    list of CaptionedClip
    """
    import torch
    import torchaudio.functional as AF

    folder = Path(folder)
    size = round(seconds * sample_rate)
    clips: list[CaptionedClip] = []
    for name, caption in read_captions(folder):
        audio, rate = read_wav(folder / name)
        if rate != sample_rate:
            audio = AF.resample(torch.from_numpy(audio), rate, sample_rate).numpy()
        for start in range(0, len(audio), size):
            piece = audio[start:start + size]
            if len(piece) < size // 2:
                break
            piece = np.pad(piece, (0, size - len(piece)))
            clips.append(CaptionedClip(piece.astype(np.float32), caption, name))
    logger.info("read %d clips from %s", len(clips), folder)
    if not clips:
        raise ValueError(f"{folder}: no file is at least {seconds / 2:g}s long")
    return clips
