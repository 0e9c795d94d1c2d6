"""Time and peak memory of both engines against clip length.

The source is ``lp_s18.mp4`` (a shared 1280x720 clip, 282 frames at 30 fps) played forward and back
as often as the length needs, so there is no cut, written once as a 24 fps mp4 in the temporary
folder. Each configuration runs in a fresh process; peak memory is that process's maximum resident
set (``ru_maxrss``).

* warp: what `facecam generate LONG.mp4 --frames N --camera arc-left --engine warp -o OUT` does,
  through the run API: ``render`` (read, crop, track, draw the condition at 704x480, render) then
  ``write_run`` (the four videos and the JSON). Condition, render and writing are timed apart;
  ``disk MB`` is what the run's frame buffers kept in temporary files instead of memory
  (:mod:`facecam.video.frames`).
* facecam: the tiny random model (``facecam.model.tiny``) on the CPU, 2 steps, windows of 81 frames
  overlapping by 16, on the source and a white condition shrunk to 128x96 - the window machinery and
  its memory, not the real model's cost.

Usage: ``python benchmarks/long_video.py [--lengths 81 321 1281 2561] [--engines warp facecam]``.
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


SOURCE = "lp_s18.mp4"


def long_file(n: int) -> Path:
    """``SOURCE`` played forward and back to ``n`` frames at 24 fps, as an mp4 (made once, then reused)."""
    import tempfile

    from facecam.video.io import FrameStream, read_video, write_video

    path = Path(tempfile.gettempdir()) / f"facecam_long_{Path(SOURCE).stem}_{n}.mp4"
    if not path.is_file():
        frames = read_video(MEDIA / SOURCE, fps=24.0, num_frames=None).frames
        order = np.r_[np.arange(len(frames)), np.arange(len(frames) - 2, 0, -1)]
        write_video(path, FrameStream(n, lambda t: frames[order[t % len(order)]]), 24.0)
    return path


def long_clip(n: int, cover: tuple[int, int]):
    from facecam.video.io import read_video

    return read_video(long_file(n), fps=24.0, num_frames=n, cover=cover)


def run_one(engine: str, n: int) -> dict:
    write_s = disk_mb = None
    if engine == "warp":
        import tempfile

        from facecam.run import ConditionOptions, EngineOptions, render, render_clip, write_run
        from facecam.video.frames import DiskFrames

        path = long_file(n)
        options, warp = ConditionOptions(camera="arc-left", frames=n), EngineOptions(engine="warp")
        start = time.perf_counter()
        run = render(path, options)  # the condition only
        condition_s = time.perf_counter() - start
        start = time.perf_counter()
        run = render_clip(run.clip, options, warp)
        render_s = time.perf_counter() - start
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_run(run, tmp)
        write_s = round(time.perf_counter() - start, 2)
        out = run.video
        disk_mb = round(sum(a.nbytes for a in (run.clip.source, run.clip.condition, run.video)
                            if isinstance(a, DiskFrames)) / 2**20)
        size = "704x480"
    else:
        import tempfile
        import types

        import cv2
        import torch

        from facecam.engines import get_engine
        from facecam.model.tiny import write_tiny_model

        torch.set_num_threads(2)
        frames = long_clip(n, (128, 96)).frames  # shrunk as decoded
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
            "write_s": write_s, "disk_mb": disk_mb,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[81, 321, 1281, 2561])
    parser.add_argument("--engines", nargs="+", default=["warp", "facecam"], choices=["warp", "facecam"])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return 0
    if not MEDIA.is_dir():
        print(f"needs the shared clips in {MEDIA}", file=sys.stderr)
        return 1
    print(f"{'engine':8} {'size':8} {'frames':>6} {'condition s':>11} {'render s':>9} {'s/frame':>8} {'write s':>8} "
          f"{'peak MB':>8} {'disk MB':>8}")
    for engine in args.engines:
        for n in args.lengths:
            proc = subprocess.run([sys.executable, __file__, "--one", engine, str(n)], capture_output=True, text=True)
            if proc.returncode:
                print(f"{engine:8} {'':8} {n:6d} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            def show(key: str, digits: int = 1) -> str:
                return "-" if r.get(key) is None else f"{r[key]:.{digits}f}"

            print(f"{engine:8} {r['size']:8} {n:6d} {show('condition_s'):>11} {r['render_s']:9.1f} "
                  f"{r['render_s'] / n:8.3f} {show('write_s'):>8} {r['peak_rss_mb']:8d} {show('disk_mb', 0):>8}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
