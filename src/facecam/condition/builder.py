"""Turn a source video and a camera trajectory into the camera-condition video.

Two modes:

``relative`` (default)
    The proxy head is placed where the source head is in the first frame (same
    position, size and pose), then seen from the moving target camera. Frame 0 of
    the condition therefore coincides with the source face, and a preset's
    direction means the same thing on every video.
``absolute``
    The authors' inference: the proxy head seen from views on a sphere of radius
    2.7 (azimuth 270 deg is the front, +z up), drawn in the top square of the
    canvas, padded white below. The source pose is ignored.

Proxy heads: ``subject`` (the source's own first-frame 3D landmarks), ``template``
(the shipped generic head) or a path to a 3D Gaussian head ``.ply`` (the authors
ship ``gaussians.ply``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..camera.trajectory import CameraTrajectory, hold_end, resolve_camera
from ..errors import FacecamError, NoFaceError
from ..face.landmarks import LandmarkTrack, detect_landmarks
from ..face.pose import estimate_head_pose, focal_length, intrinsics, solve_pnp, template_points
from ..profiles import check_profile
from ..video.crop import REFERENCE_SIZE, CropBox, apply_crop
from ..video.io import DEFAULT_FPS, DEFAULT_FRAMES, VideoClip, check_frame_count, is_image_path, read_video
from .framing import frame_face
from .project import lift, orbit_pivot, project_track, trajectory_cameras
from .raster import render_condition

PROXIES = ("subject", "template")
MODES = ("relative", "absolute")


@dataclass
class ConditionedClip:
    """Everything an engine needs, all at the output size and frame count.

    Attributes:
        source: ``(T, H, W, 3)`` uint8, the cropped source video.
        condition: ``(T, H, W, 3)`` uint8, the face-mesh camera-condition video.
        fps: frame rate of both.
        trajectory: the per-frame target camera (relative to the source camera).
        source_track: landmarks of ``source`` (cropped-frame pixels).
        condition_points: ``(T, 478, 3)`` landmarks drawn in ``condition``
            (x, y pixels; z camera-space depth).
        name: stem used for output file names.
        crop: the crop applied to the original video (its first frame's with ``track``).
        framing: how the crop was chosen (:meth:`~facecam.condition.framing.Framing.describe`).
        options: the options used (proxy, mode, size, frames, fps, seed, camera, strength).
    """

    source: np.ndarray
    condition: np.ndarray
    fps: float
    trajectory: CameraTrajectory
    source_track: LandmarkTrack
    condition_points: np.ndarray
    name: str = "clip"
    crop: Optional[CropBox] = None
    options: dict = field(default_factory=dict)
    framing: Optional[dict] = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.source.shape[1]), int(self.source.shape[2])

    def preview(self) -> np.ndarray:
        """Source | condition side by side, ``(T, H, 2W, 3)``."""
        return np.concatenate([self.source, self.condition], axis=2)

    def describe(self) -> dict:
        """JSON-ready record of the camera and the options used (``<name>_camera.json``)."""
        return {
            "name": self.name,
            "fps": self.fps,
            "frames": int(self.source.shape[0]),
            "size": list(self.size),
            "options": self.options,
            "crop": self.crop.to_dict() if self.crop else None,
            "framing": self.framing,
            "source_landmarks_filled_frames": self.source_track.filled_frames,
            "trajectory": self.trajectory.to_dict(),
        }


LOOK_AHEAD_NOTE_S = 5.0  # seconds left in the file past which the search for a later face is announced


def _face_later_hint(error: NoFaceError, path, after: float, rotate: int, duration: Optional[float],
                     start: float) -> str:
    """The message of ``error`` (:func:`~facecam.condition.framing.find_face`'s "no face found ... --start SEC")
    with the ``--start`` where a face shows further into the file
    (:func:`~facecam.condition.framing.face_later`) in place of its advice, or how far it was searched in vain."""
    from .framing import LOOK_AHEAD_S, face_later

    if duration is not None:  # the user bounded the span: the face is not in it
        return str(error)
    import logging

    from ..video.io import probe_video

    try:
        info = probe_video(path)
        left = info["frames"] / info["fps"] - after if info["fps"] and info["frames"] else LOOK_AHEAD_S
    except FacecamError:
        left = LOOK_AHEAD_S
    if left > LOOK_AHEAD_NOTE_S:  # a search that may take a while is said; a short clip's error stays one line
        logging.getLogger("facecam").warning(f"facecam: note: no face in the frames read; looking for one further "
                                             f"into the video (up to {min(left, LOOK_AHEAD_S):.0f} s more)")
    found, reached = face_later(path, after, rotate, LOOK_AHEAD_S)
    head = error.head
    if found is not None:
        return f"{head}; a face shows {found:.2f} s into the video: --start {found:.2f}"
    if reached > after:
        return (f"{head}; none either up to {reached:.0f} s into the video (searched {reached - start:.0f} s in "
                f"all); --start SEC searches from there")
    return f"{head}; that is all of the video" + (" from --start" if start else "")


def crop_to_face(clip: VideoClip, size: tuple[int, int] = REFERENCE_SIZE, framing: str = "auto",
                 track: bool = False) -> tuple[np.ndarray, CropBox]:
    """The cropped frames and the first frame's crop box, framed on the first face found in the clip
    (:func:`~facecam.condition.framing.frame_face`)."""
    framed = frame_face(clip, size, framing, track)
    return apply_crop(clip.frames, framed.boxes), framed.boxes[0]


def proxy_points(proxy: str, source_points: np.ndarray, size: tuple[int, int], focal: float) -> tuple[np.ndarray, np.ndarray]:
    """World points ``(478, 3)`` of the proxy placed on the source head, and the head's rotation ``(3, 3)``.

    ``subject`` lifts the source's own landmarks; ``template`` (and the landmarks
    of a ``.ply`` head) is posed by PnP onto the source landmarks and scaled so the
    head sits at depth ``f``, the world unit of :mod:`facecam.condition.project`.
    The head is centred on its mesh's centroid first: a ``.ply`` head's landmarks come in the coordinates
    of the camera that rendered its front view, far in front of it, and posed from there the head's
    own origin could lie behind the source camera: the scale to depth ``f`` came out negative, which
    draws the same face at the first frame (x/z keeps its sign) but slid the face the wrong way under
    every orbit (``tests/test_condition.py``).
    """
    K = intrinsics(size, focal)
    if proxy == "subject":
        return lift(source_points, K), estimate_head_pose(source_points, size, focal).rotation
    head = _proxy_head_points(proxy)
    head = head - head[:468].mean(axis=0)
    rotation, translation = solve_pnp(head, source_points[:, :2], K)
    world = head @ rotation.T + translation
    return world * (focal / translation[2]), rotation


def _proxy_head_points(proxy: str) -> np.ndarray:
    if proxy == "template":
        return template_points()
    from .proxy_ply import ply_head_points

    return ply_head_points(proxy)


def relative_condition(track: LandmarkTrack, trajectory: CameraTrajectory, proxy: str = "subject",
                       focal: Optional[float] = None) -> tuple[np.ndarray, np.ndarray]:
    """Relative mode: landmarks ``(T, 478, 3)`` of the proxy under each camera, and the frames ``(T, H, W, 3)``."""
    size = track.size
    f = focal or focal_length(size)
    world, rotation = proxy_points(proxy, track.points[0].astype(np.float64), size, f)
    cameras = trajectory_cameras(trajectory, size, orbit_pivot(world, rotation), f)
    points = project_track(world, cameras)
    return points, render_condition(points, size)


def check_proxy(proxy: str) -> str:
    if proxy in PROXIES:
        return proxy
    if proxy.lower().endswith(".ply"):
        if Path(proxy).exists() and not Path(proxy).is_file():
            raise FacecamError(f"proxy head {proxy} is a folder, not a .ply file")
        if not Path(proxy).is_file():
            raise FacecamError(f"proxy head not found: {proxy}")
        return proxy
    raise FacecamError(f"--proxy must be subject, template or a .ply file, got {proxy!r}")


LEAST_MOVE = 5  # frames: the shortest output that moves (one frame is the source view itself)


def check_whole_clip_space(video, fps: Optional[float], start: float, duration: Optional[float],
                           size: tuple[int, int]) -> None:
    """``--frames all``: refuse, before decoding, a clip whose frames at ``fps`` cannot fit the temporary disk
    (:func:`~facecam.video.frames.check_frame_space`), from the container's frame count and rate; nothing is
    said when the container does not tell them."""
    from ..video.frames import check_frame_space
    from ..video.io import probe_video

    try:
        info = probe_video(video)
    except FacecamError:
        return  # (the read below says what is wrong with the file)
    if info["frames"] <= 0 or info["fps"] <= 0:
        return
    seconds = max(0.0, info["frames"] / info["fps"] - (start or 0.0))
    if duration is not None:
        seconds = min(seconds, duration)
    check_frame_space(max(1, int(seconds * (fps or info["fps"]))), size)


def whole_clip(clip: VideoClip) -> VideoClip:
    """``clip`` cut to its longest ``4k + 1`` prefix (``--frames all``). A video of fewer than
    :data:`LEAST_MOVE` frames has its last frame held up to that (its one-frame prefix was the source view
    written back; the held frames are warned about), and a picture, which has no frames of its own, becomes
    the default :data:`~facecam.video.io.DEFAULT_FRAMES`, with a note."""
    if clip.path and is_image_path(clip.path):
        import logging

        logging.getLogger("facecam").warning(f"facecam: note: a picture has no frames of its own; --frames all "
                                             f"makes the default {DEFAULT_FRAMES}")
        return dataclasses.replace(clip, frames=np.repeat(clip.frames[:1], DEFAULT_FRAMES, axis=0))
    n = (clip.num_frames - 1) // 4 * 4 + 1
    if n < LEAST_MOVE:
        held = np.repeat(clip.frames[-1:], LEAST_MOVE - clip.num_frames, axis=0)
        return dataclasses.replace(clip, frames=np.concatenate([np.asarray(clip.frames), held]),
                                   source_frames=min(clip.source_frames, clip.num_frames))
    return dataclasses.replace(clip, frames=clip.frames[:n], source_frames=min(clip.source_frames, n))


def check_face(face) -> Optional[tuple[float, float]]:
    """``--face``: None (the largest face) or ``(x, y)``, fractions of the frame between 0 and 1."""
    if face is None:
        return None
    try:
        x, y = (float(v) for v in face)
    except (TypeError, ValueError):
        raise FacecamError(f"--face must be two numbers X,Y (fractions of the frame), got {face!r}") from None
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise FacecamError(f"--face takes a point as fractions of the frame's width and height, each between 0 "
                           f"and 1; got {x:g},{y:g}")
    return x, y


ENLARGED = 4.0  # source pixels enlarged more than this many times are warned about (the result will be soft)


def warn_enlarged(framed) -> None:
    """One warning line when the crop enlarges the source more than :data:`ENLARGED` times: a tiny video, or
    a tiny face fitted to the trained share, gives a soft result (a 32 px source was enlarged 22x unsaid)."""
    box = framed.boxes[framed.face_frame]
    factor = box.resized_h / framed.frame_hw[0]
    if factor <= ENLARGED:
        return
    import logging

    h, w = framed.frame_hw
    logging.getLogger("facecam").warning(
        f"facecam: warning: the source is enlarged {factor:.1f}x (a {w}x{h} frame, a face {framed.face_box.height:.0f} "
        f"px tall), so the result will be soft; a larger or closer-up source keeps more detail")


def warn_sideways(roll: float, rotate: int = 0, upside_down: Optional[tuple[float, float]] = None) -> None:
    """One warning line when the face lies on its side or upside down in the picture: the result will too (a
    newcomer's sideways phone video, stored without a rotation flag, ran without a word). ``upside_down``: the
    face detector's scores when it, not Face Mesh, found the picture upside down
    (:func:`~facecam.condition.framing.looks_upside_down`)."""
    from .framing import SIDEWAYS, sideways_rotate

    if abs(roll) <= SIDEWAYS:
        return
    import logging

    turn = (rotate + sideways_rotate(roll)) % 360
    hint = f"--rotate {turn} turns the video upright as it is read" if turn else f"leave out --rotate {rotate}"
    if upside_down:
        logging.getLogger("facecam").warning(
            f"facecam: warning: the picture looks upside down (the face detector scores it {upside_down[1]:.2f} "
            f"turned over against {upside_down[0]:.2f} as it is), and so will the result be; {hint}")
        return
    way = "upside down" if abs(roll) > 135 else "on its side"
    logging.getLogger("facecam").warning(
        f"facecam: warning: the face lies {way} in the picture ({abs(roll):.0f} deg from upright), and so will the "
        f"result; {hint}")


def warn_lost_face(track: LandmarkTrack, fps: float, start: float, real: int) -> None:
    """Say where Face Mesh found no face in the first ``real`` (not held) frames: before the face appears
    (the head's mesh is drawn there over a picture with no face: a warning with the ``--start`` that begins at
    the face), after it leaves (with the ``--duration`` that ends there), and gaps between (a note: their
    landmarks are interpolated from the frames beside them)."""
    import logging

    log = logging.getLogger("facecam")
    lost = ~track.found[:max(1, real)]
    if not lost.any():
        return
    seen = np.flatnonzero(~lost)
    first, last = int(seen[0]), int(seen[-1])
    if first:
        log.warning(f"facecam: warning: no face in the first {first} frames ({first / fps:.1f} s); the head's mesh "
                    f"is drawn there where the video shows none, so they will not look right; --start "
                    f"{start + first / fps:.2f} starts where the face appears")
    if last < len(lost) - 1:
        gone = len(lost) - 1 - last
        log.warning(f"facecam: warning: no face in the last {gone} frames (from {(last + 1) / fps:.1f} s); the "
                    f"head's mesh is held there where the video shows none; --duration {(last + 1) / fps:.2f} "
                    f"ends where the face leaves")
    gaps = [int(i) for i in np.flatnonzero(lost[first:last + 1]) + first]
    if gaps:
        shown = ", ".join(map(str, gaps[:10])) + (" ..." if len(gaps) > 10 else "")
        log.warning(f"facecam: note: face not found in {len(gaps)} frame(s) ({shown}); their landmarks are "
                    f"interpolated from the frames beside them")


def warn_held_frames(clip: VideoClip, num_frames: int, start: float) -> None:
    """One warning line when a video gives fewer than ``num_frames`` frames: its last frame is held for the rest,
    so the person freezes there (a still image, one frame, is held on purpose and gets no warning)."""
    import logging

    real = clip.source_frames
    fits = (real - 1) // 4 * 4 + 1
    where = f" from --start {start:g} s" if start > 0 else ""
    instead = (f"--frames {fits} or --frames all uses only real frames" if fits >= LEAST_MOVE else
               "a longer video (or an earlier --start) gives the move real frames")
    if real == 1:  # --start near the end: a still picture, which the warp only moves the camera over
        logging.getLogger("facecam").warning(
            f"facecam: warning: the video gives only 1 frame{where}; it is held for all {num_frames} "
            f"(the person is frozen); an earlier --start uses the video's motion")
        return
    logging.getLogger("facecam").warning(
        f"facecam: warning: the video gives only {real} frames{where} at {clip.fps:g} fps; its last frame is held "
        f"for the other {num_frames - real} of --frames {num_frames} (the person freezes there); {instead}")


TRAINED_RANGE = 45.0  # deg from frontal: the authors' random views (+-45 azimuth, +-30 elevation)


def frontal_views(trajectory: CameraTrajectory, track: LandmarkTrack, size: tuple[int, int],
                  camera, strength: float, seed: Optional[int], move_frames: Optional[int],
                  warn: bool = True) -> CameraTrajectory:
    """Relative mode, seen from the subject's frontal direction.

    The source camera's view of the head (azimuth = -head yaw, elevation = -head pitch, from the
    PnP pose of the first frame) anchors ``random`` to the authors' distribution of views around a
    frontal head; any trajectory whose views leave :data:`TRAINED_RANGE` gets one warning line.
    The views are recorded in ``trajectory.meta["frontal"]``.
    """
    import logging

    from ..camera.trajectory import random_trajectory

    pose = estimate_head_pose(track.points[0], size)
    view = (-float(pose.yaw), -float(pose.pitch))
    if camera == "random":
        length = trajectory.num_frames if move_frames is None else move_frames
        trajectory = random_trajectory(length, seed=seed, strength=strength, source_view=view)
        if length != track.points.shape[0]:
            trajectory = hold_end(trajectory, track.points.shape[0])
    azimuth = view[0] + trajectory.yaw
    elevation = view[1] + trajectory.pitch
    worst = float(max(np.abs(azimuth).max(), np.abs(elevation).max()))
    # The head's own turns add to the camera's: each frame's view is its head pose plus the move there.
    found = np.flatnonzero(track.found)
    poses = [estimate_head_pose(track.points[t], size) for t in found]
    moving = max([worst] + [max(abs(-float(p.yaw) + float(trajectory.yaw[t])),
                                abs(-float(p.pitch) + float(trajectory.pitch[t])))
                            for p, t in zip(poses, found) if t < trajectory.num_frames])
    frontal = {"source_azimuth": round(view[0], 2), "source_elevation": round(view[1], 2),
               "max_from_frontal": round(worst, 2), "max_from_frontal_with_head": round(moving, 2)}
    trajectory = dataclasses.replace(trajectory, meta={**trajectory.meta, "frontal": frontal})
    if warn and max(worst, moving) > TRAINED_RANGE:
        turning = "" if worst > TRAINED_RANGE else " with the head's own turns in the clip"
        logging.getLogger("facecam").warning(
            f"facecam: warning: camera {trajectory.name!r} reaches {max(worst, moving):.0f} deg from the subject's "
            f"frontal view{turning}; the FaceCam model (--engine facecam) was trained within "
            f"{TRAINED_RANGE:.0f} deg, expect artifacts from it there (lower --strength)")
    return trajectory


def mesh_outside(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(T, 468)`` bool: which of each frame's mesh points lie outside a ``size`` (H, W) frame."""
    x, y = points[:, :468, 0], points[:, :468, 1]
    return (x < 0) | (x >= size[1]) | (y < 0) | (y >= size[0])


def mesh_inside(points: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether every frame's 468 mesh points lie inside a ``size`` (H, W) frame."""
    return not mesh_outside(points, size).any()


def keep_mesh_in_frame(track: LandmarkTrack, trajectory: CameraTrajectory, proxy: str, points: np.ndarray,
                       condition: np.ndarray, size: tuple[int, int], tries: int = 12):
    """``random`` in relative mode: the sampled FOV change, or an orbit of a close-up, can push the mesh
    out of the frame. Each try shrinks the zoom change (log space, 0.7x) and pulls the camera back a
    little more towards the end of the move (x0.93 at the last frame, 1 at the first, which stays the
    source view) until the whole mesh stays in. A source whose own first-frame mesh leaves the frame
    is left as it is. The total pull-back is recorded in the meta."""
    if not mesh_inside(track.points[:1], size):
        return trajectory, points, condition
    ramp = np.linspace(0.0, 1.0, trajectory.num_frames)
    changed = 0
    while not mesh_inside(points, size) and changed < tries:
        changed += 1
        trajectory = dataclasses.replace(trajectory, zoom=trajectory.zoom ** 0.7 * 0.93 ** ramp,
                                         meta={**trajectory.meta, "zoom_refits": changed})
        points, condition = relative_condition(track, trajectory, proxy)
    return trajectory, points, condition


MESH_LEAVES = 0.01  # the share of the mesh's points outside the frame, in some frame, that is worth a warning


def warn_mesh_leaves(track: LandmarkTrack, points: np.ndarray, size: tuple[int, int], tracked: bool,
                     name: str) -> None:
    """One warning line when the drawn face mesh leaves the frame under a move (``random`` is pulled back to fit
    instead): a zoom-in on a close-up whose face is wider than the zoomed frame, or a keyframe file's move,
    cut the head off without a word. A source whose own first-frame mesh is not inside the frame is left
    alone."""
    outside = mesh_outside(points, size)
    if not outside.any() or not mesh_inside(track.points[:1], size):
        return
    import logging

    worst = float(outside.mean(axis=1).max())
    if worst < MESH_LEAVES:  # a few points of the jaw's outline at the edge (lp_d0 under zoom-in: 1 frame, under 0.5%)
        return
    frames = np.flatnonzero(outside.mean(axis=1) >= MESH_LEAVES)
    share = f"{worst:.0%}"
    # Without --track a zoom-in already keeps as much of the head in as fits (keep_head_in_zoom): --track,
    # which holds the face where the first frame has it, let more of a close-up out (lp_d3: 8% -> 11%).
    hint = "lower --strength, or leave out --track (a zoom then keeps as much of the head in as fits)" \
        if tracked else "lower --strength"
    logging.getLogger("facecam").warning(
        f"facecam: warning: under {name!r} the face leaves the frame from frame {frames[0]} ({len(frames)} "
        f"frame{'s' if len(frames) > 1 else ''}, {share} of its mesh outside at most); {hint}")


def centre_zoom_on_face(trajectory: CameraTrajectory, track: LandmarkTrack) -> CameraTrajectory:
    """``--track``: zoom about the face (the centroid of the first frame's mesh) rather than the frame's
    centre, so a zoom-in keeps the face where it is. Recorded as ``meta["zoom_center"]`` (output
    pixels), which :func:`~facecam.condition.project.trajectory_cameras` reads."""
    center = track.points[0, :468, :2].mean(axis=0)
    return dataclasses.replace(trajectory, meta={**trajectory.meta,
                                                 "zoom_center": [round(float(v), 2) for v in center]})


# The head around the face mesh, in mesh heights (y) and widths (x): hair above the forehead's mesh, ears
# and hair beside it, the chin's own edge below. An estimate of where a head ends, not a measurement.
HEAD_ABOVE, HEAD_SIDE, HEAD_BELOW = 0.35, 0.12, 0.05


def keep_head_in_zoom(trajectory: CameraTrajectory, track: LandmarkTrack, size: tuple[int, int]) -> CameraTrajectory:
    """A zoom-in about the point nearest the frame's centre that keeps the head in the frame at the
    trajectory's largest zoom: a zoom about the centre itself cut the hair of a head above it off
    (facecam_000 under zoom-in). The head is the face mesh's box over every frame where the face was
    found, widened by :data:`HEAD_ABOVE`, :data:`HEAD_SIDE` and :data:`HEAD_BELOW` and clipped to the
    frame. On each axis a box ``[a, b]`` stays inside ``[0, L]`` under a zoom ``z`` about ``p`` when
    ``(z b - L) / (z - 1) <= p <= z a / (z - 1)``; where no such ``p`` exists (the zoomed head is
    larger than the frame: a close-up) the mesh's own box is kept in instead, and where even that is too
    large the zoom centres on the mesh. Recorded as ``meta["zoom_center"]`` (output
    pixels, read by :func:`~facecam.condition.project.trajectory_cameras` and the camera judge) only
    when it is not the frame's centre, so a centred head zooms as before. A trajectory that never zooms
    in is returned as it is. A centre the trajectory carries (another clip's, from a run's camera file) is
    not this clip's: :func:`build_condition` drops it before this is called."""
    z = float(np.max(trajectory.zoom))
    if z <= 1.0 + 1e-6:
        return trajectory
    found = track.found if track.found.any() else np.ones(len(track.found), bool)
    xy = track.points[found][:, :468, :2].reshape(-1, 2)
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    w_mesh, h_mesh = x1 - x0, y1 - y0
    h, w = size
    head = [(max(0.0, x0 - HEAD_SIDE * w_mesh), min(float(w), x1 + HEAD_SIDE * w_mesh)),
            (max(0.0, y0 - HEAD_ABOVE * h_mesh), min(float(h), y1 + HEAD_BELOW * h_mesh))]
    face = [(max(0.0, x0), min(float(w), x1)), (max(0.0, y0), min(float(h), y1))]
    centre = []
    for length, *boxes in zip((w, h), head, face):
        for a, b in boxes:  # the head if it fits, else the face's mesh, else the mesh's middle
            lo, hi = (z * b - length) / (z - 1.0), z * a / (z - 1.0)
            if lo <= hi:
                centre.append(float(np.clip(length / 2.0, lo, hi)))
                break
        else:
            centre.append(0.5 * (a + b))
    if abs(centre[0] - w / 2.0) < 0.5 and abs(centre[1] - h / 2.0) < 0.5:
        return trajectory
    return dataclasses.replace(trajectory, meta={**trajectory.meta,
                                                 "zoom_center": [round(v, 2) for v in centre]})


def check_absolute(trajectory: CameraTrajectory) -> None:
    """Absolute mode places the camera on the authors' sphere (azimuth, elevation, FOV): a move with pan
    or roll cannot be drawn there, so it is refused by name rather than silently dropped."""
    moved = [f for f in ("pan_x", "pan_y", "roll") if np.abs(getattr(trajectory, f)).max() > 1e-9]
    if moved:
        raise FacecamError(f"--mode absolute moves the camera on the proxy's sphere (yaw, pitch, zoom) and cannot "
                           f"draw {', '.join(moved)} of camera {trajectory.name!r}; use --mode relative")


def camera_for(camera: str | CameraTrajectory, num_frames: int, strength: float = 1.0, seed: Optional[int] = None,
               move_frames: Optional[int] = None) -> CameraTrajectory:
    """The per-frame camera of a run: a preset or keyframe file resolved to ``num_frames`` frames, or to
    ``move_frames`` frames whose end view is then held (``--move-frames``)."""
    if move_frames is not None and not 2 <= move_frames <= num_frames:
        raise FacecamError(f"--move-frames must be between 2 and the clip's {num_frames} frames, got {move_frames}")
    length = num_frames if move_frames is None else move_frames
    trajectory = camera if isinstance(camera, CameraTrajectory) else resolve_camera(camera, length, strength, seed)
    if trajectory.num_frames != length:
        raise FacecamError(f"the trajectory has {trajectory.num_frames} frames but {length} were asked for")
    return trajectory if length == num_frames else hold_end(trajectory, num_frames)


def build_condition(
    video: str | os.PathLike | VideoClip,
    camera: str | CameraTrajectory = "arc-left",
    *,
    num_frames: int | str = DEFAULT_FRAMES,
    fps: float = DEFAULT_FPS,
    size: tuple[int, int] = REFERENCE_SIZE,
    proxy: str = "subject",
    mode: str = "relative",
    strength: float = 1.0,
    seed: Optional[int] = None,
    progress: bool = False,
    name: Optional[str] = None,
    move_frames: Optional[int] = None,
    start: float = 0.0,
    duration: Optional[float] = None,
    framing: str = "auto",
    track: bool = False,
    profile: str = "default",
    face: Optional[tuple[float, float]] = None,
    rotate: int = 0,
    model_range_warning: bool = True,
) -> ConditionedClip:
    """Read, crop and track a source video, then render its camera condition.

    Args:
        video: a video or image path, or an already decoded clip.
        camera: a preset name, a JSON keyframe path, or a trajectory.
        num_frames: output frames (``4k + 1``; short clips hold their last frame), or ``"all"``:
            the whole clip, rounded down to ``4k + 1``.
        fps: output frame rate.
        size: output ``(height, width)``.
        proxy: ``subject``, ``template`` or a path to a 3D Gaussian head ``.ply``.
        mode: ``relative`` or ``absolute`` (see the module docstring).
        strength: multiplies the camera move.
        seed: seeds the ``random`` preset.
        progress: show progress bars.
        name: output stem (defaults to the video's file stem).
        move_frames: make the move in this many frames and hold its end view after them
            (default: the move spans the clip).
        start / duration: seconds of the source to skip, and to use from there (default: to the end).
        framing: ``auto`` (a small face is framed to fill the share of the crop the model saw) or
            ``reference`` (the reference crop); see :mod:`facecam.condition.framing`.
        track: the crop window follows the face, and zoom centres on the face.
        profile: ``default`` or ``release`` (:mod:`facecam.profiles`; here it picks the crop's bilinear
            resize; the run API has already set the other options the profile fixes).
        face: with several people in frame, ``(x, y)`` fractions of the frame's width and height: the face
            nearest that point is re-angled (default: the largest; see :func:`~facecam.condition.framing.find_face`).
        rotate: turn the source clockwise by 0, 90, 180 or 270 degrees as it is read (a video filmed on its
            side); a face lying on its side is warned about (:func:`warn_sideways`).
        model_range_warning: warn when a view leaves the FaceCam model's trained range (off for a run
            with the warp engine, which warns with its own words).

    Returns:
        ConditionedClip.
    """
    whole = isinstance(num_frames, str)
    if whole and num_frames != "all":
        raise FacecamError(f"--frames must be a whole number 4k+1 or `all`, got {num_frames!r}")
    if not whole:
        check_frame_count(num_frames)
    proxy = check_proxy(proxy)
    if mode not in MODES:
        raise FacecamError(f"--mode must be relative or absolute, got {mode!r}")
    if not isinstance(video, VideoClip) and is_image_path(video) and (start or duration is not None):
        import logging

        given = " and ".join(flag for flag, used in (("--start", start), ("--duration", duration is not None)) if used)
        logging.getLogger("facecam").warning(f"facecam: note: a picture has no time; {given} "
                                             f"{'are' if ' and ' in given else 'is'} ignored")
    if whole and not isinstance(video, VideoClip) and not is_image_path(video):
        check_whole_clip_space(video, fps, start, duration, size)
    clip = video if isinstance(video, VideoClip) else read_video(
        video, fps=fps, num_frames=None if whole else num_frames, start=start, duration=duration, spill=True,
        rotate=rotate)
    if whole:
        clip = whole_clip(clip)
        num_frames = clip.num_frames
    cuts = None  # found once, for the warning and for --track
    if clip.path and not is_image_path(clip.path):
        from ..video.cuts import warn_cuts

        cuts = warn_cuts(clip.frames[:clip.real_frames], clip.fps, start)
    trajectory = camera_for(camera, num_frames, strength, seed, move_frames)
    if "zoom_center" in trajectory.meta:
        # A run's camera file reused for another clip: its zoom centre is in that clip's pixels. This
        # clip's is found anew below (relative mode); absolute mode zooms about the frame's centre.
        trajectory = dataclasses.replace(trajectory, meta={k: v for k, v in trajectory.meta.items()
                                                           if k != "zoom_center"})
    if mode == "absolute":
        check_absolute(trajectory)
    face = check_face(face)
    try:
        framed = frame_face(clip, size, framing, track, face, rotate, cuts)
    except NoFaceError as error:
        searched = getattr(error, "searched_s", None)
        if searched is None or not clip.path or is_image_path(clip.path):
            raise
        raise NoFaceError(_face_later_hint(error, clip.path, start + searched, rotate, duration, start)) from None
    warn_sideways(framed.roll, rotate, framed.upside_down)
    warn_enlarged(framed)
    check_profile(profile)
    source = apply_crop(clip.frames, framed.boxes, "linear" if profile == "release" else "auto")
    # Only the crop is used from here: drop the decoded frames (a long clip's can take gigabytes,
    # in memory or in a temporary file) before tracking and drawing.
    clip = dataclasses.replace(clip, frames=np.empty((0, *clip.frames.shape[1:]), np.uint8))
    try:
        # Several people: Face Mesh follows the chosen one (alone, it keeps whichever face it finds first).
        near = framed.nose_in_crop() if framed.faces > 1 else None
        landmarks = detect_landmarks(source, progress=progress, near=near)
    except NoFaceError:
        share = framed.face_share
        if share > 1:  # a crop shorter than the face (`--size 32x2048`): "fills 33.15 of the height"
            raise NoFaceError(f"Face Mesh found no face in the {size[0]}x{size[1]} crop: it is shorter than the face "
                              f"({share:.1f} times over), which it cuts; give a --size of the model's proportions, "
                              f"e.g. 704x480") from None
        raise NoFaceError(f"Face Mesh found no face in the crop, where the face fills {share:.0%} of the crop's "
                          f"height" + ("; --framing auto frames a small face tighter" if framing == "reference"
                                       else "")) from None
    if mode == "relative":
        trajectory = frontal_views(trajectory, landmarks, size, camera, strength, seed, move_frames,
                                   warn=model_range_warning)
        if track:
            trajectory = centre_zoom_on_face(trajectory, landmarks)
        else:
            trajectory = keep_head_in_zoom(trajectory, landmarks, size)
        points, condition = relative_condition(landmarks, trajectory, proxy)
        if camera == "random":
            trajectory, points, condition = keep_mesh_in_frame(landmarks, trajectory, proxy, points, condition, size)
        else:
            warn_mesh_leaves(landmarks, points, size, track, trajectory.name)
    else:
        from .absolute import absolute_condition  # loads the Gaussian renderer only when asked for

        points, condition = absolute_condition(trajectory, proxy, size, landmarks.points[0], progress)
    warn_lost_face(landmarks, clip.fps, start, clip.source_frames or num_frames)
    # A still (an image, or one frame, as the demo's portrait) is held on purpose: no warning.
    # A single frame left by --start is no still the user chose: it is said.
    single = clip.source_frames == 1 and start > 0
    if (1 < clip.source_frames or single) and clip.source_frames < num_frames and not is_image_path(clip.path or ""):
        warn_held_frames(clip, num_frames, start)  # last, so a run that fails later says only why
    stem = name or (Path(clip.path).stem if clip.path else "clip")
    options = {"camera": camera if isinstance(camera, str) else trajectory.name, "strength": strength,
               "proxy": proxy, "mode": mode, "frames": num_frames, "fps": clip.fps, "size": list(size),
               "seed": seed, "move_frames": move_frames, "start": start, "duration": duration,
               "framing": framing, "track": track, "profile": profile, "face": None if face is None else list(face),
               "rotate": rotate,
               "source": clip.path,
               "source_frames": clip.source_frames}
    return ConditionedClip(source, condition, clip.fps, trajectory, landmarks, points, stem, framed.boxes[0],
                           options, framed.describe(clip.fps))
