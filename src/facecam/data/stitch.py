"""Multi-shot stitching: one target clip cut from 1..K static cameras over consecutive time segments.

For ``K`` target cameras and ``T`` output frames, segment ``k`` holds ``L = T // K + 1``
frames of camera ``k`` at times ``start + (k L + j) * stride`` (``j < L``); the
segments are concatenated and cut to ``T`` frames. Segment ``k``'s condition is
the face mesh detected on camera ``k``'s frame at the clip's first time index
``start`` (the head frozen at ``t0``, only the camera changing), drawn once and
repeated over the segment.

Condition landmarks are detected once per (sequence, camera, frame, size) and
cached in memory and, when a folder is given, on disk (one small ``.npy`` per key,
written atomically, so parallel workers and restarts share them).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .._atomic import atomic_path
from ..condition.raster import render_condition


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, first + len(times))`` of the target come from ``camera`` at ``times``."""

    camera: str
    first: int
    times: tuple[int, ...]
    condition_time: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["times"] = list(self.times)
        return d


def plan_segments(num_frames: int, cameras: Sequence[str], start: int, stride: int, last_time: int) -> list[Segment]:
    """Segments of the stitched target (times past ``last_time`` hold the last frame).

    Args:
        num_frames: target length ``T``.
        cameras: the ``K`` target cameras, in segment order.
        start: first time index of the clip (also the condition time).
        stride: time step between output frames (NeRSemble: 3).
        last_time: last valid time index of the sequence.
    """
    length = num_frames // len(cameras) + 1
    segments = []
    for k, camera in enumerate(cameras):
        first = k * length
        count = min(length, num_frames - first)
        if count <= 0:
            break
        times = tuple(min(start + (first + j) * stride, last_time) for j in range(count))
        segments.append(Segment(camera, first, times, start))
    return segments


class LandmarkCache:
    """``(478, 3)`` landmarks (or "no face") per key, detected at most once.

    Args:
        folder: where to keep them across processes and runs; None keeps them in memory only.
    """

    def __init__(self, folder: Optional[str | os.PathLike] = None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._memory: dict[str, Optional[np.ndarray]] = {}
        self._mesh = None
        self.detections = 0  # how many times the detector actually ran (tests and stats)

    def _file(self, key: str) -> Path:
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest}.npy"

    def get(self, key: str, image: Callable[[], np.ndarray]) -> Optional[np.ndarray]:
        """Landmarks for ``key``; ``image()`` is called (and the detector run) only on a miss."""
        if key in self._memory:
            return self._memory[key]
        if self.folder:
            path = self._file(key)
            if path.is_file():
                stored = np.load(path)
                value = None if stored.size == 0 else stored  # an empty array records "no face"
                self._memory[key] = value
                return value
        value = self._detect(image())
        self._memory[key] = value
        if self.folder:
            path = self._file(key)
            path.parent.mkdir(exist_ok=True)
            with atomic_path(path) as tmp:
                np.save(tmp, np.zeros((0,), np.float32) if value is None else value)
        return value

    def _detect(self, image: np.ndarray) -> Optional[np.ndarray]:
        from ..face.landmarks import detect_image_landmarks, face_mesh

        if self._mesh is None:
            self._mesh = face_mesh(static=True)
        self.detections += 1
        return detect_image_landmarks(image, self._mesh)

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None


def condition_frames(points: Optional[np.ndarray], size: tuple[int, int], count: int) -> np.ndarray:
    """The mesh drawn once on white and repeated: ``(count, H, W, 3)`` uint8 (blank white without a face)."""
    if points is None:
        return np.full((count, size[0], size[1], 3), 255, np.uint8)
    frame = render_condition(points[None], size)[0]
    return np.repeat(frame[None], count, axis=0)
