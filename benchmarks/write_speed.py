"""Time to write a run's files: its videos encoded one after another against side by side.

Renders one shared clip with the warp engine (`facecam generate`'s library path), then writes the
run's files (result, condition, cropped input, side-by-side preview, record) with
:func:`facecam.run.write_run` ``--repeat`` times each way, by turns, into a temporary folder:
``facecam.video.outputs.WRITE_THREADS`` at 1 (one video at a time) and at its default. Prints each
time, the fastest of each (a machine whose speed drifts compares like with like) and how many cores the
process kept busy (its CPU time over the wall time).

    python benchmarks/write_speed.py [--frames 81] [--repeat 3] [CLIP]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from shared_clips import clip_paths  # noqa: E402 - beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", default="lp_d3", help="a shared clip's name or a path (default lp_d3)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import facecam.video.outputs as outputs
    from facecam.run import ConditionOptions, EngineOptions, render, write_run
    from facecam.video.io import read_video

    path = clip_paths([args.clip])[0]
    clip = read_video(path, num_frames=args.frames)
    run = render(clip, ConditionOptions(camera="arc-left", frames=args.frames), EngineOptions(),
                 name=path.stem, progress=False)
    side_by_side = outputs.WRITE_THREADS
    times: dict[int, list[float]] = {1: [], side_by_side: []}
    cores: dict[int, list[float]] = {1: [], side_by_side: []}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeat):
            for threads in times:
                outputs.WRITE_THREADS = threads
                start, cpu = time.perf_counter(), time.process_time()
                write_run(run, out)
                times[threads].append(time.perf_counter() - start)
                cores[threads].append((time.process_time() - cpu) / times[threads][-1])
    outputs.WRITE_THREADS = side_by_side
    videos = sorted(name for name in run.files() if name.endswith(".mp4"))
    h, w = run.video.shape[1:3]
    print(f"{path.name}: {len(videos)} videos ({', '.join(videos)}), {args.frames} frames, the result {h}x{w}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for threads, seconds in times.items():
        label = "one at a time" if threads == 1 else f"up to {threads} at once"
        print(f"  {label:16s} fastest {min(seconds):.2f} s  (each: {', '.join(f'{s:.2f}' for s in seconds)}); "
              f"cores busy {min(cores[threads]):.2f}-{max(cores[threads]):.2f} (process CPU time / wall time)")


if __name__ == "__main__":
    main()
