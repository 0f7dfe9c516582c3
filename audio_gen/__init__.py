"""Text-to-music generation (text encoder, spectrogram diffusion, inversion to audio)."""
