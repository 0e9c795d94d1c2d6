"""Write a set of result files all at once, or none of them, never losing an earlier result.

Files are written into a hidden staging folder inside the output folder and
swapped into place only when every one is complete. A file of the same name
from an earlier run is moved aside first and put back if the swap fails, so a
failed or interrupted run leaves the folder as it found it: nothing
half-written, and every earlier result intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Union

import numpy as np

from ..errors import VideoError
from .frames import DiskFrames
from .io import FrameStream, write_video

if TYPE_CHECKING:
    from .audio import AudioSpan

# Names that read as a file, not a folder: `-o out.mp4` is a mistake, not a folder to create.
FILE_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif", ".png", ".jpg", ".jpeg",
                           ".json"})

Payload = Union[np.ndarray, FrameStream, DiskFrames, dict, str, bytes]


def check_output_dir(path: str | os.PathLike) -> Path:
    """Refuse an output folder that is a file, or that does not exist yet and is named like one; creates nothing
    (for commands that make the folder themselves, later)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise VideoError(f"output path exists and is not a folder: {out}")
    if not out.exists() and out.suffix.lower() in FILE_SUFFIXES:
        raise VideoError(f"the output is a folder, and {out} looks like a file name: give a folder "
                         f"(results are written inside it)")
    return out


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check it is writable, before any expensive work."""
    out = check_output_dir(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=".facecam-probe-", dir=out)
        os.rmdir(probe)
    except OSError as exc:
        raise VideoError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return out


@contextlib.contextmanager
def output_dir(path: str | os.PathLike):
    """Prepare ``path`` (see :func:`prepare_output_dir`); if the block fails, remove it again when it
    was created here and is still empty, so a failed command leaves nothing behind (the folders made
    above it for it too: ``-o new/sub`` left ``new/`` behind)."""
    from .._atomic import folders_to_make

    made = folders_to_make(path)  # `..` resolved: x/../mine is mine, not a folder to make
    out = prepare_output_dir(os.path.normpath(path))  # (pathlib would make x for x/../mine/sub)
    try:
        yield out
    except BaseException:
        for folder in made:
            if not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
        raise


def check_names_free(out_dir: str | os.PathLike, names: Iterable[str]) -> None:
    """Refuse to write a file named in ``names`` where ``out_dir`` holds something of that name that is not a
    file (a folder ``clip.mp4/`` was moved aside and deleted with everything in it)."""
    for name in names:
        target = Path(out_dir) / name
        if (target.exists() or target.is_symlink()) and not target.is_file():
            raise VideoError(f"{target} is in the way of a result of that name and is not a file (a folder?): "
                             f"move it, or give another -o")


PROGRESS_FRAMES = 200  # a set with more video frames than this shows a bar while it is encoded


def write_outputs(out_dir: str | os.PathLike, files: dict[str, Payload], fps: float,
                  progress: bool = False, audio: Optional[AudioSpan] = None,
                  with_audio: Iterable[str] = ()) -> dict[str, Path]:
    """Write ``{file name: frames | JSON dict | text | bytes}`` into ``out_dir`` atomically as a set.

    Earlier files of the same names are replaced only when the whole set is written; if anything
    fails they are left (or put back) as they were. With ``progress``, one line says which earlier
    files are replaced, and a set of more than :data:`PROGRESS_FRAMES` video frames shows a bar.
    The videos named in ``with_audio`` get the sound ``audio`` (:mod:`facecam.video.audio`).
    """
    with_audio = set(with_audio) if audio is not None else set()
    out = prepare_output_dir(out_dir)
    check_names_free(out, files)
    if progress:
        earlier = sorted(name for name in files if (out / name).exists())
        if earlier:
            import logging

            logging.getLogger("facecam").warning(
                f"facecam: note: replacing {len(earlier)} file(s) of an earlier run in {out} "
                f"({', '.join(earlier[:2])}{', ...' if len(earlier) > 2 else ''}); give another -o to keep both")
    videos = [len(p) for p in files.values() if isinstance(p, (np.ndarray, FrameStream, DiskFrames))]
    bar = None
    if progress and sum(videos) > PROGRESS_FRAMES:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(videos), desc="writing", unit="frame", leave=False)
    stage = Path(tempfile.mkdtemp(prefix=".facecam-", dir=out))
    aside = stage / ".previous"
    placed: list[str] = []
    try:
        _write_all(stage, files, fps, bar, audio, with_audio)
        aside.mkdir()
        for name in files:
            if (out / name).exists():
                os.replace(out / name, aside / name)
            placed.append(name)
            os.replace(stage / name, out / name)
    except BaseException as exc:
        _restore(out, aside, placed)
        if isinstance(exc, OSError):
            raise VideoError(f"cannot write outputs to {out}: {exc.strerror or exc}") from None
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if bar is not None:
            bar.close()
    return {name: out / name for name in files}


WRITE_THREADS = 4  # videos encoded at once (one x264 keeps about 1.5 of 2 cores busy: benchmarks/write_speed.py)


class _Stopped(Exception):
    """Raised inside a video's writer when another payload of the set has failed (or the run was stopped)."""


def _write_all(stage: Path, files: dict[str, Payload], fps: float, bar, audio, with_audio: set) -> None:
    """Write every payload into ``stage``, the videos side by side (:data:`WRITE_THREADS` at a time).

    One x264 encoder keeps about 1.5 of 2 cores busy, so a run's videos written side by side take less
    time than one after the other (``benchmarks/write_speed.py`` prints both, and the cores the first
    keeps busy). The bar moves in this thread (a web page's progress follows the calling thread only).
    When one payload fails the others stop at their next frame and the first failure is raised; a Ctrl-C
    here stops them too before it goes on.
    """
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    videos = [name for name, p in files.items() if isinstance(p, (np.ndarray, FrameStream, DiskFrames))]
    for name, payload in files.items():
        if name not in videos:
            _write_payload(stage / name, payload, fps)
    if not videos:
        return
    stop = threading.Event()
    done: "queue.SimpleQueue[int]" = queue.SimpleQueue()

    def frame_done() -> None:
        if stop.is_set():
            raise _Stopped()
        done.put(1)

    def write(name: str) -> None:
        try:
            if stop.is_set():
                raise _Stopped()
            _write_payload(stage / name, files[name], fps, frame_done, audio if name in with_audio else None)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(min(WRITE_THREADS, len(videos))) as pool:
        try:
            jobs = [pool.submit(write, name) for name in videos]
            while not all(job.done() for job in jobs):
                try:
                    done.get(timeout=0.05)
                except queue.Empty:
                    continue
                if bar is not None:
                    bar.update(1)
        except BaseException:
            stop.set()  # the pool's exit waits for the writers, which stop at their next frame
            raise
    while bar is not None and not done.empty():  # frames counted after the last look
        done.get()
        bar.update(1)
    failures = [job.exception() for job in jobs if job.exception() is not None]
    real = [exc for exc in failures if not isinstance(exc, _Stopped)]
    if failures:
        raise (real or failures)[0]


def _write_payload(target: Path, payload: Payload, fps: float, on_frame=None, audio=None) -> None:
    if isinstance(payload, (np.ndarray, FrameStream, DiskFrames)):
        write_video(target, payload, fps, on_frame=on_frame, audio=audio)
    elif isinstance(payload, dict):
        target.write_text(json.dumps(payload, indent=1, default=_json_default))
    elif isinstance(payload, bytes):
        target.write_bytes(payload)
    else:
        target.write_text(str(payload))


def _restore(out: Path, aside: Path, placed: list[str]) -> None:
    """Undo a partial swap: remove the new files placed so far and put the earlier ones back."""
    for name in reversed(placed):
        (out / name).unlink(missing_ok=True)
        if (aside / name).exists():
            os.replace(aside / name, out / name)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
