"""Temporal context windows: denoise a clip longer than the model's 81 frames.

The experts were trained on 81-frame clips (21 latent frames, rotary positions
0..41 with the source half). For a longer clip, every denoising step splits the
latent frame axis into overlapping windows of the trained length, predicts each
window's velocity from its own slices of the noisy target, the source latents
and the condition latents (so positions inside a window run exactly as in
training), and blends the predictions where windows overlap. This is the
context-window scheme that AnimateDiff popularised and that the Wan wrappers
for ComfyUI use; the implementation here is this project's.

Blend weights are 1 inside a window and ramp down smoothly (a raised cosine)
across the overlap, so that at every frame the weights of the covering windows
sum to 1, and a window as long as the clip gives exactly the un-windowed
prediction.

Frame counts on the command line are video frames (4k+1); windows and overlaps
are planned in latent frames (the Wan VAE maps 4k+1 video frames to k+1 latent
frames): :func:`latent_count` converts.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .errors import FacecamError


def latent_count(video_frames: int) -> int:
    """Latent frames for ``video_frames`` = 4k+1 video frames (k+1)."""
    if video_frames < 1 or (video_frames - 1) % 4:
        raise FacecamError(f"a window must be 4k+1 video frames (e.g. 81), got {video_frames}")
    return (video_frames - 1) // 4 + 1


def plan_windows(num_latents: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end (end exclusive) latent-frame spans of ``window`` frames covering ``num_latents``.

    Consecutive windows share at least ``overlap`` frames; the last window ends at the clip's
    end (its overlap with the previous one may be larger). A clip no longer than ``window``
    is one window.
    """
    if window < 1:
        raise FacecamError(f"window must be at least 1 latent frame, got {window}")
    if not 0 <= overlap < window:
        raise FacecamError(f"overlap must be in [0, window), got overlap {overlap} for window {window}")
    if num_latents <= window:
        return [(0, num_latents)]
    stride = window - overlap
    starts = list(range(0, num_latents - window, stride)) + [num_latents - window]
    return [(s, s + window) for s in starts]


def window_weights(spans: Sequence[tuple[int, int]], num_latents: int) -> list[torch.Tensor]:
    """Per-window blend weights ``(window,)`` that sum to 1 at every latent frame.

    Inside each overlap the earlier window fades out and the later one fades in along a
    raised cosine; frames covered by one window get weight 1.
    """
    raw = []
    for i, (start, end) in enumerate(spans):
        w = torch.ones(end - start, dtype=torch.float64)
        if i > 0:  # fade in over the overlap with the previous window
            n = spans[i - 1][1] - start
            if n > 0:
                w[:n] = torch.minimum(w[:n], _ramp(n))
        if i + 1 < len(spans):  # fade out over the overlap with the next window
            n = end - spans[i + 1][0]
            if n > 0:
                w[end - start - n:] = torch.minimum(w[end - start - n:], _ramp(n).flip(0))
        raw.append(w)
    total = torch.zeros(num_latents, dtype=torch.float64)
    for (start, end), w in zip(spans, raw):
        total[start:end] += w
    if bool((total <= 0).any()):
        raise FacecamError("context windows leave latent frames uncovered")
    return [(w / total[start:end]).float() for (start, end), w in zip(spans, raw)]


def _ramp(n: int) -> torch.Tensor:
    """``n`` weights rising strictly between 0 and 1 (raised cosine), excluding both ends."""
    x = (torch.arange(n, dtype=torch.float64) + 1) / (n + 1)
    return 0.5 - 0.5 * torch.cos(torch.pi * x)


def blend_windows(predict: Callable[[int, int], torch.Tensor], spans: Sequence[tuple[int, int]],
                  weights: Sequence[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """Sum ``predict(start, end)`` (a ``(B, C, end-start, h, w)`` velocity) over windows, weighted.

    ``like`` gives the output's shape, dtype and device (the full ``(B, C, F, h, w)`` latents).
    Only one window's prediction is alive at a time besides the float32 accumulator.
    """
    out = torch.zeros(like.shape, dtype=torch.float32, device=like.device)
    for (start, end), w in zip(spans, weights):
        v = predict(start, end).float()
        out[:, :, start:end] += v * w.to(out.device).view(1, 1, -1, 1, 1)
    return out
