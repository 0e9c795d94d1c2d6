"""Head pose from landmarks.

Each frame's 2D landmarks are fitted to the shipped 3D face template (see
``scripts/derive_template.py``) with a perspective-n-point solve. The camera is a
pinhole with its principal point at the image centre and a focal length of
:func:`focal_length`: **a 50 degree field of view across the longer image side**
(``f = max(H, W) / (2 tan 25 deg)``, about 755 px at 704x480), a typical phone
or webcam lens. Only the rotation is used for angles, and it depends little on
the focal length for faces that are small in the frame.

Angle conventions (degrees, as the viewer sees the image):

======  =====================================================
yaw     > 0: the head faces image-RIGHT
pitch   > 0: the head looks UP
roll    > 0: the head tilts clockwise in the image
======  =====================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

FOV_DEG = 50.0
MESH = slice(0, 468)
RIGHT_CHEEK, LEFT_CHEEK = 234, 454  # image-left and image-right for a frontal face


@lru_cache(maxsize=1)
def template_points() -> np.ndarray:
    """The generic head: ``(478, 3)`` float64, unit cheek-to-cheek width, x right, y down, z into the head."""
    with resources.files("facecam.assets").joinpath("template_face.npy").open("rb") as fh:
        return np.load(fh).astype(np.float64)


def focal_length(size: tuple[int, int], fov_deg: float = FOV_DEG) -> float:
    """Focal length in pixels for an image of ``(height, width)``: ``fov_deg`` across the longer side."""
    return max(size) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def intrinsics(size: tuple[int, int], focal: float | None = None, zoom: float = 1.0) -> np.ndarray:
    """``(3, 3)`` pinhole matrix with the principal point at the image centre."""
    h, w = size
    f = (focal if focal is not None else focal_length(size)) * zoom
    return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class HeadPose:
    """Per-frame head pose; every field has a leading frame axis ``(T,)`` (or none for one frame).

    Attributes:
        yaw, pitch, roll: degrees (conventions in the module docstring).
        scale: face size in pixels, the RMS distance of the 468 mesh points from their 2D centroid.
        center: ``(..., 2)`` pixel centroid of the 468 mesh points.
        rotation: ``(..., 3, 3)`` template-to-camera rotation.
        translation: ``(..., 3)`` template origin in camera coordinates (template units).
    """

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    scale: np.ndarray
    center: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    def as_dict(self, index: int = -1) -> dict:
        pick = (lambda a: a) if np.ndim(self.yaw) == 0 else (lambda a: a[index])
        return {"yaw": float(pick(self.yaw)), "pitch": float(pick(self.pitch)), "roll": float(pick(self.roll)),
                "scale": float(pick(self.scale)), "center": [float(v) for v in pick(self.center)]}


def rotation_to_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees of a template-to-camera rotation."""
    r = rotation
    facing = -r[:, 2]  # the template looks along -z
    yaw = math.degrees(math.atan2(facing[0], -facing[2]))
    pitch = math.degrees(math.atan2(-facing[1], math.hypot(facing[0], facing[2])))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return yaw, pitch, roll


def face_scale(points: np.ndarray) -> np.ndarray:
    """RMS 2D distance of the 468 mesh points from their centroid, ``(...)``."""
    mesh = points[..., MESH, :2]
    return np.sqrt(((mesh - mesh.mean(axis=-2, keepdims=True)) ** 2).sum(-1).mean(-1))


def solve_pnp(head: np.ndarray, points2d: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``(3, 3)`` and translation ``(3,)`` taking ``(N, 3)`` head points onto ``(N, 2)`` pixels."""
    import cv2

    obj = np.asarray(head, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, points2d.astype(np.float64), K, None, flags=cv2.SOLVEPNP_SQPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(obj, points2d.astype(np.float64), K, None, rvec, tvec,
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    rotation = cv2.Rodrigues(rvec)[0]
    return rotation, tvec.reshape(3)


def estimate_head_pose(points: np.ndarray, size: tuple[int, int], focal: float | None = None) -> HeadPose:
    """Head pose of ``(478, 3)`` or ``(T, 478, 3)`` pixel landmarks in frames of ``size`` (H, W)."""
    pts = np.asarray(points, dtype=np.float64)
    single = pts.ndim == 2
    batch = pts[None] if single else pts
    K = intrinsics(size, focal)
    rotations, translations, angles = [], [], []
    for frame in batch:
        r, t = solve_pnp(template_points(), frame[:, :2], K)
        rotations.append(r)
        translations.append(t)
        angles.append(rotation_to_angles(r))
    angles = np.asarray(angles)
    pose = HeadPose(angles[:, 0], angles[:, 1], angles[:, 2], face_scale(batch),
                    batch[:, MESH, :2].mean(axis=1), np.stack(rotations), np.stack(translations))
    if single:
        pose = HeadPose(*(np.asarray(getattr(pose, f))[0] for f in pose.__dataclass_fields__))
    return pose


def template_depth(points: np.ndarray, size: tuple[int, int], focal: float) -> np.ndarray:
    """``(T, N, 3)`` pixel landmarks with MediaPipe's z replaced by the depth of the posed face template.

    Each frame's landmarks keep their pixels; their depth becomes that of the 3D
    face template (:func:`facecam.face.pose.template_points`) posed on them by the
    same PnP fit the head pose uses, scaled so the head sits at depth ``focal``
    (as :func:`facecam.condition.builder.proxy_points` places the template proxy),
    and shifted so each frame's mean mesh depth stays ``focal + mean z``.

    Why: the lifted MediaPipe z is not a rigid head's depth. Seen by an orbit's
    camera it reads (PnP) as a head turned in angles the orbit does not turn: up to
    4.0 deg of pitch and 2.0 deg of roll beside a 30 deg yaw orbit on the shared clips,
    where the template's depth leaves 1.5 and 0.8; and on a rigid head rendered at
    exact angles it predicts the size change of a 20 deg pitch orbit 1.4 points of log
    size from what is measured, MediaPipe's z 2.9 (``benchmarks/warp_depth.py``). The warp engine draws the face with this
    depth and the camera judge predicts sizes and shifts with it.
    """
    pts = np.asarray(points, dtype=np.float64)
    single = pts.ndim == 2
    batch = pts[None] if single else pts
    K = intrinsics(size, focal)
    template = template_points()
    n = min(batch.shape[1], len(template))
    out = batch.copy()
    for frame, src in zip(out, batch):
        rotation, translation = solve_pnp(template[:n], src[:n, :2], K)
        depth = (template[:n] @ rotation[2] + translation[2]) * (focal / translation[2])
        depth += (focal + src[MESH, 2]).mean() - depth[MESH].mean()
        frame[:n, 2] = depth - focal
    return out[0] if single else out
