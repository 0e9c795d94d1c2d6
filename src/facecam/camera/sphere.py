"""The authors' proxy-head camera sphere ("absolute mode").

In absolute mode the camera condition is a render of a 3D proxy head seen by a
camera on a sphere around it. This module owns that camera: the sphere
parametrisation, the look-at rotation and the field-of-view to focal mapping,
matched to the authors' released renderer, and the mapping from our relative
trajectory angles (:mod:`facecam.camera.trajectory`) to the sphere's absolute
angles.

World frame of the sphere (the proxy head sits at the origin):

- ``+z`` is up; the face looks towards ``-y``; ``+x`` is the subject's left,
  i.e. image-right in the front view.
- camera centre ``C = radius * (cos(el) cos(az), cos(el) sin(az), sin(el))``,
  angles in degrees, radius 2.7.
- the camera looks at the origin with ``+z`` as the up hint; OpenCV axes:
  ``x_cam`` right, ``y_cam`` down, ``z_cam`` forward.
- horizontal FOV: ``fx = fy = W / (2 tan(fov / 2))``, principal point at the
  image centre ``(W / 2, H / 2)``.

============  ============  ======================================================
azimuth       elevation     camera position / what the render shows
============  ============  ======================================================
270           0             front (``-y`` side): the face looks at the camera
300           0             30 deg to the camera's RIGHT: head faces image-left
240           0             30 deg to the camera's LEFT: head faces image-right
0 (= 360)     0             on ``+x``: the subject's left profile
270           +30           above the head (``+z``): the head appears to look down
270           -30           below the head: the head appears to look up
============  ============  ======================================================

So azimuth increases as the camera orbits to its own right (counter-clockwise
seen from above), exactly like our relative ``yaw``, and elevation is our
``pitch``: ``azimuth = 270 + yaw``, ``elevation = pitch``
(:func:`relative_to_sphere`).
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np

from ..errors import FacecamError

SPHERE_RADIUS = 2.7
FRONT_AZIMUTH = 270.0
WORLD_UP = np.array([0.0, 0.0, 1.0])

ArrayLike = Union[float, np.ndarray]


def sphere_camera(azimuth_deg: float, elevation_deg: float, fov_deg: float,
                  size: tuple[int, int] = (480, 480),
                  radius: float = SPHERE_RADIUS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pinhole camera on the proxy-head sphere, looking at the origin.

    Args:
        azimuth_deg: absolute azimuth, 270 = front (see the module table).
        elevation_deg: degrees above the horizontal plane, in (-90, 90).
        fov_deg: horizontal field of view, in (0, 180).
        size: ``(height, width)`` of the image in pixels.
        radius: distance of the camera centre from the origin.

    Returns:
        ``K`` (3, 3), ``R`` (3, 3), ``t`` (3,) float64, world-to-camera in OpenCV
        axes: ``x_cam = R @ X + t``; ``pixel = K @ x_cam / x_cam[2]`` where pixel
        ``(row i, column j)`` has its centre at ``(j + 0.5, i + 0.5)`` (the
        convention of the authors' CUDA rasterizer with ``c = size / 2``).
    """
    if not 0.0 < fov_deg < 180.0:
        raise FacecamError(f"field of view must be between 0 and 180 degrees, got {fov_deg}")
    if not abs(elevation_deg) < 90.0:
        raise FacecamError(f"elevation must be strictly between -90 and 90 degrees, got {elevation_deg}")
    if radius <= 0:
        raise FacecamError(f"sphere radius must be positive, got {radius}")
    height, width = int(size[0]), int(size[1])
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    centre = radius * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, WORLD_UP)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # Rows are the camera axes in world coordinates: x right, y down (OpenCV), z forward.
    R = np.stack([right, -up, forward])
    t = -R @ centre
    focal = width / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    K = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
    return K, R, t


def camera_centre(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """World position ``(3,)`` of the camera whose extrinsics are ``R``, ``t``."""
    return -R.T @ t


def relative_to_sphere(azimuth_rel: ArrayLike, elevation_rel: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    """Our relative camera angles to the sphere's absolute azimuth and elevation.

    ``azimuth_rel`` is :class:`~facecam.camera.trajectory.CameraTrajectory` ``yaw``
    (or ``sphere_view()["azimuth"]``): positive = the camera orbits to its right.
    The sphere's azimuth grows the same way (its camera's right vector at the
    front view is ``+x``, and azimuth above 270 moves the camera towards ``+x``),
    so the offset is added with a plus sign. ``elevation_rel`` is ``pitch``:
    positive = above the head, the sphere's positive elevation (``+z``).

    Returns:
        ``(azimuth, elevation)`` in degrees, same shapes as the inputs.
    """
    az = np.asarray(azimuth_rel, dtype=np.float64) + FRONT_AZIMUTH
    el = np.asarray(elevation_rel, dtype=np.float64) * 1.0
    if az.ndim == 0:
        return float(az), float(el)
    return az, el
