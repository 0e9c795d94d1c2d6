"""Training-data build throughput: samples per minute at 704x480 x 81 frames, 1 vs N workers.

Builds a fake NeRSemble sequence (video layout, no masks, so MediaPipe selfie
segmentation runs as it would on a mask-less download) from a shared clip, and/or
uses the shared clips as in-the-wild sources, then times ``build_dataset`` with
each worker count into a fresh folder (cold landmark cache, process start-up
included, as a real run pays it).

    python benchmarks/data_speed.py --samples 8 --workers 1 2 --kind nersemble wild

Prints one line per (kind, workers): wall-clock samples per minute, CPU seconds per
sample (parent + workers; on an idle machine ``60 * cores / cpu_s`` bounds the rate)
and the load average, because other jobs on a shared machine change the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def make_fake_nersemble(root: Path, cameras: int, frames: int) -> Path:
    """One participant, one sequence, ``cameras`` mp4s of ``frames`` 704x480 frames (the clip ping-ponged)."""
    from facecam.data.nersemble import SERIALS
    from facecam.video.io import read_video, write_video

    base = read_video(MEDIA / "facecam_000.mp4", fps=None, num_frames=None).frames
    loop = np.concatenate([base, base[::-1]])
    clip = np.stack([loop[i % len(loop)] for i in range(frames)])
    seq = root / "001" / "sequences" / "EXP-1-head" / "images"
    seq.mkdir(parents=True)
    for c, serial in enumerate(SERIALS[:cameras]):
        shifted = np.roll(clip, 12 * c, axis=2)
        write_video(seq / f"cam_{serial}.mp4", shifted[:, :, ::-1] if c % 2 else shifted, 73.0 / 3)
    return root


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (the pool's workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(kind: str, workers: int, samples: int, nersemble: Path, wild: Path, frames: int,
        size: tuple[int, int]) -> tuple[float, float]:
    """(samples per minute of wall time, CPU seconds per sample)."""
    from facecam.data.build import build_dataset, load_sources
    from facecam.data.samples import BuildConfig

    sources = load_sources(str(nersemble) if kind in ("nersemble", "mixed") else None,
                           str(wild) if kind in ("wild", "mixed") else None, split="all")
    out = Path(tempfile.mkdtemp(prefix="facecam_data_speed_"))
    try:
        config = BuildConfig(frames=frames, size=size, samples_per_shard=max(1, samples // 2), wild_fraction=0.5)
        cpu = cpu_seconds()
        summary = build_dataset(out, sources, samples, seed=0, config=config, workers=workers, progress=False)
        return summary.samples_per_minute, (cpu_seconds() - cpu) / samples
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--kind", nargs="+", default=["nersemble", "wild"], choices=["nersemble", "wild", "mixed"])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="704x480")
    parser.add_argument("--cameras", type=int, default=8, help="cameras in the fake NeRSemble sequence")
    parser.add_argument("--sources", metavar="DIR", help="keep the fake sources here and reuse them next time")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))

    work = Path(args.sources) if args.sources else Path(tempfile.mkdtemp(prefix="facecam_data_src_"))
    try:
        t = time.perf_counter()
        nersemble, wild = work / "nersemble", work / "wild"
        if not nersemble.is_dir():
            make_fake_nersemble(nersemble, args.cameras, 3 * args.frames + 30)
        if not wild.is_dir():
            wild.mkdir(parents=True)
            for name in ("facecam_000.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d9.mp4"):
                (wild / name).symlink_to(MEDIA / name)
        print(f"fake NeRSemble sequence: {args.cameras} cameras x {3 * args.frames + 30} frames "
              f"({time.perf_counter() - t:.0f} s to make)")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"clips {args.frames} frames at {h}x{w}; {args.samples} samples per run")
        for kind in args.kind:
            base = None
            for workers in args.workers:
                load = os.getloadavg()[0]
                rate, cpu = run(kind, workers, args.samples, nersemble, wild, args.frames, (h, w))
                base = base or rate
                print(f"{kind:10s} workers={workers}: {rate:6.2f} samples/min  (x{rate / base:.2f} vs "
                      f"{args.workers[0]} worker; {cpu:.1f} CPU s/sample; load average before {load:.1f})",
                      flush=True)
    finally:
        if not args.sources:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
