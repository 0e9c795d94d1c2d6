"""MediaPipe Face Mesh over clips and images, and the quieting every MediaPipe graph starts under.

:mod:`facecam.face` is MediaPipe's one home: the face mesh here, the full-range face detector in
:mod:`facecam.face.detect`, selfie segmentation in :mod:`facecam.face.segmentation`.

Landmarks are 478 points (468 mesh + 10 iris) in pixels of the frame they were
detected on: ``x`` and ``y`` in pixels, ``z`` MediaPipe's relative depth scaled
like ``x`` (multiplied by the frame width), smaller = closer to the camera.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from ..errors import NoFaceError

NUM_LANDMARKS = 478
NUM_MESH = 468  # the face mesh proper; the last 10 are the irises
NOSE_TIP = 4
FOREHEAD, CHIN = 10, 152  # top of the forehead and the chin's lowest point
MANY_FACES = 4  # faces Face Mesh looks for when the frame has several people (one is kept, see detect_landmarks)


@dataclass
class LandmarkTrack:
    """Landmarks of a clip.

    Attributes:
        points: ``(T, 478, 3)`` float32, pixels (z scaled like x).
        found: ``(T,)`` bool, False where the face was lost and ``points`` were
            filled by interpolation between the nearest found frames.
        size: ``(height, width)`` of the frames.
    """

    points: np.ndarray
    found: np.ndarray
    size: tuple[int, int]

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def filled_frames(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.found)]

    def save(self, path: str | os.PathLike) -> None:
        np.savez_compressed(path, points=self.points, found=self.found, size=np.asarray(self.size))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LandmarkTrack":
        with np.load(path) as data:
            return cls(data["points"], data["found"], tuple(int(v) for v in data["size"]))


@contextlib.contextmanager
def quiet_mediapipe():
    """MediaPipe's C++ logging goes to fd 2; silence it while graphs start."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def face_mesh(static: bool, min_confidence: float = 0.5, faces: int = 1):
    """A MediaPipe FaceMesh with irises (478 points), finding up to ``faces`` faces."""
    with quiet_mediapipe():
        from mediapipe.python.solutions import face_mesh as mp_face_mesh

        return mp_face_mesh.FaceMesh(static_image_mode=static, max_num_faces=faces, refine_landmarks=True,
                                     min_detection_confidence=min_confidence,
                                     min_tracking_confidence=min_confidence)


def landmarks_to_pixels(result, width: int, height: int,
                        near: Optional[tuple[float, float]] = None) -> Optional[np.ndarray]:
    """``(478, 3)`` pixel landmarks of a Face Mesh result: its first face, or with ``near`` the face whose nose
    tip is nearest that point (pixels), or None."""
    faces = []
    for face in result.multi_face_landmarks or ():
        pts = np.array([(p.x * width, p.y * height, p.z * width) for p in face.landmark], dtype=np.float32)
        if pts.shape[0] == NUM_LANDMARKS:
            faces.append(pts)
    if not faces:
        return None
    if near is None:
        return faces[0]
    return min(faces, key=lambda pts: float(np.hypot(*(pts[NOSE_TIP, :2] - np.asarray(near, np.float32)))))


def detect_image_landmarks(image: np.ndarray, mesh=None) -> Optional[np.ndarray]:
    """``(478, 3)`` landmarks of the most prominent face in an RGB image, or None."""
    own = mesh is None
    mesh = mesh or face_mesh(static=True)
    try:
        h, w = image.shape[:2]
        return landmarks_to_pixels(mesh.process(np.ascontiguousarray(image)), w, h)
    finally:
        if own:
            mesh.close()


def detect_landmarks(frames: Iterable[np.ndarray] | np.ndarray, *, static: bool = False,
                     progress: bool = False, min_confidence: float = 0.5,
                     near: Optional[tuple[float, float]] = None) -> LandmarkTrack:
    """Track the face over a clip in MediaPipe's tracking mode.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB frames (or an iterable of frames).
        static: detect every frame independently (slower, no temporal tracking).
        progress: show a progress bar.
        near: for a frame with several people, ``(x, y)`` pixels of the chosen face's nose tip in the first
            frame: up to :data:`MANY_FACES` faces are found in each frame and the one whose nose is nearest the
            last frame's is kept. Without it, MediaPipe's one face.

    Returns:
        LandmarkTrack; frames where the face was lost are linearly interpolated
        from the nearest found frames (held at the ends) and flagged in ``found``.

    Raises:
        NoFaceError: when no frame has a face.
    """
    if not hasattr(frames, "__len__"):  # arrays and frame buffers are walked frame by frame, not copied
        frames = list(frames)
    if len(frames) == 0:
        raise NoFaceError("no frames to detect a face in")
    h, w = frames[0].shape[:2]
    points = np.zeros((len(frames), NUM_LANDMARKS, 3), np.float32)
    found = np.zeros(len(frames), bool)
    iterator = frames
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(frames, desc="landmarks", unit="frame", leave=False)
    mesh = face_mesh(static=static, min_confidence=min_confidence, faces=1 if near is None else MANY_FACES)
    try:
        for i, frame in enumerate(iterator):
            pts = landmarks_to_pixels(mesh.process(np.ascontiguousarray(frame)), w, h, near)
            if pts is not None and near is not None:
                # Only the chosen person: a nose further than a face's width from the last one is someone else's
                # (the chosen face was lost in this frame).
                width = float(np.ptp(pts[:NUM_MESH, 0]))
                if np.hypot(*(pts[NOSE_TIP, :2] - np.asarray(near, np.float32))) > width:
                    pts = None
                else:
                    near = tuple(pts[NOSE_TIP, :2])
            if pts is not None:
                points[i], found[i] = pts, True
    finally:
        mesh.close()
    if not found.any():
        raise NoFaceError("no face found in the video (MediaPipe Face Mesh saw none in any frame)")
    return LandmarkTrack(fill_missing(points, found), found, (h, w))


def fill_missing(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linearly interpolate ``(T, N, 3)`` points over frames where ``found`` is False."""
    if found.all():
        return points
    idx = np.flatnonzero(found)
    t = np.arange(points.shape[0])
    flat = points.reshape(points.shape[0], -1)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(t, idx, flat[idx, j])
    return out.reshape(points.shape)
