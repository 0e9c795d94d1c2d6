"""Building a training set: samples into shards, in parallel, resumable, split across machines.

Sample ``i`` of a build belongs to shard ``i // samples_per_shard``; shard ``j`` is
made by the machine with ``j % num_shards == shard_index`` (so ``--num-shards N
--shard-index I`` splits a build across any scheduler's N jobs, each writing its own
shards into a shared folder). Within a machine, samples (not shards) are the unit of
work for the process pool, so a few shards still keep every worker busy; the
parent packs a shard as soon as its last sample lands.

Every sample depends only on ``(seed, index)`` and the sources, so a build is
deterministic, and restarting a killed build redoes only missing samples
(:mod:`facecam.data.shards` explains the staging). Options that change samples are
stored in ``build.json``; a restart with different ones is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .._atomic import write_text_atomic
from ..errors import FacecamError
from .nersemble import scan_nersemble
from .samples import SAMPLE_FORMAT, BuildConfig, SampleContext, Sources, make_sample
from .shards import (STAGING, clean_stale, is_sample_done, pack_shard, shard_name, staging_dir, write_failed,
                     write_sample)
from .stitch import LandmarkCache
from .wild import scan_wild

SETTINGS_FILE = "build.json"

log = logging.getLogger(__name__)


@dataclass
class BuildSummary:
    """What a build (one machine's part of it) did."""

    shards: list[str] = field(default_factory=list)  # shard files of this part, complete
    samples_made: int = 0  # made by this run
    samples_resumed: int = 0  # already present from an earlier run
    failed: list[int] = field(default_factory=list)  # indices left out (no face after every attempt)
    kinds: dict = field(default_factory=dict)  # samples made per source kind
    retried: int = 0  # failed attempts that were re-planned
    reasons: dict = field(default_factory=dict)  # why attempts failed -> how often
    short: int = 0  # samples made from a clip or sequence with fewer frames than a sample: its last frame is held
    packed: int = 0  # shards this run packed (an earlier run's complete ones are only listed)
    seconds: float = 0.0

    @property
    def samples_per_minute(self) -> float:
        return 60.0 * self.samples_made / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"shards": self.shards, "samples_made": self.samples_made, "samples_resumed": self.samples_resumed,
                "failed": self.failed, "kinds": self.kinds, "retried_attempts": self.retried,
                "failure_reasons": self.reasons, "short_clip_samples": self.short,
                "seconds": round(self.seconds, 2), "samples_per_minute": round(self.samples_per_minute, 3)}


def load_sources(nersemble: Optional[str], wild: Optional[str], split: str = "train",
                 include_marked: bool = False) -> Sources:
    return Sources(scan_nersemble(nersemble, split, include_marked=include_marked) if nersemble else [],
                   scan_wild(wild) if wild else [])


def relative_clips(clips: list[str]) -> list[str]:
    """Clip paths relative to the folder that holds them all, so a build's settings are the same on
    machines that mount the data in different places."""
    if not clips:
        return []
    root = os.path.commonpath([os.path.dirname(os.path.abspath(c)) for c in clips])
    return [os.path.relpath(os.path.abspath(c), root) for c in clips]


def shard_count(num_samples: int, samples_per_shard: int) -> int:
    """How many shards a build of ``num_samples`` makes (the last one may hold fewer)."""
    return math.ceil(num_samples / samples_per_shard)


def shard_plan(num_samples: int, samples_per_shard: int, num_shards: int = 1, shard_index: int = 0) -> dict[int, list[int]]:
    """Shard -> sample indices, for the shards this machine owns."""
    if num_samples < 1:
        raise FacecamError(f"--samples must be at least 1, got {num_samples}")
    if samples_per_shard < 1:
        raise FacecamError(f"--samples-per-shard must be at least 1, got {samples_per_shard}")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise FacecamError(f"--shard-index must be in [0, --num-shards), got {shard_index} of {num_shards}")
    total = shard_count(num_samples, samples_per_shard)
    return {j: list(range(j * samples_per_shard, min((j + 1) * samples_per_shard, num_samples)))
            for j in range(total) if j % num_shards == shard_index}


def _check_settings(out: Path, settings: dict) -> None:
    """Write ``build.json`` on the first run; refuse to resume with different sample-changing options."""
    path = out / SETTINGS_FILE
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != settings:
            diff = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise FacecamError(f"{out} holds a build with other options ({', '.join(diff)}); use a new -o folder")
        return
    write_text_atomic(path, json.dumps(settings, indent=1, sort_keys=True))


# --- worker side -------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(out: str, seed: int, sources: Sources, config: BuildConfig, cache: str, encoder, threads: int) -> None:
    import cv2

    if threads:
        cv2.setNumThreads(threads)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    _WORKER.update(out=Path(out), seed=seed, sources=sources, config=config, encoder=encoder,
                   context=SampleContext(LandmarkCache(cache)),
                   wild_names=dict(zip(sources.wild, relative_clips(sources.wild))))


def _make_one(job: tuple[int, int]) -> tuple[int, int, Optional[str], list[str], bool]:
    """Make sample ``index`` of ``shard``; returns (shard, index, kind or None if failed, failed attempts' reasons,
    whether its clip or sequence ran out of frames: its last frame is held)."""
    shard, index = job
    w = _WORKER
    config: BuildConfig = w["config"]
    sample, failures = make_sample(index, w["seed"], w["sources"], config, w["context"])
    if sample is None:
        write_failed(w["out"], shard, index, failures)
        return shard, index, None, failures, False
    latents = None
    if w["encoder"] is not None:
        from .latents import encode_latents

        latents = encode_latents(w["encoder"], {"source": sample.source, "target": sample.target,
                                                "condition": sample.condition})
    meta = {**sample.meta, "format": SAMPLE_FORMAT, "key": f"sample-{index:08d}", "shard": shard,
            "config": config.to_dict(), "latents": sorted(latents) if latents else []}
    if "clip" in meta:  # named as build.json's wild_clips names it, not as typed (relative to the build's cwd)
        meta["clip"] = w["wild_names"].get(meta["clip"], meta["clip"])
    write_sample(w["out"], shard, index, sample.source, sample.target, sample.condition_meshes, meta, config.fps,
                 latents)
    short = sample.meta.get("frames_held", 0) > 0
    return shard, index, sample.meta["kind"], failures, short


# --- parent side -------------------------------------------------------------------------

def build_dataset(out: str | os.PathLike, sources: Sources, num_samples: int, seed: int = 0,
                  config: Optional[BuildConfig] = None, workers: int = 1, num_shards: int = 1,
                  shard_index: int = 0, encoder=None, cache: Optional[str | os.PathLike] = None,
                  progress: bool = True, on_sample: Optional[Callable[[int], None]] = None) -> BuildSummary:
    """Make this machine's shards of a build (see the module docstring).

    Args:
        out: output folder (shared by all machines of a split build).
        sources: NeRSemble sequences and/or in-the-wild clips.
        num_samples: samples in the whole build (all machines).
        seed: build seed; sample ``i`` depends only on ``(seed, i)``.
        config: sample options (frames, size, K, ranges, ...).
        workers: processes on this machine.
        num_shards, shard_index: this machine's part of the build.
        encoder: optional object with ``encode_video((T, H, W, 3) uint8) -> (16, T', h, w)``;
            its latents are stored next to the videos.
        cache: landmark cache folder (default ``OUT/.cache/landmarks``).
        progress: show a progress bar.
        on_sample: called with each finished sample index (tests).

    Returns:
        BuildSummary.
    """
    config = config or BuildConfig()
    out = Path(out)
    plan = shard_plan(num_samples, config.samples_per_shard, num_shards, shard_index)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"seed": seed, "samples": num_samples, "config": config.to_dict(),
                "nersemble_sequences": [s.key for s in sources.nersemble], "wild_clips": relative_clips(sources.wild),
                "latents": encoder is not None}
    _check_settings(out, settings)
    bare = sum(s.masks is None for s in sources.nersemble)
    if bare and config.background == "replace":
        log.warning(f"facecam: warning: {bare} of {len(sources.nersemble)} NeRSemble sequences have no mattes "
                    "(alpha_map/, alpha_maps/ or masks/): their backgrounds are cut out with MediaPipe selfie "
                    "segmentation instead")
    cache = str(cache or out / ".cache" / "landmarks")

    summary = BuildSummary()
    started = time.perf_counter()
    pending: dict[int, set[int]] = {}
    jobs: list[tuple[int, int]] = []
    for shard, indices in plan.items():
        if (out / shard_name(shard)).is_file():
            # Complete; a staging folder left by a kill after the rename is garbage.
            import shutil

            shutil.rmtree(staging_dir(out, shard), ignore_errors=True)
            summary.shards.append(shard_name(shard))
            summary.samples_resumed += len(indices)
            continue
        clean_stale(out, shard)
        missing = [i for i in indices if not is_sample_done(out, shard, i)]
        summary.samples_resumed += len(indices) - len(missing)
        pending[shard] = set(missing)
        jobs.extend((shard, i) for i in missing)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(v) for v in plan.values()), initial=summary.samples_resumed,
                   unit="sample", desc="data build", dynamic_ncols=True)

    def finish_shard(shard: int) -> None:
        path, failed = pack_shard(out, shard, plan[shard])
        summary.packed += 1
        summary.shards.append(path.name)
        summary.failed.extend(failed)

    # Shards whose samples all survived a kill are packed straight away.
    for shard in [s for s, m in pending.items() if not m]:
        finish_shard(shard)
        del pending[shard]

    def record(result: tuple[int, int, Optional[str], list[str], bool]) -> None:
        shard, index, kind, failures, short = result
        summary.samples_made += kind is not None  # a sample left out after every attempt is not made
        summary.short += short
        summary.retried += len(failures)
        for reason in failures:
            if reason in summary.reasons or len(summary.reasons) < 50:
                summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
        if kind is not None:
            summary.kinds[kind] = summary.kinds.get(kind, 0) + 1
        if bar is not None:
            bar.update(1)
        if on_sample is not None:
            on_sample(index)
        pending[shard].discard(index)
        if not pending[shard]:
            finish_shard(shard)
            del pending[shard]

    init_args = (str(out), seed, sources, config, cache, encoder, 1 if workers > 1 else 0)
    try:
        if workers <= 1 or len(jobs) <= 1:
            _init_worker(*init_args)
            try:
                for job in jobs:
                    record(_make_one(job))
            finally:
                _WORKER["context"].close()
                _WORKER.clear()
        else:
            # spawn, not fork: a parent that already ran MediaPipe (or torch) holds threads and locks
            # that a forked child inherits mid-use and can deadlock on.
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
                for result in pool.imap_unordered(_make_one, jobs, chunksize=1):
                    record(result)
    finally:
        if bar is not None:
            bar.close()
    if not pending:  # every shard of this job packed: no staging folder left behind (another job's may remain)
        with contextlib.suppress(OSError):
            (out / STAGING).rmdir()
    summary.seconds = time.perf_counter() - started
    summary.shards.sort()
    summary.failed.sort()
    return summary
