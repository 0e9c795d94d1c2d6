"""Whose error is a wrong verdict: the warp engine's geometry, or MediaPipe's reading of the frames?

For every clip and motion, render with the warp engine (as `facecam generate`, in memory) and judge
the output three ways with the strict camera judge (:func:`facecam.eval.camera.evaluate_clips`,
every 4th frame and the last):

* ``output``: as ``camera_correctness.py`` does, MediaPipe's landmarks of the rendered frames;
* ``drawn``: the engine's geometry alone: where it drew the face mesh
  (:meth:`facecam.engines.warp.WarpEngine.mesh_positions`) against the landmarks it read them from
  in the source, with no MediaPipe reading of either clip;
* ``track``: how far those source landmarks (MediaPipe in video mode, smoothed over time) lie from
  the judge's reading of the same input frames (MediaPipe on each frame alone): the largest
  differences of size and of the three angles over the judged frames.

A run wrong on ``output`` but right on ``drawn`` drew the move the judge expects from the landmarks
the engine had; where ``track`` is as large as the judge's tolerances (about 4% of size, 3 deg),
the judge's own reading of the input disagrees with them by that much.

    python benchmarks/judge_geometry.py [--motions arc-right,...] [--frames 81] [--detect-each-frame] [CLIP ...]

Outputs are judged from memory, not from encoded files as ``camera_correctness.py`` does, so a run
within a hair of a tolerance can get another verdict there.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from types import SimpleNamespace

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from shared_clips import clip_paths  # noqa: E402 - beside this script

MOTIONS = ("arc-left", "arc-right", "arc-up", "arc-down", "random")


def verdict(v) -> str:
    return "ok" if v.correct else "WRONG: " + v.reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", help="clip paths or names of shared clips (default: all)")
    parser.add_argument("--motions", default=",".join(MOTIONS), help="comma-separated (default: the arcs, random)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--seed", type=int, default=0, help="seed of `random` (default 0)")
    parser.add_argument("--detect-each-frame", action="store_true",
                        help="an experiment: the condition's landmarks from MediaPipe on each frame alone (as the "
                             "judge reads), not its video-mode track")
    args = parser.parse_args()
    if args.detect_each_frame:
        import functools

        import facecam.condition.builder as builder
        from facecam.face.landmarks import detect_landmarks

        builder.detect_landmarks = functools.partial(detect_landmarks, static=True)

    from facecam.eval.camera import detect_frames, evaluate_clips, pose_change, sample_frames
    from facecam.run import ConditionOptions, EngineOptions, load_engine, render

    engine_options = EngineOptions(engine="warp")
    engine = load_engine(engine_options)
    options = ConditionOptions(frames=args.frames, seed=args.seed)
    start = time.perf_counter()
    for path in clip_paths(args.clips):
        for motion in [m for m in args.motions.split(",") if m]:
            run = render(path, dataclasses.replace(options, camera=motion), engine_options, loaded=engine)
            clip, output = run.clip, np.asarray(run.video)
            source = np.asarray(clip.source)
            track, drawn = engine.mesh_positions(clip)
            on_output = evaluate_clips(source, output, clip.trajectory)
            read = SimpleNamespace(points=np.concatenate([track, np.zeros_like(track[..., :1])], axis=-1),
                                   found=np.ones(len(track), bool))
            on_drawn = evaluate_clips(source, output, clip.trajectory, input_landmarks=read, output_landmarks=drawn)
            worst = {"size": 0.0, "yaw": 0.0, "pitch": 0.0, "roll": 0.0}
            shape = source.shape[1:3]
            for i, seen in detect_frames(source, sample_frames(len(source))).items():
                if seen is None:
                    continue
                c = pose_change(seen, shape, read.points[i], shape)
                for k, v in (("size", 100 * math.log(c.scale)), ("yaw", c.yaw), ("pitch", c.pitch), ("roll", c.roll)):
                    worst[k] = max(worst[k], v, key=abs)
            print(f"{path.stem} {motion}\n  output: {verdict(on_output)}\n  drawn:  {verdict(on_drawn)}\n"
                  f"  track:  size {worst['size']:+.1f}% (log), yaw {worst['yaw']:+.2f}, pitch {worst['pitch']:+.2f}, "
                  f"roll {worst['roll']:+.2f} deg at most from the judge's reading", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
