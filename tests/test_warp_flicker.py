"""The layer-boundary flicker measure (facecam.eval.flicker), on synthetic clips."""

import cv2
import numpy as np

from facecam.eval.flicker import boundary_band, boundary_flicker, second_difference


def disc_clip(radii, speed=1.5, size=(96, 128)):
    """A textured wall with a flat-coloured disc crossing it at constant speed; returns frames and masks."""
    H, W = size
    rng = np.random.default_rng(1)
    wall = cv2.GaussianBlur(rng.uniform(0, 255, (H, W + 80, 3)).astype(np.float32), (0, 0), 2.0)
    frames, masks = [], []
    for t, r in enumerate(radii):
        x0 = t % 40  # one pixel a frame
        frame = wall[:, x0:x0 + W].copy()  # the wall pans smoothly
        yy, xx = np.mgrid[:H, :W]
        dist = np.hypot(xx - (30 + speed * t), yy - H / 2)
        alpha = np.clip(r - dist + 0.5, 0, 1)[..., None]  # antialiased disc
        frame = alpha * np.array([200.0, 120.0, 90.0]) + (1 - alpha) * frame
        frames.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
        masks.append(dist < r)
    return np.stack(frames), masks


def test_a_flickering_edge_scores_higher_than_a_steady_one():
    T = 20
    steady, steady_masks = disc_clip([20.0] * T)
    jumpy, jumpy_masks = disc_clip([20.0 + (3.0 if t % 2 else -3.0) for t in range(T)])
    bands = lambda masks: [boundary_band(m, [], m.shape) for m in masks]  # noqa: E731
    score = boundary_flicker(steady, jumpy, bands(steady_masks), bands(jumpy_masks))
    assert score.input > 0 and score.output > 0
    assert score.ratio > 2.0  # the flickering disc against the steady one (2.5 measured)
    same = boundary_flicker(steady, steady, bands(steady_masks), bands(steady_masks))
    assert abs(same.ratio - 1.0) < 1e-9


def test_smooth_motion_has_little_second_difference():
    """A disc moving at constant speed changes every frame but hardly accelerates: the second
    difference stays far below the first."""
    frames, masks = disc_clip([20.0] * 12, speed=2.0)
    bands = [boundary_band(m, [], m.shape) for m in masks]
    second = np.mean([v for v in second_difference(frames, bands) if v is not None])
    first = np.mean([np.abs(frames[t].astype(float) - frames[t - 1].astype(float)).mean(axis=-1)[bands[t]].mean()
                     for t in range(1, len(frames))])
    assert second < 0.35 * first


def test_boundary_band_follows_the_outline_and_ignores_the_frame_edge():
    size = (60, 80)
    person = np.zeros(size, bool)
    person[30:, 20:60] = True  # a body cut by the bottom edge
    band = boundary_band(person, [np.array([[5, 5], [15, 5], [15, 15], [5, 15]], float)], size, half_width=2)
    assert band[30, 40] and band[45, 20] and not band[45, 40]
    assert not band[59, 40]  # the bottom edge of the frame is no layer boundary
    assert band[5, 10] and band[10, 15] and not band[10, 10]
