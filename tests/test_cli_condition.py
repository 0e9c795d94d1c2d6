"""`facecam cameras`, `facecam condition` and the bad-input contract of the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import media_path, one_error_line
from facecam.camera.trajectory import PRESETS, load_trajectory, preset
from facecam.cli import main
from facecam.errors import TrajectoryError
from facecam.video.io import DEFAULT_FRAMES
from facecam.video import read_video, write_video


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facecam", *args], capture_output=True, text=True, timeout=600)


def test_cameras_lists_every_preset(capsys):
    assert main(["cameras"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.strip().splitlines()] == list(PRESETS)


def test_every_help_works_without_weights():
    for verb in ([], ["condition"], ["generate"], ["cameras"]):
        result = run_cli(*verb, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: facecam" in result.stdout


def test_every_help_wraps_its_prose_to_the_terminal(monkeypatch):
    # Verbs with example epilogs printed their description as one line of up to 600 characters
    # (RawDescriptionHelpFormatter); indented example commands stay as written.
    import argparse

    from facecam.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")

    def walk(parser, name):
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for verb, sub in action.choices.items():
                    yield from walk(sub, f"{name} {verb}")

    helps = dict((name, parser.format_help()) for name, parser in walk(build_parser(), "facecam"))
    assert {"facecam train", "facecam debug sheet", "facecam demo", "facecam bench dynamic"} <= set(helps)
    for name, text in helps.items():
        long = [line for line in text.splitlines() if len(line) > 80 and not line[:1].isspace()]
        assert not long, (name, long)
    assert "  facecam train --config tiny --output runs/tiny" in helps["facecam train"]
    # Every verb shows how it is run (data build, data show and bench had no example).
    leaves = [name for name in helps if not any(other.startswith(name + " ") for other in helps)]
    assert [name for name in leaves if not re.search(r"examples?:\s+(accelerate launch .*)?facecam ", helps[name])] == []
    assert "  facecam data build --wild clips/ -o shards/ --samples 64" in helps["facecam data build"]
    # A description broken by hand at another width is one paragraph again (it printed "...so\nthe face"),
    # and a docstring's reST quotes print as the command line's.
    cameras = helps["facecam cameras"]
    prose = cameras[cameras.index("List the camera presets"):cameras.index("options:")].split("\n\n")[0]
    lines = prose.splitlines()
    assert all(len(line) > 60 for line in lines[:-1]), lines
    assert "``" not in helps["facecam generate-many"] and "`LOCAL_RANK`" in helps["facecam generate-many"]


def test_every_preset_starts_at_the_source_view():
    for name in PRESETS:
        traj = preset(name, 81, seed=3)
        assert traj.frame(0) == {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "zoom": 1.0, "pan_x": 0.0, "pan_y": 0.0}, name


def test_random_preset_follows_the_authors_sampler():
    for seed in range(20):
        traj = preset("random", 81, seed=seed)
        s = traj.meta["sampled"]
        assert 30 <= abs(s["start_azimuth"]) <= 45 and 30 <= abs(s["end_azimuth"]) <= 45
        assert np.sign(s["start_azimuth"]) == -np.sign(s["end_azimuth"])
        assert abs(s["start_elevation"]) <= 30 and 25 <= s["start_fov"] <= 55
        assert traj.yaw[-1] == pytest.approx(s["end_azimuth"] - s["start_azimuth"])
    assert preset("random", 9, seed=1).meta == preset("random", 9, seed=1).meta


def test_keyframe_file_round_trip_and_interpolation(tmp_path):
    path = tmp_path / "move.json"
    path.write_text(json.dumps({"frames": 33, "keys": [{"t": 0}, {"t": 16, "yaw": -20, "zoom": 1.2},
                                                      {"t": 32, "yaw": -20, "pitch": 10}]}))
    traj = load_trajectory(path)
    assert traj.num_frames == 33
    assert traj.yaw[16] == pytest.approx(-20) and traj.zoom[16] == pytest.approx(1.2)
    assert traj.pitch[32] == pytest.approx(10) and traj.zoom[32] == pytest.approx(1.2)
    assert np.all(np.diff(traj.yaw[:17]) <= 1e-9)  # monotone: no overshoot past a key
    saved = tmp_path / "again.json"
    traj.save(saved)
    assert np.allclose(load_trajectory(saved).as_array(), traj.as_array(), atol=1e-5)


def test_a_runs_own_camera_file_is_read_as_its_move(tmp_path):
    # `facecam generate` writes <name>_camera.json with the move under "trajectory"; passing it back as
    # --camera renders the same move (a newcomer's first try; it was refused: "must have a 'keys' list").
    move = preset("arc-right", 9)
    inner = tmp_path / "move.json"
    move.save(inner)
    run = tmp_path / "clip_camera.json"
    run.write_text(json.dumps({"name": "clip", "fps": 24.0, "frames": 9, "trajectory": json.loads(inner.read_text()),
                               "engine": "warp"}))
    assert np.allclose(load_trajectory(run).as_array(), move.as_array(), atol=1e-5)


def test_a_camera_file_that_is_a_folder_is_one_line(tmp_path, capsys, astronaut):
    from facecam.cli import main
    from facecam.errors import TrajectoryError

    folder = tmp_path / "move.json"
    folder.mkdir()
    with pytest.raises(TrajectoryError, match=f"^camera file {re.escape(str(folder))} is a folder, not a JSON "):
        load_trajectory(folder)  # (IsADirectoryError, a traceback from every verb)
    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert main(["condition", str(photo), "-c", str(folder), "--frames", "5", "-o", str(tmp_path / "out")]) == 2
    assert "is a folder, not a JSON keyframe file" in capsys.readouterr().err


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('{"frames": 9}', "'keys' list"),
    ('{"frames": 9, "keys": [{"yaw": 3}]}', "no 't'"),
    ('{"frames": 9, "keys": [{"t": 0, "spin": 3}]}', "unknown field"),
    ('{"frames": 9, "keys": [{"t": 0, "zoom": -1}]}', "zoom must be positive"),
    ('{"keys": [{"t": 0}]}', "needs 'frames'"),
    # A turn to the back of the head ran and gave a radial smear of skin (a newcomer's yaw 170).
    ('{"frames": 9, "keys": [{"t": 0}, {"t": 8, "yaw": 170}]}', r"key 1: yaw 170 deg turns past 90 deg"),
    ('{"frames": 9, "keys": [{"t": 0, "pitch": -95}]}', r"key 0: pitch -95 deg turns past 90"),
])
def test_bad_keyframe_files_are_explained(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TrajectoryError, match=match) as info:
        load_trajectory(path)
    assert str(path) in str(info.value)  # which file: a key's mistake said "key 1: ..." alone


def test_strength_may_not_push_a_keyframe_file_past_the_side_of_the_head(tmp_path):
    from facecam.camera.trajectory import resolve_camera

    path = tmp_path / "wide.json"
    path.write_text('{"frames": 9, "keys": [{"t": 0}, {"t": 8, "yaw": 60}]}')
    assert resolve_camera(str(path), 9, strength=1.5).yaw[-1] == pytest.approx(90.0)
    with pytest.raises(TrajectoryError, match=r"--strength 2 turns wide.json's move to 120 deg"):
        resolve_camera(str(path), 9, strength=2.0)


@pytest.mark.slow
def test_condition_writes_the_four_files(tmp_path):
    out = tmp_path / "out"
    assert main(["condition", str(media_path("lp_d0.mp4")), "--camera", "pan-left", "--frames", "17", "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["lp_d0_camera.json", "lp_d0_camera.mp4", "lp_d0_input.mp4", "lp_d0_preview.mp4"]
    for name, width in (("lp_d0_input.mp4", 480), ("lp_d0_camera.mp4", 480), ("lp_d0_preview.mp4", 960)):
        clip = read_video(out / name, fps=None, num_frames=None)
        assert clip.frames.shape == (17, 704, width, 3), name
    meta = json.loads((out / "lp_d0_camera.json").read_text())
    assert meta["options"]["camera"] == "pan-left" and len(meta["trajectory"]["keys"]) == 17
    assert meta["trajectory"]["keys"][-1]["pan_x"] == pytest.approx(-0.15)


def _assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.startswith("facecam")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "notes.mp4").write_text("hello\n")
    data = media_path("facecam_000.mp4").read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) // 3])
    noise = np.random.default_rng(0).integers(0, 255, size=(9, 128, 96, 3), dtype=np.uint8)
    write_video(root / "noface.mp4", noise, 24)
    import av

    with av.open(str(root / "empty.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name,words", [
    ("missing.mp4", ["not found"]),
    ("notes.mp4", ["cannot open video"]),
    ("cut.mp4", ["cannot open video"]),
    ("noface.mp4", ["no face"]),
    ("empty.mp4", ["has no frames"]),
])
def test_bad_input_gives_one_line_and_no_output(bad_inputs, tmp_path, name, words):
    out = tmp_path / "out"
    result = run_cli("condition", str(bad_inputs / name), "--frames", "9", "-o", str(out))
    _assert_one_line_error(result, *words)
    assert not out.exists()  # the folder it created is removed again


def test_unwritable_output_folder_is_reported(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = run_cli("condition", str(media_path("lp_d0.mp4")), "--frames", "9", "-o", str(blocker / "sub"))
    _assert_one_line_error(result, "cannot write")


def test_bad_options_are_reported(tmp_path):
    clip = str(media_path("lp_d0.mp4"))
    _assert_one_line_error(run_cli("condition", clip, "--frames", "10", "-o", str(tmp_path)), "4k+1")
    _assert_one_line_error(run_cli("condition", clip, "--camera", "spin", "-o", str(tmp_path)), "unknown camera")
    _assert_one_line_error(run_cli("condition", clip, "--proxy", "x.ply", "-o", str(tmp_path)), "proxy head not found")
    assert list(tmp_path.iterdir()) == []


def test_cameras_json_and_export_are_one_or_the_other(capsys):
    # --json beside --export was dropped without a word (the export is JSON already).
    with pytest.raises(SystemExit) as stop:
        main(["cameras", "--json", "--export", "arc-left"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("argument --export: not allowed with argument --json (see `facecam cameras --help`)")
    assert len(err.splitlines()) == 1


def test_cameras_json_into_a_closed_pipe_stops_quietly():
    import subprocess
    import sys

    # `true` exits without reading, so the write meets a closed pipe (as `| head` does on long output).
    proc = subprocess.run(f"{sys.executable} -m facecam cameras --json | true", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stderr == ""


def test_cameras_export_random_round_trips_for_a_seed(tmp_path, capsys):
    from facecam.cli import main

    assert main(["cameras", "--export", "random", "--seed", "5", "--frames", "33"]) == 0
    path = tmp_path / "random.json"
    path.write_text(capsys.readouterr().out)
    assert np.allclose(load_trajectory(path).as_array(), preset("random", 33, seed=5).as_array(), atol=1e-5)
    assert main(["cameras", "--export", "random", "--seed", "6", "--frames", "33"]) == 0
    assert not np.allclose(json.loads(capsys.readouterr().out)["keys"][-1]["yaw"], load_trajectory(path).yaw[-1])


def test_a_bad_flag_is_one_line_naming_the_help_not_the_usage_block(capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "clip.mp4", "-o", "out", "--size", "100x7"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == ("facecam: error: --size sides must be positive multiples of 16, "
                   "got 100x7 (see `facecam generate --help`)\n")  # the flag named once
    with pytest.raises(SystemExit):
        main(["generate", "clip.mp4", "-o", "out", "--camera"])
    assert "error: argument --camera/-c: expected one argument" in capsys.readouterr().err  # named by argparse only
    # An unknown flag is the verb's: its line points at the verb's --help, not `facecam --help`.
    with pytest.raises(SystemExit) as info:
        main(["condition", "clip.mp4", "-o", "out", "--steps", "4"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("facecam: error: unrecognized arguments: --steps 4 "
                                       "(see `facecam condition --help`)\n")
    with pytest.raises(SystemExit) as info:
        main(["genrate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "invalid choice: 'genrate'" in err and "usage:" not in err
    # Whoever finds the mistake, argparse or a check after parsing, the line begins the same way.
    with pytest.raises(SystemExit):
        main(["generate", "clip.mp4", "-o", "out", "--frames", "abc"])
    assert capsys.readouterr().err.startswith("facecam: error: --frames must be a whole number")
    assert main(["generate", "clip.mp4", "-o", "out", "--frames", "0"]) == 2
    assert capsys.readouterr().err.startswith("facecam: error: --frames must be")


@pytest.mark.parametrize("argv", [
    ["condition", "clip.mp4", "-o", "out", "--camera", "random", "--seed", "-1"],
    ["generate", "clip.mp4", "-o", "out", "--engine", "warp", "--seed", "-1"],
    ["cameras", "--export", "random", "--seed", "-1"],
    ["data", "build", "--wild", "clips", "-o", "shards", "--samples", "1", "--seed", "-1"],
    ["bench", "dynamic", "--videos", "clips", "-o", "bench", "--seed", "-1"],
    ["debug", "make-tiny-model", "tiny", "--seed", "-1"],
])
def test_a_negative_seed_is_one_usage_line_before_anything_is_read_or_written(argv, tmp_path, capsys, monkeypatch):
    """numpy's generators take no negative seed: it was a ValueError traceback, after bench and data build
    had written their folders."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--seed must be 0 or more, got -1" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", [["condition"], ["generate", "--engine", "warp"]])
def test_a_failed_run_removes_the_folders_it_made_for_its_output(verb, tmp_path, capsys):
    """`-o new/sub` on a video without a face removed sub/ but left new/ behind."""
    from conftest import grey_clip

    clip = grey_clip(tmp_path / "grey.mp4")
    assert main([verb[0], str(clip), "-o", str(tmp_path / "new" / "sub"), *verb[1:], "--frames", "5"]) == 2
    assert "no face" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grey.mp4"]
    (tmp_path / "mine").mkdir()  # a folder that was there before stays
    assert main([verb[0], str(clip), "-o", str(tmp_path / "mine" / "sub"), *verb[1:], "--frames", "5"]) == 2
    assert (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / "sub").exists()


def test_a_seed_beyond_32_bits_is_one_usage_line(capsys):
    """torch.manual_seed overflowed (a traceback after the check) on a 65-bit seed."""
    with pytest.raises(SystemExit) as info:
        main(["debug", "make-tiny-model", "tiny", "--seed", str(2 ** 64)])
    assert info.value.code == 2
    assert "--seed must be at most 4294967295" in capsys.readouterr().err


def test_output_dir_never_removes_a_folder_that_was_there_when_the_path_goes_up(tmp_path, monkeypatch):
    from facecam.video.outputs import output_dir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    with pytest.raises(RuntimeError):
        with output_dir("x/../mine/sub"):
            raise RuntimeError("the run failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # mine kept, no x made


def test_cameras_refuses_flags_it_would_ignore(capsys):
    from facecam.cli import main

    assert main(["cameras", "--seed", "5"]) == 2
    one_error_line(capsys, "--seed seeds `--export random` only")
    assert main(["cameras", "--export", "arc-left", "--seed", "5"]) == 2
    one_error_line(capsys, "--seed seeds `--export random` only")
    assert main(["cameras", "--frames", "33"]) == 2
    one_error_line(capsys, "give --export PRESET")
    assert main(["cameras", "--export", "random", "--seed", "5", "--frames", "33"]) == 0


def test_random_refuses_a_negative_seed_in_the_library_too():
    from facecam.camera.trajectory import random_trajectory
    from facecam.errors import TrajectoryError

    with pytest.raises(TrajectoryError, match="0 or more"):
        random_trajectory(17, seed=-1)
    assert random_trajectory(17, seed=0).yaw.shape == (17,)


def test_a_short_remainder_is_held_with_one_warning_and_a_whole_clip_is_not(tmp_path, caplog):
    import logging

    from facecam.condition.builder import build_condition

    with caplog.at_level(logging.WARNING, logger="facecam"):
        clip = build_condition(media_path("lp_d3.mp4"), "zoom-in", num_frames=81, start=10.0, size=(240, 352))
    held = [r.getMessage() for r in caplog.records if "is held" in r.getMessage()]
    assert held == ["facecam: warning: the video gives only 44 frames from --start 10 s at 24 fps; its last "
                    "frame is held for the other 37 of --frames 81 (the person freezes there); --frames 41 or "
                    "--frames all uses only real frames"]
    assert clip.options["source_frames"] == 44
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):
        build_condition(media_path("lp_d3.mp4"), "zoom-in", num_frames="all", start=10.0, size=(240, 352))
    assert not [r for r in caplog.records if "is held" in r.getMessage()]


def test_frames_all_of_a_very_short_video_or_a_picture_still_moves(tmp_path, caplog, astronaut):
    # `--frames all` of a 3-frame video kept its 1-frame prefix, and of a picture its one frame: the source
    # view written back, which --frames 1 is refused for.
    import logging

    from facecam.condition.builder import build_condition
    from facecam.video.io import read_video, write_video

    short = tmp_path / "three.mp4"
    write_video(short, read_video(media_path("lp_d3.mp4"), num_frames=5).frames[:3], 24.0)
    with caplog.at_level(logging.WARNING, logger="facecam"):
        clip = build_condition(short, "arc-right", num_frames="all", size=(240, 352))
    assert clip.options["frames"] == 5 and clip.options["source_frames"] == 3 and len(clip.condition) == 5
    held = [r.getMessage() for r in caplog.records if "is held" in r.getMessage()]
    assert held == ["facecam: warning: the video gives only 3 frames at 24 fps; its last frame is held for the "
                    "other 2 of --frames 5 (the person freezes there); a longer video (or an earlier --start) "
                    "gives the move real frames"]
    caplog.clear()
    picture = tmp_path / "astronaut.png"
    cv2.imwrite(str(picture), astronaut[..., ::-1])
    with caplog.at_level(logging.WARNING, logger="facecam"):
        still = build_condition(picture, "arc-right", num_frames="all", size=(240, 352))
    assert still.options["frames"] == DEFAULT_FRAMES and len(still.condition) == DEFAULT_FRAMES
    assert [r.getMessage() for r in caplog.records] == [
        f"facecam: note: a picture has no frames of its own; --frames all makes the default {DEFAULT_FRAMES}"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):  # (ignored without a word)
        build_condition(picture, "arc-right", num_frames=5, size=(240, 352), start=2.0, duration=1.0)
        build_condition(picture, "arc-right", num_frames=5, size=(240, 352), start=2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "facecam: note: a picture has no time; --start and --duration are ignored",
        "facecam: note: a picture has no time; --start is ignored"]


def test_a_held_still_gets_no_warning(caplog):
    """The demo's portrait is a clip of one frame held on purpose, with no path to call it an image:
    it used to say "the video gives only 1 frames", twice, over the demo's progress bar."""
    import logging

    from facecam.cli.demo import demo_clip
    from facecam.condition.builder import build_condition

    with caplog.at_level(logging.WARNING, logger="facecam"):
        build_condition(demo_clip(9), "arc-left", num_frames=9, size=(240, 176))
    assert not [r for r in caplog.records if "is held" in r.getMessage()]
    # One frame left by --start near the video's end is no still the user chose: it was silent.
    from facecam.video.io import read_video

    clip = read_video(media_path("lp_d0.mp4"), num_frames=None)
    last = (clip.source_frames - 0.5) / clip.fps
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):
        build_condition(media_path("lp_d0.mp4"), "arc-left", num_frames=9, start=last, size=(240, 176))
    held = [r.getMessage() for r in caplog.records if "is held" in r.getMessage()]
    assert held == [f"facecam: warning: the video gives only 1 frame from --start {last:g} s; it is held for all 9 "
                    "(the person is frozen); an earlier --start uses the video's motion"]


@pytest.mark.parametrize("command", ["condition", "generate"])
def test_an_output_named_like_a_file_is_refused_before_any_work(tmp_path, command):
    result = run_cli(command, str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "out.mp4"))
    _assert_one_line_error(result, "looks like a file name", "give a folder")
    assert list(tmp_path.iterdir()) == []


def test_sigterm_stops_a_run_as_ctrl_c_does_leaving_no_output_folder(tmp_path, monkeypatch, capsys):
    # A scheduler's stop (SIGTERM) killed the process where it stood and left an empty output folder behind.
    import os
    import signal
    import time

    import facecam.run

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(facecam.run, "render", stopped)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out"
    assert main(["generate", str(tmp_path / "clip.mp4"), "-o", str(out)]) == 143
    assert capsys.readouterr().err.splitlines()[-1] == "facecam: terminated"
    assert not out.exists() and signal.getsignal(signal.SIGTERM) is before


def test_a_crop_shorter_than_the_face_says_so_in_words(tmp_path, capsys, astronaut):
    # `--size 32x2048`: "Face Mesh found no face in the crop, where the face fills 33.15 of the height"
    from facecam.cli import main

    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert main(["condition", str(photo), "--size", "32x2048", "--frames", "5", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"facecam: error: Face Mesh found no face in the 32x2048 crop: it is shorter than the face "
                        r"\([0-9.]+ times over\), which it cuts; give a --size of the model's proportions, e\.g\. "
                        r"704x480", err), err
    assert not (tmp_path / "out").exists()


def test_a_folder_or_file_of_the_wrong_kind_is_named_as_such(tmp_path):
    # "proxy head not found" for a folder called head.ply, "weights folder not found: afile" for a file,
    # "is a folder, not a video" from a verb that reads a picture.
    from facecam.condition.builder import check_proxy
    from facecam.errors import FacecamError, VideoError, WeightsError
    from facecam.model.layout import find_weights
    from facecam.video.io import read_image

    (tmp_path / "head.ply").mkdir()
    with pytest.raises(FacecamError, match=r"^proxy head .*head\.ply is a folder, not a \.ply file$"):
        check_proxy(str(tmp_path / "head.ply"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WeightsError, match=r"^--weights .*afile is a file; give the weights folder \(the one holding "
                                           r"Wan2\.2-I2V-A14B and FaceCam\)"):
        find_weights(tmp_path / "afile")
    (tmp_path / "photo.png").mkdir()
    with pytest.raises(VideoError, match=r"photo\.png is a folder, not a picture$"):
        read_image(tmp_path / "photo.png")
