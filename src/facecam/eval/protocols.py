"""The paper's two benchmarks, runnable on any engine's output.

Dynamic setting (paper 4.1 and 4.3): in-the-wild videos x the 10 canonical
camera motions. The paper assigns each motion to 10 of its 100 videos; with
fewer than 10 videos per motion, every video gets every motion. Each run is
rendered by a *renderer* (our engines through :mod:`facecam.cli.bench`, or any
callable), then scored: camera correctness (:mod:`.camera`), identity
similarity input vs output (:mod:`.identity`) and our weight-free video-quality
scores (:mod:`.video_quality`). Every run leaves ``runs/<video>__<motion>.json``;
a rerun skips runs whose JSON says ``"status": "ok"``.

Static setting (paper 4.2, supplement table 4): Ava-256, 10 identities x 10
source/target camera pairs; generated videos are compared with the target
camera's real video by PSNR, SSIM, LPIPS and identity similarity. The folder
layouts are in :func:`ava256_paths` and ``docs/evaluation.md``. Missing views
can be generated first (:func:`generate_static`): the source camera's video
conditioned on the face mesh of the target camera's first frame, repeated
(:func:`build_static_clip`).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from ..camera.trajectory import CameraTrajectory
from ..errors import FacecamError
from .camera import Tolerances, evaluate_clips
from .identity import FaceEmbedder, identity_similarity

CANONICAL_MOTIONS = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out",
                     "arc-left", "arc-right", "arc-up", "arc-down")
PAPER_VIDEOS_PER_MOTION = 10

# Supplement, section 4.2 and table 4.
AVA256_IDENTITIES = ("KDA058", "XJT672", "LAS440", "IFG774", "EID363", "NRE683", "PAK800", "MCR809",
                     "SKB942", "KJJ701")
AVA256_PAIRS = (("cam_400944", "cam_401031"), ("cam_400944", "cam_401410"), ("cam_400981", "cam_401045"),
                ("cam_400981", "cam_401292"), ("cam_401163", "cam_401031"), ("cam_401163", "cam_401458"),
                ("cam_401168", "cam_401045"), ("cam_401168", "cam_401292"), ("cam_401316", "cam_401410"),
                ("cam_401316", "cam_401458"))
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_FRAME_FOLDER_FPS = 24.0  # frame rate given to generated views of cameras stored as frame folders


@dataclass
class RenderedRun:
    """What a renderer hands back for one (video, camera) run.

    Attributes:
        source: ``(T, H, W, 3)`` uint8, the clip the engine was given (cropped).
        generated: ``(T, H, W, 3)`` uint8, the engine's output.
        fps: frame rate of both.
        trajectory: the camera the output should follow.
        files: paths the renderer wrote (recorded in the run's JSON).
        source_landmarks: the source's :class:`~facecam.face.landmarks.LandmarkTrack`
            when the renderer already has it (the judge reuses its found frames).
    """

    source: np.ndarray
    generated: np.ndarray
    fps: float
    trajectory: CameraTrajectory
    files: Optional[dict] = None
    source_landmarks: Optional[object] = None


Renderer = Callable[[Path, str, Path], RenderedRun]
"""``renderer(video_path, camera_preset, run_dir) -> RenderedRun``."""


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: dict) -> None:
    """Write JSON under a temporary name and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_json_safe(data), indent=1))
    os.replace(tmp, path)


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly inside ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FacecamError(f"--videos must be a folder of videos: {root}")
    videos = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise FacecamError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {root}")
    return videos


def assign_motions(videos: Sequence[Path], motions: Sequence[str] = CANONICAL_MOTIONS,
                   per_motion: int = PAPER_VIDEOS_PER_MOTION) -> list[tuple[Path, str]]:
    """(video, motion) runs: the paper's round-robin when there are enough videos, else all pairs.

    With at least ``per_motion * len(motions)`` videos, video ``i`` (sorted) gets
    motion ``i % len(motions)`` and only the first ``per_motion * len(motions)``
    videos are used (the paper: 100 videos, 10 per motion). With fewer, every
    video gets every motion.
    """
    needed = per_motion * len(motions)
    if len(videos) >= needed:
        return [(v, motions[i % len(motions)]) for i, v in enumerate(videos[:needed])]
    return [(v, m) for v in videos for m in motions]


def run_id(video: Path, motion: str) -> str:
    return f"{video.stem}__{motion}"


def score_dynamic_run(rendered: RenderedRun, embedder: Optional[FaceEmbedder],
                      tolerances: Tolerances = Tolerances(), identity_samples: int = 9) -> dict:
    """Camera correctness (the strict judge), identity similarity, our video-quality scores and the
    flat/smeared face area over the input's (:mod:`facecam.eval.artifacts`) of one run."""
    from .artifacts import artifact_score
    from .identity import embed_frames, sample_indices, score_embeddings
    from .video_quality import video_quality

    verdict = evaluate_clips(rendered.source, rendered.generated, rendered.trajectory, tolerances,
                             input_landmarks=rendered.source_landmarks)
    ident, gen_embs = None, None
    if embedder is not None:
        # The generated frames' embeddings serve both identity and subject consistency.
        idx = sample_indices(min(len(rendered.source), len(rendered.generated)), identity_samples)
        gen_embs = embed_frames(rendered.generated[idx], embedder)
        ident = score_embeddings(embed_frames(rendered.source[idx], embedder), gen_embs, embedder.model).to_dict()
    quality = video_quality(rendered.generated, rendered.fps, embedder, embeddings=gen_embs)
    artifacts = artifact_score(rendered.source, rendered.generated, samples=identity_samples)
    return {"camera": verdict.to_dict(), "identity": ident, "quality": quality, "artifacts": artifacts.to_dict(),
            "frames": int(len(rendered.generated)), "size": list(rendered.generated.shape[1:3])}


def run_dynamic(videos: Sequence[Path], out_dir: str | os.PathLike, renderer: Renderer, *,
                method: str, embedder: Optional[FaceEmbedder] = None,
                motions: Sequence[str] = CANONICAL_MOTIONS, per_motion: int = PAPER_VIDEOS_PER_MOTION,
                tolerances: Tolerances = Tolerances(), options: Optional[dict] = None,
                identity_samples: int = 9, log: Callable[[str], None] = print) -> list[dict]:
    """Render and score every (video, motion) run not finished yet; return every run's record.

    Runs whose rendering or scoring raises a :class:`FacecamError` are recorded
    with ``"status": "error"`` and the message, and retried by the next call.
    """
    out = Path(out_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    plan = assign_motions(videos, motions, per_motion)
    records = []
    for k, (video, motion) in enumerate(plan, 1):
        rid = run_id(video, motion)
        path = runs_dir / f"{rid}.json"
        if path.exists():
            try:
                done = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                done = {}
            if done.get("status") == "ok":
                log(f"[{k}/{len(plan)}] {rid}: done, skipped")
                records.append(done)
                continue
        record = {"run": rid, "video": str(video), "motion": motion, "method": method,
                  "options": options or {}}
        start = time.perf_counter()
        try:
            rendered = renderer(video, motion, runs_dir / rid)
            record["files"] = rendered.files or {}
            record.update(score_dynamic_run(rendered, embedder, tolerances, identity_samples))
            record["status"] = "ok"
        except FacecamError as exc:
            record.update(status="error", error=str(exc))
        record["seconds"] = round(time.perf_counter() - start, 3)
        write_json(path, record)
        verdict = record.get("camera", {}).get("correct")
        log(f"[{k}/{len(plan)}] {rid}: " + (f"correct={verdict}" if record["status"] == "ok"
                                            else f"error: {record['error']}"))
        records.append(record)
    return records


def _mean(values: Iterable) -> Optional[float]:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def camera_errors(camera: dict) -> dict:
    """One run's camera errors as camera-control papers report them, from its verdict's ``errors``.

    ``rotation_error``: mean over judged frames of the per-component errors' norm
    ``sqrt(yaw^2 + pitch^2 + roll^2)`` is approximated by the norm of the
    per-component means (degrees); ``scale_error``: mean ``|log size ratio|``
    error x100 (about percent); ``translation_error``: norm of the mean shift
    errors, x100 (percent of the frame).
    """
    e = camera.get("errors") or {}
    if not all(k in e for k in ("yaw", "pitch", "roll", "scale", "shift_x", "shift_y")):
        return {"rotation_error": None, "scale_error": None, "translation_error": None}
    return {"rotation_error": math.sqrt(sum(e[k]["mean"] ** 2 for k in ("yaw", "pitch", "roll"))),
            "scale_error": 100.0 * e["scale"]["mean"],
            "translation_error": 100.0 * math.hypot(e["shift_x"]["mean"], e["shift_y"]["mean"])}


def failure_kind(reason: str) -> str:
    """A judge's reason reduced to its kind: ``uncommanded roll``, ``yaw magnitude``, ``shift_x course``, ``face missing``."""
    words = reason.split()
    if not words:
        return ""
    if words[0] == "face":
        return "face missing"
    if words[0] == "uncommanded":
        return " ".join(words[:2])
    return f"{words[0]} magnitude" if "reached" in words[:2] else f"{words[0]} course"


def summarize_dynamic(records: Sequence[dict], method: str) -> dict:
    """Table-2 style summary (percentages), overall and per motion.

    Camera correctness counts every planned run: one that failed to render or
    to score counts as wrong, not as absent. The other columns average the
    runs that were scored (``runs`` counts all, ``failed`` the failures).
    """
    ok = [r for r in records if r.get("status") == "ok"]
    models = sorted({r["identity"]["model"] for r in ok if r.get("identity")})

    def row(rs: Sequence[dict]) -> dict:
        def pct(v):
            return None if v is None else 100.0 * v

        good = [r for r in rs if r.get("status") == "ok"]
        errs = [camera_errors(r["camera"]) for r in good]
        return {
            "camera_correctness": pct(_mean(float(r.get("status") == "ok" and bool(r["camera"]["correct"]))
                                            for r in rs)),
            "identity_similarity": pct(_mean(r["identity"]["similarity"] for r in good if r.get("identity"))),
            "imaging_quality": None,
            "aesthetic_quality": None,
            "ours_subject_consistency": pct(_mean(r["quality"]["ours_subject_consistency"] for r in good)),
            "background_consistency": None,
            "ours_motion_smoothness": pct(_mean(r["quality"]["ours_motion_smoothness"] for r in good)),
            "ours_dynamic_degree": pct(_mean(r["quality"]["ours_dynamic_degree"] for r in good)),
            "ours_temporal_stability": pct(_mean(r["quality"]["ours_temporal_stability"] for r in good)),
            "paper_camera_correctness": pct(_mean(float(r.get("status") == "ok"
                                                        and bool(r["camera"].get("paper_correct"))) for r in rs)),
            "rotation_error": _mean(e["rotation_error"] for e in errs),
            "scale_error": _mean(e["scale_error"] for e in errs),
            "translation_error": _mean(e["translation_error"] for e in errs),
            # worst checked frame's flat/smeared face area over the input's, averaged over runs (fraction)
            "artifact_excess": _mean((r.get("artifacts") or {}).get("max_excess") for r in good),
            "face_missing_runs": sum(1 for r in good if (r["camera"].get("face_missing") or {}).get("count")),
            "failed": len(rs) - len(good),
            "runs": len(rs),
        }

    motions = [m for m in CANONICAL_MOTIONS if any(r["motion"] == m for r in records)]
    motions += sorted({r["motion"] for r in records} - set(motions))
    wrong: dict[str, int] = {}
    for r in ok:
        if not r["camera"]["correct"]:
            for part in (r["camera"].get("reason") or "").split("; "):
                key = failure_kind(part)
                wrong[key] = wrong.get(key, 0) + 1
    return {
        "method": method,
        "identity_model": ", ".join(models) if models else None,
        "overall": row(records),
        "per_motion": {m: row([r for r in records if r["motion"] == m]) for m in motions},
        "failure_reasons": dict(sorted(wrong.items(), key=lambda kv: -kv[1])),
        "errors": [{"run": r["run"], "error": r.get("error")} for r in records if r.get("status") != "ok"],
    }


# --------------------------------------------------------------------------- static (Ava-256)

def _find_clip(folder: Path, stem: str) -> Optional[Path]:
    for suffix in VIDEO_SUFFIXES:
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    d = folder / stem
    if d.is_dir() and any(f.suffix.lower() in FRAME_SUFFIXES for f in d.iterdir()):
        return d
    return None


def ava256_paths(ava_dir: Path, generated_dir: Path, identity: str, source_cam: str,
                 target_cam: str) -> dict:
    """Where one static run's files are expected.

    * ground truth: ``<ava_dir>/<IDENTITY>/<target_cam>.mp4`` (or a folder
      ``<ava_dir>/<IDENTITY>/<target_cam>/`` of frames, sorted by name);
    * source (what the engine was given): ``<ava_dir>/<IDENTITY>/<source_cam>.mp4``;
    * generated: ``<generated_dir>/<IDENTITY>/<source_cam>_to_<target_cam>.mp4``.
    """
    return {"target": _find_clip(ava_dir / identity, target_cam),
            "source": _find_clip(ava_dir / identity, source_cam),
            "generated": _find_clip(generated_dir / identity, f"{source_cam}_to_{target_cam}")}


def read_frames(path: Path, max_frames: Optional[int] = None) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB of a video (at its own rate) or a folder of frames."""
    from ..video.io import read_image, read_video

    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in FRAME_SUFFIXES)
        files = files[:max_frames] if max_frames else files
        return np.stack([read_image(f) for f in files])
    frames = read_video(path, fps=None, num_frames=None).frames
    return frames[:max_frames] if max_frames else frames


def _fit(generated: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if generated.shape[1:3] == tuple(size):
        return generated
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in generated])


def score_static_pair(target: np.ndarray, generated: np.ndarray, lpips=None,
                      embedder: Optional[FaceEmbedder] = None, identity_samples: int = 9) -> dict:
    """PSNR, SSIM, LPIPS (None without weights) and identity of a generated clip vs the real target view.

    The generated frames are resized to the target's size when they differ;
    the shorter length is used.
    """
    from .metrics import video_psnr, video_ssim

    resized = generated.shape[1:3] != target.shape[1:3]
    gen = _fit(generated, target.shape[1:3])
    n = min(len(gen), len(target))
    gen, tgt = gen[:n], target[:n]
    ident = identity_similarity(tgt, gen, embedder, identity_samples).to_dict() if embedder else None
    return {"psnr": video_psnr(tgt, gen), "ssim": video_ssim(tgt, gen),
            "lpips": lpips(tgt, gen) if lpips is not None else None,
            "identity": ident, "frames": n, "resized": bool(resized)}


def run_static(ava_dir: str | os.PathLike, generated_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               method: str, identities: Sequence[str] = AVA256_IDENTITIES,
               pairs: Sequence[tuple[str, str]] = AVA256_PAIRS, max_frames: Optional[int] = None,
               lpips=None, lpips_note: str = "", embedder: Optional[FaceEmbedder] = None,
               log: Callable[[str], None] = print) -> list[dict]:
    """Score every (identity, camera pair) whose files exist; missing ones are recorded, not fatal.

    Raises:
        FacecamError: no pair had both its target and generated video.
    """
    ava, gen_root, out = Path(ava_dir), Path(generated_dir), Path(out_dir)
    if not ava.is_dir():
        raise FacecamError(f"--ava256 must be a folder laid out as <IDENTITY>/<cam>.mp4: {ava}")
    if not gen_root.is_dir():
        raise FacecamError(f"--generated must be a folder laid out as <IDENTITY>/<src>_to_<tgt>.mp4: {gen_root}")
    records = []
    for identity in identities:
        for src, tgt in pairs:
            rid = f"{identity}__{src}_to_{tgt}"
            paths = ava256_paths(ava, gen_root, identity, src, tgt)
            record = {"run": rid, "subject": identity, "source_camera": src, "target_camera": tgt,
                      "method": method, "files": {k: str(v) if v else None for k, v in paths.items()}}
            if paths["target"] is None or paths["generated"] is None:
                missing = [k for k in ("target", "generated") if paths[k] is None]
                record.update(status="missing", error=f"missing {' and '.join(missing)}")
            else:
                try:
                    target = read_frames(paths["target"], max_frames)
                    generated = read_frames(paths["generated"], max_frames)
                    box = _target_crop(paths["generated"])
                    if box is not None:  # our own output: compare with the target seen through its crop
                        from ..video.crop import apply_crop

                        target = apply_crop(target, box)
                        record["target_crop"] = box.to_dict()
                    record.update(score_static_pair(target, generated, lpips, embedder))
                    record["lpips_note"] = lpips_note if lpips is None else ""
                    record["status"] = "ok"
                except FacecamError as exc:
                    record.update(status="error", error=str(exc))
            write_json(out / "runs" / f"{rid}.json", record)
            if record["status"] != "missing":
                log(f"{rid}: " + (f"PSNR {record['psnr']:.2f} SSIM {record['ssim']:.4f}"
                                  if record["status"] == "ok" else f"error: {record['error']}"))
            records.append(record)
    if not any(r["status"] == "ok" for r in records):
        raise FacecamError(f"no Ava-256 pair could be scored: none had both {ava}/<IDENTITY>/<target cam>.mp4 "
                           f"and {gen_root}/<IDENTITY>/<src cam>_to_<target cam>.mp4 (see docs/evaluation.md)")
    return records


def static_output_path(generated_dir: str | os.PathLike, identity: str, source_cam: str, target_cam: str) -> Path:
    """Where a generated view is written: ``<generated_dir>/<IDENTITY>/<source_cam>_to_<target_cam>.mp4``."""
    return Path(generated_dir) / identity / f"{source_cam}_to_{target_cam}.mp4"


def static_sidecar_path(video: Path) -> Path:
    """The JSON written beside a view we generated (``<src>_to_<tgt>.json``): options and the target's crop."""
    return video.with_suffix(".json")


def read_camera(path: Path, num_frames: int, fps: float = DEFAULT_FRAME_FOLDER_FPS):
    """The first ``num_frames`` frames of one camera, at the capture's own rate (no resampling).

    ``path`` is a video or a folder of frames (:func:`ava256_paths`); a short
    clip holds its last frame. Frame ``i`` of every camera of a capture is
    the same instant, which is what the scorer compares, so nothing is
    resampled. A frame folder has no rate of its own: ``fps`` is used.

    Returns:
        :class:`~facecam.video.io.VideoClip`.
    """
    from ..video.io import VideoClip, check_frame_count, read_video

    check_frame_count(num_frames)
    if not path.is_dir():
        return read_video(path, fps=None, num_frames=num_frames)
    frames = read_frames(path, num_frames)
    taken = len(frames)
    if taken < num_frames:
        frames = np.concatenate([frames, np.repeat(frames[-1:], num_frames - taken, axis=0)])
    return VideoClip(frames, float(fps), str(path), taken)


def build_static_clip(source, target, target_camera: str, size: tuple[int, int],
                      name: str = "clip"):
    """The paper's static-setting input: the source camera's video and the target camera's first-frame mesh.

    The source is cropped with the reference face crop
    (:func:`~facecam.condition.builder.crop_to_face`); the target's **first
    frame** is cropped the same way (its own nose-centred box) and its
    MediaPipe face mesh is drawn once and repeated over every frame - the
    head frozen at t0, only the camera changes (the recipe of the training
    data's multi-view conditions, :func:`facecam.data.stitch.condition_frames`).

    Args:
        source: :class:`~facecam.video.io.VideoClip` of the source camera (``T`` frames, ``4k + 1``).
        target: :class:`~facecam.video.io.VideoClip` of the target camera (only frame 0 is used).
        target_camera: the target camera's name, kept in ``trajectory.meta["static_target"]``.
        size: output ``(height, width)``.
        name: output stem.

    Returns:
        :class:`~facecam.condition.builder.ConditionedClip` with a ``static``
        trajectory; ``options["target_crop"]`` is the crop box of the target
        camera, i.e. the framing the generated view should have.

    Raises:
        NoFaceError: no face in the target's first frame (or in the source).
    """
    from ..camera.trajectory import preset
    from ..condition.builder import ConditionedClip, crop_to_face
    from ..data.stitch import condition_frames
    from ..errors import NoFaceError
    from ..face.landmarks import detect_image_landmarks, detect_landmarks
    from ..video.io import VideoClip

    frames, box = crop_to_face(source, size)
    first = VideoClip(target.frames[:1], target.fps, target.path, 1)
    try:
        target_first, target_box = crop_to_face(first, size)
    except NoFaceError:
        raise NoFaceError(f"no face in the first frame of the target camera {target_camera}"
                          + (f" ({target.path})" if target.path else "")) from None
    points = detect_image_landmarks(target_first[0])
    if points is None:
        raise NoFaceError(f"no face in the cropped first frame of the target camera {target_camera}")
    t = len(frames)
    trajectory = preset("static", t)
    trajectory.meta["static_target"] = target_camera
    condition_points = np.repeat(points[None].astype(np.float32), t, axis=0)
    options = {"camera": "static", "static_target": target_camera, "frames": t, "fps": source.fps,
               "size": list(size), "source": source.path, "source_frames": source.source_frames,
               "target": target.path, "target_crop": target_box.to_dict()}
    return ConditionedClip(frames, condition_frames(points, size, t), float(source.fps), trajectory,
                           detect_landmarks(frames), condition_points, name, box, options)


def generate_static(ava_dir: str | os.PathLike, generated_dir: str | os.PathLike, engine, options=None, *,
                    identities: Sequence[str] = AVA256_IDENTITIES,
                    pairs: Sequence[tuple[str, str]] = AVA256_PAIRS, loaded=None,
                    log: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Generate every missing ``GEN/<ID>/<src>_to_<tgt>.mp4`` through the run API (resumable).

    ``engine`` is a :class:`~facecam.run.EngineOptions` (``loaded``: that engine, already built);
    ``options`` a :class:`~facecam.run.ConditionOptions` whose ``frames``, ``size`` and ``seed``
    are used (the camera is the target view, not a move).

    Existing outputs are left alone. A pair whose source or target camera is
    missing is skipped (the scorer records it); one whose generation raises a
    :class:`FacecamError` is logged and left for the scorer to record as
    missing. Each output is written atomically with a sidecar JSON
    (:func:`static_sidecar_path`) holding the options and the target's crop.

    Returns:
        ``{"generated": [...], "existing": [...], "skipped": [...], "failed": [...]}`` of run ids.
    """
    from ..run import ConditionOptions, load_engine, render_clip
    from ..video.io import write_video

    options = options or ConditionOptions(camera="static")
    num_frames, size = options.frames, tuple(options.size)
    loaded = loaded or load_engine(engine)
    ava, gen_root = Path(ava_dir), Path(generated_dir)
    if not ava.is_dir():
        raise FacecamError(f"--ava256 must be a folder laid out as <IDENTITY>/<cam>.mp4: {ava}")
    gen_root.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {"generated": [], "existing": [], "skipped": [], "failed": []}
    for identity in identities:
        for src, tgt in pairs:
            rid = f"{identity}__{src}_to_{tgt}"
            out = static_output_path(gen_root, identity, src, tgt)
            if _find_clip(out.parent, out.stem) is not None:
                done["existing"].append(rid)
                continue
            paths = ava256_paths(ava, gen_root, identity, src, tgt)
            if paths["source"] is None or paths["target"] is None:
                done["skipped"].append(rid)
                continue
            start = time.perf_counter()
            try:
                clip = build_static_clip(read_camera(paths["source"], num_frames),
                                         read_camera(paths["target"], 1), tgt, size, name=out.stem)
                result = render_clip(clip, options, engine, loaded=loaded)
            except FacecamError as exc:
                log(f"{rid}: generation failed: {exc}")
                done["failed"].append(rid)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            record = result.record()
            write_json(static_sidecar_path(out), {**clip.options, "seed": options.seed, "engine": record["engine"],
                                                  "engine_options": record["engine_options"],
                                                  "crop": clip.crop.to_dict() if clip.crop else None})
            write_video(out, result.video, clip.fps)
            log(f"{rid}: generated {out} ({time.perf_counter() - start:.1f} s)")
            done["generated"].append(rid)
    return done


def _target_crop(generated: Path):
    """The target crop our generator recorded beside ``generated``, or None (someone else's output)."""
    from ..video.crop import CropBox

    sidecar = static_sidecar_path(generated)
    if generated.is_dir() or not sidecar.is_file():
        return None
    try:
        box = json.loads(sidecar.read_text()).get("target_crop")
        return CropBox(**box) if box else None
    except (json.JSONDecodeError, OSError, TypeError):
        return None


def summarize_static(records: Sequence[dict], method: str) -> dict:
    """Table-1 style summary of the scored pairs (identity similarity as a 0-1 cosine, like the paper)."""
    ok = [r for r in records if r.get("status") == "ok"]
    models = sorted({r["identity"]["model"] for r in ok if r.get("identity")})
    return {
        "method": method,
        "identity_model": ", ".join(models) if models else None,
        "overall": {"psnr": _mean(r["psnr"] for r in ok), "ssim": _mean(r["ssim"] for r in ok),
                    "lpips": _mean(r["lpips"] for r in ok),
                    "identity_similarity": _mean(r["identity"]["similarity"] for r in ok if r.get("identity")),
                    "runs": len(ok)},
        "per_subject": {i: {"psnr": _mean(r["psnr"] for r in ok if r["subject"] == i),
                            "ssim": _mean(r["ssim"] for r in ok if r["subject"] == i),
                            "runs": sum(1 for r in ok if r["subject"] == i)}
                        for i in dict.fromkeys(r["subject"] for r in ok)},
        "missing": [r["run"] for r in records if r.get("status") == "missing"],
        "errors": [{"run": r["run"], "error": r.get("error")} for r in records if r.get("status") == "error"],
    }
