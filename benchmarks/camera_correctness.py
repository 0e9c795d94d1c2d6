"""The strict camera judge over the warp engine: the 10 canonical motions and `random` on the shared clips.

For every clip and motion: build the condition and render with the warp engine
(the same library path as `facecam generate`; with ``--keep OUT`` the outputs
are kept under OUT/<clip>__<motion>/ and reused by the next call, else they go
to a temporary folder), then judge the output with
:func:`facecam.eval.camera.evaluate_camera` (the cropped input, the output and
the run's ``_camera.json``, every 4th frame). Prints a row per clip, a row per
motion (strict correctness, the paper's direction-only rule, mean rotation /
scale / translation errors), the kinds of failure and each wrong run's reason.

    python benchmarks/camera_correctness.py [--keep OUT] [--frames 81] [--size 704x480] [--json FILE]
        [--motions arc-left,arc-right,...] [CLIP ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from shared_clips import MEDIA, clip_paths  # noqa: E402 - beside this script

MOTIONS = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out",
           "arc-left", "arc-right", "arc-up", "arc-down", "random")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", metavar="OUT", default=None,
                        help="keep the rendered runs in OUT (and reuse those already there)")
    parser.add_argument("clips", nargs="*",
                        help=f"clip paths or names of shared clips (default: all the shared clips in {MEDIA})")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="704x480")
    parser.add_argument("--seed", type=int, default=0, help="seed of `random` (default 0)")
    parser.add_argument("--json", metavar="FILE", help="also write every verdict to FILE")
    parser.add_argument("--motions", default=",".join(MOTIONS),
                        help="comma-separated motions to render and judge (default: all 11); "
                             "'arcs' stands for the four arcs")
    args = parser.parse_args()
    names = [m.strip() for m in args.motions.split(",") if m.strip()]
    names = [a for m in names for a in (("arc-left", "arc-right", "arc-up", "arc-down") if m == "arcs" else (m,))]
    unknown = [m for m in names if m not in MOTIONS]
    if unknown or not names:
        parser.error(f"unknown motion(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MOTIONS)}")
    args.motions = tuple(names)

    from facecam.eval.dynamic import engine_renderer
    from facecam.run import ConditionOptions, EngineOptions
    from facecam.video.crop import parse_size

    options = ConditionOptions(frames=args.frames, size=parse_size(args.size), seed=args.seed)
    render = engine_renderer(options, EngineOptions(engine="warp"))
    paths = clip_paths(args.clips)
    with tempfile.TemporaryDirectory() as tmp:
        judge_all(paths, Path(args.keep or tmp), args, render)


def judge_all(paths, out: Path, args, render) -> None:
    from facecam.eval.camera import evaluate_camera
    from facecam.eval.dynamic import camera_errors, failure_kind
    from facecam.errors import FacecamError

    records, start = [], time.perf_counter()
    print(f"warp engine, {args.frames} frames at {args.size}; judge: facecam.eval.camera (stride 4)")
    motions = args.motions
    print(f"{'clip':16} " + " ".join(f"{m:>9}" for m in motions))
    for path in paths:
        cells = []
        for motion in motions:
            run = out / f"{path.stem}__{motion}"
            files = {k: run / f"{path.stem}{k}" for k in (".mp4", "_input.mp4", "_camera.json")}
            record = {"clip": path.name, "motion": motion}
            try:
                if not all(f.exists() for f in files.values()):
                    render(path, motion, run)
                verdict = evaluate_camera(str(files["_input.mp4"]), str(files[".mp4"]), str(files["_camera.json"]))
                record.update(status="ok", camera=verdict.to_dict())
                cells.append("ok" if verdict.correct else "WRONG")
            except FacecamError as exc:  # counts as wrong
                record.update(status="error", error=str(exc))
                cells.append("FAILED")
            records.append(record)
        print(f"{path.name:16} " + " ".join(f"{c:>9}" for c in cells), flush=True)

    print(f"\n{'motion':10} {'strict':>7} {'paper':>7} {'rot err':>8} {'scale %':>8} {'trans %':>8}  failures")
    for motion in (*motions, "overall"):
        rs = [r for r in records if motion in ("overall", r["motion"])]
        ok = [r for r in rs if r["status"] == "ok"]
        strict = sum(bool(r["camera"]["correct"]) for r in ok)
        paper = sum(bool(r["camera"]["paper_correct"]) for r in ok)
        errs = [camera_errors(r["camera"]) for r in ok]
        kinds = Counter(failure_kind(p) for r in ok if not r["camera"]["correct"]
                        for p in r["camera"]["reason"].split("; "))
        mean = (lambda k: sum(e[k] for e in errs) / len(errs)) if errs else (lambda k: float("nan"))
        print(f"{motion:10} {strict:>3}/{len(rs):<3} {paper:>3}/{len(rs):<3} {mean('rotation_error'):8.2f} "
              f"{mean('scale_error'):8.2f} {mean('translation_error'):8.2f}  "
              + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("\nwrong runs:")
    for r in records:
        if r["status"] != "ok":
            print(f"  {r['clip']} {r['motion']}: FAILED {r['error']}")
        elif not r["camera"]["correct"]:
            print(f"  {r['clip']} {r['motion']}: {r['camera']['reason']}")
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
