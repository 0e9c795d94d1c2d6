"""The authors' proxy-head camera sphere: position, look-at, FOV and our relative angles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facecam.camera.sphere import camera_centre, relative_to_sphere, sphere_camera
from facecam.errors import FacecamError


def project(K, R, t, points):
    cam = np.asarray(points, float) @ R.T + t
    return (cam @ K.T)[:, :2] / cam[:, 2:], cam[:, 2]


@pytest.mark.parametrize("azimuth, elevation", [(270, 0), (240, 10), (315, -25), (0, 30), (123, 60)])
def test_camera_sits_on_the_sphere_and_looks_at_the_origin(azimuth, elevation):
    K, R, t = sphere_camera(azimuth, elevation, 40.0)
    assert np.linalg.norm(camera_centre(R, t)) == pytest.approx(2.7)
    assert R @ R.T == pytest.approx(np.eye(3), abs=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    pixel, depth = project(K, R, t, [[0, 0, 0]])
    assert pixel[0] == pytest.approx([240.0, 240.0])
    assert depth[0] == pytest.approx(2.7)


def test_azimuth_270_is_the_front_and_z_is_up():
    K, R, t = sphere_camera(270, 0, 40.0)
    assert camera_centre(R, t) == pytest.approx([0.0, -2.7, 0.0], abs=1e-12)
    pixel, _ = project(K, R, t, [[0, 0, 0.3], [0.3, 0, 0]])
    assert pixel[0, 1] < 240 - 50  # +z is up in the image
    assert pixel[1, 0] > 240 + 50  # +x (the subject's left) is image-right


def test_positive_elevation_puts_the_camera_above_the_head():
    _, R, t = sphere_camera(270, 30, 40.0)
    centre = camera_centre(R, t)
    assert centre[2] == pytest.approx(2.7 * math.sin(math.radians(30)))
    assert centre[1] == pytest.approx(-2.7 * math.cos(math.radians(30)))


def test_horizontal_fov_maps_to_focal_and_spans_the_image_width():
    K, R, t = sphere_camera(270, 0, 40.0, size=(480, 640))
    assert K[0, 0] == pytest.approx(640 / (2 * math.tan(math.radians(20))))
    assert K[1, 1] == K[0, 0]
    assert (K[0, 2], K[1, 2]) == (320.0, 240.0)
    # A point 20 deg off the axis, at the origin's depth, lands on the right image edge.
    edge = [[2.7 * math.tan(math.radians(20)), 0.0, 0.0]]
    pixel, _ = project(K, R, t, edge)
    assert pixel[0, 0] == pytest.approx(640.0)


def test_azimuth_grows_as_the_camera_orbits_to_its_right():
    _, R0, t0 = sphere_camera(270, 0, 40.0)
    _, R1, t1 = sphere_camera(280, 0, 40.0)
    move = camera_centre(R1, t1) - camera_centre(R0, t0)
    assert move @ R0[0] > 0.4  # R's first row is the camera's right axis in world coordinates


def test_relative_angles_map_to_the_authors_absolute_ones():
    assert relative_to_sphere(0, 0) == (270.0, 0.0)
    assert relative_to_sphere(-30, 0) == (240.0, 0.0)  # arc-left
    assert relative_to_sphere(0, 20) == (270.0, 20.0)  # arc-up
    az, el = relative_to_sphere(np.array([-45.0, 45.0]), np.array([-30.0, 30.0]))
    assert az.tolist() == [225.0, 315.0] and el.tolist() == [-30.0, 30.0]


def test_arc_left_turns_a_projected_head_to_face_image_right():
    # A head at the origin looking at -y: nose tip in front of the cheeks.
    nose = [0.0, -0.4, 0.0]
    cheeks = [[-0.25, -0.15, 0.0], [0.25, -0.15, 0.0]]
    offsets = {}
    for yaw in (-30.0, 0.0, 30.0):
        K, R, t = sphere_camera(*relative_to_sphere(yaw, 0.0), 40.0)
        pixel, _ = project(K, R, t, [nose, *cheeks])
        offsets[yaw] = pixel[0, 0] - pixel[1:, 0].mean()
    assert offsets[0.0] == pytest.approx(0.0, abs=1e-9)
    assert offsets[-30.0] > 20  # arc-left: the nose swings to image-right
    assert offsets[30.0] < -20


def test_arc_up_makes_the_head_look_down():
    # Seen from above, the protruding nose tip drops further below the brow in the image.
    nose, brow = [0.0, -0.4, 0.0], [0.0, -0.3, 0.15]
    drop = {}
    for pitch in (0.0, 20.0):
        K, R, t = sphere_camera(*relative_to_sphere(0.0, pitch), 40.0)
        pixel, _ = project(K, R, t, [nose, brow])
        drop[pitch] = pixel[0, 1] - pixel[1, 1]
    assert drop[20.0] > drop[0.0] + 5


@pytest.mark.parametrize("args", [(270, 0, 0.0), (270, 0, 180.0), (270, 90, 40.0), (270, -95, 40.0)])
def test_impossible_cameras_are_refused(args):
    with pytest.raises(FacecamError):
        sphere_camera(*args)
