"""Scheduler maths against closed-form values, and exact recovery from perfect predictions."""

from __future__ import annotations

import math

import pytest
import torch

from audio_gen.schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    cosine_alphas_cumprod,
)

SAMPLERS = [DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler]


def f(u: float, s: float = 0.008) -> float:
    return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def test_cosine_schedule_matches_its_closed_form():
    a = cosine_alphas_cumprod(1000)
    assert a.shape == (1000,) and a.dtype == torch.float64
    for i in (0, 1, 10, 250, 500, 900, 990):
        assert a[i].item() == pytest.approx(f((i + 1) / 1000) / f(0), rel=1e-9)
    assert torch.all(a[1:] < a[:-1])  # strictly more noise at every step
    assert a[0].item() == pytest.approx(0.99996, abs=1e-5)
    assert a[-1].item() < 1e-8  # (almost) pure noise at the end: beta clipped at 0.999


def test_add_noise_and_velocity_closed_form():
    s = DDIMScheduler()
    x0, eps = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), -1.0)
    t = torch.tensor([499])
    a = f(500 / 1000) / f(0)
    expected = math.sqrt(a) * 0.5 + math.sqrt(1 - a) * -1.0
    assert s.add_noise(x0, eps, t)[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-5)
    v = math.sqrt(a) * -1.0 - math.sqrt(1 - a) * 0.5
    assert s.velocity(x0, eps, t)[0, 0, 0, 0].item() == pytest.approx(v, rel=1e-5)
    assert torch.equal(DDIMScheduler(prediction_type="epsilon").training_target(x0, eps, t), eps)


def test_trailing_grid_starts_at_pure_noise():
    s = DDIMScheduler()
    s.set_timesteps(4)
    assert s.timesteps.tolist() == [999, 749, 499, 249]
    s.set_timesteps(1000)
    assert s.timesteps[0] == 999 and s.timesteps[-1] == 0 and len(s.timesteps) == 1000


def test_ddim_step_closed_form():
    s = DDIMScheduler(prediction_type="epsilon", clip_sample=False)
    s.set_timesteps(4)
    x, eps = torch.full((1, 1, 1, 1), 0.3), torch.full((1, 1, 1, 1), 0.2)
    a_t, a_prev = f(750 / 1000) / f(0), f(500 / 1000) / f(0)
    x0 = (0.3 - math.sqrt(1 - a_t) * 0.2) / math.sqrt(a_t)
    expected = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * 0.2
    out = s.step(eps, 749, x)
    assert out.pred_original_sample.item() == pytest.approx(x0, rel=1e-5)
    assert out.prev_sample.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_perfect_prediction_recovers_the_input(sampler, prediction):
    torch.manual_seed(0)
    s = sampler(prediction_type=prediction)
    x0 = torch.rand(2, 1, 8, 8) * 2 - 1
    eps = torch.randn_like(x0)
    s.set_timesteps(10)
    x = s.add_noise(x0, eps, s.timesteps[:1])
    for t in s.timesteps.tolist():
        # The exact noise in x_t (a perfect model) as the model would output it.
        a = s.alphas_cumprod[t].float()
        true_eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        output = true_eps if prediction == "epsilon" else a.sqrt() * true_eps - (1 - a).sqrt() * x0
        x = s.step(output, t, x).prev_sample
    assert torch.allclose(x, x0, atol=1e-4)


def test_split_prediction_inverts_add_noise():
    s = DDIMScheduler(prediction_type="v_prediction")
    x0, eps = torch.rand(3, 1, 4, 4) - 0.5, torch.randn(3, 1, 4, 4)
    t = torch.tensor([10, 500, 990])
    x0_hat, eps_hat = s.split_prediction(s.velocity(x0, eps, t), t, s.add_noise(x0, eps, t))
    assert torch.allclose(x0_hat, x0, atol=1e-4) and torch.allclose(eps_hat, eps, atol=1e-4)


def test_ddim_is_deterministic_and_ddpm_follows_its_generator():
    x, out = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4)
    ddim = DDIMScheduler()
    ddim.set_timesteps(5)
    assert torch.equal(ddim.step(out, 999, x).prev_sample, ddim.step(out, 999, x).prev_sample)
    ddpm = DDPMScheduler()
    ddpm.set_timesteps(5)
    one = ddpm.step(out, 999, x, generator=torch.Generator().manual_seed(1)).prev_sample
    two = ddpm.step(out, 999, x, generator=torch.Generator().manual_seed(1)).prev_sample
    other = ddpm.step(out, 999, x, generator=torch.Generator().manual_seed(2)).prev_sample
    assert torch.equal(one, two) and not torch.equal(one, other)


def test_wrong_use_gives_clear_errors():
    with pytest.raises(ValueError, match="prediction_type"):
        DDIMScheduler(prediction_type="sample")
    s = DDIMScheduler()
    with pytest.raises(ValueError, match="set_timesteps"):
        s.step(torch.zeros(1), 999, torch.zeros(1))
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="num_inference_steps"):
            s.set_timesteps(bad)
    s.set_timesteps(10)
    with pytest.raises(ValueError, match="not on the grid"):
        s.step(torch.zeros(1), 998, torch.zeros(1))
    with pytest.raises(ValueError, match="eta"):
        s.step(torch.zeros(1), 999, torch.zeros(1), eta=2.0)
    with pytest.raises(ValueError, match="timesteps must be integers"):
        s.add_noise(torch.zeros(1), torch.zeros(1), torch.tensor([1000]))
