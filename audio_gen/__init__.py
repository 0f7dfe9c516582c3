"""Text-to-music generation (text encoder, spectrogram diffusion, inversion to audio)."""

from pathlib import Path

# The shipped model; a constant here so callers need not import torch to name it.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default"
# What `songspace audio evaluate` judges a soundfont-trained model with (bench/audio_judges.py).
DEFAULT_JUDGES = Path(__file__).resolve().parent / "checkpoints" / "judges.pt"
