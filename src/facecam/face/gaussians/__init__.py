"""3D Gaussian proxy heads: PLY I/O, a CPU splatting renderer, a head from a photo.

The authors' absolute mode renders a generic 3D Gaussian head (``gaussians.ply``,
the 3DGS format with SH degree 0) on the camera sphere of
:mod:`facecam.camera.sphere` and detects MediaPipe landmarks on every render.
This package owns such heads, one concern per module (``ply``: the cloud and
its file format; ``splat``: the renderer; ``portrait``: a head from a photo):

- :class:`GaussianCloud` holds *activated* parameters. The file stores raw ones;
  the activations are those of 3DGS and of the authors' loader: opacity =
  ``sigmoid(opacity)``, scale = ``exp(scale_i)``, rotation = ``rot_0..3``
  normalised, read as ``(w, x, y, z)``, colour = ``0.5 + C0 * f_dc_i`` with
  ``C0 = 0.28209479177387814`` (the degree-0 spherical-harmonic constant).
- :func:`load_gaussian_ply` / :func:`save_gaussian_ply`: binary PLY with the
  standard 3DGS property names, so our files and the authors' are interchangeable
  (no ``plyfile`` dependency: the format is a text header plus one packed record
  per vertex).
- :func:`render_gaussians`: EWA splatting in numpy, following the 3DGS
  rasterizer: 2D covariance from the projection Jacobian plus a 0.3 px low-pass,
  near plane 0.2, 3-sigma footprints, alpha = min(0.99, opacity * G), splats
  with alpha < 1/255 skipped, front-to-back compositing that stops once
  transmittance would fall below 1e-4, colour clamped at 0, background added
  with the remaining transmittance, ``uint8`` by truncation of ``255 * value``.
  One deliberate difference: the CUDA rasterizer tries a splat on every pixel of
  the 16x16 tiles its 3-sigma square touches; we stop at the 3-sigma radius.
  The two renderers have never been compared here (no CUDA rasterizer on this
  machine); the difference is expected to be small, at splat edges only - an
  estimate, not a measurement.
- :func:`gaussians_from_portrait`: because the authors' head is not shipped with
  this package, a textured Gaussian face built from one portrait and its
  MediaPipe landmarks, placed in the sphere's world frame.
The proxy video composed from these renders (the absolute condition) lives in
:mod:`facecam.condition.proxy_view`.
"""

from .ply import PLY_PROPERTIES, SH_C0, GaussianCloud, load_gaussian_ply, save_gaussian_ply  # noqa: F401
from .portrait import FACE_HEIGHT, HEAD_CENTRE_BEHIND_NOSE, gaussians_from_portrait  # noqa: F401
from .splat import matrix_to_quaternion, project_gaussians, quaternion_to_matrix, render_gaussians  # noqa: F401
