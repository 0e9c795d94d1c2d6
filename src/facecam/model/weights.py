"""Finding, reading and converting the weights the FaceCam engine runs on.

A *weights folder* (``facecam generate --weights DIR``) holds, as ``facecam download --to DIR``
lays it out::

    DIR/Wan2.2-I2V-A14B/            base, original layout (what the authors use)
        high_noise_model/config.json, diffusion_pytorch_model*.safetensors
        low_noise_model/...
        Wan2.1_VAE.pth  models_t5_umt5-xxl-enc-bf16.pth  google/umt5-xxl/
    DIR/Wan2.2-I2V-A14B-Diffusers/  or the same base in diffusers' layout
        transformer/ transformer_2/ vae/ text_encoder/ tokenizer/
    DIR/FaceCam/wan2.2_14b/high/released_version/*   FaceCam fine-tunes (Wan-native names,
    DIR/FaceCam/wan2.2_14b/low/released_version/*    partial state dicts)

The authors' own tree (``models/Wan-AI/Wan2.2-I2V-A14B`` + ``ckpts/wan2.2_14b``) and a folder
written by :meth:`FaceCamPipeline.save_pretrained` are recognised too. Every tensor read
from the native files must land on a model parameter with the same shape, else
:class:`~facecam.errors.WeightsError` names it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import torch

from ..errors import WeightsError
from .keys import ConversionReport, t5_keymap, unwrap_state_dict, vae_keymap
from .layout import (  # noqa: F401 - discovery lives there (no torch); re-exported for existing importers
    BASE_DIFFUSERS_DIRNAME, BASE_DIFFUSERS_REPO, BASE_DIRNAME, BASE_REPO, DOWNLOAD_HINT, FINETUNE_DIRNAME, FINETUNE_REPO,
    T5_FILE, TOKENIZER_DIR, VAE_FILE, WEIGHT_SUFFIXES, WeightsLayout, expert_width, find_weights, is_full_size)
from .transformer import A14B_WAN_CONFIG, FaceCamTransformer, keep_fp32_modules

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Reading native files
# ---------------------------------------------------------------------------
def read_state_file(path: str | Path, dtype: Optional[torch.dtype] = None) -> dict[str, torch.Tensor]:
    """One ``.safetensors`` / ``.bin`` / ``.ckpt`` / ``.pth`` / ``.pt`` file as a flat tensor dict.

    With ``dtype``, floating tensors are cast one at a time while reading, so a 57 GB fp32
    expert never sits in memory next to its bf16 copy.
    """
    path = Path(path)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if dtype is not None and t.is_floating_point() else t

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: cast(f.get_tensor(k)) for k in f.keys()}
    try:
        # mmap keeps the 11 GB text encoder file off the heap until tensors are used.
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # old (non-zip) serialisation cannot be memory-mapped
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: cast(v) for k, v in unwrap_state_dict(obj, str(path)).items()}


def read_state_folder(folder: str | Path, pattern: str = "*", dtype: Optional[torch.dtype] = None
                      ) -> dict[str, torch.Tensor]:
    """Merge every weight file in ``folder`` (shards or partial dicts); a key in two files is an error."""
    folder = Path(folder)
    files = sorted(f for f in folder.glob(pattern) if f.is_file() and f.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise WeightsError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {folder}")
    merged: dict[str, torch.Tensor] = {}
    for f in files:
        part = read_state_file(f, dtype)
        clash = set(part) & set(merged)
        if clash:
            raise WeightsError(f"{f}: key {sorted(clash)[0]!r} also appears in another file of {folder}")
        merged.update(part)
    return merged


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights not found: {path}")
    return read_state_folder(path) if path.is_dir() else read_state_file(path)


# ---------------------------------------------------------------------------
# Building components from native (original-layout) files
# ---------------------------------------------------------------------------
def load_original_expert(folder: str | Path, dtype: Optional[torch.dtype] = None
                         ) -> tuple[FaceCamTransformer, ConversionReport]:
    """``high_noise_model/`` or ``low_noise_model/``: Wan-native config.json + safetensors shards."""
    folder = Path(folder)
    state = read_state_folder(folder, "diffusion_pytorch_model*", dtype=dtype)
    return FaceCamTransformer.load_wan_state_dict(state, **original_wan_config(folder))


def original_wan_config(folder: str | Path) -> dict:
    """The architecture keys of a Wan-native expert folder's config.json (A14B defaults fill the rest);
    the file also carries bookkeeping (_class_name, model_type, text_len ...), which is dropped."""
    config_path = Path(folder) / "config.json"
    wan_config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return {k: v for k, v in wan_config.items() if k in A14B_WAN_CONFIG}


def vae_config_from_native(state: Mapping[str, torch.Tensor]) -> dict:
    """AutoencoderKLWan config read off ``Wan2.1_VAE.pth`` shapes (real file: ``base_dim`` 96, ``z_dim`` 16)."""
    try:
        base_dim = int(state["encoder.conv1.weight"].shape[0])
        z_dim = int(state["conv2.weight"].shape[0])
    except KeyError as exc:
        raise WeightsError(f"VAE checkpoint lacks {exc.args[0]!r}; is it Wan2.1_VAE.pth?") from None
    return dict(base_dim=base_dim, z_dim=z_dim)


def vae_from_native(state: Mapping[str, torch.Tensor], dtype: Optional[torch.dtype] = None):
    """``Wan2.1_VAE.pth`` tensors -> diffusers ``AutoencoderKLWan`` (default latent statistics kept)."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan

    with init_empty_weights(include_buffers=False):
        vae = AutoencoderKLWan(**vae_config_from_native(state))
    converted, report = vae_keymap(vae).convert_from_native(state, complete=True)
    if dtype is not None:
        converted = {k: v.to(dtype) for k, v in converted.items()}
    vae.load_state_dict(converted, strict=True, assign=True)
    log.info(report.line())
    return vae.eval()


def t5_config_from_native(state: Mapping[str, torch.Tensor]):
    """UMT5 encoder config read off the Wan-native T5 checkpoint's shapes."""
    from transformers import UMT5Config

    try:
        vocab, d_model = state["token_embedding.weight"].shape
        d_attn = state["blocks.0.attn.q.weight"].shape[0]
        buckets, heads = state["blocks.0.pos_embedding.embedding.weight"].shape
        d_ff = state["blocks.0.ffn.fc1.weight"].shape[0]
    except KeyError as exc:
        raise WeightsError(f"text encoder checkpoint lacks {exc.args[0]!r}; is it {T5_FILE}?") from None
    layers = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    return UMT5Config(vocab_size=int(vocab), d_model=int(d_model), d_kv=int(d_attn) // int(heads), d_ff=int(d_ff),
                      num_layers=layers, num_heads=int(heads), relative_attention_num_buckets=int(buckets),
                      relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                      dropout_rate=0.0, layer_norm_epsilon=1e-6, is_encoder_decoder=False, use_cache=False)


def t5_from_native(state: Mapping[str, torch.Tensor], dtype: Optional[torch.dtype] = None):
    """``models_t5_umt5-xxl-enc-bf16.pth`` tensors -> transformers ``UMT5EncoderModel``."""
    from accelerate import init_empty_weights
    from transformers import UMT5EncoderModel

    with init_empty_weights(include_buffers=False):
        model = UMT5EncoderModel(t5_config_from_native(state))
    converted, report = t5_keymap(model).convert_from_native(state, complete=True)
    if dtype is not None:
        converted = {k: v.to(dtype) for k, v in converted.items()}
    model.load_state_dict(converted, strict=True, assign=True)
    model.tie_weights()
    log.info(report.line())
    return model.eval()


# ---------------------------------------------------------------------------
# Fine-tunes
# ---------------------------------------------------------------------------
def apply_finetune(model: FaceCamTransformer, state: Mapping[str, torch.Tensor], what: str = "fine-tune"
                   ) -> ConversionReport:
    """Overwrite the parameters named (Wan-native) in a partial state dict; nothing else changes.

    Raises :class:`WeightsError` naming any key that maps to no parameter or does not fit.
    """
    keymap = model.keymap()
    keymap.what = what
    converted, report = keymap.convert_from_native(state, complete=False)
    if report.untouched:  # partial by design: a newcomer read "22/69" as a load that went wrong
        report.note = "a fine-tune holds only the parameters it changes; the others keep the base expert's"
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    with torch.no_grad():
        for name, tensor in converted.items():
            target = params.get(name, buffers.get(name))
            target.copy_(tensor.to(device=target.device, dtype=target.dtype))
    return report


def load_finetune(model: FaceCamTransformer, path: str | Path, what: str = "fine-tune") -> ConversionReport:
    """Read a fine-tune file or folder (every weight file merged) and apply it to ``model``; the caller logs
    the report (with the base's, once)."""
    return apply_finetune(model, read_state(path), what=f"{what} ({path})")


# ---------------------------------------------------------------------------
# Whole model
# ---------------------------------------------------------------------------
@dataclass
class LoadedComponents:
    """Everything the pipeline needs except the text encoder (loaded lazily, see :func:`load_text_encoder`)."""

    transformer: FaceCamTransformer
    transformer_2: FaceCamTransformer
    vae: object
    reports: list[ConversionReport]


EXPERT_FOLDERS = {"high": ("high_noise_model", "transformer"), "low": ("low_noise_model", "transformer_2")}


def load_expert(layout: WeightsLayout, expert: str, dtype: torch.dtype = torch.bfloat16, finetune: bool = True
                ) -> tuple[FaceCamTransformer, list[ConversionReport]]:
    """The ``"high"`` or ``"low"`` base expert of a layout (on CPU), with its FaceCam fine-tune applied
    when ``finetune`` and the layout has one. The one expert loader, for inference and training."""
    if expert not in EXPERT_FOLDERS:
        raise ValueError(f"expert must be 'high' or 'low', got {expert!r}")
    native_dir, diffusers_dir = EXPERT_FOLDERS[expert]
    reports: list[ConversionReport] = []
    if layout.kind == "original":
        model, report = load_original_expert(layout.base / native_dir, dtype)
        report.what = f"{expert}-noise expert ({native_dir})"
        reports.append(report)
    elif layout.kind in ("diffusers", "facecam"):
        model = FaceCamTransformer.from_pretrained(layout.base, subfolder=diffusers_dir, dtype=dtype)
    else:  # pragma: no cover - find_weights only makes the kinds above
        raise WeightsError(f"unknown weights layout {layout.kind!r}")
    path = layout.high_finetune if expert == "high" else layout.low_finetune
    if finetune and path is not None:
        reports.append(load_finetune(model, path, f"{expert}-noise fine-tune"))
    return model.eval(), reports


def empty_expert(layout: WeightsLayout, expert: str, dtype: torch.dtype = torch.float32) -> FaceCamTransformer:
    """The ``expert``'s architecture with every parameter on ``meta`` (no memory) and the rotary tables real.

    What the non-main processes of a sharded run build: reading the weights there would put one
    full copy of the expert per process in host RAM (~57 GB fp32 each); FSDP fills their shards from
    the main process' copy instead. Parameter dtypes match :func:`load_expert`'s for the same
    ``dtype`` (the broadcast needs equal dtypes on every rank).
    """
    from accelerate import init_empty_weights

    from .transformer import diffusers_config_from_wan

    if expert not in EXPERT_FOLDERS:
        raise ValueError(f"expert must be 'high' or 'low', got {expert!r}")
    native_dir, diffusers_dir = EXPERT_FOLDERS[expert]
    if layout.kind == "original":
        config = diffusers_config_from_wan(**original_wan_config(layout.base / native_dir))
    else:
        config = FaceCamTransformer.load_config(layout.base, subfolder=diffusers_dir)
    with init_empty_weights(include_buffers=False):
        model = FaceCamTransformer.from_config(config)
    for param in model.parameters():  # parameters only: the loaders keep the rotary tables fp32 too
        param.data = param.data.to(dtype)
    keep_fp32_modules(model)
    return model.eval()


def load_vae(layout: WeightsLayout, dtype: torch.dtype = torch.float32):
    """The Wan2.1 VAE of a layout, frozen, on CPU."""
    from diffusers import AutoencoderKLWan

    if layout.kind == "original":
        vae = vae_from_native(read_state_file(layout.base / VAE_FILE), dtype)
    else:
        vae = AutoencoderKLWan.from_pretrained(layout.base, subfolder="vae", dtype=dtype)
    return vae.eval().requires_grad_(False)


def load_components(layout: WeightsLayout, dtype: torch.dtype = torch.bfloat16) -> LoadedComponents:
    """Base experts + VAE with the FaceCam fine-tunes applied (on CPU)."""
    high, r1 = load_expert(layout, "high", dtype)
    low, r2 = load_expert(layout, "low", dtype)
    reports = [r for r in r1 + r2 if "fine-tune" not in r.what] + [r for r in r1 + r2 if "fine-tune" in r.what]
    return LoadedComponents(high, low, load_vae(layout, torch.float32), reports)


def load_text_encoder(layout: WeightsLayout, dtype: torch.dtype = torch.bfloat16):
    """``(tokenizer, UMT5EncoderModel)`` for a layout; only needed when no cached prompt embedding exists."""
    from transformers import AutoTokenizer, UMT5EncoderModel

    if layout.kind == "original":
        tok_dir = layout.base / TOKENIZER_DIR
        if not tok_dir.is_dir():
            raise WeightsError(f"tokenizer folder missing: {tok_dir}; {DOWNLOAD_HINT.format(root=layout.root)}")
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        encoder = t5_from_native(read_state_file(layout.base / T5_FILE, dtype))
    else:
        if not (layout.base / "text_encoder").is_dir():
            raise WeightsError(f"no text_encoder/ in {layout.base} and no cached prompt embedding; "
                               f"{DOWNLOAD_HINT.format(root=layout.root)}")
        tokenizer = AutoTokenizer.from_pretrained(str(layout.base / "tokenizer"))
        encoder = UMT5EncoderModel.from_pretrained(str(layout.base / "text_encoder"), dtype=dtype)
    return tokenizer, encoder.eval()


__all__ = [
    "WeightsLayout", "find_weights", "read_state", "read_state_file", "read_state_folder",
    "load_original_expert", "vae_from_native", "t5_from_native", "apply_finetune", "load_finetune",
    "load_components", "load_expert", "load_vae", "load_text_encoder", "keep_fp32_modules",
]
