"""The in-the-wild reader on a long, high-resolution clip: the right frames, memory bounded by one sample."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

FPS, SECONDS, SIZE = 24, 12, (720, 1280)
BITS = 9  # frame number stamped as 9 black/white blocks along the top


def _stamped(i: int) -> np.ndarray:
    frame = np.full((*SIZE, 3), 128, np.uint8)
    frame[200:, :, 0] = (i * 3) % 256  # some content below the stamp
    for b in range(BITS):
        frame[:80, b * 120:(b + 1) * 120] = 255 if (i >> b) & 1 else 0
    return frame


def _stamp(frame: np.ndarray) -> int:
    row, block = int(40 * frame.shape[0] / SIZE[0]), frame.shape[1] / SIZE[1] * 120
    return sum(1 << b for b in range(BITS) if frame[row, int((b + 0.5) * block)].mean() > 128)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    from facecam.video.io import write_video

    path = tmp_path_factory.mktemp("wild") / "long.mp4"
    return write_video(path, np.stack([_stamped(i) for i in range(FPS * SECONDS)]), FPS)


@pytest.mark.slow
def test_a_sample_late_in_a_long_clip_reads_its_own_frames_and_little_memory(long_clip):
    from facecam.data.wild import read_wild_frames

    tracemalloc.start()
    try:
        frames, real = read_wild_frames(long_clip, 200, 81, FPS, cover=(704, 480))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert real == 81 and frames.shape == (81, 704, 1252, 3)  # shrunk on decode to just cover 704x480
    assert [_stamp(f) for f in frames] == list(range(200, 281))
    # one 81-frame sample at ~704x1251 is 214 MB; reading frames 0..280 at full size took 780 MB
    assert peak < 400 * 2**20, peak / 2**20


def test_a_start_past_the_end_holds_the_last_frame(long_clip):
    from facecam.data.wild import read_wild_frames

    frames, real = read_wild_frames(long_clip, FPS * SECONDS + 50, 5, FPS, cover=(64, 48))
    assert real <= 1 and len(frames) == 5  # at most the file's last frame, then held
    assert _stamp(frames[0]) == FPS * SECONDS - 1
    assert all(np.array_equal(f, frames[0]) for f in frames)


def test_cover_shrinks_on_decode_to_the_smallest_covering_size():
    from facecam.video.io import covering_size

    assert covering_size(720, 1280, (704, 480)) == (704, 1252)
    assert covering_size(2200, 3208, (704, 480)) == (704, 1027)
    assert covering_size(512, 512, (704, 480)) == (512, 512)  # never enlarged
