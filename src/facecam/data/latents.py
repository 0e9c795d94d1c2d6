"""Optional pre-encoded VAE latents for shards.

The builder accepts any object with::

    encode_video(frames: np.ndarray) -> torch.Tensor | np.ndarray
        frames: (T, H, W, 3) uint8 RGB
        returns: (16, T', h, w) normalised latents (Wan2.1 VAE: T' = (T - 1) / 4 + 1, h = H / 8, w = W / 8)

:class:`WanVideoEncoder` wraps a diffusers ``AutoencoderKLWan`` to that interface the
way REFERENCE.md "VAE use" says the model sees it: pixels scaled to [-1, 1], the
posterior mean (no sampling), each channel normalised as ``(z - mean) / std`` with
the ``latents_mean`` / ``latents_std`` of the VAE's config (:mod:`facecam.model.vae`, the one
home of that normalisation).
"""

from __future__ import annotations

from typing import Optional, Protocol

import numpy as np


class VideoEncoder(Protocol):
    def encode_video(self, frames: np.ndarray): ...


class WanVideoEncoder:
    """``encode_video`` over a diffusers ``AutoencoderKLWan`` (CPU or GPU, no gradients)."""

    def __init__(self, vae, device: Optional[str] = None) -> None:
        import torch

        from ..model.vae import latent_stats

        latent_stats(vae.config)  # a VAE without latent statistics is refused here, before any clip is read
        self.vae = vae.eval()
        self.device = torch.device(device) if device else next(vae.parameters()).device
        self.vae.to(self.device)

    @classmethod
    def from_pretrained(cls, path: str, device: Optional[str] = None) -> "WanVideoEncoder":
        """A diffusers VAE folder (``config.json`` + weights), e.g. ``Wan2.2-I2V-A14B-Diffusers/vae``."""
        from diffusers import AutoencoderKLWan

        return cls(AutoencoderKLWan.from_pretrained(path), device)

    def encode_video(self, frames: np.ndarray):
        """``(T, H, W, 3)`` uint8 -> ``(16, T', h, w)`` float32 normalised latents."""
        import torch

        from ..model.vae import encode_pixels

        pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        return encode_pixels(self.vae, pixels, self.device)[0].cpu()


def encode_latents(encoder: VideoEncoder, clips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Encode each named ``(T, H, W, 3)`` clip; float16 ``(16, T', h, w)`` arrays to store."""
    out = {}
    for name, frames in clips.items():
        z = encoder.encode_video(frames)
        z = z.detach().cpu().numpy() if hasattr(z, "detach") else np.asarray(z)
        if z.ndim != 4:
            raise ValueError(f"encode_video must return (C, T', h, w), got shape {z.shape}")
        out[name] = z.astype(np.float16)
    return out
