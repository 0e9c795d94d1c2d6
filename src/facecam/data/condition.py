"""The training condition: stored as the meshes that determine it, drawn when it is read.

A sample's condition is ``K`` face meshes (one per stitched camera segment; one for an in-the-wild
sample), each drawn on white by the inference drawing code (:mod:`facecam.condition.raster`) and
repeated over its frames, then moved by the sample's synthetic zoom/pan (:func:`~.augment.zoom_pan`).
Shards store the meshes (``<key>.condition_mesh.npy``, ``(K, 478, 3)`` float32 pixels, 5,864 bytes
for one) and the sample's JSON the rest (``condition``: frames per mesh and size; ``motion``), and
:func:`draw_condition` is the one function that turns them into frames, for the builder (and the
latents it encodes) and for the reader alike. Video codecs were no option: H.264's 4:2:0 chroma
smears the mesh's 1-2 px coloured lines, and lossless storage of the frames costs 2-8 MB a sample
(``benchmarks/condition_storage.py``, docs/data.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .augment import MotionParams, zoom_pan
from .stitch import condition_frames

WHITE = (255, 255, 255)


def draw_meshes(meshes: np.ndarray, frames: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    """Mesh ``k`` of ``(K, 478, >=2)`` pixels drawn on white, repeated ``frames[k]`` times: ``(sum(frames), H, W, 3)``."""
    if len(meshes) != len(frames):
        raise ValueError(f"{len(meshes)} meshes but {len(frames)} frame counts")
    return np.concatenate([condition_frames(mesh, size, int(n)) for mesh, n in zip(meshes, frames)])


def draw_condition(meshes: np.ndarray, frames: Sequence[int], size: tuple[int, int],
                   motion: MotionParams) -> np.ndarray:
    """The condition clip ``(T, H, W, 3)`` uint8: :func:`draw_meshes` under the synthetic ``motion``."""
    return zoom_pan(draw_meshes(meshes, frames, size), motion, WHITE)


def condition_record(frames: Sequence[int], size: tuple[int, int]) -> dict:
    """The sample-JSON field ``condition``: frames per mesh and the frame size ``(H, W)``."""
    return {"frames": [int(n) for n in frames], "size": [int(size[0]), int(size[1])]}


def stored_condition(meshes: np.ndarray, meta: dict) -> np.ndarray:
    """The condition clip of a stored sample: its meshes drawn as its JSON (``condition``, ``motion``) says."""
    record = meta["condition"]
    return draw_condition(meshes, record["frames"], tuple(record["size"]), MotionParams(**meta["motion"]))
