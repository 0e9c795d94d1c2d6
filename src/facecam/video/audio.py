"""The source video's sound, carried into the videos a run writes.

A run's frames are the source's from ``--start`` on, at the output rate: output time ``t`` shows
source time ``start + t`` (resampling picks frames, it never speeds the clip up), so the sound of that
span plays in sync with them. :func:`audio_span` says which span of which file; :func:`write_audio`
encodes it as AAC into a container that :func:`facecam.video.io.write_video` is writing, decoding the
source as it goes (a long clip's sound is never held in memory whole).

The span is measured on the video stream's clock: a file whose sound starts later than its picture
gets that much silence first, so the two stay in sync. Files with no audio stream, and still images,
give no span: their videos stay silent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

# Sample rates the AAC encoder takes; others are resampled to 48 kHz.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


@dataclass(frozen=True)
class AudioSpan:
    """``seconds`` of the first audio stream of ``path`` from ``start`` seconds on the video's clock."""

    path: str
    start: float
    seconds: float


def audio_span(path: str | os.PathLike, start: float, seconds: float) -> Optional[AudioSpan]:
    """The span of ``path``'s sound under a run's frames, or None when it has none to give.

    ``start`` is the run's ``--start`` and ``seconds`` how long its frames last (held frames past the
    source's end included: the sound simply ends there). None also for a sound stream no decoder reads,
    and for a span that begins after the sound has ended.
    """
    import av

    from .io import is_image_path

    if seconds <= 0 or is_image_path(path):
        return None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio or container.streams.audio[0].codec_context is None:
                return None
            audio = container.streams.audio[0]
            origin = _origin(container, start)
            if audio.duration is not None and audio.time_base is not None:
                end = _seconds((audio.start_time or 0) + audio.duration, audio.time_base)
            elif container.duration is not None:
                end = container.duration / 1e6 + (container.start_time or 0) / 1e6
            else:
                end = None
            if end is not None and origin >= end:
                return None
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    return AudioSpan(str(path), float(start), float(seconds))


def _seconds(value, time_base) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


def _origin(container, start: float) -> float:
    """The run's time 0 on the file's clock: the video's first frame plus ``--start``."""
    video = container.streams.video[0] if container.streams.video else None
    return (_seconds(video.start_time, video.time_base) if video is not None else 0.0) + start


def add_audio_stream(container, span: AudioSpan):
    """Add the AAC stream for ``span`` to an output ``container`` (before anything is muxed); returns
    a function that encodes and muxes the whole span into it."""
    import av

    source = av.open(span.path)
    try:
        audio = source.streams.audio[0]
        rate = audio.codec_context.sample_rate or 48000
        channels = audio.codec_context.channels or 2
        out_rate = rate if rate in AAC_RATES else 48000
        layout = "mono" if channels == 1 else "stereo"
        stream = container.add_stream("aac", rate=out_rate)
        stream.codec_context.layout = layout
        origin = _origin(source, span.start)
    except BaseException:
        source.close()
        raise

    def write() -> None:
        with source:
            _encode_span(source, audio, stream, container, origin, span.seconds, layout, out_rate)

    return write


PRE_ROLL = 0.5   # seconds decoded before the span: decoders that carry state (MP3, AAC) settle there
REANCHOR = 0.008  # seconds: a frame this far from where the previous one ended starts a new run (a gap)


def _encode_span(source, audio, stream, container, origin: float, seconds: float, layout: str,
                 out_rate: int) -> None:
    """Decode the source's sound from ``origin`` for ``seconds`` (its clock), encode and mux it.

    Samples follow one another as decoded: a frame's timestamp places it only when it is more than
    :data:`REANCHOR` from where the previous frame ended (a real gap, filled with silence, or an
    overlap, dropped). Timestamps rounded by the container (Matroska's milliseconds) or by resampling
    would otherwise chop the sound every frame. A packet that does not decode is skipped.
    """
    import av

    resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
    channels = 1 if layout == "mono" else 2
    total = int(round(seconds * out_rate))
    written = 0   # samples of the span sent to the encoder
    following: Optional[int] = None  # where the next decoded sample falls in the span (samples), once known

    def encode(planar: np.ndarray) -> None:
        nonlocal written
        planar = planar[:, :max(0, total - written)]
        if planar.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar, dtype=np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate = out_rate
        frame.pts = written
        written += planar.shape[1]
        for packet in stream.encode(frame):
            container.mux(packet)

    def place(samples: np.ndarray, stamped: Optional[float]) -> None:
        nonlocal following
        at = following
        if stamped is not None:
            by_stamp = int(round((stamped - origin) * out_rate))
            if at is None or abs(by_stamp - at) > REANCHOR * out_rate:
                at = by_stamp
        if at is None:
            return
        following = at + samples.shape[1]
        if at + samples.shape[1] <= written:
            return  # before the span, or already written
        if at > written:  # a gap (sound that starts late, a hole in the stream): silence keeps the sync
            encode(np.zeros((channels, at - written), np.float32))
        encode(samples[:, written - at:])

    if origin > 0 and audio.time_base:
        try:
            target = max(0.0, origin - PRE_ROLL)
            source.seek(int(target / audio.time_base) + int(audio.start_time or 0), stream=audio, backward=True)
        except av.error.FFmpegError:
            pass
    end = origin + seconds
    for packet in source.demux(audio):
        try:
            decoded = packet.decode()
        except av.error.FFmpegError:
            continue  # a damaged packet: a short gap (the next frame's timestamp re-anchors), not the end
        for frame in decoded:
            stamped = _seconds(frame.pts, frame.time_base) if frame.pts is not None else None
            if stamped is not None and stamped >= end:
                break
            try:
                converted = resampler.resample(frame)
            except (av.error.FFmpegError, ValueError):
                continue
            for k, out in enumerate(converted):
                # The resampler's output runs on continuously; only its first frame carries the stamp.
                place(out.to_ndarray().reshape(channels, -1), stamped if k == 0 else None)
        if written >= total or (packet.pts is not None and _seconds(packet.pts, packet.time_base) >= end):
            break
    for packet in stream.encode(None):
        container.mux(packet)
