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
    # the zoom centres on the face, so the head stays whole: the forehead's top (landmark 10) keeps room
    # above it, where a zoom about the frame's centre pushed it towards the top edge and cut the hair
    zoomed = frame_landmarks(zoom[-1], "zoom")
    assert abs(zoomed[4, 1] - before[4, 1]) < 0.03 * 704  # the nose stays where it was
    assert zoomed[10, 1] > 40  # 97 px in the input; about -5 (off the frame) with a zoom about the centre
    meta = json.loads((out / "astronaut_demo.json").read_text())
    assert meta["engine"] == "warp" and meta["cameras"] == ["arc-left", "zoom-in"]


def _still_video(path, colour, frames=9, size=(64, 48)):
    """A video whose frame t is ``colour`` scaled by (t + 1) / frames, so frames can be told apart."""
    import numpy as np

    from facecam.video.io import write_video

    scale = (np.arange(frames) + 1.0) / frames
    video = (scale[:, None, None, None] * np.array(colour, float)).astype(np.uint8)
    write_video(path, np.broadcast_to(video, (frames, *size, 3)).copy(), 24.0)


def test_debug_sheet_shows_first_middle_last_of_input_condition_output(tmp_path):
    import numpy as np
    from PIL import Image

    from facecam.cli import main

    _still_video(tmp_path / "talk_input.mp4", (250, 0, 0))
    _still_video(tmp_path / "talk_camera.mp4", (0, 250, 0))
    _still_video(tmp_path / "talk.mp4", (0, 0, 250))
    assert main(["debug", "sheet", str(tmp_path), "--height", "64"]) == 0
    sheet = np.asarray(Image.open(tmp_path / "contact_sheet.png").convert("RGB")).astype(int)
    assert sheet.shape == (3 * 64, 3 * 48, 3)  # rows: frames 0, 4, 8; columns: input, condition, output
    for row, level in enumerate((1 / 9, 5 / 9, 9 / 9)):
        for col, channel in enumerate((0, 1, 2)):
            pixel = sheet[row * 64 + 60, col * 48 + 44]  # a corner away from the label
            assert abs(pixel[channel] - 250 * level) < 20, (row, col, pixel)
            assert pixel.sum() - pixel[channel] < 30


def test_debug_sheet_labels_each_output_with_the_move_its_record_names(tmp_path):
    """A `generate` folder's result is named after the clip: its column said `talk 8`, not the move."""
    import json

    from facecam.cli._debug_sheet import output_titles

    def record(name, camera):
        (tmp_path / f"{name}_camera.json").write_text(json.dumps({"name": name, "options": {"camera": camera}}))

    record("talk", "arc-left")
    assert output_titles(tmp_path, ["talk"]) == {"talk": "arc-left"}
    record("walk", "arc-left")  # two clips, one move: the names tell them apart
    record("run", "zoom-in")
    assert output_titles(tmp_path, ["run", "talk", "walk"]) == {
        "run": "zoom-in", "talk": "talk arc-left", "walk": "walk arc-left"}
    # the demo's names are the moves already; a result without a record keeps its name
    record("astronaut_arc-left", "arc-left")
    assert output_titles(tmp_path, ["astronaut_arc-left", "astronaut_zoom-in"]) == {
        "astronaut_arc-left": "arc-left", "astronaut_zoom-in": "zoom-in"}
    # generate-many's clips that share a start of their names keep whole names ("d0 arc-left" before)
    record("lp_d0", "arc-left")
    record("lp_d9", "arc-left")
    assert output_titles(tmp_path, ["lp_d0", "lp_d9"]) == {"lp_d0": "lp_d0 arc-left", "lp_d9": "lp_d9 arc-left"}


def test_debug_sheet_of_a_condition_folder_shows_input_and_condition(tmp_path, capsys):
    # `facecam condition` shows the move before paying for it; its folder was refused ("no result").
    import numpy as np
    from PIL import Image

    from facecam.cli import main

    _still_video(tmp_path / "talk_input.mp4", (250, 0, 0))
    _still_video(tmp_path / "talk_camera.mp4", (0, 250, 0))
    assert main(["debug", "sheet", str(tmp_path), "--height", "64"]) == 0
    sheet = np.asarray(Image.open(tmp_path / "contact_sheet.png").convert("RGB")).astype(int)
    assert sheet.shape == (3 * 64, 2 * 48, 3)  # columns: input, condition
    assert sheet[-4, 44, 0] > 200 and sheet[-4, 48 + 44, 1] > 200
    for height in ("15", "100000"):  # 100000 ran out of memory without a word
        assert main(["debug", "sheet", str(tmp_path), "--height", height]) == 2
        assert f"--height must be between 16 and 2160 pixels, got {height}" in capsys.readouterr().err


def test_debug_sheet_of_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    from facecam.cli import main

    _still_video(tmp_path / "talk_input.mp4", (250, 0, 0))
    assert main(["debug", "sheet", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no result" in err and err.count("\n") == 1
    assert not (tmp_path / "contact_sheet.png").exists()


def test_debug_sheet_refuses_a_name_that_is_not_png(tmp_path, capsys):
    """`-o sheet.jpg` used to write PNG bytes under a .jpg name."""
    from facecam.cli import main

    _still_video(tmp_path / "talk_input.mp4", (250, 0, 0))
    _still_video(tmp_path / "talk_camera.mp4", (0, 250, 0))
    _still_video(tmp_path / "talk.mp4", (0, 0, 250))
    assert main(["debug", "sheet", str(tmp_path), "-o", str(tmp_path / "sheet.jpg")]) == 2
    err = capsys.readouterr().err
    assert "*.png" in err and err.count("\n") == 1
    assert not (tmp_path / "sheet.jpg").exists()
    assert main(["debug", "sheet", str(tmp_path), "-o", str(tmp_path / "sheet.PNG"), "--height", "32"]) == 0


def test_debug_sheet_into_a_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    """`-o /proc/x/sheet.png` printed a traceback (the folder was made outside the error handling)."""
    from facecam.cli import main

    _still_video(tmp_path / "talk_input.mp4", (250, 0, 0))
    _still_video(tmp_path / "talk_camera.mp4", (0, 250, 0))
    _still_video(tmp_path / "talk.mp4", (0, 0, 250))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["debug", "sheet", str(tmp_path), "-o", str(blocker / "sub" / "sheet.png"), "--height", "32"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and err.count("\n") == 1


def test_debug_writers_check_their_places_before_any_work(tmp_path, capsys):
    """make-tiny-model into an unmakeable folder was a traceback after 6 s of work; make-proxy-ply with an
    unwritable --preview wrote the .ply, then failed with a traceback."""
    from facecam.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["debug", "make-tiny-model", str(blocker / "tiny")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("facecam: error: cannot write to the model's parent folder") and err.count("\n") == 1
    ply = tmp_path / "head.ply"
    assert main(["debug", "make-proxy-ply", str(ply), "--preview", str(blocker / "views.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("facecam: error: --preview's folder does not exist") and err.count("\n") == 1
    assert not ply.exists()
    # The check leaves nothing behind: no probe, no folder made for a model that was never written.
    assert main(["debug", "make-tiny-model", str(blocker / "deeper" / "tiny")]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_debug_sheet_of_several_clips_names_each_input(tmp_path, monkeypatch):
    """generate-many's folder holds several clips' results: each block's input said only "input"."""
    import facecam.cli._debug_sheet as sheet

    for name in ("lp_d0", "lp_d9"):
        for suffix, colour in (("_input", (250, 0, 0)), ("_camera", (0, 250, 0)), ("", (0, 0, 250))):
            _still_video(tmp_path / f"{name}{suffix}.mp4", colour)
    said = []
    real = sheet.stamp
    monkeypatch.setattr(sheet, "stamp", lambda panel, text: said.append(text) or real(panel, text))
    sheet.contact_sheet(tmp_path, 64)
    assert {t.rsplit(" ", 1)[0] for t in said} == {"lp_d0 input", "lp_d9 input", "condition", "lp_d0", "lp_d9"}
