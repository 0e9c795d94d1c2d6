"""The FaceCam model on diffusers: the conditioned Wan transformer, checkpoint conversion, weight discovery.

Entry points (also the hooks training builds on):

* :class:`FaceCamTransformer` - one expert, a stock ``WanTransformer3DModel`` (same ``forward``);
  :func:`facecam_velocity` ``(model, noisy, source, condition, t, text)`` -> velocity of the target half;
  :meth:`~FaceCamTransformer.from_wan_state_dict`, :meth:`~FaceCamTransformer.to_wan_state_dict`,
  :meth:`~FaceCamTransformer.trainable_parameter_names`.
* :mod:`facecam.model.keys` - Wan-native <-> diffusers/transformers names (DiT, VAE, UMT5), both directions.
* :mod:`facecam.model.weights` - :func:`load_original_expert`, :func:`load_finetune`, and :func:`find_weights`
  from :mod:`facecam.model.layout` (where each part lies in a weights folder; no torch import).
* :mod:`facecam.model.tiny` - tiny random models in the real layout (tests, CPU smoke runs).

Heavy imports (diffusers, transformers) happen when an attribute is first used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FaceCamTransformer": "transformer",
    "facecam_velocity": "transformer",
    "facecam_input": "transformer",
    "A14B_WAN_CONFIG": "transformer",
    "find_weights": "layout",
    "load_original_expert": "weights",
    "load_finetune": "weights",
    "apply_finetune": "weights",
    "write_tiny_model": "tiny",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(name)


__all__ = list(_EXPORTS)
