"""Frame augmentations of the training-data recipe, as small functions with recorded parameters.

Every augmentation is a pure function of frames and a parameter dataclass; the
parameters are drawn from a ``numpy.random.Generator`` by a ``sample_*`` function
and written into the sample's JSON, so any sample can be re-made from its record.

Geometry (paper 3.4, REFERENCE.md "Training data recipe"): a frame is scaled by
``s`` about its top-left corner and placed in a canvas of the same size. When the
scaled frame is smaller it is pasted at ``((H - sH) * pos_h, (W - sW) * pos_w)``
on a fill colour (padding); when larger, the window ``(sH - H) * pos_h,
(sW - W) * pos_w`` is cut out of it (cropping). ``pos`` in ``[0, 1]``: 0 = top /
left, 1 = bottom / right. We implement both cases as one inverse affine warp
(output pixel -> input pixel), which samples exactly what resize-then-crop would,
without building the enlarged frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import cv2
import numpy as np

# Corner patch used to guess the background colour of a clip (pixels per side).
CORNER_PATCH = 10


@dataclass(frozen=True)
class StillParams:
    """One scale and placement for every frame (the source clip's augmentation)."""

    scale: float
    pos_h: float
    pos_w: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MotionParams:
    """Synthetic camera motion: zoom ``scale0 -> scale1`` and pan ``(h0, w0) -> (h1, w1)``, linear in time."""

    scale0: float
    scale1: float
    h0: float
    w0: float
    h1: float
    w1: float

    def to_dict(self) -> dict:
        return asdict(self)

    def at(self, t: float) -> StillParams:
        """Placement at normalised time ``t`` in ``[0, 1]``."""
        return StillParams(self.scale0 + t * (self.scale1 - self.scale0),
                           self.h0 + t * (self.h1 - self.h0),
                           self.w0 + t * (self.w1 - self.w0))


def sample_still(rng: np.random.Generator, scale_range: tuple[float, float] = (0.75, 1.25)) -> StillParams:
    """Scale uniform in ``scale_range``, placement uniform in ``[0, 1]^2``."""
    return StillParams(float(rng.uniform(*scale_range)), float(rng.uniform()), float(rng.uniform()))


def sample_motion(rng: np.random.Generator, scale_range: tuple[float, float] = (1.0, 1.25)) -> MotionParams:
    """Start and end zoom uniform in ``scale_range``, start and end crop position uniform in ``[0, 1]^2``."""
    s0, s1 = (float(v) for v in rng.uniform(*scale_range, size=2))
    h0, w0, h1, w1 = (float(v) for v in rng.uniform(size=4))
    return MotionParams(s0, s1, h0, w0, h1, w1)


def placement_matrix(size: tuple[int, int], params: StillParams) -> np.ndarray:
    """``(2, 3)`` affine mapping output pixels to input pixels for a frame of ``size`` ``(H, W)``.

    The scaled size is truncated to whole pixels (``int(H * s)``), as a resize
    would, and the offset is truncated the same way, so the result equals
    ``resize`` to ``(int(H s), int(W s))`` followed by the paste or crop.
    """
    h, w = size
    new_h, new_w = max(int(h * params.scale), 1), max(int(w * params.scale), 1)
    # Integer offset of the scaled frame's top-left corner in the output (negative = cropped).
    oy = int((h - new_h) * params.pos_h) if new_h <= h else -int((new_h - h) * params.pos_h)
    ox = int((w - new_w) * params.pos_w) if new_w <= w else -int((new_w - w) * params.pos_w)
    ay, ax = h / new_h, w / new_w
    # Resize maps resized pixel centre x' to input (x' + 0.5) * a - 0.5; output x = x' + ox.
    return np.array([[ax, 0.0, (0.5 - ox) * ax - 0.5], [0.0, ay, (0.5 - oy) * ay - 0.5]], np.float64)


def place_frame(frame: np.ndarray, params: StillParams, fill: tuple[int, int, int],
                out: Optional[np.ndarray] = None) -> np.ndarray:
    """Scale and place one ``(H, W, 3)`` uint8 frame; uncovered pixels take ``fill``. Writes into ``out`` if given."""
    if params.scale == 1.0:
        if out is None:
            return frame.copy()
        out[...] = frame
        return out
    h, w = frame.shape[:2]
    matrix = placement_matrix((h, w), params)
    return cv2.warpAffine(frame, matrix, (w, h), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(int(c) for c in fill))


def still_augment(frames: np.ndarray, params: StillParams, fill: Optional[tuple[int, int, int]] = None) -> np.ndarray:
    """Apply one placement to every frame of ``(T, H, W, 3)``; ``fill`` defaults to the corner colour."""
    fill = corner_colour(frames[0]) if fill is None else fill
    out = np.empty_like(frames)
    for f, o in zip(frames, out):
        place_frame(f, params, fill, o)
    return out


def zoom_pan(frames: np.ndarray, params: MotionParams, fill: Optional[tuple[int, int, int]] = None) -> np.ndarray:
    """Synthetic camera motion over ``(T, H, W, 3)``: frame ``i`` gets the placement at ``i / (T - 1)``.

    The same ``params`` on two clips of the same size move their pixels identically,
    which is how a target and its condition frames stay aligned.
    """
    fill = corner_colour(frames[0]) if fill is None else fill
    n = len(frames)
    out = np.empty_like(frames)
    for i, (f, o) in enumerate(zip(frames, out)):
        place_frame(f, params.at(i / max(n - 1, 1)), fill, o)
    return out


def corner_colour(frame: np.ndarray, patch: int = CORNER_PATCH) -> tuple[int, int, int]:
    """Mean colour of the top-left and top-right ``patch`` squares of ``(H, W, 3)``: the backdrop to pad with."""
    h, w = frame.shape[:2]
    p = max(1, min(patch, h // 4, w // 4))
    pixels = np.concatenate([frame[:p, :p].reshape(-1, 3), frame[:p, w - p:].reshape(-1, 3)])
    return tuple(int(c) for c in pixels.mean(axis=0))


def replace_background(frames: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Composite ``(T, H, W, 3)`` frames over a flat ``colour`` with foreground ``alpha`` ``(T, H, W)`` in [0, 1]."""
    # cv2.blendLinear blends uint8 images with per-pixel float weights in one pass (numpy float
    # arithmetic over a whole 81-frame clip took seconds per sample).
    backdrop = np.empty(frames.shape[1:], np.uint8)
    backdrop[:] = colour
    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, alpha)):
        a = np.ascontiguousarray(a, dtype=np.float32)
        out[i] = cv2.blendLinear(np.ascontiguousarray(frame), backdrop, a, 1.0 - a)
    return out


def sample_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A uniformly random RGB background colour."""
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


