"""The absolute condition's proxy video: a 3D Gaussian head rendered on the camera sphere, composed
like the authors' (a square render in the top of the canvas, white elsewhere)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import FacecamError
from ..face.gaussians import GaussianCloud, render_gaussians


def render_proxy_views(cloud: GaussianCloud, azimuth: Sequence[float] | np.ndarray,
                       elevation: Sequence[float] | np.ndarray, fov: Sequence[float] | np.ndarray,
                       canvas: tuple[int, int] = (704, 480), radius: Optional[float] = None,
                       progress: bool = True) -> np.ndarray:
    """Render the proxy head once per frame, composed like the authors' proxy video.

    Each view is rendered as a square of side ``min(canvas)`` (480) with a white
    background and placed at the top-left of a white canvas (the authors pad the
    bottom and right with 255), so the 704x480 frame has the head in its top square.

    Args:
        cloud: the proxy head in the sphere's world frame.
        azimuth, elevation, fov: ``(T,)`` absolute sphere angles in degrees
            (azimuth 270 = front; see :mod:`facecam.camera.sphere`); ``fov`` is the
            horizontal field of view of the square render.
        canvas: ``(height, width)`` of the output frames.
        radius: sphere radius (default 2.7).
        progress: show a tqdm progress bar.

    Returns:
        ``(T, canvas_h, canvas_w, 3)`` uint8 RGB.
    """
    from tqdm.auto import tqdm

    from ..camera.sphere import SPHERE_RADIUS, sphere_camera

    az, el, fv = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (azimuth, elevation, fov))
    if not (az.shape == el.shape == fv.shape) or az.ndim != 1:
        raise FacecamError(f"azimuth, elevation and fov need one value per frame, "
                           f"got {az.shape}, {el.shape}, {fv.shape}")
    height, width = int(canvas[0]), int(canvas[1])
    side = min(height, width)
    frames = np.full((len(az), height, width, 3), 255, dtype=np.uint8)
    views = tqdm(range(len(az)), desc="proxy head", unit="view", leave=False, disable=not progress)
    for i in views:
        K, R, t = sphere_camera(az[i], el[i], fv[i], size=(side, side), radius=radius or SPHERE_RADIUS)
        frames[i, :side, :side] = render_gaussians(cloud, K, R, t, size=(side, side))
    return frames
