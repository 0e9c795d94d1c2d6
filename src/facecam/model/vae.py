"""Pixels <-> normalised latents: the one place the Wan VAE's latent statistics are applied.

The model sees a video as the VAE posterior *mean* of its pixels scaled to [-1, 1], each of the
16 channels normalised as ``(z - latents_mean) / latents_std`` with the statistics from the VAE's
config (REFERENCE.md, "VAE use"). Inference, training, validation and the shard builder all go
through these functions.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from ..errors import WeightsError


def latent_stats(vae_config: Any, device=None, dtype: torch.dtype = torch.float32
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` shaped ``(1, C, 1, 1, 1)`` from a VAE config.

    Raises:
        WeightsError: the config has no ``latents_mean`` / ``latents_std`` (a VAE without them would
            silently give latents on the wrong scale).
    """
    mean = getattr(vae_config, "latents_mean", None)
    std = getattr(vae_config, "latents_std", None)
    if not mean or not std:
        raise WeightsError("the VAE config has no latents_mean / latents_std; the Wan2.1 VAE's config lists "
                           "16 of each (a VAE without them cannot be used)")
    if len(mean) != len(std):
        raise WeightsError(f"the VAE config lists {len(mean)} latents_mean and {len(std)} latents_std values")
    view = (1, -1, 1, 1, 1)
    return (torch.tensor(mean, device=device, dtype=dtype).view(view),
            torch.tensor(std, device=device, dtype=dtype).view(view))


def normalize_latents(z: torch.Tensor, vae_config: Any) -> torch.Tensor:
    """Raw VAE latents ``(B, C, F, h, w)`` -> normalised (float32)."""
    mean, std = latent_stats(vae_config, z.device)
    return (z.float() - mean) / std


def denormalize_latents(latents: torch.Tensor, vae_config: Any) -> torch.Tensor:
    """Normalised latents -> raw VAE latents (float32)."""
    mean, std = latent_stats(vae_config, latents.device)
    return latents.float() * std + mean


def vae_dtype(vae: torch.nn.Module) -> torch.dtype:
    return next(vae.parameters()).dtype


@torch.no_grad()
def encode_pixels(vae: torch.nn.Module, pixels: torch.Tensor, device: Optional[torch.device] = None) -> torch.Tensor:
    """``(B, 3, T, H, W)`` in [-1, 1] -> normalised posterior-mean latents ``(B, 16, (T-1)/4+1, H/8, W/8)``
    (float32, on ``device`` or the pixels' device)."""
    device = device if device is not None else pixels.device
    z = vae.encode(pixels.to(device=device, dtype=vae_dtype(vae))).latent_dist.mean
    return normalize_latents(z, vae.config)


@torch.no_grad()
def decode_pixels(vae: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents ``(B, 16, F, h, w)`` -> pixels ``(B, 3, T, H, W)`` in [-1, 1] (float32)."""
    z = denormalize_latents(latents, vae.config)
    return vae.decode(z.to(vae_dtype(vae)), return_dict=False)[0].float().clamp(-1, 1)
