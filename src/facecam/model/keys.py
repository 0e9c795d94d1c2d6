"""Parameter-name mapping between our diffusers/transformers modules and the Wan-native checkpoints.

This module is the single place that knows how the authors' files name things.
Each mapping is written once, in the direction *our module key -> native key*
(a pure function of the name); the other direction is derived by enumerating the
keys of the module we are loading into (:class:`KeyMap`). Deriving the inverse
from the module, rather than writing a second rule list, guarantees the two
directions never disagree and that "a native key which maps to nothing" is
detected exactly.

Three families are covered:

* DiT (``WanTransformer3DModel`` / :class:`~facecam.model.transformer.FaceCamTransformer`)
  <-> Wan-native ``WanModel`` names (``blocks.0.self_attn.q.weight``, ``head.head.weight``, ...).
  Note the cross-attention norm: diffusers calls it ``norm2`` and Wan ``norm3`` (Wan's
  ``norm2`` is the parameter-free FFN norm).
* VAE (``AutoencoderKLWan``) <-> ``Wan2.1_VAE.pth`` names (``encoder.downsamples.3.residual.2.weight``, ...).
  The decoder's flat ``upsamples`` list holds, per level, ``num_res_blocks + 1`` residual
  blocks then one resample layer (none on the last level).
* Text encoder (transformers ``UMT5EncoderModel``) <-> ``models_t5_umt5-xxl-enc-bf16.pth``
  names: ``token_embedding`` = ``shared`` (= tied ``encoder.embed_tokens``),
  ``blocks.N.attn.{q,k,v,o}`` = ``encoder.block.N.layer.0.SelfAttention.{q,k,v,o}``,
  ``blocks.N.pos_embedding.embedding`` = ``...SelfAttention.relative_attention_bias``
  (UMT5 has one per layer), ``blocks.N.norm1`` / ``norm2`` = ``layer.0`` / ``layer.1``
  ``layer_norm``, ``blocks.N.ffn.gate.0`` / ``fc1`` / ``fc2`` = ``DenseReluDense.wi_0`` /
  ``wi_1`` / ``wo`` (Wan computes ``fc1(x) * gelu(gate(x))``, transformers
  ``gelu(wi_0(x)) * wi_1(x)``), ``norm`` = ``encoder.final_layer_norm``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch

from ..errors import WeightsError

# Wrappers the authors' training framework (or DDP) may leave in front of every key.
NATIVE_PREFIXES = ("model.diffusion_model.", "module.", "dit.")

# ---------------------------------------------------------------------------
# DiT
# ---------------------------------------------------------------------------
_DIT_RULES: list[tuple[str, str]] = [
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"^blocks\.(\d+)\.attn1\.", r"blocks.\1.self_attn."),
    (r"^blocks\.(\d+)\.attn2\.", r"blocks.\1.cross_attn."),
    (r"\.to_q\.", ".q."),
    (r"\.to_k\.", ".k."),
    (r"\.to_v\.", ".v."),
    (r"\.to_out\.0\.", ".o."),
    (r"\.add_k_proj\.", ".k_img."),
    (r"\.add_v_proj\.", ".v_img."),
    (r"\.norm_added_k\.", ".norm_k_img."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.norm3."),
    (r"^blocks\.(\d+)\.ffn\.net\.0\.proj\.", r"blocks.\1.ffn.0."),
    (r"^blocks\.(\d+)\.ffn\.net\.2\.", r"blocks.\1.ffn.2."),
    (r"^blocks\.(\d+)\.scale_shift_table$", r"blocks.\1.modulation"),
]


def dit_key_to_native(key: str) -> str:
    """``blocks.0.attn1.to_q.weight`` -> ``blocks.0.self_attn.q.weight`` (and so on)."""
    for pattern, repl in _DIT_RULES:
        key = re.sub(pattern, repl, key)
    return key


# ---------------------------------------------------------------------------
# VAE
# ---------------------------------------------------------------------------
_RESNET_PARTS = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3",
                 "conv2": "residual.6", "conv_shortcut": "shortcut"}


def _resnet_rest(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{_RESNET_PARTS.get(head, head)}.{tail}" if tail else _RESNET_PARTS.get(head, head)


def vae_key_to_native(key: str, num_res_blocks: int = 2) -> str:
    """``decoder.up_blocks.1.resnets.0.conv1.weight`` -> ``decoder.upsamples.4.residual.2.weight``."""
    if key.startswith("quant_conv."):
        return "conv1." + key[len("quant_conv."):]
    if key.startswith("post_quant_conv."):
        return "conv2." + key[len("post_quant_conv."):]
    side, _, rest = key.partition(".")
    if side not in ("encoder", "decoder"):
        return key
    for ours, native in (("conv_in.", "conv1."), ("norm_out.", "head.0."), ("conv_out.", "head.2.")):
        if rest.startswith(ours):
            return f"{side}.{native}{rest[len(ours):]}"
    m = re.match(r"mid_block\.resnets\.(\d+)\.(.*)$", rest)
    if m:
        return f"{side}.middle.{2 * int(m.group(1))}.{_resnet_rest(m.group(2))}"
    m = re.match(r"mid_block\.attentions\.0\.(.*)$", rest)
    if m:
        return f"{side}.middle.1.{m.group(1)}"
    m = re.match(r"down_blocks\.(\d+)\.(.*)$", rest)
    if m:  # the encoder's list is already flat, same order as the native one
        return f"{side}.downsamples.{m.group(1)}.{_resnet_rest(m.group(2))}"
    per_level = num_res_blocks + 2  # (num_res_blocks + 1) resnets, then one resample
    m = re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$", rest)
    if m:
        index = int(m.group(1)) * per_level + int(m.group(2))
        return f"{side}.upsamples.{index}.{_resnet_rest(m.group(3))}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)$", rest)
    if m:
        index = int(m.group(1)) * per_level + num_res_blocks + 1
        return f"{side}.upsamples.{index}.{m.group(2)}"
    return key


# ---------------------------------------------------------------------------
# UMT5 text encoder
# ---------------------------------------------------------------------------
_T5_BLOCK_PARTS = {
    "layer.0.SelfAttention.q.weight": "attn.q.weight",
    "layer.0.SelfAttention.k.weight": "attn.k.weight",
    "layer.0.SelfAttention.v.weight": "attn.v.weight",
    "layer.0.SelfAttention.o.weight": "attn.o.weight",
    "layer.0.SelfAttention.relative_attention_bias.weight": "pos_embedding.embedding.weight",
    "layer.0.layer_norm.weight": "norm1.weight",
    "layer.1.DenseReluDense.wi_0.weight": "ffn.gate.0.weight",
    "layer.1.DenseReluDense.wi_1.weight": "ffn.fc1.weight",
    "layer.1.DenseReluDense.wo.weight": "ffn.fc2.weight",
    "layer.1.layer_norm.weight": "norm2.weight",
}


def t5_key_to_native(key: str) -> str:
    """``encoder.block.3.layer.1.DenseReluDense.wi_0.weight`` -> ``blocks.3.ffn.gate.0.weight``."""
    if key in ("shared.weight", "encoder.embed_tokens.weight"):
        return "token_embedding.weight"
    if key == "encoder.final_layer_norm.weight":
        return "norm.weight"
    m = re.match(r"encoder\.block\.(\d+)\.(.*)$", key)
    if m and m.group(2) in _T5_BLOCK_PARTS:
        return f"blocks.{m.group(1)}.{_T5_BLOCK_PARTS[m.group(2)]}"
    return key


# ---------------------------------------------------------------------------
# Both directions for one module
# ---------------------------------------------------------------------------
@dataclass
class ConversionReport:
    """What a conversion did: how many native tensors landed, and which module keys stayed untouched."""

    what: str
    loaded: int
    module_keys: int
    untouched: list[str] = field(default_factory=list)
    note: str = ""  # said after the counts (a fine-tune sets only some parameters, by design)

    def line(self) -> str:
        return (f"{self.what}: {self.loaded} tensors loaded, "
                f"{self.module_keys - len(self.untouched)}/{self.module_keys} module parameters set"
                + (f" ({self.note})" if self.note else ""))


class KeyMap:
    """The native <-> module name mapping for one concrete module (its own key set).

    ``to_native[module_key]`` is the native name; ``from_native[native_key]`` lists the
    module keys fed by that native tensor (more than one for tied weights, e.g. T5's
    shared embedding). Build with :meth:`for_module` from a module (meta device is fine).
    """

    def __init__(self, module_shapes: Mapping[str, torch.Size], to_native: Callable[[str], str], what: str):
        self.what = what
        self.shapes = dict(module_shapes)
        self.to_native = {k: to_native(k) for k in self.shapes}
        self.from_native: dict[str, list[str]] = defaultdict(list)
        for ours, native in self.to_native.items():
            self.from_native[native].append(ours)

    @classmethod
    def for_module(cls, module: torch.nn.Module, to_native: Callable[[str], str], what: str) -> "KeyMap":
        # Persistent entries only: rotary tables and the like are rebuilt by the module itself.
        shapes = {k: v.shape for k, v in module.state_dict(keep_vars=True).items()}
        return cls(shapes, to_native, what)

    def native_keys(self) -> set[str]:
        return set(self.from_native)

    def convert_from_native(self, native: Mapping[str, torch.Tensor], *, complete: bool
                            ) -> tuple[dict[str, torch.Tensor], ConversionReport]:
        """Rename a native state dict to module keys, checking every key and shape.

        Raises :class:`WeightsError` naming the first native key that maps to nothing or
        whose shape does not fit; with ``complete=True`` also when a module parameter is
        left without a value (loading a base model).
        """
        out: dict[str, torch.Tensor] = {}
        for key, tensor in native.items():
            key = strip_native_prefix(key)
            targets = self.from_native.get(key)
            if not targets:
                raise WeightsError(f"{self.what}: checkpoint key {key!r} maps to no parameter of the model "
                                   f"(wrong file, or a different model size)")
            for target in targets:
                if tuple(tensor.shape) != tuple(self.shapes[target]):
                    raise WeightsError(f"{self.what}: checkpoint key {key!r} has shape {tuple(tensor.shape)} but "
                                       f"{target!r} needs {tuple(self.shapes[target])}")
                out[target] = tensor
        untouched = sorted(set(self.shapes) - set(out))
        if complete and untouched:
            raise WeightsError(f"{self.what}: checkpoint lacks {len(untouched)} parameters, "
                               f"e.g. {self.to_native[untouched[0]]!r}")
        return out, ConversionReport(self.what, len(native), len(self.shapes), untouched)

    def convert_to_native(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Module state dict -> native names (tied duplicates written once)."""
        out: dict[str, torch.Tensor] = {}
        for key, tensor in state.items():
            if key not in self.to_native:
                raise WeightsError(f"{self.what}: {key!r} is not a parameter of the model")
            out.setdefault(self.to_native[key], tensor)
        return out


def strip_native_prefix(key: str) -> str:
    for prefix in NATIVE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def unwrap_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the tensor dict inside a torch checkpoint that may wrap it in one entry.

    The authors' files may store ``{"state_dict": {...}}``, ``{"module": {...}}`` or
    ``{"model_state": {...}}``; anything else that is not a flat tensor dict is an error.
    """
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "module", "model_state"):
            if wrapper in obj and isinstance(obj[wrapper], Mapping) and len(obj) <= 2:
                return unwrap_state_dict(obj[wrapper], source)
        bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
        if not bad:
            return dict(obj)
        raise WeightsError(f"{source}: entry {bad[0]!r} is not a tensor; expected a state dict")
    raise WeightsError(f"{source}: not a state dict (got {type(obj).__name__})")


def dit_keymap(module: torch.nn.Module) -> KeyMap:
    return KeyMap.for_module(module, dit_key_to_native, "transformer")


def vae_keymap(module: torch.nn.Module) -> KeyMap:
    nrb = int(getattr(getattr(module, "config", None), "num_res_blocks", 2))
    return KeyMap.for_module(module, lambda k: vae_key_to_native(k, nrb), "VAE")


def t5_keymap(module: torch.nn.Module) -> KeyMap:
    return KeyMap.for_module(module, t5_key_to_native, "text encoder")
