"""Finding a face anywhere in a frame: MediaPipe's full-range face detector.

Face Mesh (:mod:`facecam.face.landmarks`) looks for a face with MediaPipe's
short-range detector, built for selfie distances: it misses a small face, such as
a ~90 px face in a 720x1080 full-body shot. The full-range detector
(``model_selection=1``, faces up to about 5 m) finds the face box first; the mesh
then runs on a window around that box, where the face is large again.

Boxes are in pixels of the frame they were found in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .landmarks import landmarks_to_pixels, quiet_mediapipe

TILES = 3  # a face the whole frame misses is searched again in 3x3 overlapping tiles ...
TILE_SHARE = 0.45  # ... each this share of the frame's side (neighbours overlap by 0.175 of it)
MESH_WINDOW = 3.0  # side of the window the mesh runs on, in face-box sides


@dataclass(frozen=True)
class FaceBox:
    """A detected face: top-left ``(x, y)``, ``width`` and ``height`` in pixels, detector ``score``."""

    x: float
    y: float
    width: float
    height: float
    score: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2

    def to_list(self) -> list[float]:
        """``[x, y, width, height]`` rounded to 0.1 px (the ``_camera.json`` record)."""
        return [round(float(v), 1) for v in (self.x, self.y, self.width, self.height)]


def face_detector(min_confidence: float = 0.5):
    """MediaPipe's full-range face detector (the model ships in the mediapipe wheel)."""
    with quiet_mediapipe():
        from mediapipe.python.solutions import face_detection

        return face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)


def _boxes(image: np.ndarray, detector, offset: tuple[int, int] = (0, 0)) -> list[FaceBox]:
    h, w = image.shape[:2]
    result = detector.process(np.ascontiguousarray(image))
    boxes = []
    for detection in result.detections or ():
        rel = detection.location_data.relative_bounding_box
        boxes.append(FaceBox(offset[0] + rel.xmin * w, offset[1] + rel.ymin * h, rel.width * w, rel.height * h,
                             float(detection.score[0])))
    return boxes


def _tiles(hw: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """:data:`TILES` x :data:`TILES` overlapping tiles ``(top, left, height, width)`` covering a frame of ``hw``."""
    h, w = hw
    th, tw = int(h * TILE_SHARE), int(w * TILE_SHARE)
    tops = np.linspace(0, h - th, TILES).round().astype(int)
    lefts = np.linspace(0, w - tw, TILES).round().astype(int)
    return [(int(top), int(left), th, tw) for top in tops for left in lefts]


def detect_face_boxes(image: np.ndarray, detector=None, tiles: bool = False) -> list[FaceBox]:
    """Every face box in an RGB ``(H, W, 3)`` image, largest first.

    The whole frame is searched first; a face too small for the detector's 192 px
    input there (below about 60 px in a 720x1080 frame) is searched again in
    overlapping tiles, where it is about twice as large (faces down to about 35 px):
    when the whole frame shows none, or always with ``tiles`` (small faces beside a
    large one). A face found twice (whole frame, overlapping tiles) is kept once.
    """
    own = detector is None
    detector = detector or face_detector()
    try:
        boxes = _boxes(image, detector)
        if not boxes or tiles:
            for top, left, th, tw in _tiles(image.shape[:2]):
                boxes += _boxes(image[top:top + th, left:left + tw], detector, (left, top))
    finally:
        if own:
            detector.close()
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(_overlap(box, other) < SAME_FACE for other in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: -b.width * b.height)


SAME_FACE = 0.3  # intersection over union above which two boxes are one face


def _overlap(a: FaceBox, b: FaceBox) -> float:
    w = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    h = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    inter = max(w, 0.0) * max(h, 0.0)
    return inter / (a.width * a.height + b.width * b.height - inter)


def nearest_box(boxes: list[FaceBox], point: tuple[float, float]) -> FaceBox:
    """The box whose centre is nearest ``point`` (pixels)."""
    return min(boxes, key=lambda b: np.hypot(b.center[0] - point[0], b.center[1] - point[1]))


def detect_face_box(image: np.ndarray, detector=None, near: Optional[tuple[float, float]] = None) -> Optional[FaceBox]:
    """The face box in an RGB ``(H, W, 3)`` image, or None: of several faces (:func:`detect_face_boxes`) the
    largest, or with ``near`` the one whose centre is nearest that point."""
    boxes = detect_face_boxes(image, detector)
    if not boxes:
        return None
    return boxes[0] if near is None else nearest_box(boxes, near)


def landmarks_in_box(image: np.ndarray, box: FaceBox, mesh) -> Optional[np.ndarray]:
    """``(478, 3)`` Face Mesh landmarks (pixels of ``image``) of the face in ``box``, or None.

    The mesh runs on a square window of :data:`MESH_WINDOW` box sides around the box
    (clamped to the image), where even a small face fills a third of the picture.
    """
    h, w = image.shape[:2]
    side = MESH_WINDOW * max(box.width, box.height)
    cx, cy = box.center
    left, right = int(max(0, cx - side / 2)), int(min(w, cx + side / 2))
    top, bottom = int(max(0, cy - side / 2)), int(min(h, cy + side / 2))
    window = np.ascontiguousarray(image[top:bottom, left:right])
    # Another person inside the window: the mesh (built with several faces) keeps the one on the box.
    points = landmarks_to_pixels(mesh.process(window), right - left, bottom - top, near=(cx - left, cy - top))
    if points is None:
        return None
    points[:, 0] += left
    points[:, 1] += top
    return points
