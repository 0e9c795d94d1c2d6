"""The source's sound in the videos a run writes: present, in sync, silent where there is none."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from facecam.video.audio import AudioSpan, audio_span
from facecam.video.io import read_video, write_video

FPS, RATE = 24, 44100
FLASH = 30  # the frame that is white; the click sounds at its time


def _write_clip(path, images, sound, rate, fmt="mp4", codec="aac", delay=0.0, chunk=1024):
    """Mux ``images`` (RGB frames at :data:`FPS`) and mono ``sound`` (``(n,)`` floats in -1..1 at ``rate``, its
    stream starting ``delay`` seconds after the picture) into ``path`` with PyAV."""
    import av

    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("libx264", rate=Fraction(FPS))
        video.height, video.width = images[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream(codec, rate=rate)
        audio.codec_context.layout = "mono"
        sample_format = audio.codec_context.format.name
        for start in range(0, len(sound), chunk):
            part = sound[start:start + chunk][None]
            part = (np.round(part * 32767).astype(np.int16) if sample_format.startswith("s16")
                    else part.astype(np.float32))
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(part), format=sample_format, layout="mono")
            frame.sample_rate, frame.pts = rate, start + int(delay * rate)
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
        for image in images:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    return path


def _clip_with_a_click(path, frames=48, audio_delay=0.0, size=64):
    """A black clip with one white frame and a click at that frame's time (``audio_delay``: the sound
    stream starts that many seconds after the picture, as in some phone files)."""
    sound = np.zeros(int(frames / FPS * RATE), np.float32)
    at = int((FLASH / FPS - audio_delay) * RATE)
    sound[at:at + 441] = 0.8  # 10 ms
    images = [np.full((size, size, 3), 255 if k == FLASH else 0, np.uint8) for k in range(frames)]
    return _write_clip(path, images, sound, RATE, delay=audio_delay)


def _sound(path):
    """``(seconds of the first sample, mono samples)`` of a file's audio, None when it has none."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        chunks, first = [], None
        for frame in container.decode(audio=0):
            if first is None:
                first = float(frame.pts * frame.time_base)
            chunks.append(frame.to_ndarray().reshape(len(frame.layout.channels), -1).mean(axis=0))
        return first, np.concatenate(chunks), container.streams.audio[0].codec_context.sample_rate


def _click_time(path) -> float:
    first, samples, rate = _sound(path)
    return first + int(np.argmax(np.abs(samples) > 0.3)) / rate


def _flash_time(path) -> float:
    frames = read_video(path, fps=None, num_frames=None).frames
    return int(np.argmax(frames.reshape(len(frames), -1).mean(axis=1))) / FPS


@pytest.mark.parametrize("start, delay", [(0.0, 0.0), (0.5, 0.0), (0.5, 0.25)])
def test_the_sound_of_the_span_plays_in_sync_with_its_frames(tmp_path, start, delay):
    src = _clip_with_a_click(tmp_path / "src.mp4", audio_delay=delay)
    assert abs(_click_time(src) - _flash_time(src)) < 0.005  # the fixture itself is in sync
    clip = read_video(src, fps=FPS, num_frames=33, start=start)
    span = audio_span(src, start, clip.num_frames / FPS)
    out = write_video(tmp_path / "out.mp4", clip.frames, FPS, audio=span)
    # The flash is at FLASH/FPS - start in the output, and so is the click (within a millisecond or two of
    # AAC's frame boundaries), whether or not the source's sound stream started late.
    assert _flash_time(out) == pytest.approx(FLASH / FPS - start, abs=1e-6)
    assert _click_time(out) == pytest.approx(FLASH / FPS - start, abs=0.003)
    first, samples, rate = _sound(out)
    assert rate == RATE and len(samples) / rate == pytest.approx(33 / FPS, abs=0.05)
    # A video shorter than the span (a generated one) gets no sound past its last frame.
    short = write_video(tmp_path / "short.mp4", clip.frames[:9], FPS, audio=span)
    first, samples, rate = _sound(short)
    assert len(samples) / rate == pytest.approx(9 / FPS, abs=0.05)


def test_silent_sources_and_images_give_no_span(tmp_path, astronaut):
    from PIL import Image

    silent = write_video(tmp_path / "silent.mp4", np.zeros((5, 32, 32, 3), np.uint8), FPS)
    Image.fromarray(astronaut).save(tmp_path / "photo.png")
    assert audio_span(silent, 0.0, 1.0) is None
    assert audio_span(tmp_path / "photo.png", 0.0, 1.0) is None
    assert audio_span(tmp_path / "missing.mp4", 0.0, 1.0) is None
    assert _sound(silent) is None


def test_a_run_carries_the_sound_into_the_result_input_and_preview_not_the_condition(tmp_path, astronaut):
    """A talking clip re-angled came out silent; the condition video is the model's input and stays silent."""
    from PIL import Image

    from facecam.run import ConditionOptions, EngineOptions, render, write_run

    # The astronaut's face on every frame, with the click clip's sound.
    src = _clip_with_a_click(tmp_path / "talk.mp4", frames=40)
    face = np.asarray(Image.fromarray(astronaut).resize((256, 256)))
    talk = write_video(tmp_path / "face.mp4", np.repeat(face[None], 40, axis=0), FPS,
                       audio=AudioSpan(str(src), 0.0, 40 / FPS))

    run = render(talk, ConditionOptions(camera="arc-left", frames=9, size=(128, 96)), EngineOptions(engine="warp"))
    written = write_run(run, tmp_path / "out")
    with_sound = {name for name, path in written.items() if path.suffix == ".mp4" and _sound(path) is not None}
    assert with_sound == {"face.mp4", "face_input.mp4", "face_preview.mp4"}
    record = json.loads(written["face_camera.json"].read_text())
    assert record["audio"] == ["face.mp4", "face_input.mp4", "face_preview.mp4"]
    # 9 frames at 24 fps: the sound lasts as long as the frames.
    first, samples, rate = _sound(written["face.mp4"])
    assert len(samples) / rate == pytest.approx(9 / FPS, abs=0.05)

    photo = tmp_path / "photo.png"
    Image.fromarray(astronaut).save(photo)
    still = render(photo, ConditionOptions(camera="arc-left", frames=5, size=(128, 96)))
    written = write_run(still, tmp_path / "still")
    assert all(_sound(p) is None for p in written.values() if p.suffix == ".mp4")
    assert json.loads(written["photo_camera.json"].read_text())["audio"] == []


def _sine_clip(path, fmt, codec, rate, seconds=1.5, freq=440.0):
    """A sine (0.5 amplitude, mono) under black frames, in container ``fmt`` with audio ``codec``."""
    wave = 0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)
    images = [np.zeros((32, 32, 3), np.uint8)] * int(seconds * FPS)
    return _write_clip(path, images, wave, rate, fmt, codec, chunk=1000)


class _Collect:
    """Stands in for the output stream and container: keeps the samples sent to the encoder."""

    def __init__(self):
        self.chunks = []

    def encode(self, frame):
        if frame is not None:
            self.chunks.append(frame.to_ndarray()[0].copy())
        return []

    def mux(self, packet):
        pass


@pytest.mark.parametrize("fmt, suffix, codec, rate", [("matroska", "mkv", "pcm_s16le", 44100),
                                                       ("matroska", "mkv", "aac", 48000),
                                                       ("mov", "mov", "pcm_s16le", 37800)])
def test_the_sound_reaches_the_encoder_unbroken(tmp_path, fmt, suffix, codec, rate):
    """Matroska stamps frames in whole milliseconds (an AAC frame at 48 kHz lasts 21.33 ms), and a rate AAC
    does not take is resampled: placing every frame by its stamp chopped the sound (a 32-sample run of zeros
    every 3 frames, 16 samples dropped in the others). Samples now follow one another."""
    import av

    from facecam.video.audio import _encode_span

    src = _sine_clip(tmp_path / f"sine.{suffix}", fmt, codec, rate)
    out_rate = rate if rate != 37800 else 48000
    sink = _Collect()
    with av.open(str(src)) as source:
        _encode_span(source, source.streams.audio[0], sink, sink, 0.5, 0.75, "mono", out_rate)
    got = np.concatenate(sink.chunks)
    assert len(got) == int(round(0.75 * out_rate))
    if out_rate == rate:
        # Exactly the samples the file decodes to from 0.5 s on, none missing, none added.
        with av.open(str(src)) as source:
            decoded = np.concatenate([f.to_ndarray().reshape(-1).astype(np.float32) for f in source.decode(audio=0)])
        if decoded.dtype != np.float32 or np.abs(decoded).max() > 1.5:
            decoded = decoded / 32768.0
        reference = decoded[int(0.5 * rate):int(0.5 * rate) + len(got)]
        assert np.abs(got - reference).max() < 1e-4
    else:
        # Resampled: the sine from 0.5 s, best aligned within 3 ms (the resampler's delay), and no step.
        t = np.arange(len(got)) / out_rate
        margin = int(0.01 * out_rate)
        errors = {lag: np.abs(got[margin:-margin] - 0.5 * np.sin(2 * np.pi * 440 * (0.5 + t[margin:-margin]
                                                                                     + lag / out_rate))).max()
                  for lag in range(-int(0.003 * out_rate), int(0.003 * out_rate) + 1)}
        lag = min(errors, key=errors.get)
        assert errors[lag] < 0.002, (lag, errors[lag])


def test_an_unreadable_or_damaged_sound_never_stops_a_run(tmp_path):
    import av

    src = _clip_with_a_click(tmp_path / "src.mp4")
    clip = read_video(src, fps=FPS, num_frames=33)
    # A sound no decoder reads (Matroska's codec id renamed): no span, silent videos.
    pcm = _sine_clip(tmp_path / "pcm.mkv", "matroska", "pcm_s16le", 44100)
    data = pcm.read_bytes()
    assert data.count(b"A_PCM/INT/LIT") == 1
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(data.replace(b"A_PCM/INT/LIT", b"A_ZZZ/INT/LIT"))
    assert audio_span(unknown, 0.0, 1.0) is None
    # One damaged packet in the middle: a short gap, and the click after it is still there (the first
    # damaged packet used to end the sound).
    with av.open(str(src)) as container:
        stream = container.streams.audio[0]
        packets = [(float(p.pts * stream.time_base), p.pos, p.size) for p in container.demux(stream)
                   if p.size and p.pos is not None and p.pos >= 0]
    t, pos, size = min((p for p in packets if p[0] >= 0.6), key=lambda p: p[0])
    data = bytearray(src.read_bytes())
    data[pos:pos + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = write_video(tmp_path / "out.mp4", clip.frames, FPS, audio=audio_span(damaged, 0.0, 33 / FPS))
    first, samples, rate = _sound(out)
    assert len(samples) / rate == pytest.approx(33 / FPS, abs=0.05)
    assert _click_time(out) == pytest.approx(FLASH / FPS, abs=0.003)
    # A span that begins after the sound ended: no span, so the run record lists no file with sound.
    assert audio_span(src, 2.5, 1.0) is None
