"""3D Gaussian proxy heads: PLY I/O, a CPU splatting renderer, a head from a photo.

The authors' absolute mode renders a generic 3D Gaussian head (``gaussians.ply``,
the 3DGS format with SH degree 0) on the camera sphere of
:mod:`facecam.camera.sphere` and detects MediaPipe landmarks on every render.
This module owns everything about such heads:

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
  the 16x16 tiles its 3-sigma square touches; we stop at the 3-sigma radius
  (renders differ by at most one grey level).
- :func:`gaussians_from_portrait`: because the authors' head is not shipped with
  this package, a textured Gaussian face built from one portrait and its
  MediaPipe landmarks, placed in the sphere's world frame.
- :func:`render_proxy_views`: the authors' composition of the proxy video:
  a 480x480 render in the top square of the 704x480 canvas, white below.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import FacecamError

SH_C0 = 0.28209479177387814

# 3DGS's rasterizer constants (why: our renders should match the authors' CUDA ones).
NEAR_PLANE = 0.2
LOW_PASS = 0.3
MAX_ALPHA = 0.99
MIN_ALPHA = 1.0 / 255.0
MIN_TRANSMITTANCE = 1e-4
# Alpha is carried in the low bits of the sort key, quantised to 2^-20 (far below 1/255).
_ALPHA_BITS = 20
_ALPHA_SCALE = 1 << _ALPHA_BITS

# Property order written by the reference 3DGS implementation (SH degree 0):
# loaders look properties up by name, but keeping the order makes files diffable.
PLY_PROPERTIES = ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                  "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
_REQUIRED = ("x", "y", "z", "opacity", "f_dc_0", "f_dc_1", "f_dc_2",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


@dataclass
class GaussianCloud:
    """A 3D Gaussian splat model with activated parameters (float64).

    Attributes:
        means: ``(N, 3)`` centres, world units.
        colors: ``(N, 3)`` RGB, nominally in [0, 1] (``0.5 + C0 * f_dc``); values
            outside are kept so files round-trip, the renderer clamps at 0.
        opacities: ``(N,)`` in (0, 1).
        scales: ``(N, 3)`` standard deviations along the rotated axes, world units.
        rotations: ``(N, 4)`` unit quaternions ``(w, x, y, z)``.
        raw: the file's records when loaded from a PLY; :func:`save_gaussian_ply`
            writes them verbatim while the activated arrays still match them, so a
            load/save cycle is bit-exact even where activations are not invertible
            in floating point (saturated sigmoids, unnormalised quaternions).
    """

    means: np.ndarray
    colors: np.ndarray
    opacities: np.ndarray
    scales: np.ndarray
    rotations: np.ndarray
    raw: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = np.asarray(self.means).shape[0] if np.ndim(self.means) == 2 else -1
        expected = {"means": (n, 3), "colors": (n, 3), "opacities": (n,), "scales": (n, 3), "rotations": (n, 4)}
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape or n < 0:
                raise FacecamError(f"GaussianCloud.{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)

    def __len__(self) -> int:
        return int(self.means.shape[0])


# --------------------------------------------------------------------------- PLY I/O

def _activate(raw: np.ndarray) -> GaussianCloud:
    """Activated cloud of a structured record array (float64 arithmetic)."""
    col = {name: raw[name].astype(np.float64) for name in _REQUIRED}
    rot = np.stack([col[f"rot_{i}"] for i in range(4)], axis=1)
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    # A zero quaternion is invalid in any loader; treat it as identity rather than emit NaNs.
    rot = np.where(norm > 0, rot / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0, 0.0, 0.0]))
    return GaussianCloud(
        means=np.stack([col["x"], col["y"], col["z"]], axis=1),
        colors=0.5 + SH_C0 * np.stack([col[f"f_dc_{i}"] for i in range(3)], axis=1),
        opacities=1.0 / (1.0 + np.exp(-col["opacity"])),
        scales=np.exp(np.stack([col[f"scale_{i}"] for i in range(3)], axis=1)),
        rotations=rot,
    )


def _same_cloud(a: GaussianCloud, b: GaussianCloud) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, f), getattr(b, f))
                                    for f in ("means", "colors", "opacities", "scales", "rotations"))


def load_gaussian_ply(path: str | os.PathLike) -> GaussianCloud:
    """Read a 3DGS ``.ply`` (binary little- or big-endian, any extra properties).

    Raises:
        FacecamError: missing file, not a binary PLY, or a vertex element without
            the 3DGS properties (x, y, z, opacity, f_dc_0..2, scale_0..2, rot_0..3).
    """
    p = Path(path)
    if not p.is_file():
        raise FacecamError(f"Gaussian PLY not found: {p}")
    data = p.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise FacecamError(f"{p} is not a PLY file (no 'ply ... end_header' header)")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    body_start = end + len(b"end_header\n")
    fmt, elements = None, []  # elements: [name, count, [(prop, dtype)]]
    for line in header[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1] if len(words) > 1 else None
        elif words[0] == "element" and len(words) == 3:
            elements.append([words[1], int(words[2]), []])
        elif words[0] == "property" and elements:
            if words[1] == "list":
                raise FacecamError(f"{p}: list properties (meshes) are not a Gaussian splat file")
            if len(words) != 3 or words[1] not in _PLY_TYPES:
                raise FacecamError(f"{p}: unsupported PLY property line {line!r}")
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise FacecamError(f"{p}: PLY format {fmt!r} is not supported (3DGS files are binary_little_endian)")
    order = "<" if fmt == "binary_little_endian" else ">"
    offset = body_start
    for name, count, props in elements:
        dtype = np.dtype([(prop, order + code) for prop, code in props])
        if name == "vertex":
            missing = [q for q in _REQUIRED if q not in dtype.names]
            if missing:
                raise FacecamError(f"{p}: not a 3DGS splat file, vertex lacks {', '.join(missing)}")
            if offset + count * dtype.itemsize > len(data):
                raise FacecamError(f"{p}: file is truncated ({count} vertices announced)")
            raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()
            cloud = _activate(raw)
            cloud.raw = raw
            return cloud
        offset += count * dtype.itemsize
    raise FacecamError(f"{p}: PLY file has no vertex element")


def _encode(cloud: GaussianCloud) -> np.ndarray:
    """Raw little-endian float32 records of a cloud (the inverse activations)."""
    n = len(cloud)
    raw = np.zeros(n, dtype=np.dtype([(name, "<f4") for name in PLY_PROPERTIES]))
    for i, axis in enumerate("xyz"):
        raw[axis] = cloud.means[:, i]
    with np.errstate(divide="ignore"):
        for i in range(3):
            raw[f"f_dc_{i}"] = (cloud.colors[:, i] - 0.5) / SH_C0
            raw[f"scale_{i}"] = np.log(cloud.scales[:, i])
        op = np.clip(cloud.opacities, 1e-7, 1 - 1e-7)  # keep the logit finite
        raw["opacity"] = np.log(op) - np.log1p(-op)
    for i in range(4):
        raw[f"rot_{i}"] = cloud.rotations[:, i]
    return raw


def save_gaussian_ply(cloud: GaussianCloud, path: str | os.PathLike) -> None:
    """Write ``cloud`` as a binary little-endian 3DGS ``.ply`` (SH degree 0).

    The file appears complete or not at all (written to a temporary name, then
    renamed).
    """
    if np.any(cloud.scales <= 0):
        raise FacecamError("Gaussian scales must be positive to be saved (the file stores their log)")
    raw = cloud.raw
    if raw is None or len(raw) != len(cloud) or not _same_cloud(_activate(raw), cloud):
        raw = _encode(cloud)
    else:
        raw = raw.astype(raw.dtype.newbyteorder("<"))
    codes = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
             "f4": "float", "f8": "double"}
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {len(raw)}"]
    for name in raw.dtype.names:
        code = raw.dtype[name]
        lines.append(f"property {codes[code.kind + str(code.itemsize)]} {name}")
    lines.append("end_header")
    out = Path(path)
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(lines) + "\n").encode("ascii"))
            fh.write(raw.tobytes())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FacecamError(f"cannot write {out}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- rendering

def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` rotation matrices of ``(N, 4)`` quaternions ``(w, x, y, z)``."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1),
    ], axis=1)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """``(N, 4)`` unit quaternions ``(w, x, y, z)`` of ``(N, 3, 3)`` rotation matrices."""
    m = np.asarray(m, dtype=np.float64)
    # Shepperd's method: pick the largest of the four candidates for stability.
    tr = np.trace(m, axis1=1, axis2=2)
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    k = np.argmax(cand, axis=1)
    q = np.empty((m.shape[0], 4))
    s = np.sqrt(np.maximum(1.0 + 2.0 * cand[np.arange(len(k)), k] - tr, 1e-12)) * 2.0  # 4 * |largest|
    i0, i1, i2, i3 = (k == 0), (k == 1), (k == 2), (k == 3)
    q[i0] = np.stack([0.25 * s[i0], (m[i0, 2, 1] - m[i0, 1, 2]) / s[i0],
                      (m[i0, 0, 2] - m[i0, 2, 0]) / s[i0], (m[i0, 1, 0] - m[i0, 0, 1]) / s[i0]], axis=1)
    q[i1] = np.stack([(m[i1, 2, 1] - m[i1, 1, 2]) / s[i1], 0.25 * s[i1],
                      (m[i1, 0, 1] + m[i1, 1, 0]) / s[i1], (m[i1, 0, 2] + m[i1, 2, 0]) / s[i1]], axis=1)
    q[i2] = np.stack([(m[i2, 0, 2] - m[i2, 2, 0]) / s[i2], (m[i2, 0, 1] + m[i2, 1, 0]) / s[i2],
                      0.25 * s[i2], (m[i2, 1, 2] + m[i2, 2, 1]) / s[i2]], axis=1)
    q[i3] = np.stack([(m[i3, 1, 0] - m[i3, 0, 1]) / s[i3], (m[i3, 0, 2] + m[i3, 2, 0]) / s[i3],
                      (m[i3, 1, 2] + m[i3, 2, 1]) / s[i3], 0.25 * s[i3]], axis=1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@dataclass
class _Splats:
    """Screen-space splats of the visible Gaussians, nearest first."""

    u: np.ndarray        # (M,) pixel x of the centre (pixel centres at j + 0.5)
    v: np.ndarray        # (M,) pixel y of the centre
    conic: np.ndarray    # (M, 3) inverse 2D covariance (a, b, c) for [[a, b], [b, c]]
    radius: np.ndarray   # (M,) 3-sigma footprint radius in pixels (integer)
    half: np.ndarray     # (M, 2) half-width, half-height of the box where alpha >= 1/255, <= radius
    opacity: np.ndarray  # (M,)
    color: np.ndarray    # (M, 3) clamped at 0
    depth: np.ndarray    # (M,)


def project_gaussians(cloud: GaussianCloud, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                      size: tuple[int, int]) -> _Splats:
    """Project 3D Gaussians to screen-space splats (EWA), culled and depth-sorted."""
    height, width = size
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam = cloud.means @ R.T + t
    keep = cam[:, 2] > NEAR_PLANE
    cam = cam[keep]
    z = cam[:, 2]
    # The Jacobian is evaluated at a centre clamped to 1.3x the view frustum, as in
    # 3DGS, so splats far off-screen do not blow up.
    limx, limy = 1.3 * width / (2 * fx), 1.3 * height / (2 * fy)
    tx = np.clip(cam[:, 0] / z, -limx, limx) * z
    ty = np.clip(cam[:, 1] / z, -limy, limy) * z
    # The 2D covariance is T Sigma T^T with T = J R (2x3, J the projection Jacobian)
    # and Sigma = (Rq S)(Rq S)^T, i.e. A A^T with the two rows of A = T Rq S.
    inv_z = 1.0 / z
    row_x = (fx * inv_z)[:, None] * R[0] - (fx * tx * inv_z * inv_z)[:, None] * R[2]
    row_y = (fy * inv_z)[:, None] * R[1] - (fy * ty * inv_z * inv_z)[:, None] * R[2]
    M = quaternion_to_matrix(cloud.rotations[keep]) * cloud.scales[keep][:, None, :]
    ax = np.einsum("nj,njl->nl", row_x, M)
    ay = np.einsum("nj,njl->nl", row_y, M)
    a = np.einsum("nl,nl->n", ax, ax) + LOW_PASS
    b = np.einsum("nl,nl->n", ax, ay)
    c = np.einsum("nl,nl->n", ay, ay) + LOW_PASS
    det = a * c - b * b
    ok = det > 0
    mid = 0.5 * (a + c)
    lam = mid + np.sqrt(np.maximum(0.1, mid * mid - det))
    radius = np.ceil(3.0 * np.sqrt(lam))
    u = fx * cam[:, 0] / z + cx
    v = fy * cam[:, 1] / z + cy
    ok &= (u + radius > 0) & (u - radius < width) & (v + radius > 0) & (v - radius < height)
    # Where alpha can reach 1/255: d^T conic d <= 2 ln(255 opacity); that ellipse's
    # bounding box has half-sizes sqrt(2 ln(255 opacity) * cov_xx) and (.. cov_yy).
    # It is usually much tighter than the 3-sigma square, so fewer pixels are tried.
    level = 2.0 * np.log(np.maximum(cloud.opacities[keep] / MIN_ALPHA, 1.0))
    half = np.minimum(np.sqrt(level[:, None] * np.stack([a, c], axis=1)), radius[:, None])
    ok &= level > 0
    safe = np.where(ok, det, 1.0)
    order = np.flatnonzero(ok)[np.argsort(z[ok], kind="stable")]
    conic = np.stack([c / safe, -b / safe, a / safe], axis=1)
    return _Splats(u=u[order], v=v[order], conic=conic[order], radius=radius[order].astype(np.int64),
                   half=half[order],
                   opacity=cloud.opacities[keep][order], color=np.maximum(cloud.colors[keep][order], 0.0),
                   depth=z[order])


def render_gaussians(cloud: GaussianCloud, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                     size: tuple[int, int] = (480, 480),
                     background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Render a Gaussian cloud with an OpenCV pinhole camera.

    Args:
        cloud: the Gaussians (world frame).
        K, R, t: ``(3, 3)`` intrinsics, ``(3, 3)`` and ``(3,)`` world-to-camera
            (``x_cam = R @ X + t``), as :func:`facecam.camera.sphere.sphere_camera`.
        size: ``(height, width)`` of the image.
        background: RGB 0..255 behind the splats.

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    How: splats are taken nearest first in chunks; each is expanded to the pixels
    of the box where its alpha can reach 1/255 (within its 3-sigma radius), one
    row per splat-pixel pair; pairs below 1/255 are dropped, the rest sorted by
    (pixel, depth rank) with one integer sort, and each pixel's transmittance
    before a splat is the exclusive running sum of ``log(1 - alpha)`` over its
    pixel segment, continued from the previous chunks.
    """
    height, width = int(size[0]), int(size[1])
    bg = np.asarray(background, dtype=np.float64) / 255.0
    splats = project_gaussians(cloud, np.asarray(K, float), np.asarray(R, float), np.asarray(t, float),
                               (height, width))
    image = np.empty((height * width, 3))
    image[:] = bg
    m = len(splats.u)
    if m:
        color, weight_sum = _composite(splats, height, width)
        image = color + (1.0 - weight_sum)[:, None] * bg
    # The authors' renders are converted with (255 * x).clip(0, 255).astype(uint8): truncation.
    return np.clip(image * 255.0, 0, 255).astype(np.uint8).reshape(height, width, 3)


def _composite(s: _Splats, height: int, width: int, chunk_pairs: int = 600_000
               ) -> tuple[np.ndarray, np.ndarray]:
    """Front-to-back compositing; returns ``(H*W, 3)`` colour and ``(H*W,)`` sum of weights.

    Splats are taken in depth-ordered chunks of about ``chunk_pairs`` box pixels.
    Between chunks each pixel keeps its log transmittance and a "done" flag (3DGS
    stopped it); a summed-area table of the open pixels then drops every later
    splat whose whole box is done before it is expanded, so hidden layers (the
    back of a head) cost almost nothing.
    """
    m = len(s.u)
    n_pix = height * width
    # Pixel-index boxes of the pixel centres (j + 0.5) where alpha can reach 1/255;
    # clipped to the image, possibly empty (width or height 0).
    x0 = np.clip(np.ceil(s.u - 0.5 - s.half[:, 0]), 0, width).astype(np.int64)
    x1 = np.clip(np.floor(s.u - 0.5 + s.half[:, 0]), -1, width - 1).astype(np.int64)
    y0 = np.clip(np.ceil(s.v - 0.5 - s.half[:, 1]), 0, height).astype(np.int64)
    y1 = np.clip(np.floor(s.v - 0.5 + s.half[:, 1]), -1, height - 1).astype(np.int64)
    bw, bh = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    # Offsets of each splat's centre from its box corner, float32: sub-pixel precision is plenty.
    cx = (s.u - 0.5 - x0).astype(np.float32)
    cy = (s.v - 0.5 - y0).astype(np.float32)
    ca, cb, cc = (s.conic[:, i].astype(np.float32) for i in range(3))
    opacity = s.opacity.astype(np.float32)
    rank_bits = max(1, int(m - 1).bit_length())
    pix_shift = rank_bits + _ALPHA_BITS
    if pix_shift + int(n_pix).bit_length() > 62:
        raise FacecamError(f"too many Gaussians on screen to render ({m})")
    box = bh * (width + 1) + bw

    color = np.zeros((n_pix, 3))
    weight_sum = np.zeros(n_pix)
    log_t = np.zeros(n_pix)         # log transmittance left by the chunks so far
    done = np.zeros(n_pix, bool)    # 3DGS has stopped this pixel
    ends = np.cumsum(bw * bh)
    start = 0
    while start < m:
        before = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, before + chunk_pairs, side="right")), start + 1)
        idx = np.arange(start, stop)
        start = stop
        if done.any():
            open_px = np.zeros((height + 1, width + 1), np.int32)
            open_px[1:, 1:] = (~done).reshape(height, width).cumsum(0).cumsum(1)
            n_open = (open_px[y1[idx] + 1, x1[idx] + 1] - open_px[y0[idx], x1[idx] + 1]
                      - open_px[y1[idx] + 1, x0[idx]] + open_px[y0[idx], x0[idx]])
            idx = idx[n_open > 0]
        idx = idx[(bw[idx] > 0) & (bh[idx] > 0)]
        if not len(idx):
            continue
        # Splats with the same box size are expanded together by broadcasting (no per-pair gathers).
        order = idx[np.argsort(box[idx], kind="stable")]
        cuts = np.flatnonzero(np.diff(box[order])) + 1
        keys = []
        for group in np.split(order, cuts):
            h, w = int(bh[group[0]]), int(bw[group[0]])
            oy, ox = np.divmod(np.arange(h * w, dtype=np.int64), w)
            dx = cx[group, None] - ox.astype(np.float32)
            dy = cy[group, None] - oy.astype(np.float32)
            power = -0.5 * (ca[group, None] * dx * dx + cc[group, None] * dy * dy) - cb[group, None] * dx * dy
            alpha = np.minimum(np.float32(MAX_ALPHA), opacity[group, None] * np.exp(np.minimum(power, 0)))
            rows, cols = np.nonzero(alpha >= MIN_ALPHA)
            gi = group[rows]
            pix = (y0[gi] + oy[cols]) * width + x0[gi] + ox[cols]
            # One int64 key per pair, bits (pixel | depth rank | alpha), sorts by pixel then
            # depth and carries alpha along, so a single np.sort replaces an argsort plus gathers.
            quant = np.rint(alpha[rows, cols].astype(np.float64) * _ALPHA_SCALE).astype(np.int64)
            keys.append((pix << pix_shift) | (gi << _ALPHA_BITS) | quant)
        key = np.concatenate(keys)
        if done.any():
            key = key[~done[key >> pix_shift]]
        key = np.sort(key)
        if not len(key):
            continue
        alpha = (key & (_ALPHA_SCALE - 1)).astype(np.float64) / _ALPHA_SCALE
        pix = key >> pix_shift
        gid = (key >> _ALPHA_BITS) & ((1 << rank_bits) - 1)
        log_keep = np.log1p(-alpha)
        running = np.cumsum(log_keep)
        first = np.ones(len(pix), bool)
        first[1:] = pix[1:] != pix[:-1]
        exclusive = running - log_keep
        seg_len = np.diff(np.append(np.flatnonzero(first), len(pix)))
        # Transmittance in front of each splat: earlier chunks, then earlier splats of this pixel.
        before_t = log_t[pix] + exclusive - np.repeat(exclusive[first], seg_len)
        # 3DGS stops a pixel before the splat that would take transmittance under 1e-4.
        used = (before_t + log_keep) >= math.log(MIN_TRANSMITTANCE)
        weight = np.where(used, np.exp(before_t) * alpha, 0.0)
        for k in range(3):
            color[:, k] += np.bincount(pix, weight * s.color[:, k][gid], minlength=n_pix)
        weight_sum += np.bincount(pix, weight, minlength=n_pix)
        log_t += np.bincount(pix, np.where(used, log_keep, 0.0), minlength=n_pix)
        done |= np.bincount(pix, ~used, minlength=n_pix) > 0
    return color, weight_sum


# --------------------------------------------------------------------------- a head from a photo

# Placement of the portrait head in the sphere's world frame. The forehead
# landmark (10) to chin (152) distance is 0.8 units: the face surface sits about
# 2.4 units from a front camera, so at 40 deg FOV the face is ~220 px of the 480
# px render (0.46 of it), ~340 px at 25 deg and ~150 px at 55 deg. Measured on the
# astronaut head over the official sampler's range (azimuth 0/+-30/+-45, elevation
# 0/+-30, FOV 25/40/55: 45 views), MediaPipe missed the face in 10 views at 0.6
# units (a third of the frame), 3 at 0.72, 1 at 0.8 (azimuth +45, elevation +30,
# FOV 55), while 0.9 already clips the face at FOV 25. The origin (the orbit
# centre) is put 0.55 face heights behind the nose tip, roughly the centre of a
# real skull, so orbiting the camera turns the head about its own centre instead
# of swinging around the nose.
FACE_HEIGHT = 0.8
HEAD_CENTRE_BEHIND_NOSE = 0.55
_FOREHEAD, _CHIN, _NOSE_TIP, _RIGHT_EYE_OUTER, _LEFT_EYE_OUTER = 10, 152, 4, 33, 263


def face_mesh_triangles() -> np.ndarray:
    """``(852, 3)`` vertex triples of MediaPipe's face tessellation (468-point mesh)."""
    from .mesh import tessellation_triangles

    return tessellation_triangles()


def _hole_fans(triangles: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles closing the mesh's inner holes (eyes, mouth) with a fan to each hole's centroid.

    Returns ``(points + centroids, extra triangles)``. Without this the open eyes and
    mouth would render as background, which MediaPipe reads poorly.
    """
    from .mesh import boundary_loops

    loops = sorted(boundary_loops(triangles), key=len)
    out_points, extra = [points], []
    n = len(points)
    for loop in loops[:-1]:  # the longest loop is the face oval: the outer rim stays open
        centre = n + len(out_points) - 1
        out_points.append(points[loop].mean(axis=0, keepdims=True))
        extra += [(a, b, centre) for a, b in zip(loop.tolist(), np.roll(loop, -1).tolist())]
    return np.concatenate(out_points), np.array(extra, dtype=np.int64).reshape(-1, 3)


def _frontal_frame(world: np.ndarray) -> np.ndarray:
    """Rotation ``(3, 3)`` that turns the face to look along ``-y`` with eyes level.

    The eye-corner line fixes yaw and roll; pitch is left as photographed (the
    forehead-chin line is not vertical on a real face, so it is no reliable cue).
    """
    ex = world[_LEFT_EYE_OUTER] - world[_RIGHT_EYE_OUTER]
    ex /= np.linalg.norm(ex)
    ez = np.array([0.0, 0.0, 1.0]) - ex[2] * ex
    ez /= np.linalg.norm(ez)
    ey = np.cross(ez, ex)
    return np.stack([ex, ey, ez])


def gaussians_from_portrait(image: np.ndarray, landmarks: np.ndarray, spacing_px: float = 1.0,
                            opacity: float = 0.95) -> GaussianCloud:
    """A textured Gaussian face from one portrait, in the camera sphere's world frame.

    The MediaPipe face surface (its tessellation, with eyes and mouth closed by
    fans) is sampled densely: every triangle is split into ``n^2`` equal
    sub-triangles and one flat Gaussian sits at each sub-triangle's centroid,
    coloured from the photo (bilinear), its plane along the triangle and its
    thickness a sixth of its width. The face is turned to look at the
    azimuth-270 camera (``-y``), ``+z`` up, scaled so that forehead-to-chin is
    :data:`FACE_HEIGHT` units, with the orbit centre inside the head (see the
    comment on :data:`FACE_HEIGHT`).

    Args:
        image: ``(H, W, 3)`` uint8 RGB portrait.
        landmarks: ``(478, 3)`` MediaPipe landmarks of ``image`` in pixels
            (:func:`facecam.face.landmarks.detect_image_landmarks`).
        spacing_px: longest sub-triangle edge in photo pixels; 1.0 samples the
            texture at about its own resolution (the astronaut photo's 110 px
            tall face gives about 83k Gaussians).
        opacity: opacity of every Gaussian.

    Returns:
        GaussianCloud with one Gaussian per sample.
    """
    from scipy.ndimage import map_coordinates

    image = np.asarray(image)
    lm = np.asarray(landmarks, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3:
        raise FacecamError(f"portrait must be an (H, W, 3) RGB image, got shape {image.shape}")
    if lm.ndim != 2 or lm.shape[0] < 468 or lm.shape[1] != 3 or not np.isfinite(lm).all():
        raise FacecamError(f"landmarks must be (478, 3) MediaPipe points in pixels, got shape {lm.shape}")
    if spacing_px <= 0:
        raise FacecamError(f"spacing must be positive, got {spacing_px}")
    lm = lm[:468]
    # Image axes (x right, y down, z away) to world (x right, y away, z up): a proper rotation.
    world = np.stack([lm[:, 0], lm[:, 2], -lm[:, 1]], axis=1)
    frame = _frontal_frame(world)
    world = world @ frame.T
    face_px = np.linalg.norm(world[_FOREHEAD] - world[_CHIN])
    if face_px < 8:
        raise FacecamError(f"the face is too small in the portrait ({face_px:.0f} px forehead to chin)")
    scale = FACE_HEIGHT / face_px
    centre = np.array([
        0.5 * (world[_LEFT_EYE_OUTER, 0] + world[_RIGHT_EYE_OUTER, 0]),
        world[_NOSE_TIP, 1] + HEAD_CENTRE_BEHIND_NOSE * face_px,
        0.5 * (world[_FOREHEAD, 2] + world[_CHIN, 2]),
    ])
    world = (world - centre) * scale

    triangles = face_mesh_triangles()
    both = np.concatenate([world, lm[:, :2]], axis=1)  # carry photo x, y along for the hole fans
    both, fans = _hole_fans(triangles, both)
    triangles = np.concatenate([triangles, fans])
    world, photo = both[:, :3], both[:, 3:]

    A, B, C = (world[triangles[:, i]] for i in range(3))
    edges = np.stack([np.linalg.norm(B - A, axis=1), np.linalg.norm(C - B, axis=1),
                      np.linalg.norm(A - C, axis=1)], axis=1)
    spacing = spacing_px * scale
    subdiv = np.maximum(1, np.ceil(edges.max(axis=1) / spacing)).astype(np.int64)
    normal = np.cross(B - A, C - A)
    area2 = np.linalg.norm(normal, axis=1)
    valid = area2 > 1e-12
    e1 = (B - A) / np.maximum(edges[:, :1], 1e-12)
    nrm = normal / np.maximum(area2, 1e-12)[:, None]
    e2 = np.cross(nrm, e1)
    rot = matrix_to_quaternion(np.stack([e1, e2, nrm], axis=2))  # columns: local axes in world

    channels = [image[..., k].astype(np.float64) for k in range(3)]
    means, colors, scales, rots = [], [], [], []
    for n in np.unique(subdiv[valid]):
        tri = np.flatnonzero(valid & (subdiv == n))
        bary = _subtriangle_centroids(int(n))  # (S, 3)
        pos = np.einsum("sk,tkd->tsd", bary, np.stack([A[tri], B[tri], C[tri]], axis=1)).reshape(-1, 3)
        pix = np.einsum("sk,tkd->tsd", bary, photo[triangles[tri]]).reshape(-1, 2)
        width = 0.7 * np.sqrt(0.5 * area2[tri] / (n * n))  # sigma ~ 0.7 x the sample spacing
        means.append(pos)
        colors.append(np.stack([map_coordinates(channels[k], [pix[:, 1] - 0.5, pix[:, 0] - 0.5], order=1,
                                                mode="nearest") for k in range(3)], axis=1) / 255.0)
        w = np.repeat(width, len(bary))
        scales.append(np.stack([w, w, w / 6.0], axis=1))
        rots.append(np.repeat(rot[tri], len(bary), axis=0))
    means = np.concatenate(means)
    return GaussianCloud(means=means, colors=np.concatenate(colors), opacities=np.full(len(means), opacity),
                         scales=np.concatenate(scales), rotations=np.concatenate(rots))


def _subtriangle_centroids(n: int) -> np.ndarray:
    """``(n^2, 3)`` barycentric centroids of the ``n^2`` sub-triangles of a triangle split n ways."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    up = (i + j) <= n - 1
    down = (i + j) <= n - 2
    u = np.concatenate([(i[up] + 1 / 3) / n, (i[down] + 2 / 3) / n])
    v = np.concatenate([(j[up] + 1 / 3) / n, (j[down] + 2 / 3) / n])
    return np.stack([1 - u - v, u, v], axis=1)


# --------------------------------------------------------------------------- the proxy video

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
