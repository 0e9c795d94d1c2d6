"""Landmark tracking, gap filling and head pose conventions."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facecam.condition.project import PinholeCamera, project
from facecam.face.landmarks import detect_landmarks, fill_missing
from facecam.face.pose import estimate_head_pose, intrinsics, template_points


def _posed_template(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, size=(704, 480)) -> np.ndarray:
    """Template turned to face image-right by ``yaw``, up by ``pitch``, tilted clockwise by ``roll``; pixels."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    # Facing image-right: the nose (-z) moves towards +x, i.e. a rotation about y by -yaw.
    ry = np.array([[math.cos(-a), 0, math.sin(-a)], [0, 1, 0], [-math.sin(-a), 0, math.cos(-a)]])
    # Looking up: the nose moves towards -y (image up): rotation about x by -pitch.
    rx = np.array([[1, 0, 0], [0, math.cos(-b), -math.sin(-b)], [0, math.sin(-b), math.cos(-b)]])
    # Clockwise in the image (y down): rotation about z by +roll.
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    head = template_points() @ (rz @ ry @ rx).T
    cam = PinholeCamera(intrinsics(size), np.eye(3), np.array([0.0, 0.0, 4.0]))
    return project(head, cam)


@pytest.mark.parametrize("yaw,pitch,roll", [(20, 0, 0), (-35, 0, 0), (0, 15, 0), (0, -15, 0), (0, 0, 12), (25, -10, 0)])
def test_pose_angles_follow_the_documented_conventions(yaw, pitch, roll):
    pose = estimate_head_pose(_posed_template(yaw, pitch, roll), (704, 480))
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert pose.roll == pytest.approx(roll, abs=1.0)


def test_a_mirrored_photo_mirrors_yaw_and_roll(astronaut, astronaut_landmarks):
    from facecam.face.landmarks import detect_image_landmarks

    pose = estimate_head_pose(astronaut_landmarks, astronaut.shape[:2])
    flipped = estimate_head_pose(detect_image_landmarks(astronaut[:, ::-1].copy()), astronaut.shape[:2])
    assert abs(pose.yaw + flipped.yaw) < 3 and abs(pose.roll + flipped.roll) < 3
    assert abs(pose.pitch - flipped.pitch) < 3


def test_rotating_the_photo_clockwise_adds_roll(astronaut, astronaut_landmarks):
    from facecam.face.landmarks import detect_image_landmarks

    centre = tuple(float(v) for v in astronaut_landmarks[4, :2])
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D(centre, -15, 1.0), (512, 512),
                             borderMode=cv2.BORDER_REPLICATE)  # OpenCV's negative angle = clockwise
    before = estimate_head_pose(astronaut_landmarks, (512, 512)).roll
    after = estimate_head_pose(detect_image_landmarks(rotated), (512, 512)).roll
    assert after - before == pytest.approx(15, abs=3)


def test_fill_missing_interpolates_linearly_and_holds_the_ends():
    points = np.zeros((6, 2, 3), np.float32)
    for i in range(6):
        points[i] = i * 10
    found = np.array([False, True, False, False, True, False])
    filled = fill_missing(points, found)
    assert np.allclose(filled[:, 0, 0], [10, 10, 20, 30, 40, 40])


def test_tracking_fills_and_reports_frames_without_a_face(astronaut):
    frames = np.repeat(astronaut[None], 5, axis=0).copy()
    frames[2] = 0  # a black frame: no face
    track = detect_landmarks(frames)
    assert track.found.tolist() == [True, True, False, True, True]
    assert track.filled_frames == [2]
    assert np.allclose(track.points[2], (track.points[1] + track.points[3]) / 2, atol=1e-3)
