"""DDPM (Ho et al., 2020): the training-time scheduler, and ancestral sampling on any grid."""

from __future__ import annotations

import torch

from audio_gen.schedulers.base import NoiseSchedule, SchedulerOutput, _expand


class DDPMScheduler(NoiseSchedule):
    """Ancestral sampling from the DDPM posterior ``q(x_prev | x_t, x_0)``.

    Training uses only the shared forward process (:meth:`add_noise`,
    :meth:`training_target`); :meth:`step` samples with the posterior between two grid points,
    so it also works with fewer steps than the training schedule.
    """

    kind = "ddpm"

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        """One ancestral step from ``timestep`` to the next grid point.

        Parameters
        ----------
        model_output : Tensor
            The model's prediction at ``timestep``.
        timestep : int
            A grid point of :meth:`set_timesteps`.
        sample : Tensor
            x_t.
        generator : torch.Generator, optional
            Source of the posterior noise (makes sampling repeatable).
        """
        x0, _ = self.split_prediction(model_output, timestep, sample)
        a_t = self._alpha_bar(timestep)
        a_prev = self.alpha_bar_prev(timestep)
        beta = 1 - a_t / a_prev  # the step's effective beta
        coef_x0 = a_prev.sqrt() * beta / (1 - a_t)
        coef_xt = (1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)
        mean = _expand(coef_x0, sample) * x0 + _expand(coef_xt, sample) * sample
        if self.previous_timestep(timestep) < 0:
            return SchedulerOutput(prev_sample=mean, pred_original_sample=x0)
        variance = (1 - a_prev) / (1 - a_t) * beta
        noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype)
        prev = mean + _expand(variance.clamp_min(1e-20).sqrt(), sample) * noise
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)
