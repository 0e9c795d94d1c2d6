"""A weight-free measure of flicker where a layered re-render's layers meet.

The warp engine composes each frame from layers (face surface, person plane,
background plate). Where they meet, anything decided per frame (the person's
segmentation edge, which layer wins a pixel) can jump back and forth from one
frame to the next: a shimmering outline that a still frame never shows.

Frame differences alone cannot tell that from motion: a camera orbit moves every
pixel of every frame, and even the second temporal difference of a texture
sliding a few pixels a frame is large. So each frame is compared with its
neighbours *moved onto it*: dense optical flow (OpenCV's Farneback, no weights,
at half resolution) from frame ``t`` to ``t - 1`` and to ``t + 1`` warps both
neighbours onto frame ``t``, and the measure is the mean, over pixels, of the
smaller of the two absolute differences between frame ``t`` and a warped
neighbour (grey levels): what a moving edge uncovers is missing from one
neighbour but there in the other, where a pixel that flickers differs from both.
It is taken inside a band of :data:`BAND` (fraction of the frame diagonal) either side of
the layer boundaries: the person's outline and the given face outlines (the
oval, and where the face surface ends), each video in its own band. Motion, even
fast, is predicted by the flow; an edge that flips one way and back, a layer
that wins a pixel in one frame and loses it in the next, is not (the flow is
smooth over :data:`FLOW_WINDOW` pixels and cannot create what a neighbour lacks).
The frames are blurred first (:data:`SIGMA`): a flow never aligns the finest
texture exactly, so unblurred, a sharper video would score as less steady (a
blur of 1 px alone lowered the input's raw residual by a quarter; after this
blur, by 5%), and a boundary that jumps by pixels is coarser than that.
The input has its own level (sensor noise, compression, what the flow misses of
the subject's motion), so the score is the ratio output / input: 1 is as steady
as the source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

BAND = 0.012  # half width of the band around each boundary, fraction of the frame diagonal
FLOW_SCALE = 2    # optical flow on frames this many times smaller (the flow is smooth anyway)
FLOW_WINDOW = 15  # Farneback averaging window at the flow's scale (pixels)
SIGMA = 1.5       # Gaussian blur of the grey frames before comparing (pixels)


@dataclass
class FlickerScore:
    """Mean motion-compensated temporal residual (grey levels) in the boundary bands.

    ``ratio`` is output / input (None when the input's band was empty or perfectly still).
    """

    output: Optional[float]
    input: Optional[float]
    ratio: Optional[float]
    output_per_frame: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def band_width(size: tuple[int, int]) -> int:
    """Half width in pixels of the boundary band for frames of ``size`` ``(H, W)``."""
    return max(1, int(round(BAND * float(np.hypot(*size)))))


def boundary_band(person: Optional[np.ndarray], outlines: Sequence[np.ndarray], size: tuple[int, int],
                  half_width: Optional[int] = None) -> np.ndarray:
    """``(H, W)`` bool: pixels within ``half_width`` of the person mask's edge or of a closed outline.

    Args:
        person: ``(H, W)`` bool person mask (None: no person outline).
        outlines: closed polygons ``(N, 2)`` in pixels (e.g. the face oval).
        size: ``(H, W)`` of the frame.
    """
    H, W = size
    r = band_width(size) if half_width is None else half_width
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    band = np.zeros((H, W), np.uint8)
    masks = [] if person is None else [person.astype(np.uint8)]
    for poly in outlines:
        inside = np.zeros((H, W), np.uint8)
        cv2.fillPoly(inside, [np.round(np.asarray(poly)[:, :2] * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        masks.append(inside)
    for m in masks:
        # An edge the frame border cuts is no layer boundary: pad with the mask's own border.
        padded = cv2.copyMakeBorder(m, r, r, r, r, cv2.BORDER_REPLICATE)
        ring = cv2.dilate(padded, kernel) - cv2.erode(padded, kernel)
        band |= ring[r:r + H, r:r + W]
    return band > 0


def _flow_onto(target: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other`` (float32 grey) moved onto ``target``: dense flow from target to other, then a backward warp."""
    H, W = target.shape
    small = (max(1, W // FLOW_SCALE), max(1, H // FLOW_SCALE))
    a = cv2.resize(target, small, interpolation=cv2.INTER_AREA).astype(np.uint8)
    b = cv2.resize(other, small, interpolation=cv2.INTER_AREA).astype(np.uint8)
    flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, FLOW_WINDOW, 3, 5, 1.1, 0)
    flow = cv2.resize(flow, (W, H), interpolation=cv2.INTER_LINEAR) * np.float32(W / small[0])
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    return cv2.remap(other, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def temporal_residual(frames, bands: Sequence[Optional[np.ndarray]]) -> list[Optional[float]]:
    """Per inner frame ``t``: mean ``min(|g[t] - g[t-1]|, |g[t] - g[t+1]|)`` inside ``bands[t]``, both
    neighbours moved onto frame ``t`` by optical flow (grey levels; see the module docstring).

    ``frames`` is indexed frame by frame (``frames[t]``, ``(H, W, 3)`` uint8 RGB);
    entries are None for the first and last frame and where the band is empty.
    """
    n = len(frames)
    def grey(t: int) -> np.ndarray:
        g = cv2.cvtColor(np.asarray(frames[t]), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return cv2.GaussianBlur(g, (0, 0), SIGMA)

    out: list[Optional[float]] = [None] * n
    if n < 3:
        return out
    prev, cur = grey(0), grey(1)
    for t in range(1, n - 1):
        nxt = grey(t + 1)
        band = bands[t]
        if band is not None and band.any():
            residual = np.minimum(np.abs(cur - _flow_onto(cur, prev)), np.abs(cur - _flow_onto(cur, nxt)))
            out[t] = float(residual[band].mean())
        prev, cur = cur, nxt
    return out


def boundary_flicker(input_frames, output_frames, input_bands: Sequence[Optional[np.ndarray]],
                     output_bands: Sequence[Optional[np.ndarray]]) -> FlickerScore:
    """Flicker of ``output_frames`` at its layer boundaries relative to ``input_frames`` at theirs.

    Both clips are indexed frame by frame; ``*_bands`` hold each frame's boundary
    band (:func:`boundary_band`) or None.
    """
    per_out = temporal_residual(output_frames, output_bands)
    per_in = temporal_residual(input_frames, input_bands)
    def mean(values: list) -> Optional[float]:
        known = [x for x in values if x is not None]
        return float(np.mean(known)) if known else None

    a, b = mean(per_in), mean(per_out)
    ratio = None if a is None or b is None or a <= 0 else b / a
    return FlickerScore(b, a, ratio, [None if x is None else round(x, 4) for x in per_out])
