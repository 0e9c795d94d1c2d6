"""Is the sound of a run's videos the source's, in sync? (the shared clips that have sound)

For each clip: `facecam condition`'s library path (`render` + `write_run`, 49 frames from ``--start``),
then the sound of the written ``_input.mp4`` is cross-correlated with the source's own sound over the
same span: the lag (milliseconds; 0 = in sync, positive = the output's sound late) that best aligns them
within +-50 ms, their correlation there (1 = the same sound; AAC re-encoding keeps it near 1), and the
sound's length against the frames'. Also the seconds the sound added to writing the run's files.

    python benchmarks/audio_sync.py [--start 3] [CLIP ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from shared_clips import clip_paths  # noqa: E402 - beside this script


def sound(path) -> tuple[float, np.ndarray, int] | None:
    """(time of the first sample, mono samples, rate) of a file's first audio stream, or None."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        first, chunks = None, []
        for frame in container.decode(audio=0):
            if first is None:
                first = float(frame.pts * frame.time_base)
            chunks.append(frame.to_ndarray().reshape(len(frame.layout.channels), -1).astype(np.float32).mean(axis=0))
        return first or 0.0, np.concatenate(chunks), container.streams.audio[0].codec_context.sample_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="*", help="clip paths or shared clip names (default: the shared clips)")
    parser.add_argument("--start", type=float, default=3.0, help="--start of the runs, seconds (default 3)")
    args = parser.parse_args()

    from facecam.run import ConditionOptions, render, write_run

    print(f"{'clip':14} {'lag ms':>7} {'corr':>6} {'sound s':>8} {'frames s':>8} {'+write s':>8}")
    for path in clip_paths(args.clips):
        source = sound(path)
        if source is None:
            print(f"{path.stem:14} no sound")
            continue
        run = render(path, ConditionOptions(camera="arc-left", frames=49, start=args.start))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            written = write_run(run, tmp)
            with_sound = time.perf_counter() - t0
            audio, run.audio = run.audio, None
            t0 = time.perf_counter()
            write_run(run, os.path.join(tmp, "silent"))
            silent = time.perf_counter() - t0
            run.audio = audio
            out = sound(written[f"{run.name}_input.mp4"])
        first, samples, rate = out
        s_first, s_samples, s_rate = source
        assert rate == s_rate, "the comparison reads both at one rate"
        # Output sample i plays at output time first + i / rate = source time start + that.
        at = int(round((args.start + first - s_first) * rate))
        reach, n = int(0.05 * rate), min(len(samples), len(s_samples) - int(round((args.start - s_first) * rate))) - int(0.1 * rate)
        a = samples[reach:n - reach]
        if np.sqrt(np.mean(s_samples[at:at + n] ** 2)) < 1e-4:
            print(f"{path.stem:14} the source's sound is silent over the span (nothing to align)")
            continue
        best, lag = -2.0, 0
        for k in range(-reach, reach + 1, max(1, rate // 8000)):
            b = s_samples[at + reach + k:at + n - reach + k]
            c = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-9))
            if c > best:
                best, lag = c, k
        # A positive lag: the source's matching sound comes later, so the output's sound plays it early.
        print(f"{path.stem:14} {-1000.0 * lag / rate:7.2f} {best:6.3f} {len(samples) / rate:8.3f} "
              f"{len(run.clip.source) / run.clip.fps:8.3f} {with_sound - silent:8.2f}")


if __name__ == "__main__":
    main()
