"""A compact 2-D U-Net that denoises log-mel images, conditioned on a timestep and on text.

One file in the nanoGPT manner: a config dataclass, small blocks, shapes in comments. No file,
device or environment handling lives here; the pipeline and the checkpoint module do that.

The input image (B, 1, M, T) (M mel bins, T frames) is first folded into patches of
``patch[0] x patch[1]`` pixels (a pixel-unshuffle), so every convolution runs on a grid that many
times smaller; on two CPU cores that is what makes sampling faster than real time. Attention (self-
attention over the image plus cross-attention to the text tokens) runs only at the coarse levels
named in ``attention``, where the grid is small.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audio_gen.rhythm import BEAT_CHANNELS, TempoHead
from audio_gen.text_encoder import TextEmbedding
from audio_gen.tonality import KEY_CHANNELS
from foundation.settings import reject_unknown


@dataclass
class UNetConfig:
    """Shape of the denoiser; saved as JSON beside the weights.

    Parameters
    ----------
    n_mels : int
        Height of the log-mel image (must be divisible by ``patch[0] * 2**(levels - 1)``).
    patch : list of two int
        Patch size (mel bins, frames) folded into channels before the first convolution.
    channels : list of int
        Width of each resolution level, finest first.
    blocks_per_level : int
        Residual blocks per level on the way down (one more on the way up).
    attention : list of bool
        Per level: whether to add a transformer block (self- and cross-attention).
    heads : int
        Attention heads.
    text_dim : int
        Width of the text encoder's token states and pooled vector.
    emb_dim : int
        Width of the timestep + pooled-text embedding that modulates every residual block.
    groups : int
        Groups of the group normalisation.
    position_embedding : bool
        Give the network a fixed 2-D sine/cosine position code (mel row, time in frames): added,
        through a learned projection, to the features after the stem, and to the queries and
        keys of every self-attention. Convolutions and attention are blind to absolute
        position, so from pure noise nothing tells a cell where it lies; notes evenly spaced
        at a caption's tempo are a pattern laid out in time, which needs exactly that. Off in
        the recipe: two full training runs with it did not improve tempo accuracy
        (bench/README.md, "Experiments").
    cross_attention : list of bool, optional
        Per level without a transformer block: whether each residual block is followed by a
        cross-attention to the prompt's tokens alone (no self-attention, so it is cheap at
        the fine levels). Without it only the coarsest level reads the tokens and the fine
        levels, where an instrument's timbre lies, hear the prompt only through its pooled
        vector. Empty: none (the shipped models).
    beat_clock : bool
        Take a beat clock (:func:`audio_gen.rhythm.beat_grid`) as extra input channels beside
        the noisy image, and carry a :class:`audio_gen.rhythm.TempoHead` that reads the tempo a
        prompt asks for. Without it the network spaced notes at one irregular rate whatever
        the caption said.
    concepts : list of str, optional
        The concepts ("kind:value", :mod:`audio_gen.understanding`) the denoiser has a learned
        vector for. A prompt's known concepts (read by the model's vocabulary) join its token
        states as tokens of their own (:meth:`UNet.with_concepts`), and their sum joins its
        pooled vector. The sentence vector of "metal with a violin lead" lies near the other
        metal captions'; a violin token is the same in every genre, which is what a lead
        borrowed by a genre needs. Empty: none (the shipped models).
    concept_slots : int
        Most concepts a prompt contributes (first named first).
    key_grid : bool
        Take a key grid (:class:`audio_gen.tonality.KeyGrid`: which mel rows hold the key's
        scale, tonic triad and tonic) through a stem of its own, added to the image's as the
        beat clock is. Its stem starts at zero, so a model without one can be fine-tuned with
        one and starts out unchanged. False: none (the shipped models).
    """

    n_mels: int = 128
    patch: list[int] = field(default_factory=lambda: [8, 4])
    channels: list[int] = field(default_factory=lambda: [64, 128, 192])
    blocks_per_level: int = 1
    attention: list[bool] = field(default_factory=lambda: [False, False, True])
    heads: int = 4
    text_dim: int = 384
    emb_dim: int = 256
    groups: int = 16
    position_embedding: bool = False
    beat_clock: bool = True
    cross_attention: list[bool] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    concept_slots: int = 12
    key_grid: bool = False

    def __post_init__(self) -> None:
        if len(self.attention) != len(self.channels):
            raise ValueError(
                f"attention has {len(self.attention)} entries but channels has "
                f"{len(self.channels)}; give one per level"
            )
        if self.cross_attention and len(self.cross_attention) != len(self.channels):
            raise ValueError(
                f"cross_attention has {len(self.cross_attention)} entries but channels has "
                f"{len(self.channels)}; give one per level, or none"
            )
        if len(set(self.concepts)) != len(self.concepts):
            raise ValueError("concepts must not repeat")
        if self.concept_slots < 1:
            raise ValueError(f"concept_slots must be >= 1, got {self.concept_slots}")
        if len(self.patch) != 2:
            raise ValueError(f"patch must be [mel bins, frames], got {self.patch}")
        multiple = self.patch[0] * 2 ** (len(self.channels) - 1)
        if self.n_mels % multiple:
            raise ValueError(
                f"n_mels={self.n_mels} must be divisible by patch[0] * 2**(levels-1) = {multiple}"
            )
        for width in self.channels:
            if width % self.groups or width % self.heads:
                raise ValueError(
                    f"channel width {width} must be divisible by groups={self.groups} and "
                    f"heads={self.heads}"
                )
            if self.position_embedding and width % 4:
                raise ValueError(f"channel width {width} must be divisible by 4 for the "
                                 "position embedding")

    @property
    def time_multiple(self) -> int:
        """The number of frames must be a multiple of this."""
        return self.patch[1] * 2 ** (len(self.channels) - 1)

    @property
    def patch_pixels(self) -> int:
        return self.patch[0] * self.patch[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UNetConfig:
        reject_unknown(cls, values, "U-Net")
        return cls(**values)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def grid_position_embedding(
    height: int, width: int, dim: int, cell: tuple[int, int]
) -> torch.Tensor:
    """Fixed 2-D sine/cosine code of a (height, width) grid: (height * width, dim).

    Half the channels encode the row, half the column, each in units of the finest pixels
    (``cell`` pixels per grid cell), so every level of the U-Net shares one frequency bank and a
    distance in frames means the same thing at every level.
    """
    rows = torch.arange(height, dtype=torch.float32) * cell[0]
    cols = torch.arange(width, dtype=torch.float32) * cell[1]
    row_code = timestep_embedding(rows, dim // 2, max_period=1000.0)  # (H, dim/2)
    col_code = timestep_embedding(cols, dim // 2, max_period=1000.0)  # (W, dim/2)
    grid = torch.cat([row_code[:, None].expand(height, width, -1),
                      col_code[None].expand(height, width, -1)], dim=-1)
    return grid.reshape(height * width, dim)


class ResBlock(nn.Module):
    """Two 3x3 convolutions; the embedding sets a per-channel scale and shift in between."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        # Zero-initialised last layer: each block starts as the identity, which keeps a freshly
        # built deep U-Net stable in its first training steps.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
    text_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-head attention of queries (B, N, C) to keys and values (B, L, C); ``text_mask``
    (B, L) leaves the prompt's padding out. Returns (B, N, C)."""

    def split(x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, heads, c // heads).transpose(1, 2)  # (B, h, N, C/h)

    mask = None if text_mask is None else text_mask[:, None, None, :]  # (B, 1, 1, L)
    a = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
    b, h, n, d = a.shape
    return a.transpose(1, 2).reshape(b, n, h * d)  # (B, N, C)


class TransformerBlock(nn.Module):
    """Self-attention over the image grid, cross-attention to the text, and a feed-forward."""

    def __init__(self, dim: int, text_dim: int, heads: int, groups: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_in = nn.GroupNorm(groups, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj1 = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.proj2 = nn.Linear(dim, dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        for layer in (self.proj1, self.proj2, self.ff[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor | None,
        position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, c, height, width = x.shape
        h = self.norm_in(x).flatten(2).transpose(1, 2)  # (B, N=H*W, C)
        a = self.norm1(h)
        if position is not None:
            a = a + position.to(a.dtype)  # (N, C), broadcast over the batch
        h = h + self.proj1(attend(*self.qkv(a).chunk(3, dim=-1), self.heads))
        k, v = self.kv(text).chunk(2, dim=-1)  # (B, L, C) each
        h = h + self.proj2(attend(self.q(self.norm2(h)), k, v, self.heads, text_mask))
        h = h + self.ff(self.norm3(h))
        return x + h.transpose(1, 2).reshape(b, c, height, width)


class CrossAttentionBlock(nn.Module):
    """Cross-attention from the image grid to the prompt's tokens, without self-attention."""

    def __init__(self, dim: int, text_dim: int, heads: int, groups: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)  # starts as the identity, as the residual blocks do
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor | None):
        b, c, height, width = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, N=H*W, C)
        k, v = self.kv(text).chunk(2, dim=-1)  # (B, L, C) each
        a = self.proj(attend(self.q(h), k, v, self.heads, text_mask))  # (B, N, C)
        return x + a.transpose(1, 2).reshape(b, c, height, width)


class Level(nn.Module):
    """Residual blocks (each optionally followed by a transformer block) at one resolution."""

    def __init__(
        self, c_in: int, c_out: int, n_blocks: int, attention: bool, cfg: UNetConfig,
        cross_attention: bool = False,
    ) -> None:
        super().__init__()
        self.res = nn.ModuleList(
            ResBlock(c_in if i == 0 else c_out, c_out, cfg.emb_dim, cfg.groups)
            for i in range(n_blocks)
        )
        self.attn = nn.ModuleList(
            TransformerBlock(c_out, cfg.text_dim, cfg.heads, cfg.groups) if attention
            else CrossAttentionBlock(c_out, cfg.text_dim, cfg.heads, cfg.groups)
            if cross_attention else nn.Identity()
            for _ in range(n_blocks)
        )

    def forward(self, x, emb, text, text_mask, cell: tuple[int, int] | None = None):
        position = None
        for res, attn in zip(self.res, self.attn, strict=True):
            x = res(x, emb)
            if isinstance(attn, TransformerBlock):
                if cell is not None and position is None:
                    position = grid_position_embedding(*x.shape[-2:], x.shape[1], cell)
                x = attn(x, text, text_mask, position)
            elif isinstance(attn, CrossAttentionBlock):
                x = attn(x, text, text_mask)
        return x


@dataclass
class BeatFeatures:
    """A beat clock (and a key grid) passed through the stem (see :meth:`UNet.beat_features`
    and :meth:`UNet.key_features`); features of both add."""

    features: torch.Tensor  # (B or 1, C0, M/p0, T/p1)

    def __add__(self, other: BeatFeatures) -> BeatFeatures:
        return BeatFeatures(self.features + other.features)


class UNet(nn.Module):
    """Predicts the diffusion target (noise or velocity) for a batch of noisy log-mel images.

    Parameters
    ----------
    cfg : UNetConfig
        The architecture.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.time_mlp = nn.Sequential(
            nn.Linear(ch[0], cfg.emb_dim), nn.SiLU(), nn.Linear(cfg.emb_dim, cfg.emb_dim)
        )
        self.pooled_proj = nn.Linear(cfg.text_dim, cfg.emb_dim)
        if cfg.concepts:  # row 0: no concept (a zero vector that never trains)
            n = len(cfg.concepts) + 1
            # Scaled like the encoder's outputs: token states have a standard deviation of
            # about 0.5, pooled vectors unit length.
            self.concept_tokens = nn.Embedding(n, cfg.text_dim, padding_idx=0)
            self.concept_pooled = nn.Embedding(n, cfg.text_dim, padding_idx=0)
            self.concept_rank = nn.Embedding(cfg.concept_slots, cfg.text_dim)
            for table, std in ((self.concept_tokens, 0.5), (self.concept_pooled, 0.05),
                               (self.concept_rank, 0.1)):
                nn.init.normal_(table.weight, std=std)
                if table.padding_idx is not None:
                    nn.init.zeros_(table.weight[table.padding_idx])
        in_channels = 1 + (BEAT_CHANNELS if cfg.beat_clock else 0)  # the image (and the clock)
        self.stem = nn.Conv2d(in_channels * cfg.patch_pixels, ch[0], 3, padding=1)
        self.tempo = TempoHead(cfg.text_dim) if cfg.beat_clock else None
        self.key_stem = None
        if cfg.key_grid:  # no bias: no key adds exactly zero
            self.key_stem = nn.Conv2d(KEY_CHANNELS * cfg.patch_pixels, ch[0], 3, padding=1,
                                      bias=False)
            nn.init.zeros_(self.key_stem.weight)
        self.stem_position = nn.Linear(ch[0], ch[0]) if cfg.position_embedding else None
        if self.stem_position is not None:  # starts as no change; learns what position adds
            nn.init.zeros_(self.stem_position.weight)
            nn.init.zeros_(self.stem_position.bias)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, width in enumerate(ch):
            c_in = ch[max(i - 1, 0)]
            self.down.append(Level(c_in, width, cfg.blocks_per_level, cfg.attention[i], cfg,
                                   self._cross(i)))
            last = i == len(ch) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv2d(width, width, 3, stride=2, padding=1)
            )
        self.mid = Level(ch[-1], ch[-1], 1, True, cfg)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(ch))):
            c_in = ch[-1] if i == len(ch) - 1 else ch[i + 1]
            self.upsample.append(
                nn.Identity() if i == len(ch) - 1 else nn.Conv2d(c_in, c_in, 3, padding=1)
            )
            self.up.append(
                Level(c_in + ch[i], ch[i], cfg.blocks_per_level + 1, cfg.attention[i], cfg,
                      self._cross(i))
            )
        self.out_norm = nn.GroupNorm(cfg.groups, ch[0])
        self.out = nn.Conv2d(ch[0], cfg.patch_pixels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        text: torch.Tensor,
        pooled: torch.Tensor,
        text_mask: torch.Tensor | None = None,
        beat: torch.Tensor | None = None,
        key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the denoiser.

        Parameters
        ----------
        x : Tensor (B, 1, M, T)
            Noisy log-mel images; M == cfg.n_mels, T a multiple of ``cfg.time_multiple``.
        t : Tensor (B,)
            Diffusion timesteps (integers or fractions of the training schedule).
        text : Tensor (B, L, text_dim)
            Token states of the prompt.
        pooled : Tensor (B, text_dim)
            Pooled prompt vector.
        text_mask : Tensor (B, L), optional
            Bool: True where a token is real, False on padding; or float: an additive
            attention bias (``-inf`` on padding), as :meth:`TextEmbedding.attention_mask` gives.
        beat : Tensor (B or 1, 3, T) or BeatFeatures, optional
            The beat clock, with ``cfg.beat_clock`` (zeros, i.e. no beat, when not given), or
            what :meth:`beat_features` made of it (which may hold the key grid's features
            too).
        key : Tensor (B or 1, 3, M), optional
            The key grid, with ``cfg.key_grid`` (zeros, i.e. no key, when not given).

        Returns
        -------
        Tensor (B, 1, M, T)
            The model's prediction of the schedule's target.
        """
        m, frames = x.shape[-2:]
        if m != self.cfg.n_mels or frames % self.cfg.time_multiple:
            raise ValueError(
                f"expected (B, 1, {self.cfg.n_mels}, T) with T a multiple of "
                f"{self.cfg.time_multiple}, got {tuple(x.shape)}"
            )
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_mlp(timestep_embedding(t, self.cfg.channels[0]))
        emb = emb + self.pooled_proj(pooled)  # (B, E)
        # The stem sees the image and the clock side by side (one convolution over both); its
        # clock half is a separate sum, so a sampler can compute it once per clip.
        image_weight = self.stem.weight[:, : self.cfg.patch_pixels]
        h = F.conv2d(self._fold(x), image_weight, self.stem.bias, padding=1)
        if isinstance(beat, BeatFeatures):  # a clock's (and a key's) features, made once
            h = h + beat.features.to(h.dtype)  # (B, C0, M/p0, T/p1)
        elif self.cfg.beat_clock and beat is not None:  # no clock adds exactly zero
            h = h + self.beat_features(beat).features.to(h.dtype)
        if self.key_stem is not None and key is not None:
            h = h + self.key_features(key, frames).features.to(h.dtype)
        if self.stem_position is not None:
            height, width = h.shape[-2:]
            code = grid_position_embedding(height, width, h.shape[1], self._cell(0))
            h = h + self.stem_position(code.to(h.dtype)).T.reshape(1, -1, height, width)
        skips = []
        for i, (level, down) in enumerate(zip(self.down, self.downsample, strict=True)):
            h = level(h, emb, text, text_mask, self._cell(i))
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb, text, text_mask, self._cell(len(self.down) - 1))
        for i, (level, up) in enumerate(zip(self.up, self.upsample, strict=True)):
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = up(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
            h = level(torch.cat([h, skip], dim=1), emb, text, text_mask,
                      self._cell(len(self.up) - 1 - i))
        h = self.out(F.silu(self.out_norm(h)))  # (B, p0*p1, M/p0, T/p1)
        return self._unfold(h)  # (B, 1, M, T)

    def with_concepts(
        self, text: TextEmbedding, concepts: torch.Tensor, ranks: torch.Tensor
    ) -> TextEmbedding:
        """The prompt with its concepts' learned vectors: one token each after its token
        states, and their sum added to its pooled vector.

        Parameters
        ----------
        text : TextEmbedding
            The encoded prompts (B of them).
        concepts : Tensor (B, S) long
            Concept ids: ``1 + `` the index in ``cfg.concepts``, 0 for none.
        ranks : Tensor (B, S) long
            Each concept's place among the prompt's concepts of its kind (0 for the first
            instrument named, the lead; 1 for the next...).
        """
        if not self.cfg.concepts:
            raise ValueError("this denoiser has no concept vectors (cfg.concepts is empty)")
        present = concepts > 0
        ranks = ranks.clamp(0, self.cfg.concept_slots - 1)
        tokens = self.concept_tokens(concepts) + self.concept_rank(ranks) * present[..., None]
        weight = None
        if text.weight is not None:
            weight = torch.cat([text.weight, present.to(text.weight.dtype)], dim=1)
        return TextEmbedding(
            tokens=torch.cat([text.tokens, tokens.to(text.tokens.dtype)], dim=1),
            mask=torch.cat([text.mask, present], dim=1),
            pooled=text.pooled + self.concept_pooled(concepts).sum(1).to(text.pooled.dtype),
            weight=weight,
        )

    def beat_features(self, beat: torch.Tensor) -> BeatFeatures:
        """The stem's response to a beat clock (B, 3, T): it depends on neither the noisy
        image nor the timestep, so a sampler computes it once and reuses it at every step."""
        m = self.cfg.n_mels
        # The clock is the same in every mel row: each patch sees its frames' beat phase.
        grid = beat.float()[:, :, None, :].expand(-1, -1, m, -1)  # (B, 3, M, T)
        clock_weight = self.stem.weight[:, self.cfg.patch_pixels:]
        return BeatFeatures(F.conv2d(self._fold(grid), clock_weight, padding=1))

    def key_features(self, key: torch.Tensor, frames: int) -> BeatFeatures:
        """The key stem's response to a key grid (B, 3, M) over ``frames`` frames: like the
        clock's, computed once per clip by a sampler."""
        if self.key_stem is None:
            raise ValueError("this denoiser has no key grid (cfg.key_grid is false)")
        # The key is the same in every frame: each patch sees its mel rows' key profile.
        grid = key.float()[:, :, :, None].expand(-1, -1, -1, frames)  # (B, 3, M, T)
        return BeatFeatures(self.key_stem(self._fold(grid)))

    def _cross(self, level: int) -> bool:
        return bool(self.cfg.cross_attention) and self.cfg.cross_attention[level]

    def _cell(self, level: int) -> tuple[int, int] | None:
        """Pixels per grid cell at a level, or None when no position code is used."""
        if not self.cfg.position_embedding:
            return None
        return self.cfg.patch[0] * 2**level, self.cfg.patch[1] * 2**level

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, M, T) -> (B, C*p0*p1, M/p0, T/p1): each patch's pixels become channels."""
        (p0, p1), (b, c, m, t) = self.cfg.patch, x.shape
        x = x.reshape(b, c, m // p0, p0, t // p1, p1)
        return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * p0 * p1, m // p0, t // p1)

    def _unfold(self, h: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`_fold`."""
        (p0, p1), (b, _, m, t) = self.cfg.patch, h.shape
        h = h.reshape(b, p0, p1, m, t).permute(0, 3, 1, 4, 2)
        return h.reshape(b, 1, m * p0, t * p1)
