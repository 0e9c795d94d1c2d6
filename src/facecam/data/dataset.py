"""Training reader: a torch ``IterableDataset`` over the shards of a build.

Order. For epoch ``e`` the global sample order is the shards in a permutation drawn
from ``(seed, e)`` and, within each shard, its samples in a permutation drawn from
``(seed, e, shard)`` (no shuffling: stored order). Rank ``r`` of ``world_size`` takes
positions ``r, r + world_size, ...`` of that order (cut to a multiple of
``world_size`` so every rank makes the same number of steps), and dataloader worker
``w`` of ``W`` takes the rank's positions ``p`` with ``p % W == w``. PyTorch's
DataLoader returns worker outputs round-robin, so a rank sees its positions in
order ``0, 1, 2, ...`` whatever ``num_workers`` is - which is what makes resuming
exact: the state is just ``(epoch, position)``.

Splitting by sample rather than by shard keeps ranks balanced however few shards
there are; a worker reads only its own members (the tar index is read once, at
construction, and members are then read by offset).

Resume. ``state_dict()`` counts samples yielded in-process (``num_workers=0``).
With worker processes the dataset object in the training process does not see
samples go by, so every sample carries ``meta["epoch"]`` and ``meta["position"]``;
after training on a sample, ``dataset.state_after(meta)`` is the state to save.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import FacecamError
from .condition import stored_condition
from .shards import check_condition_fields, check_shard, decode_mp4, load_npy

CLIPS = ("source", "target", "condition")


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


def find_shards(shards: str | Path | Sequence[str | Path]) -> list[Path]:
    """A folder (its ``shard-*.tar``), one tar, or a list of tars -> sorted shard paths."""
    if isinstance(shards, (str, Path)):
        p = Path(shards)
        paths = sorted(p.glob("shard-*.tar")) if p.is_dir() else [p]
    else:
        paths = sorted(Path(s) for s in shards)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FacecamError(f"shard not found: {missing[0]}")
    if not paths:
        raise FacecamError(f"no shard-*.tar in {shards}")
    for p in paths:
        check_shard(p)
    return paths


def index_shard(path: Path) -> dict[str, dict[str, _Member]]:
    """key -> field -> (data offset, size), from the tar headers."""
    index: dict[str, dict[str, _Member]] = {}
    with tarfile.open(path, "r") as tar:
        for m in tar:
            if m.isfile():
                key, _, field = m.name.partition(".")
                index.setdefault(key, {})[field] = _Member(m.offset_data, m.size)
    return index


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(T, 3, H, W)`` float32 in [-1, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class FaceCamShards(IterableDataset):
    """Samples of FaceCam training shards.

    Each item is a dict:

    * ``source``, ``target``, ``condition``: ``(T, 3, H, W)`` float32 in [-1, 1], or, when the
      sample has latents and ``latents`` allows, ``(16, T', h, w)`` float32 normalised latents;
    * ``meta``: the sample's JSON record plus ``epoch``, ``position``, ``shard`` and
      ``latents`` (bool: which of the two the tensors are).

    Args:
        shards: a build folder, a shard, or a list of shards.
        rank, world_size: this process's place among data-parallel ranks.
        shuffle: shuffle shards and samples within shards, differently every epoch.
        seed: shuffling seed (same on every rank).
        epochs: epochs to run; None runs forever (epoch numbers keep counting).
        latents: ``"auto"`` (latents where stored), ``True`` (require them) or ``False`` (pixels).
    """

    def __init__(self, shards: str | Path | Sequence[str | Path], *, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, seed: int = 0, epochs: Optional[int] = 1, latents: str | bool = "auto") -> None:
        super().__init__()
        if not 0 <= rank < world_size:
            raise FacecamError(f"rank must be in [0, world_size), got {rank} of {world_size}")
        self.paths = [str(p) for p in find_shards(shards)]
        self.index = [index_shard(Path(p)) for p in self.paths]
        for path, idx in zip(self.paths, self.index):  # old shards are refused here, before training starts
            for fields in idx.values():
                check_condition_fields(fields, path)
        self.keys = [sorted(k for k, f in idx.items() if "json" in f) for idx in self.index]
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.seed, self.epochs, self.latents = shuffle, seed, epochs, latents
        self.epoch, self.position = 0, 0

    # --- order and resume ---------------------------------------------------------------

    def order(self, epoch: int) -> list[tuple[int, str]]:
        """This rank's ``(shard number, key)`` sequence for ``epoch``."""
        shard_ids = list(range(len(self.paths)))
        if self.shuffle:
            shard_ids = [int(i) for i in np.random.default_rng([self.seed, epoch]).permutation(len(shard_ids))]
        items = []
        for s in shard_ids:
            keys = self.keys[s]
            if self.shuffle:
                keys = [keys[int(i)] for i in np.random.default_rng([self.seed, epoch, s]).permutation(len(keys))]
            items.extend((s, k) for k in keys)
        usable = len(items) - len(items) % self.world_size if self.world_size > 1 else len(items)
        return items[:usable][self.rank::self.world_size]

    def __len__(self) -> int:
        """Samples per epoch on this rank."""
        return len(self.order(0))

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (as given by :meth:`state_dict` or :meth:`state_after`)."""
        if state.get("world_size", self.world_size) != self.world_size or state.get("seed", self.seed) != self.seed:
            raise FacecamError("resume state was saved with another world_size or seed")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def state_after(self, meta: dict) -> dict:
        """The state that resumes right after the sample whose ``meta`` is given."""
        return {**self.state_dict(), "epoch": int(meta["epoch"]), "position": int(meta["position"]) + 1}

    # --- iteration -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        epoch, first = self.epoch, self.position
        files: dict[int, object] = {}
        try:
            while self.epochs is None or epoch < self.epochs:
                items = self.order(epoch)
                for pos in range(first, len(items)):
                    if pos % workers != worker:
                        continue
                    s, key = items[pos]
                    if s not in files:
                        files[s] = open(self.paths[s], "rb")
                    sample = self._load(files[s], s, key)
                    sample["meta"].update(epoch=epoch, position=pos)
                    if info is None:
                        self.epoch, self.position = epoch, pos + 1
                    yield sample
                epoch, first = epoch + 1, 0
                if info is None:
                    self.epoch, self.position = epoch, 0
        finally:
            for f in files.values():
                f.close()

    def _read(self, f, member: _Member) -> bytes:
        f.seek(member.offset)
        return f.read(member.size)

    def _load(self, f, shard: int, key: str) -> dict:
        fields = self.index[shard][key]
        meta = json.loads(self._read(f, fields["json"]))
        has_latents = all(f"{c}_latent.npy" in fields for c in CLIPS)
        if self.latents is True and not has_latents:
            raise FacecamError(f"{key} in {self.paths[shard]} has no latents (built without a VAE)")
        use_latents = has_latents and self.latents in (True, "auto")
        out = {}
        for clip in CLIPS:
            if use_latents:
                out[clip] = torch.from_numpy(load_npy(self._read(f, fields[f"{clip}_latent.npy"])).astype(np.float32))
            elif clip == "condition":  # drawn from its meshes by the drawing code inference uses
                meshes = load_npy(self._read(f, fields["condition_mesh.npy"]))
                out[clip] = frames_to_tensor(stored_condition(meshes, meta))
            else:
                out[clip] = frames_to_tensor(decode_mp4(self._read(f, fields[f"{clip}.mp4"])))
        meta.update(shard=Path(self.paths[shard]).name, latents=use_latents)
        out["meta"] = meta
        return out


def collate_samples(batch: list[dict]) -> dict:
    """Stack ``source``/``target``/``condition`` into ``(B, ...)`` tensors; ``meta`` stays a list of dicts."""
    out = {c: torch.stack([b[c] for b in batch]) for c in CLIPS}
    out["meta"] = [b["meta"] for b in batch]
    return out
