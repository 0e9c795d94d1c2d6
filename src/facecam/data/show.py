"""Contact sheet of a shard: one row per sample, source | target | condition at three times."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .._atomic import atomic_path
from ..errors import FacecamError
from .condition import stored_condition
from .shards import check_condition_fields, decode_mp4, iter_shard, load_npy

THUMB_HEIGHT = 176
GAP = 4


def _thumb(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    tw = max(1, round(w * THUMB_HEIGHT / h))
    thumb = cv2.resize(frame, (tw, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
    # A grey outline, so the white condition canvas is visible on the white sheet.
    cv2.rectangle(thumb, (0, 0), (tw - 1, THUMB_HEIGHT - 1), (160, 160, 160), 1)
    return thumb


def _label(image: np.ndarray, text: str) -> None:
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)


def sample_row(fields: dict[str, bytes]) -> np.ndarray:
    """``(h, w, 3)`` row: for the first, middle and last frame, source | target | condition."""
    clips = {name: decode_mp4(fields[f"{name}.mp4"]) for name in ("source", "target")}
    meta = json.loads(fields["json"])
    clips["condition"] = stored_condition(load_npy(fields["condition_mesh.npy"]), meta)
    t = len(clips["target"])
    cells = []
    for i in (0, t // 2, t - 1):
        for name in ("source", "target", "condition"):
            thumb = _thumb(clips[name][min(i, len(clips[name]) - 1)])
            _label(thumb, f"{name} {i}")
            cells.append(thumb)
        cells.append(np.full((THUMB_HEIGHT, GAP * 3, 3), 255, np.uint8))
    row = np.concatenate(cells[:-1], axis=1)
    head = np.full((18, row.shape[1], 3), 255, np.uint8)
    if meta.get("kind") == "nersemble":
        text = (f"{meta.get('key')}  nersemble {meta['sequence']['participant']}/{meta['sequence']['sequence']}  "
                f"source cam {meta['source_camera']}  targets {' '.join(meta['target_cameras'])}")
    else:
        text = f"{meta.get('key')}  wild {Path(meta.get('clip', '')).name}  from frame {meta.get('start_frame')}"
    cv2.putText(head, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([head, row], axis=0)


def contact_sheet(shard: str | Path, out: str | Path, max_samples: int = 4) -> int:
    """Write the contact sheet PNG of the first ``max_samples`` samples; returns how many were drawn."""
    rows = []
    for _, fields in iter_shard(shard):
        if len(rows) >= max_samples:
            break
        check_condition_fields(fields, str(shard))
        if "json" in fields and "target.mp4" in fields:
            rows.append(sample_row(fields))
    if not rows:
        raise FacecamError(f"no samples in {shard}")
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sheet = np.concatenate(rows, axis=0)
    out = Path(out)
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise FacecamError(f"cannot write {out}")
    return len(rows)
