"""A weight-free measure of warp artifacts: flat or smeared area inside the face box.

A re-rendered face goes wrong in two visible ways that a camera or identity
score hardly sees: triangles filled with one flat colour (a surface with holes,
an unseen region filled by a plain colour) and stretched texture (a few source
pixels dragged over many target pixels: streaks, smears). Both are local
properties of the image, measured per pixel on the grey image:

flat
    the local standard deviation over a :data:`WINDOW` square is below
    :data:`FLAT_STD` grey levels: no texture at all, not even compression noise.
smeared
    the local structure tensor is almost one-dimensional (coherence above
    :data:`SMEAR_COHERENCE`) while its weaker direction carries less than
    :data:`SMEAR_WEAK` grey levels of gradient: texture that varies across one
    direction only, as a streak does. A real edge is coherent too, but is one
    pixel wide; a smear covers an area, so the mask is opened by a 3x3 square.

Real faces have flat and coherent pixels of their own (a smooth cheek, hair),
so the number that matters is the *excess* over the input at the same time:
``output fraction - input fraction`` of the face box, per frame. The face box is
the bounding box of the 468 MediaPipe mesh points found in each frame (the
output's own box for the output); a frame whose output has no face is reported
as missing, one whose input has none as ``input_missing``; neither is scored. Each face is measured resized to :data:`FACE_HEIGHT`
rows, so a zoom does not count as a smear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

WINDOW = 11            # pixels, side of the local window
FLAT_STD = 0.8         # grey levels: below this the window is one flat colour (video skin is smoother than 1.5)
SMEAR_COHERENCE = 0.92  # (l1 - l2) / (l1 + l2) of the structure tensor's eigenvalues
SMEAR_WEAK = 1.0       # grey levels of gradient in the weaker direction (sqrt of l2)
BOX_MARGIN = 0.0       # the box is the mesh's bounding box, no margin
FACE_HEIGHT = 200      # pixels: each face box is measured at this height, so the scores do not depend on size
TARGET_EXCESS = 0.05   # the warp engine's target (issue 13): worst checked frame at most this far above the input


@dataclass
class ArtifactScore:
    """Flat/smeared area fractions inside the face box, per checked frame.

    ``excess`` is output minus input per frame (None where the output had no
    face); ``max_excess`` is the worst frame (None when no frame was scored).
    ``missing`` and ``input_missing`` count the checked frames without a face in
    the output and in the input; ``lost`` those where the input has one and the
    output none (the render lost the face).
    """

    max_excess: Optional[float]
    mean_excess: Optional[float]
    frames: list = field(default_factory=list)
    excess: list = field(default_factory=list)
    input_fraction: list = field(default_factory=list)
    output_fraction: list = field(default_factory=list)
    missing: int = 0
    input_missing: int = 0
    lost: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def verdict(self) -> str:
        """One line for a person: the worst frame against :data:`TARGET_EXCESS`."""
        if self.max_excess is None:
            return (f"no verdict: no checked frame had a face in both videos ({self.missing} without one in the "
                    f"output, {self.input_missing} in the input)")
        worst = self.frames[self.excess.index(self.max_excess)]
        state = "within" if self.max_excess <= TARGET_EXCESS else "ABOVE"
        missing = f"; {self.missing} checked frame(s) without a face in the output" if self.missing else ""
        if self.input_missing:
            missing += f"; {self.input_missing} checked frame(s) without a face in the input, not scored"
        return (f"{state} target: worst frame {worst} has {self.max_excess:+.3f} of the face box flat or smeared "
                f"beyond the input's (target at most {TARGET_EXCESS:+.2f}){missing}")


def artifact_mask(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels of an RGB uint8 image that are flat or smeared (see the module docstring)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    k = (WINDOW, WINDOW)
    mean = cv2.blur(grey, k)
    var = cv2.blur(grey * grey, k) - mean * mean
    flat = var < FLAT_STD ** 2
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8.0  # grey levels per pixel
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    jxx, jyy, jxy = cv2.blur(gx * gx, k), cv2.blur(gy * gy, k), cv2.blur(gx * gy, k)
    root = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy)
    l1, l2 = 0.5 * (jxx + jyy + root), np.maximum(0.5 * (jxx + jyy - root), 0.0)
    coherence = (l1 - l2) / np.maximum(l1 + l2, 1e-6)
    smear = (coherence > SMEAR_COHERENCE) & (l2 < SMEAR_WEAK ** 2) & ~flat
    smear = cv2.morphologyEx(smear.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    return flat | smear


def box_fraction(mask: np.ndarray, box: Sequence[float]) -> float:
    """Fraction of ``mask`` set inside ``box`` ``(x0, y0, x1, y1)`` (clipped to the image)."""
    H, W = mask.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


def face_fraction(image: np.ndarray, box: Sequence[float]) -> float:
    """Flat/smeared fraction of the face in ``box``, measured on the face resized to :data:`FACE_HEIGHT` rows.

    The same face at any size gives the same number: a zoomed-in output is not
    counted as smeared merely because magnification softens it.
    """
    H, W = image.shape[:2]
    margin = WINDOW  # context for the windows at the box's edge
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    scale = FACE_HEIGHT / (y1 - y0)
    cx0, cy0 = max(0, x0 - int(margin / scale)), max(0, y0 - int(margin / scale))
    cx1, cy1 = min(W, x1 + int(margin / scale)), min(H, y1 + int(margin / scale))
    crop = image[cy0:cy1, cx0:cx1]
    size = (max(1, round((cx1 - cx0) * scale)), max(1, round((cy1 - cy0) * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    mask = artifact_mask(cv2.resize(crop, size, interpolation=interpolation))
    inner = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
    return box_fraction(mask, inner)


def face_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """Bounding box ``(x0, y0, x1, y1)`` of the 468 mesh points of ``(478, 3)`` landmarks."""
    mesh = points[:468, :2]
    x0, y0 = mesh.min(axis=0)
    x1, y1 = mesh.max(axis=0)
    mx, my = BOX_MARGIN * (x1 - x0), BOX_MARGIN * (y1 - y0)
    return float(x0 - mx), float(y0 - my), float(x1 + mx), float(y1 + my)


DARK_SHARE = 0.6      # of the face's median Lab lightness: darker counts as hair in dark_face_share
DARK_FEATURES = 0.06  # of the face's height: brows, eyes and lips widened by this are left out of it


def dark_face_share(image: np.ndarray, points: np.ndarray) -> Optional[float]:
    """Share of the face below the eyes that is dark: hair across the cheeks, not skin.

    Inside the face oval of ``points`` (``(468+, 2+)`` MediaPipe landmarks in ``image``'s pixels), on
    the chin's side of the line through the eyes and outside the brows, eyes and lips (widened by
    :data:`DARK_FEATURES` of the face's height), the share of pixels darker than :data:`DARK_SHARE` of
    that region's median Lab lightness; None where the region is empty. The warp engine's band of hair
    across lp_s18's far cheek under arc-right, before the engine filled it, scored up to 0.094 more than
    the input (``benchmarks/warp_quality.py``'s ``hair`` column, 2026-12-06).
    """
    from ..engines.warp_mesh import face_regions, face_surface

    H, W = image.shape[:2]
    mesh = np.asarray(points, np.float64)[:468, :2]
    x0, y0 = (int(max(0, np.floor(v))) for v in mesh.min(axis=0))
    x1, y1 = int(min(W, np.ceil(mesh[:, 0].max()) + 1)), int(min(H, np.ceil(mesh[:, 1].max()) + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    local = mesh - (x0, y0)
    oval = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(oval, [np.round(local[face_surface().oval]).astype(np.int32)], 1)
    features, down = face_regions(local, oval.shape, DARK_FEATURES)
    region = (oval > 0) & ~features & (down > 0)
    if not region.any():
        return None
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    lightness = cv2.extractChannel(cv2.cvtColor(crop, cv2.COLOR_RGB2LAB), 0)[region].astype(np.float32)
    return float((lightness < DARK_SHARE * np.median(lightness)).mean())


def artifact_score(input_frames: np.ndarray, output_frames: np.ndarray,
                   input_boxes: Optional[Sequence] = None, output_boxes: Optional[Sequence] = None,
                   samples: int = 9) -> ArtifactScore:
    """Excess flat/smeared face area of ``output_frames`` over ``input_frames`` (both ``(T, H, W, 3)`` uint8).

    Args:
        input_boxes, output_boxes: per-frame face boxes ``(x0, y0, x1, y1)`` (None
            entries: no face) for every frame of the clip; found with MediaPipe when
            not given.
        samples: frames checked, spread evenly over the clip (0 = every frame).
    """
    from .identity import sample_indices

    n = min(len(input_frames), len(output_frames))
    idx = sample_indices(n, samples)
    mesh = None
    if input_boxes is None or output_boxes is None:
        from ..face.landmarks import face_mesh

        mesh = face_mesh(static=True)
    try:
        result = ArtifactScore(None, None)
        for i in idx:
            box_in = input_boxes[i] if input_boxes is not None else _detect_box(input_frames[i], mesh)
            box_out = output_boxes[i] if output_boxes is not None else _detect_box(output_frames[i], mesh)
            result.frames.append(int(i))
            if box_in is None or box_out is None:  # nothing to compare against, or nothing to score
                result.missing += int(box_out is None)
                result.input_missing += int(box_in is None)
                result.lost += int(box_out is None and box_in is not None)
                result.excess.append(None)
                result.input_fraction.append(None)
                result.output_fraction.append(None)
                continue
            a = face_fraction(input_frames[i], box_in)
            b = face_fraction(output_frames[i], box_out)
            result.input_fraction.append(round(a, 5))
            result.output_fraction.append(round(b, 5))
            result.excess.append(round(b - a, 5))
    finally:
        if mesh is not None:
            mesh.close()
    scored = [e for e in result.excess if e is not None]
    if scored:
        result.max_excess = float(max(scored))
        result.mean_excess = float(np.mean(scored))
    return result


def _detect_box(frame: np.ndarray, mesh) -> Optional[tuple[float, float, float, float]]:
    from ..face.landmarks import detect_image_landmarks

    points = detect_image_landmarks(frame, mesh=mesh)
    return None if points is None else face_box(points)
