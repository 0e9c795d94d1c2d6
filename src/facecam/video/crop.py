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
                   size: tuple[int, int] = REFERENCE_SIZE, zoom: float = 1.0) -> CropBox:
    """Crop box for a frame of ``frame_hw`` centred on ``nose_xy`` (pixels of the original frame).

    The frame is scaled by ``max(H_t / H, W_t / W)`` (truncated to whole pixels, as the
    reference does), the window is centred on the scaled nose and clamped to the
    image. Without a nose point the window is centred on the image. ``zoom`` > 1 scales
    the frame that much more: a window of ``1 / zoom`` the size, for a small face.
    """
    h, w = frame_hw
    target_h, target_w = size
    scale = max(target_h / h, target_w / w) * zoom
    new_h, new_w = max(int(h * scale), target_h), max(int(w * scale), target_w)
    if nose_xy is None:
        cx, cy = new_w // 2, new_h // 2
    else:
        cx, cy = int(nose_xy[0] / w * new_w), int(nose_xy[1] / h * new_h)
    left = min(max(0, cx - target_w // 2), new_w - target_w)
    top = min(max(0, cy - target_h // 2), new_h - target_h)
    return CropBox(new_h, new_w, top, left, target_h, target_w)


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
