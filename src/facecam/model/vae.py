"""Pixels <-> normalised latents: the one place the Wan VAE's latent statistics are applied.

The model sees a video as the VAE posterior *mean* of its pixels scaled to [-1, 1], each of the
16 channels normalised as ``(z - latents_mean) / latents_std`` with the statistics from the VAE's
config (REFERENCE.md, "VAE use"). Inference, training, validation and the shard builder all go
through these functions.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

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


# --- a few frames at a time ----------------------------------------------------------------------
# The Wan VAE is causal in time: diffusers' encode runs its encoder on frame 0, then on 4 frames at a
# time, carrying a cache of each causal convolution's last frames from chunk to chunk; decode runs the
# decoder on one latent frame at a time the same way. It does so over a whole-clip tensor, so a long
# clip's pixels (4 MB a frame at 704x480 in float32) sit on the GPU at once. The functions below run
# the same chunks with the same caches, but take each chunk's pixels when it is needed and hand each
# decoded chunk on as soon as it exists: the device then holds a few frames whatever the length.
# (``quant_conv`` / ``post_quant_conv`` have a temporal kernel of 1, so running them per chunk is the
# same operation.)


def streams(vae: torch.nn.Module) -> bool:
    """Whether :func:`encode_chunked` / :func:`decode_chunked` apply to ``vae``: the Wan VAE without
    spatial tiling (which needs the whole clip), without a patchified layout (Wan2.2's 5B VAE) and
    without offload hooks (which move the VAE only when ``encode`` / ``decode`` are called)."""
    return (hasattr(vae, "_cached_conv_counts") and hasattr(vae, "clear_cache") and hasattr(vae, "post_quant_conv")
            and not getattr(vae, "use_tiling", False) and not getattr(vae, "use_slicing", False)
            and getattr(vae.config, "patch_size", None) is None
            and getattr(vae, "_hf_hook", None) is None and getattr(vae, "_diffusers_hook", None) is None)


def encode_spans(num_frames: int) -> list[tuple[int, int]]:
    """The frame ranges the Wan encoder takes in turn: ``[0, 1)``, then 4 frames at a time."""
    return [(0, 1)] + [(1 + 4 * i, 5 + 4 * i) for i in range((num_frames - 1) // 4)]


@torch.no_grad()
def encode_chunked(vae: torch.nn.Module, pixels: Callable[[int, int], torch.Tensor], num_frames: int,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Normalised posterior-mean latents ``(B, 16, (T-1)/4+1, H/8, W/8)`` (float32), as :func:`encode_pixels`
    gives, of a ``num_frames`` (4k+1) video whose pixels ``pixels(start, end)`` returns chunk by chunk as
    ``(B, 3, end - start, H, W)`` in [-1, 1]."""
    dtype = vae_dtype(vae)
    device = device if device is not None else next(vae.parameters()).device
    vae.clear_cache()
    means = []
    try:
        for start, end in encode_spans(num_frames):
            vae._enc_conv_idx = [0]
            x = pixels(start, end).to(device=device, dtype=dtype)
            h = vae.quant_conv(vae.encoder(x, feat_cache=vae._enc_feat_map, feat_idx=vae._enc_conv_idx))
            means.append(h[:, :h.shape[1] // 2])  # the posterior's mean half
    finally:
        vae.clear_cache()
    return normalize_latents(torch.cat(means, 2), vae.config)


@torch.no_grad()
def decode_chunked(vae: torch.nn.Module, latents: torch.Tensor,
                   take: Callable[[int, torch.Tensor], None]) -> None:
    """Decode normalised latents one latent frame at a time, as :func:`decode_pixels` does over the whole
    clip: ``take(start, pixels)`` receives video frames ``start ...`` as ``(B, 3, n, H, W)`` float32 in
    [-1, 1] (1 frame, then 4 at a time)."""
    z = denormalize_latents(latents, vae.config).to(vae_dtype(vae))
    vae.clear_cache()
    start = 0
    try:
        for i in range(z.shape[2]):
            vae._conv_idx = [0]
            x = vae.post_quant_conv(z[:, :, i:i + 1])
            out = vae.decoder(x, feat_cache=vae._feat_map, feat_idx=vae._conv_idx, first_chunk=i == 0)
            out = out.clamp(-1.0, 1.0).float()
            take(start, out)
            start += out.shape[2]
    finally:
        vae.clear_cache()
