"""MediaPipe's two ways of reading a clip's landmarks: tracking (video mode, what the condition uses) or
each frame alone (what the strict camera judge reads), by time and by jitter.

For each clip (81 frames, as decoded): the seconds each mode takes for the whole clip (the second of two
runs, so the models are loaded), and the landmarks' jitter before and after the warp engine's smoothing
(``facecam.engines.warp.smooth_landmarks`` with its default windows): the mean absolute second difference
over time of the 468 mesh points, in % of the face's mean size (the RMS distance of the points from
their centroid, ``facecam.face.pose.face_scale``). ``docs/evaluation.md`` ("facecam_000's arc-down") weighs the two modes with these figures.

    python benchmarks/track_modes.py [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from shared_clips import clip_paths  # noqa: E402 - beside this script


def jitter(points: np.ndarray) -> float:
    """Mean absolute second difference over time of ``(T, 478, 2+)`` points' 468 mesh points, in % of the
    face's mean size (:func:`facecam.face.pose.face_scale`)."""
    from facecam.face.pose import face_scale

    mesh = points[:, :468, :2].astype(np.float64)
    return float(np.abs(mesh[2:] - 2 * mesh[1:-1] + mesh[:-2]).mean() / face_scale(mesh).mean() * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="*", help="clip paths or names of shared clips (default: all)")
    parser.add_argument("--frames", type=int, default=81)
    args = parser.parse_args()

    from facecam.engines.warp import SMOOTH_XY_FRAMES, SMOOTH_Z_FRAMES, smooth_landmarks
    from facecam.face.landmarks import detect_landmarks
    from facecam.video.io import read_video

    print(f"{'clip':16} {'mode':12} {'seconds':>8} {'jitter raw %':>13} {'smoothed %':>11}")
    for path in clip_paths(args.clips):
        frames = read_video(path, num_frames=args.frames).frames
        for static, mode in ((False, "tracking"), (True, "each frame")):
            for _ in range(2):
                start = time.perf_counter()
                track = detect_landmarks(frames, static=static)
                seconds = time.perf_counter() - start
            smoothed = smooth_landmarks(track.points.astype(np.float64), SMOOTH_XY_FRAMES, SMOOTH_Z_FRAMES)
            print(f"{path.stem:16} {mode:12} {seconds:8.2f} {jitter(track.points):13.3f} {jitter(smoothed):11.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
