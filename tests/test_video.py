"""Reading, resampling, padding, writing and cropping clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import media_path
from facecam.errors import FacecamError, VideoError
from facecam.eval.metrics import psnr
from facecam.video import CropBox, apply_crop, read_video, reference_crop, write_video
from facecam.video.crop import crop_points, parse_size
from facecam.video.io import check_frame_count


def test_resampling_30_to_24_fps_picks_the_latest_frame_at_each_time():
    path = media_path("lp_d3.mp4")  # 30 fps
    native = read_video(path, fps=None, num_frames=None)
    clip = read_video(path, fps=24, num_frames=33)
    assert clip.frames.shape == (33, 512, 512, 3)
    for i in range(33):
        j = int(np.floor(i * 30 / 24 + 1e-9))
        assert np.array_equal(clip.frames[i], native.frames[j]), i


def test_reading_stops_after_the_frames_it_needs():
    clip = read_video(media_path("lp_d9.mp4"), fps=None, num_frames=9)  # 587 frames in the file
    assert clip.num_frames == 9 and clip.source_frames == 9


def test_short_clip_is_padded_by_holding_the_last_frame():
    clip = read_video(media_path("lp_d0.mp4"), fps=24, num_frames=121)  # 78 frames at 25 fps = 3.1 s
    assert clip.num_frames == 121
    assert 74 <= clip.source_frames <= 76
    last = clip.source_frames - 1
    assert all(np.array_equal(clip.frames[i], clip.frames[last]) for i in range(last, 121))
    assert not np.array_equal(clip.frames[0], clip.frames[last])


def test_still_image_becomes_a_static_clip(tmp_path, astronaut):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.fromarray(astronaut).save(path)
    clip = read_video(path, num_frames=17)
    assert clip.frames.shape == (17, 512, 512, 3)
    assert np.array_equal(clip.frames[0], astronaut) and np.array_equal(clip.frames[16], astronaut)


@pytest.mark.parametrize("n", [0, 2, 80, 82])
def test_frame_count_must_be_4k_plus_1(n):
    with pytest.raises(VideoError, match="4k\\+1"):
        check_frame_count(n)


@pytest.mark.parametrize("n", [0, -3, -5])
def test_a_frame_count_below_one_is_refused_as_not_positive(n):
    # -3 and -5 are 4k+1: "must be 4k+1, got -3" read as a contradiction
    with pytest.raises(VideoError, match=f"must be a positive number of frames, 4k\\+1 .*, got {n}$"):
        check_frame_count(n)


def test_write_then_read_round_trip_is_faithful_and_leaves_no_temp_file(tmp_path, astronaut):
    frames = np.stack([astronaut[40 + 4 * i: 168 + 4 * i, 160:256] for i in range(9)])
    out = write_video(tmp_path / "v.mp4", frames, fps=24)
    back = read_video(out, fps=None, num_frames=None)
    assert back.frames.shape == frames.shape
    assert back.fps == pytest.approx(24.0)
    assert psnr(back.frames, frames) > 35
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_missing_file_and_text_file_give_clear_errors(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video\n")
    with pytest.raises(VideoError, match="cannot open video"):
        read_video(fake)


def test_a_garbage_file_error_names_ffmpegs_reason_without_its_internal_code(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError) as info:
        read_video(garbage)
    message = str(info.value)
    assert message.startswith(f"cannot open video {garbage}: Invalid data found when processing input")
    assert "Errno" not in message and "1094995529" not in message
    # A clip cut short (the first 100 kB of a download) says so too.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(media_path("lp_d3.mp4").read_bytes()[:100_000])
    with pytest.raises(VideoError, match=r"is incomplete: a download or copy cut short\)$"):
        read_video(cut)


def test_start_past_the_end_is_an_error_that_says_how_long_the_clip_is():
    path = media_path("lp_d3.mp4")  # 354 frames at 30 fps: 11.8 s
    for start in (11.8, 12.0, 30.0):
        with pytest.raises(VideoError, match=r"no frames after --start .* \(it lasts 11\.80 s\)"):
            read_video(path, fps=24, num_frames=81, start=start)
    clip = read_video(path, fps=24, num_frames=81, start=11.75)  # the last frame shows from 11.767 s
    assert clip.source_frames == 2


def test_truncated_video_is_an_error(tmp_path):
    data = media_path("facecam_000.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError):
        read_video(cut)


def test_truncated_faststart_video_is_an_error(tmp_path):
    import av

    frames = read_video(media_path("facecam_000.mp4"), num_frames=81).frames
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 480, 704, "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    cut = tmp_path / "fastcut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated|cannot"):
        read_video(cut, num_frames=81)


def test_zero_frame_video_is_an_error(tmp_path):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    with pytest.raises(VideoError, match="has no frames"):
        read_video(path)


def test_reference_crop_covers_target_and_centres_on_the_nose():
    # 512x512 frame, nose right of centre: scaled x1.375 to 704x704, window 480 wide around the nose.
    box = reference_crop((512, 512), (300.0, 250.0), (704, 480))
    assert (box.resized_h, box.resized_w) == (704, 704)
    assert box.left == int(300 / 512 * 704) - 240 and box.top == 0
    # Clamped at the right border.
    box = reference_crop((512, 512), (510.0, 250.0), (704, 480))
    assert box.left == 704 - 480
    # A landscape 1280x720 frame is scaled by max(704/720, 480/1280).
    box = reference_crop((720, 1280), (640.0, 360.0), (704, 480))
    assert (box.resized_h, box.resized_w) == (704, int(1280 * 704 / 720))


def test_crop_maps_points_like_pixels():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40, 150] = 255
    box = CropBox(resized_h=100, resized_w=200, top=10, left=100, height=80, width=96)
    out = apply_crop(frame, box)
    assert out.shape == (80, 96, 3)
    y, x = np.argwhere(out[..., 0] == 255)[0]
    assert np.allclose(crop_points(np.array([[150.0, 40.0, 0.0]]), (100, 200), box)[0, :2], [x, y])


@pytest.mark.parametrize("text", ["704", "700x480", "axb", "0x480"])
def test_bad_size_strings_are_rejected(text):
    with pytest.raises(FacecamError):
        parse_size(text)


def test_a_frame_stream_writes_the_same_video_as_the_array(tmp_path, astronaut):
    """Derived videos (the preview) are written frame by frame, never held whole; the file is the same."""
    import cv2

    from facecam.video.io import FrameStream, read_video, write_video

    base = cv2.resize(astronaut, (63, 47))  # odd sizes: padded by one pixel either way
    frames = np.stack([np.roll(base, 3 * t, axis=1) for t in range(9)])
    a = write_video(tmp_path / "array.mp4", frames, 24.0)
    b = write_video(tmp_path / "stream.mp4", FrameStream(9, lambda t: frames[t]), 24.0)
    assert a.read_bytes() == b.read_bytes()
    assert read_video(b, fps=None, num_frames=None).frames.shape == (9, 48, 64, 3)
    with pytest.raises(ValueError, match="empty stream"):
        write_video(tmp_path / "none.mp4", FrameStream(0, lambda t: frames[t]), 24.0)


def test_the_same_frames_always_encode_to_the_same_video(tmp_path, astronaut):
    """x264's AVX-512 routines gave different pixels for the same frames after the process had decoded
    a video (x264_cpu_params caps them at AVX2); the second and third writes here differed before."""
    import hashlib

    base = np.stack([np.roll(astronaut[:480, :480], 6 * i, axis=1) for i in range(33)])
    digests = []
    for k in range(4):
        path = write_video(tmp_path / f"run{k}.mp4", base, fps=24)
        read_video(path, fps=None, num_frames=None)  # decoding in between is what disturbed the encoder
        digests.append(hashlib.md5(path.read_bytes()).hexdigest())
    assert len(set(digests)) == 1, digests


def test_writing_a_run_over_an_earlier_one_says_so_and_long_sets_show_progress(tmp_path, caplog, capsys):
    """A second `generate` into the same folder used to replace the first run's files without a word,
    and a long clip's videos were encoded for 14 s with nothing on screen."""
    import logging

    from facecam.video.io import write_video
    from facecam.video.outputs import PROGRESS_FRAMES, write_outputs

    frames = np.zeros((9, 16, 16, 3), np.uint8)
    counted = []
    write_video(tmp_path / "a.mp4", frames, 24.0, on_frame=lambda: counted.append(1))
    assert len(counted) == 9
    files = {"talk.mp4": frames, "talk_camera.json": {"camera": "arc-left"}}
    with caplog.at_level(logging.WARNING, logger="facecam"):
        write_outputs(tmp_path / "out", files, 24.0, progress=True)
        assert not caplog.records
        write_outputs(tmp_path / "out", files, 24.0, progress=True)
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "replacing 2 file(s) of an earlier run" in notes[0] and "talk.mp4" in notes[0]
    long = np.zeros((PROGRESS_FRAMES + 4, 16, 16, 3), np.uint8)
    capsys.readouterr()
    write_outputs(tmp_path / "long", {"talk.mp4": long}, 24.0, progress=True)
    assert "writing" in capsys.readouterr().err


def _with_display_matrix(path, a, b, c, d):
    """Rewrite an mp4's track matrix (tkhd) as (a b; c d) in 16.16 fixed point: a phone's rotation flag."""
    import struct

    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data = path.read_bytes()
    at = data.find(identity, data.find(b"tkhd"))
    assert at > 0
    matrix = struct.pack(">9i", a * 0x10000, b * 0x10000, 0, c * 0x10000, d * 0x10000, 0, 0, 0, 0x40000000)
    path.write_bytes(data[:at] + matrix + data[at + 36:])
    return path


@pytest.mark.parametrize("matrix, stored_turns", [((0, 1, -1, 0), 1), ((0, -1, 1, 0), -1), ((-1, 0, 0, -1), 2)])
def test_a_phones_rotated_video_is_read_upright(tmp_path, astronaut, matrix, stored_turns):
    """A phone stores a portrait video as landscape frames and a display rotation; read as stored, the
    face lay on its side (the crop, the condition and the result with it)."""
    portrait = np.ascontiguousarray(astronaut[:, 56:456])  # 512 x 400, upright
    stored = np.ascontiguousarray(np.rot90(portrait, stored_turns))
    path = _with_display_matrix(write_video(tmp_path / "phone.mp4", np.repeat(stored[None], 5, axis=0), 24.0),
                                *matrix)
    clip = read_video(path, fps=None, num_frames=None)
    assert clip.frames.shape[1:] == portrait.shape
    assert psnr(clip.frames[0], portrait) > 30
    # Shrunk while decoding (a long clip's `cover`): the same upright picture, smaller.
    small = read_video(path, fps=None, num_frames=None, cover=(256, 200)).frames
    assert small.shape[1:] == (256, 200, 3)
    assert psnr(small[0], cv2_resize(portrait, (200, 256))) > 25


def cv2_resize(image, size):
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def test_a_phone_photo_with_an_exif_orientation_is_read_upright(tmp_path, astronaut):
    from PIL import Image

    from facecam.video.io import read_image

    portrait = np.ascontiguousarray(astronaut[:, 56:456])
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(portrait, 1)))  # on its side, as the sensor saw it
    exif = stored.getexif()
    exif[0x0112] = 6  # Orientation: turn 90 deg clockwise to show
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == portrait.shape and psnr(image, portrait) > 30
    assert read_video(tmp_path / "phone.jpg", num_frames=5).frames.shape[1:] == portrait.shape


def test_a_sliver_of_a_video_and_a_16_bit_grey_photo_are_read_or_refused_in_one_line(tmp_path, astronaut):
    from PIL import Image

    from facecam.video.io import read_image

    # A 2-pixel-wide video crashed the face detector with a traceback (ROI width and height must be > 0).
    sliver = write_video(tmp_path / "sliver.mp4", np.zeros((3, 512, 2, 3), np.uint8), 24.0)
    with pytest.raises(VideoError, match=r"2x512 pixels: too small to show a face"):
        read_video(sliver, fps=None, num_frames=None)
    # 16-bit grey (PIL mode I;16) came out nearly white through convert("RGB"): no face found.
    grey = (astronaut.mean(axis=-1) * 257).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    image = read_image(tmp_path / "grey16.png")
    assert image.shape == astronaut.shape and abs(float(image.mean()) - float(astronaut.mean())) < 2


def test_a_transparent_cutout_is_drawn_on_white_and_said(tmp_path, astronaut, caplog):
    from PIL import Image

    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[..., :3] = astronaut
    rgba[:, 256:, 3] = 255  # the right half opaque, the left half see-through (its stored colour is the photo)
    rgba[:, 200:256, 3] = 128  # a half-transparent band between them
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    with caplog.at_level("WARNING", logger="facecam"):
        frame = read_video(path, num_frames=1).frames[0]
    assert (frame[:, :200] == 255).all()  # see-through: white, not the stored (here the photo's) colour
    assert np.array_equal(frame[:, 256:], astronaut[:, 256:])
    band = np.round(astronaut[:, 200:256].astype(float) * 128 / 255 + 255 * 127 / 255)
    assert np.abs(frame[:, 200:256] - band).max() <= 1
    assert ["facecam: note: cutout.png is partly transparent; its see-through pixels are drawn on white"] == [
        r.getMessage() for r in caplog.records]
    caplog.clear()
    rgba[..., 3] = 255  # an alpha channel that hides nothing: the picture as it is, no note
    Image.fromarray(rgba, "RGBA").save(path)
    with caplog.at_level("WARNING", logger="facecam"):
        assert np.array_equal(read_video(path, num_frames=1).frames[0], astronaut)
    assert not caplog.records
    rgba[..., 3] = 0  # nothing shows: said so, not "no face found"
    Image.fromarray(rgba, "RGBA").save(path)
    with pytest.raises(VideoError, match=r"cutout.png is fully transparent: it shows nothing"):
        read_video(path, num_frames=1)


@pytest.mark.parametrize("fps, words", [(1000, "between 1 and 120 frames per second"), (0.5, "between 1 and 120"),
                                        (0, "between 1 and 120"), (float("inf"), "between 1 and 120.*got inf")])
def test_output_frame_rates_a_video_cannot_be_resampled_to_are_refused(fps, words):
    with pytest.raises(VideoError, match=words):
        read_video(media_path("lp_d9.mp4"), fps=fps, num_frames=5)


def test_a_web_address_is_told_to_be_downloaded_first():
    for url in ("https://example.com/talk.mp4", "http://host/a b.mov", "rtsp://camera/stream"):
        with pytest.raises(VideoError) as info:
            read_video(url, num_frames=5)
        assert str(info.value) == (f"facecam reads files on this computer; download {url} first (a browser, curl "
                                   "or yt-dlp) and give its path")
    # Without its scheme a web address is a missing file, said to look like one.
    for address in ("youtube.com/watch?v=abc", "www.example.org/clip.mp4", "youtu.be/abc"):
        with pytest.raises(VideoError, match=r"video not found: .*\(a web address\? .*download it first"):
            read_video(address, num_frames=5)
    with pytest.raises(VideoError, match=r"video not found: clips/talk.mp4$"):
        read_video("clips/talk.mp4", num_frames=5)


def test_a_sets_videos_are_written_side_by_side_each_whole_and_a_failure_stops_them_all(tmp_path, monkeypatch):
    """write_outputs encodes a set's videos at once (WRITE_THREADS): each file holds its own frames, the bar
    counts every frame of every video, and one failing video fails the set with its own error, leaving
    neither a staging folder nor a partial file."""
    import facecam.video.outputs as outputs
    from facecam.video.io import FrameStream, read_video
    from facecam.video.outputs import write_outputs

    shades = {f"v{k}.mp4": np.full((7, 32, 32, 3), 40 * k + 20, np.uint8) for k in range(4)}
    counted = []

    class Bar:
        def __init__(self, total, **kwargs):
            self.total = total

        def update(self, n):
            counted.append(n)

        def close(self):
            pass

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    monkeypatch.setattr(outputs, "PROGRESS_FRAMES", 10)
    import threading

    threads = set()

    def seen_by(frames):
        def make(t):
            threads.add(threading.get_ident())
            return frames[t]
        return FrameStream(len(frames), make)

    written = write_outputs(tmp_path / "out", {**{n: seen_by(f) for n, f in shades.items()}, "run.json": {"a": 1}},
                            24.0, progress=True)
    assert sum(counted) == 28
    assert len(threads) > 1  # encoded side by side
    for name, frames in shades.items():
        got = read_video(written[name], fps=None, num_frames=None).frames
        assert got.shape == frames.shape and abs(float(got.mean()) - float(frames.mean())) < 2.0
    assert json.loads((tmp_path / "out" / "run.json").read_text()) == {"a": 1}

    made = {}

    def stream(name, count, fail_at=None):
        def make(t):
            made.setdefault(name, []).append(t)
            if t == fail_at:
                raise RuntimeError(f"the preview's frame {t} cannot be made")
            return shades["v0.mp4"][0]
        return FrameStream(count, make)

    # The broken video first: three long ones start beside it, the fourth waits for a free writer.
    files = {"p.mp4": stream("p", 400, fail_at=3), **{f"long{k}.mp4": stream(k, 2000) for k in range(4)}}
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    with pytest.raises(RuntimeError, match="frame 3 cannot be made"):
        write_outputs(tmp_path / "out", files, 24.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before  # no staging folder, no p.mp4
    assert max(made["p"]) == 3
    assert 3 not in made  # the waiting video never started
    assert all(len(made.get(k, [])) < 2000 for k in range(3))  # the others stopped
