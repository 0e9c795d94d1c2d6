"""Write a file (or a folder) under a temporary name beside it and rename it into place when complete.

A reader (another process, a resumed run) sees the old file or the whole new one,
never half of it, and a failed write leaves no partial file behind::

    with atomic_path("out/table.csv") as tmp:
        tmp.write_text(...)          # or hand ``tmp`` to any writer that takes a path

    with atomic_folder("out/sample-00000001") as tmp:
        (tmp / "json").write_text(...)   # the folder appears complete or not at all

Temporary names are hidden and hold the process id: ``.<stem>.<pid>.tmp<suffix>``
for a file, ``.<name>.<pid>.tmp`` for a folder (what a cleaner of leftovers of a
killed process looks for).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator, Union


def folders_to_make(path: Union[str, os.PathLike]) -> list[Path]:
    """The folders missing on the way to ``path`` (``..`` resolved, absolute), deepest first: what a
    ``mkdir(parents=True)`` would make; empty when ``path`` exists."""
    missing = []
    folder = Path(os.path.abspath(path))
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def check_writable(folder: Union[str, os.PathLike], what: str = "folder") -> Path:
    """Check that ``folder`` can be written (or made), before any expensive work, leaving nothing behind:
    a probe folder is made and removed in ``folder``, or where it is missing in its nearest existing
    parent. One FacecamError line naming ``what`` and the system's reason (a read-only place, a file in
    the way)."""
    import tempfile

    from .errors import FacecamError

    path = Path(folder)
    missing = folders_to_make(path)
    place = missing[-1].parent if missing else Path(os.path.abspath(path))
    if not place.is_dir():
        raise FacecamError(f"cannot write to {what} {path}: {place} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".facecam-probe-", dir=place))
    except OSError as exc:
        raise FacecamError(f"cannot write to {what} {path}: {exc.strerror or exc}") from None
    return path


@contextlib.contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a hidden temporary path in ``path``'s folder (same suffix, so writers that look at it still work);
    on success it replaces ``path``, on failure it is removed and ``path`` is untouched."""
    final = Path(path)
    tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: Union[str, os.PathLike], data: bytes) -> Path:
    """``Path.write_bytes`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: Union[str, os.PathLike], text: str) -> Path:
    """``Path.write_text`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a new hidden temporary folder beside ``path``; on success it is renamed to ``path``, on failure
    it is removed and ``path`` is untouched.

    The rename fails with :class:`OSError` when ``path`` is a folder that is not empty (another process
    finished first); an empty folder is replaced.
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed process that had the same id
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(tmp: Union[str, os.PathLike], final: Union[str, os.PathLike],
                   trash: Union[str, os.PathLike, None] = None) -> Path:
    """Move the complete folder ``tmp`` to ``final``; an existing ``final`` goes aside to ``trash`` first
    and is deleted only once the new one is in place (so a crash leaves the old or the new, never neither)."""
    tmp, final = Path(tmp), Path(final)
    if final.exists():
        trash = Path(trash) if trash is not None else final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


@contextlib.contextmanager
def replacing_folder(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yield a new hidden temporary folder beside ``path``; on success it replaces ``path`` (whatever it
    held) through :func:`replace_folder`, on failure it is removed and ``path`` is untouched."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        replace_folder(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
