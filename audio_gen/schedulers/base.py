"""The noise schedule shared by every scheduler: the cosine schedule and the conversions between
what a model predicts (noise or velocity) and the clean sample.

Notation: ``alphas_cumprod[t]`` is alpha-bar_t; a noisy sample is
``x_t = sqrt(alpha-bar_t) * x_0 + sqrt(1 - alpha-bar_t) * eps``; the velocity target is
``v = sqrt(alpha-bar_t) * eps - sqrt(1 - alpha-bar_t) * x_0`` (Salimans and Ho, 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")


def cosine_alphas_cumprod(
    num_train_timesteps: int, s: float = 0.008, max_beta: float = 0.999
) -> torch.Tensor:
    """alpha-bar of the cosine schedule (Nichol and Dhariwal, 2021), float64.

    ``alpha-bar_i = prod_{j<=i} (1 - beta_j)`` with
    ``beta_j = min(1 - f((j+1)/T) / f(j/T), max_beta)`` and
    ``f(u) = cos(((u + s) / (1 + s)) * pi / 2) ** 2``, so without the clip
    ``alpha-bar_i = f((i+1)/T) / f(0)``.
    """
    if num_train_timesteps < 2:
        raise ValueError(f"num_train_timesteps must be >= 2, got {num_train_timesteps}")

    def f(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    steps = num_train_timesteps
    betas = torch.tensor(
        [min(1 - f((i + 1) / steps) / f(i / steps), max_beta) for i in range(steps)],
        dtype=torch.float64,
    )
    return torch.cumprod(1.0 - betas, dim=0)


@dataclass
class SchedulerOutput:
    """One sampling step's result."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def _expand(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) or () -> broadcastable against a (B, ...) sample."""
    values = values.to(like.dtype)
    return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))


class NoiseSchedule:
    """The forward process and prediction conversions (subclasses add a sampler).

    Parameters
    ----------
    num_train_timesteps : int
        Length of the training schedule.
    prediction_type : {"epsilon", "v_prediction"}
        What the model is trained to predict.
    clip_sample : bool
        Clip the predicted clean sample to ``[-clip_range, clip_range]`` while sampling (the
        data lie in [-1, 1]).
    clip_range : float
        See ``clip_sample``.
    """

    kind: ClassVar[str] = "base"

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        prediction_type: str = "v_prediction",
        clip_sample: bool = True,
        clip_range: float = 1.0,
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
            )
        self.num_train_timesteps = num_train_timesteps
        self.prediction_type = prediction_type
        self.clip_sample = clip_sample
        self.clip_range = clip_range
        self.alphas_cumprod = cosine_alphas_cumprod(num_train_timesteps)
        self.timesteps = torch.empty(0, dtype=torch.long)

    # ------------------------------------------------------------------ config

    def config(self) -> dict[str, Any]:
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "prediction_type": self.prediction_type,
            "clip_sample": self.clip_sample,
            "clip_range": self.clip_range,
        }

    @classmethod
    def from_config(cls, values: dict[str, Any]):
        values = {k: v for k, v in values.items() if k != "kind"}
        return cls(**values)

    # ------------------------------------------------------------------ forward process

    def _alpha_bar(self, t: torch.Tensor | int) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point or (t < 0).any() or (t >= self.num_train_timesteps).any():
            raise ValueError(
                f"timesteps must be integers in [0, {self.num_train_timesteps}), got {t}"
            )
        return self.alphas_cumprod[t]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps``; ``t`` is (B,) or ()."""
        a = _expand(self._alpha_bar(t), x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``v = sqrt(alpha-bar_t) eps - sqrt(1 - alpha-bar_t) x_0``."""
        a = _expand(self._alpha_bar(t), x0)
        return a.sqrt() * noise - (1 - a).sqrt() * x0

    def training_target(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        """What the model should output for ``add_noise(x0, noise, t)``."""
        if self.prediction_type == "epsilon":
            return noise
        return self.velocity(x0, noise, t)

    def split_prediction(
        self, model_output: torch.Tensor, t: torch.Tensor | int, sample: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's output at ``t`` as (predicted x_0, predicted eps), x_0 clipped if set.

        With clipping, eps is recomputed from the clipped x_0 so the two stay consistent.
        """
        a = _expand(self._alpha_bar(t), sample)
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        if self.prediction_type == "epsilon":
            eps = model_output
            x0 = (sample - sigma * eps) / alpha
        else:
            x0 = alpha * sample - sigma * model_output
            eps = alpha * model_output + sigma * sample
        if self.clip_sample:
            clipped = x0.clamp(-self.clip_range, self.clip_range)
            if not torch.equal(clipped, x0):
                x0 = clipped
                eps = (sample - alpha * x0) / sigma
        return x0, eps

    # ------------------------------------------------------------------ sampling grid

    def _check_steps(self, num_inference_steps: int) -> None:
        if not 1 <= num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps must be in [1, {self.num_train_timesteps}], "
                f"got {num_inference_steps}"
            )

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Choose the sampling grid: evenly spaced, descending, always starting at T - 1
        ("trailing" spacing, so the first step sees pure noise)."""
        self._check_steps(num_inference_steps)
        self.num_inference_steps = num_inference_steps
        step = self.num_train_timesteps / num_inference_steps
        grid = torch.arange(self.num_train_timesteps, 0, -step).round().long() - 1
        self.timesteps = grid

    def previous_timestep(self, t: int) -> int:
        """The grid point after ``t`` (-1 after the last one, where alpha-bar is 1)."""
        index = self.index_of(t)
        return int(self.timesteps[index + 1]) if index + 1 < len(self.timesteps) else -1

    def index_of(self, t: int | torch.Tensor) -> int:
        if len(self.timesteps) == 0:
            raise ValueError("call set_timesteps() before step()")
        matches = (self.timesteps == int(t)).nonzero()
        if len(matches) == 0:
            raise ValueError(f"timestep {int(t)} is not on the grid set by set_timesteps()")
        return int(matches[0, 0])

    def alpha_bar_prev(self, t: int) -> torch.Tensor:
        prev = self.previous_timestep(t)
        return self.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
