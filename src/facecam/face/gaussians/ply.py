"""3D Gaussian heads as data: :class:`GaussianCloud` and the 3DGS binary PLY format (SH degree 0)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..._atomic import write_bytes_atomic
from ...errors import FacecamError

SH_C0 = 0.28209479177387814

# Property order written by the reference 3DGS implementation (SH degree 0):
# loaders look properties up by name, but keeping the order makes files diffable.
PLY_PROPERTIES = ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                  "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
_REQUIRED = ("x", "y", "z", "opacity", "f_dc_0", "f_dc_1", "f_dc_2",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


@dataclass
class GaussianCloud:
    """A 3D Gaussian splat model with activated parameters (float64).

    Attributes:
        means: ``(N, 3)`` centres, world units.
        colors: ``(N, 3)`` RGB, nominally in [0, 1] (``0.5 + C0 * f_dc``); values
            outside are kept so files round-trip, the renderer clamps at 0.
        opacities: ``(N,)`` in (0, 1).
        scales: ``(N, 3)`` standard deviations along the rotated axes, world units.
        rotations: ``(N, 4)`` unit quaternions ``(w, x, y, z)``.
        raw: the file's records when loaded from a PLY; :func:`save_gaussian_ply`
            writes them verbatim while the activated arrays still match them, so a
            load/save cycle is bit-exact even where activations are not invertible
            in floating point (saturated sigmoids, unnormalised quaternions).
    """

    means: np.ndarray
    colors: np.ndarray
    opacities: np.ndarray
    scales: np.ndarray
    rotations: np.ndarray
    raw: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = np.asarray(self.means).shape[0] if np.ndim(self.means) == 2 else -1
        expected = {"means": (n, 3), "colors": (n, 3), "opacities": (n,), "scales": (n, 3), "rotations": (n, 4)}
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape or n < 0:
                raise FacecamError(f"GaussianCloud.{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)

    def __len__(self) -> int:
        return int(self.means.shape[0])


# --------------------------------------------------------------------------- PLY I/O

def _activate(raw: np.ndarray) -> GaussianCloud:
    """Activated cloud of a structured record array (float64 arithmetic)."""
    col = {name: raw[name].astype(np.float64) for name in _REQUIRED}
    rot = np.stack([col[f"rot_{i}"] for i in range(4)], axis=1)
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    # A zero quaternion is invalid in any loader; treat it as identity rather than emit NaNs.
    rot = np.where(norm > 0, rot / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0, 0.0, 0.0]))
    return GaussianCloud(
        means=np.stack([col["x"], col["y"], col["z"]], axis=1),
        colors=0.5 + SH_C0 * np.stack([col[f"f_dc_{i}"] for i in range(3)], axis=1),
        opacities=1.0 / (1.0 + np.exp(-col["opacity"])),
        scales=np.exp(np.stack([col[f"scale_{i}"] for i in range(3)], axis=1)),
        rotations=rot,
    )


def _same_cloud(a: GaussianCloud, b: GaussianCloud) -> bool:
    return len(a) == len(b) and all(np.array_equal(getattr(a, f), getattr(b, f))
                                    for f in ("means", "colors", "opacities", "scales", "rotations"))


def load_gaussian_ply(path: str | os.PathLike) -> GaussianCloud:
    """Read a 3DGS ``.ply`` (binary little- or big-endian, any extra properties).

    Raises:
        FacecamError: missing file, not a binary PLY, or a vertex element without
            the 3DGS properties (x, y, z, opacity, f_dc_0..2, scale_0..2, rot_0..3).
    """
    p = Path(path)
    if not p.is_file():
        raise FacecamError(f"Gaussian PLY not found: {p}")
    data = p.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply") or end < 0:
        raise FacecamError(f"{p} is not a PLY file (no 'ply ... end_header' header)")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    body_start = end + len(b"end_header\n")
    fmt, elements = None, []  # elements: [name, count, [(prop, dtype)]]
    for line in header[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1] if len(words) > 1 else None
        elif words[0] == "element" and len(words) == 3:
            elements.append([words[1], int(words[2]), []])
        elif words[0] == "property" and elements:
            if words[1] == "list":
                raise FacecamError(f"{p}: list properties (meshes) are not a Gaussian splat file")
            if len(words) != 3 or words[1] not in _PLY_TYPES:
                raise FacecamError(f"{p}: unsupported PLY property line {line!r}")
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise FacecamError(f"{p}: PLY format {fmt!r} is not supported (3DGS files are binary_little_endian)")
    order = "<" if fmt == "binary_little_endian" else ">"
    offset = body_start
    for name, count, props in elements:
        dtype = np.dtype([(prop, order + code) for prop, code in props])
        if name == "vertex":
            missing = [q for q in _REQUIRED if q not in dtype.names]
            if missing:
                raise FacecamError(f"{p}: not a 3DGS splat file, vertex lacks {', '.join(missing)}")
            if offset + count * dtype.itemsize > len(data):
                raise FacecamError(f"{p}: file is truncated ({count} vertices announced)")
            raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()
            cloud = _activate(raw)
            cloud.raw = raw
            return cloud
        offset += count * dtype.itemsize
    raise FacecamError(f"{p}: PLY file has no vertex element")


def _encode(cloud: GaussianCloud) -> np.ndarray:
    """Raw little-endian float32 records of a cloud (the inverse activations)."""
    n = len(cloud)
    raw = np.zeros(n, dtype=np.dtype([(name, "<f4") for name in PLY_PROPERTIES]))
    for i, axis in enumerate("xyz"):
        raw[axis] = cloud.means[:, i]
    with np.errstate(divide="ignore"):
        for i in range(3):
            raw[f"f_dc_{i}"] = (cloud.colors[:, i] - 0.5) / SH_C0
            raw[f"scale_{i}"] = np.log(cloud.scales[:, i])
        op = np.clip(cloud.opacities, 1e-7, 1 - 1e-7)  # keep the logit finite
        raw["opacity"] = np.log(op) - np.log1p(-op)
    for i in range(4):
        raw[f"rot_{i}"] = cloud.rotations[:, i]
    return raw


def save_gaussian_ply(cloud: GaussianCloud, path: str | os.PathLike) -> None:
    """Write ``cloud`` as a binary little-endian 3DGS ``.ply`` (SH degree 0).

    The file appears complete or not at all (written to a temporary name, then
    renamed).
    """
    if np.any(cloud.scales <= 0):
        raise FacecamError("Gaussian scales must be positive to be saved (the file stores their log)")
    raw = cloud.raw
    if raw is None or len(raw) != len(cloud) or not _same_cloud(_activate(raw), cloud):
        raw = _encode(cloud)
    else:
        raw = raw.astype(raw.dtype.newbyteorder("<"))
    codes = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
             "f4": "float", "f8": "double"}
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {len(raw)}"]
    for name in raw.dtype.names:
        code = raw.dtype[name]
        lines.append(f"property {codes[code.kind + str(code.itemsize)]} {name}")
    lines.append("end_header")
    out = Path(path)
    try:
        write_bytes_atomic(out, ("\n".join(lines) + "\n").encode("ascii") + raw.tobytes())
    except OSError as exc:
        raise FacecamError(f"cannot write {out}: {exc.strerror or exc}") from None
