"""Building the expert to fine-tune: base weights, frozen/trainable split, LoRA, and frozen encoders.

FaceCam fine-tunes, per expert, exactly the self-attention ("3D attention") blocks and the
patch embedding ("projection layers"); the FFNs, cross-attention, time/text embedders, norms
outside attention and the output head stay bit-identical. The split is taken from
:meth:`FaceCamTransformer.trainable_parameter_names` so training and export agree with the
model code on what "trainable" means.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ..errors import FacecamError, WeightsError
from ..model.keys import dit_key_to_native
from ..model.transformer import FaceCamTransformer, keep_fp32_modules

log = logging.getLogger(__name__)

# Module names of the self-attention projections LoRA adapts (diffusers names).
LORA_TARGET_REGEX = r".*blocks\.\d+\.attn1\.(to_q|to_k|to_v|to_out\.0)"
_LORA_A = re.compile(r"^(?P<module>.+)\.lora_A\.(?P<adapter>[^.]+)\.weight$")
EXPERT_SUBFOLDERS = {"high": ("high_noise_model", "transformer"), "low": ("low_noise_model", "transformer_2")}


# ---------------------------------------------------------------------------
# Base weights (the loaders live in facecam.model.weights; these name what training needs)
# ---------------------------------------------------------------------------
def locate_base(root: str | Path):
    """The :class:`~facecam.model.weights.WeightsLayout` of a weights folder; fine-tunes optional
    (training starts from the Wan base)."""
    from ..model.weights import find_weights

    return find_weights(root, require_finetunes=False)


def load_expert(layout, expert: str, dtype: torch.dtype, init_from_finetune: bool = False,
                empty: bool = False) -> FaceCamTransformer:
    """The base ``expert`` ("high"/"low") of a weights layout, optionally with FaceCam's fine-tune applied.

    ``empty``: the architecture only, parameters on ``meta`` (a sharded run's non-main processes,
    whose shards are broadcast from the main one; see :func:`facecam.model.weights.empty_expert`).
    """
    from ..model.weights import empty_expert
    from ..model.weights import load_expert as load

    if init_from_finetune and (layout.high_finetune if expert == "high" else layout.low_finetune) is None:
        raise WeightsError(f"init_from_finetune is set but no FaceCam {expert} fine-tune was found in {layout.root}")
    if empty:
        return empty_expert(layout, expert, dtype)
    model, reports = load(layout, expert, dtype, finetune=init_from_finetune)
    for report in reports:
        log.info(report.line())
    return model


# ---------------------------------------------------------------------------
# Trainable split
# ---------------------------------------------------------------------------
def configure_trainable(model: FaceCamTransformer, *, lora: Optional[Any] = None,
                        frozen_dtype: Optional[torch.dtype] = None) -> list[str]:
    """Freeze everything but FaceCam's trainable layers (or their LoRA adapters); return trainable names.

    Trainable parameters are kept in fp32 (the optimizer's master copy; autocast runs the
    matmuls in bf16). Frozen ones are cast to ``frozen_dtype`` when given, which halves the
    memory of a single-GPU run; sharded runs keep one dtype so FSDP can flatten.
    """
    trainable = set(model.trainable_parameter_names())
    if frozen_dtype is not None:
        model.to(frozen_dtype)
        keep_fp32_modules(model)
    model.requires_grad_(False)
    if lora is not None and lora.enabled:
        inject_lora(model, lora)
        names = [n for n, p in model.named_parameters() if ".lora_A." in n or ".lora_B." in n]
        if lora.train_patch_embedding:
            names += [n for n, _ in model.named_parameters() if n.startswith("patch_embedding.")]
    else:
        names = [n for n, _ in model.named_parameters() if n in trainable]
    params = dict(model.named_parameters())
    for name in names:
        params[name].data = params[name].data.float()
        params[name].requires_grad_(True)
    return names


def inject_lora(model: torch.nn.Module, options: Any) -> None:
    """Add LoRA adapters (named ``default``) to every self-attention q/k/v/o projection."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise FacecamError("LoRA training needs peft: pip install peft") from None
    config = LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                        target_modules=LORA_TARGET_REGEX, init_lora_weights=True)
    inject_adapter_in_model(config, model)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that receive gradients, by module name (what a checkpoint must keep)."""
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def merged_state(state: Mapping[str, torch.Tensor], lora_scale: float) -> dict[str, torch.Tensor]:
    """Fold LoRA adapters into their base weights: ``W + scale * B @ A`` under the plain module names.

    Works on a (possibly gathered) state dict so it serves single-GPU and sharded runs alike.
    """
    out: dict[str, torch.Tensor] = {}
    lora_modules = {}
    for key in state:
        m = _LORA_A.match(key)
        if m:
            lora_modules[m.group("module")] = m.group("adapter")
    for key, value in state.items():
        if ".lora_A." in key or ".lora_B." in key:
            continue
        out[key.replace(".base_layer.", ".")] = value
    for module, adapter in lora_modules.items():
        a = state[f"{module}.lora_A.{adapter}.weight"].float()
        b = state[f"{module}.lora_B.{adapter}.weight"].float()
        base = state[f"{module}.base_layer.weight"]
        out[f"{module}.weight"] = (base.float() + lora_scale * (b @ a)).to(base.dtype)
    return out


def exported_state(full_state: Mapping[str, torch.Tensor], trained_names: list[str], lora_scale: Optional[float],
                   dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Trained parameters only, LoRA merged, under plain diffusers module names, in ``dtype``."""
    state = merged_state(full_state, lora_scale) if lora_scale is not None else dict(full_state)
    keep = set(trained_names)
    return {k: v.detach().to("cpu", dtype).contiguous() for k, v in state.items() if k in keep}


def to_native(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Diffusers module names -> the Wan-native names of the authors' checkpoints."""
    return {dit_key_to_native(k): v for k, v in state.items()}


# ---------------------------------------------------------------------------
# Frozen text encoder (VAE loading: facecam.model.weights.load_vae; normalisation: facecam.model.vae)
# ---------------------------------------------------------------------------
@torch.no_grad()
def encode_prompts(layout, prompts: list[str], device: torch.device) -> list[torch.Tensor]:
    """``(1, 512, text_dim)`` UMT5 states per prompt, encoded as inference encodes them
    (:func:`facecam.model.text.encode_text`); the encoder is freed afterwards."""
    from ..model.text import encode_text
    from ..model.weights import load_text_encoder

    tokenizer, encoder = load_text_encoder(layout, torch.float32 if device.type == "cpu" else torch.bfloat16)
    out = [encode_text(tokenizer, encoder, prompt, device) for prompt in prompts]
    del encoder
    return out
