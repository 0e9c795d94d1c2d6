"""Topology of MediaPipe's face mesh: triangles and boundary loops.

MediaPipe ships the 468-point tessellation only as an edge list
(``FACEMESH_TESSELATION``). Its triangles are the 3-cliques of that graph, less
two cliques that are not faces (each of their edges already borders two real
triangles): 852 triangles forming a disk with three holes (the eyes and the inner
mouth). Used by the warp engine's face surface and by the portrait Gaussian head.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from itertools import combinations

import numpy as np


def tessellation_edges() -> list[tuple[int, int]]:
    from mediapipe.python.solutions.face_mesh import FACEMESH_TESSELATION

    return sorted({(min(a, b), max(a, b)) for a, b in FACEMESH_TESSELATION if a != b})


def face_oval_edges() -> list[tuple[int, int]]:
    from mediapipe.python.solutions.face_mesh import FACEMESH_FACE_OVAL

    return sorted({(min(a, b), max(a, b)) for a, b in FACEMESH_FACE_OVAL})


@lru_cache(maxsize=1)
def feature_groups() -> tuple[np.ndarray, ...]:
    """The landmark indices of the face's dark features, one array per feature: the two eyebrows, the
    two eyes and the lips (MediaPipe's contour connections). Their convex hulls mark what
    :func:`facecam.engines.warp.hair_over_face` never takes for hair."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    groups = (fmc.FACEMESH_LEFT_EYEBROW, fmc.FACEMESH_RIGHT_EYEBROW, fmc.FACEMESH_LEFT_EYE,
              fmc.FACEMESH_RIGHT_EYE, fmc.FACEMESH_LIPS)
    return tuple(np.array(sorted({i for edge in g for i in edge}), dtype=np.int64) for g in groups)


def mesh_triangles(edges: list[tuple[int, int]]) -> np.ndarray:
    """Faces ``(F, 3)`` of a triangulated surface given only its edges.

    Every 3-clique is a candidate; a clique whose three edges each border two
    other cliques is a spurious cycle through a ring of real faces, not a face.
    """
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    cliques = sorted({tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]})
    uses = Counter(e for tri in cliques for e in combinations(tri, 2))
    keep = [tri for tri in cliques if not all(uses[e] >= 3 for e in combinations(tri, 2))]
    return np.asarray(keep, dtype=np.int64)


@lru_cache(maxsize=1)
def tessellation_triangles() -> np.ndarray:
    """The 852 triangles ``(852, 3)`` of MediaPipe's face tessellation."""
    return mesh_triangles(tessellation_edges())


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """Closed loops of the edges used by exactly one triangle, each as ordered vertex indices."""
    uses = Counter(tuple(sorted(e)) for tri in triangles for e in combinations(tri.tolist(), 2))
    return boundary_loops_of_edges([e for e, n in uses.items() if n == 1])


def boundary_loops_of_edges(edges: list[tuple[int, int]]) -> list[np.ndarray]:
    """Connected cycles of an edge list where every vertex has two edges, as ordered vertex indices."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen: set[int] = set()
    loops = []
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [v for v in adj[cur] if v != prev and (v not in seen or (v == start and len(loop) > 2))]
            if not nxt or nxt[0] == start:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops
