"""Draw the face-mesh camera-condition image exactly as MediaPipe draws it.

The released FaceCam weights were trained on images made by MediaPipe's
``drawing_utils.draw_landmarks`` with its default face-mesh styles: the
tessellation, then the contours, then the irises, on a white canvas. Those
styles hold OpenCV BGR colours but were drawn straight into RGB arrays, so in
the RGB image the subject's right eye, brow and iris are blue (48, 48, 255) and
the left ones green (48, 255, 48). MediaPipe 0.10.21 draws the tessellation in
(128, 128, 128) and lips and face oval in (224, 224, 224). (REFERENCE.md lists
the tessellation as (192, 192, 192); the installed MediaPipe, whose drawing our
tests compare against pixel for pixel, uses 128.)

We reproduce that drawing without MediaPipe's per-landmark protobuf round trip:
the same float32 normalised coordinates, the same ``floor`` to pixels, the same
rule that a line is skipped when an end lies outside the image, the same
connection order and ``cv2.line`` calls - batched, which is what makes it fast.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

WHITE = 255


@lru_cache(maxsize=1)
def mesh_styles() -> list[tuple[np.ndarray, list[tuple[int, int, int]], list[int]]]:
    """Per drawing pass: connections ``(C, 2)``, per-connection colour and thickness, in MediaPipe's order."""
    from mediapipe.python.solutions import drawing_styles
    from mediapipe.python.solutions import face_mesh as fm

    passes = []
    for connections, style in (
        (fm.FACEMESH_TESSELATION, drawing_styles.get_default_face_mesh_tesselation_style()),
        (fm.FACEMESH_CONTOURS, drawing_styles.get_default_face_mesh_contours_style()),
        (fm.FACEMESH_IRISES, drawing_styles.get_default_face_mesh_iris_connections_style()),
    ):
        order = list(connections)  # the frozenset's own iteration order, as MediaPipe loops it
        specs = [style[c] if isinstance(style, dict) else style for c in order]
        passes.append((np.asarray(order, dtype=np.int64), [tuple(s.color) for s in specs],
                       [int(s.thickness) for s in specs]))
    return passes


def pixel_coordinates(points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's landmark-to-pixel rule: ``(N, 2)`` int pixels and an ``(N,)`` inside-the-image mask.

    Landmarks travel through float32 protobufs as normalised coordinates, then
    ``min(floor(x * W), W - 1)``; points outside ``[0, 1]`` (with ``isclose``
    tolerance at the borders) are not drawn.
    """
    h, w = size
    norm = np.stack([(points[:, 0] / w).astype(np.float32), (points[:, 1] / h).astype(np.float32)], axis=1)
    norm = norm.astype(np.float64)
    tol = 1e-9  # math.isclose's default relative tolerance at 0 and 1
    valid = np.all((norm > 0) | np.isclose(norm, 0, rtol=tol, atol=0), axis=1)
    valid &= np.all((norm < 1) | np.isclose(norm, 1, rtol=tol, atol=0), axis=1)
    px = np.floor(norm * np.array([w, h])).astype(np.int64)
    px[:, 0] = np.minimum(px[:, 0], w - 1)
    px[:, 1] = np.minimum(px[:, 1], h - 1)
    return px, valid


def draw_face_mesh(canvas: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Draw ``(478, >=2)`` pixel landmarks onto ``canvas`` ``(H, W, 3)`` uint8 in place; returns it."""
    px, valid = pixel_coordinates(points, canvas.shape[:2])
    for connections, colours, thicknesses in mesh_styles():
        keep = valid[connections[:, 0]] & valid[connections[:, 1]]
        segments = px[connections].astype(np.int32)
        # Runs of equal style are drawn with one call; the order of lines is kept.
        start = 0
        n = len(connections)
        while start < n:
            end = start + 1
            while end < n and colours[end] == colours[start] and thicknesses[end] == thicknesses[start]:
                end += 1
            run = segments[start:end][keep[start:end]]
            if len(run):
                cv2.polylines(canvas, list(run), False, colours[start], thicknesses[start])
            start = end
    return canvas


def render_condition(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Condition frames ``(T, H, W, 3)`` uint8 for landmark tracks ``(T, 478, >=2)`` in pixels."""
    from ..video.frames import frame_buffer

    h, w = size
    frames = frame_buffer((points.shape[0], h, w, 3))  # on disk for a long clip
    if isinstance(frames, np.ndarray):
        frames[:] = WHITE
        for frame, pts in zip(frames, points):
            draw_face_mesh(frame, pts)
        return frames
    blank = np.full((h, w, 3), WHITE, np.uint8)
    for t, pts in enumerate(points):
        frames[t] = draw_face_mesh(blank.copy(), pts)
    return frames


def mediapipe_drawing(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One frame drawn by MediaPipe's own ``drawing_utils`` (tessellation, contours, irises in the default
    styles, on white): the reference :func:`render_condition` matches pixel for pixel, kept here for the
    tests and ``benchmarks/condition_speed.py``. ``points`` are ``(478, 3)`` pixel landmarks."""
    from mediapipe.framework.formats import landmark_pb2
    from mediapipe.python.solutions import drawing_styles, drawing_utils
    from mediapipe.python.solutions import face_mesh as fm

    h, w = size
    proto = landmark_pb2.NormalizedLandmarkList()
    proto.landmark.extend([landmark_pb2.NormalizedLandmark(x=x / w, y=y / h, z=z / w) for x, y, z in points])
    image = np.full((h, w, 3), 255, np.uint8)
    for connections, style in ((fm.FACEMESH_TESSELATION, drawing_styles.get_default_face_mesh_tesselation_style()),
                               (fm.FACEMESH_CONTOURS, drawing_styles.get_default_face_mesh_contours_style()),
                               (fm.FACEMESH_IRISES, drawing_styles.get_default_face_mesh_iris_connections_style())):
        drawing_utils.draw_landmarks(image, proto, connections, None, style)
    return image
