"""Triangle topology of the warp engine's face surface.

MediaPipe ships its face mesh only as an edge list
(``FACEMESH_TESSELATION``). The triangles are recovered as the 3-cliques of
that graph; two of the cliques are not faces (each of their edges already
borders two real triangles) and are dropped, leaving the 852 triangles of a
disk with three holes (the two eyes and the inner mouth: Euler characteristic
-2). The warp needs those holes covered, otherwise eyes and teeth would move
with the wrong layer, so each is triangulated from the frontal template.

Around the face oval the surface is extended by rings of extra vertices
(:data:`RING_SCALES` times the oval's distance from the face centre). The outer
ring lies on the person layer's plane, so the face warp blends continuously
into the warp of hair, ears and neck instead of leaving a seam at the jaw.

Vertex numbering: 0..467 MediaPipe's mesh, then ``len(RING_SCALES)`` rings of
``len(oval)`` vertices each, ring by ring, in oval order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import cv2
import numpy as np

from ..face.landmarks import CHIN
from ..face.mesh import (boundary_loops, boundary_loops_of_edges, face_oval_edges, feature_groups,
                         tessellation_edges, tessellation_triangles)

MESH_VERTICES = 468
# Ring radii relative to the oval (1 = on the oval). The inner rings keep most of
# the face's depth (ears, hairline); the last lies on the person plane. Four rings, with
# depths easing from the oval's to the plane's (warp.RING_DEPTH_BLEND), where two made
# the depth bend sharply at each ring: creases down the neck under arc-up and a head that
# MediaPipe measured shorter (benchmarks/warp_quality.py, docs/evaluation.md).
RING_SCALES = (1.12, 1.25, 1.45, 1.8)
OUTLINE_STEPS = 3  # mesh edges from the oval: how far in the face's outer band reaches (cheek landmark 50: 3, nose sides 7)


@dataclass(frozen=True)
class FaceSurface:
    """Topology of the warped face surface.

    Attributes:
        triangles: ``(F, 3)`` int vertex indices, all with the same winding in a
            frontal view (positive signed area in x-right, y-down pixel axes),
            so a negative area after projection means the triangle faces away.
        oval: ``(36,)`` the face-oval landmark indices as one closed loop.
        num_vertices: 468 plus the ring vertices.
        ring_start: index of the first ring vertex (468).
        face_triangles: number of leading triangles that lie on the face itself
            (the rest belong to the rings).
        near_outline: ``(face_triangles,)`` bool, the face triangles with a corner
            within :data:`OUTLINE_STEPS` edges of the oval: the sides of the face an
            orbit turns from edge-on to the camera (not the nose's or the eyes' sides).
    """

    triangles: np.ndarray
    oval: np.ndarray
    num_vertices: int
    ring_start: int
    face_triangles: int
    near_outline: Optional[np.ndarray] = None


def _signed_area(xy: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = xy[tris[:, 0]], xy[tris[:, 1]], xy[tris[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def fill_hole(loop: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Triangles ``(k, 3)`` covering the polygon ``loop`` (indices into ``xy``) by ear clipping."""
    order = list(loop.tolist())
    pts = {i: xy[i] for i in order}
    # Make the polygon counter-clockwise in the (x right, y down) frame's sense of _signed_area.
    area = sum(pts[order[i]][0] * pts[order[(i + 1) % len(order)]][1]
               - pts[order[(i + 1) % len(order)]][0] * pts[order[i]][1] for i in range(len(order)))
    if area < 0:
        order.reverse()
    out = []
    guard = 0
    while len(order) > 3 and guard < 10000:
        guard += 1
        n = len(order)
        for i in range(n):
            a, b, c = order[i - 1], order[i], order[(i + 1) % n]
            pa, pb, pc = pts[a], pts[b], pts[c]
            cross = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pb[1] - pa[1]) * (pc[0] - pa[0])
            if cross <= 0:
                continue  # reflex corner: not an ear
            if any(_inside(pts[v], pa, pb, pc) for v in order if v not in (a, b, c)):
                continue
            out.append((a, b, c))
            order.pop(i)
            break
        else:  # numerically degenerate polygon: fan the rest
            out.extend((order[0], order[j], order[j + 1]) for j in range(1, len(order) - 1))
            order = []
            break
    if len(order) == 3:
        out.append(tuple(order))
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def _inside(p, a, b, c) -> bool:
    def side(p1, p2, p3):
        return (p1[0] - p3[0]) * (p2[1] - p3[1]) - (p2[0] - p3[0]) * (p1[1] - p3[1])

    d1, d2, d3 = side(p, a, b), side(p, b, c), side(p, c, a)
    return (d1 >= 0 and d2 >= 0 and d3 >= 0) or (d1 <= 0 and d2 <= 0 and d3 <= 0)


def ring_positions(points2d: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """``(..., R * len(oval), 2)`` ring vertices around the oval of ``(..., 468+, 2)`` points."""
    ov = points2d[..., oval, :]
    centre = ov.mean(axis=-2, keepdims=True)
    return np.concatenate([centre + s * (ov - centre) for s in RING_SCALES], axis=-2)


@lru_cache(maxsize=1)
def face_surface() -> FaceSurface:
    """The warp engine's face surface (cached; built from MediaPipe's tessellation)."""
    from ..face.pose import template_points

    frontal = template_points()[:MESH_VERTICES, :2]
    tris = tessellation_triangles()
    oval_loop = boundary_loops_of_edges(face_oval_edges())[0]
    oval_set = set(oval_loop.tolist())
    holes = [loop for loop in boundary_loops(tris) if not set(loop.tolist()) <= oval_set]
    face = np.concatenate([tris] + [fill_hole(loop, frontal) for loop in holes])

    n_oval = len(oval_loop)
    rings = [oval_loop] + [MESH_VERTICES + k * n_oval + np.arange(n_oval) for k in range(len(RING_SCALES))]
    ring_tris = []
    for inner, outer in zip(rings[:-1], rings[1:]):
        for i in range(n_oval):
            j = (i + 1) % n_oval
            ring_tris += [(inner[i], outer[i], outer[j]), (inner[i], outer[j], inner[j])]
    all_tris = np.concatenate([face, np.asarray(ring_tris, dtype=np.int64)])

    xy = np.concatenate([frontal, ring_positions(frontal, oval_loop)])
    flip = _signed_area(xy, all_tris) < 0
    all_tris[flip] = all_tris[flip][:, [0, 2, 1]]
    return FaceSurface(all_tris, oval_loop, MESH_VERTICES + len(RING_SCALES) * n_oval, MESH_VERTICES, len(face),
                       edges_from(oval_loop, tessellation_edges())[face].min(axis=1) <= OUTLINE_STEPS)


def edges_from(start: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """``(MESH_VERTICES,)`` each mesh vertex's number of ``edges`` from the nearest of ``start`` (a
    breadth-first search; vertices not reached get MESH_VERTICES)."""
    neighbours = [set() for _ in range(MESH_VERTICES)]
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    steps = np.full(MESH_VERTICES, MESH_VERTICES)
    steps[start] = 0
    frontier, k = list(start), 0
    while frontier:
        k += 1
        frontier = [u for v in frontier for u in neighbours[v] if steps[u] > k]
        steps[frontier] = k
    return steps


def face_regions(mesh: np.ndarray, shape: tuple[int, int], margin: float) -> tuple[np.ndarray, np.ndarray]:
    """From ``(468+, 2)`` mesh pixels (in the masks' own coordinates), over ``shape``: a bool mask of
    the brows, eyes and lips (their convex hulls, widened by ``margin`` of the face's height), and
    each pixel's way from the line through the two eyes' centres towards the chin (float64: 0 on that
    line, 1 level with the chin, negative above the eyes)."""
    h, w = shape
    mesh = np.asarray(mesh, np.float64)[:, :2]
    groups = feature_groups()
    features = np.zeros((h, w), np.uint8)
    for group in groups:
        hull = cv2.convexHull(mesh[group].astype(np.float32)).reshape(-1, 2)
        cv2.fillPoly(features, [np.round(hull).astype(np.int32)], 1)
    k = 2 * int(round(0.5 * margin * float(np.ptp(mesh[:MESH_VERTICES, 1])))) + 1
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    eyes = 0.5 * (mesh[groups[2]].mean(axis=0) + mesh[groups[3]].mean(axis=0))
    down = mesh[CHIN] - eyes
    down = down / max(float(down @ down), 1e-9)
    return features, np.add.outer((np.arange(h) - eyes[1]) * down[1], (np.arange(w) - eyes[0]) * down[0])
