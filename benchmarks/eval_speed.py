"""Print how long each evaluation step takes on one clip (not run by CI).

    python benchmarks/eval_speed.py [VIDEO] [--frames 81]

Defaults to ../shared/media/facecam_000.mp4 (704x480). The "output" is the clip
shifted by 0.15 of its width, so the camera check has something to find.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def timed(label: str, fn, repeat: int = 1):
    fn()  # warm-up: graph and model loading are reported separately below
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    print(f"{label:44s} {1000 * (time.perf_counter() - start) / repeat:9.1f} ms")
    return result


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "media" / "facecam_000.mp4"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(default))
    parser.add_argument("--frames", type=int, default=81)
    args = parser.parse_args()

    from facecam.camera.trajectory import resolve_camera
    from facecam.eval.camera import evaluate_clips
    from facecam.eval.identity import identity_similarity, load_embedder
    from facecam.eval.metrics import psnr, ssim
    from facecam.eval.video_quality import dynamic_degree, motion_smoothness, temporal_stability
    from facecam.video.io import read_video

    clip = read_video(args.video, num_frames=args.frames).frames
    h, w = clip.shape[1:3]
    shift = np.float32([[1, 0, 0.15 * w], [0, 1, 0]])
    out = np.stack([cv2.warpAffine(f, shift, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in clip])
    print(f"{args.video}: {clip.shape[0]} frames {h}x{w}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, cv2 threads {cv2.getNumThreads()}")
    traj = resolve_camera("pan-left", len(clip))
    verdict = timed("camera correctness (2 MediaPipe + 2 PnP)", lambda: evaluate_clips(clip, out, traj))
    print(f"{'':44s} correct={verdict.correct} shift_x={verdict.change.shift_x:+.3f}")
    t = time.perf_counter()
    embedder = load_embedder()
    print(f"{'SFace + YuNet load':44s} {1000 * (time.perf_counter() - t):9.1f} ms")
    timed("SFace embedding, one frame", lambda: embedder.embed(clip[0]), repeat=5)
    timed("identity similarity, 9 frame pairs", lambda: identity_similarity(clip, out, embedder))
    timed("PSNR, one frame", lambda: psnr(clip[0], out[0]), repeat=10)
    timed("SSIM, one frame", lambda: ssim(clip[0], out[0]), repeat=3)
    timed("temporal stability, whole clip", lambda: temporal_stability(out))
    timed("motion smoothness, whole clip", lambda: motion_smoothness(out))
    timed("dynamic degree (Farneback), whole clip", lambda: dynamic_degree(out, 24.0))


if __name__ == "__main__":
    main()
