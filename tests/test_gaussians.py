"""3D Gaussian proxy heads: PLY files, the splatting renderer, the portrait-built head."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facecam.camera.sphere import relative_to_sphere, sphere_camera
from facecam.condition.proxy_view import render_proxy_views
from facecam.errors import FacecamError
from facecam.face.gaussians.ply import SH_C0, GaussianCloud, load_gaussian_ply, save_gaussian_ply
from facecam.face.gaussians.portrait import FACE_HEIGHT, gaussians_from_portrait
from facecam.face.gaussians.splat import render_gaussians


def one_gaussian(mean, sigma, color=(0.0, 0.0, 0.0), opacity=0.5, rotation=(1.0, 0.0, 0.0, 0.0)) -> GaussianCloud:
    scales = np.broadcast_to(np.asarray(sigma, float), (3,))
    return GaussianCloud(means=[mean], colors=[color], opacities=[opacity], scales=[scales], rotations=[rotation])


def concat(*clouds: GaussianCloud) -> GaussianCloud:
    return GaussianCloud(*(np.concatenate([getattr(c, f) for c in clouds])
                           for f in ("means", "colors", "opacities", "scales", "rotations")))


def alpha_of(image: np.ndarray) -> np.ndarray:
    """Coverage of a black splat on white: 1 - value."""
    return 1.0 - image[..., 0].astype(np.float64) / 255.0


def random_cloud(n: int = 200, seed: int = 0) -> GaussianCloud:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    return GaussianCloud(means=rng.normal(size=(n, 3)) * 0.2, colors=rng.random((n, 3)),
                         opacities=rng.uniform(0.05, 0.99, n), scales=rng.uniform(0.002, 0.05, (n, 3)),
                         rotations=q / np.linalg.norm(q, axis=1, keepdims=True))


# ----------------------------------------------------------------------------- PLY files

def test_ply_round_trip_is_bit_exact(tmp_path):
    cloud = random_cloud()
    first, second = tmp_path / "a.ply", tmp_path / "b.ply"
    save_gaussian_ply(cloud, first)
    loaded = load_gaussian_ply(first)
    save_gaussian_ply(loaded, second)
    assert first.read_bytes() == second.read_bytes()
    assert len(loaded) == 200
    # The file stores float32: values agree to float32 precision.
    for name in ("means", "colors", "opacities", "scales", "rotations"):
        assert np.allclose(getattr(loaded, name), getattr(cloud, name), rtol=1e-5, atol=1e-6), name


def test_ply_uses_the_standard_3dgs_layout(tmp_path):
    path = tmp_path / "head.ply"
    save_gaussian_ply(random_cloud(3), path)
    header = path.read_bytes().split(b"end_header\n")[0].decode().splitlines()
    assert header[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 3"]
    names = [line.split()[2] for line in header if line.startswith("property float ")]
    assert names == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                     "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert len(path.read_bytes()) == len("\n".join(header)) + len("\nend_header\n") + 3 * 17 * 4


def write_foreign_ply(path, records: dict, comment: str = "comment written by another tool") -> None:
    """A 3DGS file the way other tools write it: own property order, a comment, a double."""
    names = list(records)
    dtype = np.dtype([(n, "<f8" if n == "x" else "<f4") for n in names])
    raw = np.zeros(len(records["x"]), dtype=dtype)
    for n in names:
        raw[n] = records[n]
    header = ["ply", "format binary_little_endian 1.0", comment, f"element vertex {len(raw)}"]
    header += [f"property {'double' if n == 'x' else 'float'} {n}" for n in names] + ["end_header"]
    path.write_bytes(("\n".join(header) + "\n").encode() + raw.tobytes())


def test_raw_values_are_activated_like_the_authors_loader(tmp_path):
    path = tmp_path / "foreign.ply"
    write_foreign_ply(path, {
        "rot_3": [0.0], "rot_2": [0.0], "rot_1": [0.0], "rot_0": [2.0],
        "x": [0.25], "y": [-1.0], "z": [0.5], "opacity": [0.0],
        "scale_0": [math.log(0.1)], "scale_1": [math.log(0.2)], "scale_2": [math.log(0.3)],
        "f_dc_0": [0.0], "f_dc_1": [1.0], "f_dc_2": [-1.0], "f_rest_0": [7.0],
    })
    cloud = load_gaussian_ply(path)
    assert cloud.means[0] == pytest.approx([0.25, -1.0, 0.5])
    assert cloud.opacities[0] == pytest.approx(0.5)  # sigmoid(0)
    assert cloud.scales[0] == pytest.approx([0.1, 0.2, 0.3], rel=1e-6)  # exp
    assert cloud.rotations[0] == pytest.approx([1.0, 0.0, 0.0, 0.0])  # normalised, w first
    assert cloud.colors[0] == pytest.approx([0.5, 0.5 + SH_C0, 0.5 - SH_C0], rel=1e-6)


def test_a_foreign_file_saves_back_to_the_same_records(tmp_path):
    path, again = tmp_path / "foreign.ply", tmp_path / "again.ply"
    write_foreign_ply(path, {"x": [0.1, 0.2], "y": [0.0, 1.0], "z": [3.0, 4.0], "opacity": [25.0, -3.0],
                             "f_dc_0": [1e-9, 2.0], "f_dc_1": [0.0, 0.0], "f_dc_2": [0.0, 0.0],
                             "scale_0": [-5.0, -4.0], "scale_1": [-5.0, -4.0], "scale_2": [-6.0, -7.0],
                             "rot_0": [0.3, 1.0], "rot_1": [0.1, 0.0], "rot_2": [0.0, 0.0], "rot_3": [0.0, 0.0]})
    save_gaussian_ply(load_gaussian_ply(path), again)
    a = np.frombuffer(path.read_bytes().split(b"end_header\n")[1], dtype=load_gaussian_ply(path).raw.dtype)
    b = load_gaussian_ply(again).raw
    # Saturated opacity (sigmoid(25)) and an unnormalised quaternion survive bit for bit.
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("content, message", [
    (b"not a ply at all", "not a PLY"),
    (b"ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nend_header\n", "not supported"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nend_header\n\0\0\0\0",
     "not a 3DGS"),
])
def test_bad_ply_files_raise_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.ply"
    path.write_bytes(content)
    with pytest.raises(FacecamError, match=message) as info:
        load_gaussian_ply(path)
    assert "\n" not in str(info.value)


def test_missing_ply_raises(tmp_path):
    with pytest.raises(FacecamError, match="not found"):
        load_gaussian_ply(tmp_path / "nope.ply")


# ----------------------------------------------------------------------------- renderer

FRONT = sphere_camera(270.0, 0.0, 40.0)


def test_an_isotropic_gaussian_lands_on_its_projected_pixel_with_the_ewa_sigma():
    K, R, t = FRONT
    sigma_world = 0.02
    mean = np.array([0.05, 0.0, 0.1])
    image = render_gaussians(one_gaussian(mean, sigma_world), K, R, t)
    cam = R @ mean + t
    expected = (K @ cam)[:2] / cam[2]
    alpha = alpha_of(image)
    ys, xs = np.mgrid[:480, :480]
    centroid = np.array([(alpha * (xs + 0.5)).sum(), (alpha * (ys + 0.5)).sum()]) / alpha.sum()
    assert centroid == pytest.approx(expected, abs=0.05)
    # Profile along the centre row: alpha = 0.5 exp(-d^2 / (2 sigma^2)) with
    # sigma^2 = (f s / z)^2 + 0.3 (the low-pass); fit log(alpha) against d^2.
    row = int(expected[1])
    d2 = (xs[row] + 0.5 - expected[0]) ** 2 + (row + 0.5 - expected[1]) ** 2
    good = alpha[row] > 0.05
    slope = np.polyfit(d2[good], np.log(alpha[row][good]), 1)[0]
    sigma_px = math.sqrt(-0.5 / slope)
    expected_sigma = math.sqrt((K[0, 0] * sigma_world / cam[2]) ** 2 + 0.3)
    assert sigma_px == pytest.approx(expected_sigma, rel=0.03)
    assert alpha.max() == pytest.approx(0.5, abs=0.01)


def test_the_footprint_ends_at_three_sigma():
    K, R, t = FRONT
    image = render_gaussians(one_gaussian([0.0, 0.0, 0.0], 0.02, opacity=0.99), K, R, t)
    sigma = math.sqrt((K[0, 0] * 0.02 / 2.7) ** 2 + 0.3)
    covered = np.flatnonzero(alpha_of(image)[240] > 0)
    half_width = (covered.max() - covered.min() + 1) / 2
    assert 3.0 * sigma - 1 <= half_width <= math.ceil(3.0 * sigma) + 1


def test_quaternions_are_read_w_first_and_rotate_the_footprint():
    K, R, t = FRONT
    long_x = one_gaussian([0.0, 0.0, 0.0], [0.06, 0.005, 0.005], opacity=0.9)
    # 90 deg about world y (the front camera's viewing axis): the long axis turns to z, image-vertical.
    quarter = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)
    long_z = one_gaussian([0.0, 0.0, 0.0], [0.06, 0.005, 0.005], opacity=0.9, rotation=quarter)
    for cloud, (wide, tall) in ((long_x, (True, False)), (long_z, (False, True))):
        mask = alpha_of(render_gaussians(cloud, K, R, t)) > 0.1
        cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
        width, height = cols.max() - cols.min(), rows.max() - rows.min()
        assert (width > 3 * height) == wide and (height > 3 * width) == tall


def test_a_near_opaque_gaussian_hides_a_far_one_whatever_the_order():
    K, R, t = FRONT
    near = one_gaussian([0.0, -0.5, 0.0], 0.03, color=(1.0, 0.0, 0.0), opacity=0.99)
    far = one_gaussian([0.0, 0.5, 0.0], 0.06, color=(0.0, 0.0, 1.0), opacity=0.99)
    images = [render_gaussians(cloud, K, R, t) for cloud in (concat(near, far), concat(far, near))]
    assert np.array_equal(images[0], images[1])  # depth decides, not the order in the file
    red, green, blue = images[0][240, 240].astype(int)
    # ~0.99 of red, then 0.99 of the remaining ~0.01 blue, ~1e-4 of white background.
    assert red >= 250 and green == 0 and blue <= 4
    assert images[0][240, 240 + 20, 2] > 200  # the far one still shows around the near one


def test_colours_are_clamped_and_background_fills_the_rest():
    K, R, t = FRONT
    image = render_gaussians(one_gaussian([0.0, 0.0, 0.0], 0.03, color=(-0.5, 2.0, 0.5), opacity=0.99),
                             K, R, t, background=(10, 20, 30))
    assert image[240, 240].tolist() == [0, 255, 126]
    assert image[0, 0].tolist() == [10, 20, 30]


def test_gaussians_behind_the_near_plane_are_culled():
    K, R, t = FRONT
    behind = one_gaussian([0.0, -2.6, 0.0], 0.05, opacity=0.99)  # 0.1 in front of the camera
    assert (render_gaussians(behind, K, R, t) == 255).all()


def test_proxy_views_fill_the_top_square_and_pad_white():
    cloud = one_gaussian([0.0, 0.0, 0.0], 0.05, color=(0.0, 0.0, 0.0), opacity=0.99)
    frames = render_proxy_views(cloud, [270.0, 300.0], [0.0, 10.0], [40.0, 25.0], progress=False)
    assert frames.shape == (2, 704, 480, 3) and frames.dtype == np.uint8
    assert (frames[:, 480:] == 255).all()
    assert frames[0, 240, 240].tolist() == [2, 2, 2]
    # The 25 deg view magnifies: the splat covers more pixels.
    assert (frames[1, :480] < 128).sum() > 2 * (frames[0, :480] < 128).sum()


# ----------------------------------------------------------------------------- head from a photo

@pytest.fixture(scope="module")
def portrait_head(astronaut, astronaut_landmarks) -> GaussianCloud:
    return gaussians_from_portrait(astronaut, astronaut_landmarks)


def test_portrait_head_is_placed_in_the_sphere_frame(portrait_head, astronaut_landmarks):
    means = portrait_head.means
    assert 40_000 < len(portrait_head) < 150_000
    extent = means.max(0) - means.min(0)
    assert extent[2] == pytest.approx(FACE_HEIGHT, rel=0.15)  # forehead to chin, +z up
    assert abs(means[:, 0].mean()) < 0.05 and abs(means[:, 2].mean()) < 0.1  # centred
    assert means[:, 1].max() < 0.1 and means[:, 1].min() < -0.25  # the face is on the -y (front) side
    assert 0.0 <= portrait_head.colors.min() and portrait_head.colors.max() <= 1.0


@pytest.mark.slow
def test_portrait_head_is_a_face_to_mediapipe_and_arc_left_turns_it_right(portrait_head):
    from facecam.face.landmarks import detect_image_landmarks

    yaws = np.array([0.0, -30.0])
    azimuth, elevation = relative_to_sphere(yaws, np.zeros(2))
    frames = render_proxy_views(portrait_head, azimuth, elevation, [40.0, 40.0], progress=False)
    offsets = []
    for frame in frames:
        points = detect_image_landmarks(frame)
        assert points is not None
        assert points[:, 1].max() < 480  # the face is in the top square
        offsets.append(points[4, 0] - points[:, 0].mean())
    assert abs(offsets[0]) < 5  # front view: nose tip on the face's centre line
    assert offsets[1] > offsets[0] + 10  # arc-left: the head turns to face image-right


@pytest.mark.slow
@pytest.mark.parametrize("yaw, pitch, fov", [(-45, -30, 25), (45, 30, 25), (-45, 0, 55), (30, -30, 55)])
def test_portrait_head_stays_in_frame_and_detectable_over_the_official_range(portrait_head, yaw, pitch, fov):
    from facecam.face.landmarks import detect_image_landmarks

    azimuth, elevation = relative_to_sphere(float(yaw), float(pitch))
    frame = render_proxy_views(portrait_head, [azimuth], [elevation], [fov], progress=False)[0]
    head = frame[:480].min(axis=2) < 250
    assert not (head[0].any() or head[-1].any() or head[:, 0].any() or head[:, -1].any())  # not clipped
    assert detect_image_landmarks(frame) is not None


# ----------------------------------------------------------------------------- CLI sub-verb

def run_make_proxy_ply(argv: list[str]) -> int:
    """``facecam debug make-proxy-ply ARGV`` through its own parser (independent of debug.py)."""
    import argparse

    from facecam.cli._debug_proxy import register_make_proxy_ply

    parser = argparse.ArgumentParser()
    register_make_proxy_ply(parser.add_subparsers())
    args = parser.parse_args(["make-proxy-ply", *argv])
    return args.func(args)


def test_make_proxy_ply_refuses_a_photo_without_a_face(tmp_path):
    from PIL import Image

    from facecam.errors import NoFaceError

    photo = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(photo)
    with pytest.raises(NoFaceError, match="no face"):
        run_make_proxy_ply([str(photo), str(tmp_path / "head.ply")])
    assert list(tmp_path.iterdir()) == [photo]
    with pytest.raises(FacecamError, match=".ply"):
        run_make_proxy_ply([str(tmp_path / "head.txt")])


@pytest.mark.slow
def test_make_proxy_ply_writes_a_loadable_head_from_a_photo(tmp_path, astronaut):
    from PIL import Image

    photo = tmp_path / "portrait.jpg"
    Image.fromarray(astronaut).save(photo, quality=95)
    out = tmp_path / "head.ply"
    assert run_make_proxy_ply([str(photo), str(out), "--spacing", "2"]) == 0
    cloud = load_gaussian_ply(out)
    assert 5_000 < len(cloud) < 60_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.ply", "portrait.jpg"]
