"""In-the-wild monocular portrait clips: a folder of videos in any container :mod:`facecam.video` reads.

Layout read: every file under the folder (recursively) whose suffix is one of
``facecam.video.io.VIDEO_EXTENSIONS`` (mp4, mov, mkv, webm, avi, m4v), sorted by
relative path so that sample plans are stable across machines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FacecamError
from ..video.io import VIDEO_EXTENSIONS, read_video


def scan_wild(root: str | Path) -> list[str]:
    """Sorted paths of the video clips under ``root``.

    Raises:
        FacecamError: when the folder is missing or holds no video.
    """
    root = Path(root)
    if not root.is_dir():
        raise FacecamError(f"in-the-wild folder not found: {root}")
    clips = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                   and not p.name.startswith("."))
    if not clips:
        raise FacecamError(f"no video clips ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
    return clips


def read_wild_frames(path: str | Path, start: int, num_frames: int, fps: float) -> tuple[np.ndarray, int]:
    """Frames ``(num_frames, H, W, 3)`` of a clip resampled to ``fps``, from output frame ``start`` on.

    Returns the frames and how many of them came from the file (the rest hold the
    last frame, when the clip is shorter than ``start + num_frames``).
    """
    total = start + num_frames
    total += (1 - total) % 4  # read_video wants 4k + 1 frames
    clip = read_video(path, fps=fps, num_frames=total)
    real = max(0, min(clip.source_frames - start, num_frames))
    frames = clip.frames[start:start + num_frames]
    if len(frames) < num_frames:  # start lies past the end: hold the last frame
        frames = np.repeat(clip.frames[-1:], num_frames, axis=0)
    return frames, real


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
