"""Long videos: `--frames all`, `--move-frames`, and the warp engine over hundreds of frames."""

import numpy as np
import pytest

from conftest import media_path
from facecam.camera.trajectory import hold_end, preset
from facecam.condition.builder import camera_for
from facecam.errors import FacecamError


def test_a_move_made_in_m_frames_holds_its_end_view():
    traj = camera_for("arc-left", 101, move_frames=41)
    assert traj.num_frames == 101
    assert traj.yaw[40] == pytest.approx(-30.0) and np.all(traj.yaw[40:] == traj.yaw[40])
    assert np.array_equal(traj.yaw[:41], preset("arc-left", 41).yaw)
    assert traj.meta["move_frames"] == 41
    spread = camera_for("arc-left", 101)  # without it the move spans the whole clip
    assert spread.yaw[40] == pytest.approx(-12.0) and spread.yaw[100] == pytest.approx(-30.0)
    with pytest.raises(FacecamError, match="--move-frames"):
        camera_for("arc-left", 41, move_frames=81)
    with pytest.raises(FacecamError):
        hold_end(preset("arc-left", 41), 17)


def test_random_moves_keep_their_sphere_views_when_held():
    traj = camera_for("random", 33, seed=3, move_frames=17)
    sphere = traj.sphere_view()
    assert all(len(v) == 33 for v in sphere.values())
    assert sphere["azimuth"][16] == sphere["azimuth"][32]


@pytest.mark.slow
def test_frames_all_uses_the_whole_clip_rounded_down_to_4k_plus_1():
    from facecam.run import ConditionOptions, render
    from facecam.video.io import read_video

    path = media_path("lp_d3.mp4")  # 354 frames at 30 fps: about 283 at 24 fps
    decoded = read_video(path, fps=24.0, num_frames=None).num_frames
    clip = render(path, ConditionOptions(camera="arc-left", frames="all", size=(176, 120))).clip
    n = len(clip.source)
    assert n % 4 == 1 and decoded - 4 < n <= decoded and n > 81
    assert len(clip.condition) == n and clip.trajectory.num_frames == n
    assert clip.trajectory.yaw[-1] == pytest.approx(-30.0) and clip.trajectory.yaw[n // 2] == pytest.approx(-15.0)
    assert clip.options["frames"] == n


@pytest.mark.slow
def test_the_warp_engine_renders_321_frames_without_a_jump_or_holding_every_layer():
    import tracemalloc

    from facecam.condition.builder import build_condition
    from facecam.engines.warp import WarpEngine

    clip = build_condition(media_path("lp_d9.mp4"), camera="arc-left", num_frames=321, size=(240, 176))
    tracemalloc.start()
    try:
        video = WarpEngine().generate(clip, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The result (40.7 MB) plus per-frame work and the face surface's vertex tracks (source pixels and
    # world points of every vertex in every frame, float64: 7.9 MB with four rings): the person layers
    # of all 321 frames (54 MB as RGBA) are never held at once, each is made when its frame is rendered.
    from facecam.engines.warp_mesh import face_surface

    layers_mb = 321 * 240 * 176 * 4 / 2**20
    tracks_mb = 321 * face_surface().num_vertices * (2 + 3) * 8 / 2**20
    assert peak / 2**20 < video.nbytes / 2**20 + 0.5 * layers_mb + tracks_mb, peak / 2**20
    assert clip.options["source_frames"] == 321  # real frames, not a held last frame
    assert video.shape == clip.source.shape and video.shape[0] == 321
    def steps(frames):
        return np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    out, src = steps(video), steps(clip.source)
    # No frame-to-frame change of the output stands out from the source's own motion plus the slow orbit.
    assert out.max() < 3.0 * max(src.max(), 1.0) and out.max() < 4.0 * np.median(out) + 4.0


def test_absolute_mode_refuses_pan_and_roll_by_name():
    from facecam.condition.builder import check_absolute
    from facecam.camera.trajectory import from_keys

    check_absolute(preset("arc-left", 17))  # yaw only: drawable on the sphere
    with pytest.raises(FacecamError, match="pan_x"):
        check_absolute(preset("pan-left", 17))
    with pytest.raises(FacecamError, match="roll"):
        check_absolute(from_keys([{"t": 0}, {"t": 16, "roll": 10.0}], 17))


def test_strength_is_bounded():
    with pytest.raises(FacecamError, match="strength"):
        camera_for("arc-left", 17, strength=2.5)
    with pytest.raises(FacecamError, match="strength"):
        camera_for("arc-left", 17, strength=0.0)
    assert camera_for("arc-left", 17, strength=2.0).yaw[-1] == pytest.approx(-60.0)


def test_keyframe_files_keep_their_own_time_base(tmp_path):
    import json

    from facecam.camera.trajectory import load_trajectory

    path = tmp_path / "arc.json"
    path.write_text(json.dumps({"frames": 81, "keys": [{"t": 0}, {"t": 80, "yaw": -30.0}]}))
    for n in (17, 49, 81, 161):  # the move spans the output whatever its length
        traj = load_trajectory(path, n)
        assert traj.num_frames == n and traj.yaw[-1] == pytest.approx(-30.0)
        assert traj.yaw[(n - 1) // 2] == pytest.approx(-15.0, abs=0.5)
    path.write_text(json.dumps({"time": "normalized", "keys": [{"t": 0}, {"t": 1, "yaw": -30.0}]}))
    assert load_trajectory(path, 17).yaw[-1] == pytest.approx(-30.0)
    exported = tmp_path / "exported.json"
    preset("arc-right", 81).save(exported)
    assert np.allclose(load_trajectory(exported, 81).as_array(), preset("arc-right", 81).as_array(), atol=1e-5)
    assert load_trajectory(exported, 17).yaw[-1] == pytest.approx(30.0)

    bad = {
        "key 1: 't' = 2 must be larger than the previous key's 5": {"frames": 9, "keys": [{"t": 5}, {"t": 2, "yaw": 3}]},
        "unknown field": {"frames": 9, "keys": [{"t": 0, "yaww": 3}]},
        "outside 0..8": {"frames": 9, "keys": [{"t": 0}, {"t": 12, "yaw": 3}]},
        "outside 0..1": {"time": "normalized", "keys": [{"t": 0}, {"t": 80, "yaw": 3}]},
        "'yaw' must be a number": {"frames": 9, "keys": [{"t": 0, "yaw": "left"}]},
        "needs 'frames'": {"keys": [{"t": 0}]},
        "unknown field\\(s\\) \\['fps'\\]": {"frames": 9, "fps": 24, "keys": [{"t": 0}]},
    }
    for words, data in bad.items():
        path.write_text(json.dumps(data))
        with pytest.raises(FacecamError, match=words):
            load_trajectory(path, 17)


def test_start_and_duration_trim_the_source_by_timestamp():
    from facecam.video.io import read_video

    path = media_path("lp_d3.mp4")
    whole = read_video(path, fps=24.0, num_frames=None)
    late = read_video(path, fps=24.0, num_frames=None, start=2.0)
    short = read_video(path, fps=24.0, num_frames=None, start=2.0, duration=1.0)
    assert np.array_equal(late.frames[0], whole.frames[48])  # 2 s at 24 fps
    assert short.num_frames == 24 and np.array_equal(short.frames[-1], whole.frames[71])
    with pytest.raises(FacecamError, match="--start"):
        read_video(path, start=-1.0)


@pytest.mark.slow
def test_a_face_after_a_black_intro_is_found_and_start_skips_the_intro(tmp_path):
    from facecam.run import ConditionOptions, render
    from facecam.video.io import read_video, write_video

    clip = read_video(media_path("facecam_000.mp4"), fps=24.0, num_frames=41)
    frames = np.concatenate([np.zeros((24,) + clip.frames.shape[1:], np.uint8), clip.frames])  # 1 s of black
    path = tmp_path / "intro.mp4"
    write_video(path, frames, 24.0)
    run = render(path, ConditionOptions(camera="zoom-in", frames=49, size=(352, 240)))
    assert run.clip.source_track.found[30:].all()  # the crop was centred on the late face
    skipped = render(path, ConditionOptions(camera="zoom-in", frames=33, start=1.0, size=(352, 240)))
    assert skipped.clip.source_track.found.all() and skipped.clip.options["start"] == 1.0
    black = tmp_path / "black.mp4"
    write_video(black, np.zeros((17, 240, 352, 3), np.uint8), 24.0)
    with pytest.raises(FacecamError, match="searched .*; that is all of the video$"):
        render(black, ConditionOptions(frames=17, size=(352, 240)))
    # The clip read stops before the face: the error names the --start that reaches it.
    with pytest.raises(FacecamError, match=r"; a face shows 1\.\d\d s into the video: --start 1\.\d\d$"):
        render(path, ConditionOptions(frames=9, size=(352, 240)))


@pytest.mark.slow
def test_random_stays_in_the_trained_range_from_the_subjects_frontal_view(caplog):
    """Seeds 0-19 on every shared clip: the path starts at the source view, every view is within
    45 deg of the subject's frontal direction, and the whole drawn mesh stays inside the frame."""
    import logging

    from facecam.camera.trajectory import random_trajectory
    from facecam.condition.builder import crop_to_face, frontal_views, keep_mesh_in_frame, relative_condition
    from facecam.face.landmarks import detect_landmarks
    from facecam.video.io import read_video

    size = (352, 240)
    worst_seen = 0.0
    for name in ("facecam_000.mp4", "facecam_007.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d9.mp4", "lp_s18.mp4"):
        clip = read_video(media_path(name), num_frames=9)
        source, _ = crop_to_face(clip, size)
        track = detect_landmarks(source)
        for seed in range(20):
            old = random_trajectory(9, seed=seed)
            traj = frontal_views(old, track, size, "random", 1.0, seed, None)
            assert traj.yaw[0] == 0.0 and traj.pitch[0] == 0.0
            front = traj.meta["frontal"]
            assert front["max_from_frontal"] <= 45.0 + 1e-6, (name, seed, front)
            worst_seen = max(worst_seen, abs(traj.yaw[-1] - traj.yaw[0]))
            points, condition = relative_condition(track, traj, "subject")
            traj, points, _ = keep_mesh_in_frame(track, traj, "subject", points, condition, size)
            xy = points[:, :468, :2]
            assert xy.min() >= 0 and (xy[..., 0] < size[1]).all() and (xy[..., 1] < size[0]).all(), (name, seed)
    assert worst_seen > 30.0  # a real swing, not a shrunken one
    with caplog.at_level(logging.WARNING, logger="facecam"):
        frontal_views(camera_for("arc-left", 9, strength=2.0), track, size, "arc-left", 2.0, 0, None)
    assert "from the subject's frontal view" in caplog.text
