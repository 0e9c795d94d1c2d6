"""Camera-condition speed: projection + rasterisation of 81 frames at 704x480, and landmark detection.

Prints frames per second. Detection is measured separately (MediaPipe Face Mesh in
tracking mode over each shared clip, cropped to 704x480). Drawing alone is timed
twice on the same landmarks: our raster (``condition.raster.render_condition``) and
MediaPipe's own ``drawing_utils.draw_landmarks`` with its default face-mesh styles
(what our raster reproduces pixel for pixel), so the speed-up is measured, not claimed.

    python benchmarks/condition_speed.py [--media ../shared/media] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from facecam.camera.trajectory import preset
    from facecam.condition.builder import crop_to_face, relative_condition
    from facecam.condition.raster import mediapipe_drawing, render_condition
    from facecam.face.landmarks import detect_landmarks
    from facecam.video import read_video

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for path in sorted(args.media.glob("*.mp4")):
        clip = read_video(path, num_frames=81)
        source, _ = crop_to_face(clip)
        t0 = time.perf_counter()
        track = detect_landmarks(source)
        detect_fps = 81 / (time.perf_counter() - t0)
        timings = {}
        for proxy in ("subject", "template"):
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                relative_condition(track, preset("arc-left", 81), proxy)
                best = min(best, time.perf_counter() - t0)
            timings[proxy] = 81 / best
        points, _ = relative_condition(track, preset("arc-left", 81), "subject")
        ours = _best(lambda: render_condition(points, source.shape[1:3]), args.repeats)
        theirs = _best(lambda: [mediapipe_drawing(p, source.shape[1:3]) for p in points], 1)
        print(f"{path.name:16s} detection {detect_fps:6.1f} frames/s | condition (projection + raster, 81 frames "
              f"704x480): subject {timings['subject']:6.1f} frames/s, template {timings['template']:6.1f} frames/s"
              f" | drawing only: ours {81 / ours:6.1f} frames/s, MediaPipe's drawing_utils {81 / theirs:6.1f} "
              f"frames/s")


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
