"""Camera correctness: did the output follow the camera, all the way, and nothing else?

Two rules live here.

The paper's rule (section 4.3, :func:`judge`): MediaPipe head pose on the LAST
frame of the input and of the output; the video is correct when the change
points the way the motion should move the face. It only checks directions.

This project's strict judge (:func:`evaluate_clips`, what ``facecam eval
camera`` and ``facecam bench dynamic`` use): the same measurement on every
sampled frame pair ``(input i, output i)`` (stride <= 4, the last frame always
included), compared with what the commanded trajectory predicts for that frame.
A clip is correct only when

* every component follows the commanded course within its tolerance at every
  sampled frame (magnitude and time course, not just the sign; each frame's error
  is the median over it and its neighbours, :data:`NEIGHBOURS`);
* components the camera does not command stay put (within the noise measured
  on static clips: ``benchmarks/judge_noise.py``);
* every sampled output frame whose input frame shows a face shows one too.

Measured change (output minus input, both frames at the same time instant):

========  =============================================================
yaw       degrees; > 0 the head turned to face image-right
pitch     degrees; > 0 the head turned to look up
roll      degrees; > 0 the head tilted clockwise in the image
scale     ratio of face sizes (each relative to its frame height); > 1 grew
shift_x   face-centre move as a fraction of the frame width; > 0 rightwards
shift_y   face-centre move as a fraction of the frame height; > 0 DOWNwards
========  =============================================================

What a trajectory frame predicts (see :func:`expected_change`): the input
frame's landmarks are lifted to 3D and seen by that frame's target camera,
built exactly as the relative camera condition builds it
(:mod:`facecam.condition.project`, pivot from input frame 0). Rotations come
from composing the camera's rotation with the input head's (so a 30 degree
orbit predicts 30 degrees); scale and shift from the projected landmarks (so
the shift and shrink an orbit causes are predicted, not punished).

Signs of the paper's rule, from the trajectory's end point (see
:mod:`facecam.camera.trajectory` for its signs):

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
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

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


def frame_landmarks(frame: np.ndarray, what: str, mesh=None,
                    near: Optional[tuple[float, float]] = None) -> Optional[np.ndarray]:
    """``(478, 3)`` landmarks of one RGB frame, or None; ``what`` names it in errors. With ``near`` (and a
    mesh that finds several faces) the face whose nose tip is nearest that point."""
    from ..face.landmarks import detect_image_landmarks, landmarks_to_pixels

    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FacecamError(f"{what}: expected an RGB frame, got shape {frame.shape}")
    if near is None or mesh is None:
        return detect_image_landmarks(frame, mesh=mesh)
    h, w = frame.shape[:2]
    return landmarks_to_pixels(mesh.process(np.ascontiguousarray(frame)), w, h, near)


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


# --------------------------------------------------------------------------- the strict judge

DEFAULT_STRIDE = 4
# Each judged frame's error is the median over it and NEIGHBOURS frames on each side (fewer at the clip's
# ends: the window stays symmetric): MediaPipe's fit
# of one frame jumps by 1-3 deg from the next (facecam_000 zoom-out: +2.6, +5.7, +1.4 deg of pitch at
# frames 24, 28, 32 of an output whose course is smooth), while a camera error lasts.
NEIGHBOURS = 1
UNCOMMANDED_ANGLE = 1.0  # degrees: an angle commanded less than this at a frame is not commanded there
SCALE_NAMES = {"yaw": "deg", "pitch": "deg", "roll": "deg", "scale": "log", "shift_x": "frame", "shift_y": "frame"}


@dataclass(frozen=True)
class Tolerances:
    """How far a measured component may stray from the commanded course at any sampled frame.

    Allowed error at frame ``i`` = ``max(floor, rel * |commanded change at i|)``
    (for yaw, pitch and roll, the larger of the commanded and the predicted change:
    an orbit in yaw and pitch at once also changes the roll angle) plus allowances for what MediaPipe + PnP cannot tell apart:

    * yaw and pitch: how far the line of sight to the face centre turns (a pan
      or zoom rendered as an image shift reads as a turn of that size), plus
      :attr:`zoom_turn` degrees per unit of ``|log zoom|`` (PnP assumes a fixed
      lens, so a focal zoom reads as the head coming closer and turning a little);
    * pitch not commanded at that frame: :attr:`orbit_pitch` degrees per degree
      of commanded yaw (MediaPipe places the nose and chin of a turned face a little
      high or low: exact yaw orbits of rigid copies of real heads read pitch);
    * scale and shift: the coupling an orbit predicts (the face shrinks and
      slides as the head turns; the true pivot of a real head is known only roughly);
    * yaw, pitch, roll not commanded at that frame: the change predicted for
      them (an orbit of a head that is already turned, or in yaw and pitch at
      once, changes the other angles too; MediaPipe reads that short, as it
      reads turns short).

    The floors are the largest errors measured on exactly moved real clips
    (static, pans, zooms of the six shared clips through mp4,
    ``benchmarks/judge_noise.py``), rounded up with a margin; the figures are in
    ``docs/evaluation.md``. The relative parts say how much of a commanded move
    may be missing or added. Units: degrees, ``|log(size ratio)|``, fraction of the frame.
    """

    yaw: float = 3.0             # measured max 2.3 deg beyond the allowances (pans), 1.0 static
    pitch: float = 3.0           # measured max 2.1 (pans), 1.1 static
    roll: float = 3.5            # measured max 2.9 (lp_s18, small face), 0.5 static
    scale: float = 0.03          # measured max 0.022 (zooms), 0.005 static
    shift: float = 0.01          # measured max 0.004, 0.002 static
    rotation_rel: float = 0.5    # MediaPipe + PnP read known orbits of a rendered head at 0.5-0.7 of their angle
    scale_rel: float = 0.25
    shift_rel: float = 0.25
    zoom_turn: float = 12.0      # measured: zooms by 1.4 read up to 6.1 deg beyond the line-of-sight turn
    # Rigid Gaussian copies of the six shared clips' heads under exact 30 deg yaw orbits read up to 5.3 deg of
    # pitch (lp_s18), 2.4 at 15 deg (benchmarks/warp_depth.py, part 3): 0.1 per degree over the 3 deg floor.
    orbit_pitch: float = 0.1

    def floor(self, name: str) -> float:
        return self.shift if name.startswith("shift") else getattr(self, name)

    def rel(self, name: str) -> float:
        if name in ("yaw", "pitch", "roll"):
            return self.rotation_rel
        return self.scale_rel if name == "scale" else self.shift_rel

    def allowance(self, name: str, expectation: "FrameExpectation") -> float:
        """The part of the tolerance that is not floor or relative (see the class docstring)."""
        extra = expectation.allowance[name]
        if name in ("yaw", "pitch"):
            extra += self.zoom_turn * abs(expectation.commanded["scale"])
        if name == "pitch" and abs(expectation.commanded["pitch"]) < UNCOMMANDED_ANGLE:
            extra += self.orbit_pitch * abs(expectation.commanded["yaw"])
        return extra

    def allowed(self, name: str, expectation: "FrameExpectation") -> float:
        """Allowed ``|measured - expected|`` of one component at one frame."""
        size = abs(expectation.commanded[name])
        if name in ("yaw", "pitch", "roll"):
            # A combined orbit (yaw and pitch at once) turns the other Euler angles too: relative to that.
            size = max(size, abs(expectation.change[name]))
        return max(self.floor(name), self.rel(name) * size) + self.allowance(name, expectation)


def sample_frames(n: int, stride: int = DEFAULT_STRIDE) -> list[int]:
    """Frames judged in a clip of ``n``: ``0, stride, 2 stride, ...`` and always the last."""
    if stride < 1:
        raise FacecamError(f"--stride must be at least 1, got {stride}")
    frames = list(range(0, n, stride))
    if frames[-1] != n - 1:
        frames.append(n - 1)
    return frames


def _commands(view: dict, size: tuple[int, int]) -> dict:
    """The commanded change of one trajectory frame, per component, in the measurement's units."""
    zoom = float(view["zoom"])
    return {"yaw": -view["yaw"], "pitch": -view["pitch"], "roll": view["roll"], "scale": math.log(zoom),
            "shift_x": -view["pan_x"] * zoom, "shift_y": view["pan_y"] * zoom}


@dataclass
class FrameExpectation:
    """What one trajectory frame predicts for one input frame (units of :class:`PoseChange`, scale as log)."""

    change: dict        # expected change per component (scale as log ratio)
    commanded: dict     # the trajectory's own command per component (scale as log zoom)
    allowance: dict     # extra tolerance per component (line of sight, orbit coupling)


def _head_angles(rotation: np.ndarray) -> np.ndarray:
    from ..face.pose import rotation_to_angles

    return np.asarray(rotation_to_angles(rotation))


def expected_change(points_in: np.ndarray, size: tuple[int, int], view: dict, pivot: np.ndarray,
                    pose_in=None, zoom_center=None) -> FrameExpectation:
    """The change a perfect output would show for input landmarks ``(478, 3)`` under one trajectory frame.

    Rotation: the input head's rotation seen by the rotated target camera
    (exact for any pivot). Scale and shift: the input landmarks lifted to 3D
    (:func:`facecam.condition.project.lift`) at the depth of the posed face
    template (:func:`facecam.face.pose.template_depth`) and projected by the target camera
    of the relative condition (:func:`facecam.condition.project.target_camera`), zooming about
    ``zoom_center`` (pixels; the trajectory's ``meta["zoom_center"]``, default the frame's centre).
    """
    from ..condition.project import lift, project, target_camera
    from ..face.pose import MESH, estimate_head_pose, face_scale, focal_length, intrinsics, template_depth

    h, w = size
    f = focal_length(size)
    K = intrinsics(size, f)
    pose_in = pose_in or estimate_head_pose(points_in, size)
    camera = target_camera(view, size, pivot, f, zoom_center)
    # The head seen by the target camera is the template's rigid head (the one PnP reads the rotation
    # with), at the input's pixels: MediaPipe's own z is not a rigid head's depth, and predicted the size
    # change of a rigid head's 20 deg pitch orbits up to 2.9 points of log size off, the template's depth 1.4
    # (benchmarks/warp_depth.py).
    projected = project(lift(template_depth(points_in, size, f), K), camera)
    before = _head_angles(pose_in.rotation)
    after = _head_angles(camera.R @ pose_in.rotation)
    turn = [_wrap(float(v)) for v in after - before]
    c_in = points_in[MESH, :2].astype(np.float64).mean(0)
    c_out = projected[MESH, :2].mean(0)
    s_ratio = float(face_scale(projected[None])[0] / max(face_scale(points_in[None].astype(np.float64))[0], 1e-9))
    change = {"yaw": turn[0], "pitch": turn[1], "roll": turn[2], "scale": math.log(max(s_ratio, 1e-9)),
              "shift_x": float(c_out[0] - c_in[0]) / w, "shift_y": float(c_out[1] - c_in[1]) / h}
    commanded = _commands(view, size)
    # What zoom and pan alone would do to the face in the image (a 2D move about the zoom's centre).
    zoom = float(view["zoom"])
    centre = np.array([w / 2.0, h / 2.0]) if zoom_center is None else np.asarray(zoom_center, np.float64)
    flat = centre + zoom * (c_in - centre) + zoom * np.array([-view["pan_x"] * w, view["pan_y"] * h])
    coupling = {"scale": abs(change["scale"] - math.log(zoom)),
                "shift_x": abs(change["shift_x"] - float(flat[0] - c_in[0]) / w),
                "shift_y": abs(change["shift_y"] - float(flat[1] - c_in[1]) / h)}
    # How far zoom and pan turn the line of sight to the face centre: PnP reads an image shift as
    # a turn of this size, a camera translation as none; either rendering is accepted. (An orbit
    # really turns the head, so its own slide of the face earns no such allowance.)
    sight_x = math.degrees(math.atan((flat[0] - w / 2) / f) - math.atan((c_in[0] - w / 2) / f))
    sight_y = math.degrees(math.atan((flat[1] - h / 2) / f) - math.atan((c_in[1] - h / 2) / f))
    # An orbit of a head that is already turned, or in yaw and pitch at once, also changes the
    # angles it does not command; MediaPipe reads such couplings short (it reads turns short),
    # so like the other couplings each is allowed up to its own size.
    for k in ("yaw", "pitch", "roll"):
        coupling[k] = abs(change[k]) if abs(commanded[k]) < UNCOMMANDED_ANGLE else 0.0
    allowance = {**coupling, "yaw": abs(sight_x) + coupling["yaw"], "pitch": abs(sight_y) + coupling["pitch"]}
    return FrameExpectation(change, commanded, allowance)


def _measured(change: PoseChange) -> dict:
    values = asdict(change)
    values["scale"] = math.log(max(values["scale"], 1e-9))
    return values


@dataclass
class ClipVerdict:
    """The strict judge's verdict on one output (see the module docstring).

    Attributes:
        correct: every sampled frame within tolerance, nothing uncommanded
            moved, no face missing.
        change: :class:`PoseChange` at the last judged frame (None: no face there).
        errors: per component ``{mean, worst, frame, tolerance, ok}``: measured
            minus expected (degrees; log size ratio; fraction of the frame),
            ``mean`` of absolute errors, ``worst`` signed, at ``frame``.
        commanded: components the trajectory moves (beyond a paper threshold).
        uncommanded: per other component ``{worst, frame, tolerance, ok}`` (the largest error, where).
        face_missing: ``{count, frames, sampled}``: sampled output frames without a face where the input has one.
        reason: why it is wrong, in words ("" when correct).
        paper_correct: the paper's direction-only rule on the last judged frame.
        per_frame: ``[{frame, measured, expected, tolerance}]`` (None entries: no face).
    """

    correct: bool
    change: Optional[PoseChange]
    camera: str
    end: dict
    errors: dict
    commanded: list
    uncommanded: dict
    face_missing: dict
    reason: str
    paper_correct: bool
    per_frame: list
    frames: dict
    tolerances: Tolerances = field(default_factory=Tolerances)

    def to_dict(self) -> dict:
        """JSON-ready; the last judged frame's change is flattened to top-level keys (None without a face)."""
        change = self.change.as_dict() if self.change else {k: None for k in COMPONENTS}
        return {"correct": bool(self.correct), **change, "camera": self.camera, "reason": self.reason,
                "errors": self.errors, "commanded": self.commanded, "uncommanded": self.uncommanded,
                "face_missing": self.face_missing, "paper_correct": bool(self.paper_correct),
                "end": {k: round(float(v), 6) for k, v in self.end.items()},
                "tolerances": asdict(self.tolerances), "frames": self.frames, "per_frame": self.per_frame}


def _round(d: Optional[dict], digits: int = 5) -> Optional[dict]:
    return None if d is None else {k: round(float(v), digits) for k, v in d.items()}


def _commanded_components(camera: CameraTrajectory, size: tuple[int, int]) -> list[str]:
    """Components the trajectory moves anywhere by at least the paper's threshold."""
    t = Thresholds()
    peak = {k: 0.0 for k in COMPONENTS}
    for i in range(camera.num_frames):
        for k, v in _commands(camera.frame(i), size).items():
            peak[k] = max(peak[k], abs(v))
    limit = {k: (math.log1p(t.scale) if k == "scale" else t.for_component(k)) for k in COMPONENTS}
    return [k for k in COMPONENTS if peak[k] >= limit[k]]


def _resample(camera: CameraTrajectory, n: int) -> CameraTrajectory:
    """The trajectory stretched over ``n`` frames (a move recorded for another length)."""
    if camera.num_frames == n:
        return camera
    from ..camera.trajectory import FIELDS

    src = np.linspace(0.0, 1.0, camera.num_frames)
    dst = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    values = []
    for name in FIELDS:
        v = getattr(camera, name)
        v = np.log(v) if name == "zoom" else v
        v = np.interp(dst, src, v)
        values.append(np.exp(v) if name == "zoom" else v)
    return CameraTrajectory(*values, name=camera.name, meta=dict(camera.meta))


def detect_frames(frames: np.ndarray, indices: Sequence[int],
                  near: Optional[tuple[float, float]] = None) -> dict[int, Optional[np.ndarray]]:
    """``{index: (478, 3) landmarks or None}`` of the given frames, each detected on its own.

    ``near``: with several people in frame, ``(x, y)`` pixels of the judged face's nose tip in the first
    frame; in each frame (in order) the face nearest the last one found is read.
    """
    from tqdm.auto import tqdm

    from ..face.landmarks import MANY_FACES, NOSE_TIP, face_mesh

    mesh = face_mesh(static=True, faces=1 if near is None else MANY_FACES)
    found = {}
    try:
        steps = tqdm(sorted(indices), desc="judge: landmarks", unit="frame", leave=False,
                     disable=len(indices) < 60)
        for i in steps:
            found[int(i)] = points = frame_landmarks(frames[i], f"frame {i}", mesh, near)
            if near is not None and points is not None:
                near = tuple(points[NOSE_TIP, :2])
        return found
    finally:
        mesh.close()


def evaluate_clips(input_frames: np.ndarray, output_frames: np.ndarray, camera: CameraTrajectory,
                   tolerances: Tolerances = Tolerances(), frame: Optional[int] = None,
                   stride: int = DEFAULT_STRIDE, input_landmarks=None,
                   output_landmarks: Optional[np.ndarray] = None,
                   near: Optional[tuple[float, float]] = None, head_zoom: bool = False) -> ClipVerdict:
    """Judge clips ``(T, H, W, 3)`` and ``(T', H', W', 3)`` frame by frame against ``camera``.

    Args:
        input_frames: the clip the engine was given (same crop and timing as the output).
        output_frames: the output; compared over the frames both clips have.
        camera: the commanded trajectory; stretched over the output's length when its own differs.
        tolerances: see :class:`Tolerances`.
        frame: judge only this frame index (negative counts from the end), e.g.
            ``48`` for a baseline that made 49 frames; default: every ``stride``-th frame and the last.
        stride: frame step, 1-4.
        input_landmarks: a :class:`~facecam.face.landmarks.LandmarkTrack` of
            ``input_frames`` already computed (its ``found`` frames are reused).
        output_landmarks: ``(T', 478, 2)`` or ``(T', 478, 3)`` pixel landmarks to judge instead of
            MediaPipe's reading of ``output_frames``, e.g. where an engine drew the face mesh
            (``benchmarks/judge_geometry.py``); only x and y are used.
        near: with several people in frame, ``(x, y)`` pixels of the re-angled face's nose tip in the input's
            first frame (a run's ``framing.nose_in_crop``): that person is read in both clips, followed from
            frame to frame (alone, Face Mesh reads whichever face it finds first).

    Raises:
        NoFaceError: no sampled input frame has a face (nothing can be judged).
    """
    from ..condition.project import lift, orbit_pivot
    from ..face.pose import estimate_head_pose, focal_length, intrinsics

    n = min(len(input_frames), len(output_frames))
    if n == 0:
        raise FacecamError("a clip has no frames")
    if not 1 <= stride <= DEFAULT_STRIDE:
        raise FacecamError(f"--stride must be between 1 and {DEFAULT_STRIDE}, got {stride}")
    if frame is not None:
        index = frame if frame >= 0 else n + frame
        if not 0 <= index < n:
            raise FacecamError(f"--frame {frame} is outside the {n} frames both clips have")
        indices = [index]
    else:
        indices = sample_frames(n, stride)
    traj = _resample(camera, len(output_frames))
    size_in, size_out = tuple(input_frames.shape[1:3]), tuple(output_frames.shape[1:3])

    # Symmetric windows only (the median of a steady ramp's errors is then the error at i): the first
    # and last frames are judged on their own.
    around = {i: list(range(i - r, i + r + 1)) for i in indices for r in [min(NEIGHBOURS, i, n - 1 - i)]}
    measured_frames = sorted({j for js in around.values() for j in js})
    wanted = sorted(set(measured_frames) | {0})
    if input_landmarks is not None and len(input_landmarks.found) >= n:
        points_in = {i: (input_landmarks.points[i].astype(np.float64) if input_landmarks.found[i] else None)
                     for i in wanted}
    else:
        points_in = detect_frames(input_frames, wanted, near)
    if output_landmarks is None:
        points_out = detect_frames(output_frames, measured_frames, near)
    else:
        if len(output_landmarks) < n or np.shape(output_landmarks)[1:2] != (478,):
            raise FacecamError(f"output_landmarks must be (T, 478, 2 or 3) with T >= {n}, "
                               f"got {np.shape(output_landmarks)}")
        points_out = {j: np.asarray(output_landmarks[j], np.float64) for j in measured_frames}
    first = next((i for i in wanted if points_in[i] is not None), None)
    if first is None:
        raise NoFaceError("no face found in the sampled input frames; camera correctness needs one")
    if head_zoom and "zoom_center" not in traj.meta:
        traj = _zoom_about_head(traj, points_in, size_in)
    pose0 = estimate_head_pose(points_in[first], size_in)
    f = focal_length(size_in)
    pivot = orbit_pivot(lift(points_in[first].astype(np.float64), intrinsics(size_in, f)), pose0.rotation)

    # Expectation, change and error of every measured frame with a face in both clips, once: the
    # windows of neighbouring judged frames overlap at strides 1 and 2.
    at = {}
    for j in measured_frames:
        if points_in[j] is None or points_out[j] is None:
            continue
        x = expected_change(points_in[j], size_in, traj.frame(j), pivot, zoom_center=traj.meta.get("zoom_center"))
        c = pose_change(points_in[j], size_in, points_out[j], size_out)
        m = _measured(c)
        at[j] = (x, c, {k: _wrap(m[k] - x.change[k]) if k in ("yaw", "pitch", "roll") else m[k] - x.change[k]
                        for k in COMPONENTS})

    per_frame, missing, skipped = [], [], []
    err = {k: [] for k in COMPONENTS}      # (error, tolerance, frame, measured, expected)
    last_change = None
    for i in indices:
        if points_in[i] is None:
            skipped.append(i)
            continue
        if points_out[i] is None:
            missing.append(i)
            per_frame.append({"frame": i, "measured": None, "expected": None, "tolerance": None,
                              "allowance": None})
            continue
        exp, change, _ = at[i]
        tol = {k: tolerances.allowed(k, exp) for k in COMPONENTS}
        # The error at i is the median of the errors at i and its neighbours (those with a face in
        # both clips); "measured" is frame i's expectation plus that error.
        errors_around = [at[j][2] for j in around[i] if j in at]
        meas = {}
        for k in COMPONENTS:
            e = float(np.median([row[k] for row in errors_around]))
            meas[k] = exp.change[k] + e
            if k in ("yaw", "pitch", "roll"):  # an angle, within +-180 (expected -170 and off by -167: +23, not -337)
                meas[k] = _wrap(meas[k])
            err[k].append((e, tol[k], i, meas[k], exp.change[k]))
        per_frame.append({"frame": i, "measured": _round(meas), "expected": _round(exp.change),
                          "tolerance": _round(tol),
                          "allowance": _round({k: tolerances.allowance(k, exp) for k in COMPONENTS})})
        if i == indices[-1]:
            last_change = change
    judged = [i for i in indices if i not in skipped]
    if not judged:
        raise NoFaceError("no face found in the judged input frames; camera correctness needs one")

    commanded = _commanded_components(traj, size_in)
    errors, uncommanded, reasons = {}, {}, []
    if missing:
        reasons.append(f"face missing in {len(missing)} of {len(judged)} judged output frames "
                       f"(first: frame {missing[0]})")
    for k in COMPONENTS:
        rows = err[k]
        if not rows:
            continue
        worst = max(rows, key=lambda r: abs(r[0]) / max(r[1], 1e-9))
        ok = all(abs(r[0]) <= r[1] for r in rows)
        errors[k] = {"mean": round(float(np.mean([abs(r[0]) for r in rows])), 5), "worst": round(float(worst[0]), 5),
                     "frame": int(worst[2]), "tolerance": round(float(worst[1]), 5), "ok": bool(ok),
                     "unit": SCALE_NAMES[k]}
        if k not in commanded:
            biggest = max(rows, key=lambda r: abs(r[0]))
            uncommanded[k] = {"worst": round(float(biggest[0]), 5), "frame": int(biggest[2]),
                              "tolerance": round(float(biggest[1]), 5), "ok": bool(ok)}
        if ok:
            continue
        unit = {"deg": " deg", "log": "", "frame": " of the frame"}[SCALE_NAMES[k]]
        shown = (lambda v: f"x{math.exp(v):.3f}") if k == "scale" else (lambda v: f"{v:+.3f}{unit}")
        if k not in commanded:
            reasons.append(f"uncommanded {k} off by {shown(worst[0])} at frame {worst[2]} (measured "
                           f"{shown(worst[3])}, expected {shown(worst[4])}, tolerance {worst[1]:.3f})")
            continue
        end = rows[-1]
        if abs(end[4]) > 1e-9 and abs(end[0]) > end[1]:
            share = round(100 * end[3] / end[4]) + 0  # + 0: no "-0%"
            reasons.append(f"{k} reached {share}% of the commanded change at frame {end[2]} "
                           f"(measured {shown(end[3])}, expected {shown(end[4])})")
        else:
            reasons.append(f"{k} off the commanded course at frame {worst[2]}: measured {shown(worst[3])}, "
                           f"expected {shown(worst[4])} (tolerance {worst[1]:.3f})")
    correct = not reasons
    paper = judge(last_change, end_point(traj), traj.name) if last_change is not None else None
    return ClipVerdict(
        correct=correct, change=last_change, camera=traj.name, end=end_point(traj), errors=errors,
        commanded=commanded, uncommanded=uncommanded,
        face_missing={"count": len(missing), "frames": missing, "judged": len(judged)},
        reason="; ".join(reasons), paper_correct=bool(paper and paper.correct), per_frame=per_frame,
        frames={"judged": judged, "input_without_face": skipped, "input_frames": int(len(input_frames)),
                "output_frames": int(len(output_frames)), "stride": None if frame is not None else stride,
                "index": int(indices[-1])},
        tolerances=tolerances)


def load_camera(spec: str, num_frames: int, strength: Optional[float] = None) -> CameraTrajectory:
    """A preset, a JSON keyframe file, or the ``<name>_camera.json`` that ``facecam generate`` wrote.

    ``strength`` scales a preset or keyframe file (None: 1); a run's file already holds its move at the
    strength it was made with, so there ``strength`` must be left out or be that one.

    ``random`` is refused: without its seed it would be a different move; pass the
    run's ``_camera.json`` instead, which records the sampled trajectory.
    """
    import json
    from pathlib import Path

    from ..camera.trajectory import from_keys
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
            # A run record: its trajectory is already per frame and already scaled by its strength, so a
            # --strength is not applied again (a correct output was judged WRONG at 179% of its move). The
            # strength it was made with is accepted, as the help asks for it; another one is an error.
            options = data.get("options") if isinstance(data.get("options"), dict) else {}
            made_with = float(options.get("strength", 1.0))
            if strength is not None and abs(strength - made_with) > 1e-9:
                raise TrajectoryError(f"{path.name} is a run's camera file: its move already has the --strength "
                                      f"it was made with ({made_with:g}); leave --strength out")
            # Its meta too: a zoom about the head (meta["zoom_center"]) was judged as one about the frame's centre.
            meta = recorded.get("meta") if isinstance(recorded.get("meta"), dict) else {}
            return from_keys(recorded["keys"], int(recorded.get("frames") or num_frames),
                             name=str(recorded.get("name", path.stem)), meta=meta)
    return resolve_camera(spec, num_frames, strength=1.0 if strength is None else strength)


def evaluate_camera(input_path: str, output_path: str, camera: str | CameraTrajectory,
                    strength: Optional[float] = None, tolerances: Tolerances = Tolerances(),
                    frame: Optional[int] = None, stride: int = DEFAULT_STRIDE) -> ClipVerdict:
    """Read two videos (every frame, at their own rates) and judge ``camera`` (see :func:`load_camera`).

    The input should be the clip the engine saw (``DIR/<name>_input.mp4`` from
    ``facecam generate``), so that frame ``i`` of both shows the same instant in the same framing.
    """
    from ..errors import FacecamError
    from ..video.io import read_video

    src = read_video(input_path, fps=None, num_frames=None).frames
    gen = read_video(output_path, fps=None, num_frames=None).frames
    # Frame i of both must show the same instant: clips of different lengths are not a run's pair, unless
    # one frame is named (a baseline that made 49 frames of an 81-frame input, judged at --frame 48).
    if frame is None and len(src) != len(gen):
        raise FacecamError(f"--input has {len(src)} frames and --output {len(gen)}: the judge compares frame i "
                           f"of both, so give the clip the engine saw (<name>_input.mp4 from facecam generate) "
                           f"and the output made from it, or judge one frame with --frame")
    if len(gen) < 2 or len(src) < 2:
        raise FacecamError(f"a camera move needs at least 2 frames: --input has {len(src)}, --output {len(gen)}")
    if src.shape[1:3] != gen.shape[1:3]:
        # Not an error (another method's output may have its own size), but the usual mistake: the raw
        # source given instead of the crop the engine saw, which reads as a zoom and a shift.
        import logging

        logging.getLogger("facecam").warning(
            f"facecam: note: --input is {src.shape[2]}x{src.shape[1]} and --output {gen.shape[2]}x{gen.shape[1]}; "
            f"the judge expects the clip the engine saw (<name>_input.mp4 from facecam generate), not the raw "
            f"source, or its crop shows as a camera move")
    traj = camera if isinstance(camera, CameraTrajectory) else load_camera(camera, len(gen), strength)
    record = None if isinstance(camera, CameraTrajectory) else run_record(camera)
    return evaluate_clips(src, gen, traj, tolerances, frame, stride, near=chosen_face(record),
                          head_zoom=isinstance(camera, str) and record is None)


def run_record(spec: "str | os.PathLike") -> Optional[dict]:
    """The ``<name>_camera.json`` a run wrote, read, where ``spec`` names one (a ``trajectory`` in it); None
    for a preset, a keyframe file, a missing or unreadable file."""
    import json
    from pathlib import Path

    path = Path(spec)
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("trajectory"), dict) else None


def _zoom_about_head(traj: CameraTrajectory, points_in: dict, size: tuple[int, int]) -> CameraTrajectory:
    """A preset or keyframe zoom-in as ``facecam generate`` makes it: about the point that keeps the input's head
    in the frame (:func:`~facecam.condition.builder.keep_head_in_zoom`), found from the input frames the judge
    read. Judged about the frame's centre, a correct zoom of a head high in the frame was WRONG (facecam_000
    at 352x240 under zoom-in: shift_y expected -0.071 of the frame, made -0.014, tolerance 0.010;
    ``tests/test_eval_camera.py``)."""
    from ..condition.builder import keep_head_in_zoom
    from ..face.landmarks import LandmarkTrack

    found = [np.asarray(p, np.float64) for p in points_in.values() if p is not None]
    if not found:
        return traj
    points = np.zeros((len(found), 478, 3))
    for k, p in enumerate(found):
        points[k, :, :p.shape[1]] = p[:, :3]
    return keep_head_in_zoom(traj, LandmarkTrack(points, np.ones(len(found), bool), size), size)


def chosen_face(record: Optional[dict]) -> Optional[tuple[float, float]]:
    """The re-angled face's nose tip in the input crop, from a run's ``_camera.json`` (``record``, as
    :func:`run_record` reads it) whose first face frame showed several people (``framing.faces``); None
    otherwise (one face: Face Mesh's own choice is it)."""
    framing = (record or {}).get("framing")
    if not isinstance(framing, dict):
        return None
    point = framing.get("nose_in_crop")
    if int(framing.get("faces", 1)) < 2 or not isinstance(point, list) or len(point) != 2:
        return None
    return float(point[0]), float(point[1])
