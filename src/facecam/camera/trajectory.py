"""Camera trajectories: presets, keyframe files, interpolation.

A :class:`CameraTrajectory` is the target camera of every output frame, relative
to the source camera. Directions are the camera's own, in its image axes
(x right, y up as the viewer sees it):

========  ===============================================================
field     meaning (positive value)
========  ===============================================================
yaw       degrees the camera orbits to its RIGHT around the head
          (the head then turns to face image-left). ``arc-left`` is negative.
pitch     degrees the camera orbits UP over the head (the head appears to
          look down). ``arc-up`` is positive.
roll      degrees the camera rolls counter-clockwise about its optical
          axis (the picture turns clockwise).
zoom      focal-length factor; 1 is the source lens, 1.4 makes the face
          40% larger.
pan_x     camera moves RIGHT by this fraction of the frame width, measured
          at the head's depth (the face moves left by that much).
pan_y     camera moves UP by this fraction of the frame height at the
          head's depth (the face moves down).
========  ===============================================================

Trajectories are data: they load from and save to JSON keyframe files
``{"frames": 81, "keys": [{"t": 0, "yaw": 0, ...}, ...]}`` where ``t`` is a
frame index (or, with ``"time": "normalized"``, a fraction of the clip).
Between keys, values follow a monotone cubic (PCHIP) curve, so a two-key move
is linear-free of overshoot and a many-key move is smooth.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import TrajectoryError

FIELDS = ("yaw", "pitch", "roll", "zoom", "pan_x", "pan_y")
NEUTRAL = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "zoom": 1.0, "pan_x": 0.0, "pan_y": 0.0}
MAX_TURN = 90.0  # deg: a keyframe's yaw or pitch beyond this looks at the back of the head (refused)

# Full-strength end points of the presets (strength scales the change from the
# source view; zoom scales in log space so zoom-in and zoom-out stay symmetric).
PRESETS: dict[str, dict[str, float]] = {
    "static": {},
    "pan-left": {"pan_x": -0.15},
    "pan-right": {"pan_x": 0.15},
    "pan-up": {"pan_y": 0.12},
    "pan-down": {"pan_y": -0.12},
    "zoom-in": {"zoom": 1.4},
    "zoom-out": {"zoom": 1 / 1.4},
    "arc-left": {"yaw": -30.0},
    "arc-right": {"yaw": 30.0},
    "arc-up": {"pitch": 20.0},
    "arc-down": {"pitch": -20.0},
    "random": {},
}

PRESET_HELP = {
    "static": "camera stays at the source view",
    "pan-left": "camera slides left: the face moves right",
    "pan-right": "camera slides right: the face moves left",
    "pan-up": "camera slides up: the face moves down",
    "pan-down": "camera slides down: the face moves up",
    "zoom-in": "camera zooms in: the face grows (x1.4)",
    "zoom-out": "camera zooms out: the face shrinks (/1.4)",
    "arc-left": "camera orbits 30 deg to its left: the head turns to face image-right",
    "arc-right": "camera orbits 30 deg to its right: the head turns to face image-left",
    "arc-up": "camera orbits 20 deg up over the head: the head appears to look down",
    "arc-down": "camera orbits 20 deg down under the head: the head appears to look up",
    "random": "the authors' random views: from the source view to 30-45 deg on the other side of the "
              "subject's frontal direction, elevation within 30 deg, FOV 40+-15",
}

# The authors' official sampler (REFERENCE.md): azimuth swings from one side
# (+-30..45 deg) to the other, elevation in +-30 deg, horizontal FOV in 40+-15 deg.
RANDOM_MAX_AZIMUTH = 45.0
RANDOM_MIN_AZIMUTH = 30.0
RANDOM_MAX_ELEVATION = 30.0
RANDOM_BASE_FOV = 40.0
RANDOM_FOV_RANGE = 15.0


@dataclass
class CameraTrajectory:
    """Per-frame relative camera, each field a ``(T,)`` float array.

    ``sphere`` optionally holds the absolute proxy-head camera (azimuth,
    elevation, FOV per frame, degrees) for the authors' absolute mode; presets
    derive it from the relative values, ``random`` samples it directly.
    """

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    zoom: np.ndarray
    pan_x: np.ndarray
    pan_y: np.ndarray
    name: str = "custom"
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.yaw.shape[0])

    def as_array(self) -> np.ndarray:
        """``(T, 6)`` array in the order of :data:`FIELDS`."""
        return np.stack([getattr(self, f) for f in FIELDS], axis=1)

    def frame(self, i: int) -> dict[str, float]:
        return {f: float(getattr(self, f)[i]) for f in FIELDS}

    def to_dict(self) -> dict:
        """JSON-ready: one key per frame (re-loading gives the same trajectory)."""
        return {
            "name": self.name,
            "frames": self.num_frames,
            "keys": [{"t": i, **{f: round(v, 6) for f, v in self.frame(i).items()}}
                     for i in range(self.num_frames)],
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def sphere_view(self, base_fov: float = RANDOM_BASE_FOV) -> dict[str, np.ndarray]:
        """Azimuth/elevation/FOV per frame on the authors' proxy-head sphere.

        Azimuth 0 here means the front (the sphere's 270 deg); positive azimuth is
        the camera moving to its right, like ``yaw``. A sampled ``random``
        trajectory carries its own absolute start; others start at the front.
        """
        if "sphere" in self.meta:
            s = self.meta["sphere"]
            return {k: np.asarray(s[k], dtype=np.float64) for k in ("azimuth", "elevation", "fov")}
        half = math.radians(base_fov) / 2
        fov = np.degrees(2 * np.arctan(math.tan(half) / self.zoom))
        return {"azimuth": self.yaw.copy(), "elevation": self.pitch.copy(), "fov": fov}


def from_keys(keys: list[dict], num_frames: int, name: str = "custom", normalized: bool = False,
              meta: Optional[dict] = None, key_frames: Optional[int] = None) -> CameraTrajectory:
    """Interpolate keyframes (dicts with ``t`` and any of :data:`FIELDS`) to ``num_frames``.

    The keys' time base: ``t`` in 0..1 when ``normalized``; frame indices of a
    ``key_frames``-frame clip (resampled to ``num_frames``) when ``key_frames`` is given;
    otherwise frame indices of the ``num_frames`` output. ``t`` must increase from key to
    key and stay inside its base. Missing fields hold their neutral value at the first
    key and carry the previous key's value afterwards.
    """
    if num_frames < 1:
        raise TrajectoryError(f"a trajectory needs at least one frame, got {num_frames}")
    if not keys:
        raise TrajectoryError("a trajectory needs at least one key")
    base = 1.0 if normalized else float((key_frames or num_frames) - 1)
    to_frames = (num_frames - 1) / base if base > 0 else 0.0
    unit = "0..1 (time: normalized)" if normalized else f"0..{base:g} (frame indices of {key_frames or num_frames} frames)"
    times, rows, prev_t = [], [], 0.0
    current = dict(NEUTRAL)
    for k, key in enumerate(keys):
        if not isinstance(key, dict) or "t" not in key:
            raise TrajectoryError(f"key {k} has no 't' (its time)")
        unknown = set(key) - set(FIELDS) - {"t"}
        if unknown:
            raise TrajectoryError(f"key {k} has unknown field(s) {sorted(unknown)}; allowed: t, {', '.join(FIELDS)}")
        for f in ("t", *FIELDS):
            if f in key and (isinstance(key[f], bool) or not isinstance(key[f], (int, float))):
                raise TrajectoryError(f"key {k}: '{f}' must be a number, got {key[f]!r}")
        for f in FIELDS:
            if f in key:
                current[f] = float(key[f])
        raw_t = float(key["t"])
        if not all(math.isfinite(v) for v in current.values()) or not math.isfinite(raw_t):
            raise TrajectoryError(f"key {k} has a non-finite value")
        if not -1e-9 <= raw_t <= base + 1e-9:
            raise TrajectoryError(f"key {k}: 't' = {key['t']} is outside {unit}")
        if current["zoom"] <= 0:
            raise TrajectoryError(f"key {k}: zoom must be positive, got {current['zoom']}")
        for f in ("yaw", "pitch"):
            if abs(current[f]) > MAX_TURN:
                raise TrajectoryError(f"key {k}: {f} {current[f]:g} deg turns past {MAX_TURN:g} deg from the source "
                                      f"view, to the side or back of the head, which no source shows (the FaceCam "
                                      f"model was trained within 45 deg)")
        t = raw_t * to_frames
        if times and raw_t <= prev_t:
            raise TrajectoryError(f"key {k}: 't' = {key['t']} must be larger than the previous key's {prev_t:g}")
        prev_t = raw_t
        times.append(t)
        rows.append([current[f] for f in FIELDS])
    values = np.asarray(rows, dtype=np.float64)
    frames = np.arange(num_frames, dtype=np.float64)
    if len(times) == 1:
        out = np.repeat(values, num_frames, axis=0)
    else:
        from scipy.interpolate import PchipInterpolator

        tt = np.asarray(times)
        clamped = np.clip(frames, tt[0], tt[-1])
        # zoom interpolates in log space: equal steps feel like equal zoom speed.
        values[:, 3] = np.log(values[:, 3])
        out = PchipInterpolator(tt, values, axis=0)(clamped)
        out[:, 3] = np.exp(out[:, 3])
    return CameraTrajectory(*(out[:, i].copy() for i in range(len(FIELDS))), name=name, meta=dict(meta or {}))


MAX_STRENGTH = 2.0  # twice a preset's move (a 60 deg arc) is already past the trained range


def check_strength(strength: float) -> float:
    """``strength`` if it lies in (0, :data:`MAX_STRENGTH`], else a one-line error."""
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0 < strength <= MAX_STRENGTH):
        raise TrajectoryError(f"--strength must be above 0 and at most {MAX_STRENGTH:g}, got {strength}")
    return float(strength)


def preset(name: str, num_frames: int = 81, strength: float = 1.0,
           seed: Optional[int] = None) -> CameraTrajectory:
    """Trajectory of a named preset; starts at the source view and ends at the preset's end point."""
    if name not in PRESETS:
        raise TrajectoryError(f"unknown camera preset {name!r}; run `facecam cameras` to list them")
    check_strength(strength)
    if name == "random":
        return random_trajectory(num_frames, seed=seed, strength=strength)
    end = dict(NEUTRAL)
    for f, v in PRESETS[name].items():
        end[f] = v ** strength if f == "zoom" else v * strength
    keys = [{"t": 0, **NEUTRAL}, {"t": max(num_frames - 1, 1), **end}]
    traj = from_keys(keys if num_frames > 1 else keys[:1], num_frames, name=name)
    traj.meta.update({"preset": name, "strength": strength})
    return traj


def random_trajectory(num_frames: int = 81, seed: Optional[int] = None,
                      strength: float = 1.0, source_view: Optional[tuple[float, float]] = None) -> CameraTrajectory:
    """The authors' random sampler (large-pose variant), linear from start to end.

    The sampled absolute sphere views are kept in ``meta["sphere"]`` for absolute
    mode; the relative fields are those views minus the start, so that in relative
    mode the move starts at the source view.

    ``source_view`` = (azimuth, elevation) of the source camera from the subject's frontal
    direction, degrees: the path then starts there and ends at a view drawn from the authors'
    end distribution (30-45 deg on the side away from the start, elevation within 30 deg), so
    every view stays inside the range the model was trained on (when the source does).
    ``strength`` scales the move from the source view.
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise TrajectoryError(f"the seed of `random` must be a whole number, 0 or more, got {seed!r}")
    rng = np.random.default_rng(seed)
    direction = 1.0 if rng.random() < 0.5 else -1.0
    # Magnitudes in [30, 45] deg: start on one side, end on the other.
    az0 = -direction * rng.uniform(RANDOM_MIN_AZIMUTH, RANDOM_MAX_AZIMUTH)
    az1 = direction * rng.uniform(RANDOM_MIN_AZIMUTH, RANDOM_MAX_AZIMUTH)
    el0, el1 = rng.uniform(-RANDOM_MAX_ELEVATION, RANDOM_MAX_ELEVATION, size=2)
    fov0, fov1 = rng.uniform(RANDOM_BASE_FOV - RANDOM_FOV_RANGE, RANDOM_BASE_FOV + RANDOM_FOV_RANGE, size=2)
    if source_view is None:
        az0, az1, el0, el1 = (v * strength for v in (az0, az1, el0, el1))
    else:
        start_az, start_el = (float(v) for v in source_view)
        if abs(start_az) > 1e-3:  # end on the other side of frontal from where the source camera is
            az1 = -math.copysign(abs(az1), start_az)
        az1 = start_az + strength * (az1 - start_az)
        el1 = start_el + strength * (el1 - start_el)
        az0, el0 = start_az, start_el
    s = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    az = az0 + (az1 - az0) * s
    el = el0 + (el1 - el0) * s
    fov = fov0 + (fov1 - fov0) * s
    zoom = math.tan(math.radians(fov0) / 2) / np.tan(np.radians(fov) / 2)
    zeros = np.zeros(num_frames)
    meta = {
        "preset": "random", "seed": seed, "strength": strength,
        "from_frontal": source_view is not None,
        "sampled": {"start_azimuth": az0, "end_azimuth": az1, "start_elevation": el0,
                    "end_elevation": el1, "start_fov": fov0, "end_fov": fov1},
        "sphere": {"azimuth": az.tolist(), "elevation": el.tolist(), "fov": fov.tolist()},
    }
    return CameraTrajectory(az - az0, el - el0, zeros.copy(), zoom, zeros.copy(), zeros.copy(),
                            name="random", meta=meta)


FILE_FIELDS = ("name", "frames", "time", "keys", "meta")


def load_trajectory(path: str | os.PathLike, num_frames: Optional[int] = None) -> CameraTrajectory:
    """Read a JSON keyframe file and resample it to ``num_frames`` (default: the file's ``frames``).

    The file's ``t`` values count frames of its own ``frames``-frame clip, or run 0..1 with
    ``"time": "normalized"``; either way the move spans the whole output, whatever its length.
    A run's own ``<name>_camera.json`` (what ``facecam generate`` writes) is read too: its
    ``trajectory`` is such a file.
    """
    p = Path(path)
    if not p.exists():
        raise TrajectoryError(f"camera file not found: {p}")
    if not p.is_file():
        raise TrajectoryError(f"camera file {p} is a folder, not a JSON keyframe file")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrajectoryError(f"camera file {p} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "keys" not in data and isinstance(data.get("trajectory"), dict):
        data = data["trajectory"]  # a run's <name>_camera.json: the move it rendered
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise TrajectoryError(f"camera file {p} must be an object with a 'keys' list")
    unknown = set(data) - set(FILE_FIELDS)
    if unknown:
        raise TrajectoryError(f"camera file {p} has unknown field(s) {sorted(unknown)}; allowed: {', '.join(FILE_FIELDS)}")
    if data.get("time", "frames") not in ("frames", "normalized"):
        raise TrajectoryError(f"camera file {p}: 'time' must be \"frames\" or \"normalized\", got {data['time']!r}")
    normalized = data.get("time") == "normalized"
    key_frames = data.get("frames")
    if key_frames is not None and (isinstance(key_frames, bool) or not isinstance(key_frames, int) or key_frames < 1):
        raise TrajectoryError(f"camera file {p}: 'frames' must be a positive whole number, got {key_frames!r}")
    if key_frames is None and not normalized:
        raise TrajectoryError(f"camera file {p} needs 'frames' (the frame count its 't' values count) "
                              f"or \"time\": \"normalized\" (t from 0 to 1)")
    frames = int(num_frames or key_frames or 81)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    if normalized:
        meta = {**meta, "time": "normalized"}
    try:
        return from_keys(data["keys"], frames, name=data.get("name", p.stem), normalized=normalized, meta=meta,
                         key_frames=None if normalized else key_frames)
    except TrajectoryError as exc:  # "key 1: 't' = 40 is outside 0..24": in which file
        raise TrajectoryError(f"camera file {p}: {exc}") from None


def resolve_camera(spec: str, num_frames: int = 81, strength: float = 1.0,
                   seed: Optional[int] = None) -> CameraTrajectory:
    """A preset name or a path to a JSON keyframe file (``--camera``)."""
    if spec in PRESETS:
        return preset(spec, num_frames, strength=strength, seed=seed)
    if spec.lower().endswith(".json") or os.path.sep in spec or Path(spec).exists():
        traj = load_trajectory(spec, num_frames)
        check_strength(strength)
        if strength != 1.0:
            traj = scale_trajectory(traj, strength)
            turn = float(max(np.abs(traj.yaw).max(), np.abs(traj.pitch).max()))
            if turn > MAX_TURN:
                raise TrajectoryError(f"--strength {strength:g} turns {Path(spec).name}'s move to {turn:.0f} deg from "
                                      f"the source view, past {MAX_TURN:g} deg (the side or back of the head)")
        return traj
    raise TrajectoryError(f"unknown camera {spec!r}: use a preset (`facecam cameras`) or a .json keyframe file")


def hold_end(traj: CameraTrajectory, num_frames: int) -> CameraTrajectory:
    """``traj`` followed by its last view held until ``num_frames`` frames (a move made early in a long clip)."""
    if num_frames < traj.num_frames:
        raise TrajectoryError(f"cannot hold a {traj.num_frames}-frame move inside {num_frames} frames")
    extra = num_frames - traj.num_frames
    arrays = {f: np.concatenate([getattr(traj, f), np.repeat(getattr(traj, f)[-1:], extra)]) for f in FIELDS}
    meta = dict(traj.meta, move_frames=traj.num_frames)
    if "sphere" in meta:  # the absolute camera holds its end view too
        meta["sphere"] = {k: list(v) + [v[-1]] * extra for k, v in meta["sphere"].items()}
    return CameraTrajectory(**arrays, name=traj.name, meta=meta)


def scale_trajectory(traj: CameraTrajectory, strength: float) -> CameraTrajectory:
    """Multiply every change from the source view by ``strength`` (zoom in log space)."""
    return CameraTrajectory(traj.yaw * strength, traj.pitch * strength, traj.roll * strength,
                            traj.zoom ** strength, traj.pan_x * strength, traj.pan_y * strength,
                            name=traj.name, meta={**traj.meta, "strength": strength})
