"""Periodic validation render: one held sample denoised by the expert being trained, written as a video.

A run trains one expert, so the render uses that expert on its own share of the sampler:

* **high-noise expert**: from pure noise, Euler steps of the ``validation_steps``-step
  inference schedule while ``t >= boundary``, then the clean estimate ``x - s' v`` at the
  last of them (the content and camera view the low expert would refine);
* **low-noise expert**: the validation target noised to the first schedule sigma below the
  boundary (where the high expert would hand over), then Euler steps down to 0.

The video shows ``source | condition | target | render`` side by side, so a glance
tells whether the render follows the condition. The sampler is the inference
scheduler itself (same shifted sigmas, same Euler update), without classifier-free guidance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model.sampling import make_scheduler, set_release_timesteps
from ..model.transformer import facecam_velocity


@torch.no_grad()
def denoise_expert(model: torch.nn.Module, expert: str, *, source: torch.Tensor, condition: torch.Tensor,
                   target: torch.Tensor, prompt_embeds: torch.Tensor, steps: int, shift: float, boundary: float,
                   generator: torch.Generator) -> torch.Tensor:
    """Latents ``(B, 16, F, h, w)`` the expert produces on its part of a ``steps``-step sampler.

    The schedule and the Euler update are the inference scheduler's (:mod:`facecam.model.sampling`).
    """
    scheduler = make_scheduler(shift)
    set_release_timesteps(scheduler, steps, target.device)
    timesteps, sigmas = scheduler.timesteps, scheduler.sigmas
    mine = [i for i, t in enumerate(timesteps) if (float(t) >= boundary * 1000) == (expert == "high")]
    if not mine:
        raise ValueError(f"a {steps}-step sampler gives the {expert} expert no step; raise validation_steps")
    noise = torch.randn(target.shape, generator=generator).to(target.device)
    s0 = float(sigmas[mine[0]])
    x = noise if expert == "high" else (1 - s0) * target + s0 * noise
    scheduler.set_begin_index(mine[0])
    for i in mine:
        t = timesteps[i].expand(x.shape[0])
        v = facecam_velocity(model, x, source, condition, t, prompt_embeds).float()
        if expert == "high" and i == mine[-1]:
            return x - float(sigmas[i]) * v  # clean estimate where the low expert would take over
        x = scheduler.step(v, timesteps[i], x, return_dict=False)[0]
    return x


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """``(3, T, H, W)`` in [-1, 1] -> ``(T, H, W, 3)`` uint8."""
    frames = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return frames.permute(1, 2, 3, 0).cpu().numpy()


def write_side_by_side(path: Path, videos: list[torch.Tensor], fps: float = 24.0) -> Path:
    """Write ``(3, T, H, W)`` videos next to each other (cropped to the shortest) as one mp4."""
    from ..video.io import write_video

    frames = [to_uint8_frames(v) for v in videos]
    t = min(f.shape[0] for f in frames)
    h = min(f.shape[1] for f in frames)
    row = np.concatenate([f[:t, :h] for f in frames], axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, row, fps=fps)
