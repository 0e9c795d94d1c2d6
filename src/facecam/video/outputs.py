"""Write a set of result files all at once, or none of them.

Files are written into a hidden staging folder inside the output folder and
moved into place only when every one is complete; on any failure the staging
folder is removed, so an interrupted or failed command leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import VideoError
from .io import write_video

Payload = Union[np.ndarray, dict, str, bytes]


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check it is writable, before any expensive work."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise VideoError(f"output path exists and is not a folder: {out}")
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
    was created here and is still empty, so a failed command leaves nothing behind."""
    existed = Path(path).exists()
    out = prepare_output_dir(path)
    try:
        yield out
    except BaseException:
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def write_outputs(out_dir: str | os.PathLike, files: dict[str, Payload], fps: float) -> dict[str, Path]:
    """Write ``{file name: frames | JSON dict | text | bytes}`` into ``out_dir`` atomically as a set."""
    out = prepare_output_dir(out_dir)
    stage = Path(tempfile.mkdtemp(prefix=".facecam-", dir=out))
    written: dict[str, Path] = {}
    try:
        for name, payload in files.items():
            target = stage / name
            if isinstance(payload, np.ndarray):
                write_video(target, payload, fps)
            elif isinstance(payload, dict):
                target.write_text(json.dumps(payload, indent=1, default=_json_default))
            elif isinstance(payload, bytes):
                target.write_bytes(payload)
            else:
                target.write_text(str(payload))
        for name in files:
            os.replace(stage / name, out / name)
            written[name] = out / name
    except OSError as exc:
        for path in written.values():
            path.unlink(missing_ok=True)
        raise VideoError(f"cannot write outputs to {out}: {exc.strerror or exc}") from None
    except BaseException:
        for path in written.values():
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return written


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
