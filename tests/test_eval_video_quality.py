"""Our weight-free video-quality scores on clips whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from facecam.eval.video_quality import dynamic_degree, motion_smoothness, temporal_stability

from conftest import one_error_line


def test_a_still_clip_is_perfectly_stable_smooth_and_not_dynamic(astronaut):
    clip = np.repeat(astronaut[None, ::2, ::2], 9, axis=0)
    assert temporal_stability(clip) == 1.0
    assert motion_smoothness(clip) == 1.0
    dyn = dynamic_degree(clip, fps=24.0)
    assert not dyn.dynamic and dyn.flow < 0.05


def test_temporal_stability_is_one_minus_the_mean_frame_difference():
    clip = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (0, 51, 0)])  # |diff| = 51 = 0.2 * 255
    assert temporal_stability(clip) == pytest.approx(0.8)


def test_a_linear_fade_is_perfectly_smooth_and_a_flash_is_not():
    fade = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (0, 20, 40, 60, 80)])
    assert motion_smoothness(fade) == pytest.approx(1.0)
    flash = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (0, 0, 102, 0, 0)])
    # inner frames' errors vs their neighbours' mean: 51, 102, 51 -> mean 68 -> 1 - 68/255
    assert motion_smoothness(flash) == pytest.approx(1 - 68 / 255)


def test_a_clip_panning_across_a_photo_is_dynamic(astronaut):
    frames = np.stack([np.roll(astronaut, 12 * t, axis=1) for t in range(9)])  # 12 px per frame at 512 px
    dyn = dynamic_degree(frames, fps=8.0)  # every frame kept at 8 fps
    assert dyn.dynamic and dyn.moving_fraction == 1.0
    assert dyn.flow > 6.0


def test_eval_quality_refuses_a_single_image(astronaut, tmp_path, capsys):
    """A still image scored motion smoothness and temporal stability 1.0: perfect, and meaningless."""
    import cv2

    from facecam.cli import main

    cv2.imwrite(str(tmp_path / "still.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert main(["eval", "quality", str(tmp_path / "still.png")]) == 2
    one_error_line(capsys, "needs a clip of at least 3 frames")


def test_eval_quality_prints_one_line_per_score_nested_ones_included(astronaut, tmp_path, capsys):
    """The plain-text report printed the dynamic-degree group as a Python dict on one line."""
    from facecam.cli import main
    from facecam.video.io import write_video

    frames = np.stack([np.roll(astronaut[::2, ::2], 6 * t, axis=1) for t in range(5)])
    write_video(tmp_path / "pan.mp4", frames, fps=8.0)
    assert main(["eval", "quality", str(tmp_path / "pan.mp4")]) == 0
    out = capsys.readouterr().out
    assert "{" not in out and "}" not in out
    keys = [line.split(":")[0] for line in out.strip().splitlines()]
    assert {"ours_dynamic.dynamic", "ours_dynamic.moving_fraction", "ours_dynamic.flow"} <= set(keys)
    flow = float(next(line for line in out.splitlines() if line.startswith("ours_dynamic.flow:")).split(":")[1])
    assert flow > 2.0  # 6 px a frame at 256 px: the clip moves
