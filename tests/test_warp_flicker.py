"""The layer-boundary flicker measure (facecam.eval.flicker), on synthetic clips."""

import cv2
import numpy as np

from facecam.eval.flicker import boundary_band, boundary_flicker, temporal_residual


def disc_clip(radii, speed=1.5, size=(192, 256), pan=1):
    """A textured wall with a flat-coloured disc crossing it at constant speed; returns frames and masks."""
    H, W = size
    rng = np.random.default_rng(1)
    wall = cv2.GaussianBlur(rng.uniform(0, 255, (H, W + 80, 3)).astype(np.float32), (0, 0), 2.0)
    frames, masks = [], []
    for t, r in enumerate(radii):
        x0 = (pan * t) % 40  # `pan` pixels a frame
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
    assert score.ratio > 3.0  # the flickering disc against the steady one
    same = boundary_flicker(steady, steady, bands(steady_masks), bands(steady_masks))
    assert abs(same.ratio - 1.0) < 1e-9


def test_fast_motion_is_not_flicker():
    """A wall panning 4 pixels a frame changes every band pixel from frame to frame (its second
    temporal difference is large too); moved onto each other by the flow, the frames agree."""
    frames, masks = disc_clip([20.0] * 12, speed=4.0, pan=4)
    bands = [boundary_band(m, [], m.shape) for m in masks]
    residual = np.mean([v for v in temporal_residual(frames, bands) if v is not None])
    g = frames.astype(float).mean(axis=-1)
    second = np.mean([np.abs(g[t] - 0.5 * (g[t - 1] + g[t + 1]))[bands[t]].mean() for t in range(1, len(g) - 1)])
    assert residual < 0.5 * second


def test_boundary_band_follows_the_outline_and_ignores_the_frame_edge():
    size = (60, 80)
    person = np.zeros(size, bool)
    person[30:, 20:60] = True  # a body cut by the bottom edge
    band = boundary_band(person, [np.array([[5, 5], [15, 5], [15, 15], [5, 15]], float)], size, half_width=2)
    assert band[30, 40] and band[45, 20] and not band[45, 40]
    assert not band[59, 40]  # the bottom edge of the frame is no layer boundary
    assert band[5, 10] and band[10, 15] and not band[10, 10]


def test_sharpness_is_not_flicker():
    """A blurred copy of a clip, with the same boundaries, scores about as steady as the clip."""
    frames, masks = disc_clip([20.0] * 12, speed=2.0, pan=2)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in frames])
    bands = [boundary_band(m, [], m.shape) for m in masks]
    score = boundary_flicker(frames, blurred, bands, bands)
    assert 0.8 < score.ratio < 1.2
