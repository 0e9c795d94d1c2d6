"""Atomic, resumable training checkpoints.

Layout of ``OUTPUT/checkpoints/``::

    step-00000500/            one complete checkpoint (never modified once it exists)
        trainable.safetensors     trained parameters (single-process/DDP)
        optimizer.bin             their AdamW state (single-process/DDP)
        trainable/                FSDP2: trained parameters + their AdamW state, one shard per rank
                                  (torch.distributed.checkpoint); the frozen base is not stored
        scheduler.bin random_states_*.pkl ...   the rest of accelerate's save_state
        base.json                 the frozen base the trained parameters belong to (path + fingerprint)
        trainer_state_<rank>.pt   step, data position and the noise generator of each process
        COMPLETE                  written last; a folder without it is not a checkpoint
    latest                    name of the newest complete checkpoint (replaced atomically)
    .tmp-step-00001000/       a save in progress (or one killed midway); ignored and removed on resume

A save writes everything into the ``.tmp-`` folder and only then renames it to its final name
(one ``rename`` on one filesystem, atomic) and repoints ``latest``. A crash at any moment
therefore leaves the previous checkpoint untouched and still the one ``latest`` names.
Multi-node runs need ``OUTPUT`` on a filesystem every node sees. DeepSpeed and FSDP1 runs (no
config shipped for either) still write accelerate's own files (the whole model and its optimizer
state, sharded).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Optional

import torch

from .._atomic import replace_folder, write_text_atomic
from ..errors import FacecamError

COMPLETE = "COMPLETE"
BASE_FILE = "base.json"
SHARDED_TRAINABLE_DIR = "trainable"
FINGERPRINT_BYTES = 1 << 20
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


# ---------------------------------------------------------------------------
# Sharded (FSDP2) trained parameters and optimizer state
# ---------------------------------------------------------------------------
def _trainable_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The trained parameters' shards and their optimizer state, by module name (frozen ones left out:
    they are the base's, which the checkpoint references in ``base.json`` instead of storing)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer, options=StateDictOptions(ignore_frozen_params=True))
    return {"model": model_state, "optimizer": optim_state}


def save_sharded_trainable(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Every rank writes its shard of the trained parameters and their AdamW state (collective call)."""
    import torch.distributed.checkpoint as dcp

    dcp.save(_trainable_state(model, optimizer), checkpoint_id=str(folder / SHARDED_TRAINABLE_DIR))


def load_sharded_trainable(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Restore what :func:`save_sharded_trainable` wrote into the sharded model and optimizer (collective);
    the frozen parameters keep the base weights this run loaded."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    path = folder / SHARDED_TRAINABLE_DIR
    if not path.is_dir():
        raise FacecamError(f"{folder} has no {SHARDED_TRAINABLE_DIR}/ (written without FSDP2, or by a facecam that "
                           "stored the whole model? resume it with the launch config and version that wrote it)")
    state = _trainable_state(model, optimizer)  # the shapes and shards to fill
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                   options=StateDictOptions(ignore_frozen_params=True, strict=False))


# ---------------------------------------------------------------------------
# The frozen base a checkpoint belongs to
# ---------------------------------------------------------------------------
def fingerprint(files: list[Path]) -> str:
    """sha256 over each file's name, size and first and last MiB: cheap on a 57 GB expert, and it tells
    another base (other files, sizes, dtype, header or first/last tensors) from the one trained on."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with open(path, "rb") as fh:
            digest.update(fh.read(FINGERPRINT_BYTES))
            if size > FINGERPRINT_BYTES:
                fh.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
                digest.update(fh.read())
    return digest.hexdigest()


def write_base_reference(folder: Path, reference: dict[str, Any]) -> None:
    """``base.json``: where the frozen parameters a checkpoint leaves out come from."""
    write_text_atomic(folder / BASE_FILE, json.dumps(reference, indent=2) + "\n")


def check_base_reference(folder: Path, reference: dict[str, Any]) -> None:
    """Refuse to resume trained parameters over another base than the one they were trained on.

    Checkpoints written before ``base.json`` existed are accepted as they are.
    """
    path = folder / BASE_FILE
    if not path.is_file():
        return
    saved = json.loads(path.read_text())
    if saved.get("expert", reference.get("expert")) != reference.get("expert"):
        raise FacecamError(f"{folder} trains the {saved['expert']} expert, this run the {reference['expert']} one: "
                           f"train each expert in its own --output folder")
    if saved.get("fingerprint") != reference.get("fingerprint"):
        raise FacecamError(f"{folder} was trained on the base in {saved.get('path')} (fingerprint "
                           f"{str(saved.get('fingerprint'))[:12]}), this run loads {reference.get('path')} "
                           f"({str(reference.get('fingerprint'))[:12]}): resume with the same --weights")
