"""How much of the reference crop's height the face fills, per shared clip (the source of ``FACE_SHARE``).

For each clip: the first frame with a face (:func:`facecam.condition.framing.find_face`), its
full-range detector box, and the reference crop (:func:`facecam.video.crop.reference_crop`:
the frame scaled to cover the output, a fixed window around the nose). Prints the face-box
height / crop height per clip, the median over the authors' own samples (``facecam_*``, already
at 704x480: the framing the model was trained on, which ``FACE_SHARE`` takes) and over all clips
(the ``lp_*`` clips are close-up driving videos, framed tighter than the model's data).

    python benchmarks/face_share.py [--media ../shared/media] [--size 704x480]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    parser.add_argument("--size", default="704x480")
    args = parser.parse_args()

    from facecam.condition.framing import FACE_SHARE, find_face
    from facecam.face.landmarks import NOSE_TIP
    from facecam.video import parse_size, read_video, reference_crop

    size = parse_size(args.size)
    shares, authors = [], []
    print(f"{'clip':<20} {'frame':>11} {'face box h':>10} {'crop h (orig px)':>16} {'share':>6}")
    for path in sorted(args.media.glob("*.mp4")):
        clip = read_video(path, num_frames=None)
        found = find_face(clip)
        face, points = found.box, found.points
        frame_hw = clip.frames.shape[1:3]
        box = reference_crop(frame_hw, tuple(points[NOSE_TIP, :2]), size)
        crop_h = box.window(frame_hw)[3]
        shares.append(face.height / crop_h)
        if path.name.startswith("facecam_"):
            authors.append(shares[-1])
        print(f"{path.name:<20} {frame_hw[0]:>5}x{frame_hw[1]:<5} {face.height:>10.1f} {crop_h:>16.1f} {shares[-1]:>6.3f}")
    if authors:
        print(f"authors' samples: median share {np.median(authors):.3f}")
    print(f"all clips: median share {np.median(shares):.3f} (range {min(shares):.3f}-{max(shares):.3f})")
    print(f"FACE_SHARE in condition/framing.py: {FACE_SHARE}")


if __name__ == "__main__":
    main()
