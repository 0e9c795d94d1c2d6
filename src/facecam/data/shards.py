"""WebDataset-style tar shards: writing samples, packing shards, reading them back.

A shard ``shard-<6 digits>.tar`` holds consecutive samples ``sample-<8 digits>``,
each as members named ``<key>.<field>`` (the WebDataset convention):

=========================  ====================================================
``<key>.source.mp4``       source clip, H.264, ``T`` frames at ``H x W``
``<key>.target.mp4``       target clip (stitched cameras + synthetic motion)
``<key>.condition_mesh.npy`` the condition's face meshes, ``(K, 478, 3)`` float32 pixels; the JSON's
                           ``condition`` and ``motion`` say how they are drawn (:mod:`.condition`)
``<key>.json``             every sampled parameter and the provenance
``<key>.source_latent.npy`` optional, with a VAE: ``(16, T', h, w)`` float16, normalised
``<key>.target_latent.npy`` (same)
``<key>.condition_latent.npy`` (same)
=========================  ====================================================

Crash safety: every sample is first written into its own staging folder
(``.staging/shard-XXXXXX/<key>/``), renamed into place when complete; a shard is
packed from complete samples under a temporary name and renamed to its final name
(both through :mod:`facecam._atomic`). A killed build therefore leaves only whole samples and whole shards, and a
restart redoes just the missing samples. Tar members carry fixed metadata (mtime
0, uid 0, mode 0644) so a shard's bytes depend only on its samples.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .._atomic import atomic_folder, atomic_path
from ..errors import FacecamError
from ..video.io import write_video

STAGING = ".staging"
FAILED = "failed.json"
# Member order inside a sample (fixed for byte-identical shards).
FIELD_ORDER = ("json", "source.mp4", "target.mp4", "condition_mesh.npy",
               "source_latent.npy", "target_latent.npy", "condition_latent.npy")
# Members of shards from earlier formats, refused: facecam-sample/1 stored the condition as an H.264 4:2:0
# "camera.mp4", which smears the mesh's 1-2 px coloured lines; /2 as frames in an npz, 2-8 MB a sample.
OLD_CONDITION_FIELDS = ("camera.mp4", "camera_latent.npy", "condition.npz")


def shard_name(shard: int) -> str:
    return f"shard-{shard:06d}.tar"


def sample_key(index: int) -> str:
    return f"sample-{index:08d}"


def staging_dir(out: Path, shard: int) -> Path:
    return out / STAGING / shard_name(shard)[:-4]


def sample_dir(out: Path, shard: int, index: int) -> Path:
    return staging_dir(out, shard) / sample_key(index)


def is_sample_done(out: Path, shard: int, index: int) -> bool:
    """A sample is done when its staging folder exists (folders only appear by an atomic rename)."""
    return sample_dir(out, shard, index).is_dir()


def write_sample(out: Path, shard: int, index: int, source: np.ndarray, target: np.ndarray,
                 condition_meshes: np.ndarray, meta: dict, fps: float,
                 latents: Optional[dict[str, np.ndarray]] = None) -> Path:
    """Encode one sample into a temporary folder and rename it into the shard's staging folder.

    ``condition_meshes`` ``(K, 478, 3)`` are stored, not the condition frames: ``meta`` must hold the
    ``condition`` and ``motion`` records that draw them (:func:`facecam.data.condition.stored_condition`).

    If another process finished the same sample first (an orphan of a killed run),
    its folder is kept: samples are deterministic, so both are the same.
    """
    final = sample_dir(out, shard, index)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_folder(final) as tmp:
            write_video(tmp / "source.mp4", source, fps)
            write_video(tmp / "target.mp4", target, fps)
            np.save(tmp / "condition_mesh.npy", np.ascontiguousarray(condition_meshes))
            for name, array in (latents or {}).items():
                np.save(tmp / f"{name}_latent.npy", np.ascontiguousarray(array))
            (tmp / "json").write_text(json.dumps(meta, sort_keys=True, indent=1))
    except OSError:
        if not final.is_dir():
            raise
    return final


def write_failed(out: Path, shard: int, index: int, reasons: list[str]) -> None:
    """Record that sample ``index`` could not be made (it is left out of its shard)."""
    final = sample_dir(out, shard, index)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_folder(final) as tmp:
            (tmp / FAILED).write_text(json.dumps({"index": index, "reasons": reasons}, indent=1))
    except OSError:
        if not final.is_dir():  # another process recorded it first
            raise


def clean_stale(out: Path, shard: int) -> None:
    """Remove half-written samples and packs left by a killed run."""
    stage = staging_dir(out, shard)
    if stage.is_dir():
        for p in stage.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                shutil.rmtree(p, ignore_errors=True)
    for tmp in out.glob(f".{Path(shard_name(shard)).stem}.*.tmp.tar"):
        tmp.unlink(missing_ok=True)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def pack_shard(out: Path, shard: int, indices: list[int]) -> tuple[Path, list[int]]:
    """Pack the staged samples ``indices`` (all done) into ``shard-XXXXXX.tar``; returns it and the failed indices.

    The tar is written under a temporary name and renamed, then the staging folder
    is removed; a kill between the two leaves a complete shard and a folder that the
    next run deletes.
    """
    final = out / shard_name(shard)
    failed = []
    with atomic_path(final) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for index in indices:
            folder = sample_dir(out, shard, index)
            if (folder / FAILED).is_file():
                failed.append(index)
                continue
            key = sample_key(index)
            for field in FIELD_ORDER:
                path = folder / field
                if path.is_file():
                    _add(tar, f"{key}.{field}", path.read_bytes())
    shutil.rmtree(staging_dir(out, shard), ignore_errors=True)
    return final, failed


def check_shard(path: str | os.PathLike) -> Path:
    """``path`` if it is a file that reads as a tar archive; otherwise a one-line :class:`FacecamError`."""
    p = Path(path)
    if p.is_dir():
        shards = sorted(p.glob("shard-*.tar"))
        raise FacecamError(f"{p} is a folder: give one of its shard files, e.g. {shards[0]}" if shards else
                           f"{p} is a folder and holds no shard-XXXXXX.tar (written by `facecam data build`)")
    if not p.is_file():
        raise FacecamError(f"shard not found: {p}")
    try:
        is_tar = tarfile.is_tarfile(p)
    except OSError as exc:
        raise FacecamError(f"cannot read shard {p}: {exc.strerror or exc}") from None
    if not is_tar:
        raise FacecamError(f"not a shard (a tar file as `facecam data build` writes): {p}")
    return p


def iter_shard(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield ``(key, {field: bytes})`` for each sample of a shard, in stored order."""
    check_shard(path)
    with tarfile.open(path, "r") as tar:
        key, fields = None, {}
        for member in tar:
            if not member.isfile():
                continue
            k, _, field = member.name.partition(".")
            if key is not None and k != key:
                yield key, fields
                fields = {}
            key = k
            fields[field] = tar.extractfile(member).read()
        if key is not None:
            yield key, fields


def decode_mp4(data: bytes) -> np.ndarray:
    """All frames of an in-memory mp4, ``(T, H, W, 3)`` uint8 RGB."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])


def check_condition_fields(fields, where: str) -> None:
    """Refuse a sample whose member names (``fields``) hold the condition as frames (formats 1 and 2), naming the
    rebuild."""
    if any(old in fields for old in OLD_CONDITION_FIELDS):
        raise FacecamError(f"{where} was built by an older facecam that stored the condition as frames (H.264 or "
                           "npz) instead of its meshes: rebuild it with `facecam data build`")


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)
