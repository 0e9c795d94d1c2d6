"""Atomic, resumable training checkpoints.

Layout of ``OUTPUT/checkpoints/``::

    step-00000500/            one complete checkpoint (never modified once it exists)
        trainable.safetensors     trained parameters (single-process/DDP; FSDP/DeepSpeed shard the model instead)
        optimizer.bin scheduler.bin random_states_*.pkl ...   accelerate's save_state
        trainer_state_<rank>.pt   step, data position and the noise generator of each process
        COMPLETE                  written last; a folder without it is not a checkpoint
    latest                    name of the newest complete checkpoint (replaced atomically)
    .tmp-step-00001000/       a save in progress (or one killed midway); ignored and removed on resume

A save writes everything into the ``.tmp-`` folder and only then renames it to its final name
(one ``rename`` on one filesystem, atomic) and repoints ``latest``. A crash at any moment
therefore leaves the previous checkpoint untouched and still the one ``latest`` names.
Multi-node runs need ``OUTPUT`` on a filesystem every node sees.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Optional

import torch

from .._atomic import replace_folder, write_text_atomic
from ..errors import FacecamError

COMPLETE = "COMPLETE"
LATEST = "latest"
TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


class CheckpointManager:
    """Names, finds, finalises and prunes the checkpoints of one run folder."""

    def __init__(self, root: str | Path, keep: int = 2) -> None:
        self.root = Path(root)
        self.keep = keep

    # --- saving (called by the trainer around accelerator.save_state) ----------
    def begin(self, step: int) -> Path:
        """A fresh temporary folder for the checkpoint of ``step`` (main process only)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{TMP_PREFIX}{checkpoint_name(step)}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        return tmp

    def temp_folder(self, step: int) -> Path:
        return self.root / f"{TMP_PREFIX}{checkpoint_name(step)}"

    def commit(self, step: int) -> Path:
        """Seal the temporary folder of ``step``, move it into place, point ``latest`` at it, prune old ones."""
        tmp = self.temp_folder(step)
        final = self.root / checkpoint_name(step)
        write_text_atomic(tmp / COMPLETE, f"{step}\n")
        _fsync_dir(tmp)
        # A re-run of the same step: the old copy is complete, replace it as a whole.
        replace_folder(tmp, final, self.root / f"{TMP_PREFIX}old-{checkpoint_name(step)}")
        _fsync_dir(self.root)
        write_text_atomic(self.root / LATEST, final.name + "\n")
        self.prune()
        return final

    def prune(self) -> None:
        """Delete all but the newest ``keep`` complete checkpoints."""
        for old in self.complete()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def clean_partial(self) -> None:
        """Remove folders of saves that never completed (a crash or kill during a save)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.name.startswith(TMP_PREFIX) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    # --- finding --------------------------------------------------------------------
    def complete(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.glob("step-*") if p.is_dir() and is_complete(p)]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def latest(self) -> Optional[Path]:
        """The checkpoint ``latest`` names if complete, else the newest complete one, else None."""
        pointer = self.root / LATEST
        if pointer.is_file():
            cand = self.root / pointer.read_text().strip()
            if cand.is_dir() and is_complete(cand):
                return cand
        found = self.complete()
        return found[-1] if found else None


def resolve_resume(resume: str, manager: CheckpointManager) -> Optional[Path]:
    """The checkpoint to resume from: ``auto`` (latest, if any), ``none``, or an explicit folder."""
    if resume in ("none", "", None):
        return None
    if resume == "auto":
        return manager.latest()
    path = Path(resume).expanduser()
    if path.is_dir() and not is_complete(path) and (path / LATEST).is_file():
        path = CheckpointManager(path).latest() or path  # a checkpoints/ folder was given
    if not path.is_dir():
        raise FacecamError(f"checkpoint not found: {path}")
    if not is_complete(path):
        raise FacecamError(f"{path} is not a complete checkpoint (no {COMPLETE} marker: its save was interrupted)")
    return path


def save_process_state(folder: Path, rank: int, state: dict[str, Any]) -> None:
    torch.save(state, folder / f"trainer_state_{rank}.pt")


def load_process_state(folder: Path, rank: int) -> dict[str, Any]:
    path = folder / f"trainer_state_{rank}.pt"
    if not path.is_file():
        raise FacecamError(f"{folder} has no state for process {rank}: was it written by a run with fewer processes?")
    return torch.load(path, map_location="cpu", weights_only=False)
