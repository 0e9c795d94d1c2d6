"""`facecam demo`: no arguments, no weights, results plus a side-by-side comparison."""

from __future__ import annotations

import json

import pytest


def test_demo_help_needs_no_weights(capsys):
    from facecam.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    assert "astronaut" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_writes_the_moves_their_conditions_and_a_comparison(tmp_path, monkeypatch):
    from facecam.cli import main
    from facecam.eval.camera import frame_landmarks, pose_change
    from facecam.video.io import read_video

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--frames", "9"]) == 0  # only the clip length differs from the bare command
    out = tmp_path / "facecam-demo"
    assert sorted(p.name for p in out.iterdir()) == [
        "astronaut_arc-left.mp4", "astronaut_arc-left_camera.mp4", "astronaut_comparison.mp4",
        "astronaut_demo.json", "astronaut_input.mp4", "astronaut_zoom-in.mp4", "astronaut_zoom-in_camera.mp4"]
    read = lambda name: read_video(out / name, fps=None, num_frames=None).frames  # noqa: E731
    source, arc, zoom, comparison = (read(f"astronaut_{n}.mp4") for n in ("input", "arc-left", "zoom-in", "comparison"))
    assert source.shape == arc.shape == zoom.shape == (9, 704, 480, 3)
    assert comparison.shape == (9, 704, 3 * 480, 3)  # input | arc-left | zoom-in
    before = frame_landmarks(source[-1], "input")
    turned = pose_change(before, (704, 480), frame_landmarks(arc[-1], "arc"), (704, 480))
    grown = pose_change(before, (704, 480), frame_landmarks(zoom[-1], "zoom"), (704, 480))
    assert turned.yaw > 12.0 and grown.scale > 1.25
    meta = json.loads((out / "astronaut_demo.json").read_text())
    assert meta["engine"] == "warp" and meta["cameras"] == ["arc-left", "zoom-in"]
