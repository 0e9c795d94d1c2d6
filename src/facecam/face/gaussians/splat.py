"""A CPU EWA splatting renderer for :class:`~facecam.face.gaussians.ply.GaussianCloud`, after the 3DGS rasterizer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import FacecamError
from .ply import GaussianCloud

# 3DGS's rasterizer constants (why: our renders should match the authors' CUDA ones).
NEAR_PLANE = 0.2
LOW_PASS = 0.3
MAX_ALPHA = 0.99
MIN_ALPHA = 1.0 / 255.0
MIN_TRANSMITTANCE = 1e-4
# Alpha is carried in the low bits of the sort key, quantised to 2^-20 (far below 1/255).
_ALPHA_BITS = 20
_ALPHA_SCALE = 1 << _ALPHA_BITS


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` rotation matrices of ``(N, 4)`` quaternions ``(w, x, y, z)`` (normalised first)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(np.roll(np.asarray(q, dtype=np.float64), -1, axis=1)).as_matrix()


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """``(N, 4)`` unit quaternions ``(w, x, y, z)`` of ``(N, 3, 3)`` rotation matrices."""
    from scipy.spatial.transform import Rotation

    return np.roll(Rotation.from_matrix(np.asarray(m, dtype=np.float64)).as_quat(), 1, axis=1)


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
