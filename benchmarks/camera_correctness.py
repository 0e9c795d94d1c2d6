"""Camera correctness of the warp engine over the paper's 10 canonical motions on the shared clips.

For every clip and motion: build the condition, render with the warp engine and
judge the output's last frame against the input's with the evaluation module's
measure (:func:`facecam.eval.camera.evaluate_clips`: MediaPipe + head pose,
the change must point the way the motion should move the face). Prints one row
per clip, the failures with their reasons, and the overall percentage.

    python benchmarks/camera_correctness.py [--frames 81] [--json FILE] [CLIP ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("facecam_000.mp4", "facecam_007.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d9.mp4", "lp_s18.mp4")
MOTIONS = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out",
           "arc-left", "arc-right", "arc-up", "arc-down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", help=f"clips (default: the shared clips in {MEDIA})")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--json", metavar="FILE", help="also write every verdict to FILE")
    args = parser.parse_args()

    from facecam.condition.builder import build_condition
    from facecam.engines import get_engine
    from facecam.eval.camera import evaluate_clips
    from facecam.video.io import read_video

    engine = get_engine("warp")
    paths = [Path(p) for p in args.clips] or [MEDIA / name for name in CLIPS]
    records, start = [], time.perf_counter()
    print(f"warp engine, {args.frames} frames; measure: facecam.eval.camera (last frame, MediaPipe head pose)")
    print(f"{'clip':18} " + " ".join(f"{m:>9}" for m in MOTIONS))
    for path in paths:
        video = read_video(path, num_frames=args.frames)
        cells = []
        for motion in MOTIONS:
            clip = build_condition(video, motion, num_frames=args.frames)
            output = engine.generate(clip, progress=False)
            verdict = evaluate_clips(clip.source, output, clip.trajectory)
            records.append({"clip": path.name, "motion": motion, **verdict.to_dict()})
            cells.append("ok" if verdict.correct else "WRONG")
        print(f"{path.name:18} " + " ".join(f"{c:>9}" for c in cells), flush=True)
    for r in records:
        if not r["correct"]:
            print(f"  wrong: {r['clip']} {r['motion']}: {r['reason']}")
    correct = sum(r["correct"] for r in records)
    print(f"camera correctness: {correct}/{len(records)} = {100.0 * correct / max(1, len(records)):.1f}% "
          f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
