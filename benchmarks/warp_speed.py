"""Throughput of the warp engine on whole clips, landmark detection included.

For each shared clip: decode 81 frames, crop and track the face, build the
camera condition (``build_condition``) and render with the warp engine. Prints
frames per second of the pipeline after decoding (crop + landmarks + condition
+ segmentation + warp: what `facecam generate` does between reading and
writing) and of the whole thing with decoding, plus the process CPU time, which
is the fairer number on a shared machine. Each clip is run ``--repeat`` times
and the fastest run reported (the first run also pays MediaPipe's start-up). The first line gives the
time of a pure-Python loop, so runs on days the machine is slower can be told apart.

    python benchmarks/warp_speed.py [--camera arc-left] [--frames 81] [--repeat 2] [--option NAME=VALUE]
        [--against REV] [CLIP ...]

``--option`` sets a warp engine option (``WarpOptions``) for an A/B, e.g. ``--option hidden_face=false``.

``--against REV`` compares this checkout's code with a git revision's on the same machine at the same
time (the machine's speed drifts by 2x over a day, so figures taken hours apart do not compare): each
clip is run ``--repeat`` times by each code in turn, each run in a fresh process (the fastest of two
renders there, the first paying MediaPipe's start-up), and the table gives both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from shared_clips import MEDIA, clip_paths  # noqa: E402 - beside this script


def python_loop_s() -> float:
    """Seconds a pure-Python loop of 10^7 additions takes: how fast this (shared) machine runs now."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10 ** 7):
        total += i
    return time.perf_counter() - t0


def run_clip(path: Path, camera: str, frames: int, engine) -> dict:
    from facecam.condition.builder import build_condition
    from facecam.video.io import read_video

    wall0 = time.perf_counter()
    clip = read_video(path, num_frames=frames)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    conditioned = build_condition(clip, camera, num_frames=frames)
    wall2 = time.perf_counter()
    video = engine.generate(conditioned, progress=False)
    wall3, cpu3 = time.perf_counter(), time.process_time()
    assert video.shape == conditioned.source.shape
    return {"decode_s": wall1 - wall0, "condition_s": wall2 - wall1, "warp_s": wall3 - wall2,
            "pipeline_s": wall3 - wall1, "total_s": wall3 - wall0, "cpu_s": (cpu3 - cpu1),
            "size": conditioned.size}


def child(args, engine, path: Path) -> None:
    """One process of an ``--against`` comparison: the faster of two runs, as a JSON line."""
    import facecam

    best = min((run_clip(path, args.camera, args.frames, engine) for _ in range(2)), key=lambda r: r["pipeline_s"])
    best["package"] = str(Path(facecam.__file__).resolve().parents[1])
    print("RESULT " + json.dumps(best))


def against(args, paths: list[Path]) -> None:
    """Alternate this checkout's code and ``args.against``'s, each run in its own process."""
    import subprocess
    import sys
    import tempfile

    repo = Path(__file__).resolve().parents[1]
    found = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "--verify", "--quiet",
                            f"{args.against}^{{commit}}"], capture_output=True, text=True)
    if found.returncode:
        raise SystemExit(f"warp_speed.py: error: --against {args.against}: no such revision in {repo}")
    rev = found.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="warp_speed_") as tmp:
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        codes = {"this": repo / "src", rev: Path(tmp) / "src"}
        print(f"{'clip':18} " + " ".join(f"{name + ' fps':>12} {name + ' CPU fps':>14}" for name in codes)
              + f" {'warp s ratio':>13} {'CPU ratio':>10}")
        extra = sum((["--option", item] for item in args.option), [])
        for path in paths:
            if not path.exists():
                print(f"{path.name:18} missing")
                continue
            best: dict = {}
            for _ in range(args.repeat):
                for name, src in codes.items():
                    env = dict(os.environ, PYTHONPATH=str(src))
                    run = subprocess.run([sys.executable, __file__, "--child", "--camera", args.camera, "--frames",
                                          str(args.frames), *extra, str(path)], env=env, capture_output=True, text=True)
                    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
                    if run.returncode or not lines:
                        raise SystemExit(f"{name} on {path.name} failed:\n{run.stderr[-2000:]}")
                    result = json.loads(lines[-1][7:])
                    if Path(result["package"]) != src.resolve():
                        raise SystemExit(f"{name} ran the package in {result['package']}, not {src}")
                    if name not in best or result["pipeline_s"] < best[name]["pipeline_s"]:
                        best[name] = result
            n = args.frames
            mine, theirs = best["this"], best[rev]
            print(f"{path.name:18} " + " ".join(f"{n / r['pipeline_s']:12.1f} {n / r['cpu_s']:14.1f}"
                                                 for r in (mine, theirs))
                  + f" {mine['warp_s'] / theirs['warp_s']:13.3f} {mine['cpu_s'] / theirs['cpu_s']:10.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", help=f"clips: files, or names of the shared clips in {MEDIA} (default: all)")
    parser.add_argument("--camera", default="arc-left")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a warp engine option (WarpOptions), e.g. hidden_face=false; repeatable")
    parser.add_argument("--against", metavar="REV",
                        help="compare with a git revision's code, alternated run by run (see above)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from facecam.engines import get_engine

    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    engine = get_engine("warp", **options)
    paths = clip_paths(args.clips)
    if args.child:
        return child(args, engine, paths[0])
    print(f"warp engine{' ' + str(options) if options else ''}, camera {args.camera}, {args.frames} frames, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"a Python loop of 10^7 additions {python_loop_s():.2f} s (this machine's speed now)")
    if args.against:
        return against(args, paths)
    print(f"{'clip':18} {'size':>8} {'decode s':>9} {'cond s':>7} {'warp s':>7} "
          f"{'fps (no decode)':>16} {'fps (all)':>10} {'fps (CPU time)':>15}")
    for path in paths:
        if not path.exists():
            print(f"{path.name:18} missing")
            continue
        best = min((run_clip(path, args.camera, args.frames, engine) for _ in range(args.repeat)),
                   key=lambda r: r["pipeline_s"])
        n = args.frames
        print(f"{path.name:18} {best['size'][0]:>4}x{best['size'][1]:<3} {best['decode_s']:9.2f} "
              f"{best['condition_s']:7.2f} {best['warp_s']:7.2f} {n / best['pipeline_s']:16.1f} "
              f"{n / best['total_s']:10.1f} {n / best['cpu_s']:15.1f}")


if __name__ == "__main__":
    main()
