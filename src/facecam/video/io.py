"""Reading and writing clips.

A clip is a ``(T, H, W, 3)`` uint8 RGB array plus its frame rate. Reading resamples
to a target frame rate by timestamps (nearest earlier frame), decodes only as far as
the frames it needs, and pads short clips by holding the last frame so that the
frame count is the requested ``4k + 1``. Still images become static clips.
Writing produces H.264/yuv420p mp4 under a temporary name and renames it when
complete, so a crash never leaves a half-written video behind.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .._atomic import atomic_path
from ..errors import VideoError
from .frames import DiskFrames, FrameCollector

if TYPE_CHECKING:
    from .audio import AudioSpan

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DEFAULT_FPS = 24.0
DEFAULT_FRAMES = 81


@dataclass
class VideoClip:
    """Decoded frames ``(T, H, W, 3)`` uint8 RGB at ``fps`` frames per second.

    ``source_frames`` counts frames taken from the file before padding, so callers
    can tell a padded clip from a long one.
    """

    frames: np.ndarray
    fps: float
    path: Optional[str] = None
    source_frames: int = 0

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def real_frames(self) -> int:
        """Frames taken from the file, not held copies of its last (all of them when ``source_frames`` is 0),
        at least 1."""
        return max(1, min(self.source_frames or self.num_frames, self.num_frames))

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def check_frame_count(num_frames: int) -> int:
    """Return ``num_frames`` if it has the form ``4k + 1`` (the VAE's temporal stride), else raise."""
    if num_frames < 1:  # (-3 is 4k+1 too: the rule alone read as if it had been broken)
        raise VideoError(f"--frames must be a positive number of frames, 4k+1 (e.g. 17, 49, 81), got {num_frames}")
    if (num_frames - 1) % 4 != 0:
        raise VideoError(f"--frames must be 4k+1 (e.g. 17, 49, 81), got {num_frames}")
    return num_frames


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def check_video_path(path: str | os.PathLike, what: str = "video") -> Path:
    """``path`` as a Path if it names a non-empty file on this computer, else a one-line :class:`VideoError`
    (a web address, a missing file, a folder, an empty file); nothing is decoded."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+://", str(path)):  # Path() would fold "http://" into "http:/"
        raise VideoError(f"facecam reads files on this computer; download {path} first (a browser, curl or "
                         f"yt-dlp) and give its path")
    p = Path(path)
    # The same words for any video read (an --output judged by `eval camera` is not an "input").
    if not p.exists():
        if re.match(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|be|net|org|tv|io|co)/", str(path), re.I):
            raise VideoError(f"video not found: {p} (a web address? facecam reads files on this computer; "
                             f"download it first and give its path)")
        raise VideoError(f"{what} not found: {p}")
    if p.is_dir():
        raise VideoError(f"{p} is a folder, not a {what}")
    if p.stat().st_size == 0:
        raise VideoError(f"{p} is an empty file, not a {what}")
    return p


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a still image as ``(H, W, 3)`` uint8 RGB, upright (a phone photo's EXIF orientation applied)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = check_video_path(path, "picture")
    try:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I"):  # 16/32-bit grey: convert("RGB") clips it to white
                grey = np.asarray(im).astype(np.float64)
                grey *= 255.0 / (65535.0 if grey.max() > 255 else 255.0)
                image = np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
            elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                image = _on_backdrop(np.asarray(im.convert("RGBA")), p)
            else:
                image = np.asarray(im.convert("RGB")).copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise VideoError(f"cannot read image {p}: {exc}") from None
    check_picture_size(image.shape[:2], p)
    return image


BACKDROP = 255  # grey level a transparent picture's see-through pixels are drawn on (white)


def _on_backdrop(rgba: np.ndarray, path) -> np.ndarray:
    """A picture with transparency drawn over white, with a note when any pixel was see-through (a cut-out
    portrait's background came out black: the transparent pixels' stored colour, usually black)."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    if alpha.min() >= 1.0:
        return np.ascontiguousarray(rgba[..., :3])
    import logging

    if alpha.max() <= 0.0:
        raise VideoError(f"{path} is fully transparent: it shows nothing (every pixel's alpha is 0)")
    logging.getLogger("facecam").warning(f"facecam: note: {Path(path).name} is partly transparent; its see-through "
                                         f"pixels are drawn on white")
    mixed = rgba[..., :3].astype(np.float32) * alpha + BACKDROP * (1.0 - alpha)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


MIN_SIDE = 32  # pixels: a picture narrower than this cannot show a face to find


def check_picture_size(shape, path) -> None:
    """Refuse a picture too small to hold a face (a 1-pixel-wide video crashed the face detector)."""
    h, w = shape
    if min(h, w) < MIN_SIDE:
        raise VideoError(f"{path} is {w}x{h} pixels: too small to show a face (at least {MIN_SIDE} on each side)")


MIN_FPS, MAX_FPS = 1.0, 120.0  # output frame rates a video can be resampled to
ROTATIONS = (0, 90, 180, 270)


def rotate_turns(rotate) -> int:
    """Counterclockwise quarter turns (``np.rot90``'s ``k``) of a ``--rotate`` of clockwise degrees."""
    return check_rotate(rotate) // 90 * 3 % 4


def check_rotate(rotate) -> int:
    """``--rotate``: clockwise degrees, one of :data:`ROTATIONS`."""
    if rotate not in ROTATIONS:
        raise VideoError(f"--rotate must be 0, 90, 180 or 270 (degrees clockwise), got {rotate}")
    return int(rotate)


def check_read_options(num_frames: Optional[int] = None, fps: Optional[float] = None, start: float = 0.0,
                       duration: Optional[float] = None) -> None:
    """One-line :class:`VideoError` for a frame count, rate, start or duration no clip could be read with."""
    if num_frames is not None:
        check_frame_count(num_frames)
    # (1000 was accepted: 81 frames of 0.08 s; 0 and inf get the same range message)
    if fps is not None and not (np.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise VideoError(f"--fps must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second (the model's "
                         f"is {DEFAULT_FPS:g}), got {fps:g}")
    if not (start >= 0 and np.isfinite(start)):
        raise VideoError(f"--start must be a non-negative number of seconds, got {start}")
    if duration is not None and not (duration > 0 and np.isfinite(duration)):
        raise VideoError(f"--duration must be a positive number of seconds, got {duration}")


def read_video(
    path: str | os.PathLike,
    fps: Optional[float] = DEFAULT_FPS,
    num_frames: Optional[int] = DEFAULT_FRAMES,
    pad: bool = True,
    start: float = 0.0,
    duration: Optional[float] = None,
    cover: Optional[tuple[int, int]] = None,
    spill: bool = False,
    rotate: int = 0,
) -> VideoClip:
    """Decode a video (or a still image) into a clip.

    Args:
        path: mp4/mov/mkv/webm/avi video, or jpg/png/webp image.
        fps: output frame rate; frames are picked by timestamp (nearest frame at or
            before ``i / fps``). ``None`` keeps every decoded frame at the file's rate.
        num_frames: frames to return; must be ``4k + 1``. ``None`` reads to the end.
            Decoding stops as soon as enough frames are taken.
        pad: hold the last frame to reach ``num_frames`` when the clip is short.
        start: seconds of the file to skip (``--start``); decoding seeks there.
        duration: seconds of the file to use from ``start`` (``--duration``; default: to the end).
        cover: ``(H, W)``: shrink each frame as it is decoded (area filter, aspect kept) to the smallest
            size that still covers ``H x W``, so a long high-resolution clip never sits in memory at full
            size; frames already that small are kept as they are.
        spill: a clip larger than :func:`~facecam.video.frames.spill_bytes` is kept on disk as it is
            decoded (``frames`` is then a :class:`~facecam.video.frames.DiskFrames`, indexed like an
            array), so reading a long clip never holds it in memory. Off by default: callers that do
            array arithmetic on ``frames`` get an array.
        rotate: turn every frame clockwise by this many degrees (0, 90, 180 or 270; ``--rotate``), after any
            rotation flag of the file: for a video filmed on its side without one.

    Returns:
        VideoClip with ``frames`` shaped ``(T, H, W, 3)``.
    """
    check_read_options(num_frames, fps, start, duration)
    turns = rotate_turns(rotate)
    p = check_video_path(path)
    if is_image_path(p):
        image = read_image(p)
        if turns:
            image = np.ascontiguousarray(np.rot90(image, turns))
        count = num_frames or 1
        return VideoClip(np.repeat(image[None], count, axis=0), fps or DEFAULT_FPS, str(p), 1)

    stats: dict = {}
    frames = FrameCollector(spill=spill)
    for frame in _decode(p, fps, num_frames, stats, start, duration, cover, turns):
        frames.append(frame)
    if not len(frames):
        if start > 0:
            lasts = f" (it lasts {stats['end']:.2f} s)" if "end" in stats else ""
            raise VideoError(f"video has no frames after --start {start:g} s{lasts}: {p}")
        raise VideoError(f"video has no frames: {p}")
    declared = stats.get("declared", 0)
    if stats.get("eof") and (stats.get("error") or (declared and stats["decoded"] < declared - 1)):
        raise VideoError(f"video is truncated or corrupt: decoded {stats['decoded']} of {declared or '?'} frames of {p}")
    if cover is None:  # (a shrunk clip was checked by its caller's size)
        check_picture_size(frames.last().shape[:2], p)
    source_count = len(frames)
    if num_frames is not None and pad and len(frames) < num_frames:
        last = frames.last()
        while len(frames) < num_frames:
            frames.append(last)
    out_fps = fps if fps is not None else _file_fps(p)
    return VideoClip(frames.result(), float(out_fps), str(p), source_count)


def _file_fps(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return float(rate) if rate else DEFAULT_FPS


def covering_size(height: int, width: int, cover: tuple[int, int]) -> tuple[int, int]:
    """The smallest ``(h, w)`` with the aspect of ``height x width`` that covers ``cover`` (never larger)."""
    factor = max(cover[0] / height, cover[1] / width)
    if factor >= 1.0:
        return height, width
    return max(cover[0], int(round(height * factor))), max(cover[1], int(round(width * factor)))


def _decode(path: Path, fps: Optional[float], limit: Optional[int], stats: dict, start: float = 0.0,
            duration: Optional[float] = None, cover: Optional[tuple[int, int]] = None,
            turns: int = 0) -> Iterable[np.ndarray]:
    """Yield RGB frames resampled to ``fps``; stops after ``limit`` frames.

    Times count from ``start`` seconds into the file (the container seeks to the keyframe
    before it); frames at or after ``start + duration`` are not used.

    ``turns``: counterclockwise quarter turns after the file's own (``--rotate``).

    ``stats`` receives ``declared`` (frames the container announces), ``decoded``
    (frames decoded), ``eof`` (the end of the file was reached) and ``error``
    (decoding failed part-way).
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = _short(exc)
        if "Invalid data" in reason:  # FFmpeg says this of a cut-off download as of a file that is no video
            reason += " (the file is not a video, or is incomplete: a download or copy cut short)"
        raise VideoError(f"cannot open video {path}: {reason}") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"video has no frames (no video stream): {path}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size: dict = {}

        def rgb(frame) -> np.ndarray:
            # A phone stores a portrait video as landscape frames with a display rotation; players turn
            # them upright, and so does this: the frames come out as they are shown.
            turned = (quarter_turns(frame) + turns) % 4
            shown = (frame.width, frame.height) if turned % 2 else (frame.height, frame.width)
            if cover is not None and not size:
                size["hw"] = covering_size(*shown, cover)
            if cover is None or size["hw"] == shown:
                array = frame.to_ndarray(format="rgb24")
            else:
                h, w = size["hw"] if turned % 2 == 0 else size["hw"][::-1]
                array = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
            return np.ascontiguousarray(np.rot90(array, turned)) if turned else array

        stats.update(declared=int(stream.frames or 0), decoded=0, eof=False, error=False)
        taken = 0
        prev = None
        prev_time = None
        if start > 0 and stream.time_base:
            stats["declared"] = 0  # frames before the seek point are never decoded: no truncation check
            try:
                container.seek(int(start / stream.time_base) + int(stream.start_time or 0), stream=stream,
                               backward=True)
            except av.error.FFmpegError:  # unseekable: decode from the beginning and skip
                pass
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, stream, prev_time)
                stats["decoded"] += 1
                prev_time = t
                t -= start
                if duration is not None and t >= duration - 1e-6:
                    while fps is not None and prev is not None and taken / fps < duration - 1e-6:
                        yield prev  # output times before the end of --duration show the latest frame
                        taken += 1
                        if limit is not None and taken >= limit:
                            return
                    return
                if t < -1e-6:  # before --start: only the latest such frame may show at time 0
                    if fps is not None:
                        prev = rgb(frame)
                    continue
                if fps is None:
                    yield rgb(frame)
                    taken += 1
                else:
                    # Output time i/fps shows the latest frame at or before it.
                    while prev is not None and taken / fps < t - 1e-6:
                        yield prev
                        taken += 1
                        if limit is not None and taken >= limit:
                            return
                    prev = rgb(frame)
                if limit is not None and taken >= limit:
                    return
        except av.error.FFmpegError as exc:
            if taken == 0 and prev is None:
                raise VideoError(f"cannot decode video {path}: {_short(exc)}") from None
            stats["error"] = True
        stats["eof"] = True
        if prev is not None:
            rate = stream.average_rate or stream.guessed_rate
            end = (prev_time or 0.0) + (1.0 / float(rate) if rate else 0.0)  # when the last frame stops showing
            stats["end"] = end
            if fps is not None and taken == 0 and start > 0 and end <= start + 1e-6:
                return  # every frame ends before --start: nothing to show (read_video says so)
            yield prev


def quarter_turns(frame) -> int:
    """Counterclockwise quarter turns (0-3) that show a decoded frame upright: its display matrix's
    rotation (a phone's portrait video: -90, a quarter turn clockwise), to the nearest quarter."""
    rotation = getattr(frame, "rotation", 0) or 0  # read from the frame's side data (0 where PyAV lacks it)
    return int(round(float(rotation) / 90.0)) % 4


def _frame_time(frame, stream, previous: Optional[float]) -> float:
    if frame.pts is not None and stream.time_base is not None:
        t = float(frame.pts * stream.time_base)
        start = stream.start_time
        if start is not None:
            t -= float(start * stream.time_base)
        return max(t, 0.0)
    rate = float(stream.average_rate or 25)
    return 0.0 if previous is None else previous + 1.0 / rate


def _short(exc: BaseException) -> str:
    """The first line of a decoder error, without PyAV's ``[Errno N]`` prefix (FFmpeg's internal codes such as
    1094995529 for AVERROR_INVALIDDATA mean nothing to a user; the message after them does)."""
    text = str(exc).strip().splitlines()
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text[0]) if text else type(exc).__name__


@dataclass(frozen=True)
class FrameStream:
    """``count`` frames made one at a time when written (``make(t)`` -> ``(H, W, 3)`` uint8), so a long
    derived video (the side-by-side preview) never exists as a whole array."""

    count: int
    make: Callable[[int], np.ndarray]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.make(t) for t in range(self.count))

    def __getitem__(self, t: int) -> np.ndarray:
        return self.make(int(t))


def x264_cpu_params() -> dict:
    """``{"x264-params": "asm=AVX2"}`` on a CPU with AVX-512, else ``{}``.

    x264's AVX-512 routines made the same frames encode to different videos (different
    decoded pixels, not only bytes) depending on what the process had decoded before, so
    a run's mp4 and every measurement on it were not reproducible
    (``tests/test_video.py::test_the_same_frames_always_encode_to_the_same_video`` fails
    without the cap on an AVX-512 machine). x264 trusts the flags it is given, so the cap
    is set only where AVX2 is there too.
    """
    try:  # numpy 1 (what this package pins); numpy 2 moved it
        from numpy.core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover
        from numpy._core._multiarray_umath import __cpu_features__ as features
    if features.get("AVX512F") and features.get("AVX2") and features.get("FMA3"):
        return {"x264-params": "asm=AVX2"}
    return {}


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Sequence[np.ndarray] | FrameStream | DiskFrames,
    fps: float = DEFAULT_FPS,
    crf: int = 17,
    on_frame=None,
    audio: Optional[AudioSpan] = None,
) -> Path:
    """Write ``(T, H, W, 3)`` uint8 RGB frames (an array, a :class:`FrameStream` or a
    :class:`~facecam.video.frames.DiskFrames`, the last two one frame at a time) as H.264 yuv420p
    mp4, atomically.

    Odd sizes are padded by one pixel (yuv420p needs even sizes). ``on_frame``, if given, is
    called after each frame is encoded (a progress bar's update). ``audio``: a span of a source's
    sound (:func:`facecam.video.audio.audio_span`) to play with the frames, as AAC.
    """
    import av

    if not isinstance(frames, (FrameStream, DiskFrames)):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
            raise ValueError(f"expected frames shaped (T, H, W, 3), got {frames.shape}")
    elif len(frames) == 0:
        raise ValueError("expected at least one frame, got an empty stream")
    first = frames[0]
    if first.ndim != 3 or first.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) frames, got {first.shape}")
    h, w = first.shape[:2]

    def ready(frame: np.ndarray) -> np.ndarray:
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        return np.ascontiguousarray(frame)

    dest = Path(path)
    if not dest.parent.exists():
        raise VideoError(f"output folder does not exist: {dest.parent}")
    try:
        with atomic_path(dest) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
            from fractions import Fraction

            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = w + w % 2, h + h % 2
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast", **x264_cpu_params()}
            if audio is not None:
                from .audio import add_audio_stream

                # Never longer than the frames (a generated video may be shorter than its input).
                span = dataclasses.replace(audio, seconds=min(audio.seconds, len(frames) / fps))
                try:
                    write_sound = add_audio_stream(container, span)
                except (av.error.FFmpegError, OSError, ValueError, AttributeError) as exc:
                    import logging

                    logging.getLogger("facecam").warning(
                        f"facecam: note: the sound of {span.path} cannot be read ({_short(exc)}); {dest.name} is silent")
                else:
                    write_sound()  # small next to the frames; the muxer interleaves
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(ready(frame), format="rgb24")):
                    container.mux(packet)
                if on_frame is not None:
                    on_frame()
            for packet in stream.encode():
                container.mux(packet)
    except PermissionError:
        raise VideoError(f"cannot write to {dest.parent} (permission denied)") from None
    return dest


def probe_video(path: str | os.PathLike) -> dict:
    """Frame count, size and frame rate of a video without decoding it all."""
    import av

    p = check_video_path(path)
    try:
        with av.open(str(p)) as container:
            stream = container.streams.video[0]
            return {
                "frames": int(stream.frames),
                "width": int(stream.codec_context.width),
                "height": int(stream.codec_context.height),
                "fps": float(stream.average_rate or 0.0),
            }
    except (av.error.FFmpegError, IndexError) as exc:
        raise VideoError(f"cannot read video {p}: {_short(exc)}") from None
