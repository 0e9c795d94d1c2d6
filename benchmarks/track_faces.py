"""How unlike two people look to ``--track`` (facecam.condition.framing.SAME_LOOKS).

Builds the crossing clip of a newcomer's report from the shared clips: lp_d9 walks right to left, lp_d0
walks left to right in front of it, over 49 frames of a 1000x400 canvas. For each frame it prints the
Bhattacharyya distance between the hue-saturation histogram of every detected face and that of lp_d9's face in
frame 0 (``framing._looks``), then the range for each person while the two are apart and for every face
while they overlap.

    python benchmarks/track_faces.py [../shared/media]
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facecam.condition.framing import _looks
from facecam.face.detect import detect_face_boxes, face_detector
from facecam.video.io import read_video

from shared_clips import media_folder  # beside this script


def crossing(media: Path, frames: int = 49) -> np.ndarray:
    def sized(name, h, w):
        clip = read_video(media / name, num_frames=frames).frames
        return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in clip])

    front, back = sized("lp_d0.mp4", 360, 360), sized("lp_d9.mp4", 360, 384)[:, :, 12:372]
    canvas = np.full((frames, 400, 1000, 3), 90, np.uint8)
    for t in range(frames):
        xf, xb = int(20 + 600 * t / (frames - 1)), int(620 - 600 * t / (frames - 1))
        canvas[t, 20:380, xb:xb + 360] = back[t]
        canvas[t, 20:380, xf:xf + 360] = front[t]  # passes in front
    return canvas


def main() -> None:
    media = media_folder(__doc__)
    frames = crossing(media)
    detector = face_detector()
    start = detect_face_boxes(frames[0], detector)
    chosen = max(start, key=lambda b: b.center[0])  # lp_d9 starts on the right
    template = _looks(frames[0], chosen)
    rows = {"lp_d9 (the chosen face), clear of lp_d0": [], "lp_d0 (the other person), clear of lp_d9": [],
            "either, while the two overlap": []}
    for t, frame in enumerate(frames):
        front_x = 20 + 600 * t / (len(frames) - 1) + 180  # centre of lp_d0's square
        back_x = 620 - 600 * t / (len(frames) - 1) + 180
        line = []
        for box in detect_face_boxes(frame, detector):
            d = cv2.compareHist(template, _looks(frame, box), cv2.HISTCMP_BHATTACHARYYA)
            line.append(f"x={box.center[0]:.0f}: {d:.2f}")
            if abs(front_x - back_x) < 360:
                rows["either, while the two overlap"].append(d)
            elif abs(box.center[0] - front_x) < abs(box.center[0] - back_x):
                rows["lp_d0 (the other person), clear of lp_d9"].append(d)
            else:
                rows["lp_d9 (the chosen face), clear of lp_d0"].append(d)
        print(f"frame {t:2d}  " + "  ".join(line))
    detector.close()
    for name, values in rows.items():
        if values:
            print(f"{name}: {min(values):.2f}-{max(values):.2f} ({len(values)} faces)")


if __name__ == "__main__":
    main()
