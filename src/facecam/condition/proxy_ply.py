"""Landmarks of a 3D Gaussian proxy head, for relative mode.

The head is rendered once from the sphere's front view, MediaPipe finds its
landmarks, and they are lifted to 3D with that view's camera. The result is a
478-point head like the template, which relative mode poses onto the source face.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..camera.sphere import FRONT_AZIMUTH, sphere_camera
from ..errors import NoFaceError
from ..face.gaussians import load_gaussian_ply, render_gaussians
from ..face.landmarks import detect_image_landmarks
from .project import lift

FRONT_FOV = 40.0
RENDER_SIDE = 480


@lru_cache(maxsize=4)
def ply_head_points(path: str) -> np.ndarray:
    """``(478, 3)`` head points of the ``.ply`` head (front-view camera coordinates)."""
    K, R, t = sphere_camera(FRONT_AZIMUTH, 0.0, FRONT_FOV, size=(RENDER_SIDE, RENDER_SIDE))
    image = render_gaussians(load_gaussian_ply(path), K, R, t, size=(RENDER_SIDE, RENDER_SIDE))
    points = detect_image_landmarks(image)
    if points is None:
        raise NoFaceError(f"MediaPipe found no face in the front view of the proxy head {path}")
    return lift(points.astype(np.float64), K)
