"""Time and peak memory of both engines against clip length.

The source is ``lp_d9.mp4`` (a shared clip, 470 frames at 24 fps) played forward and back as often as
the length needs, so there is no cut. Each configuration runs in a fresh process; peak memory is that
process's maximum resident set (``ru_maxrss``).

* warp: the condition built at 704x480 (``build_condition``, arc-left), then ``WarpEngine.generate``;
  the condition and the render are timed apart.
* facecam: the tiny random model (``facecam.model.tiny``) on the CPU, 2 steps, windows of 81 frames
  overlapping by 16, on the source and a white condition shrunk to 128x96 - the window machinery and
  its memory, not the real model's cost.

Usage: ``python benchmarks/long_video.py [--lengths 81 161 321 641] [--engines warp facecam]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def long_clip(n: int):
    from facecam.video.io import VideoClip, read_video

    clip = read_video(MEDIA / "lp_d9.mp4", fps=24.0, num_frames=None)
    loop = np.concatenate([clip.frames, clip.frames[-2:0:-1]])
    frames = np.concatenate([loop] * (n // len(loop) + 1))[:n]
    return VideoClip(np.ascontiguousarray(frames), 24.0, str(MEDIA / "lp_d9.mp4"), n)


def run_one(engine: str, n: int) -> dict:
    if engine == "warp":
        from facecam.condition.builder import build_condition
        from facecam.engines.warp import WarpEngine

        start = time.perf_counter()
        clip = build_condition(long_clip(n), camera="arc-left", num_frames=n)
        condition_s = time.perf_counter() - start
        start = time.perf_counter()
        out = WarpEngine().generate(clip, progress=False)
        render_s = time.perf_counter() - start
        size = "704x480"
    else:
        import tempfile
        import types

        import cv2
        import torch

        from facecam.engines import get_engine
        from facecam.model.tiny import write_tiny_model

        torch.set_num_threads(2)
        frames = long_clip(n).frames
        small = np.stack([cv2.resize(f, (96, 128), interpolation=cv2.INTER_AREA) for f in frames])
        fake = types.SimpleNamespace(source=small, condition=np.full_like(small, 255), fps=24.0, name="long")
        with tempfile.TemporaryDirectory() as tmp:
            weights = write_tiny_model(Path(tmp) / "tiny")
            engine_ = get_engine("facecam", weights=str(weights), steps=2, device="cpu", dtype="float32",
                                 window=81, overlap=16)
            engine_.generate(types.SimpleNamespace(**{**vars(fake), "source": small[:5],
                                                      "condition": fake.condition[:5]}), seed=0, progress=False)
            start = time.perf_counter()
            out = engine_.generate(fake, seed=0, progress=False)
            render_s = time.perf_counter() - start
        condition_s = None
        size = "128x96"
    assert out.shape[0] == n
    return {"engine": engine, "frames": n, "size": size, "condition_s": condition_s, "render_s": round(render_s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[81, 161, 321, 641])
    parser.add_argument("--engines", nargs="+", default=["warp", "facecam"], choices=["warp", "facecam"])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return 0
    if not MEDIA.is_dir():
        print(f"needs the shared clips in {MEDIA}", file=sys.stderr)
        return 1
    print(f"{'engine':8} {'size':8} {'frames':>6} {'condition s':>11} {'render s':>9} {'s/frame':>8} {'peak MB':>8}")
    for engine in args.engines:
        for n in args.lengths:
            proc = subprocess.run([sys.executable, __file__, "--one", engine, str(n)], capture_output=True, text=True)
            if proc.returncode:
                print(f"{engine:8} {'':8} {n:6d} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cond = f"{r['condition_s']:.1f}" if r["condition_s"] is not None else "-"
            print(f"{engine:8} {r['size']:8} {n:6d} {cond:>11} {r['render_s']:9.1f} {r['render_s'] / n:8.3f} "
                  f"{r['peak_rss_mb']:8d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
