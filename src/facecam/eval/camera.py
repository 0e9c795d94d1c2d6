"""Camera correctness (paper, section 4.3): did the output move the way the camera asked?

Ground-truth videos under a moving camera do not exist for in-the-wild clips,
so the paper measures the head-pose change between the LAST frame of the input
and the last frame of the output with MediaPipe, and labels the video correct
when that change points the way the camera move should move the face.

Measured change (output minus input, both frames at the same time instant):

========  =============================================================
yaw       degrees; > 0 the head turned to face image-right
pitch     degrees; > 0 the head turned to look up
roll      degrees; > 0 the head tilted clockwise in the image
scale     ratio of face sizes (each relative to its frame height); > 1 grew
shift_x   face-centre move as a fraction of the frame width; > 0 rightwards
shift_y   face-centre move as a fraction of the frame height; > 0 DOWNwards
========  =============================================================

Expected direction, from the trajectory's end point (so presets and JSON files
are judged the same way; see :mod:`facecam.camera.trajectory` for its signs):

==========  ======================  =====================================
component   trajectory end point    measured change must be
==========  ======================  =====================================
yaw         ``yaw`` (camera right)   ``-sign(yaw)``: arc-left -> head faces right
pitch       ``pitch`` (camera up)    ``-sign(pitch)``: arc-up -> head looks down
roll        ``roll`` (camera ccw)    ``+sign(roll)``: the picture turns clockwise
scale       ``zoom``                 ``> 1`` when zoom > 1 (zoom-in: face grows)
shift_x     ``pan_x`` (camera right) ``-sign(pan_x)``: pan-left -> face moves right
shift_y     ``pan_y`` (camera up)    ``+sign(pan_y)``: pan-up -> face moves down
==========  ======================  =====================================

Decision rule: a component is *commanded* when its end point is at least its
threshold in :class:`Thresholds` away from neutral; each commanded component
must change in the expected direction by at least the same threshold. The
other components are reported but not judged, because a real camera move
couples them (an arc also shifts the face a little; a pan seen in perspective
turns it a little). A trajectory with nothing commanded (``static``) is correct
when every component stays within its threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..camera.trajectory import CameraTrajectory, resolve_camera
from ..errors import FacecamError, NoFaceError

COMPONENTS = ("yaw", "pitch", "roll", "scale", "shift_x", "shift_y")


@dataclass(frozen=True)
class Thresholds:
    """Smallest change that counts, per component (both for commands and for measurements).

    Defaults sit above MediaPipe + PnP jitter between two frames of the same
    head (about 1-2 degrees, under 2% size, under 1% of the frame) and well
    below the presets' end points (30/20 degree arcs, x1.4 zoom, 0.12-0.15
    frame pans), so a full-strength preset passes by a wide margin when it was
    followed and an unchanged video fails.
    """

    yaw: float = 5.0        # degrees
    pitch: float = 5.0      # degrees
    roll: float = 5.0       # degrees
    scale: float = 0.05     # relative size change: ratio >= 1.05 or <= 1/1.05
    shift: float = 0.02     # fraction of the frame width (x) or height (y)

    def for_component(self, name: str) -> float:
        return self.shift if name.startswith("shift") else getattr(self, name)


@dataclass
class PoseChange:
    """Head-pose change from the input's frame to the output's frame (units in the module docstring)."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    shift_x: float
    shift_y: float

    def as_dict(self) -> dict:
        return {k: round(float(v), 5) for k, v in asdict(self).items()}


@dataclass
class CameraVerdict:
    """Correctness of one output under one camera.

    Attributes:
        correct: every commanded component moved the expected way (or, with
            nothing commanded, nothing moved).
        change: the measured :class:`PoseChange`, None when the output had no face.
        expected: ``{component: +1 | -1}`` for the commanded components.
        checks: ``{component: passed}`` for the judged components.
        camera: the camera's name; ``end``: its end point.
        reason: one line saying why it is wrong (empty when correct).
    """

    correct: bool
    change: Optional[PoseChange]
    expected: dict
    checks: dict
    camera: str
    end: dict
    reason: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    frames: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready; the measured change is flattened to top-level keys (None without a face)."""
        change = self.change.as_dict() if self.change else {k: None for k in COMPONENTS}
        return {"correct": bool(self.correct), **change, "camera": self.camera,
                "expected": self.expected, "checks": self.checks,
                "end": {k: round(float(v), 6) for k, v in self.end.items()},
                "reason": self.reason, "thresholds": asdict(self.thresholds), "frames": self.frames}


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def pose_change(points_in: np.ndarray, size_in: tuple[int, int],
                points_out: np.ndarray, size_out: tuple[int, int]) -> PoseChange:
    """Change between two ``(478, 3)`` landmark sets in frames of ``(H, W)`` pixels.

    Face size is taken relative to each frame's height and the centre relative
    to each frame's size, so an output at another resolution is still comparable.
    """
    from ..face.pose import estimate_head_pose

    a = estimate_head_pose(points_in, size_in)
    b = estimate_head_pose(points_out, size_out)
    (hi, wi), (ho, wo) = size_in, size_out
    ca, cb = np.asarray(a.center, float), np.asarray(b.center, float)
    return PoseChange(
        yaw=_wrap(float(b.yaw) - float(a.yaw)),
        pitch=_wrap(float(b.pitch) - float(a.pitch)),
        roll=_wrap(float(b.roll) - float(a.roll)),
        scale=(float(b.scale) / ho) / max(float(a.scale) / hi, 1e-9),
        shift_x=float(cb[0] / wo - ca[0] / wi),
        shift_y=float(cb[1] / ho - ca[1] / hi),
    )


def end_point(camera: CameraTrajectory) -> dict:
    """The trajectory's last frame ``{yaw, pitch, roll, zoom, pan_x, pan_y}``."""
    return camera.frame(camera.num_frames - 1)


def expected_signs(end: dict, thresholds: Thresholds = Thresholds()) -> dict:
    """``{component: +1 | -1}`` for each component the end point commands (see the module docstring)."""
    commands = {
        "yaw": -end.get("yaw", 0.0),
        "pitch": -end.get("pitch", 0.0),
        "roll": end.get("roll", 0.0),
        "shift_x": -end.get("pan_x", 0.0),
        "shift_y": end.get("pan_y", 0.0),
    }
    out = {k: int(math.copysign(1, v)) for k, v in commands.items() if abs(v) >= thresholds.for_component(k)}
    zoom = float(end.get("zoom", 1.0))
    if abs(math.log(zoom)) >= math.log1p(thresholds.scale):
        out["scale"] = 1 if zoom > 1 else -1
    return {k: out[k] for k in COMPONENTS if k in out}


def _moved(change: PoseChange, name: str, thresholds: Thresholds) -> float:
    """Signed size of a component's change in threshold units' own scale (log for scale)."""
    value = getattr(change, name)
    if name == "scale":
        return math.log(max(value, 1e-9)) / math.log1p(thresholds.scale) * thresholds.scale
    return value


def judge(change: Optional[PoseChange], end: dict, camera: str = "custom",
          thresholds: Thresholds = Thresholds()) -> CameraVerdict:
    """Apply the decision rule to a measured change; ``change=None`` (no face) is wrong."""
    expected = expected_signs(end, thresholds)
    if change is None:
        return CameraVerdict(False, None, expected, {}, camera, end, "no face found in the output frame", thresholds)
    checks, reasons = {}, []
    if expected:
        for name, sign in expected.items():
            moved = _moved(change, name, thresholds)
            ok = moved * sign >= thresholds.for_component(name)
            checks[name] = bool(ok)
            if not ok:
                reasons.append(f"{name} {getattr(change, name):+.3f} should be "
                               f"{'above' if sign > 0 else 'below'} {'1' if name == 'scale' else '0'} by the threshold")
    else:
        for name in COMPONENTS:
            ok = abs(_moved(change, name, thresholds)) < thresholds.for_component(name)
            checks[name] = bool(ok)
            if not ok:
                reasons.append(f"{name} changed by {getattr(change, name):+.3f} under a still camera")
    correct = all(checks.values())
    return CameraVerdict(correct, change, expected, checks, camera, end, "; ".join(reasons), thresholds)


def frame_landmarks(frame: np.ndarray, what: str, mesh=None) -> Optional[np.ndarray]:
    """``(478, 3)`` landmarks of one RGB frame, or None; ``what`` names it in errors."""
    from ..face.landmarks import detect_image_landmarks

    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FacecamError(f"{what}: expected an RGB frame, got shape {frame.shape}")
    return detect_image_landmarks(frame, mesh=mesh)


def evaluate_frames(input_frame: np.ndarray, output_frame: np.ndarray, camera: CameraTrajectory,
                    thresholds: Thresholds = Thresholds()) -> CameraVerdict:
    """Judge one output frame ``(H', W', 3)`` against the input frame ``(H, W, 3)`` at the same time.

    Raises:
        NoFaceError: the input frame has no face (the test itself is invalid).
    """
    from ..face.landmarks import face_mesh

    # One static-image graph for both frames: each detection is independent, and building
    # the graph costs more than running it.
    mesh = face_mesh(static=True)
    try:
        pin = frame_landmarks(input_frame, "input", mesh)
        if pin is None:
            raise NoFaceError("no face found in the input frame; camera correctness needs one")
        pout = frame_landmarks(output_frame, "output", mesh)
    finally:
        mesh.close()
    change = None if pout is None else pose_change(pin, input_frame.shape[:2], pout, output_frame.shape[:2])
    return judge(change, end_point(camera), camera.name, thresholds)


def evaluate_clips(input_frames: np.ndarray, output_frames: np.ndarray, camera: CameraTrajectory,
                   thresholds: Thresholds = Thresholds(), frame: Optional[int] = None) -> CameraVerdict:
    """Judge clips ``(T, H, W, 3)`` and ``(T', H', W', 3)`` at their last common frame.

    Args:
        frame: frame index to compare instead (negative counts from the end of
            the shorter clip); the paper's baselines were scored on their first
            29 or 49 frames, i.e. ``frame=28`` or ``48``.
    """
    n = min(len(input_frames), len(output_frames))
    if n == 0:
        raise FacecamError("a clip has no frames")
    index = n - 1 if frame is None else (frame if frame >= 0 else n + frame)
    if not 0 <= index < n:
        raise FacecamError(f"--frame {frame} is outside the {n} frames both clips have")
    verdict = evaluate_frames(input_frames[index], output_frames[index], camera, thresholds)
    verdict.frames = {"index": int(index), "input_frames": int(len(input_frames)),
                      "output_frames": int(len(output_frames))}
    return verdict


def load_camera(spec: str, num_frames: int, strength: float = 1.0) -> CameraTrajectory:
    """A preset, a JSON keyframe file, or the ``<name>_camera.json`` that ``facecam generate`` wrote.

    ``random`` is refused: without its seed it would be a different move; pass the
    run's ``_camera.json`` instead, which records the sampled trajectory.
    """
    import json
    from pathlib import Path

    from ..camera.trajectory import from_keys, scale_trajectory
    from ..errors import TrajectoryError

    if spec == "random":
        raise TrajectoryError("--camera random is a different move every time: pass the run's "
                              "<name>_camera.json (written by facecam generate) instead")
    path = Path(spec)
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TrajectoryError(f"camera file {path} is not valid JSON: {exc}") from None
        recorded = data.get("trajectory") if isinstance(data, dict) else None
        if isinstance(recorded, dict) and isinstance(recorded.get("keys"), list):
            # A run record: its trajectory is already per frame and already scaled by its strength.
            traj = from_keys(recorded["keys"], int(recorded.get("frames") or num_frames),
                             name=str(recorded.get("name", path.stem)))
            return scale_trajectory(traj, strength) if strength != 1.0 else traj
    return resolve_camera(spec, num_frames, strength=strength)


def evaluate_camera(input_path: str, output_path: str, camera: str | CameraTrajectory,
                    strength: float = 1.0, thresholds: Thresholds = Thresholds(),
                    frame: Optional[int] = None) -> CameraVerdict:
    """Read two videos (every frame, at their own rates) and judge ``camera`` (see :func:`load_camera`).

    The input should be the clip the engine saw (``DIR/<name>_input.mp4`` from
    ``facecam generate``), so that both frames show the same instant in the same framing.
    """
    from ..video.io import read_video

    src = read_video(input_path, fps=None, num_frames=None).frames
    gen = read_video(output_path, fps=None, num_frames=None).frames
    traj = camera if isinstance(camera, CameraTrajectory) else load_camera(camera, len(gen), strength)
    return evaluate_clips(src, gen, traj, thresholds, frame)
