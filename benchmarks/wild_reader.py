"""Memory and time of reading one in-the-wild training sample, against where it starts in a long clip.

Writes a synthetic clip (``--seconds`` at 1280x720, 24 fps), then reads an 81-frame sample at the start,
the middle and the end of it two ways: ``from 0`` (decode every frame from the start of the file at full
size and keep them, the reader before the streaming one) and ``streaming``
(:func:`facecam.data.wild.read_wild_frames`: seek, decode only the sample's frames, shrink each on decode
to cover 704x480). Peak memory is what tracemalloc sees (numpy frames), in a fresh process per reading.
Usage: ``python benchmarks/wild_reader.py [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FPS, SIZE, FRAMES = 24, (720, 1280), 81


def measure(path: str, start: int, way: str) -> dict:
    import tracemalloc

    from facecam.data.wild import read_wild_frames
    from facecam.video.io import read_video

    tracemalloc.start()
    t = time.perf_counter()
    if way == "from 0":
        total = start + FRAMES + (1 - start - FRAMES) % 4
        frames = read_video(path, fps=FPS, num_frames=total).frames[start:start + FRAMES]
    else:
        frames, _ = read_wild_frames(path, start, FRAMES, FPS, cover=(704, 480))
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    return {"start_frame": start, "way": way, "seconds": round(seconds, 2), "peak_mb": round(peak / 2**20),
            "frame_shape": list(frames.shape[1:3])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--one", nargs=3, metavar=("PATH", "START", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.one[2])))
        return 0
    from facecam.video.io import write_video

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        n = FPS * args.seconds
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
        frames = (np.roll(np.kron(base, np.ones((8, 8, 1), np.uint8)), i * 4, axis=1) for i in range(n))
        write_video(path, np.stack(list(frames)), FPS)
        print(f"{args.seconds} s at {SIZE[1]}x{SIZE[0]}, {FPS} fps: {n} frames; one {FRAMES}-frame sample")
        print(f"{'start frame':>11} {'reader':>10} {'seconds':>8} {'peak MB':>8}")
        for start in (0, n // 2, n - FRAMES):
            for way in ("from 0", "streaming"):
                out = subprocess.run([sys.executable, __file__, "--one", str(path), str(start), way],
                                     capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{start:11d} {way:>10} {r['seconds']:8.2f} {r['peak_mb']:8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
