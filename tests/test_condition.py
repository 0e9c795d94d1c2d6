"""The camera condition: projection geometry, MediaPipe-exact drawing, directions on real videos."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import media_path
from facecam.camera.trajectory import preset
from facecam.condition.builder import build_condition, relative_condition
from facecam.condition.project import PinholeCamera, lift, project, target_camera
from facecam.condition.raster import draw_face_mesh, mediapipe_drawing, render_condition
from facecam.face.landmarks import LandmarkTrack, detect_landmarks
from facecam.face.pose import estimate_head_pose, intrinsics
from facecam.video import read_video
from facecam.video.crop import apply_crop, reference_crop


def _rotation(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize("s", [1e-3, 0.37, 1.0, 2.5, 1e4])
def test_projection_is_scale_invariant(s):
    """Paper eq. 8: scaling points and camera translation by s > 0 leaves pixels unchanged."""
    rng = np.random.default_rng(1)
    points = rng.normal(size=(478, 3)) + np.array([0, 0, 8.0])
    cam = PinholeCamera(intrinsics((704, 480)), _rotation(rng) @ np.diag([1.0, 1.0, 1.0]), rng.normal(size=3))
    cam.R = np.eye(3) if np.linalg.det(cam.R) < 0 else cam.R
    points = points @ cam.R  # keep every point in front of the rotated camera
    base = project(points, cam)[:, :2]
    scaled = project(points * s, PinholeCamera(cam.K, cam.R, cam.t * s))[:, :2]
    assert np.abs(base - scaled).max() < 1e-6


def test_scale_invariance_holds_for_trajectory_cameras():
    """The same orbit about a scaled head gives the same image."""
    rng = np.random.default_rng(3)
    points = rng.normal(size=(478, 3)) * 40 + np.array([10.0, -5.0, 700.0])
    pivot = points.mean(axis=0) + np.array([0, 0, 40.0])
    view = {"yaw": -25.0, "pitch": 12.0, "roll": 5.0, "zoom": 1.3, "pan_x": 0.0, "pan_y": 0.0}
    cam = target_camera(view, (704, 480), pivot, 755.0)
    cam_s = target_camera(view, (704, 480), pivot * 3.7, 755.0)
    assert np.abs(project(points, cam)[:, :2] - project(points * 3.7, cam_s)[:, :2]).max() < 1e-6


def test_lifted_landmarks_project_back_to_themselves(astronaut_landmarks):
    K = intrinsics((512, 512))
    cam = PinholeCamera(K, np.eye(3), np.zeros(3))
    back = project(lift(astronaut_landmarks.astype(np.float64), K), cam)
    assert np.abs(back[:, :2] - astronaut_landmarks[:, :2]).max() < 1e-6


@pytest.mark.parametrize("shift", [(0, 0), (110, 190), (-150, 40), (260, 520), (0.37, 0.61)])
def test_raster_equals_mediapipe_drawing_pixel_for_pixel(astronaut_landmarks, shift):
    points = astronaut_landmarks.astype(np.float64) + np.array([shift[0], shift[1], 0.0])
    ours = draw_face_mesh(np.full((704, 480, 3), 255, np.uint8), points)
    theirs = mediapipe_drawing(points, (704, 480))
    assert np.array_equal(ours, theirs)
    if shift == (0, 0):
        colours = {tuple(c) for c in ours.reshape(-1, 3)}
        # MediaPipe's BGR styles drawn into RGB: right eye blue, left eye green, lips/oval light grey.
        assert {(48, 48, 255), (48, 255, 48), (128, 128, 128), (224, 224, 224), (255, 255, 255)} == colours


def test_right_eye_is_blue_and_left_eye_green_in_rgb(astronaut_landmarks):
    image = render_condition(astronaut_landmarks[None], (512, 512))[0]
    blue = np.argwhere(np.all(image == (48, 48, 255), axis=-1))[:, 1].mean()
    green = np.argwhere(np.all(image == (48, 255, 48), axis=-1))[:, 1].mean()
    assert blue < green  # the subject's right eye is on the image's left


@pytest.fixture(scope="module")
def woman_track() -> LandmarkTrack:
    clip = read_video(media_path("facecam_000.mp4"), num_frames=17)
    return detect_landmarks(clip.frames)


def test_relative_mode_frame0_coincides_with_the_source(woman_track):
    points, frames = relative_condition(woman_track, preset("arc-left", 17), "subject")
    error = np.linalg.norm(points[0, :, :2] - woman_track.points[0, :, :2], axis=-1).mean()
    assert error < 2.0
    assert frames.shape == (17, 704, 480, 3)


def test_template_proxy_frame0_lands_on_the_source_face(woman_track):
    points, _ = relative_condition(woman_track, preset("static", 17), "template")
    src = woman_track.points[0, :468, :2]
    error = np.linalg.norm(points[0, :468, :2] - src, axis=-1).mean()
    face_size = np.linalg.norm(woman_track.points[0, 454, :2] - woman_track.points[0, 234, :2])
    assert error < 0.06 * face_size  # a generic head: within 6% of the face width on average


def _change(points: np.ndarray, size) -> dict[str, float]:
    first = estimate_head_pose(points[0], size)
    last = estimate_head_pose(points[-1], size)
    return {"yaw": last.yaw - first.yaw, "pitch": last.pitch - first.pitch,
            "scale": last.scale / first.scale, "dx": last.center[0] - first.center[0],
            "dy": last.center[1] - first.center[1]}


EXPECTATIONS = {
    "arc-left": lambda c: c["yaw"] >= 20,
    "arc-right": lambda c: c["yaw"] <= -20,
    "arc-up": lambda c: c["pitch"] <= -12,
    "arc-down": lambda c: c["pitch"] >= 12,
    "pan-left": lambda c: c["dx"] >= 0.1 * 480,
    "pan-right": lambda c: c["dx"] <= -0.1 * 480,
    "pan-up": lambda c: c["dy"] >= 0.08 * 704,
    "pan-down": lambda c: c["dy"] <= -0.08 * 704,
    "zoom-in": lambda c: c["scale"] >= 1.3,
    "zoom-out": lambda c: c["scale"] <= 1 / 1.3,
    "static": lambda c: abs(c["yaw"]) < 0.5 and abs(c["dx"]) < 0.5 and abs(c["scale"] - 1) < 1e-3,
}


@pytest.mark.slow
@pytest.mark.parametrize("clip_name", ["facecam_000.mp4", "lp_d9.mp4", "lp_s18.mp4"])
@pytest.mark.parametrize("proxy", ["subject", "template"])
def test_every_preset_moves_the_condition_the_named_way(clip_name, proxy):
    clip = read_video(media_path(clip_name), num_frames=9)
    track = detect_landmarks(clip.frames)
    box = reference_crop(track.size, tuple(track.points[0, 4, :2]), (704, 480))
    track = detect_landmarks(apply_crop(clip.frames, box))
    for name, ok in EXPECTATIONS.items():
        points, _ = relative_condition(track, preset(name, 9), proxy)
        change = _change(points, track.size)
        assert ok(change), (name, change)


def test_strength_scales_the_move(woman_track):
    full, _ = relative_condition(woman_track, preset("arc-left", 17, strength=1.0), "subject")
    half, _ = relative_condition(woman_track, preset("arc-left", 17, strength=0.5), "subject")
    yaw_full = _change(full, woman_track.size)["yaw"]
    yaw_half = _change(half, woman_track.size)["yaw"]
    assert 0.35 < yaw_half / yaw_full < 0.65


@pytest.mark.slow
def test_build_condition_on_a_cartoon_and_an_image(tmp_path, astronaut):
    cartoon = build_condition(media_path("facecam_007.mp4"), "zoom-in", num_frames=9)
    assert cartoon.source.shape == cartoon.condition.shape == (9, 704, 480, 3)
    assert cartoon.describe()["trajectory"]["frames"] == 9
    from PIL import Image

    Image.fromarray(astronaut).save(tmp_path / "a.jpg")
    still = build_condition(tmp_path / "a.jpg", "arc-right", num_frames=5, size=(352, 240))
    assert still.condition.shape == (5, 352, 240, 3)
    assert (still.condition[0] != 255).any()


def test_absolute_mode_draws_the_template_in_the_top_square_and_arcs_the_right_way():
    from facecam.condition.absolute import absolute_condition

    points, frames = absolute_condition(preset("arc-left", 9), "template", (704, 480))
    assert frames.shape == (9, 704, 480, 3)
    assert (frames[:, 480:] == 255).all()  # the bottom is padding
    assert (points[:, :, 1] < 480).all()
    change = _change(points, (480, 480))
    assert change["yaw"] >= 20
    # Frame 0 is the front view: a symmetric face centred in the square.
    assert abs(points[0, 4, 0] - 240) < 2


def test_absolute_random_trajectory_starts_at_its_sampled_azimuth():
    from facecam.condition.absolute import absolute_condition

    traj = preset("random", 9, seed=5)
    start = traj.meta["sampled"]["start_azimuth"]
    points, _ = absolute_condition(traj, "template", (704, 480))
    yaw0 = estimate_head_pose(points[0], (480, 480)).yaw
    # Camera to its right (azimuth > 0) makes the head face image-left (yaw < 0).
    assert np.sign(yaw0) == -np.sign(start) and abs(yaw0) > 15


@pytest.fixture(scope="module")
def portrait_ply(tmp_path_factory, astronaut_landmarks):
    import skimage.data

    from facecam.face.gaussians import gaussians_from_portrait, save_gaussian_ply

    path = tmp_path_factory.mktemp("ply") / "head.ply"
    save_gaussian_ply(gaussians_from_portrait(skimage.data.astronaut(), astronaut_landmarks), path)
    return str(path)


@pytest.mark.slow
def test_absolute_mode_with_a_gaussian_head_detects_landmarks_on_each_render(portrait_ply):
    from facecam.condition.absolute import absolute_condition

    points, frames = absolute_condition(preset("arc-left", 5), portrait_ply, (704, 480))
    assert (frames[:, 480:] == 255).all() and (frames[:, :480] != 255).any(axis=(1, 2, 3)).all()
    assert _change(points, (480, 480))["yaw"] >= 15


@pytest.mark.slow
def test_relative_mode_with_a_gaussian_head_lands_on_the_source(woman_track, portrait_ply):
    points, _ = relative_condition(woman_track, preset("arc-left", 17), portrait_ply)
    src = woman_track.points[0, :468, :2]
    width = np.linalg.norm(woman_track.points[0, 454, :2] - woman_track.points[0, 234, :2])
    assert np.linalg.norm(points[0, :468, :2] - src, axis=-1).mean() < 0.1 * width
    assert _change(points, woman_track.size)["yaw"] >= 20


@pytest.mark.slow
@pytest.mark.parametrize("move", ["arc-left", "arc-right", "arc-up"])
def test_a_gaussian_head_proxy_slides_across_the_frame_as_the_template_does(portrait_ply, move):
    # The .ply head's landmarks come in its render camera's coordinates; posed from there onto a close-up
    # (lp_d9) the head lay behind the source camera, which draws the first frame right but slid the face
    # the wrong way under an orbit. (On facecam_000's smaller face the same pose stayed in front.)
    from facecam.condition.builder import proxy_points
    from facecam.face.pose import focal_length

    track = detect_landmarks(read_video(media_path("lp_d9.mp4"), num_frames=9).frames)
    size = track.size
    world, _ = proxy_points(portrait_ply, track.points[0].astype(np.float64), size, focal_length(size))
    assert (world[:, 2] > 0).all()  # in front of the camera
    ply = _change(relative_condition(track, preset(move, 9), portrait_ply)[0], size)
    template = _change(relative_condition(track, preset(move, 9), "template")[0], size)
    axis = "dy" if move == "arc-up" else "dx"
    assert abs(template[axis]) > 20  # the orbit moves the face's centre: the test can see a slide
    assert np.sign(ply[axis]) == np.sign(template[axis])
    assert abs(ply[axis] - template[axis]) < 0.35 * abs(template[axis]), (ply, template)


def _turning_track(points: np.ndarray, frames: int, degrees: float) -> LandmarkTrack:
    """The astronaut's landmarks turning about a vertical axis through the face, 0 to ``degrees`` over the
    clip (z is in pixels like x, so this is a rigid turn of the head)."""
    centre = points[:468].mean(axis=0)
    out = []
    for angle in np.radians(np.linspace(0.0, degrees, frames)):
        turned = points.copy()
        x, z = points[:, 0] - centre[0], points[:, 2] - centre[2]
        turned[:, 0] = centre[0] + x * np.cos(angle) + z * np.sin(angle)
        turned[:, 2] = centre[2] - x * np.sin(angle) + z * np.cos(angle)
        out.append(turned)
    return LandmarkTrack(np.stack(out).astype(np.float32), np.ones(frames, bool), (512, 512))


def test_the_trained_range_counts_the_heads_own_turn(astronaut_landmarks, caplog):
    # A subject who turns 30 deg while the camera arcs 30 deg the same way is seen about 55 deg from frontal;
    # the first frame's pose alone (the source view) said 33 and gave no warning.
    import logging

    from facecam.condition.builder import camera_for, frontal_views

    track = _turning_track(astronaut_landmarks, 9, 30.0)
    said = {}
    for name in ("arc-left", "arc-right"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="facecam"):
            traj = frontal_views(camera_for(name, 9), track, (512, 512), name, 1.0, 0, None)
        said[name] = (traj.meta["frontal"], [r.getMessage() for r in caplog.records])
    (with_turn, warned), (against, quiet) = sorted(said.values(), key=lambda v: -v[0]["max_from_frontal_with_head"])
    assert with_turn["max_from_frontal"] < 45 and with_turn["max_from_frontal_with_head"] > 50
    assert len(warned) == 1 and "with the head's own turns in the clip" in warned[0]
    assert against["max_from_frontal_with_head"] < 45 and not quiet
    # A still head: the same as the first frame's.
    still = _turning_track(astronaut_landmarks, 9, 0.0)
    front = frontal_views(camera_for("arc-left", 9), still, (512, 512), "arc-left", 1.0, 0, None).meta["frontal"]
    assert front["max_from_frontal_with_head"] == pytest.approx(front["max_from_frontal"], abs=0.5)


def test_a_few_mesh_points_at_the_edge_are_no_face_leaving_the_frame(caplog, astronaut_landmarks):
    # lp_d0 under zoom-in warned "1 frame, under 1% of its mesh outside": two points of the jaw's outline.
    import logging

    from facecam.condition.builder import warn_mesh_leaves
    from facecam.face.landmarks import LandmarkTrack

    track = LandmarkTrack(np.repeat(astronaut_landmarks[None], 3, axis=0).astype(np.float32), np.ones(3, bool),
                          (512, 512))
    for count, warned in ((2, False), (10, True)):
        points = track.points.copy()
        points[2, :count, 0] = -1.0  # the last frame: `count` points beyond the left edge
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="facecam"):
            warn_mesh_leaves(track, points, (512, 512), False, "zoom-in")
        said = [r.getMessage() for r in caplog.records if "leaves the frame" in r.getMessage()]
        assert len(said) == int(warned)
        if warned:
            assert "from frame 2 (1 frame, 2% of its mesh outside at most)" in said[0]


def test_a_move_that_takes_the_face_out_of_the_frame_is_warned_about(caplog):
    # A zoom about the frame's centre on a close-up cut the head off without a word (random is pulled back to
    # fit instead); an arc that keeps the face in says nothing.
    import logging

    with caplog.at_level(logging.WARNING, logger="facecam"):
        zoomed = build_condition(media_path("lp_d3.mp4"), "zoom-in", num_frames=17)  # 704x480 (H x W)
    said = [r.getMessage() for r in caplog.records if "leaves the frame" in r.getMessage()]
    xy = zoomed.condition_points[:, :468, :2]
    outside = ((xy < 0) | (xy >= np.array([480, 704]))).any(axis=-1).mean(axis=1) >= 0.01  # frames 1% out or more
    assert outside.any() and len(said) == 1
    assert f"from frame {np.flatnonzero(outside)[0]} ({outside.sum()} frames" in said[0]
    assert said[0].endswith("; lower --strength")
    # --track holds the face where the first frame has it, which lets more of this close-up out: the warning
    # says so, rather than offering --track as the remedy.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):
        tracked = build_condition(media_path("lp_d3.mp4"), "zoom-in", num_frames=17, track=True)
    said = [r.getMessage() for r in caplog.records if "leaves the frame" in r.getMessage()]
    xy = tracked.condition_points[:, :468, :2]
    out_tracked = ((xy < 0) | (xy >= np.array([480, 704]))).any(axis=-1).mean(axis=1).max()
    out_kept = ((zoomed.condition_points[:, :468, :2] < 0)
                | (zoomed.condition_points[:, :468, :2] >= np.array([480, 704]))).any(axis=-1).mean(axis=1).max()
    assert out_tracked > out_kept and len(said) == 1 and "leave out --track" in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):
        build_condition(media_path("lp_d9.mp4"), "arc-left", num_frames=17)
    assert not [r for r in caplog.records if "leaves the frame" in r.getMessage()]
