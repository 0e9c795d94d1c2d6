"""Fades and the warp engine's background plate (facecam.video.cuts.dimmed, FADE).

A fade from black puts dimmed frames of the face's own shot into the background plate, which then comes out
darker than the wall behind the person at full light. This script fades a shared clip in over its first
``--fade`` frames (a linear ramp from black, written to a temporary file), renders it and the unfaded clip
under the same arc with the warp engine, and prints:

* which frames ``dimmed`` marks in every shared clip as it is, all its frames (expected: none), and how far
  the brightness level it follows moves over the clip; then in the faded clip (expected: the fade's, less
  those blank enough to be left out already);
* how much darker the faded clip's output is than the unfaded one's at the last frame, where both sources
  are the same picture: over the whole frame, and over its left and right eighths (mostly wall).

    python benchmarks/fade.py [--clip facecam_000] [--fade 20] [--frames 33] [--camera arc-left]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from facecam.engines.warp import stretches
from facecam.run import ConditionOptions, EngineOptions, render
from facecam.video.cuts import brightness, dimmed, shots, thumbnails
from facecam.video.io import read_video, write_video

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def marked(frames: np.ndarray) -> list[int]:
    cuts, blank, thumbs = shots(frames)
    return np.flatnonzero(dimmed(thumbs, stretches(len(frames), cuts), blank)).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="facecam_000")
    parser.add_argument("--fade", type=int, default=20, help="frames of the fade from black (default 20)")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--camera", default="arc-left")
    args = parser.parse_args()

    for path in sorted(MEDIA.glob("*.mp4")):
        frames = read_video(path, fps=None, num_frames=None).frames
        level = brightness(thumbnails(frames))
        print(f"{path.stem:14s} {len(frames):4d} frames: marked as a fade or flash {marked(frames)}, brightness "
              f"level (log) within {level.min():+.4f} .. {level.max():+.4f}")

    source = read_video(MEDIA / f"{args.clip}.mp4", num_frames=args.frames)
    gain = np.clip(np.arange(len(source.frames)) / args.fade, 0.0, 1.0)[:, None, None, None]
    with tempfile.TemporaryDirectory() as tmp:
        faded_path = Path(tmp) / f"{args.clip}_faded.mp4"
        write_video(faded_path, (source.frames * gain).astype(np.uint8), source.fps)
        outputs = {}
        for name, path in (("plain", MEDIA / f"{args.clip}.mp4"), ("faded", faded_path)):
            run = render(str(path), ConditionOptions(camera=args.camera, frames=args.frames),
                         EngineOptions(engine="warp"))
            outputs[name] = run.video.astype(np.float32)
            if name == "faded":
                print(f"{args.clip} faded in over {args.fade} frames: marked {marked(run.clip.source)} "
                      f"(of the {args.frames} frames of the crop)")
    last = -1
    difference = (outputs["plain"][last] - outputs["faded"][last]).mean(axis=2)
    w = difference.shape[1]
    sides = np.concatenate([difference[:, : w // 8], difference[:, -(w // 8):]], axis=1)
    print(f"last frame, plain output minus faded output (grey levels): whole frame {difference.mean():+.2f}, "
          f"left and right eighths {sides.mean():+.2f}")


if __name__ == "__main__":
    main()
