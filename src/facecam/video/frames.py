"""Frame buffers that spill to disk, so a long clip's memory stays bounded.

A run holds several whole videos at once: the decoded source, the cropped source, the condition
and the result, about 3-6 MB a frame together at 704x480 from a 720p file. An 81-frame clip
fits in memory easily; a five-minute clip does not. :func:`frame_buffer` therefore returns a plain
numpy array while the video is small and a :class:`DiskFrames` beyond :func:`spill_bytes`: the
same ``(T, ...)`` indexing, each frame kept in an unnamed temporary file and read or written with
one positional system call (``pread``/``pwrite``, safe from several threads at once). A frame read
from the page cache costs well under a millisecond against tens of milliseconds to render it.

The temporary files live in ``$TMPDIR`` (Python's :mod:`tempfile` rules) and vanish when the last
buffer using them is dropped, or when the process dies. ``$FACECAM_SPILL_MB`` sets the size above
which a video goes to disk (default :data:`DEFAULT_SPILL_MB`; 0 sends every video there).

Code that needs a real array (metrics, the diffusion engine) calls ``np.asarray(frames)``, which
reads a :class:`DiskFrames` whole; code that walks frames (``frames[t]``, ``for frame in frames``,
``len(frames)``, ``frames.shape``) works on both kinds unchanged.
"""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Iterator, Optional, Union

import numpy as np

DEFAULT_SPILL_MB = 256


def spill_bytes() -> int:
    """Videos larger than this many bytes are kept on disk (``$FACECAM_SPILL_MB``, default 256 MB)."""
    text = os.environ.get("FACECAM_SPILL_MB", "").strip()
    try:
        mb = float(text) if text else DEFAULT_SPILL_MB
    except ValueError:
        mb = DEFAULT_SPILL_MB
    return int(max(mb, 0.0) * 2**20)


class _Backing:
    """The temporary file behind one or more :class:`DiskFrames` views (closed when unreferenced)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="facecam-frames-")
        self.fd = self.file.fileno()

    def read(self, nbytes: int, offset: int, out: np.ndarray) -> None:
        view = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < nbytes:  # pread may return less than asked (large reads, signals)
            got = os.preadv(self.fd, [view[done:nbytes]], offset + done)
            if got <= 0:
                raise OSError(f"short read from the frame buffer at byte {offset + done}")
            done += got

    def write(self, data: np.ndarray, offset: int) -> None:
        frame_mb = data.nbytes / 2**20
        view = memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        done = 0
        try:
            while done < len(view):
                done += os.pwrite(self.fd, view[done:], offset + done)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            from ..errors import FacecamError

            raise FacecamError(f"no space left for a long clip's frames in {tempfile.gettempdir()} ({frame_mb:.1f} MB "
                               f"a frame, for each of several videos): free some, or point $TMPDIR elsewhere") from None


class DiskFrames:
    """``(T, ...)`` frames of one dtype kept in a temporary file, indexed like an array.

    ``frames[t]`` returns frame ``t`` as a new array, ``frames[t] = frame`` stores it,
    ``frames[a:b]`` is a view of the same file (no copy), ``frames[t, rows, cols]`` indexes
    inside frame ``t``, and ``np.asarray(frames)`` reads everything. :meth:`append` grows the
    buffer (the reader uses it while it does not yet know the length).
    """

    def __init__(self, shape: tuple[int, ...], dtype=np.uint8, *, _backing: Optional[_Backing] = None,
                 _first: int = 0) -> None:
        self.dtype = np.dtype(dtype)
        self._frame_shape = tuple(int(v) for v in shape[1:])
        self._count = int(shape[0])
        self._frame_bytes = int(np.prod(self._frame_shape, dtype=np.int64)) * self.dtype.itemsize
        self._backing = _backing or _Backing()
        self._first = _first
        if _backing is None and self._count:
            os.ftruncate(self._backing.fd, self._count * self._frame_bytes)

    # -- array-like surface ----------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self._count, *self._frame_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self._frame_shape)

    @property
    def nbytes(self) -> int:
        return self._count * self._frame_bytes

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self._read(t) for t in range(self._count))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        if self._count:
            self._backing.read(self.nbytes, self._offset(0), out)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"DiskFrames(shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, index):
        if isinstance(index, tuple):
            head, rest = index[0], index[1:]
            if isinstance(head, (int, np.integer)):
                return self._read(self._index(head))[rest]
            return np.asarray(self[head])[(slice(None), *rest)]
        if isinstance(index, (int, np.integer)):
            return self._read(self._index(index))
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step == 1:
                count = max(0, stop - start)
                return DiskFrames((count, *self._frame_shape), self.dtype, _backing=self._backing,
                                  _first=self._first + start)
            return np.stack([self._read(t) for t in range(start, stop, step)]) if len(range(start, stop, step)) \
                else np.empty((0, *self._frame_shape), self.dtype)
        picks = np.arange(self._count)[index]  # index arrays and masks, as numpy reads them
        return np.stack([self._read(int(t)) for t in np.atleast_1d(picks)]) if picks.size \
            else np.empty((0, *self._frame_shape), self.dtype)

    def __setitem__(self, index, value) -> None:
        if not isinstance(index, (int, np.integer)):
            raise TypeError("DiskFrames stores one frame at a time: frames[t] = frame")
        value = np.asarray(value)
        if value.shape != self._frame_shape:
            raise ValueError(f"frame of shape {value.shape} does not fit frames of {self._frame_shape}")
        self._backing.write(value.astype(self.dtype, copy=False), self._offset(self._index(index)))

    # -- growing -----------------------------------------------------------------
    def append(self, frame: np.ndarray) -> None:
        """Add one frame at the end (only on the buffer that owns its file from its start)."""
        if self._first:
            raise ValueError("cannot append to a slice of a frame buffer")
        frame = np.asarray(frame)
        if frame.shape != self._frame_shape:
            raise ValueError(f"frame of shape {frame.shape} does not fit frames of {self._frame_shape}")
        self._backing.write(frame.astype(self.dtype, copy=False), self._offset(self._count))
        self._count += 1

    # -- internals -----------------------------------------------------------------
    def _index(self, t) -> int:
        t = int(t)
        if t < 0:
            t += self._count
        if not 0 <= t < self._count:
            raise IndexError(f"frame {t} out of range for {self._count} frames")
        return t

    def _offset(self, t: int) -> int:
        return (self._first + t) * self._frame_bytes

    def _read(self, t: int) -> np.ndarray:
        out = np.empty(self._frame_shape, self.dtype)
        self._backing.read(self._frame_bytes, self._offset(t), out)
        return out


Frames = Union[np.ndarray, DiskFrames]


RUN_VIDEOS = 5  # whole videos a run holds at once at its output size: the decoded source (about), the cropped
# source, the condition, the result and the preview's source-and-condition frames as they are encoded


def check_frame_space(frames: "int | str", size: tuple[int, int]) -> None:
    """Refuse, before any work, a run whose frame buffers cannot fit: ``frames`` frames of ``size`` (H, W),
    :data:`RUN_VIDEOS` videos of them, where each video larger than :func:`spill_bytes` goes to
    ``$TMPDIR``. A huge ``--frames`` or ``--size`` filled the disk for minutes before failing. ``"all"``
    (a count known only from the video) passes here."""
    import shutil

    if frames == "all":
        return
    video = int(frames) * int(size[0]) * int(size[1]) * 3
    if video <= spill_bytes():
        return
    need = RUN_VIDEOS * video
    where = tempfile.gettempdir()
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        from ..errors import FacecamError

        raise FacecamError(f"{frames} frames at {size[0]}x{size[1]} need about {need / 2**30:.1f} GiB of frame "
                           f"buffers in {where}, which has {free / 2**30:.1f} GiB free: fewer --frames or a smaller "
                           f"--size, or point $TMPDIR at a bigger disk")


def frame_buffer(shape: tuple[int, ...], dtype=np.uint8) -> Frames:
    """An uninitialised ``shape`` buffer: a numpy array up to :func:`spill_bytes`, a
    :class:`DiskFrames` (of zeros) above."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if nbytes <= spill_bytes() or shape[0] == 0:
        return np.empty(shape, dtype)
    return DiskFrames(shape, dtype)


class FrameCollector:
    """Frames appended one by one, of a count not known in advance (a decoder's output).

    Kept in a list while their total stays within :func:`spill_bytes` (always, with
    ``spill=False``), moved into a :class:`DiskFrames` once they exceed it; :meth:`result` gives the
    stacked array or the buffer.
    """

    def __init__(self, spill: bool = True) -> None:
        self._list: list[np.ndarray] = []
        self._disk: Optional[DiskFrames] = None
        self._bytes = 0
        self._limit = spill_bytes() if spill else float("inf")

    def __len__(self) -> int:
        return len(self._disk) if self._disk is not None else len(self._list)

    def last(self) -> np.ndarray:
        return self._disk[-1] if self._disk is not None else self._list[-1]

    def append(self, frame: np.ndarray) -> None:
        if self._disk is not None:
            self._disk.append(frame)
            return
        self._list.append(frame)
        self._bytes += frame.nbytes
        if self._bytes > self._limit:
            self._disk = DiskFrames((0, *frame.shape), frame.dtype)
            for kept in self._list:
                self._disk.append(kept)
            self._list = []

    def result(self) -> Frames:
        if self._disk is not None:
            return self._disk
        return np.stack(self._list) if self._list else np.empty((0,), np.uint8)
