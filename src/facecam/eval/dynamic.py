"""The paper's dynamic benchmark (paper 4.1 and 4.3): in-the-wild videos x the 10 canonical camera motions.

The paper assigns each motion to 10 of its 100 videos; with fewer than 10
videos per motion, every video gets every motion (:func:`assign_motions`).
Each run is rendered by a *renderer* (:func:`engine_renderer`: our engines
through the run API, as ``facecam generate`` renders; or any callable), then
scored: camera correctness (:mod:`.camera`), identity similarity input vs
output (:mod:`.identity`), our weight-free video-quality scores
(:mod:`.video_quality`) and the flat/smeared face area (:mod:`.artifacts`).
Every run leaves ``runs/<video>__<motion>.json``; a rerun skips runs whose
JSON says ``"status": "ok"``. :func:`summarize_dynamic` makes the table-2
style summary.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from ..camera.trajectory import CameraTrajectory
from ..errors import FacecamError
from ..video.io import VIDEO_EXTENSIONS
from .camera import Tolerances, evaluate_clips
from .identity import FaceEmbedder
from .records import mean_of, write_json

if TYPE_CHECKING:  # pragma: no cover
    from ..run import ConditionOptions, EngineOptions

CANONICAL_MOTIONS = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out",
                     "arc-left", "arc-right", "arc-up", "arc-down")
PAPER_VIDEOS_PER_MOTION = 10


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


def engine_renderer(options: "ConditionOptions", engine: "EngineOptions") -> Renderer:
    """A :data:`Renderer` doing what ``facecam generate`` does, through the run API, files included.

    The engine is built once and reused for every run; each run is
    :func:`facecam.run.render` with ``options`` and the run's motion as the
    camera, written by :func:`facecam.run.write_run` into the run's folder.
    """
    import dataclasses

    from ..run import load_engine, render, write_run

    loaded = load_engine(engine)

    def renderer(video: Path, motion: str, run_dir: Path) -> RenderedRun:
        result = render(video, dataclasses.replace(options, camera=motion), engine, loaded=loaded)
        written = write_run(result, run_dir)
        # The metrics do array arithmetic: a long run's frame buffers are read whole here.
        return RenderedRun(np.asarray(result.clip.source), np.asarray(result.video), result.clip.fps, result.clip.trajectory,
                           {name: str(path) for name, path in written.items()}, result.clip.source_track)

    return renderer


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """Video files directly inside ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FacecamError(f"--videos must be a folder of videos: {root}")
    videos = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not videos:
        raise FacecamError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) in {root}")
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
    # The identity model is part of what a run's record holds: runs scored with none (--no-identity) or
    # another would be averaged with these.
    check_earlier_runs(runs_dir, method, {**(options or {}), "identity": embedder.model if embedder else None})
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
            with run_named(rid):
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


@contextlib.contextmanager
def run_named(rid: str):
    """The run's name in each "facecam: warning:" or "facecam: note:" line logged while it renders: among a
    benchmark's many runs, a line between two runs' verdicts did not say whose it was."""
    import logging

    class Named(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            message = record.getMessage()
            for head in ("facecam: warning: ", "facecam: note: "):
                if message.startswith(head) and not message.startswith(f"{head}{rid}: "):
                    record.msg, record.args = f"{head}{rid}: {message[len(head):]}", ()
            return True

    logger, named = logging.getLogger("facecam"), Named()
    logger.addFilter(named)
    try:
        yield
    finally:
        logger.removeFilter(named)


def check_earlier_runs(runs_dir: Path, method: str, options: dict) -> None:
    """Refuse a folder whose finished runs were made by another method or with other options: they
    would be skipped as done and mixed into one table with the new ones."""
    for path in sorted(runs_dir.glob("*.json")):
        try:
            done = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if done.get("status") != "ok":
            continue
        before = {**(done.get("options") or {}), "method": done.get("method"),
                  "identity": (done.get("identity") or {}).get("model")}
        now = {**options, "method": method}
        # The method first: a different method is the change to name.
        changed = sorted((k for k in set(before) | set(now) if before.get(k) != now.get(k)),
                         key=lambda k: (k != "method", k))
        if changed:
            key = changed[0]
            raise FacecamError(f"{runs_dir.parent} holds runs made with other options ({key} {before.get(key)!r}, "
                               f"now {now.get(key)!r}); give another -o, or delete it to start again")


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
            "camera_correctness": pct(mean_of(float(r.get("status") == "ok" and bool(r["camera"]["correct"]))
                                            for r in rs)),
            "identity_similarity": pct(mean_of(r["identity"]["similarity"] for r in good if r.get("identity"))),
            "imaging_quality": None,
            "aesthetic_quality": None,
            "ours_subject_consistency": pct(mean_of(r["quality"]["ours_subject_consistency"] for r in good)),
            "background_consistency": None,
            "ours_motion_smoothness": pct(mean_of(r["quality"]["ours_motion_smoothness"] for r in good)),
            "ours_dynamic_degree": pct(mean_of(r["quality"]["ours_dynamic_degree"] for r in good)),
            "ours_temporal_stability": pct(mean_of(r["quality"]["ours_temporal_stability"] for r in good)),
            "paper_camera_correctness": pct(mean_of(float(r.get("status") == "ok"
                                                        and bool(r["camera"].get("paper_correct"))) for r in rs)),
            "rotation_error": mean_of(e["rotation_error"] for e in errs),
            "scale_error": mean_of(e["scale_error"] for e in errs),
            "translation_error": mean_of(e["translation_error"] for e in errs),
            # worst checked frame's flat/smeared face area over the input's, averaged over runs (fraction)
            "artifact_excess": mean_of((r.get("artifacts") or {}).get("max_excess") for r in good),
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
