"""Absolute mode: the authors' inference condition.

The proxy head is seen from cameras on the sphere of :mod:`facecam.camera.sphere`
(radius 2.7, azimuth 270 deg = front, +z up), each view a square of side
``min(H, W)`` drawn at the top-left of a white ``H x W`` canvas (the authors pad
the bottom and right). For a 3D Gaussian ``.ply`` head the views are rendered and
MediaPipe finds the landmarks on each render, exactly as the authors do; the
``template`` and ``subject`` heads are 478-point landmark sets, projected directly.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..camera.sphere import relative_to_sphere, sphere_camera
from ..camera.trajectory import CameraTrajectory
from ..errors import NoFaceError
from ..face.gaussians import FACE_HEIGHT, HEAD_CENTRE_BEHIND_NOSE, load_gaussian_ply
from .proxy_view import render_proxy_views
from ..face.landmarks import CHIN, FOREHEAD, NOSE_TIP, detect_image_landmarks, face_mesh, fill_missing
from ..face.pose import estimate_head_pose, template_points
from .project import PinholeCamera, project
from .raster import render_condition


def head_to_sphere_world(head: np.ndarray) -> np.ndarray:
    """Place ``(478, 3)`` head-frame points (x right, y down, z into the head) on the sphere's origin.

    Same placement as the Gaussian heads of :func:`facecam.face.gaussians.gaussians_from_portrait`:
    forehead-to-chin ``FACE_HEIGHT`` units, the head centre behind the nose tip, the face towards ``-y``.
    """
    face_h = np.linalg.norm(head[FOREHEAD] - head[CHIN])
    centre = np.array([head[:468, 0].mean(), 0.5 * (head[FOREHEAD, 1] + head[CHIN, 1]),
                       head[NOSE_TIP, 2] + HEAD_CENTRE_BEHIND_NOSE * face_h])
    local = (head - centre) * (FACE_HEIGHT / face_h)
    return np.stack([local[:, 0], local[:, 2], -local[:, 1]], axis=1)


def subject_head(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The subject's first-frame landmarks ``(478, 3)`` px, de-rotated into the head frame."""
    pose = estimate_head_pose(points, size)
    centred = points.astype(np.float64) - points[:468].mean(axis=0)
    return centred @ pose.rotation  # camera -> head: R^T applied to row vectors


def sphere_views(trajectory: CameraTrajectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    views = trajectory.sphere_view()
    azimuth, elevation = relative_to_sphere(views["azimuth"], views["elevation"])
    return np.asarray(azimuth, float), np.asarray(elevation, float), views["fov"]


def absolute_condition(trajectory: CameraTrajectory, proxy: str, size: tuple[int, int],
                       source_points: Optional[np.ndarray] = None, progress: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks ``(T, 478, 3)`` and condition frames ``(T, H, W, 3)`` in the authors' absolute mode."""
    azimuth, elevation, fov = sphere_views(trajectory)
    side = min(size)
    if proxy.lower().endswith(".ply"):
        renders = render_proxy_views(load_gaussian_ply(proxy), azimuth, elevation, fov, canvas=size,
                                     progress=progress)
        points = np.zeros((len(renders), 478, 3), np.float32)
        found = np.zeros(len(renders), bool)
        mesh = face_mesh(static=True)
        try:
            for i, frame in enumerate(renders):
                pts = detect_image_landmarks(frame, mesh)
                if pts is not None:
                    points[i], found[i] = pts, True
        finally:
            mesh.close()
        if not found.any():
            raise NoFaceError(f"MediaPipe found no face in any render of the proxy head {proxy}")
        points = fill_missing(points, found)
    else:
        head = template_points() if proxy == "template" else subject_head(source_points, size)
        world = head_to_sphere_world(head)
        points = np.stack([project(world, PinholeCamera(*sphere_camera(a, e, f, size=(side, side))))
                           for a, e, f in zip(azimuth, elevation, fov)])
    return points, render_condition(points, size)
