"""Camera correctness: decision rules, and decisions on real clips moved by exact transforms."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from facecam.camera.trajectory import resolve_camera
from facecam.eval.camera import (PoseChange, Thresholds, evaluate_frames, expected_signs, judge,
                                 pose_change)

from conftest import media_path

OPPOSITE = {"pan-left": "pan-right", "pan-right": "pan-left", "pan-up": "pan-down", "pan-down": "pan-up",
            "zoom-in": "zoom-out", "zoom-out": "zoom-in", "arc-left": "arc-right", "arc-right": "arc-left",
            "arc-up": "arc-down", "arc-down": "arc-up"}


def _end(name: str) -> dict:
    return resolve_camera(name, 17).frame(16)


# ----------------------------------------------------------------------------- rules

@pytest.mark.parametrize("preset, expected", [
    ("pan-left", {"shift_x": 1}), ("pan-right", {"shift_x": -1}),
    ("pan-up", {"shift_y": 1}), ("pan-down", {"shift_y": -1}),
    ("zoom-in", {"scale": 1}), ("zoom-out", {"scale": -1}),
    ("arc-left", {"yaw": 1}), ("arc-right", {"yaw": -1}),
    ("arc-up", {"pitch": -1}), ("arc-down", {"pitch": 1}),
    ("static", {}),
])
def test_each_preset_commands_the_documented_direction(preset, expected):
    # pan-left: face moves right (+x); pan-up: face moves down (+y, image axes); arc-left: head
    # turns to face image-right (+yaw); arc-up: head appears to look down (-pitch).
    assert expected_signs(_end(preset)) == expected


def test_a_change_smaller_than_the_threshold_is_not_a_command():
    assert expected_signs({"yaw": -4.9, "pan_x": 0.019, "zoom": 1.04}) == {}
    assert expected_signs({"yaw": -5.0, "pan_x": 0.02, "zoom": 1.06}) == {"yaw": 1, "scale": 1, "shift_x": -1}


def test_judge_needs_the_expected_sign_and_at_least_the_threshold():
    still = PoseChange(0, 0, 0, 1.0, 0, 0)
    end = _end("arc-left")
    assert judge(PoseChange(12.0, 0, 0, 1.0, 0, 0), end).correct
    assert not judge(PoseChange(4.0, 0, 0, 1.0, 0, 0), end).correct      # right way, too little
    assert not judge(PoseChange(-12.0, 0, 0, 1.0, 0, 0), end).correct    # wrong way
    assert not judge(still, end).correct                                  # unchanged video
    assert judge(still, _end("static")).correct
    assert not judge(PoseChange(0, 0, 0, 1.2, 0, 0), _end("static")).correct
    assert judge(PoseChange(0, 0, 0, 1 / 1.2, 0, 0), _end("zoom-out")).correct


def test_an_output_without_a_face_is_wrong_and_says_why():
    verdict = judge(None, _end("pan-left"))
    assert not verdict.correct and "no face" in verdict.reason
    assert verdict.to_dict()["yaw"] is None


def test_custom_thresholds_change_the_decision():
    change = PoseChange(7.0, 0, 0, 1.0, 0, 0)
    assert judge(change, _end("arc-left")).correct
    assert not judge(change, _end("arc-left"), thresholds=Thresholds(yaw=10.0)).correct


def test_a_json_trajectory_is_judged_by_its_own_end_point(tmp_path):
    path = tmp_path / "move.json"
    path.write_text(json.dumps({"frames": 17, "keys": [{"t": 0}, {"t": 8, "pan_x": 0.3}, {"t": 16, "pan_x": -0.1}]}))
    # The camera ends LEFT of the source (pan_x -0.1), so the face must end right of where it was.
    assert expected_signs(resolve_camera(str(path), 17).frame(16)) == {"shift_x": 1}


# ----------------------------------------------------------------------------- real clips

def _frame(name: str, index: int = 0, frames: int = 1) -> np.ndarray:
    from facecam.video.io import read_video

    return read_video(media_path(name), num_frames=frames).frames[index]


def _affine(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix.astype(np.float32), (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _shifted(image, fx, fy):
    h, w = image.shape[:2]
    return _affine(image, np.array([[1, 0, fx * w], [0, 1, fy * h]]))


def _zoomed(image, factor, center):
    cx, cy = center
    return _affine(image, np.array([[factor, 0, (1 - factor) * cx], [0, factor, (1 - factor) * cy]]))


def _decide(src, out, preset):
    return evaluate_frames(src, out, resolve_camera(preset, 17))


@pytest.fixture(scope="module")
def woman():
    """facecam_000, frame 0: frontal, 480x704."""
    return _frame("facecam_000.mp4")


@pytest.mark.parametrize("preset, fx, fy", [("pan-left", 0.15, 0.0), ("pan-right", -0.15, 0.0),
                                             ("pan-up", 0.0, 0.12), ("pan-down", 0.0, -0.12)])
def test_an_exactly_shifted_clip_is_right_for_its_pan_and_wrong_for_the_opposite(woman, preset, fx, fy):
    out = _shifted(woman, fx, fy)
    right = _decide(woman, out, preset)
    assert right.correct, right.reason
    assert right.change.shift_x == pytest.approx(fx, abs=0.01)
    assert right.change.shift_y == pytest.approx(fy, abs=0.01)
    assert not _decide(woman, out, OPPOSITE[preset]).correct


@pytest.mark.parametrize("preset, factor", [("zoom-in", 1.4), ("zoom-out", 1 / 1.4)])
def test_an_exactly_scaled_clip_is_right_for_its_zoom_and_wrong_for_the_opposite(woman, preset, factor):
    from facecam.face.landmarks import detect_image_landmarks

    center = detect_image_landmarks(woman)[:468, :2].mean(0)
    out = _zoomed(woman, factor, center)
    right = _decide(woman, out, preset)
    assert right.correct, right.reason
    assert right.change.scale == pytest.approx(factor, rel=0.03)
    assert abs(right.change.shift_x) < 0.01 and abs(right.change.shift_y) < 0.01  # zoomed about the face
    assert not _decide(woman, out, OPPOSITE[preset]).correct


def test_a_horizontal_flip_reverses_yaw_for_the_arc_sign_check():
    # lp_s18 frame 0: the head faces image-right by about 17 degrees. Its mirror image faces left,
    # so going from the mirror (input) to the original (output) the head turns to face image-right:
    # what arc-left asks for; the reverse is arc-right.
    original = _frame("lp_s18.mp4")
    mirror = np.ascontiguousarray(original[:, ::-1])
    to_right = _decide(mirror, original, "arc-left")
    assert to_right.correct, to_right.reason
    assert to_right.change.yaw > 20.0
    assert not _decide(mirror, original, "arc-right").correct
    to_left = _decide(original, mirror, "arc-right")
    assert to_left.correct and to_left.change.yaw == pytest.approx(-to_right.change.yaw, abs=2.0)
    assert not _decide(original, mirror, "arc-left").correct


def _pitched(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate landmarks about the horizontal axis through their centroid (orthographic view).

    Positive degrees bring the near points (smaller z: nose) up in the image: the head looks up.
    """
    t = np.radians(degrees)
    c = points.mean(0)
    p = points - c
    y = p[:, 1] * np.cos(t) + p[:, 2] * np.sin(t)
    z = -p[:, 1] * np.sin(t) + p[:, 2] * np.cos(t)
    return np.stack([p[:, 0], y, z], 1) + c


@pytest.mark.parametrize("degrees, right, wrong", [(15.0, "arc-down", "arc-up"), (-15.0, "arc-up", "arc-down")])
def test_landmarks_rotated_about_the_ear_axis_decide_arc_up_and_down(woman, degrees, right, wrong):
    # No pixel transform tilts a head, so pitch is checked one step later, on the landmarks of a
    # real frame rotated exactly in 3D.
    from facecam.face.landmarks import detect_image_landmarks

    points = detect_image_landmarks(woman)
    size = woman.shape[:2]
    change = pose_change(points, size, _pitched(points, degrees), size)
    assert np.sign(change.pitch) == np.sign(degrees) and abs(change.pitch) > 8.0
    assert judge(change, _end(right)).correct
    assert not judge(change, _end(wrong)).correct


def test_an_unchanged_clip_is_right_for_static_and_wrong_for_every_motion(woman):
    assert _decide(woman, woman, "static").correct
    for preset in OPPOSITE:
        assert not _decide(woman, woman, preset).correct, preset


def test_eval_camera_cli_prints_one_json_object(tmp_path, woman, capsys):
    from facecam.cli import main
    from facecam.video.io import write_video

    src = np.repeat(woman[None], 5, axis=0)
    write_video(tmp_path / "in.mp4", src, 24.0)
    write_video(tmp_path / "out.mp4", np.stack([_shifted(f, 0.15, 0) for f in src]), 24.0)
    capsys.readouterr()
    assert main(["eval", "camera", "--input", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "out.mp4"),
                 "--camera", "pan-left", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["correct"] is True
    assert {"yaw", "pitch", "scale", "shift_x", "shift_y"} <= set(result)
    assert result["shift_x"] == pytest.approx(0.15, abs=0.01)
    assert result["frames"]["index"] == 4


def test_eval_camera_cli_reports_a_missing_file_in_one_line(tmp_path, capsys):
    from facecam.cli import main

    assert main(["eval", "camera", "--input", str(tmp_path / "no.mp4"), "--output", str(tmp_path / "no.mp4"),
                 "--camera", "pan-left"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facecam: error:")


def test_the_camera_json_written_by_generate_is_judged_by_its_recorded_trajectory(tmp_path):
    from facecam.eval.camera import load_camera

    recorded = resolve_camera("random", 17, seed=3)
    (tmp_path / "clip_camera.json").write_text(json.dumps({"name": "clip", "trajectory": recorded.to_dict()}))
    loaded = load_camera(str(tmp_path / "clip_camera.json"), 17)
    assert loaded.frame(16) == pytest.approx(recorded.frame(16), abs=1e-5)
    assert expected_signs(loaded.frame(16))["yaw"] == -int(np.sign(recorded.yaw[-1]))


def test_an_unseeded_random_camera_is_refused():
    from facecam.errors import TrajectoryError
    from facecam.eval.camera import load_camera

    with pytest.raises(TrajectoryError, match="_camera.json"):
        load_camera("random", 17)
