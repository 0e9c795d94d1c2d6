"""Cuts to another shot in a source clip: found, told apart from pans and flashes, and warned about with the
--start / --duration that keep one shot."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import media_path
from facecam.video.cuts import CUT_MIN, find_cuts, pair_differences, warn_cuts
from facecam.video.io import read_video, write_video


def _pan(astronaut, frames: int, step: int = 8) -> np.ndarray:
    """A 384x384 window sliding ``step`` px a frame to the right across the astronaut photo: a camera pan."""
    return np.stack([astronaut[64:448, i * step:i * step + 384] for i in range(frames)])


def test_a_cut_is_found_and_a_pan_or_a_flash_is_not(astronaut):
    from skimage import data

    pan = _pan(astronaut, 16)
    assert find_cuts(pan) == [] and pair_differences(pan).max() > 3  # it moves, every pair alike
    flash = pan.copy()
    flash[7] = np.clip(flash[7].astype(int) + 120, 0, 255)  # one bright frame: two changes in a row
    assert find_cuts(flash) == []
    coffee = np.ascontiguousarray(data.coffee()[:384, :384])
    cut = np.concatenate([pan[:10], np.repeat(coffee[None], 6, axis=0)])
    assert find_cuts(cut) == [10] and pair_differences(cut)[9] >= CUT_MIN
    assert find_cuts(cut[:2]) == [] and find_cuts(cut[9:11]) == []  # one pair: a cut or a fast pan
    assert find_cuts(cut[8:11]) == [2]


def _square(name: str, frames: int) -> np.ndarray:
    """A shared clip's first ``frames`` squeezed to 480x480 (so two clips join end to end)."""
    import cv2

    return np.stack([cv2.resize(f, (480, 480), interpolation=cv2.INTER_AREA)
                     for f in read_video(media_path(name), num_frames=frames).frames])


def test_the_shared_clips_have_no_cut_and_two_joined_have_one():
    clips = [_square(name, 25) for name in ("lp_d9.mp4", "facecam_000.mp4")]
    for frames in clips:
        assert find_cuts(frames) == []
    assert find_cuts(np.concatenate([clips[0][:12], clips[1][:13]])) == [12]


def test_a_run_on_a_clip_with_a_cut_warns_with_the_span_of_one_shot(tmp_path, caplog):
    from facecam.condition.builder import build_condition

    a, b = _square("lp_d9.mp4", 25), _square("facecam_000.mp4", 13)
    path = tmp_path / "edited.mp4"
    write_video(path, np.concatenate([a, b]), 24.0)  # a cut at frame 25 (1.04 s)
    with caplog.at_level("WARNING", logger="facecam"):
        build_condition(path, "static", num_frames=33, size=(352, 240))
    said = [r.getMessage() for r in caplog.records if "cuts to another shot" in r.getMessage()]
    assert said == ["facecam: warning: the video cuts to another shot at 1.04 s; facecam re-angles one continuous "
                    "shot, so the result will jump there; --duration 1.04 keeps the longest shot (1.0 s)"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="facecam"):
        warn_cuts(np.concatenate([a[:5], b]), 24.0, start=2.0)  # from --start 2: the second shot is longer
    assert "at 2.21 s" in caplog.records[0].getMessage() and "--start 2.21 keeps the longest shot (0.5 s)" in \
        caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="facecam"):
        warn_cuts(np.concatenate([a[:3], b[:3]] * 4 + [a]), 24.0)  # an edited montage: 8 cuts
    said = caplog.records[0].getMessage()
    assert "at 0.12 s, 0.25 s, 0.38 s, 0.50 s, 0.62 s and 3 more;" in said and "--start 1.00" in said
    caplog.clear()
    with caplog.at_level("WARNING", logger="facecam"):
        build_condition(path, "static", num_frames=17, size=(352, 240))  # ends before the cut
    assert not [r for r in caplog.records if "cuts" in r.getMessage()]


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_too_few_frames_have_no_cut(astronaut, frames):
    assert find_cuts(_pan(astronaut, frames)) == []


def test_a_black_intro_or_a_plain_card_is_not_a_cut(astronaut):
    pan = _pan(astronaut, 8, step=2)
    black = np.zeros_like(pan[:4])
    card = np.full_like(pan[:4], 200)
    assert find_cuts(np.concatenate([black, pan])) == []
    assert find_cuts(np.concatenate([pan, card, pan])) == []
