"""The ``facecam`` engine: the FaceCam diffusion model behind the common :class:`Engine` interface.

Loading converts the base experts and applies the fine-tunes once per engine; the
prompt embeddings are cached next to the weights after the first run, so later runs
skip the text encoder entirely.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from ..errors import FacecamError, WeightsError
from .base import Engine

if TYPE_CHECKING:  # pragma: no cover
    from ..condition.builder import ConditionedClip

log = logging.getLogger(__name__)

_DTYPES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
           "float32": "float32", "fp32": "float32"}


def _resolve_device_dtype(device: Optional[str], dtype: Optional[str]):
    import os

    import torch

    if device is None:
        # Under `accelerate launch` / `torchrun` each process takes the GPU of its local rank.
        rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{rank}" if torch.cuda.is_available() else "cpu"
    name = _DTYPES.get(str(dtype or "bfloat16").replace("torch.", ""))
    if name is None:
        raise FacecamError(f"unknown dtype {dtype!r}; use bfloat16, float16 or float32")
    torch_dtype = getattr(torch, name)
    if str(device).startswith("cpu") and torch_dtype != torch.float32:
        # CPU kernels for bf16 convolutions/attention are slow or missing; CPU runs are for tiny models.
        torch_dtype = torch.float32
    return torch.device(device), torch_dtype


def check_device(layout, device: Optional[str]) -> None:
    """Refuse the full-size experts without a CUDA device (tiny test models run anywhere)."""
    import torch

    from ..model.weights import is_full_size

    wants_cpu = (str(device).startswith("cpu") if device is not None else not torch.cuda.is_available())
    if wants_cpu and is_full_size(layout):
        where = "--device cpu was asked for" if device is not None else "this machine has no CUDA device"
        raise FacecamError(f"the full-size FaceCam experts (two 14B-parameter models) need a CUDA GPU and "
                           f"{where}; use --engine warp here, or a GPU machine")


class FaceCamEngine(Engine):
    """FaceCam (Wan2.2-I2V-A14B + FaceCam fine-tunes) re-angling engine.

    Args:
        weights: weights folder (see :mod:`facecam.model.weights`); required.
        steps: Euler steps (50). cfg: guidance scale (5.0).
        offload: model CPU offload + VAE tiling (less GPU memory, slower; 48 GB cards is an estimate).
        device: torch device (default cuda if available). dtype: compute dtype (bf16; fp32 on CPU).
        window / overlap: clips longer than ``window`` frames (81, the model's length) are denoised in
            windows sharing ``overlap`` frames (:mod:`facecam.context_windows`).
    """

    name = "facecam"

    @classmethod
    def availability(cls, weights: Optional[str] = None, device: Optional[str] = None, **options) -> tuple[bool, str]:
        from ..model.weights import find_weights

        try:
            check_device(find_weights(weights), device)
        except (WeightsError, FacecamError) as exc:
            return False, str(exc)
        return True, ""

    def __init__(self, weights: Union[str, None] = None, steps: int = 50, cfg: float = 5.0, offload: bool = False,
                 device: Optional[str] = None, dtype: Optional[str] = None, context_parallel: int = 1,
                 window: int = 81, overlap: int = 16, **unknown):
        if unknown:  # a misspelt option must not silently fall back to its default
            raise FacecamError(f"unknown facecam engine option(s): {', '.join(sorted(unknown))}")
        from ..model.weights import find_weights

        self.layout = find_weights(weights)
        check_device(self.layout, device)
        self.steps, self.cfg, self.offload = int(steps), float(cfg), bool(offload)
        self.context_parallel = int(context_parallel)
        self.window, self.overlap = int(window), int(overlap)
        self.device, self.dtype = _resolve_device_dtype(device, dtype)
        self._pipe = None

    @property
    def pipeline(self):
        """The :class:`~facecam.pipeline.FaceCamPipeline`, built on first use."""
        if self._pipe is None:
            from ..pipeline import FaceCamPipeline

            from ..pipeline import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT

            pipe = FaceCamPipeline.from_weights(self.layout, torch_dtype=self.dtype)
            for report in getattr(pipe, "load_reports", []):
                log.info(report.line())
            # Fill the prompt cache before the experts go to the GPU, so the 11 GB text encoder
            # (built only on a cache miss) never shares the card with 57 GB of experts.
            for text in (DEFAULT_PROMPT, DEFAULT_NEGATIVE_PROMPT):
                pipe.encode_prompt(text, self.device)
            pipe.release_text_encoder()
            if self.offload and self.device.type == "cuda":
                pipe.enable_model_cpu_offload(device=self.device)
                pipe.enable_vae_tiling()
            else:
                pipe.to(self.device)
            if self.context_parallel > 1:
                pipe.enable_context_parallel(ulysses_degree=self.context_parallel)
            self._pipe = pipe
        return self._pipe

    def generate(self, clip: "ConditionedClip", *, seed: Optional[int] = None, progress: bool = True) -> np.ndarray:
        """Return ``(T, H, W, 3)`` uint8, same shape as ``clip.source``."""
        import torch

        if clip.source.shape != clip.condition.shape:
            raise FacecamError(f"source {clip.source.shape} and condition {clip.condition.shape} differ in shape")
        first_load = self._pipe is None
        pipe = self.pipeline
        if first_load and progress:
            import sys

            for report in getattr(pipe, "load_reports", []):
                print(f"facecam: {report.line()}", file=sys.stderr)
        pipe.set_progress_bar_config(disable=not progress, desc=f"facecam {clip.name}")
        # The release profile (recorded on the clip) keeps latents and the VAE in bf16 and never tiles.
        release = getattr(clip, "options", {}).get("profile") == "release"
        pipe.vae.to(torch.bfloat16 if release else torch.float32)
        if release or not (self.offload and self.device.type == "cuda"):
            pipe.vae.disable_tiling()
        else:
            pipe.enable_vae_tiling()
        # Noise is drawn on the CPU, as the release does, so a seed gives the same video on any device.
        generator = torch.Generator("cpu").manual_seed(int(seed)) if seed is not None else None
        out = pipe(clip.source, clip.condition, num_inference_steps=self.steps, guidance_scale=self.cfg,
                   generator=generator, output_type="uint8", context_frames=self.window,
                   context_overlap=self.overlap, latents_dtype=torch.bfloat16 if release else None)
        return out.frames[0]
