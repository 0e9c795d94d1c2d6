"""Print how long each evaluation step takes on one clip (not run by CI).

    taskset -c 0 python benchmarks/eval_speed.py [VIDEO] [--frames 81]

Defaults to ../shared/media/facecam_000.mp4 cropped to 704x480. The "output" is
the clip shifted as pan-left says (0 to 0.15 of its width), so the camera judge has
something to find. The first line is the judge as `facecam eval camera` runs it:
both videos read from mp4 files, every 4th frame pair and the last (21 of 81)
detected and compared; the target is under 5 s on one core (``taskset -c 0``).
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

    import tempfile

    from facecam.camera.trajectory import resolve_camera
    from facecam.condition.builder import crop_to_face
    from facecam.eval.camera import evaluate_camera, evaluate_clips
    from facecam.eval.identity import identity_similarity, load_embedder
    from facecam.eval.metrics import psnr, ssim
    from facecam.eval.video_quality import dynamic_degree, motion_smoothness, temporal_stability
    from facecam.video.io import read_video, write_video

    clip, _ = crop_to_face(read_video(args.video, num_frames=args.frames))
    h, w = clip.shape[1:3]
    traj = resolve_camera("pan-left", len(clip))
    out = np.stack([cv2.warpAffine(f, np.float32([[1, 0, -traj.pan_x[t] * w], [0, 1, 0]]), (w, h),
                                   borderMode=cv2.BORDER_REPLICATE) for t, f in enumerate(clip)])
    print(f"{args.video}: {clip.shape[0]} frames {h}x{w}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus visible, {len(os.sched_getaffinity(0))} usable, cv2 threads {cv2.getNumThreads()}")
    with tempfile.TemporaryDirectory() as tmp:
        write_video(f"{tmp}/in.mp4", clip, 24.0)
        write_video(f"{tmp}/out.mp4", out, 24.0)
        start = time.perf_counter()  # cold, as the CLI runs it: graph building included
        verdict = evaluate_camera(f"{tmp}/in.mp4", f"{tmp}/out.mp4", traj)
        print(f"{'camera judge: 2 mp4 reads + 21 frame pairs (cold)':44s} "
              f"{1000 * (time.perf_counter() - start):9.1f} ms")
    print(f"{'':44s} correct={verdict.correct} shift_x={verdict.change.shift_x:+.3f} "
          f"judged {len(verdict.frames['judged'])} frames")
    timed("camera judge on decoded frames, stride 4", lambda: evaluate_clips(clip, out, traj))
    timed("camera judge on decoded frames, stride 1", lambda: evaluate_clips(clip, out, traj, stride=1))
    timed("camera, paper rule (last frame only)", lambda: evaluate_clips(clip, out, traj, frame=-1))
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
