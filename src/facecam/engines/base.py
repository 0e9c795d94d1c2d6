"""One interface for every engine that renders a re-angled video.

An engine receives a :class:`~facecam.condition.builder.ConditionedClip` (the
cropped source, its landmark track, the camera trajectory and the face-mesh
camera-condition video, all at the same size and frame count) and returns the
generated frames. The CLI, the benchmarks and the web page only talk to engines
through :func:`get_engine` and :meth:`Engine.generate`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..errors import FacecamError

if TYPE_CHECKING:  # pragma: no cover
    from ..condition.builder import ConditionedClip

ENGINES = {
    "warp": "facecam.engines.warp:WarpEngine",
    "facecam": "facecam.engines.diffusion:FaceCamEngine",
}


class Engine(ABC):
    """Renders the source performance under the clip's camera trajectory."""

    name: str = ""

    @classmethod
    def availability(cls, **options) -> tuple[bool, str]:
        """Whether the engine can run with these options, and why not if it cannot."""
        return True, ""

    @abstractmethod
    def generate(self, clip: "ConditionedClip", *, seed: Optional[int] = None,
                 progress: bool = True) -> np.ndarray:
        """Return the generated video, ``(T, H, W, 3)`` uint8, same T, H, W as ``clip.source``."""


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise FacecamError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    module_name, _, class_name = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_engine(name: str, **options) -> Engine:
    """Build the engine called ``name`` (``warp`` or ``facecam``) with engine-specific options."""
    cls = engine_class(name)
    ok, why = cls.availability(**options)
    if not ok:
        raise FacecamError(why)
    return cls(**options)
