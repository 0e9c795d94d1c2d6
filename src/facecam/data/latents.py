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
    """``encode_video`` over a diffusers ``AutoencoderKLWan``, no gradients.

    On a GPU (the default when one is present) the VAE runs in bf16 and the clips of a sample are
    encoded as one batch (:meth:`encode_videos`); on a CPU in fp32.
    """

    def __init__(self, vae, device: Optional[str] = None, dtype=None) -> None:
        import torch

        from ..model.vae import latent_stats

        latent_stats(vae.config)  # a VAE without latent statistics is refused here, before any clip is read
        self.device = torch.device(device) if device else next(vae.parameters()).device
        if dtype is not None:
            vae = vae.to(dtype)
        self.vae = vae.eval().to(self.device)

    @classmethod
    def from_pretrained(cls, path: str, device: Optional[str] = None, dtype: Optional[str] = None
                        ) -> "WanVideoEncoder":
        """A diffusers VAE folder (``config.json`` + weights), e.g. ``Wan2.2-I2V-A14B-Diffusers/vae``.

        ``device``: default ``cuda`` when present, else ``cpu``; ``dtype``: default bfloat16 on a GPU,
        float32 on a CPU (``"float32"`` / ``"bfloat16"``).
        """
        import torch
        from diffusers import AutoencoderKLWan

        from ..errors import FacecamError

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise FacecamError(f"--device {device}: this machine has no CUDA device")
        name = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        if name not in ("float32", "bfloat16"):
            raise FacecamError(f"--vae-dtype must be float32 or bfloat16, got {name!r}")
        return cls(AutoencoderKLWan.from_pretrained(path), device, getattr(torch, name))

    @staticmethod
    def _pixels(frames: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 127.5 - 1.0

    def encode_video(self, frames: np.ndarray):
        """``(T, H, W, 3)`` uint8 -> ``(16, T', h, w)`` float32 normalised latents."""
        from ..model.vae import encode_pixels

        return encode_pixels(self.vae, self._pixels(frames)[None], self.device)[0].cpu()

    def encode_videos(self, clips: dict[str, np.ndarray]) -> dict:
        """Several clips of one shape as one batch: ``{name: (T, H, W, 3)}`` -> ``{name: (16, T', h, w)}``."""
        import torch

        from ..model.vae import encode_pixels

        names = list(clips)
        shapes = {clips[n].shape for n in names}
        if len(shapes) != 1:
            return {n: self.encode_video(clips[n]) for n in names}
        batch = torch.stack([self._pixels(clips[n]) for n in names])
        z = encode_pixels(self.vae, batch, self.device).cpu()
        return dict(zip(names, z))


def encode_latents(encoder: VideoEncoder, clips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Encode each named ``(T, H, W, 3)`` clip; float16 ``(16, T', h, w)`` arrays to store."""
    out = {}
    encoded = encoder.encode_videos(clips) if hasattr(encoder, "encode_videos") else \
        {name: encoder.encode_video(frames) for name, frames in clips.items()}
    for name, z in encoded.items():
        z = z.detach().cpu().numpy() if hasattr(z, "detach") else np.asarray(z)
        if z.ndim != 4:
            raise ValueError(f"encode_video must return (C, T', h, w), got shape {z.shape}")
        out[name] = z.astype(np.float16)
    return out
