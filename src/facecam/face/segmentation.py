"""Person mattes from MediaPipe's bundled selfie segmentation (the wheel ships its models)."""

from __future__ import annotations

import numpy as np

from .landmarks import quiet_mediapipe


def selfie_segmentation(model_selection: int = 0):
    """A MediaPipe ``SelfieSegmentation`` graph: ``0`` the general 256x256 model (portrait framing),
    ``1`` the landscape model. Close it when done."""
    with quiet_mediapipe():
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

        return SelfieSegmentation(model_selection=model_selection)


class SelfieSegmenter:
    """Foreground alpha of whole clips, for data without masks.

    One graph per instance (create one per worker process).
    """

    def __init__(self, model_selection: int = 0) -> None:
        self._graph = selfie_segmentation(model_selection)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``(T, H, W, 3)`` uint8 RGB -> ``(T, H, W)`` float32 alpha in [0, 1]."""
        return np.stack([self._graph.process(np.ascontiguousarray(f)).segmentation_mask.astype(np.float32)
                         for f in frames])

    def close(self) -> None:
        self._graph.close()
