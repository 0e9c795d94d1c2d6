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
    source's end included: the sound simply ends there).
    """
    import av

    from .io import is_image_path

    if seconds <= 0 or is_image_path(path):
        return None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    return AudioSpan(str(path), float(start), float(seconds))


def _seconds(value, time_base) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


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
        video = source.streams.video[0] if source.streams.video else None
        # The run's time 0 on the file's clock: the video's first frame plus --start.
        origin = (_seconds(video.start_time, video.time_base) if video is not None else 0.0) + span.start
    except BaseException:
        source.close()
        raise

    def write() -> None:
        with source:
            _encode_span(source, audio, stream, container, origin, span.seconds, layout, out_rate)

    return write


def _encode_span(source, audio, stream, container, origin: float, seconds: float, layout: str,
                 out_rate: int) -> None:
    import av

    end = origin + seconds
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
    written = 0  # samples at out_rate
    total = int(round(seconds * out_rate))

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

    if origin > 0 and audio.time_base:
        try:
            source.seek(int(origin / audio.time_base) + int(audio.start_time or 0), stream=audio, backward=True)
        except av.error.FFmpegError:
            pass
    channels = 1 if layout == "mono" else 2
    try:
        for decoded in source.decode(audio):
            if decoded.pts is None:
                continue
            t0 = _seconds(decoded.pts, decoded.time_base)
            if t0 >= end or written >= total:
                break
            for frame in resampler.resample(decoded):
                samples = frame.to_ndarray().reshape(channels, -1)
                # Where this frame's first sample falls in the span, in samples.
                at = int(round((t0 - origin) * out_rate))
                t0 += samples.shape[1] / out_rate
                if at + samples.shape[1] <= written:
                    continue  # before the span, or already written
                if at > written:  # a gap (sound that starts late): silence keeps the sync
                    encode(np.zeros((channels, at - written), np.float32))
                encode(samples[:, written - at:])
    except av.error.FFmpegError:
        pass  # a damaged tail of the sound: what was decoded is kept
    for packet in stream.encode(None):
        container.mux(packet)
