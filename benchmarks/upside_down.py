"""How far apart the face detector's scores are on upright and upside-down pictures
(facecam.condition.framing.UPSIDE_DOWN_MARGIN).

For each shared clip, as it is and turned 180 deg: the mean over 9 frames spread over its first 49 of the
detector's best score on the frames as they are and turned 180 deg (``framing.detector_scores``), their
difference, in how many frames the turned score is higher, and the verdict of ``framing.looks_upside_down``.

    python benchmarks/upside_down.py [../shared/media]
"""

from __future__ import annotations


import numpy as np

from facecam.condition.framing import UPSIDE_DOWN_SAMPLES, detector_scores, looks_upside_down
from facecam.face.detect import face_detector
from facecam.video.io import read_video

from shared_clips import media_folder  # beside this script


def main() -> None:
    media = media_folder(__doc__)
    detector = face_detector()
    picks = np.linspace(0, 48, UPSIDE_DOWN_SAMPLES).round().astype(int)
    for path in sorted(media.glob("*.mp4")):
        frames = read_video(path, num_frames=49).frames[picks]
        for name, shown in (("upright", frames), ("turned 180", frames[:, ::-1, ::-1])):
            upright, turned = detector_scores(shown, detector)
            verdict = "upside down" if looks_upside_down(shown, detector) else "upright"
            print(f"{path.name:16s} {name:10s}  as is {upright.mean():.2f}  turned {turned.mean():.2f}  "
                  f"difference {turned.mean() - upright.mean():+.2f}  turned higher in {(turned > upright).sum()}"
                  f"/{len(shown)} frames  -> {verdict}")
    detector.close()


if __name__ == "__main__":
    main()
