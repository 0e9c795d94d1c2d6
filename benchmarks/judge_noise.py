"""Measurement noise of the camera judge on exactly moved real clips (sets its tolerance floors).

For every shared clip: the clip itself, re-encoded as the output (``static``),
and the clip moved by the exact 2D transform of each pan and zoom preset (zoom
about the image centre, pan by the preset's fraction of the frame - what the
trajectory predicts for an image-plane move), judged by
:func:`facecam.eval.camera.evaluate_clips` with stride 2. Prints, per component,
the error (measured minus expected) over every judged frame: 95th percentile and
maximum of ``|error|``, and the maximum of ``|error| - allowance`` (the part the
floor must cover; allowance = the line-of-sight turn for yaw/pitch, the orbit
coupling for scale/shift).

    python benchmarks/judge_noise.py [--frames 33] [--size 704x480] [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from shared_clips import CLIPS, MEDIA  # noqa: E402 - beside this script
MOVES = ("static", "pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out")
COMPONENTS = ("yaw", "pitch", "roll", "scale", "shift_x", "shift_y")


def exact_move(frames: np.ndarray, trajectory) -> np.ndarray:
    """Each frame zoomed about the image centre and shifted, as the trajectory's zoom and pan say."""
    h, w = frames.shape[1:3]
    out = []
    for t, frame in enumerate(frames):
        s = float(trajectory.zoom[t])
        m = np.float32([[s, 0, (1 - s) * w / 2 - s * float(trajectory.pan_x[t]) * w],
                        [0, s, (1 - s) * h / 2 + s * float(trajectory.pan_y[t]) * h]])
        out.append(cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--size", default="704x480")
    args = parser.parse_args()

    from facecam.camera.trajectory import resolve_camera
    from facecam.condition.builder import crop_to_face
    from facecam.eval.camera import evaluate_clips
    from facecam.video.crop import parse_size
    from facecam.video.io import read_video, write_video

    size = parse_size(args.size)
    paths = [Path(p) for p in args.clips] or [MEDIA / c for c in CLIPS]
    rows = {m: {k: [] for k in COMPONENTS} for m in MOVES}
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            source, _ = crop_to_face(read_video(path, num_frames=args.frames), size)
            for move in MOVES:
                traj = resolve_camera(move, len(source))
                out = exact_move(source, traj)
                # Through the codec, like any engine's output file.
                write_video(Path(tmp) / "out.mp4", out, 24.0)
                out = read_video(Path(tmp) / "out.mp4", fps=None, num_frames=None).frames
                verdict = evaluate_clips(source, out, traj, stride=2)
                for rec in verdict.per_frame:
                    if rec["measured"] is None:
                        continue
                    for k in COMPONENTS:
                        e = rec["measured"][k] - rec["expected"][k]
                        rows[move][k].append((abs(e), abs(e) - rec["allowance"][k]))
                print(f"{path.name:16s} {move:10s} correct={verdict.correct} {verdict.reason}", flush=True)
    print(f"\n{len(paths)} clips x {args.frames} frames at {args.size}, stride 2, output through mp4")
    print(f"{'move':10s} " + " ".join(f"{k:>22s}" for k in COMPONENTS))
    print(f"{'':10s} " + " ".join(f"{'p95 / max / max-allow':>22s}" for _ in COMPONENTS))
    for move in (*MOVES, "all"):
        cells = []
        for k in COMPONENTS:
            vals = rows[move][k] if move != "all" else [v for m in MOVES for v in rows[m][k]]
            a = np.array([v[0] for v in vals])
            b = np.array([v[1] for v in vals])
            cells.append(f"{np.percentile(a, 95):6.3f} /{a.max():6.3f} /{b.max():6.3f}")
        print(f"{move:10s} " + " ".join(f"{c:>22s}" for c in cells))
    print("units: yaw/pitch/roll degrees, scale |log ratio|, shift fraction of the frame")


if __name__ == "__main__":
    main()
