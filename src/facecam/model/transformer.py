"""The FaceCam DiT: diffusers' Wan transformer plus FaceCam's frame and channel conditioning.

FaceCam conditions one Wan2.2-I2V-A14B expert on two videos, both VAE-encoded to
``(B, 16, F, h, w)`` latents:

* **frame condition** - the source-video latents are appended *after* the noisy
  target latents on the frame axis, so the DiT sees ``2F`` latent frames whose
  rotary positions run ``0 .. 2F-1``; only the first ``F`` output frames (the
  target half) are returned.
* **channel condition** - the face-mesh condition latents ``c`` form
  ``y = [c, 0, 0, 0, 0]`` (20 channels: the 4 zeros take the place of Wan I2V's
  frame mask), ``y`` is repeated over both halves and concatenated to the 16 latent
  channels, giving the expert's 36 input channels.

All of this happens on the input and output of an unchanged
:class:`~diffusers.WanTransformer3DModel` (:func:`facecam_velocity`); the expert's own
``forward`` is never overridden, so diffusers' cache hooks, LoRA loading, attention
backends, group offload, regional compile and context parallelism apply as documented.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from diffusers import WanTransformer3DModel

from .keys import ConversionReport, KeyMap, dit_keymap

# Wan-native names of the A14B experts' configuration (high_noise_model/config.json).
A14B_WAN_CONFIG: dict[str, Any] = dict(
    dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=36, out_dim=16,
    text_dim=4096, freq_dim=256, eps=1e-6, patch_size=(1, 2, 2),
)
# Wan-native config keys that carry no information for diffusers (or are fixed for A14B).
_IGNORED_WAN_KEYS = {"_class_name", "_diffusers_version", "model_type", "window_size", "qk_norm",
                     "cross_attn_norm", "text_len", "__name__"}
CONDITION_CHANNELS = 16
ZERO_CHANNELS = 4  # Wan I2V's frame-mask channels; FaceCam leaves them zero


def diffusers_config_from_wan(**wan_config: Any) -> dict[str, Any]:
    """Translate a Wan-native DiT config (``dim``, ``num_heads``, ``in_dim`` ...) to diffusers' names."""
    cfg = dict(A14B_WAN_CONFIG)
    unknown = set(wan_config) - set(A14B_WAN_CONFIG) - _IGNORED_WAN_KEYS
    if unknown:
        raise ValueError(f"unknown Wan config keys: {sorted(unknown)}")
    cfg.update({k: v for k, v in wan_config.items() if k in A14B_WAN_CONFIG})
    if cfg["dim"] % cfg["num_heads"]:
        raise ValueError(f"dim {cfg['dim']} is not divisible by num_heads {cfg['num_heads']}")
    return dict(
        patch_size=tuple(cfg["patch_size"]),
        num_attention_heads=cfg["num_heads"],
        attention_head_dim=cfg["dim"] // cfg["num_heads"],
        in_channels=cfg["in_dim"],
        out_channels=cfg["out_dim"],
        text_dim=cfg["text_dim"],
        freq_dim=cfg["freq_dim"],
        ffn_dim=cfg["ffn_dim"],
        num_layers=cfg["num_layers"],
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=cfg["eps"],
        image_dim=None,
        added_kv_proj_dim=None,
    )


def wan_config_from_diffusers(config: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`diffusers_config_from_wan` (for exporting Wan-native checkpoints)."""
    return dict(
        dim=config["num_attention_heads"] * config["attention_head_dim"], ffn_dim=config["ffn_dim"],
        num_heads=config["num_attention_heads"], num_layers=config["num_layers"],
        in_dim=config["in_channels"], out_dim=config["out_channels"], text_dim=config["text_dim"],
        freq_dim=config["freq_dim"], eps=config["eps"], patch_size=list(config["patch_size"]),
    )


def facecam_input(noisy_latents: torch.Tensor, source_latents: torch.Tensor, condition_latents: torch.Tensor,
                  in_channels: Optional[int] = None, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """The expert's input ``(B, 36, 2F, h, w)`` = [[noisy | source] on frames ; [condition, 0000] on both halves].

    Args:
        noisy_latents: ``(B, 16, F, h, w)`` the target being denoised.
        source_latents: ``(B, 16, F, h, w)`` normalised VAE latents of the source video.
        condition_latents: ``(B, 16, F, h, w)`` normalised VAE latents of the face-mesh condition video.
        in_channels: the expert's ``config.in_channels``, checked when given (36 for FaceCam).
        dtype: the result's dtype (the expert's compute dtype); default keeps the inputs'.
    """
    if not (noisy_latents.shape == source_latents.shape == condition_latents.shape):
        raise ValueError(f"latent shapes differ: noisy {tuple(noisy_latents.shape)}, "
                         f"source {tuple(source_latents.shape)}, condition {tuple(condition_latents.shape)}")
    expected = noisy_latents.shape[1] + CONDITION_CHANNELS + ZERO_CHANNELS
    if in_channels is not None and expected != in_channels:
        raise ValueError(f"model takes {in_channels} input channels, FaceCam inputs give {expected}")
    b, _, f, h, w = noisy_latents.shape
    zeros = condition_latents.new_zeros(b, ZERO_CHANNELS, f, h, w)
    y = torch.cat([condition_latents, zeros], dim=1).repeat(1, 1, 2, 1, 1)
    x = torch.cat([noisy_latents, source_latents], dim=2)
    out = torch.cat([x, y], dim=1)
    return out if dtype is None else out.to(dtype)


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The expert inside a DDP / compile wrapper (for reading its config and dtype)."""
    while not hasattr(model, "config") and hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


def expert_dtype(model: torch.nn.Module) -> Optional[torch.dtype]:
    """An expert's compute dtype: its patch embedding's (``model.dtype`` may name a module diffusers keeps
    in fp32); None when a wrapper hides the weight (a flattened FSDP shard)."""
    weight = getattr(getattr(_unwrapped(model), "patch_embedding", None), "weight", None)
    return weight.dtype if weight is not None and weight.is_floating_point() and weight.numel() else None


def facecam_velocity(model: torch.nn.Module, noisy_latents: torch.Tensor, source_latents: torch.Tensor,
                     condition_latents: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                     attention_kwargs: Optional[dict[str, Any]] = None) -> torch.Tensor:
    """One FaceCam expert call: the flow-matching velocity of the target half.

    ``model`` is any ``WanTransformer3DModel`` (or a wrapper around one: DDP, FSDP, a compiled
    module, diffusers hooks); it is called with its own, unchanged ``forward`` signature, so
    every diffusers feature that hooks that forward applies.

    Args:
        noisy_latents, source_latents, condition_latents: ``(B, 16, F, h, w)``.
        timestep: ``(B,)`` in ``[0, 1000]``; the same value for the target and source halves.
        encoder_hidden_states: ``(B, L, text_dim)`` text states (UMT5 output, zero past the prompt).
        attention_kwargs: passed to the expert's attention processors.

    Returns:
        ``(B, 16, F, h, w)`` velocity (``noise - clean``) in the model's dtype.
    """
    config = getattr(_unwrapped(model), "config", None)
    x = facecam_input(noisy_latents, source_latents, condition_latents,
                      in_channels=getattr(config, "in_channels", None), dtype=expert_dtype(model))
    out = model(hidden_states=x, timestep=timestep, encoder_hidden_states=encoder_hidden_states.to(x.dtype),
                attention_kwargs=attention_kwargs, return_dict=False)[0]
    # The source half's prediction has no target; it is discarded, as in the release.
    return out[:, :, :noisy_latents.shape[2]]


class FaceCamTransformer(WanTransformer3DModel):
    """One FaceCam expert (high- or low-noise): a ``WanTransformer3DModel`` with the same parameters
    and the same ``forward``; this class only adds construction from Wan-native checkpoints and the
    training helpers. The FaceCam inputs are assembled by :func:`facecam_velocity`.
    """

    # --- construction -----------------------------------------------------
    @classmethod
    def from_wan_config(cls, *, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None, **wan_config: Any) -> "FaceCamTransformer":
        """Randomly initialised expert for a Wan-native config (``device="meta"`` allocates nothing).

        Rotary tables are buffers computed at construction; on ``meta`` they are meta too,
        which is fine for shape-only work (key coverage, FLOP counts).
        """
        config = diffusers_config_from_wan(**wan_config)
        if device is None:
            model = cls(**config)
        else:
            with torch.device(device):
                model = cls(**config)
        return model.to(dtype) if dtype is not None and str(device) != "meta" else model

    @classmethod
    def from_wan_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, dtype: torch.dtype | None = None,
                            **wan_config: Any) -> "FaceCamTransformer":
        """Build an expert from a *complete* state dict with Wan-native keys.

        Args:
            state_dict: ``blocks.0.self_attn.q.weight`` ... as in ``high_noise_model/*.safetensors``.
            dtype: parameter dtype; default keeps the checkpoint's. Modules diffusers keeps in
                fp32 (time embedder, modulation tables, norms) are kept in fp32 either way.
            **wan_config: ``dim, ffn_dim, num_heads, num_layers, in_dim, out_dim, text_dim,
                freq_dim, eps, patch_size`` (missing ones default to A14B).

        Raises:
            WeightsError: a key maps to no parameter, a shape does not fit, or a parameter is missing.
        """
        model, _ = cls.load_wan_state_dict(state_dict, dtype=dtype, **wan_config)
        return model

    @classmethod
    def load_wan_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, dtype: torch.dtype | None = None,
                            **wan_config: Any) -> tuple["FaceCamTransformer", ConversionReport]:
        """Like :meth:`from_wan_state_dict`, also returning the conversion report."""
        from accelerate import init_empty_weights

        # Parameters on meta (no memory), buffers (rotary tables) real: then assign the checkpoint's tensors.
        with init_empty_weights(include_buffers=False):
            model = cls(**diffusers_config_from_wan(**wan_config))
        converted, report = dit_keymap(model).convert_from_native(state_dict, complete=True)
        if dtype is not None:
            converted = {k: v.to(dtype) for k, v in converted.items()}
        model.load_state_dict(converted, strict=True, assign=True)
        keep_fp32_modules(model)
        return model.eval(), report

    # --- training hooks (issue 7) ----------------------------------------
    def keymap(self) -> KeyMap:
        """Module <-> Wan-native names for this model."""
        return dit_keymap(self)

    def to_wan_state_dict(self, names: Optional[list[str]] = None) -> dict[str, torch.Tensor]:
        """Export parameters (all, or the given module names) under Wan-native keys."""
        state = self.state_dict()
        if names is not None:
            state = {k: state[k] for k in names}
        return self.keymap().convert_to_native(state)

    def trainable_parameter_names(self) -> list[str]:
        """What FaceCam fine-tunes: every self-attention (3D attention) parameter and the patch embedding."""
        return [n for n, _ in self.named_parameters()
                if n.startswith("patch_embedding.") or ".attn1." in n]


def keep_fp32_modules(model: torch.nn.Module) -> None:
    """Cast the parameters diffusers keeps in fp32 back to fp32 (as ``from_pretrained(torch_dtype=bf16)`` does)."""
    names = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for name, param in model.named_parameters():
        if names & set(name.split(".")) and param.dtype != torch.float32:
            param.data = param.data.float()
