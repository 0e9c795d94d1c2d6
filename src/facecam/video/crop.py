"""The reference face-centred crop.

FaceCam crops every source video to 704x480 the same way: scale the first frame so
it covers the target size, centre the window on the nose tip (MediaPipe landmark 4)
of the first frame, clamp the window to the image, and use that one crop for every
frame (a per-frame crop would add camera motion of its own). Framing a small face
(a larger scale) and following a moving one (a box per frame, ``--track``) live in
:mod:`facecam.condition.framing`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

from ..errors import FacecamError
from .frames import frame_buffer

REFERENCE_SIZE = (704, 480)  # (height, width)


@dataclass(frozen=True)
class CropBox:
    """Resize the frame to ``(resized_h, resized_w)`` then take ``[top:top+height, left:left+width]``."""

    resized_h: int
    resized_w: int
    top: int
    left: int
    height: int
    width: int

    def to_dict(self) -> dict:
        return asdict(self)

    def window(self, frame_hw: tuple[int, int]) -> tuple[float, float, float, float]:
        """The crop as ``(x, y, width, height)`` in pixels of the original ``frame_hw`` frame."""
        sx, sy = self.resized_w / frame_hw[1], self.resized_h / frame_hw[0]
        return self.left / sx, self.top / sy, self.width / sx, self.height / sy


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``704x480``) into ``(height, width)``; both multiples of 16."""
    try:
        h_text, w_text = text.lower().split("x")
        h, w = int(h_text), int(w_text)
    except ValueError:
        raise FacecamError(f"--size must look like HxW (e.g. 704x480), got {text!r}") from None
    if h <= 0 or w <= 0 or h % 16 or w % 16:
        raise FacecamError(f"--size sides must be positive multiples of 16, got {h}x{w}")
    return h, w


def reference_crop(frame_hw: tuple[int, int], nose_xy: tuple[float, float] | None,
                   size: tuple[int, int] = REFERENCE_SIZE, zoom: float = 1.0,
                   content: tuple[int, int, int, int] | None = None) -> CropBox:
    """Crop box for a frame of ``frame_hw`` centred on ``nose_xy`` (pixels of the original frame).

    The frame is scaled by ``max(H_t / H, W_t / W)`` (truncated to whole pixels, as the
    reference does), the window is centred on the scaled nose and clamped to the
    image. Without a nose point the window is centred on the image. ``zoom`` > 1 scales
    the frame that much more: a window of ``1 / zoom`` the size, for a small face.
    ``content`` ``(x0, y0, x1, y1)``: the part of the frame that holds the picture (without
    letterbox bars, :func:`content_area`): the window is clamped to it, and the frame is
    scaled up only as far as a window inside it needs, so no bar enters the window.
    ``None`` (the reference): the whole frame.
    """
    h, w = frame_hw
    x0, y0, x1, y1 = content if content is not None else (0, 0, w, h)
    target_h, target_w = size
    scale = max(target_h / h, target_w / w) * zoom
    if (x0, y0, x1, y1) != (0, 0, w, h):
        scale = max(scale, (target_h + 3) / (y1 - y0), (target_w + 3) / (x1 - x0))  # whole pixels stay inside
    new_h, new_w = max(int(h * scale), target_h), max(int(w * scale), target_w)
    if nose_xy is None:
        cx, cy = int((x0 + x1) / 2 / w * new_w), int((y0 + y1) / 2 / h * new_h)
    else:
        cx, cy = int(nose_xy[0] / w * new_w), int(nose_xy[1] / h * new_h)
    lo_x, hi_x = int(np.ceil(x0 / w * new_w)), int(x1 / w * new_w) - target_w
    lo_y, hi_y = int(np.ceil(y0 / h * new_h)), int(y1 / h * new_h) - target_h
    left = max(min(max(lo_x, cx - target_w // 2), hi_x), 0)
    top = max(min(max(lo_y, cy - target_h // 2), hi_y), 0)
    return CropBox(new_h, new_w, top, left, target_h, target_w)


# A border row or column belongs to a letterbox bar when, in every frame looked at, its mean is at most
# BAR_MEAN and its brightest pixel at most BAR_PEAK (of 255); bars take at most BAR_SHARE of each side.
BAR_MEAN, BAR_PEAK, BAR_SHARE = 12.0, 40.0, 0.25


def content_area(frames, looks: int = 8) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the frame without black letterbox or pillarbox bars.

    Looks at ``looks`` frames spread over ``frames`` (array-like ``(T, H, W, 3)``); a border row or
    column is a bar only when it is near black (:data:`BAR_MEAN`, :data:`BAR_PEAK`) in all of them, so a
    dark background that the person moves in front of is kept.
    """
    count = len(frames)
    h, w = frames[0].shape[:2]
    picks = np.unique(np.linspace(0, count - 1, min(count, looks)).round().astype(int))
    dark_rows, dark_cols = np.ones(h, bool), np.ones(w, bool)
    for t in picks:
        frame = np.asarray(frames[int(t)])
        grey = np.maximum(np.maximum(frame[..., 0], frame[..., 1]), frame[..., 2]).astype(np.float32)
        dark_rows &= (grey.mean(axis=1) <= BAR_MEAN) & (grey.max(axis=1) <= BAR_PEAK)
        dark_cols &= (grey.mean(axis=0) <= BAR_MEAN) & (grey.max(axis=0) <= BAR_PEAK)

    def run(dark: np.ndarray) -> int:  # length of the dark run from the start
        return int(np.argmin(dark)) if not dark.all() else len(dark)

    limit_y, limit_x = int(h * BAR_SHARE), int(w * BAR_SHARE)
    y0, y1 = min(run(dark_rows), limit_y), h - min(run(dark_rows[::-1]), limit_y)
    x0, x1 = min(run(dark_cols), limit_x), w - min(run(dark_cols[::-1]), limit_x)
    return x0, y0, x1, y1


def apply_crop(frames: np.ndarray, box: CropBox | Sequence[CropBox], interpolation: str = "auto") -> np.ndarray:
    """Apply one crop box, or one box per frame, to ``(T, H, W, 3)`` (or a single ``(H, W, 3)``) frames.

    ``interpolation``: ``auto`` (area filter when shrinking, bilinear when enlarging) or ``linear``
    (always bilinear, as the authors' release resizes).
    """
    if interpolation not in ("auto", "linear"):
        raise ValueError(f"interpolation must be auto or linear, got {interpolation!r}")
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    boxes = [box] * batch.shape[0] if isinstance(box, CropBox) else list(box)
    if len(boxes) != batch.shape[0]:
        raise ValueError(f"{len(boxes)} crop boxes for {batch.shape[0]} frames")
    out = frame_buffer((batch.shape[0], boxes[0].height, boxes[0].width, 3))  # on disk for a long clip
    for i, (frame, b) in enumerate(zip(batch, boxes)):
        out[i] = _crop_frame(frame, b, interpolation)
    return out[0] if single else out


def _crop_frame(frame: np.ndarray, box: CropBox, interpolation: str = "auto") -> np.ndarray:
    h, w = frame.shape[:2]
    if box.resized_h * box.resized_w > 4 * h * w:
        # A fitted crop of a small face: sample the window alone (the same bilinear mapping as
        # resize-then-slice) rather than build a frame many times the source's size.
        sx, sy = box.resized_w / w, box.resized_h / h
        to_crop = np.array([[sx, 0.0, 0.5 * sx - 0.5 - box.left], [0.0, sy, 0.5 * sy - 0.5 - box.top]])
        return cv2.warpAffine(frame, to_crop, (box.width, box.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if box.resized_w < w and interpolation == "auto" else cv2.INTER_LINEAR
    resized = frame if (h, w) == (box.resized_h, box.resized_w) else cv2.resize(
        frame, (box.resized_w, box.resized_h), interpolation=interp)
    return resized[box.top:box.top + box.height, box.left:box.left + box.width]


def crop_points(points: np.ndarray, frame_hw: tuple[int, int], box: CropBox) -> np.ndarray:
    """Map pixel points ``(..., >=2)`` of the original frame into the crop (z scales like x)."""
    h, w = frame_hw
    sx, sy = box.resized_w / w, box.resized_h / h
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] = out[..., 0] * sx - box.left
    out[..., 1] = out[..., 1] * sy - box.top
    if out.shape[-1] > 2:
        out[..., 2] = out[..., 2] * sx
    return out
