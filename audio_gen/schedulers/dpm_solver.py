"""DPM-Solver++(2M) (Lu et al., 2022): a second-order multistep sampler that needs fewer
model calls than DDIM for the same quality."""

from __future__ import annotations

import torch

from audio_gen.schedulers.base import NoiseSchedule, SchedulerOutput, _expand


class DPMSolverMultistepScheduler(NoiseSchedule):
    """DPM-Solver++ in its multistep second-order form, on predicted clean samples.

    With ``lambda = log(alpha / sigma)`` and ``h = lambda_prev - lambda_t`` a step is
    ``x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (exp(-h) - 1) D`` where ``D`` is the
    current x_0 prediction (first order, the first step and the last) or its extrapolation with
    the previous one (second order).
    """

    kind = "dpm++"

    def set_timesteps(self, num_inference_steps: int) -> None:
        super().set_timesteps(num_inference_steps)
        self._previous: tuple[int, torch.Tensor] | None = None

    def _lambda(self, t: int) -> torch.Tensor:
        a = self.alphas_cumprod[t]
        return 0.5 * (torch.log(a) - torch.log1p(-a))

    def step(
        self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor
    ) -> SchedulerOutput:
        """One step from ``timestep`` to the next grid point (state carries the last x_0)."""
        x0, _ = self.split_prediction(model_output, timestep, sample)
        prev_t = self.previous_timestep(timestep)
        previous = getattr(self, "_previous", None)
        if previous is not None and previous[0] <= timestep:
            previous = None  # a new trajectory started (e.g. a variation): no history
        self._previous = (int(timestep), x0)
        if prev_t < 0:  # the last step lands on the clean sample
            return SchedulerOutput(prev_sample=x0, pred_original_sample=x0)
        a_t, a_prev = self.alphas_cumprod[timestep], self.alphas_cumprod[prev_t]
        lam_t, lam_prev = self._lambda(timestep), self._lambda(prev_t)
        h = lam_prev - lam_t
        d = x0
        if previous is not None:
            t_before, x0_before = previous
            r = (lam_t - self._lambda(t_before)) / h
            d = (1 + 1 / (2 * r)).to(x0.dtype) * x0 - (1 / (2 * r)).to(x0.dtype) * x0_before
        ratio = ((1 - a_prev) / (1 - a_t)).sqrt()
        coef = a_prev.sqrt() * torch.expm1(-h)
        prev = _expand(ratio, sample) * sample - _expand(coef, sample) * d
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)
