"""The sampler schedule: one home for the flow-matching sigmas of inference, validation and training.

The release samples with diffusers' ``FlowMatchEulerDiscreteScheduler`` at a static shift of 5:
unshifted sigmas ``s = linspace(1, 0, N + 1)[:-1]``, shifted ``s' = 5 s / (1 + 4 s)``,
``t = 1000 s'``, Euler steps ``x += v (s'_{i+1} - s'_i)`` (REFERENCE.md, "sampler schedule").
Training draws its noise levels from the same schedule with ``N = 1000``.
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

NUM_TRAIN_TIMESTEPS = 1000
DEFAULT_SHIFT = 5.0
DEFAULT_BOUNDARY_RATIO = 0.9  # expert switch: high-noise expert while t >= 0.9 * 1000


def make_scheduler(shift: float = DEFAULT_SHIFT) -> FlowMatchEulerDiscreteScheduler:
    """Flow-matching Euler scheduler with the release's static shift (no dynamic shifting)."""
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift,
                                           use_dynamic_shifting=False)


def release_sigmas(num_inference_steps: int) -> np.ndarray:
    """Unshifted sigmas ``linspace(1, 0, N + 1)`` without the final 0; the scheduler applies the shift."""
    if num_inference_steps < 1:
        raise ValueError(f"steps must be >= 1, got {num_inference_steps}")
    return np.linspace(1.0, 0.0, num_inference_steps + 1)[:-1]


def set_release_timesteps(scheduler: FlowMatchEulerDiscreteScheduler, num_inference_steps: int,
                          device=None) -> None:
    """Put ``scheduler`` on the release's ``num_inference_steps``-step schedule."""
    scheduler.set_timesteps(sigmas=release_sigmas(num_inference_steps).tolist(), device=device)


def shifted_sigmas(num_inference_steps: int, shift: float = DEFAULT_SHIFT) -> torch.Tensor:
    """The scheduler's shifted sigmas ``s'`` of an ``N``-step run, ``(N,)`` float64, from 1 down (0 excluded).

    Computed in float64, so a 1000-step training schedule has no float32 rounding at the expert
    boundary; ``tests/test_train.py`` checks the training schedule against the scheduler's timesteps.
    """
    s = torch.from_numpy(release_sigmas(num_inference_steps)).to(torch.float64)
    return shift * s / (1 + (shift - 1) * s)
