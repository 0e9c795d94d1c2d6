"""Video-quality scores that need no downloaded weights (ours, not VBench).

The paper reports six VBench dimensions, and every one rests on a network whose
weights we cannot ship or fetch (imaging quality: MUSIQ; aesthetic quality:
LAION's CLIP predictor; background consistency: CLIP; motion smoothness: AMT
frame interpolation; dynamic degree: RAFT optical flow; subject consistency:
DINO). Imaging quality, aesthetic quality and background consistency have no
fair weight-free stand-in: they are left out of every table (shown as "-").
For the other three, plus a flicker score, we compute openly named
substitutes, each in [0, 1] (tables show x100 like the paper), that follow the
same idea with tools we have:

``ours_subject_consistency``
    VBench's formula (each frame's similarity to the first frame and to the
    previous frame, averaged) on face-identity embeddings (SFace/ArcFace)
    instead of DINO features: it follows the person, not the whole subject.
``ours_motion_smoothness``
    ``1 - MAE / 255`` of each inner frame against the average of its two
    neighbours: VBench's formula with a linear blend in place of AMT.
``ours_temporal_stability``
    ``1 - mean |frame_t - frame_t-1| / 255``: VBench's temporal-flicker formula,
    on every frame (VBench applies it to static videos only).
``ours_dynamic_degree``
    OpenCV Farneback optical flow (no weights) on frames sampled at about 8 fps
    and resized to 256 px on the short side; a frame pair moves when the mean
    of its top 5% flow magnitudes exceeds 6 px, and the video is dynamic when
    at least a quarter of its pairs move (RAFT in VBench, different constants).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from .identity import FaceEmbedder, cosine, sample_indices

DYNAMIC_SIDE = 256
DYNAMIC_FPS = 8.0
DYNAMIC_FLOW_PX = 6.0
DYNAMIC_TOP = 0.05
DYNAMIC_FRACTION = 0.25


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (T, H, W, 3) frames, got {frames.shape}")
    return frames


def temporal_stability(frames: np.ndarray) -> float:
    """``1 - mean |f_t - f_(t-1)| / 255`` over a clip ``(T, H, W, 3)`` uint8; 1.0 for a still clip or one frame."""
    frames = _check(frames)
    if len(frames) < 2:
        return 1.0
    diffs = [np.abs(frames[t].astype(np.int16) - frames[t - 1].astype(np.int16)).mean()
             for t in range(1, len(frames))]
    return float(1.0 - np.mean(diffs) / 255.0)


def motion_smoothness(frames: np.ndarray) -> float:
    """``1 - MAE / 255`` of each inner frame against the mean of its neighbours; ``(T, H, W, 3)``, T >= 3."""
    frames = _check(frames)
    if len(frames) < 3:
        return 1.0
    errs = []
    for t in range(1, len(frames) - 1):
        blend = (frames[t - 1].astype(np.float32) + frames[t + 1].astype(np.float32)) / 2.0
        errs.append(np.abs(frames[t].astype(np.float32) - blend).mean())
    return float(1.0 - np.mean(errs) / 255.0)


def subject_consistency(frames: np.ndarray, embedder: Optional[FaceEmbedder], num_samples: int = 9,
                        embeddings: Optional[Sequence[Optional[np.ndarray]]] = None) -> Optional[float]:
    """Mean over sampled frames of (sim to the first + sim to the previous) / 2 on identity embeddings.

    ``embeddings`` (already computed for frames in time order) replaces sampling
    and embedding. Frames without a face are skipped; None when fewer than two have one.
    """
    if embeddings is None:
        frames = _check(frames)
        embeddings = [embedder.embed(frames[i]) for i in sample_indices(len(frames), num_samples)]
    embs = [e for e in embeddings if e is not None]
    if len(embs) < 2:
        return None
    scores = [(cosine(embs[0], embs[t]) + cosine(embs[t - 1], embs[t])) / 2.0 for t in range(1, len(embs))]
    return float(np.mean(scores))


@dataclass
class DynamicDegree:
    """``dynamic``: the clip moves; ``moving_fraction`` of sampled pairs above the flow threshold;
    ``flow``: mean top-5% flow magnitude per pair, px at 256 px short side."""

    dynamic: bool
    moving_fraction: float
    flow: float


def dynamic_degree(frames: np.ndarray, fps: float = 24.0) -> DynamicDegree:
    """Whether a clip ``(T, H, W, 3)`` at ``fps`` has visible motion (Farneback flow, see module docstring)."""
    import cv2

    frames = _check(frames)
    step = max(1, int(round(fps / DYNAMIC_FPS)))
    picked = frames[::step]
    if len(picked) < 2:
        return DynamicDegree(False, 0.0, 0.0)
    h, w = picked.shape[1:3]
    k = DYNAMIC_SIDE / min(h, w)
    size = (max(1, int(round(w * k))), max(1, int(round(h * k))))
    grays = [cv2.cvtColor(cv2.resize(f, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY) for f in picked]
    tops = []
    for a, b in zip(grays[:-1], grays[1:]):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        mag = np.sqrt((flow ** 2).sum(-1)).ravel()
        n = max(1, int(len(mag) * DYNAMIC_TOP))
        tops.append(float(np.partition(mag, -n)[-n:].mean()))
    tops = np.asarray(tops)
    moving = float((tops > DYNAMIC_FLOW_PX).mean())
    return DynamicDegree(bool(moving >= DYNAMIC_FRACTION), moving, float(tops.mean()))


def video_quality(frames: np.ndarray, fps: float, embedder: Optional[FaceEmbedder] = None,
                  embeddings: Optional[Sequence[Optional[np.ndarray]]] = None) -> dict:
    """Every score above for one clip ``(T, H, W, 3)``.

    Subject consistency needs ``embedder`` or precomputed ``embeddings`` of
    sampled frames (None without either).
    """
    dyn = dynamic_degree(frames, fps)
    consistency = (subject_consistency(frames, embedder, embeddings=embeddings)
                   if embedder is not None or embeddings is not None else None)
    return {
        "ours_subject_consistency": consistency,
        "ours_motion_smoothness": motion_smoothness(frames),
        "ours_temporal_stability": temporal_stability(frames),
        "ours_dynamic_degree": float(dyn.dynamic),
        "ours_dynamic": asdict(dyn),
    }
