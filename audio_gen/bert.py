"""A BERT encoder in plain torch, for the Hugging Face BERT checkpoints songspace reads
(all-MiniLM-L6-v2 by default): the same last hidden states as `transformers.BertModel` in
eval mode, without importing `transformers` (about 2 s of every `generate`, `playlist` and
server start, more than the encoding itself on a short prompt).

Reads a model folder's ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (the
`tokenizers` library, Rust, imports in milliseconds). Only absolute position embeddings and
the GELU activation, the settings of the BERT checkpoints in use; :func:`supports` says
whether a folder qualifies, and :mod:`audio_gen.text_encoder` falls back to `transformers`
for any other model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS, TOKENIZER = "model.safetensors", "tokenizer.json"


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_folder(cls, folder: Path) -> BertConfig:
        raw = json.loads((folder / "config.json").read_text())
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


def supports(folder: Path) -> bool:
    """Whether `folder` holds a BERT checkpoint this module computes exactly."""
    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (raw.get("model_type") == "bert" and raw.get("hidden_act", "gelu") == "gelu"
            and raw.get("position_embedding_type", "absolute") == "absolute"
            and (folder / WEIGHTS).is_file() and (folder / TOKENIZER).is_file())


class Layer(nn.Module):
    """Post-norm transformer layer: self-attention, then the feed-forward block."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attention_out = nn.Linear(d, d)
        self.attention_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.intermediate = nn.Linear(d, cfg.intermediate_size)
        self.out = nn.Linear(cfg.intermediate_size, d)
        self.out_norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=bias)
        x = self.attention_norm(x + self.attention_out(attended.transpose(1, 2).reshape(b, n, d)))
        return self.out_norm(x + self.out(F.gelu(self.intermediate(x))))


class Bert(nn.Module):
    """Embeddings (word + position + token type, normalised) and the layers; no pooler."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        d = cfg.hidden_size
        self.words = nn.Embedding(cfg.vocab_size, d)
        self.positions = nn.Embedding(cfg.max_position_embeddings, d)
        self.token_types = nn.Embedding(cfg.type_vocab_size, d)
        self.norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states (B, L, D) of token ids (B, L) with attention mask (B, L)."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.words(ids) + self.positions(positions)[None]
                      + self.token_types(torch.zeros_like(ids)))
        # Padding gets the most negative float as an additive bias, as transformers does.
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        return x

    @classmethod
    def from_folder(cls, folder: Path) -> Bert:
        from safetensors.torch import load_file

        model = cls(BertConfig.from_folder(folder))
        weights = load_file(folder / WEIGHTS)
        model.load_state_dict(_renamed(weights, model.config.num_hidden_layers), strict=True)
        return model.eval().requires_grad_(False)


def _renamed(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """The checkpoint's parameter names (with or without a "bert." prefix) to this module's."""
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    names = {"words.weight": "embeddings.word_embeddings.weight",
             "positions.weight": "embeddings.position_embeddings.weight",
             "token_types.weight": "embeddings.token_type_embeddings.weight",
             "norm.weight": "embeddings.LayerNorm.weight",
             "norm.bias": "embeddings.LayerNorm.bias"}
    parts = {"query": "attention.self.query", "key": "attention.self.key",
             "value": "attention.self.value", "attention_out": "attention.output.dense",
             "attention_norm": "attention.output.LayerNorm",
             "intermediate": "intermediate.dense", "out": "output.dense",
             "out_norm": "output.LayerNorm"}
    for i in range(layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{kind}"] = f"encoder.layer.{i}.{theirs}.{kind}"
    return {ours: weights[theirs] for ours, theirs in names.items()}


class BertTokenizer:
    """The folder's fast tokenizer, padding a batch to its longest text."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.enable_truncation(max_length=max_length)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=0 if pad is None else pad, pad_token="[PAD]")

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, (B, L) int64 each."""
        batch = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in batch], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.long)
        return ids, mask

