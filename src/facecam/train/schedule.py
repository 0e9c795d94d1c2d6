"""The flow-matching noise schedule FaceCam is trained with, and the expert's share of it.

Training uses the same shifted schedule as inference (REFERENCE.md, "sampler schedule"),
only with 1000 steps: ``sigma_i = linspace(1, 0, 1001)[i]`` for ``i < 1000``, shifted
``s' = shift * s / (1 + (shift - 1) * s)`` and ``t = 1000 * s'``. A step index is drawn
uniformly from the expert's range (high-noise expert: ``t >= boundary * 1000``, i.e. indices
``[0, 358)`` for shift 5 and boundary 0.9; low-noise expert: the rest), the clean latent is
noised along the straight path ``x_t = (1 - s') x_0 + s' eps`` and the network regresses the
velocity ``eps - x_0``. Each step's squared error is weighted by
``w(t) ~ exp(-2 ((t - 500) / 1000)^2)`` minus its minimum, normalised to mean 1 over all
1000 steps - the default of the authors' training framework, which emphasises mid-range noise.

The sigmas come from :mod:`facecam.model.sampling`, the schedule's one home, so the trainer,
the validation render and inference agree on one schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..model.sampling import DEFAULT_BOUNDARY_RATIO as BOUNDARY
from ..model.sampling import DEFAULT_SHIFT as SHIFT
from ..model.sampling import NUM_TRAIN_TIMESTEPS, shifted_sigmas

EXPERTS = ("high", "low")


@dataclass(frozen=True)
class TrainingSchedule:
    """The 1000-step training schedule restricted to one expert.

    Attributes:
        sigmas: ``(1000,)`` shifted sigmas ``s'`` (float64), index 0 is pure noise.
        timesteps: ``(1000,)`` ``1000 * s'``, what the DiT is conditioned on.
        weights: ``(1000,)`` per-step loss weights, mean 1 over all 1000 steps.
        low, high: the expert's step-index range ``[low, high)``.
    """

    sigmas: torch.Tensor
    timesteps: torch.Tensor
    weights: torch.Tensor
    low: int
    high: int
    expert: str

    @classmethod
    def for_expert(cls, expert: str, *, shift: float = SHIFT, boundary: float = BOUNDARY,
                   num_timesteps: int = NUM_TRAIN_TIMESTEPS) -> "TrainingSchedule":
        """The schedule of the ``"high"`` (``t >= boundary``) or ``"low"`` (``t < boundary``) expert."""
        if expert not in EXPERTS:
            raise ValueError(f"expert must be one of {EXPERTS}, got {expert!r}")
        sigmas = shifted_sigmas(num_timesteps, shift)
        timesteps = sigmas * NUM_TRAIN_TIMESTEPS
        weights = loss_weights(timesteps)
        # Sigmas decrease with the index, so the high-noise steps are a prefix.
        split = int((timesteps >= boundary * NUM_TRAIN_TIMESTEPS).sum())
        low, high = (0, split) if expert == "high" else (split, num_timesteps)
        if high <= low:
            raise ValueError(f"expert {expert!r} gets no training steps with boundary {boundary}")
        return cls(sigmas, timesteps, weights, low, high, expert)

    def sample_indices(self, batch: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``(batch,)`` step indices drawn uniformly from this expert's range."""
        return torch.randint(self.low, self.high, (batch,), generator=generator)

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``(1 - s') clean + s' noise`` for each sample's step (``clean`` is ``(B, ...)``)."""
        s = self.sigmas[indices].to(device=clean.device, dtype=torch.float32)
        s = s.view(-1, *([1] * (clean.dim() - 1)))
        return (1 - s) * clean + s * noise


def loss_weights(timesteps: torch.Tensor) -> torch.Tensor:
    """``exp(-2 ((t - 500) / 1000)^2)`` minus its minimum, normalised to mean 1 over ``timesteps``."""
    n = NUM_TRAIN_TIMESTEPS
    y = torch.exp(-2 * ((timesteps - n / 2) / n) ** 2)
    y = y - y.min()
    return y * (len(timesteps) / y.sum())


def velocity_target(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The rectified-flow velocity the DiT regresses: ``noise - clean``."""
    return noise - clean
