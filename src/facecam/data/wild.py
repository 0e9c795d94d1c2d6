"""In-the-wild monocular portrait clips: a folder of videos in any container :mod:`facecam.video` reads.

Layout read: every file under the folder (recursively) whose suffix is one of
``facecam.video.io.VIDEO_EXTENSIONS`` (mp4, mov, mkv, webm, avi, m4v), sorted by
relative path so that sample plans are stable across machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FacecamError, VideoError
from ..video.io import VIDEO_EXTENSIONS, read_video


def scan_wild(root: str | Path) -> list[str]:
    """Sorted paths of the video clips under ``root``.

    Raises:
        FacecamError: when the folder is missing or holds no video.
    """
    root = Path(root)
    if root.is_file():
        raise FacecamError(f"--wild takes a folder of clips, got a file: {root} (put it in a folder)")
    if not root.is_dir():
        raise FacecamError(f"in-the-wild folder not found: {root}")
    clips = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                   and not p.name.startswith("."))
    if not clips:
        raise FacecamError(f"no video clips ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
    return clips


def read_wild_frames(path: str | Path, start: int, num_frames: int, fps: float,
                     cover: Optional[tuple[int, int]] = None) -> tuple[np.ndarray, int]:
    """Frames ``(num_frames, H, W, 3)`` of a clip resampled to ``fps``, from output frame ``start`` on.

    The file is sought to ``start / fps`` seconds and only the needed frames are decoded, each shrunk
    on decode to just cover ``cover`` ``(H, W)`` when given, so memory is bounded by one sample
    whatever the clip's length, resolution or the offset (``benchmarks/wild_reader.py``).

    Returns the frames and how many of them came from the file (the rest hold the
    last frame, when the clip is shorter than ``start + num_frames``).
    """
    total = num_frames + (1 - num_frames) % 4  # read_video wants 4k + 1 frames
    try:
        clip = read_video(path, fps=fps, num_frames=total, start=start / fps, cover=cover)
    except VideoError:
        if start == 0:
            raise
        # start lies past the end (the container's duration overstated it): hold the last frame
        back = max(0, start - num_frames)
        frames, _ = read_wild_frames(path, back, num_frames, fps, cover)
        return np.repeat(frames[-1:], num_frames, axis=0), 0
    real = max(0, min(clip.source_frames, num_frames))
    return clip.frames[:num_frames], real


def probe_length(path: str | Path, fps: float) -> int:
    """Approximate number of frames of the clip at ``fps`` (from the container's duration)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / 1e6
            else:
                return 0
    except (av.error.FFmpegError, IndexError) as exc:
        raise FacecamError(f"cannot read video {path}: {exc}") from None
    return int(seconds * fps)
