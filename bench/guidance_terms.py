"""A guidance term beside classifier-free guidance, for the sampling-time experiments
(`composed_guidance.py`, `eval_variants.py`): a third prompt joins each step's batch."""

from __future__ import annotations

import torch


def with_third_prompt(pipe, x: torch.Tensor, t: int, embeds, guidance: float, beat, third,
                      weight: float, plus: int, minus: int) -> torch.Tensor:
    """``uncond + guidance (cond - uncond) + weight (out[plus] - out[minus])`` for one clip
    ``x``, where out is the denoiser's prediction for [empty prompt, prompt, ``third``]."""
    from audio_gen.text_encoder import TextEmbedding

    batch = TextEmbedding.cat([embeds, third])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=pipe.bf16):
        out = pipe.unet(x.expand(3, -1, -1, -1), torch.tensor([t] * 3), batch.tokens,
                        batch.pooled, batch.attention_mask(), beat)
    outs = out.float().chunk(3)
    uncond, cond = outs[:2]
    return uncond + guidance * (cond - uncond) + weight * (outs[plus] - outs[minus])
