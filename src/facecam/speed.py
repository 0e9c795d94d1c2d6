"""Speed and memory options of the diffusion engine, applied to a loaded :class:`~facecam.pipeline.FaceCamPipeline`.

Each function changes both experts (``pipe.transformer``, ``pipe.transformer_2``) in place with
diffusers' own machinery, so the pipeline's sampling code never changes:

* :func:`quantize_experts` - weight-only int8 / fp8 of every linear layer in the transformer blocks (torchao);
* :func:`set_attention` - the attention kernel (diffusers' ``set_attention_backend``);
* :func:`apply_cache` - reuse of block outputs across steps (First-Block, TaylorSeer, MagCache hooks);
* :func:`apply_offload` - where the weights live between uses (model, group or sequential CPU offload);
* :func:`compile_experts` - ``torch.compile`` of the repeated transformer block (regional compile).

:class:`~facecam.engines.diffusion.FaceCamEngine` applies them in that order, and the order matters:
quantization swaps weight tensors, so it comes before anything that holds on to them (offload hooks
copy them to pinned CPU memory, compiled graphs specialise on them); the attention backend and cache
hooks are set on the CPU-side modules before placement, as diffusers' examples do; compilation is lazy
and comes last, so it traces the blocks with every hook already in place.

MagCache skips blocks by a per-model table of residual magnitude ratios (one per step);
:func:`calibrate_mag_cache` measures it with diffusers' calibration mode and
``facecam calibrate-cache`` keeps it beside the weights (:func:`mag_ratios_path`).
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from .errors import FacecamError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .model.weights import WeightsLayout
    from .pipeline import FaceCamPipeline


CACHE_KINDS = ("none", "first-block", "taylorseer", "mag")
OFFLOAD_MODES = ("none", "model", "group", "sequential")
QUANTIZE_KINDS = ("none", "fp8", "int8")
EXPERTS = ("transformer", "transformer_2")
MAG_RATIOS_FILE = "mag_ratios.json"
# diffusers' defaults: the reuse threshold of First-Block and MagCache, TaylorSeer's steps between full computations.
DEFAULT_THRESHOLDS = {"first-block": 0.05, "mag": 0.06, "taylorseer": 5}
# The package each attention backend imports (diffusers' own check names it too, in a longer message).
ATTENTION_PACKAGES = {"flash": ("flash_attn", "flash-attn"), "flash_varlen": ("flash_attn", "flash-attn"),
                      "sage": ("sageattention", "sageattention"), "sage_varlen": ("sageattention", "sageattention"),
                      "xformers": ("xformers", "xformers")}
HUB_PACKAGE = ("kernels", "kernels")  # every ``*_hub`` backend downloads its kernel through this package


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _experts(pipe: "FaceCamPipeline") -> list[tuple[str, "torch.nn.Module"]]:
    return [(name, getattr(pipe, name)) for name in EXPERTS if getattr(pipe, name, None) is not None]


# --------------------------------------------------------------------------- cache
def expert_steps(pipe: "FaceCamPipeline", steps: int) -> dict[str, int]:
    """How many of ``steps`` denoising steps each expert runs (``{"transformer": 18, "transformer_2": 32}`` for 50).

    Cache hooks count steps per expert, so MagCache's per-step table is laid over each expert's own share.
    """
    from .model.sampling import set_release_timesteps

    scheduler = copy.deepcopy(pipe.scheduler)
    set_release_timesteps(scheduler, steps)
    which = [pipe.expert_for(float(t)) for t in scheduler.timesteps]
    return {"transformer": which.count("high"), "transformer_2": which.count("low")}


def mag_ratios_path(layout: "WeightsLayout") -> Path:
    """Where ``facecam calibrate-cache`` keeps the MagCache ratios of a weights folder (beside the prompt cache)."""
    return layout.cache_dir / MAG_RATIOS_FILE


def load_mag_ratios(layout: "WeightsLayout") -> dict:
    """The calibration :func:`calibrate_mag_cache` returned, read back from beside the weights."""
    path = mag_ratios_path(layout)
    if not path.is_file():
        raise FacecamError(f"--cache mag needs this model's magnitude ratios ({path} is missing): run "
                           f"`facecam calibrate-cache --weights {layout.root}` once")
    ratios = json.loads(path.read_text())
    if not all(ratios.get(name) for name in EXPERTS):
        raise FacecamError(f"{path} holds no ratios for both experts: run `facecam calibrate-cache` again")
    return ratios


def _cache_config(kind: str, threshold: Optional[float], expert_steps_: int, ratios: Optional[list]):
    import torch
    from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    value = DEFAULT_THRESHOLDS[kind] if threshold is None else threshold
    if kind == "first-block":
        return FirstBlockCacheConfig(threshold=float(value))
    if kind == "taylorseer":
        if int(value) < 1:
            raise FacecamError(f"--cache-threshold for taylorseer is the steps between full computations "
                               f"(a whole number >= 1), got {value}")
        # Lite mode: the blocks are skipped outright and only the output projection is extrapolated, so the
        # Taylor factors are (tokens x 64) per context; the full mode keeps factors of every attention output,
        # hundreds of GB at 704x480x81. Factors in fp32: they are differences of nearby outputs.
        return TaylorSeerCacheConfig(cache_interval=int(value), use_lite_mode=True, taylor_factors_dtype=torch.float32)
    return MagCacheConfig(threshold=float(value), num_inference_steps=expert_steps_, mag_ratios=ratios)


def apply_cache(pipe: "FaceCamPipeline", kind: str, threshold: Optional[float] = None, *, steps: int = 50,
                mag_ratios: Optional[dict] = None) -> None:
    """Reuse block outputs across denoising steps on both experts (``kind="none"`` removes any cache).

    Args:
        kind: ``none``, ``first-block`` (skip the remaining blocks while the first block's residual changes
            by less than ``threshold``), ``taylorseer`` (compute every ``threshold`` steps, extrapolate the
            output in between) or ``mag`` (skip while the accumulated magnitude-ratio error stays under
            ``threshold``; needs ``mag_ratios``).
        threshold: the kind's knob (None: diffusers' default, :data:`DEFAULT_THRESHOLDS`); higher is faster
            and further from the uncached result.
        steps: the run's denoising steps (MagCache lays its per-step table over each expert's share).
        mag_ratios: what :func:`load_mag_ratios` returns (``mag`` only).
    """
    if kind not in CACHE_KINDS:
        raise FacecamError(f"unknown cache {kind!r}; use one of {', '.join(CACHE_KINDS)}")
    if kind == "mag" and mag_ratios is None:
        raise FacecamError("--cache mag needs this model's magnitude ratios: run "
                           "`facecam calibrate-cache --weights DIR` once")
    shares = expert_steps(pipe, steps) if kind == "mag" else {}
    for name, model in _experts(pipe):
        if model.is_cache_enabled:
            model.disable_cache()
        if kind == "none" or (kind == "mag" and not shares[name]):
            continue
        model.enable_cache(_cache_config(kind, threshold, shares.get(name, 0),
                                         mag_ratios.get(name) if mag_ratios else None))


def calibrate_mag_cache(pipe: "FaceCamPipeline", source, condition, *, steps: int = 50, guidance_scale: float = 5.0,
                        seed: int = 0) -> dict:
    """Run one generation with diffusers' MagCache calibration on both experts; returns the ratios.

    Returns:
        ``{"steps": steps, "transformer": [...], "transformer_2": [...]}``: per step of each expert, the mean
        ratio of the output residual's token norms to the previous step's (1.0 at an expert's first step),
        averaged over the guidance passes.
    """
    import torch
    from diffusers.hooks import MagCacheConfig
    from diffusers.hooks.mag_cache import _MAG_CACHE_BLOCK_HOOK

    experts = _experts(pipe)
    for _, model in experts:
        if model.is_cache_enabled:
            model.disable_cache()
        # One more step than the run: the hook clears its table when its count is reached, and the
        # callback below reads it after the last step.
        model.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=steps + 1))
    ratios: dict = {"steps": int(steps)}

    def read_ratios(p, i, t, tensors):
        if i != steps - 1:
            return {}
        for name, model in experts:
            # Each guidance pass ("cond", "uncond") keeps its own table in the tail block's hook state.
            states = model.blocks[-1]._diffusers_hook.get_hook(_MAG_CACHE_BLOCK_HOOK).state_manager._state_cache
            tables = [s.calibration_ratios for s in states.values() if s.calibration_ratios]
            ratios[name] = [sum(v) / len(v) for v in zip(*tables)] if tables else []
        return {}

    try:
        pipe(source, condition, num_inference_steps=steps, guidance_scale=guidance_scale, output_type="latent",
             generator=torch.Generator("cpu").manual_seed(int(seed)), callback_on_step_end=read_ratios)
    finally:
        for _, model in experts:
            model.disable_cache()
    return ratios


# --------------------------------------------------------------------------- attention
def check_attention(backend: str) -> None:
    """Raise :class:`FacecamError` when ``backend`` is unknown to diffusers or its package is not installed."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    names = [b.value for b in AttentionBackendName]
    if backend not in names:
        raise FacecamError(f"unknown attention backend {backend!r}; use one of "
                           f"{', '.join(n for n in names if not n.startswith('_'))}")
    module, package = HUB_PACKAGE if backend.endswith("_hub") else ATTENTION_PACKAGES.get(backend, (None, None))
    if module is not None and not _installed(module):
        raise FacecamError(f"attention backend {backend!r} needs the {package} package: pip install {package}")


def set_attention(pipe: "FaceCamPipeline", backend: str) -> None:
    """Run both experts' attention through diffusers' ``backend`` (``native`` is PyTorch's SDPA)."""
    check_attention(backend)
    for _, model in _experts(pipe):
        try:
            model.set_attention_backend(backend)
        except (RuntimeError, ValueError) as exc:  # diffusers' own requirement checks (versions, devices)
            raise FacecamError(f"attention backend {backend!r} is not usable here: {exc}") from None


# --------------------------------------------------------------------------- compile
def compile_experts(pipe: "FaceCamPipeline") -> None:
    """``torch.compile`` each expert's repeated transformer block (regional compile: 40 identical blocks
    compile once, in about the time of one).

    ``fullgraph=False``: the cache and group-offload hooks diffusers installs on blocks are excluded from
    compilation and run eagerly around it, which a full graph would refuse.
    """
    for _, model in _experts(pipe):
        model.compile_repeated_blocks(fullgraph=False)


# --------------------------------------------------------------------------- placement
def check_offload(mode: str, device: Union[str, "torch.device"]) -> None:
    """Raise :class:`FacecamError` for an unknown offload mode or one asked of a device that is not a GPU."""
    import torch

    if mode not in OFFLOAD_MODES:
        raise FacecamError(f"unknown offload {mode!r}; use one of {', '.join(OFFLOAD_MODES)}")
    device = torch.device(device)
    if mode != "none" and device.type != "cuda":
        raise FacecamError(f"--offload {mode} moves weights between CPU memory and a GPU; the device is {device}")


PIN_BLOCK = 1 << 30  # bytes: page-locked blocks the experts' plain tensors are packed into (see pin_in_place)
PIN_ALIGN = 512      # bytes: each packed tensor starts on this boundary


def _pinned(tensor: "torch.Tensor") -> "torch.Tensor":
    return tensor.pin_memory()


def _pinned_block(nbytes: int) -> "torch.Tensor":
    import torch

    return torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)


class _PinnedPacker:
    """Copies tensors into shared page-locked blocks of a power-of-two size, first fit.

    torch's host allocator rounds every page-locked allocation up to a power of two; pinned one by one,
    the A14B's 5120x13824 feed-forward weights (141.6 MB) would take 256 MB each, the experts about 1.46x
    their size (arithmetic on the block shapes, not measured). A block of exactly 2^k bytes is not rounded.
    """

    def __init__(self, block: int):
        self.block, self.blocks = block, []  # blocks: [storage, bytes used]

    def copy(self, tensor: "torch.Tensor") -> "torch.Tensor":
        nbytes = tensor.numel() * tensor.element_size()
        for entry in self.blocks:
            start = -(-entry[1] // PIN_ALIGN) * PIN_ALIGN
            if start + nbytes <= entry[0].numel():
                break
        else:
            size = max(self.block, 1 << max(nbytes - 1, 0).bit_length())
            entry, start = [_pinned_block(size), 0], 0
            self.blocks.append(entry)
        entry[1] = start + nbytes
        view = entry[0][start:start + nbytes].view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor)
        return view


def pin_in_place(model: "torch.nn.Module", block: int = PIN_BLOCK) -> int:
    """Move every CPU parameter and buffer of ``model`` into page-locked memory, one tensor at a time.

    diffusers' streamed group offload keeps a pinned copy of each tensor beside the one the module holds
    (``pin_memory`` copies unless the tensor is pinned already), so host RAM would hold the experts twice
    (read from diffusers' code; the bf16 run of ``benchmarks/gpu_check.sh`` was killed on a 128 GiB
    machine, 2026-12-04; with this function, in a second run that day, the bf16 pair (53.3 GiB) ran
    with 60.2 GiB of host memory in use, ``benchmarks/results/h200-2026-12-04.txt``). Pinned here first, each
    tensor's unpinned original is freed before the next is copied, and diffusers finds them pinned.
    Plain tensors are packed into shared blocks of ``block`` bytes (:class:`_PinnedPacker`), so the
    host allocator's power-of-two rounding costs at most the tail of each block. Quantized tensor
    subclasses are pinned whole and swapped as new parameters, as torchao installs them.
    Returns the number of tensors pinned.
    """
    import torch

    packer, count = _PinnedPacker(block), 0
    for module in model.modules():
        for store in (module._parameters, module._buffers):
            for name, tensor in list(store.items()):
                if tensor is None or tensor.device.type != "cpu" or tensor.is_pinned():
                    continue
                plain = type(tensor.data) is torch.Tensor
                pinned = packer.copy(tensor.detach()) if plain else _pinned(tensor.detach())
                if store is module._buffers:
                    store[name] = pinned
                elif plain:
                    tensor.data = pinned
                else:
                    store[name] = torch.nn.Parameter(pinned, requires_grad=tensor.requires_grad)
                count += 1
    return count


def apply_offload(pipe: "FaceCamPipeline", mode: str, device: Union[str, "torch.device"]) -> None:
    """Place the pipeline on ``device``: whole (``none``) or offloaded to CPU memory between uses.

    * ``model``: one whole expert on the GPU at a time (``enable_model_cpu_offload``);
    * ``group``: each transformer block is copied to the GPU just before it runs, the next one on a
      side CUDA stream while the current one computes (``enable_group_offload``); the VAE stays on the GPU.
      The experts' tensors are pinned in place first (:func:`pin_in_place`): host RAM holds them once;
    * ``sequential``: every layer is copied in when it runs (``enable_sequential_cpu_offload``; slowest).

    Any offload also decodes the VAE in tiles.
    """
    import torch

    check_offload(mode, device)
    device = torch.device(device)
    if mode == "none":
        pipe.to(device)
        return
    if mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif mode == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        for _, model in _experts(pipe):
            model.to("cpu")  # offload starts from host memory; pinned there once, not copied twice
            pin_in_place(model)
            model.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                       offload_type="block_level", num_blocks_per_group=1, use_stream=True)
        pipe.vae.to(device)
    pipe.enable_vae_tiling()


# --------------------------------------------------------------------------- quantization
def check_quantize(kind: str, device: Union[str, "torch.device"]) -> None:
    """Raise :class:`FacecamError` when ``kind`` cannot run on ``device`` (torchao missing, no fp8 support)."""
    if kind not in QUANTIZE_KINDS:
        raise FacecamError(f"unknown quantization {kind!r}; use one of {', '.join(QUANTIZE_KINDS)}")
    if kind == "none":
        return
    import torch

    device = torch.device(device)
    if kind == "fp8" and not (device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)):
        raise FacecamError(f"--quantize fp8 needs a GPU with fp8 support (compute capability 8.9+: Ada, Hopper "
                           f"or newer); the device is {device}; use --quantize int8")
    if not _installed("torchao"):
        raise FacecamError(f"--quantize {kind} needs torchao: pip install torchao (or pip install 'facecam[speed]')")


def _in_blocks(module: "torch.nn.Module", name: str) -> bool:
    import torch

    # The blocks hold nearly every weight; the embedders, norms and output projection stay exact.
    return isinstance(module, torch.nn.Linear) and name.startswith("blocks.")


def quantize_experts(pipe: "FaceCamPipeline", kind: str, device: Union[str, "torch.device"] = "cpu", *,
                     work_device: Optional[Union[str, "torch.device"]] = None) -> None:
    """Weight-only quantization of every linear layer in both experts' transformer blocks (torchao).

    Activations keep the compute dtype; the weights are stored as int8 or fp8 (e4m3) with a scale per
    output channel, half the bytes of bf16, and dequantized in the matmul.

    Args:
        kind: ``none``, ``int8`` or ``fp8`` (fp8 needs compute capability 8.9+).
        device: where the experts will run (checked for fp8 support).
        work_device: where to quantize; the layers stay there (None: where they are). A GPU is much
            faster but leaves the quantized experts on it, so it is only for runs without offload.
    """
    check_quantize(kind, device)
    if kind == "none":
        return
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    for _, model in _experts(pipe):
        config = Int8WeightOnlyConfig() if kind == "int8" else Float8WeightOnlyConfig()
        quantize_(model, config, filter_fn=_in_blocks, device=work_device)
