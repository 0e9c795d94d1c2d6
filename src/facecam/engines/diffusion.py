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


def check_numbers(steps, cfg, cache: str = "none", cache_threshold: Optional[float] = None) -> None:
    """``--steps``, ``--cfg`` and ``--cache-threshold`` a run can use, said before any weight loads (the
    pipeline refused ``--steps 0`` only after both fine-tunes had loaded; ``--cache-threshold -1`` ran)."""
    import math

    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise FacecamError(f"--steps must be a whole number of denoising steps, at least 1, got {steps}")
    if not (math.isfinite(float(cfg)) and cfg >= 0):
        raise FacecamError(f"--cfg must be a finite guidance scale >= 0 (1 = no guidance), got {cfg}")
    if cache_threshold is not None:
        value = float(cache_threshold)
        if not (math.isfinite(value) and value > 0):
            raise FacecamError(f"--cache-threshold must be a finite number above 0, got {cache_threshold}")
        if cache == "taylorseer" and (value < 1 or value != int(value)):
            raise FacecamError(f"--cache-threshold for taylorseer is the steps between full computations "
                               f"(a whole number >= 1), got {cache_threshold}")


def resolve_device_name(device: Optional[str]) -> Optional[str]:
    """``--device`` as torch names it, refused in one line where this machine cannot run it (an unknown
    type, ``meta``, CUDA on a CPU build or without a GPU, a CUDA index beyond the GPUs, MPS off a Mac)."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise FacecamError(f"unknown --device {device!r}: use cuda, cuda:N, cpu or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch is a CPU build" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise FacecamError(f"--device {device}: {why}; use --device cpu (tiny test models) or the warp engine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise FacecamError(f"--device {device}: this machine shows {torch.cuda.device_count()} CUDA GPU(s)")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise FacecamError(f"--device {device}: MPS (Apple GPUs) is not available here")
    elif parsed.type != "cpu":
        raise FacecamError(f"--device {device}: the facecam engine runs on cuda, cpu or mps")
    return str(parsed)


def check_device(layout, device: Optional[str]) -> None:
    """Refuse the full-size experts without a CUDA device (tiny test models run anywhere)."""
    import torch

    from ..model.layout import is_full_size

    wants_cpu = (str(device).startswith("cpu") if device is not None else not torch.cuda.is_available())
    if wants_cpu and is_full_size(layout):
        where = "--device cpu was asked for" if device is not None else "this machine has no CUDA device"
        raise FacecamError(f"the full-size FaceCam experts (two 14B-parameter models) need a CUDA GPU and "
                           f"{where}; use --engine warp here, or a GPU machine")


_CHECKED = ("dtype", "steps", "cfg", "offload", "cache", "cache_threshold", "attention", "quantize")


def check_options(weights: Optional[str], device: Optional[str], dtype: Optional[str] = None, steps=50,
                  cfg=5.0, offload: Union[str, bool] = "none", cache: str = "none",
                  cache_threshold: Optional[float] = None, attention: str = "native", quantize: str = "none"):
    """Every facecam engine option checked at once, before torch's loaders or any weight: the engine's own
    construction and :meth:`FaceCamEngine.availability` (``check_engine``, before a run touches its output).
    Returns ``(layout, device, dtype, offload)``: the weights folder, the torch device and dtype, and the
    offload mode (``True`` / ``False``, the former flag, as ``model`` / ``none``)."""
    from ..model.layout import find_weights  # (not the loaders: a missing --weights is said at once)

    check_numbers(steps, cfg, cache, cache_threshold)
    layout = find_weights(weights)  # (before torch and diffusers load)
    device = resolve_device_name(device)
    check_device(layout, device)
    from .. import speed

    torch_device, torch_dtype = _resolve_device_dtype(device, dtype)
    offload = ("model" if offload else "none") if isinstance(offload, bool) else str(offload)
    speed.check_offload(offload, torch_device)
    speed.check_attention(str(attention))
    speed.check_quantize(str(quantize), torch_device)
    if cache not in speed.CACHE_KINDS:
        raise FacecamError(f"unknown cache {cache!r}; use one of {', '.join(speed.CACHE_KINDS)}")
    return layout, torch_device, torch_dtype, offload


class FaceCamEngine(Engine):
    """FaceCam (Wan2.2-I2V-A14B + FaceCam fine-tunes) re-angling engine.

    Args:
        weights: weights folder (see :mod:`facecam.model.weights`); required.
        steps: Euler steps (50). cfg: guidance scale (5.0).
        device: torch device (default cuda if available). dtype: compute dtype (bf16; fp32 on CPU).
        window / overlap: clips longer than ``window`` frames (81, the model's length) are denoised in
            windows sharing ``overlap`` frames (:mod:`facecam.context_windows`).
        cache, cache_threshold: reuse block outputs across steps (``none``, ``first-block``, ``taylorseer``,
            ``mag``; :func:`facecam.speed.apply_cache`). ``mag`` reads the ratios ``facecam calibrate-cache``
            wrote beside the weights.
        attention: diffusers attention backend (``native``, ``flash``, ``sage``, ...).
        compile: regional ``torch.compile`` of the experts' transformer block.
        offload: ``none``, ``model``, ``group`` or ``sequential`` CPU offload (+ VAE tiling); a GPU only.
            ``True`` / ``False`` (the former flag) mean ``model`` / ``none``.
        quantize: weight-only ``int8`` or ``fp8`` experts (torchao).
        batch_guidance: both guidance passes as one batch-2 forward.

    The speed options are applied when the pipeline is built, in the order :mod:`facecam.speed`
    explains: quantize, attention, cache, placement (device or offload), compile.
    """

    name = "facecam"

    @classmethod
    def availability(cls, weights: Optional[str] = None, device: Optional[str] = None, **options) -> tuple[bool, str]:
        known = {k: v for k, v in options.items() if k in _CHECKED}
        try:
            check_options(weights, device, **known)
        except (WeightsError, FacecamError) as exc:
            return False, str(exc)
        return True, ""

    def __init__(self, weights: Union[str, None] = None, steps: int = 50, cfg: float = 5.0,
                 offload: Union[str, bool] = "none", device: Optional[str] = None, dtype: Optional[str] = None,
                 context_parallel: int = 1, window: int = 81, overlap: int = 16, cache: str = "none",
                 cache_threshold: Optional[float] = None, attention: str = "native", compile: bool = False,
                 quantize: str = "none", batch_guidance: bool = False, **unknown):
        if unknown:  # a misspelt option must not silently fall back to its default
            raise FacecamError(f"unknown facecam engine option(s): {', '.join(sorted(unknown))}")
        from .. import speed

        # Every option is checked here, before a run builds its condition or loads a weight.
        self.layout, self.device, self.dtype, offload = check_options(
            weights, device, dtype=dtype, steps=steps, cfg=cfg, offload=offload, cache=cache,
            cache_threshold=cache_threshold, attention=attention, quantize=quantize)
        self.steps, self.cfg = int(steps), float(cfg)
        self.context_parallel = int(context_parallel)
        self.window, self.overlap = int(window), int(overlap)
        self.offload, self.cache, self.attention, self.quantize = offload, str(cache), str(attention), str(quantize)
        self.cache_threshold = None if cache_threshold is None else float(cache_threshold)
        self.compile, self.batch_guidance = bool(compile), bool(batch_guidance)
        self.mag_ratios = speed.load_mag_ratios(self.layout) if self.cache == "mag" else None
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
            self._apply_speed_options(pipe)
            if self.context_parallel > 1:
                pipe.enable_context_parallel(ulysses_degree=self.context_parallel)
            self._pipe = pipe
        return self._pipe

    def _apply_speed_options(self, pipe) -> None:
        """Quantize, attention, cache, placement, compile: in this order (see :mod:`facecam.speed`)."""
        from .. import speed

        # Quantizing on the GPU is much faster, but the layers stay there: not when they are to be offloaded.
        speed.quantize_experts(pipe, self.quantize, self.device,
                               work_device=self.device if self.offload == "none" else None)
        if self.attention != "native":  # native is diffusers' default; setting it only logs a warning
            speed.set_attention(pipe, self.attention)
        speed.apply_cache(pipe, self.cache, self.cache_threshold, steps=self.steps, mag_ratios=self.mag_ratios)
        speed.apply_offload(pipe, self.offload, self.device)
        if self.compile:
            speed.compile_experts(pipe)

    def generate(self, clip: "ConditionedClip", *, seed: Optional[int] = None, progress: bool = True) -> np.ndarray:
        """Return ``(T, H, W, 3)`` uint8, same shape as ``clip.source``."""
        import torch

        if clip.source.shape != clip.condition.shape:
            raise FacecamError(f"source {clip.source.shape} and condition {clip.condition.shape} differ in shape")
        if self.cache != "none" and clip.source.shape[0] > self.window:
            # A cache compares each expert call with the previous one: across windows that is another window.
            raise FacecamError(f"--cache {self.cache} cannot follow several temporal windows: use --cache none for "
                               f"clips longer than --window ({self.window} frames)")
        first_load = self._pipe is None
        pipe = self.pipeline
        if first_load and progress:
            import sys

            for report in getattr(pipe, "load_reports", []):
                print(f"facecam: {report.line()}", file=sys.stderr)
        pipe.set_progress_bar_config(disable=not progress, desc=f"facecam {clip.name}")
        # The release profile (recorded on the clip) keeps latents and the VAE in bf16 and never tiles.
        release = getattr(clip, "options", {}).get("profile") == "release"
        vae_dtype = torch.bfloat16 if release else torch.float32
        if pipe.vae.dtype != vae_dtype:
            import logging

            # diffusers warns of "modules that should be kept in float32: []" on any cast of this VAE,
            # which has none: the whole VAE in bf16 is what the release runs.
            chatter = logging.getLogger("diffusers.models.modeling_utils")
            level = chatter.level
            chatter.setLevel(logging.ERROR)
            try:
                pipe.vae.to(vae_dtype)
            finally:
                chatter.setLevel(level)
        if release:
            pipe.vae.disable_tiling()
        elif self.offload != "none":
            pipe.enable_vae_tiling()
        # Noise is drawn on the CPU, as the release does, so a seed gives the same video on any device.
        generator = torch.Generator("cpu").manual_seed(int(seed)) if seed is not None else None
        out = pipe(clip.source, clip.condition, num_inference_steps=self.steps, guidance_scale=self.cfg,
                   generator=generator, output_type="uint8", context_frames=self.window,
                   context_overlap=self.overlap, latents_dtype=torch.bfloat16 if release else None,
                   batch_guidance=self.batch_guidance)
        return out.frames[0]
