"""Pinhole projection of the proxy head under each frame's camera (paper eq. 7).

World coordinates are the SOURCE camera's OpenCV frame (x right, y down, z
forward), in units of one pixel at the head's depth: a face whose landmarks are
lifted from pixels keeps its pixel size, and the head sits at depth ``f`` (the
focal length). The scale of that world does not matter - scaling points and
camera translations by any ``s > 0`` leaves the projection unchanged (eq. 8) -
which is exactly why FaceCam conditions on a face rather than on extrinsics.

A target camera is the source camera moved by the trajectory:

* orbit (yaw, pitch) about the head's pivot: a point half a cheek-to-cheek width
  behind the face centroid, roughly where the neck turns the head;
* roll about the optical axis;
* pan parallel to the image plane (``pan_x`` frame widths right, ``pan_y`` frame
  heights up, measured at the head's depth);
* zoom as a focal-length factor about the principal point, or about a point of the
  image (``trajectory.meta["zoom_center"]``: the face under ``--track``, otherwise the point that keeps
  the head in the frame, ``condition.builder.keep_head_in_zoom``) by moving the principal point with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..camera.trajectory import CameraTrajectory
from ..face.pose import LEFT_CHEEK, RIGHT_CHEEK, intrinsics

PIVOT_BEHIND_FACE = 0.5  # pivot depth behind the face centroid, in cheek-to-cheek widths


@dataclass
class PinholeCamera:
    """World-to-camera pinhole: pixel ~ K (R X + t)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t


def project(points: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """Project ``(N, 3)`` world points; returns ``(N, 3)``: pixel x, pixel y, camera depth z."""
    cam = points @ camera.R.T + camera.t
    z = cam[:, 2:3]
    safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
    uv = (cam @ camera.K.T)[:, :2] / safe
    return np.concatenate([uv, z], axis=1)


def lift(points_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Lift ``(N, 3)`` MediaPipe pixel landmarks to world points of the source camera.

    Depth is ``f + z`` (MediaPipe's z is relative and scaled like x), so projecting
    the result with the source camera returns the input pixels exactly.
    """
    f = K[0, 0]
    depth = f + points_px[:, 2].astype(np.float64)
    x = (points_px[:, 0] - K[0, 2]) * depth / f
    y = (points_px[:, 1] - K[1, 2]) * depth / f
    return np.stack([x, y, depth], axis=1)


def orbit_pivot(points: np.ndarray, rotation: np.ndarray | None = None) -> np.ndarray:
    """Head pivot for ``(478, 3)`` world landmarks: behind the face centroid along the head's back axis."""
    centroid = points[:468].mean(axis=0)
    width = np.linalg.norm(points[LEFT_CHEEK] - points[RIGHT_CHEEK])
    back = rotation[:, 2] if rotation is not None else np.array([0.0, 0.0, 1.0])
    return centroid + PIVOT_BEHIND_FACE * width * back


def target_camera(view: dict, size: tuple[int, int], pivot: np.ndarray, focal: float,
                  zoom_center: tuple[float, float] | None = None) -> PinholeCamera:
    """The source camera moved by one frame of a trajectory (``view`` has the trajectory fields).

    ``zoom_center`` (pixels): the image point that stays put as the camera zooms (default: the centre).
    """
    h, w = size
    # Orbit: negative angles because rotating the camera's offset from the pivot by
    # +angle about y (x) moves it left (down) in OpenCV axes.
    # The camera orbits the pivot by yaw (about y), then pitch (about x), and rolls about its own axis.
    orbit = Rotation.from_euler("YX", [-view["yaw"], -view["pitch"]], degrees=True).as_matrix()
    cam_to_world = orbit @ Rotation.from_euler("Z", -view["roll"], degrees=True).as_matrix()
    center = pivot + orbit @ (np.zeros(3) - pivot)
    center = center + cam_to_world @ np.array([view["pan_x"] * w, -view["pan_y"] * h, 0.0])
    R = cam_to_world.T
    K = intrinsics(size, focal, view["zoom"])
    if zoom_center is not None:
        # Zooming by z about p maps u to p + z (u - p): the principal point c moves to z c + (1 - z) p.
        K[:2, 2] = view["zoom"] * K[:2, 2] + (1 - view["zoom"]) * np.asarray(zoom_center, np.float64)
    return PinholeCamera(K, R, -R @ center)


def trajectory_cameras(trajectory: CameraTrajectory, size: tuple[int, int], pivot: np.ndarray,
                       focal: float) -> list[PinholeCamera]:
    """One :class:`PinholeCamera` per trajectory frame (frame ``i`` uses ``trajectory.frame(i)``)."""
    center = trajectory.meta.get("zoom_center")
    return [target_camera(trajectory.frame(i), size, pivot, focal, center) for i in range(trajectory.num_frames)]


def project_track(points: np.ndarray, cameras: list[PinholeCamera]) -> np.ndarray:
    """Project the same ``(N, 3)`` world points under every camera: ``(T, N, 3)``."""
    return np.stack([project(points, cam) for cam in cameras])
