"""Face texture from the frame that saw it best, for triangles the current frame barely saw.

When the camera turns a head further than the source ever showed it, the side
of the face that comes into view was seen edge-on in the current frame: a few
pixels wide. Warped, that sliver becomes a flat, smeared patch. Subjects move,
though, and another frame of the clip often saw the same skin squarely.

This module lays the face surface out flat (the frontal template's x, y: a
texture atlas), finds for every triangle the frame where its projected area was
largest, and copies each triangle's texture from that frame into the atlas once
per clip. The renderer then reads a triangle from the atlas instead of the
current frame when the current frame saw it less than a quarter as large as the
best frame did (:data:`ATLAS_GAIN`) and the target view enlarges it (see
:func:`facecam.engines.warp.face_map`).
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from .warp_mesh import FaceSurface, ring_positions

ATLAS_FRAMES = 24   # frames considered as texture sources (spread over the clip)
# A triangle reads the atlas when its best frame saw it this many times larger. 2 was tried:
# SFace fell by up to 0.04 on the cartoon clip (more of another frame's expression).
ATLAS_GAIN = 4.0


def triangle_areas(points2d: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Signed areas ``(..., F)`` of triangles ``(F, 3)`` over vertices ``(..., V, 2)`` (> 0: front-facing)."""
    a, b, c = (points2d[..., tris[:, k], :] for k in range(3))
    return 0.5 * ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                  - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


class FaceAtlas:
    """The clip's face texture laid out flat, with each triangle's best-seen area.

    Attributes:
        image: ``(h, w, 4)`` RGBA atlas (alpha from the person layer of the source frame).
        uv: ``(V, 2)`` atlas pixel of every surface vertex.
        best_area: ``(F,)`` each triangle's projected area in the frame its texture came from.
    """

    def __init__(self, layers: np.ndarray, src2d: np.ndarray, surface: FaceSurface) -> None:
        from ..face.pose import template_points
        from .warp import face_map

        T = layers.shape[0]
        tris = surface.triangles
        frames = np.unique(np.linspace(0, T - 1, min(T, ATLAS_FRAMES)).round().astype(int))
        areas = triangle_areas(src2d[frames], tris)  # (n, F)
        pick = areas.argmax(axis=0)
        self.best_area = areas[pick, np.arange(len(tris))]
        best = frames[pick]

        # Layout: the frontal template scaled so the face keeps about the size the clip shows it.
        frontal = template_points()[:surface.ring_start, :2]
        flat = np.concatenate([frontal, ring_positions(frontal, surface.oval)])
        face_width = np.ptp(src2d[frames][:, surface.oval, 0], axis=1).max()
        scale = face_width / np.ptp(frontal[surface.oval, 0])
        uv = (flat - flat.min(axis=0)) * scale + 1.0
        h, w = (np.ceil(uv.max(axis=0)) + 2).astype(int)[::-1]
        self.uv = uv
        self.image = np.zeros((h, w, 4), np.uint8)
        xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
        target = np.c_[uv, np.ones(len(uv))]
        for f in np.unique(best):
            mine = SimpleNamespace(triangles=tris[best == f])
            found = face_map(src2d[f], target, mine, xs, ys)
            if found is None:
                continue
            box, covered, mx, my = found
            texture = cv2.remap(layers[f], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            region = self.image[box]
            np.copyto(region, texture, where=covered[..., None])
