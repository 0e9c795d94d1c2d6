"""Frame buffers that spill to disk (facecam.video.frames) and the long-clip path that uses them."""

import threading

import numpy as np
import pytest

from conftest import media_path
from facecam.video.frames import DiskFrames, FrameCollector, frame_buffer, spill_bytes


def _frames(n=7, h=5, w=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_disk_frames_index_like_the_array_they_hold():
    ref = _frames()
    disk = DiskFrames(ref.shape)
    for t, frame in enumerate(ref):
        disk[t] = frame
    assert disk.shape == ref.shape and disk.ndim == 4 and len(disk) == 7 and disk.nbytes == ref.nbytes
    assert np.array_equal(np.asarray(disk), ref)
    assert np.array_equal(disk[3], ref[3]) and np.array_equal(disk[-1], ref[-1])
    assert np.array_equal(disk[2, 1:3, ::2], ref[2, 1:3, ::2])  # inside one frame
    assert np.array_equal(disk[1:5, 0], ref[1:5, 0])
    assert np.array_equal(disk[::3], ref[::3]) and np.array_equal(disk[[4, 0]], ref[[4, 0]])
    assert np.array_equal(np.stack(list(disk)), ref)
    view = disk[2:6]  # a view of the same file: no copy, and writes show through
    assert isinstance(view, DiskFrames) and view.shape == (4, 5, 6, 3)
    assert np.array_equal(np.asarray(view), ref[2:6]) and np.array_equal(view[-1], ref[5])
    view[0] = np.zeros((5, 6, 3), np.uint8)
    assert not disk[2].any()
    assert len(disk[5:2]) == 0
    with pytest.raises(IndexError):
        disk[7]
    with pytest.raises(ValueError, match="does not fit"):
        disk[0] = np.zeros((5, 5, 3), np.uint8)
    with pytest.raises(TypeError):
        disk[0:2] = ref[:2]


def test_disk_frames_keep_float_masks_and_take_writes_from_several_threads():
    masks = np.random.default_rng(1).random((40, 9, 11)).astype(np.float32)
    disk = DiskFrames(masks.shape, np.float32)

    def write(k):
        for t in range(k, 40, 4):
            disk[t] = masks[t]

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert disk.dtype == np.float32 and np.array_equal(np.asarray(disk), masks)


def test_buffers_spill_above_the_limit_and_collectors_move_to_disk(monkeypatch):
    monkeypatch.setenv("FACECAM_SPILL_MB", "0.001")  # 1048 bytes
    assert spill_bytes() == 1048
    assert isinstance(frame_buffer((1, 10, 10, 3)), np.ndarray)  # 300 bytes
    assert isinstance(frame_buffer((4, 10, 10, 3)), DiskFrames)  # 1200 bytes
    ref = _frames(9, 10, 10)
    collector = FrameCollector()
    for frame in ref[:3]:
        collector.append(frame)
    assert isinstance(collector.result(), np.ndarray)  # 900 bytes: still a list
    for frame in ref[3:]:
        collector.append(frame)
    result = collector.result()
    assert isinstance(result, DiskFrames) and np.array_equal(np.asarray(result), ref)
    assert np.array_equal(collector.last(), ref[-1])
    kept = FrameCollector(spill=False)
    for frame in ref:
        kept.append(frame)
    assert isinstance(kept.result(), np.ndarray)
    monkeypatch.setenv("FACECAM_SPILL_MB", "nonsense")
    assert spill_bytes() == 256 * 2**20


def test_a_spilled_read_equals_the_in_memory_one(monkeypatch):
    from facecam.video.io import read_video

    path = media_path("lp_d0.mp4")
    ref = read_video(path, num_frames=81)  # 78 frames at 25 fps: padded by holding the last
    monkeypatch.setenv("FACECAM_SPILL_MB", "1")
    kept = read_video(path, num_frames=81)  # no spill asked for: an array whatever its size
    spilled = read_video(path, num_frames=81, spill=True)
    assert isinstance(kept.frames, np.ndarray)
    assert isinstance(spilled.frames, DiskFrames) and spilled.source_frames == ref.source_frames
    assert np.array_equal(np.asarray(spilled.frames), ref.frames)


@pytest.mark.slow
def test_a_run_through_disk_buffers_writes_the_same_files(monkeypatch, tmp_path):
    """The long-clip path (everything in temporary files) gives the in-memory result exactly, and writes
    the same videos up to the encoder: with its default frame threads, x264 here encodes these small
    (240x176) frames to different bytes in some writes (up to about 1.3 grey levels apart on average;
    single-threaded it does not, and 81 frames of 704x480 encoded identically in 6 of 6 writes)."""
    from facecam.run import ConditionOptions, EngineOptions, render, write_run
    from facecam.video.io import read_video

    options = ConditionOptions(camera="arc-left", frames=33, size=(240, 176))
    memory = render(media_path("lp_d9.mp4"), options, EngineOptions(engine="warp"))
    monkeypatch.setenv("FACECAM_SPILL_MB", "0")
    disk = render(media_path("lp_d9.mp4"), options, EngineOptions(engine="warp"))
    assert all(isinstance(a, DiskFrames) for a in (disk.clip.source, disk.clip.condition, disk.video))
    assert np.array_equal(np.asarray(disk.clip.source), memory.clip.source)
    assert np.array_equal(np.asarray(disk.clip.condition), memory.clip.condition)
    assert np.array_equal(np.asarray(disk.video), memory.video)
    written = write_run(disk, tmp_path / "disk")
    reference = write_run(memory, tmp_path / "memory")
    for name in ("lp_d9.mp4", "lp_d9_input.mp4", "lp_d9_camera.mp4", "lp_d9_preview.mp4"):
        a = read_video(written[name], fps=None, num_frames=None).frames
        b = read_video(reference[name], fps=None, num_frames=None).frames
        assert a.shape == b.shape == (33, 240, 176 * (2 if "preview" in name else 1), 3), name
        assert np.abs(a.astype(np.int16) - b).mean() < 3.0, name


@pytest.mark.slow
def test_a_long_warp_runs_memory_does_not_grow_with_its_length(monkeypatch, tmp_path):
    """Building the condition, rendering and writing: 321 frames peak at about the Python heap of 81
    (the decoded source, the crop, the condition and the result all live on disk)."""
    import tracemalloc

    from facecam.run import ConditionOptions, EngineOptions, render, write_run

    monkeypatch.setenv("FACECAM_SPILL_MB", "4")

    def peak_mb(frames: int):
        options = ConditionOptions(camera="arc-left", frames=frames, size=(240, 176))
        tracemalloc.start()
        try:
            run = render(media_path("lp_d9.mp4"), options, EngineOptions(engine="warp"))
            write_run(run, tmp_path / str(frames))
            return run, tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    peak_mb(5)  # the modules a run imports take tens of MB of the heap themselves
    _, short = peak_mb(81)
    run, long = peak_mb(321)
    more_frames_mb = 240 * (480 * 512 + 3 * 240 * 176) * 3 / 2**20  # decoded + crop + condition + result
    assert isinstance(run.video, DiskFrames) and run.video.shape == (321, 240, 176, 3)
    assert long - short < 0.1 * more_frames_mb, (short, long, more_frames_mb)
    # Nothing was lost on the way: the first and last frames are real renders, not blanks.
    assert run.video[0].std() > 10 and run.video[-1].std() > 10


def test_a_full_disk_is_one_clear_error(monkeypatch):
    import errno
    import os

    from facecam.errors import FacecamError

    disk = DiskFrames((3, 4, 4, 3))

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(FacecamError, match=r"no space left .*\(0\.0 MB a frame, for each of several videos\).*TMPDIR"):
        disk[0] = np.zeros((4, 4, 3), np.uint8)


def test_a_run_too_big_for_the_disk_is_refused_before_any_work(monkeypatch, tmp_path):
    """`--frames 100001` on a 3 s clip, or `--size 16000x16000`, filled /tmp for minutes before the
    full disk stopped them; now the buffers' size is weighed against the free space first."""
    import shutil
    from collections import namedtuple

    from facecam.errors import FacecamError
    from facecam.run import ConditionOptions, render
    from facecam.video.frames import check_frame_space

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100 * 2**30, 90 * 2**30, 10 * 2**30))
    check_frame_space(81, (704, 480))          # 82 MB a video: kept in memory, no disk needed
    check_frame_space(1001, (704, 480))        # 5 videos of 0.95 GiB on disk: 4.7 of 10 GiB free
    with pytest.raises(FacecamError, match=r"^4001 frames at 704x480 need about 18\.9 GiB of frame buffers in .*"
                                           r"which has 10\.0 GiB free: fewer --frames or a smaller --size"):
        check_frame_space(4001, (704, 480))
    read = []
    monkeypatch.setattr("facecam.video.io.read_video", lambda *a, **k: read.append(a))
    with pytest.raises(FacecamError, match=r"^81 frames at 16000x16000 need about 289\.7 GiB"):
        render(str(tmp_path / "clip.mp4"), ConditionOptions(size=(16000, 16000)))
    assert read == []                          # refused before the video was opened

def test_the_vae_a_few_frames_at_a_time_equals_the_whole_clip():
    import torch

    from facecam.model.tiny import tiny_vae
    from facecam.model.vae import decode_chunked, decode_pixels, encode_chunked, encode_pixels, encode_spans, streams

    assert encode_spans(13) == [(0, 1), (1, 5), (5, 9), (9, 13)]
    vae = tiny_vae().eval()
    pixels = torch.rand(2, 3, 13, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    asked = []

    def chunk(start, end):
        asked.append((start, end))
        return pixels[:, :, start:end]

    assert streams(vae)
    whole = encode_pixels(vae, pixels)
    chunked = encode_chunked(vae, chunk, 13)
    assert asked == encode_spans(13)  # never more than 4 frames of pixels asked for at once
    assert chunked.shape == whole.shape == (2, 16, 4, 4, 6) and torch.equal(chunked, whole)
    decoded = decode_pixels(vae, whole)
    parts = {}
    decode_chunked(vae, whole, lambda start, px: parts.__setitem__(start, px))
    assert sorted(parts) == [0, 1, 5, 9] and max(p.shape[2] for p in parts.values()) == 4
    assert torch.equal(torch.cat([parts[k] for k in sorted(parts)], 2), decoded)
    vae.enable_tiling()
    assert not streams(vae)  # spatial tiles need the whole clip: the pipeline then encodes it whole


def test_the_pipeline_takes_and_gives_frame_buffers_with_the_same_result(tiny_weights, videos, monkeypatch):
    import torch

    from conftest import tiny_pipeline

    pipe = tiny_pipeline(tiny_weights)
    source, condition = videos

    def run(src, cond):
        return pipe(src, cond, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                    output_type="uint8").frames

    reference = run(source, condition)
    monkeypatch.setenv("FACECAM_SPILL_MB", "0")
    buffers = []
    for video in (source, condition):
        disk = DiskFrames(video.shape)
        for t, frame in enumerate(video):
            disk[t] = frame
        buffers.append(disk)
    spilled = run(*buffers)
    assert isinstance(reference, np.ndarray) and reference.shape == (1, *source.shape)
    assert isinstance(spilled, list) and isinstance(spilled[0], DiskFrames)
    assert np.array_equal(np.asarray(spilled[0]), reference[0])


def test_frames_all_weighs_the_whole_clip_against_the_disk_before_decoding(monkeypatch, tmp_path):
    """`--frames all` on a long video decoded it into /tmp until the disk was full; the container's frame count
    and rate say how many frames are coming."""
    import shutil
    from collections import namedtuple

    import facecam.condition.builder as builder
    from facecam.errors import FacecamError
    from facecam.video.io import write_video

    clip = write_video(tmp_path / "clip.mp4", np.zeros((48, 64, 64, 3), np.uint8), 24.0)  # 2 s
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2**30, 2**30 - 2**20, 2**20))  # 1 MiB free
    monkeypatch.setenv("FACECAM_SPILL_MB", "0")            # every video on disk
    decoded = []
    monkeypatch.setattr(builder, "read_video", lambda *a, **k: decoded.append(a))
    with pytest.raises(FacecamError, match=r"^24 frames at 704x480 need about 0\.1 GiB of frame buffers in .*which "
                                           r"has 0\.0 GiB free"):
        builder.build_condition(clip, "static", num_frames="all", size=(704, 480), fps=12.0)  # 2 s at 12 fps
    with pytest.raises(FacecamError, match=r"^12 frames at 704x480"):  # from 1 s in
        builder.build_condition(clip, "static", num_frames="all", size=(704, 480), fps=12.0, start=1.0)
    assert decoded == []
