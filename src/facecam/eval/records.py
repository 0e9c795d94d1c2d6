"""What every benchmark protocol writes: JSON-safe records, written atomically, and their means.

A record is one run's dict (scores, files, options); a summary averages the
records' scores. NaN and infinity become ``null`` so every file is valid JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .._atomic import write_text_atomic


def json_safe(value):
    """``value`` with numpy scalars, tuples and paths turned into JSON types; NaN and infinity become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically (a reader never sees half a file); parents are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(json_safe(data), indent=1))


def mean_of(values: Iterable) -> Optional[float]:
    """Mean of the values that are not None; None when there are none."""
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None
