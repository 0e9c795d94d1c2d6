"""Derive the generic 478-point 3D face template shipped as ``facecam/assets/template_face.npy``.

How: MediaPipe Face Mesh (478 points, irises) runs on near-frontal faces - the
astronaut photo from scikit-image and frames of the shared test clips - and each
face is expressed in its own anatomical frame (x from the right cheek 234 to the
left cheek 454, y from the forehead 10 towards the chin 152, z = x cross y, into
the head), normalised to a unit cheek-to-cheek width. The faces are averaged and
made left-right symmetric by pairing each point with the nearest point of the
mirrored mean. Output units: cheek-to-cheek widths; axes as the OpenCV camera
sees a frontal face (x right, y down, z away from the camera); origin at the
centroid of the 468 mesh points.

Run: python scripts/derive_template.py [--media ../shared/media] [--out src/facecam/assets/template_face.npy]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def face_frame(points: np.ndarray) -> np.ndarray:
    """Express ``(478, 3)`` pixel landmarks in the anatomical frame described above."""
    mesh = points[:468]
    origin = mesh.mean(axis=0)
    x = points[454] - points[234]
    width = np.linalg.norm(x)
    x = x / width
    y = points[152] - points[10]
    y = y - (y @ x) * x
    y = y / np.linalg.norm(y)
    z = np.cross(x, y)
    basis = np.stack([x, y, z], axis=1)
    return (points - origin) @ basis / width


def frontalness(points: np.ndarray) -> float:
    """0 for a face whose nose tip sits halfway between the cheeks."""
    return abs((points[4, 0] - points[234, 0]) / (points[454, 0] - points[234, 0]) - 0.5)


def symmetrize(template: np.ndarray) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    mirrored = template * np.array([-1.0, 1.0, 1.0])
    out = template.copy()
    for block in (slice(0, 468), slice(468, 478)):
        a, b = template[block], mirrored[block]
        cost = np.linalg.norm(a[:, None] - b[None], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        out[block][rows] = (a[rows] + b[cols]) / 2
    out -= out[:468].mean(axis=0) * np.array([1.0, 0.0, 0.0])
    return out


def collect_faces(media: Path | None, per_clip: int = 12) -> list[np.ndarray]:
    import skimage.data

    from facecam.face.landmarks import detect_image_landmarks, face_mesh
    from facecam.video import read_video

    mesh = face_mesh(static=True)
    faces = []
    pts = detect_image_landmarks(skimage.data.astronaut(), mesh)
    if pts is not None:
        faces.append(pts)
    if media is not None and media.exists():
        for clip_path in sorted(media.glob("*.mp4")):
            clip = read_video(clip_path, fps=None, num_frames=None)
            candidates = []
            for frame in clip.frames[:: max(1, clip.num_frames // 40)]:
                pts = detect_image_landmarks(frame, mesh)
                if pts is not None:
                    candidates.append((frontalness(pts), pts))
            candidates.sort(key=lambda c: c[0])
            faces.extend(p for f, p in candidates[:per_clip] if f < 0.04)
    mesh.close()
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "src" / "facecam" / "assets" / "template_face.npy")
    args = parser.parse_args()
    faces = collect_faces(args.media)
    frames = np.stack([face_frame(f.astype(np.float64)) for f in faces])
    template = symmetrize(np.median(frames, axis=0))
    np.save(args.out, template.astype(np.float32))
    print(f"template from {len(faces)} faces -> {args.out} {template.shape}")


if __name__ == "__main__":
    main()
