"""Face texture from the frame that saw it best, for triangles the current frame barely saw.

When the camera turns a head further than the source ever showed it, the side
of the face that comes into view was seen edge-on in the current frame: a few
pixels wide. Warped, that sliver becomes a flat, smeared patch. Subjects move,
though, and another frame of the clip often saw the same skin squarely.

This module lays the face surface out flat (the frontal template's x, y: a
texture atlas), finds for every triangle a frame that saw it large, and copies
each triangle's texture from that frame into the atlas once per clip. The
renderer then reads a triangle from the atlas instead of the current frame when
the current frame saw it less than a quarter as large as the atlas's frame did
(:data:`ATLAS_GAIN`), the target view enlarges it, and the face around the
triangle has the same shape in both frames (see :func:`facecam.engines.warp.face_map`).

Which frame a triangle comes from is not simply the one where it looked largest.
An expression stretches the face (an open mouth, raised brows, a wink's
scrunched cheek), and stretched triangles are large ones: on a close-up that
talks and grimaces (lp_d3) the largest-area frames were the grimaces, and
pasting their eye corner or brow beside the current frame's neutral face tore
it. So, with the clip's 3D landmarks given:

* every frame's mesh is aligned (rotation, scale, shift) onto the clip's median
  face, and a triangle only takes texture from frames where the mesh around it
  (its vertices' neighbours included) is within :data:`ATLAS_SHAPE_TOL` of the
  median: the clip's usual expression, landmarks that fit;
* among those, every frame that saw the triangle at least :data:`ATLAS_NEAR_BEST`
  as large as the best one qualifies, and frames are picked greedily to cover the
  most triangles, so neighbouring triangles come from the same frame (no
  patchwork of frames whose textures do not line up);
* the renderer reads a triangle from the atlas only when the current frame's
  mesh around it is within :data:`ATLAS_MATCH_TOL` of the atlas frame's
  (:meth:`FaceAtlas.matches`): a grimace keeps its own (smeared) skin rather
  than get a calm frame's eye;
* a triangle any vertex of which lay outside the source frame is not taken from
  that frame (its texture would be the border's repeated pixels);
* whether a triangle reads the atlas is decided over its neighbours too
  (:meth:`FaceAtlas.reads`: regions switch whole, a lone triangle stays with the
  frame), and along a region's rim the renderer blends the frame's and the
  atlas's texture by each vertex's share of atlas triangles instead of cutting.

On lp_d3 (281 frames, 352x240, arc-right) 141 of the 156 triangles frame 224 read
from the atlas before came from the wink (frame 12) and the open-mouthed frames
243-268, whose landmarks lie 0.025-0.033 face widths from the median face on
average (calm frames: 0.006-0.015).
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Optional

import cv2
import numpy as np

from .warp_mesh import MESH_VERTICES, FaceSurface, ring_positions

ATLAS_FRAMES = 24   # frames considered as texture sources (spread over the clip)
# A triangle reads the atlas when its atlas frame saw it this many times larger. 2 was tried:
# SFace fell by up to 0.04 on the cartoon clip (more of another frame's expression).
ATLAS_GAIN = 4.0
# Shape tolerances, in face widths (the template's cheek-to-cheek width is 1): the largest
# landmark distance in the face's plane, after alignment, over a triangle's vertices and their
# neighbours. On lp_d3 (352x240) calm frames stay under about 0.03 (90% of triangles), while a
# wink or an open mouth moves 10% of them beyond 0.06-0.08.
ATLAS_SHAPE_TOL = 0.04   # atlas frame vs the clip's median face
ATLAS_MATCH_TOL = 0.04   # current frame vs the atlas frame, when rendering
ATLAS_SMOOTHING = 2     # rounds of averaging the atlas's margin over neighbouring triangles
ATLAS_NEAR_BEST = 0.8    # frames that saw a triangle this large relative to the best all qualify


def spread_frames(T: int, count: int, usable: Optional[np.ndarray] = None) -> np.ndarray:
    """Up to ``count`` frame indices spread evenly over a ``T``-frame clip, sorted, taken only among the
    ``usable`` ones (``(T,)`` bool) when given and any is."""
    among = np.flatnonzero(usable) if usable is not None and np.any(usable) else np.arange(T)
    return np.unique(among[np.linspace(0, len(among) - 1, min(len(among), count)).round().astype(int)])


def triangle_areas(points2d: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Signed areas ``(..., F)`` of triangles ``(F, 3)`` over vertices ``(..., V, 2)`` (> 0: front-facing)."""
    a, b, c = (points2d[..., tris[:, k], :] for k in range(3))
    return 0.5 * ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                  - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


def align_shapes(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(..., N, 3)`` point sets each moved onto ``reference`` ``(N, 3)`` by rotation, scale and shift."""
    p = points - points.mean(axis=-2, keepdims=True)
    r = reference - reference.mean(axis=0)
    u, s, vt = np.linalg.svd(np.einsum("...ni,nj->...ij", p, r))
    d = np.sign(np.linalg.det(u @ vt))
    s[..., 2] *= d
    u[..., :, 2] *= d[..., None]
    rot = u @ vt
    scale = s.sum(axis=-1) / np.maximum((p ** 2).sum(axis=(-2, -1)), 1e-12)
    return scale[..., None, None] * (p @ rot) + reference.mean(axis=0)


@lru_cache(maxsize=4)
def _neighbourhoods(tris_key: bytes, n_tris: int, oval_key: bytes) -> np.ndarray:
    """``(F, K)`` mesh vertices around each triangle: its own and every vertex of a triangle touching it
    (ring vertices stand for the oval vertex they were built from), padded with repeats."""
    tris = np.frombuffer(tris_key, np.int64).reshape(n_tris, 3)
    oval = np.frombuffer(oval_key, np.int64)
    mesh = np.where(tris < MESH_VERTICES, tris, oval[(tris - MESH_VERTICES) % len(oval)])
    n = int(mesh.max()) + 1
    around = [set() for _ in range(n)]  # vertex -> vertices of the triangles that use it
    for a, b, c in mesh:
        for v in (a, b, c):
            around[v].update((a, b, c))
    rows = [sorted(set().union(*(around[v] for v in tri))) for tri in mesh]
    width = max(len(r) for r in rows)
    return np.array([r + [r[0]] * (width - len(r)) for r in rows], np.int64)


@lru_cache(maxsize=4)
def _adjacency(tris_key: bytes, n_tris: int) -> np.ndarray:
    tris = np.frombuffer(tris_key, np.int64).reshape(n_tris, 3)
    by_edge: dict = {}
    for i, (a, b, c) in enumerate(tris):
        for e in ((a, b), (b, c), (c, a)):
            by_edge.setdefault((min(e), max(e)), []).append(i)
    out = np.repeat(np.arange(n_tris)[:, None], 3, axis=1)  # a missing neighbour: the triangle itself
    for k in range(3):
        for i, (a, b) in enumerate(zip(tris[:, k], tris[:, (k + 1) % 3])):
            other = [j for j in by_edge[(min(a, b), max(a, b))] if j != i]
            if other:
                out[i, k] = other[0]
    return out


def triangle_adjacency(surface: FaceSurface) -> np.ndarray:
    """``(F, 3)`` the triangles across each edge of every triangle (itself where there is none)."""
    tris = np.ascontiguousarray(surface.triangles, np.int64)
    return _adjacency(tris.tobytes(), len(tris))


def triangle_neighbourhoods(surface: FaceSurface) -> np.ndarray:
    tris = np.ascontiguousarray(surface.triangles, np.int64)
    return _neighbourhoods(tris.tobytes(), len(tris), np.ascontiguousarray(surface.oval, np.int64).tobytes())


class FaceAtlas:
    """The clip's face texture laid out flat, with each triangle's source frame and area there.

    Attributes:
        image: ``(h, w, 4)`` RGBA atlas (alpha from the person layer of the source frame).
        uv: ``(V, 2)`` atlas pixel of every surface vertex.
        best_area: ``(F,)`` each triangle's projected area in the frame its texture came from
            (0 where no frame qualified: the triangle never reads the atlas).
        source: ``(F,)`` that frame's index in the clip (-1: none).
        median: ``(468, 3)`` the clip's median face (template units: face widths), or None when
            built without 3D landmarks (then only the area decides).
        shapes: ``{frame: (468, 3)}`` the aligned mesh of every frame the atlas took texture from.
    """

    def __init__(self, layers: np.ndarray, src2d: np.ndarray, surface: FaceSurface,
                 world: Optional[np.ndarray] = None, found: Optional[np.ndarray] = None) -> None:
        from ..face.pose import template_points
        from .warp import face_map

        T = layers.shape[0]
        H, W = layers.shape[1:3]
        tris = surface.triangles
        F = len(tris)
        # Only frames where the face was found: where it was lost the landmarks are held or interpolated over
        # a picture without that face (after the person left, the atlas drew the wall into the face's rims).
        frames = spread_frames(T, ATLAS_FRAMES, found)
        areas = triangle_areas(src2d[frames], tris)  # (n, F)
        # A triangle partly outside the source frame has no texture there.
        inside = ((src2d[frames] >= 0) & (src2d[frames] <= (W - 1, H - 1))).all(axis=-1)  # (n, V)
        usable = inside[:, tris].all(axis=-1) & (areas > 0)

        self.neighbourhoods = triangle_neighbourhoods(surface)
        self.adjacency = triangle_adjacency(surface)
        self.triangles = tris
        self.vertices = src2d.shape[1]
        self.incident = np.bincount(tris.ravel(), minlength=self.vertices)
        self.median, self.shapes = None, {}
        shapes = None
        if world is not None:
            # The candidate frames' meshes aligned onto the template, then onto their median face
            # (twice: the median of template-aligned meshes is a good reference, the second
            # alignment fits it better). Only the candidates: a long clip's every mesh in float64
            # would be megabytes held for nothing.
            shapes = align_shapes(world[frames, :MESH_VERTICES].astype(np.float64), template_points()[:MESH_VERTICES])
            shapes = align_shapes(shapes, np.median(shapes, axis=0))
            self.median = np.median(shapes, axis=0)
            usable &= self.local_distance(shapes, self.median) <= ATLAS_SHAPE_TOL

        best = np.where(usable, areas, 0.0).max(axis=0)  # (F,)
        near = usable & (areas >= ATLAS_NEAR_BEST * best)
        # Greedy cover: the frame that qualifies for the most triangles still unassigned takes
        # them all, so neighbouring triangles share a frame.
        pick = np.full(F, -1)
        left = best > 0
        while left.any():
            k = int((near & left).sum(axis=1).argmax())
            take = near[k] & left
            pick[take] = k
            left &= ~take
        has = pick >= 0
        self.source = np.where(has, frames[np.maximum(pick, 0)], -1)
        self.best_area = np.where(has, areas[np.maximum(pick, 0), np.arange(F)], 0.0)
        if shapes is not None:
            self.shapes = {int(frames[k]): shapes[k] for k in np.unique(pick[has])}

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
        for f in np.unique(self.source[has]):
            mine = SimpleNamespace(triangles=tris[self.source == f])
            found = face_map(src2d[f], target, mine, xs, ys)
            if found is None:
                continue
            box, covered, mx, my = found
            texture = cv2.remap(layers[f], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            region = self.image[box]
            np.copyto(region, texture, where=covered[..., None])

    def reads(self, own: np.ndarray, enlarged: np.ndarray, ok: Optional[np.ndarray] = None) -> np.ndarray:
        """``(F,)`` which triangles read the atlas in a frame that saw them with areas ``own`` ``(F,)``,
        where the target view ``enlarged`` them (bool) and ``ok`` allows it (:meth:`matches`).

        A triangle qualifies when the atlas saw it :data:`ATLAS_GAIN` times larger. Decided
        triangle by triangle, though, the choice flips between neighbours whose areas straddle the
        gain, and frame and atlas alternate across the face: a patchwork of two textures that
        need not agree (the current frame's far cheek may hold the wall its landmarks overshot
        onto, the atlas skin). So the log of the gain's margin is averaged with the triangles
        across each edge (:data:`ATLAS_SMOOTHING` times) before it decides: regions switch whole.
        """
        best = self.best_area
        has = self.offers(ok)
        margin = np.log(np.maximum(best, 1e-9) / np.maximum(own, best / 16.0 + 1e-9)) - np.log(ATLAS_GAIN)
        margin = np.where(has, margin, -np.log(4.0))
        for _ in range(ATLAS_SMOOTHING):
            margin = (margin + margin[self.adjacency].sum(axis=1)) / 4.0
        return (margin > 0) & has & enlarged

    def offers(self, ok: Optional[np.ndarray] = None) -> np.ndarray:
        """``(F,)`` the triangles the atlas has texture for, among those ``ok`` allows (:meth:`matches`)."""
        has = self.best_area > 0
        return has if ok is None else has & ok

    def vertex_share(self, use: np.ndarray) -> np.ndarray:
        """``(V,)`` the share of each vertex's triangles among those flagged in ``use`` ``(F,)``."""
        tris = self.triangles.ravel()
        hits = np.bincount(tris, weights=np.repeat(use, 3).astype(np.float64), minlength=self.vertices)
        return hits / np.maximum(self.incident, 1)

    def local_distance(self, shapes: np.ndarray, other: np.ndarray) -> np.ndarray:
        """``(..., F)`` largest distance between ``shapes`` ``(..., 468, 3)`` and ``other`` (aligned
        meshes) over each triangle's neighbourhood, in the face's plane (x, y: MediaPipe's depth is
        too noisy to tell an expression by)."""
        d = np.linalg.norm((shapes - other)[..., :2], axis=-1)  # (..., 468)
        return d[..., self.neighbourhoods].max(axis=-1)

    def shape_of(self, world: np.ndarray) -> Optional[np.ndarray]:
        """One frame's ``(V, 3)`` world vertices as an aligned ``(468, 3)`` mesh (None without shapes)."""
        if self.median is None:
            return None
        return align_shapes(world[:MESH_VERTICES].astype(np.float64), self.median)

    def matches(self, shape: Optional[np.ndarray]) -> np.ndarray:
        """``(F,)`` whether each atlas triangle may stand in for a frame with aligned mesh ``shape``:
        the mesh around it has the same shape in the atlas frame (True everywhere without shapes)."""
        F = len(self.source)
        if shape is None or self.median is None:
            return np.ones(F, bool)
        ok = np.zeros(F, bool)
        for f, source_shape in self.shapes.items():
            mine = self.source == f
            ok[mine] = self.local_distance(source_shape, shape)[mine] <= ATLAS_MATCH_TOL
        return ok
