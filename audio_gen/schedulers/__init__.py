"""Diffusion schedulers: pure tensor maths behind ``set_timesteps`` and ``step``."""

from audio_gen.schedulers.base import NoiseSchedule, SchedulerOutput, cosine_alphas_cumprod
from audio_gen.schedulers.ddim import DDIMScheduler
from audio_gen.schedulers.ddpm import DDPMScheduler
from audio_gen.schedulers.dpm_solver import DPMSolverMultistepScheduler

SCHEDULERS = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm++": DPMSolverMultistepScheduler,
}

__all__ = [
    "SCHEDULERS",
    "DDIMScheduler",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "NoiseSchedule",
    "SchedulerOutput",
    "cosine_alphas_cumprod",
]
