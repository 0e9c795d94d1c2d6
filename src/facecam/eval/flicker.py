"""A weight-free measure of flicker where a layered re-render's layers meet.

The warp engine composes each frame from layers (face surface, person plane,
background plate). Where they meet, anything decided per frame (the person's
segmentation edge, which layer wins a pixel) can jump back and forth from one
frame to the next: a shimmering outline that a still frame never shows.

Frame differences alone cannot tell that from motion: a camera orbit moves every
pixel of every frame. The *second* temporal difference,
``f[t] - (f[t-1] + f[t+1]) / 2``, is close to zero for any smooth motion (a
constant velocity cancels exactly) and large for a pixel that flips and flips
back. So the measure is the mean absolute second difference of the grey image
(grey levels) inside a band of :data:`BAND` (fraction of the frame diagonal)
either side of the layer boundaries: the person's outline and the given face
outlines (the oval, and where the face surface ends), each video in its own band.
The input has its own level (sensor noise, compression, the subject's motion),
so the score is the ratio output / input: 1 is as steady as the source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

BAND = 0.012  # half width of the band around each boundary, fraction of the frame diagonal


@dataclass
class FlickerScore:
    """Mean absolute second temporal difference (grey levels) in the boundary bands.

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


def second_difference(frames, bands: Sequence[Optional[np.ndarray]]) -> list[Optional[float]]:
    """Per inner frame ``t``: mean ``|g[t] - (g[t-1] + g[t+1]) / 2|`` of the grey frames inside ``bands[t]``.

    ``frames`` is indexed frame by frame (``frames[t]``, ``(H, W, 3)`` uint8 RGB);
    entries are None for the first and last frame and where the band is empty.
    """
    n = len(frames)
    grey = lambda t: cv2.cvtColor(np.asarray(frames[t]), cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    out: list[Optional[float]] = [None] * n
    if n < 3:
        return out
    prev, cur = grey(0), grey(1)
    for t in range(1, n - 1):
        nxt = grey(t + 1)
        band = bands[t]
        if band is not None and band.any():
            out[t] = float(np.abs(cur - 0.5 * (prev + nxt))[band].mean())
        prev, cur = cur, nxt
    return out


def boundary_flicker(input_frames, output_frames, input_bands: Sequence[Optional[np.ndarray]],
                     output_bands: Sequence[Optional[np.ndarray]]) -> FlickerScore:
    """Flicker of ``output_frames`` at its layer boundaries relative to ``input_frames`` at theirs.

    Both clips are indexed frame by frame; ``*_bands`` hold each frame's boundary
    band (:func:`boundary_band`) or None.
    """
    per_out = second_difference(output_frames, output_bands)
    per_in = second_difference(input_frames, input_bands)
    mean = lambda v: float(np.mean([x for x in v if x is not None])) if any(x is not None for x in v) else None  # noqa: E731
    a, b = mean(per_in), mean(per_out)
    ratio = None if a is None or b is None or a <= 0 else b / a
    return FlickerScore(b, a, ratio, [None if x is None else round(x, 4) for x in per_out])
