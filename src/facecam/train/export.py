"""Writing trained experts in the two forms people load them in.

* **Authors' format** (:func:`export_authors`): the trained parameters only, Wan-native names
  (``blocks.0.self_attn.q.weight``, ``patch_embedding.weight``), one folder per expert laid out
  as the FaceCam asset repository is: ``<root>/wan2.2_14b/<expert>/released_version/model.safetensors``.
  The authors' inference script and :func:`facecam.model.weights.load_finetune` both read it
  non-strictly over the Wan base, so copying ``wan2.2_14b/`` over ``FaceCam/wan2.2_14b/`` of a
  weights folder makes ``facecam generate --engine facecam`` use it.
* **diffusers layout** (:func:`export_diffusers`): the whole expert (base + trained parameters,
  LoRA merged) written with ``save_pretrained`` into ``transformer/`` (high-noise expert) or
  ``transformer_2/`` (low-noise expert), the sub-folders of our pipeline's ``save_pretrained``
  layout; drop it into a FaceCamPipeline folder to replace that expert.
* **LoRA** (:func:`export_lora`, LoRA runs only): the adapters in diffusers' LoRA format
  (``<root>/lora/pytorch_lora_weights.safetensors``, with the rank and alpha as adapter metadata)
  plus the fully trained patch embedding (``patch_embedding.safetensors``, diffusers names) when the
  run trained it. :meth:`facecam.pipeline.FaceCamPipeline.load_lora_weights` loads both.

Every writer fills a temporary sibling folder and renames it into place
(:func:`facecam._atomic.replacing_folder`), so an interrupted export never leaves a half-written
folder under the final name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from .._atomic import replacing_folder, write_text_atomic
from ..model.transformer import FaceCamTransformer

EXPERT_PIPELINE_SUBFOLDER = {"high": "transformer", "low": "transformer_2"}


def authors_folder(root: str | Path, expert: str) -> Path:
    """Where :func:`export_authors` puts one expert's weights under ``root``."""
    return Path(root) / "wan2.2_14b" / expert / "released_version"


def export_authors(native_state: Mapping[str, torch.Tensor], root: str | Path, expert: str,
                   metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``native_state`` (Wan-native names, trained keys only) as the authors' fine-tune of ``expert``."""
    from safetensors.torch import save_file

    final = authors_folder(root, expert)
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    with replacing_folder(final) as tmp:
        save_file({k: v.contiguous() for k, v in native_state.items()}, str(tmp / "model.safetensors"), metadata=meta)
    return final


def export_diffusers(full_state: Mapping[str, torch.Tensor], config: Mapping[str, Any], root: str | Path,
                     expert: str, dtype: torch.dtype) -> Path:
    """Write the complete expert (``full_state`` under diffusers names, LoRA already merged) with save_pretrained."""
    from accelerate import init_empty_weights

    final = Path(root) / EXPERT_PIPELINE_SUBFOLDER[expert]
    init = {k: v for k, v in config.items() if not k.startswith("_")}
    with init_empty_weights(include_buffers=False):
        model = FaceCamTransformer(**init)
    state = {k: v.detach().to("cpu", dtype) for k, v in full_state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    with replacing_folder(final) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
    return final


LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
PATCH_EMBEDDING_FILE = "patch_embedding.safetensors"


def export_lora(full_state: Mapping[str, torch.Tensor], root: str | Path, expert: str, rank: int, alpha: float,
                dtype: torch.dtype, patch_embedding: bool = True) -> Path:
    """Write the LoRA adapters of a peft-injected expert state (adapter ``default``) for ``load_lora_weights``."""
    from diffusers.loaders import WanLoraLoaderMixin
    from safetensors.torch import save_file

    adapters, modules = {}, set()
    for key, value in full_state.items():
        for part in (".lora_A.", ".lora_B."):
            if part in key:
                module, rest = key.split(part)
                adapters[f"{module}{part}{rest.split('.', 1)[1]}"] = value.detach().to("cpu", dtype).contiguous()
                modules.add(module)
    if not adapters:
        raise ValueError("the expert has no LoRA adapters to export")
    final = Path(root) / "lora"
    metadata = {"r": int(rank), "lora_alpha": float(alpha), "target_modules": sorted(modules)}
    patch = {k: v.detach().to("cpu", dtype).contiguous() for k, v in full_state.items()
             if patch_embedding and k.startswith("patch_embedding.")}
    with replacing_folder(final) as tmp:
        WanLoraLoaderMixin.save_lora_weights(str(tmp), transformer_lora_layers=adapters,
                                             weight_name=LORA_WEIGHT_NAME, transformer_lora_adapter_metadata=metadata)
        if patch:
            save_file(patch, str(tmp / PATCH_EMBEDDING_FILE), metadata={"expert": expert})
        (tmp / "lora.json").write_text(json.dumps({"expert": expert, "rank": rank, "alpha": alpha,
                                                   "load_into_transformer_2": expert == "low"}, indent=2))
    return final


def write_export_note(root: Path, info: Mapping[str, Any]) -> None:
    """A small JSON next to the exports saying what produced them (step, expert, config)."""
    write_text_atomic(root / "export.json", json.dumps(dict(info), indent=2, default=str))
