"""DDIM (Song et al., 2021): deterministic sampling in few steps on the DDPM schedule."""

from __future__ import annotations

import torch

from audio_gen.schedulers.base import NoiseSchedule, SchedulerOutput, _expand


class DDIMScheduler(NoiseSchedule):
    """DDIM steps; ``eta = 0`` (default) is deterministic, ``eta = 1`` matches DDPM noise."""

    kind = "ddim"

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        """One step from ``timestep`` to the next grid point.

        ``x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z`` with
        ``sigma = eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev)``.

        Parameters
        ----------
        model_output : Tensor
            The model's prediction at ``timestep``.
        timestep : int
            A grid point of :meth:`set_timesteps`.
        sample : Tensor
            x_t.
        eta : float
            Amount of fresh noise, 0 to 1.
        generator : torch.Generator, optional
            Source of that noise.
        """
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        x0, eps = self.split_prediction(model_output, timestep, sample)
        a_t = self._alpha_bar(timestep)
        a_prev = self.alpha_bar_prev(timestep)
        sigma = eta * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).sqrt()
        direction = (1 - a_prev - sigma**2).clamp_min(0).sqrt()
        prev = _expand(a_prev.sqrt(), sample) * x0 + _expand(direction, sample) * eps
        if eta > 0:
            noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype)
            prev = prev + _expand(sigma, sample) * noise
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)
