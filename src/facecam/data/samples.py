"""Planning and rendering one training sample (source, target, condition).

A sample is made in two steps so that it is reproducible and inspectable:

1. :func:`plan_sample` draws every random choice for sample ``index`` from a
   generator seeded with ``(seed, index, attempt)`` - the dataset, the clip, the
   cameras, the start time (as a fraction of the room the clip leaves), the
   background colour, the still augmentation and the synthetic motion. The plan is
   a JSON-ready dict; the same seed always gives the same plan.
2. :func:`render_sample` turns a plan into frames, reading only what it needs, and
   returns the frames plus the plan completed with what was resolved on the way
   (start frame, segments, skipped cameras, crop box): the sample's JSON record.

Multi-view (NeRSemble) samples follow REFERENCE.md "Training data recipe": source =
one random camera with still scale-and-place; target = 1..K stitched cameras
(:mod:`facecam.data.stitch`); one random background colour shared by source and
target; zoom/pan on the stitched target and its condition frames alike.
In-the-wild samples: the clip cropped as at inference, the condition = the mesh of
its first frame repeated, target and condition under the same zoom/pan, the source
under a still augmentation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..errors import FacecamError, NoFaceError, VideoError
from ..face.landmarks import NOSE_TIP
from ..face.segmentation import SelfieSegmenter
from ..video.crop import apply_crop, reference_crop
from ..video.cuts import find_cuts
from .augment import (MotionParams, StillParams, corner_colour, replace_background,
                      sample_colour, sample_motion, sample_still, still_augment, zoom_pan)
from .nersemble import NersembleReader, NersembleSequence, read_camera_params
from .condition import condition_record, draw_condition, draw_meshes
from .stitch import LandmarkCache, plan_segments
from .wild import probe_length, read_wild_frames

SAMPLE_FORMAT = "facecam-sample/3"  # /1 stored the condition as H.264, /2 as npz frames; both are refused


@dataclass
class BuildConfig:
    """Options of a dataset build; recorded in every sample's JSON."""

    frames: int = 81  # frames per clip (4k + 1)
    size: tuple[int, int] = (704, 480)  # (height, width)
    fps: float = 24.0  # frame rate written into the mp4s (NeRSemble at stride 3 is ~24.3 fps)
    stride: int = 3  # NeRSemble time step between output frames
    max_targets: int = 4  # K: target cameras stitched per multi-view sample (1..K drawn uniformly)
    still_scale: tuple[float, float] = (0.75, 1.25)  # source scale augmentation range
    nersemble_zoom: tuple[float, float] = (1.0, 1.25)  # synthetic zoom range on NeRSemble targets
    wild_zoom: tuple[float, float] = (1.0, 1.5)  # synthetic zoom range on in-the-wild targets
    wild_fraction: float = 0.022  # share of in-the-wild samples when both are given (paper: 0.2K of 9.1K)
    background: str = "replace"  # "replace" NeRSemble backgrounds with a random colour, or "keep"
    split: str = "train"  # NeRSemble participant split: train, val or all
    samples_per_shard: int = 32
    max_attempts: int = 5  # re-plans of a sample whose clip shows no face, before it is recorded as failed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d


@dataclass
class Sources:
    """What samples are drawn from: NeRSemble sequences and in-the-wild clip paths."""

    nersemble: list[NersembleSequence] = field(default_factory=list)
    wild: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nersemble and not self.wild:
            raise FacecamError("no data source: give --nersemble DIR and/or --wild DIR")


@dataclass
class RenderedSample:
    """Frames of one sample, all ``(T, H, W, 3)`` uint8, and its JSON record.

    ``condition`` is ``condition_meshes`` ``(K, 478, 3)`` drawn as ``meta["condition"]`` and
    ``meta["motion"]`` say (:func:`facecam.data.condition.draw_condition`); the meshes, not the
    frames, are written. ``raw_source``, ``raw_target`` and ``raw_condition`` are the clips before
    the still augmentation and the synthetic motion (for checks); they are not written.
    """

    source: np.ndarray
    target: np.ndarray
    condition: np.ndarray
    condition_meshes: np.ndarray
    meta: dict
    raw_source: Optional[np.ndarray] = None
    raw_target: Optional[np.ndarray] = None
    raw_condition: Optional[np.ndarray] = None


class SampleContext:
    """Per-process tools: the frame reader, the landmark cache and (lazily) the segmenter."""

    def __init__(self, landmarks: Optional[LandmarkCache] = None) -> None:
        self.reader = NersembleReader()
        self.landmarks = landmarks or LandmarkCache()
        self._segmenter: Optional[SelfieSegmenter] = None

    def segment(self, frames: np.ndarray) -> np.ndarray:
        if self._segmenter is None:
            self._segmenter = SelfieSegmenter()
        return self._segmenter(frames)

    def close(self) -> None:
        self.landmarks.close()
        if self._segmenter is not None:
            self._segmenter.close()


def sample_rng(seed: int, index: int, attempt: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), int(attempt)])


def sequence_order(sequences: list[NersembleSequence], seed: int, epoch: int) -> list[int]:
    """A shuffled order of every sequence for one pass (``epoch``) over them, stratified by participant:
    participants take turns, so any run of P consecutive entries spans min(P, participants) of them."""
    rng = np.random.default_rng([int(seed), 0x5E9, int(epoch)])
    groups: dict[str, list[int]] = {}
    for i, seq in enumerate(sequences):
        groups.setdefault(seq.participant, []).append(i)
    queues = [[int(i) for i in rng.permutation(members)] for _, members in sorted(groups.items())]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    order: list[int] = []
    while len(order) < len(sequences):
        for queue in queues:
            if queue:
                order.append(queue.pop())
    return order


_KIND_COUNTS: dict[tuple, list[int]] = {}  # (seed, fraction) -> NeRSemble samples among indices < i


def _is_wild(seed: int, index: int, fraction: float) -> bool:
    """A sample's kind comes from its first draw at attempt 0, so a re-plan never changes it."""
    return float(sample_rng(seed, index, 0).uniform()) < fraction


def nersemble_ordinal(seed: int, index: int, fraction: float) -> int:
    """How many NeRSemble samples come before sample ``index`` when a ``fraction`` of samples are wild."""
    counts = _KIND_COUNTS.setdefault((int(seed), float(fraction)), [0])
    while len(counts) <= index:
        j = len(counts) - 1
        counts.append(counts[-1] + (0 if _is_wild(seed, j, fraction) else 1))
    return counts[index]


def pick_sequence(sources: Sources, seed: int, index: int, attempt: int, fraction: float) -> NersembleSequence:
    """The sequence of a NeRSemble sample: the n-th NeRSemble sample takes entry n of the passes of
    :func:`sequence_order`, so every sequence is used once before any is used twice. A re-plan
    (``attempt`` > 0, the clip showed no face) moves on to a later sequence of the same pass."""
    n = len(sources.nersemble)
    ordinal = nersemble_ordinal(seed, index, fraction) if sources.wild else index
    epoch, slot = divmod(ordinal, n)
    return sources.nersemble[sequence_order(sources.nersemble, seed, epoch)[(slot + attempt * 7919) % n]]


def plan_sample(index: int, seed: int, sources: Sources, config: BuildConfig, attempt: int = 0) -> dict:
    """Every random choice of sample ``index``, as a JSON-ready dict."""
    rng = sample_rng(seed, index, attempt)
    # Drawn unconditionally so the rest of the stream does not depend on which sources exist.
    rng.uniform()
    use_wild = bool(sources.wild) and (not sources.nersemble or _is_wild(seed, index, config.wild_fraction))
    plan = {"index": int(index), "seed": int(seed), "attempt": int(attempt),
            "kind": "wild" if use_wild else "nersemble", "start_fraction": float(rng.uniform())}
    if use_wild:
        plan["clip"] = sources.wild[int(rng.integers(len(sources.wild)))]
        plan["motion"] = sample_motion(rng, config.wild_zoom).to_dict()
        plan["still"] = sample_still(rng, config.still_scale).to_dict()
        return plan
    rng.integers(len(sources.nersemble))  # kept so the draws after it stay where they were
    seq = pick_sequence(sources, seed, index, attempt, config.wild_fraction)
    cams = list(seq.cameras)
    plan["sequence"] = seq.to_dict()
    plan["source_camera"] = cams[int(rng.integers(len(cams)))]
    plan["num_targets"] = int(min(rng.integers(1, config.max_targets + 1), len(cams)))
    # A full camera order: the first num_targets cameras with a face become the segments.
    plan["camera_order"] = [cams[i] for i in rng.permutation(len(cams))]
    plan["background_colour"] = list(sample_colour(rng))
    plan["motion"] = sample_motion(rng, config.nersemble_zoom).to_dict()
    plan["still"] = sample_still(rng, config.still_scale).to_dict()
    return plan


def render_sample(plan: dict, config: BuildConfig, context: SampleContext) -> RenderedSample:
    """Frames and JSON record for a plan (see :func:`plan_sample`).

    Raises:
        NoFaceError: when the clip offers no face to condition on.
    """
    if plan["kind"] == "wild":
        return _render_wild(plan, config, context)
    return _render_nersemble(plan, config, context)


def _start_frame(fraction: float, total: int, needed: int) -> int:
    return int(fraction * (max(total - needed, 0) + 1))


def _render_nersemble(plan: dict, config: BuildConfig, ctx: SampleContext) -> RenderedSample:
    seq = NersembleSequence(**{**plan["sequence"], "cameras": tuple(plan["sequence"]["cameras"])})
    size, count, stride = tuple(config.size), config.frames, config.stride
    total = ctx.reader.num_frames(seq)
    start = _start_frame(plan["start_fraction"], total, stride * count)

    # Target cameras: the first ones of the planned order whose t0 frame shows a face.
    chosen, points, skipped = [], {}, []
    for cam in plan["camera_order"]:
        if len(chosen) == plan["num_targets"]:
            break
        key = f"nersemble/{seq.key}/{cam}/{start}/{size[0]}x{size[1]}"
        pts = ctx.landmarks.get(key, lambda cam=cam: ctx.reader.read(seq, cam, [start], size, with_masks=False)[0][0])
        if pts is None:
            skipped.append(cam)
            continue
        chosen.append(cam)
        points[cam] = pts
    if not chosen:
        raise NoFaceError(f"no camera of {seq.key} shows a face at frame {start}")

    segments = plan_segments(count, chosen, start, stride, total - 1)
    target_parts, mask_parts = [], []
    for seg in segments:
        frames, masks = ctx.reader.read(seq, seg.camera, seg.times, size)
        target_parts.append(frames)
        mask_parts.append(masks)
    raw_target = np.concatenate(target_parts)
    meshes = np.stack([points[seg.camera] for seg in segments])
    mesh_frames = [len(seg.times) for seg in segments]
    source_times = [min(start + j * stride, total - 1) for j in range(count)]
    source, source_masks = ctx.reader.read(seq, plan["source_camera"], source_times, size)

    colour = tuple(plan["background_colour"])
    background = {"mode": config.background}
    if config.background == "replace":
        if all(m is not None for m in mask_parts) and source_masks is not None:
            target_alpha, source_alpha, background["matte"] = np.concatenate(mask_parts), source_masks, "dataset"
        else:
            target_alpha, source_alpha = ctx.segment(raw_target), ctx.segment(source)
            background["matte"] = "mediapipe-selfie-segmentation"
        raw_target = replace_background(raw_target, target_alpha, colour)
        source = replace_background(source, source_alpha, colour)
        background["colour"] = list(colour)

    still, motion = StillParams(**plan["still"]), MotionParams(**plan["motion"])
    source_fill = corner_colour(source[0])
    meta = {
        **plan,
        "start_frame": start,
        "sequence_frames": total,
        "source_times": source_times,
        "frames_held": sum(start + j * stride > total - 1 for j in range(count)),  # a short sequence's last frame
        "target_cameras": chosen,
        "skipped_cameras": skipped,
        "segments": [s.to_dict() for s in segments],
        "background": background,
        "source_fill": list(source_fill),
        "condition": condition_record(mesh_frames, size),
    }
    calibration = read_camera_params(seq)
    if calibration is not None:
        w2c = calibration.get("world_2_cam", {})
        meta["calibration"] = {"intrinsics": calibration.get("intrinsics"),
                               "world_2_cam": {c: w2c.get(c) for c in [plan["source_camera"], *chosen]}}
    return RenderedSample(
        source=still_augment(source, still, source_fill),
        target=zoom_pan(raw_target, motion, corner_colour(raw_target[0])),
        condition=draw_condition(meshes, mesh_frames, size, motion), condition_meshes=meshes,
        meta=meta, raw_source=source, raw_target=raw_target, raw_condition=draw_meshes(meshes, mesh_frames, size))


def _render_wild(plan: dict, config: BuildConfig, ctx: SampleContext) -> RenderedSample:
    size, count = tuple(config.size), config.frames
    path = plan["clip"]
    length = probe_length(path, config.fps)
    start = _start_frame(plan["start_fraction"], length, count)
    frames, real = read_wild_frames(path, start, count, config.fps, cover=size)
    cuts = find_cuts(frames[:real])
    if cuts:  # the condition is drawn from the first frame's face: after a cut it would lie (another attempt)
        raise VideoError(f"{path} cuts to another shot at frame {start + cuts[0]} (frames {start}-{start + count - 1} "
                         f"were read for one sample, which must be one shot)")
    hw = frames.shape[1:3]
    first = ctx.landmarks.get(f"wild/{path}/{start}/{config.fps}/raw", lambda: frames[0])
    if first is None:
        raise NoFaceError(f"no face at frame {start} of {path} (where this sample's frames begin)")
    box = reference_crop(hw, (float(first[NOSE_TIP, 0]), float(first[NOSE_TIP, 1])), size)
    cropped = apply_crop(frames, box)
    points = ctx.landmarks.get(f"wild/{path}/{start}/{config.fps}/crop/{box.to_dict()}", lambda: cropped[0])
    if points is None:
        raise NoFaceError(f"no face in the cropped first frame of {path} (at frame {start})")
    still, motion = StillParams(**plan["still"]), MotionParams(**plan["motion"])
    source_fill = corner_colour(cropped[0])
    meta = {**plan, "start_frame": start, "clip_frames_read": real, "frames_held": count - real,
            "decoded_size": list(hw), "crop": box.to_dict(),
            "background": {"mode": "keep"}, "source_fill": list(source_fill),
            "condition": condition_record([count], size)}
    return RenderedSample(
        source=still_augment(cropped, still, source_fill),
        target=zoom_pan(cropped, motion, source_fill),
        condition=draw_condition(points[None], [count], size, motion), condition_meshes=points[None],
        meta=meta, raw_source=cropped, raw_target=cropped, raw_condition=draw_meshes(points[None], [count], size))


def make_sample(index: int, seed: int, sources: Sources, config: BuildConfig,
                context: SampleContext) -> tuple[Optional[RenderedSample], list[str]]:
    """Plan and render sample ``index``, re-planning (next attempt) when the clip shows no face or cannot be read.

    Returns the sample (None after ``config.max_attempts`` failures) and the reasons
    of the failed attempts, which go into the record.
    """
    failures = []
    for attempt in range(config.max_attempts):
        plan = plan_sample(index, seed, sources, config, attempt)
        try:
            sample = render_sample(plan, config, context)
        except FacecamError as exc:
            # A clip without a face, or an unreadable file: one bad clip must not stop a build of
            # thousands; the reason is kept in the sample's record and the build summary.
            failures.append(f"{type(exc).__name__}: {exc}")
            continue
        sample.meta["failed_attempts"] = failures
        return sample, failures
    return None, failures
