"""The ``warp`` engine: a weight-free geometric re-render of the source video.

A preview and a baseline, not the diffusion model: it moves the pixels the
source camera saw, so it cannot invent what was never visible (the far side of
the head, background outside the frame beyond a smooth fill).

The scene is three layers, all in the world of :mod:`facecam.condition.project`
(the source camera's frame, head at depth ``f``):

face
    each frame's own 478 landmarks (temporally smoothed) lifted to 3D, plus four
    rings of vertices around the face oval (:mod:`.warp_mesh`), triangulated
    with MediaPipe's tessellation and warped piecewise-affinely. Triangles are
    drawn far to near and back-facing ones are culled, so the nose hides the
    far cheek when the head turns. Where the view magnifies the source more than
    about 3x in some direction (the side of the head a frontal source saw
    edge-on, turned towards the camera), the read's streaks give way to its
    smoothed colour and the mirrored grain of the face beside it
    (:func:`soften_stretch`), and the person is opaque out to the second ring
    (:meth:`FrameRenderer.head_side`): the side of the jaw, not the wall beside it.
    Face the source did not show is filled the same way
    (:meth:`FrameRenderer.unseen_face`): triangles of the face's outer band the
    source saw facing away that the view turns towards the camera (in the colour
    around them), and, where the view enlarges it, dark hair that hung over the
    cheek inside the mesh's outline (in the skin's colour; :func:`hair_over_face`).
person
    hair, ears, neck and body (MediaPipe selfie segmentation, feathered across
    its edge, plus what it missed beside the person on a still background:
    :meth:`FrameRenderer.claim_missed`) on a plane through the head pivot facing
    halfway between the source and the target camera (:func:`person_plane`).
    The face's outer ring lies on this plane, so the two warps meet without a seam.
    Where a view shows more than the source frame did, the person goes on beyond
    its edge: below it the body continues (:func:`continue_below`); beside and
    above it a gap of up to :data:`EDGE_PULL` of the diagonal is closed by
    stretching the person near the edge, away from the face
    (:meth:`FrameRenderer.edge_pull`), and what remains of it takes the edge's
    outline and texture for :data:`BEYOND_FADE` of the frame diagonal, fading out
    (:func:`extend_beyond`), instead of a straight cut.
background
    a plane :data:`BACKGROUND_DEPTH` times further away. Where the person hides
    it in the current frame, the background seen in the other frames is used
    (a mean over up to :data:`PLATE_FRAMES` frames spread over the clip, each
    where that pixel was well clear of the person, without the samples far from
    the rest: hair the matte missed); what no frame ever saw is filled once per
    clip, smoothly from the wall around it (a pull-push pyramid, not from the
    band beside the person) with the wall's grain, and beyond the source frame
    the plate continues as its mirror image (texture rather than streaks).
    Under the person's soft rim, where that plate is unsure, each frame's own
    wall beside the person is mirrored in instead (:meth:`FrameRenderer.wall_behind`);
    on a moving background, the margin next to the frame mirrors each frame
    (:meth:`FrameRenderer.refresh_margins`).

The face is drawn over the person layer with the person's alpha, so a still
camera reproduces the input everywhere but in the matte's soft rim, where the plate
shows through the partly transparent person (and 4 px beyond it, where the matte may
have missed hair); ``tests/test_warp.py`` holds facecam_000 at a PSNR of at least 35 dB.
Speed (an 81-frame 704x480 clip at 19.8-26.8 frames/s on a 2-core machine after decoding,
landmarks and condition included; ``benchmarks/warp_speed.py``, 2026-12-04 at bbdfff4, the
slowest the close-up whose arcs fill the most; the machine's load moves this by about as much as
a change does): plane maps on a 2x
coarser grid (the face map at full resolution, where it may jump between the
frame and the face atlas), segmentation on every other frame, and two frames
rendered at once.

Every layer is seen by the trajectory's camera of its frame, built with the same
pivot as the relative camera condition, so ``arc-left`` turns the head the same
way here as in the condition video and in the diffusion engine. Unlike the
condition (head frozen at frame 0), the warp keeps the source's own motion:
frame ``t`` of the output re-renders frame ``t`` of the source.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import cv2
import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from ..condition.project import PinholeCamera, lift, orbit_pivot, project, trajectory_cameras
from ..errors import FacecamError
from ..face.pose import focal_length, intrinsics, template_depth
from ..smoothing import savgol
from ..video.frames import frame_buffer
from .base import Engine
from .warp_mesh import MESH_VERTICES, RING_SCALES, FaceSurface, face_surface, ring_positions
from .warp_texture import FaceAtlas, spread_frames, triangle_areas

if TYPE_CHECKING:  # pragma: no cover
    from ..condition.builder import ConditionedClip


def smoothstep(u):
    """``3u^2 - 2u^3`` of ``u`` in [0, 1] (a scalar or an array): 0 to 1 with no slope at either end."""
    return u * u * (3.0 - 2.0 * u)


BACKGROUND_DEPTH = 2.0  # background plane depth, in multiples of the head pivot's depth
# Depth of each ring around the face oval, between the oval's own depth (0) and
# the person plane (1): a smoothstep of the ring's radius, so the depth leaves the oval
# without a bend and the last ring lies on the plane, where the warps meet.
RING_DEPTH_BLEND = tuple(float(smoothstep(u)) for u in
                         ((s - 1.0) / (RING_SCALES[-1] - 1.0) for s in RING_SCALES))
SMOOTH_XY_FRAMES = 5   # Savitzky-Golay window for landmark x, y (odd)
SMOOTH_Z_FRAMES = 11   # z (MediaPipe depth) jitters more than x, y: smooth it over longer
MASK_THRESHOLD = 0.5
RENDER_THREADS = 2     # frames rendered concurrently
MAP_SCALE = 2          # backward maps are computed on a 2x coarser grid and upsampled
SEGMENT_STRIDE = 2     # segment every other frame, interpolate the rest
PLATE_FRAMES = 24      # frames averaged into the background plate (spread over the clip)
MAX_MARGIN = 1.5       # background canvas reaches at most this many frame sizes beyond the frame
PLATE_CLEARANCE = np.ones((9, 9), np.uint8)  # the background takes the plate within 4 pixels of the person's matte
# The plate takes a frame's pixel only this far clear of the person's matte there (fraction of the frame
# diagonal: 16 px at 704x480, and never under PLATE_CLEARANCE's 4 px; background_canvas): a moving
# subject's hair reaches further beyond the matte than a still one's.
PLATE_SOURCE_CLEARANCE = 0.019
MARGIN_BAND = 0.04  # of the diagonal: the canvas margin that mirrors each frame on a moving background
BEHIND_DEPTH = 0.03  # of the diagonal: how far under the person the frame's mirrored wall reaches (wall_behind)
MISSED_REACH = 0.08  # of the diagonal: how far beside the matte a pixel unlike the plate may join the person
STILL_BACKGROUND = 6.0  # grey levels; see background_is_still
MISSED_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # half-size px: closes a blurred finger's gaps
MISSED_DIFF = 40     # grey levels (any channel) from a still, well-seen plate: not the wall
CLAIM_WIDEN = np.ones((3, 3), np.uint8)  # half-size px: claim_missed's shapes widened by this at full size
BEYOND_FADE = 0.06  # of the diagonal: beside and above the frame the person fades out over this many source px
SOLID_RING = 1     # RING_SCALES index (1.25x the oval): a magnified read is opaque out to this ring (head_side)
EDGE_PULL = 0.03   # of the diagonal: the most of a view's gap beside or above the frame closed by stretching the person
EDGE_ZONE = 0.35   # of the frame's width (height): how far in from its edge that stretch spreads at most
EDGE_CLEAR = 0.02  # of the diagonal: the stretch stops this far from the face mesh's outline ...
EDGE_RAMP = 0.1    # ... and its zone's width changes over this much of the diagonal at the quickest
BELOW_BAND = 0.03  # of the diagonal: the rows above the frame's lower edge whose texture continues below it
BELOW_OPAQUE = 24  # alpha levels: a band pixel this much more transparent than the last row's keeps its colour
BELOW_SMOOTH = 2.0  # pixels: the smoothing that splits the band into colour and detail
BELOW_DETAIL = 16.0  # grey levels: the band's detail beyond this (an edge, not texture) is not carried below
BELOW_SPREAD_LIMIT = 24.0  # grey levels: below the frame the colour's spread along the edge moves it at most this
ATLAS_GAP = 4         # transparent columns between the frame and the face atlas in the renderer's source
ATLAS_TAG = 65536.0   # face-map x offset of atlas reads (float32 keeps 1/128 px there); see FrameRenderer.render
PLATE_OUTLIER = 12.0   # grey levels: plate samples closer than this to the pixel's mean always stay in it
FILL_MARGIN = 6.0      # pixels: the known wall this close to the never-seen region does not seed its fill
PLATE_RIM = 0.014      # of the diagonal (12 px at 704x480): a moving wall seen beside the never-seen fades into it
ENLARGED_MARGIN = 1e-3  # a face triangle counts as enlarged by the view (atlas.reads) beyond this relative margin
PLATE_MIN_SEEN = 3     # a plate pixel seen in fewer of the PLATE_FRAMES is partly filled (at most a quarter of them)
# Beyond this turn from the source view a run warns. At the presets' 30 deg the identity (SFace) of
# every checked frame stayed >= 0.56 on the six shared clips; at 45 deg (--strength 1.5) it fell below 0.6
# in 8 of 12 arc runs, to 0.36 (benchmarks/warp_quality.py --frames 49 [--strength 1.5]).
WARP_RANGE = 35.0
# Beyond this angle from the subject's frontal view (the source's own head turn plus the camera's) a run
# warns too: lp_s18, turned 24 deg in her source, showed her far side as a hard profile outline with the wall
# beside it torn under arc-left (54 deg; looked at on a contact sheet, 2026-12-06). The facecam engine's
# trained range, the same number.
WARP_FRONTAL = 45.0


@dataclass
class WarpOptions:
    """Options of the warp engine (defaults are the tested ones)."""

    background_depth: float = BACKGROUND_DEPTH  # background plane depth / head depth
    smooth_xy: int = SMOOTH_XY_FRAMES           # landmark smoothing window for x, y (frames, odd; 1 = off)
    smooth_z: int = SMOOTH_Z_FRAMES             # landmark smoothing window for depth (frames, odd; 1 = off)
    dilate: float = 0.0                         # person mask dilation, fraction of the frame diagonal
    feather: float = 0.006                      # person edge feathering, fraction of the frame diagonal
    segmentation_model: int = 0                 # MediaPipe selfie segmentation: 0 general, 1 landscape
    atlas: bool = True                          # barely-seen face triangles read the clip's best-seen frame
    depth: str = "template"                     # face depth: "template" (posed face template) or "mediapipe" (z)
    hidden_face: bool = True                    # fill face the source did not show (turned away, hair over it)


class WarpEngine(Engine):
    """Geometric re-render of the source under the clip's camera trajectory (CPU, no weights)."""

    name = "warp"

    def __init__(self, **options) -> None:
        unknown = set(options) - set(WarpOptions.__dataclass_fields__)
        if unknown:
            raise FacecamError(f"unknown warp engine option(s): {', '.join(sorted(unknown))}")
        self.options = WarpOptions(**options)
        if self.options.depth not in ("template", "mediapipe"):
            raise FacecamError(f"warp engine depth must be template or mediapipe, got {self.options.depth!r}")

    def generate(self, clip: "ConditionedClip", *, seed: Optional[int] = None,
                 progress: bool = True) -> np.ndarray:
        """Render ``clip.source`` under ``clip.trajectory``; returns ``(T, H, W, 3)`` uint8.

        ``seed`` is accepted for the common interface; the warp is deterministic.
        """
        frames, track, trajectory = clip.source, clip.source_track, clip.trajectory
        _check_clip(frames, track, trajectory)
        turn = camera_turn(trajectory)
        frontal = trajectory.meta.get("frontal") or {}
        far = max(float(frontal.get("max_from_frontal", 0.0)), float(frontal.get("max_from_frontal_with_head", 0.0)))
        if turn > WARP_RANGE:
            import logging

            from ..condition.builder import TRAINED_RANGE

            # Beyond the model's own range the builder has already said so: no pointing to it here.
            hint = "lower --strength, or use the facecam engine" if turn < TRAINED_RANGE + 0.5 else "lower --strength"
            logging.getLogger("facecam").warning(
                f"facecam: warning: the camera turns {turn:.0f} deg from the source view; the warp engine only "
                f"moves what the source saw and tears beyond about {WARP_RANGE:.0f} deg ({hint})")
        elif far > WARP_FRONTAL:
            import logging

            # A head already turned in the source, turned further: the builder's warning speaks of the facecam
            # engine's trained range only, and a warp run tore without a word of its own (lp_s18, arc-left).
            logging.getLogger("facecam").warning(
                f"facecam: warning: the view reaches {far:.0f} deg from the subject's frontal view; beyond about "
                f"{WARP_FRONTAL:.0f} deg the warp engine draws the head's far side as a hard outline and can tear "
                f"the wall beside it (lower --strength)")
        size = frames.shape[1:3]
        with ThreadPoolExecutor(1) as pool:
            # The scene's geometry is worked out beside the segmentation (which keeps its progress bar in
            # this thread, where a web page follows it); the layers need its landmarks only when read.
            geometry = pool.submit(self._geometry, clip)
            breaks, plate_frames = clip_shots(frames, track.found)
            found = None if track.found is None else steady_found(track.found)  # a one-frame slip keeps the oval
            layers = person_layers(frames, None, face_surface(), self.options, progress, found, breaks)
            g = geometry.result()
        layers.points = g.points
        surface, src2d, world, cameras = g.surface, g.src2d, g.world, g.cameras
        bg_depth = g.plane_depth * self.options.background_depth
        person_h = [plane_homography(g.K0, cam, d, n) for cam, (n, d) in zip(cameras, g.planes)]
        bg_h = [plane_homography(g.K0, cam, bg_depth) for cam in cameras]

        # The face atlas and the background plate read the layers of different frames: built side by side
        # (numpy and OpenCV release the GIL), the two take the time of the longer.
        with ThreadPoolExecutor(1) as pool:
            atlas = pool.submit(FaceAtlas, layers, src2d, surface, world, track.found) if self.options.atlas else None
            canvas, offset = background_canvas(layers, bg_h, size, plate_frames)
            atlas = atlas.result() if atlas is not None else None
        out = frame_buffer(frames.shape)  # on disk for a long clip
        render_frames(out, layers, src2d, world, cameras, person_h, bg_h,
                      lambda: FrameRenderer(size, canvas, offset, surface, atlas,
                                            hidden_face=self.options.hidden_face), progress)
        return out

    def _geometry(self, clip: "ConditionedClip") -> "_Geometry":
        frames, track, trajectory = clip.source, clip.source_track, clip.trajectory
        size = frames.shape[1:3]
        f = focal_length(size)
        K0 = intrinsics(size, f)
        surface = face_surface()
        pivot = condition_pivot(clip, f)
        cameras = trajectory_cameras(trajectory, size, pivot, f)
        plane_depth = float(pivot[2])
        planes = [person_plane(cam, pivot) for cam in cameras]
        points = track.points.astype(np.float64)
        if self.options.depth == "template":  # a rigid head's depth: see face.pose.template_depth
            points = template_depth(points, size, f)
        points = smooth_landmarks(points, self.options.smooth_xy, self.options.smooth_z)
        src2d, world = surface_vertices(points, K0, plane_depth, surface, planes)
        return _Geometry(K0, surface, cameras, plane_depth, planes, points, src2d, world)

    def mesh_positions(self, clip: "ConditionedClip") -> tuple[np.ndarray, np.ndarray]:
        """Where :meth:`generate` reads the 478 landmarks in the source frames and where it draws them in
        the output: two ``(T, 478, 2)`` float64 pixel arrays (nothing is rendered).

        The 468 mesh points are the face surface's vertices, warped piecewise-affinely, so the drawn
        ones are the landmarks of the output's face as the engine drew it (points the view hides, a far
        cheek, are projected all the same); each iris (5 points, inside the eye's covering triangles)
        moves by the affine map that best fits its 12 nearest mesh points.
        ``benchmarks/judge_geometry.py`` judges them beside MediaPipe's reading of the frames.
        """
        _check_clip(clip.source, clip.source_track, clip.trajectory)
        g = self._geometry(clip)
        source = g.points[..., :2].copy()
        drawn = np.empty_like(source)
        for t, (w, cam) in enumerate(zip(g.world, g.cameras)):
            target = project(w, cam)[:MESH_VERTICES, :2]
            mesh = g.src2d[t, :MESH_VERTICES].astype(np.float64)
            drawn[t, :MESH_VERTICES] = target
            for iris in (slice(468, 473), slice(473, 478)):
                near = np.argsort(((mesh - source[t, iris][0]) ** 2).sum(-1))[:12]
                A = np.c_[mesh[near], np.ones(12)]
                fit = np.linalg.lstsq(A, target[near], rcond=None)[0]
                drawn[t, iris] = np.c_[source[t, iris], np.ones(5)] @ fit
        return source, drawn


@dataclass
class _Geometry:
    """The scene of one clip as the warp engine sets it up (see :meth:`WarpEngine._geometry`)."""

    K0: np.ndarray
    surface: FaceSurface
    cameras: list
    plane_depth: float
    planes: list
    points: np.ndarray  # (T, 478, 3) smoothed landmarks, their depth as WarpOptions.depth says
    src2d: np.ndarray   # (T, V, 2) surface vertices in the source frames
    world: np.ndarray   # (T, V, 3) surface vertices in the world


def render_frames(out: np.ndarray, layers: "np.ndarray | PersonLayers", src2d: np.ndarray, world: np.ndarray,
                  cameras: list[PinholeCamera], person_h: list[np.ndarray], bg_h: list[np.ndarray],
                  make_renderer, progress: bool) -> None:
    """Render every frame into ``out`` ``(T, H, W, 3)``, frames interleaved over worker threads.

    OpenCV and large numpy operations release the GIL, so two threads keep both
    cores of a laptop busy; each thread owns its renderer's buffers.
    """
    T = out.shape[0]
    workers = max(1, min(RENDER_THREADS, os.cpu_count() or 1, T))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=T, desc="warp", unit="frame", leave=False)

    import queue

    rendered: "queue.SimpleQueue[int]" = queue.SimpleQueue()
    # A frame done: counted on the bar in place when this thread renders, else handed to this thread.
    done_one = rendered.put if workers > 1 else (lambda t: bar.update(1)) if bar is not None else (lambda t: None)

    def work(k: int) -> None:
        renderer = make_renderer()
        for t in range(k, T, workers):
            out[t] = renderer.render(layers[t], src2d[t], world[t], cameras[t], person_h[t], bg_h[t])
            done_one(t)

    try:
        if workers == 1:
            work(0)
        else:
            # The two frames keep the cores busy; OpenCV's own threads inside each call would only compete
            # with them for the same cores and add their hand-offs.
            # The bar moves in the calling thread: a web page's progress (Gradio's tqdm tracking) follows
            # that thread only, and sat at 0 until the end while the workers counted.
            with opencv_single_threaded(), ThreadPoolExecutor(workers) as pool:
                jobs = [pool.submit(work, k) for k in range(workers)]
                done = 0
                while done < T and not any(job.done() and job.exception() for job in jobs):
                    try:
                        rendered.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    done += 1
                    if bar is not None:
                        bar.update(1)
                for job in jobs:
                    job.result()  # re-raise a worker's exception here
    finally:
        if bar is not None:
            bar.close()


_OPENCV_THREADS = {"users": 0, "saved": None}
_OPENCV_LOCK = threading.Lock()


@contextmanager
def opencv_single_threaded():
    """OpenCV's thread count (process-wide) set to 1 while any render runs two frames at once, and put back
    when the last one ends: two renders at once (the web page serves two jobs) must not restore each
    other's setting in the wrong order and leave OpenCV single-threaded for good."""
    with _OPENCV_LOCK:
        if _OPENCV_THREADS["users"] == 0:
            _OPENCV_THREADS["saved"] = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _OPENCV_THREADS["users"] += 1
    try:
        yield
    finally:
        with _OPENCV_LOCK:
            _OPENCV_THREADS["users"] -= 1
            if _OPENCV_THREADS["users"] == 0:
                cv2.setNumThreads(_OPENCV_THREADS["saved"])


def _check_clip(frames: np.ndarray, track, trajectory) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise FacecamError(f"the warp engine needs (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    if track is None:
        raise FacecamError("the warp engine needs the source's landmark track")
    if track.points.shape[0] != frames.shape[0] or tuple(track.size) != tuple(frames.shape[1:3]):
        raise FacecamError(f"landmark track ({track.points.shape[0]} frames at {track.size}) does not match "
                           f"the source ({frames.shape[0]} frames at {frames.shape[1:3]})")
    if trajectory.num_frames != frames.shape[0]:
        raise FacecamError(f"the trajectory has {trajectory.num_frames} frames, the source {frames.shape[0]}")


def camera_turn(trajectory) -> float:
    """The largest rotation of the trajectory's camera away from the source view, in degrees."""
    from scipy.spatial.transform import Rotation

    angles = np.stack([trajectory.yaw, trajectory.pitch, trajectory.roll], axis=-1)
    return float(np.degrees(Rotation.from_euler("yxz", angles, degrees=True).magnitude()).max())


def condition_pivot(clip: "ConditionedClip", focal: float) -> np.ndarray:
    """The orbit pivot ``(3,)`` the relative camera condition used (its proxy on the first frame)."""
    from ..condition.builder import PROXIES, proxy_points

    proxy = clip.options.get("proxy", "subject") if clip.options.get("mode", "relative") == "relative" else "subject"
    proxy = proxy if proxy in PROXIES else "subject"  # a .ply proxy sits where the subject's head is anyway
    world, rotation = proxy_points(proxy, clip.source_track.points[0].astype(np.float64), clip.size, focal)
    return orbit_pivot(world, rotation)


def inverse_homography(h: np.ndarray, unit_corner: bool = True) -> np.ndarray:
    """The inverse of a ``(3, 3)`` homography up to scale (a homography does not care): its adjugate, in
    Python floats, scaled so that its ``[2, 2]`` is 1 (``unit_corner``, what the backward maps expect) or
    as it is. It keeps LAPACK (numpy's ``linalg.inv``, five calls a frame) out of the per-frame path,
    where a profile of the renderer taken under load had found it slow; no speed-up is claimed
    (``warp_speed.py`` runs before and after varied by more than their difference), and the renders of
    the shared clips tried were unchanged to the byte.

    Raises:
        FacecamError: with ``unit_corner``, an inverse whose ``[2, 2]`` is 0 (a view that sees the
            source plane edge-on), which has no such scaling.
    """
    (a, b, c), (d, e, f), (g, k, m) = np.asarray(h, dtype=np.float64).tolist()
    adjugate = np.array([[e * m - f * k, c * k - b * m, b * f - c * e],
                         [f * g - d * m, a * m - c * g, c * d - a * f],
                         [d * k - e * g, b * g - a * k, a * e - b * d]])
    if not unit_corner:
        return adjugate
    if adjugate[2, 2] == 0.0:
        raise FacecamError("a view sees the source plane edge-on (its homography has no inverse with a unit "
                           "corner); lower --strength")
    return adjugate / adjugate[2, 2]


def plane_homography(K0: np.ndarray, camera: PinholeCamera, depth: float,
                     normal: Optional[np.ndarray] = None) -> np.ndarray:
    """``(3, 3)`` map from source pixels to target pixels for the plane ``n.X = depth`` (source camera frame).

    ``n`` is the unit ``normal`` (default ``(0, 0, 1)``: the plane ``z = depth``).
    A point ``X`` on the plane satisfies ``n.X / depth = 1``, so
    ``R X + t = (R + t n^T / depth) X``, and ``X`` is a multiple of ``K0^-1 x``.
    """
    n = np.array([0.0, 0.0, 1.0]) if normal is None else np.asarray(normal, dtype=np.float64)
    H = camera.K @ (camera.R + np.outer(camera.t, n) / depth) @ inverse_homography(K0)
    return H / H[2, 2]


def person_plane(camera: PinholeCamera, pivot: np.ndarray) -> tuple[np.ndarray, float]:
    """The person layer's plane ``(n, d)`` (``n.X = d``, source camera frame) for one target camera.

    It passes through the head pivot and faces halfway between the source camera's
    viewing direction and the target's (its normal bisects the two optical axes).
    A plane facing the source alone is foreshortened by the orbit (by cos 30 deg =
    0.87 across a 30 deg arc), so hair, ears and the head's outline shrank towards the
    pivot while the face, in front of it, did not: the far cheek was cut off by a
    straight edge and the near side's hair squeezed. A head is round, its outline
    keeps its width from any side; the halfway plane is seen at the same slant by
    both cameras, so it keeps the outline's width too. A still, zooming or panning
    camera keeps the plane ``z = pivot depth``.
    """
    axis = camera.R[2] + np.array([0.0, 0.0, 1.0])  # the target's optical axis, in the source frame, + the source's
    n = axis / np.linalg.norm(axis)
    return n, float(n @ np.asarray(pivot, dtype=np.float64))


def smooth_landmarks(points: np.ndarray, window_xy: int, window_z: int) -> np.ndarray:
    """Savitzky-Golay smoothing of ``(T, N, 3)`` landmarks over time, so the warp does not shimmer.

    Quadratic fits over ``window`` frames (x, y and z separately: MediaPipe's z
    jitters more); near the ends the window slides inwards instead of padding.
    """
    out = points.copy()
    T = points.shape[0]
    for axes, window in ((slice(0, 2), window_xy), (slice(2, 3), window_z)):
        w = min(window, T if T % 2 else T - 1)  # odd and no longer than the clip
        if w >= 5:
            flat = points[..., axes].reshape(T, -1)
            out[..., axes] = savgol(flat, w, 2).reshape(points[..., axes].shape)
    return out


def surface_vertices(points: np.ndarray, K0: np.ndarray, plane_depth: float, surface: FaceSurface,
                     planes: Optional[list] = None) -> tuple[np.ndarray, np.ndarray]:
    """Source pixels ``(T, V, 2)`` and world points ``(T, V, 3)`` of the face surface's vertices.

    Ring vertices sit at the ring's pixel in the source, at a depth blended from
    the oval's depth towards the person plane (the last ring lies on it). The
    plane is ``z = plane_depth``, or per frame ``planes[t] = (n, d)`` (``n.X = d``,
    :func:`person_plane`).
    """
    T = points.shape[0]
    mesh2d = points[:, :MESH_VERTICES, :2]
    rings2d = ring_positions(mesh2d, surface.oval)  # (T, R*36, 2)
    f, cx, cy = K0[0, 0], K0[0, 2], K0[1, 2]
    mesh_world = lift(points[:, :MESH_VERTICES].reshape(-1, 3), K0).reshape(T, MESH_VERTICES, 3)
    oval_depth = mesh_world[:, surface.oval, 2]  # (T, 36)
    n = len(surface.oval)
    ring_world = np.empty((T, len(RING_SCALES) * n, 3))
    if planes is not None:
        normals = np.stack([p[0] for p in planes])  # (T, 3)
        dist = np.array([p[1] for p in planes])      # (T,)
    for k, blend in enumerate(RING_DEPTH_BLEND):
        xy = rings2d[:, k * n:(k + 1) * n]
        on_plane = np.full(xy.shape[:2], plane_depth)
        if planes is not None:  # depth where each ring pixel's ray meets its frame's plane
            facing = (normals[:, None, 0] * (xy[..., 0] - cx) / f + normals[:, None, 1] * (xy[..., 1] - cy) / f
                      + normals[:, None, 2])
            on_plane = np.clip(dist[:, None] / np.maximum(facing, 1e-6), 0.5 * plane_depth, 2.0 * plane_depth)
        depth = oval_depth + blend * (on_plane - oval_depth)
        ring_world[:, k * n:(k + 1) * n] = np.stack(
            [(xy[..., 0] - cx) * depth / f, (xy[..., 1] - cy) * depth / f, depth], axis=-1)
    return np.concatenate([mesh2d, rings2d], axis=1), np.concatenate([mesh_world, ring_world], axis=1)


class PersonLayers:
    """The source frames with the person's alpha as a fourth channel, ``(T, H, W, 4)`` uint8 RGBA,
    computed per frame when asked for (``layers[t]``, ``layers[t, ..., 3]``), so a long clip never
    holds all of them: rendering, the background plate and the face atlas each take the frames they
    need. Only the segmentation is kept for the whole clip: float32 at half size, for every
    ``SEGMENT_STRIDE``-th frame (and the last, and both frames at each of ``breaks``); the frames between
    are interpolated when used.

    The segmentation is unioned with the face oval (a cartoon or a heavily made-up
    face may be missed by the selfie model), averaged over three frames against
    flicker (never across one of ``breaks``: a cut, or the face found or lost; :func:`clip_shots`), and
    feathered across its edge (antialiased; no band of the source's background rides along with the
    person). ``alpha == 255`` on the mask's
    interior (the *core*): there the person hides the background; the background
    layer shows this frame's own pixels except under the feathered rim and 4 px
    beyond it (:meth:`FrameRenderer.render`), where it shows the plate, so a still
    camera reproduces the input but for that rim; the background plate takes only
    pixels with ``alpha == 0``. (Four channels also
    happen to warp faster than three in OpenCV.)
    """

    def __init__(self, frames: np.ndarray, points: np.ndarray, surface: FaceSurface, options: WarpOptions,
                 progress: bool, found: Optional[np.ndarray] = None, breaks: tuple = ()) -> None:
        from ..face.segmentation import selfie_segmentation

        T, H, W = frames.shape[:3]
        self.frames, self.points, self.surface = frames, points, surface
        self.found = found  # (T,) bool or None: where the face was lost its held oval is not the person's
        self.shape = (T, H, W, 4)
        diag = float(np.hypot(H, W))
        self.dilate = options.dilate * diag
        self.feather = max(1.0, options.feather * diag)
        seg = selfie_segmentation(options.segmentation_model)
        # Segment every SEGMENT_STRIDE-th frame (and the last) and interpolate between: the
        # mask is dilated and smoothed over three frames anyway, and the model costs
        # as much as the face mesh. The selfie model sees 256x256 inside, so a
        # half-size input only saves its own upscaling.
        # Both sides of a break are segmented: interpolated across it, the last frame of a person who vanished
        # in the next frame (a cut to the empty wall) had half a person's probability, and only the face oval
        # was left of her.
        self.stretch = stretches(T, breaks)
        keys = sorted(set(range(0, T, SEGMENT_STRIDE)) | {T - 1} | {b for b in breaks if 0 < b < T}
                      | {b - 1 for b in breaks if 0 < b < T})
        steps = keys
        if progress:
            from tqdm.auto import tqdm

            # The bar counts the frames segmented: one in SEGMENT_STRIDE, and the last.
            steps = tqdm(keys, desc=f"segmentation (1 frame in {SEGMENT_STRIDE})", unit="frame", leave=False)
        self.small = (max(1, W // 2), max(1, H // 2))
        # Kept whole, at half size in float32 (a fifth of the frames' bytes), on disk for a long clip.
        self.key_prob = frame_buffer((len(keys), self.small[1], self.small[0]), np.float32)
        self.key_index = {t: k for k, t in enumerate(keys)}
        try:
            for k, t in enumerate(steps):
                image = cv2.resize(frames[t], self.small, interpolation=cv2.INTER_AREA)
                mask = seg.process(image).segmentation_mask
                self.key_prob[k] = mask.astype(np.float32) if mask is not None else \
                    np.zeros(self.small[::-1], np.float32)
        finally:
            seg.close()
        self.keys = keys

    def __len__(self) -> int:
        return self.shape[0]

    def prob(self, t: int) -> np.ndarray:
        """Frame ``t``'s person probability (half size), interpolated between the segmented keys."""
        if t in self.key_index:
            return self.key_prob[self.key_index[t]]
        i = int(np.searchsorted(self.keys, t))
        a, b = self.keys[i - 1], self.keys[i]
        w = (t - a) / (b - a)
        return cv2.addWeighted(self.key_prob[i - 1], 1.0 - w, self.key_prob[i], w, 0.0)

    def __getitem__(self, index):
        t, rest = (index[0], index[1:]) if isinstance(index, tuple) else (index, ())
        layer = self.layer(int(t))
        return layer[rest] if rest else layer

    def layer(self, t: int) -> np.ndarray:
        """``(H, W, 4)`` RGBA of frame ``t`` (negative counts from the end, as for an array)."""
        T, H, W, _ = self.shape
        if not -T <= t < T:
            raise IndexError(f"frame {t} of a {T}-frame clip")
        t %= T
        window = np.stack([self.prob(u) for u in range(max(0, t - 1), min(T, t + 2))
                           if self.stretch[u] == self.stretch[t]])
        # The probability is smooth: upsampled before the threshold, the mask's edge lies within a
        # pixel of the model's own; thresholded at half size, it was a staircase of 2-pixel steps,
        # which a view that stretches the edge (the near jaw under an arc) drew as bands.
        prob = cv2.resize(window.mean(axis=0), (W, H), interpolation=cv2.INTER_LINEAR)
        hard = (prob <= MASK_THRESHOLD).astype(np.uint8)  # 1 = not person
        if self.points is None:
            raise ValueError("PersonLayers.points must be set before a layer is read")
        if self.found is None or self.found[t]:
            # (Where the face was lost, e.g. after the person left, the held oval lay over the empty wall and
            # kept a face-shaped piece of it as the person.)
            oval = np.round(self.points[t, self.surface.oval, :2] * 16).astype(np.int32)
            cv2.fillPoly(hard, [oval], 0, lineType=cv2.LINE_8, shift=4)
            hard = keep_subject(hard, oval)
        # Signed distance from the mask's edge (pixels, > 0 outside the person): the alpha ramps
        # from 255 to 0 over `feather` pixels centred on the edge moved out by `dilate`, so the rim
        # carries little of the source's background (no halo when it moves).
        if hard.all():  # nobody in the frame (the face lost too): distances to a mask that is not there
            alpha = np.zeros((H, W), np.uint8)
        else:
            outside = cv2.distanceTransform(hard, cv2.DIST_L2, 3)
            inside = cv2.distanceTransform(1 - hard, cv2.DIST_L2, 3)
            signed = outside - inside - self.dilate
            alpha = np.clip(127.5 - signed * (255.0 / self.feather), 0.0, 255.0).astype(np.uint8)
        out = cv2.cvtColor(self.frames[t], cv2.COLOR_RGB2RGBA)
        cv2.insertChannel(alpha, out, 3)
        return out


def person_layers(frames: np.ndarray, points: Optional[np.ndarray], surface: FaceSurface, options: WarpOptions,
                  progress: bool, found: Optional[np.ndarray] = None, breaks: tuple = ()) -> PersonLayers:
    """:class:`PersonLayers` of a clip (each frame's RGBA computed when it is used); ``points`` (the smoothed
    landmarks, ``(T, 478, >=2)``) may be None until the first layer is read: set ``.points`` then."""
    return PersonLayers(frames, points, surface, options, progress, found, breaks)


def clip_shots(frames: np.ndarray, found: Optional[np.ndarray]) -> tuple[list[int], Optional[np.ndarray]]:
    """Where the person's matte must not be smoothed across, and which frames the background plate may use.

    Returns the frames that begin a new stretch (a cut to another shot, :func:`~facecam.video.cuts.find_cuts`,
    or the face found or lost from that frame on, a single frame's slip of the detector left out:
    :func:`steady_found`), and ``(T,)`` bool: the frames of a shot where the face was found (with it, or
    the empty wall after the person left), less the blank ones (:data:`~facecam.video.cuts.BLANK`: a black
    intro) and those of a fade or flash (:func:`~facecam.video.cuts.dimmed`: a fade from black made the
    whole plate darker); None without a record of ``found``.
    """
    from ..video.cuts import dimmed, shots

    cuts, blank, thumbs = shots(frames)
    if found is None:
        return cuts, None
    found = steady_found(found)
    changes = (np.flatnonzero(found[1:] != found[:-1]) + 1).tolist()
    shot = stretches(len(found), cuts)
    with_face = np.isin(shot, shot[found])
    usable = with_face & ~blank & ~dimmed(thumbs, shot, blank)
    return sorted(set(cuts) | set(changes)), usable


def steady_found(found) -> np.ndarray:
    """``(T,)`` bool ``found`` with each single frame unlike both its neighbours set to theirs: a face missed
    (or "found") in one frame between two that agree is the detector's slip; the person is still there (or
    not). Applied to the original mask at once, so a blip at an exit (found, missed, found, then gone) still
    leaves one change."""
    found = np.asarray(found, bool).copy()
    if len(found) >= 3:
        inner = found[1:-1]
        slip = (found[:-2] == found[2:]) & (inner != found[:-2])
        inner[slip] = found[:-2][slip]
    return found


def stretches(T: int, breaks) -> np.ndarray:
    """``(T,)`` int: the number of the stretch each frame is in, a new one beginning at each of ``breaks``."""
    return np.searchsorted(np.sort(np.asarray(list(breaks), int)), np.arange(T), side="right")


def keep_subject(not_person: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """The mask ``not_person`` (uint8, 1 = background) with every person blob that does not touch the
    face removed: the selfie model sometimes marks a skin-coloured object behind the subject, which
    would then float along with the head as a ghost."""
    count, labels = cv2.connectedComponents(1 - not_person, connectivity=8)
    if count <= 2:
        return not_person
    inside = np.zeros_like(not_person)
    cv2.fillPoly(inside, [oval], 1, lineType=cv2.LINE_8, shift=4)
    keep = np.unique(labels[(inside > 0) & (labels > 0)])
    return np.where(np.isin(labels, keep), 0, 1).astype(np.uint8)


def background_canvas(layers: "np.ndarray | PersonLayers", bg_h: list[np.ndarray],
                      size: tuple[int, int], usable: Optional[np.ndarray] = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The clean background plate on a canvas big enough for every target view.

    Returns the canvas ``(Hc, Wc, 4)`` uint8 and the offset ``(ox, oy)`` of the
    source frame's origin in it. Inside the frame each pixel is the mean of the
    frames where no person covered it, without the samples far from that mean (a
    strand of hair the matte missed in a few frames); pixels never seen are filled
    smoothly from the wall around them (not from the band next to the person, which
    holds what the matte let through) with the wall's grain, those seen in fewer than
    :data:`PLATE_MIN_SEEN` frames partly so, and the margin around the frame (up to
    what the trajectory's views reach) mirrors the frame's plate.

    ``usable``: ``(T,)`` bool, the frames the plate may be made of (:func:`clip_shots`: a black intro before
    the face drew a black wall behind the head in every frame); all when None or none.
    """
    H, W = size
    T = layers.shape[0]
    picks = spread_frames(T, PLATE_FRAMES, usable)
    total = np.zeros((H, W), np.float32)
    plate = np.zeros((H, W, 3), np.float32)
    squares = np.zeros((H, W), np.float32)  # of the grey level, for the samples' spread
    seen_by = []
    reach = max(PLATE_CLEARANCE.shape[0] // 2, int(round(PLATE_SOURCE_CLEARANCE * float(np.hypot(H, W)))))
    clearance = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    for t in picks:
        # Only pixels well clear of the person's feathered rim: segmentation edges are loose, and
        # hair or skin baked into the plate would show as a halo wherever the person moves away.
        layer = layers[t]
        seen = cv2.erode((layer[..., 3] == 0).astype(np.uint8), clearance)
        seen_by.append(np.packbits(seen, axis=None))
        total += seen
        rgb = frame_rgb(layers, t)
        cv2.accumulate(rgb, plate, mask=seen)
        cv2.accumulateSquare(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), squares, mask=seen)
    plate /= np.maximum(total, 1.0)[..., None]
    if len(picks) > 2:
        plate = drop_outliers(layers, picks, seen_by, plate, total, squares)
    unseen = total < 0.5

    corners = np.array([[0, 0, 1], [W, 0, 1], [0, H, 1], [W, H, 1]], np.float64).T
    # (up to scale: the corners' division takes it out, and no corner is lost to a zero [2, 2])
    xy = np.concatenate([(r[:2] / r[2:]).T for r in (inverse_homography(h, unit_corner=False) @ corners
                                                     for h in bg_h)])
    x0 = int(np.clip(np.floor(xy[:, 0].min()), -MAX_MARGIN * W, 0))
    y0 = int(np.clip(np.floor(xy[:, 1].min()), -MAX_MARGIN * H, 0))
    x1 = int(np.clip(np.ceil(xy[:, 0].max()), W, (1 + MAX_MARGIN) * W))
    y1 = int(np.clip(np.ceil(xy[:, 1].max()), H, (1 + MAX_MARGIN) * H))
    ox, oy = -x0, -y0
    Hc, Wc = y1 - y0 + 2, x1 - x0 + 2
    # A pixel seen in only one or two frames was at the person's edge in them: what the matte let
    # through is in it more often than not. It is trusted in proportion to its count, and what is
    # not trusted is filled as if never seen.
    need = max(1, min(PLATE_MIN_SEEN, len(picks) // 4))
    trust = np.clip(total / need, 0.0, 1.0)
    unsure = trust < 1.0
    if not (~unsure).any():
        trust, unsure = (~unseen).astype(np.float32), unseen
    # Told before any fill (which moves the plate only where it is unsure, a sliver of the pixels the verdict
    # reads), so that the rim below can depend on it.
    still = not unseen.all() and background_is_still(layers, picks, seen_by, plate)
    if unseen.all():  # nothing known at all: a neutral grey
        plate[:] = 128.0
    elif unsure.any():  # behind the person in (nearly) every frame: filled from the wall around, with its grain
        if not still:
            # The seen wall next to that region was beside the person's outline in every frame that saw
            # it: strands the matte let through, averaged into it, drew the outline as a thin dark line in
            # the plate, and the views that look past the person showed it as a ghost outline (lp_s18,
            # hand-held, under arc-right). It fades into the fill over PLATE_RIM of the diagonal. Not on a
            # still wall: there FrameRenderer.claim_missed compares each frame with the plate, and the
            # fill, unlike the wall beside the person, was claimed as person (lp_d9 arc-left's boundary
            # flicker 1.884 -> 1.963).
            gap = cv2.distanceTransform((~unsure).astype(np.uint8), cv2.DIST_L2, 3)
            fade = max(1.0, PLATE_RIM * float(np.hypot(H, W)))
            trust = np.where(unsure, trust, np.minimum(trust, smoothstep(np.clip(gap / fade, 0.0, 1.0))))
            trust = trust.astype(np.float32)
        rim = trust < 1.0
        filled = fill_unseen(plate, rim.astype(np.uint8))
        add_grain(filled, rim)
        plate += (1.0 - trust[..., None]) * (filled - plate)
    # Beyond the frame the wall goes on as its own mirror image: texture, where an inpainting
    # from the frame's edge would draw streaks across the whole margin.
    canvas = np.pad(plate, ((oy, Hc - oy - H), (ox, Wc - ox - W), (0, 0)), mode="symmetric")
    out = np.zeros((Hc, Wc, 4), np.uint8)
    out[..., :3] = np.clip(canvas + 0.5, 0, 255)
    # Channel 3 marks the plate pixels seen in enough frames of a still background: there, what differs
    # from the plate beside the person is the person (FrameRenderer.claim_missed).
    # Only where the camera and the wall stand still (a studio, a tripod): a moving background differs
    # from its plate everywhere, and its own pieces would join the person.
    if still:
        out[oy:oy + H, ox:ox + W, 3] = (trust >= 1.0).astype(np.uint8) * 255
    return out, (ox, oy)


def background_is_still(layers: "np.ndarray | PersonLayers", picks: np.ndarray, seen_by: list,
                        plate: np.ndarray) -> bool:
    """Whether the background stands still: in up to 5 of the plate's frames, 90 % of the pixels well
    clear of the person (``seen_by``, the plate's packed masks of each pick) lie within
    :data:`STILL_BACKGROUND` grey levels of the plate. Measured once with a throwaway script (5 frames
    of each shared clip, 2026-12-04): at most 2 on the five clips filmed on a tripod or in a studio,
    7-35 on lp_s18, hand-held in a room."""
    H, W = plate.shape[:2]
    grey_plate = cv2.cvtColor(np.clip(plate, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.int16)
    step = max(1, len(picks) // 5)
    for t, packed in list(zip(picks, seen_by))[::step][:5]:
        clear = np.unpackbits(packed, count=H * W).reshape(H, W) > 0
        if clear.sum() < 256:
            continue
        grey = cv2.cvtColor(frame_rgb(layers, t), cv2.COLOR_RGB2GRAY).astype(np.int16)
        if np.percentile(np.abs(grey - grey_plate)[clear], 90) > STILL_BACKGROUND:
            return False
    return True


def frame_rgb(layers: "np.ndarray | PersonLayers", t: int) -> np.ndarray:
    """Frame ``t``'s colours ``(H, W, 3)``: a PersonLayers' frame as it is, without making its matte again."""
    return np.ascontiguousarray(layers.frames[t] if isinstance(layers, PersonLayers) else layers[t][..., :3])


def drop_outliers(layers: "np.ndarray | PersonLayers", picks: np.ndarray, seen_by: list, plate: np.ndarray,
                  total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """The plate's mean again without the samples further from it than their spread.

    A strand of hair or a shadow the matte missed sits in a few of the frames a pixel was
    seen in; the mean keeps a faint copy of it, which the plate then shows as a dark
    outline of where the person was (lp_s18). A sample whose luma is more than one
    standard deviation (and at least :data:`PLATE_OUTLIER` grey levels) from the mean is
    left out: a minority far from the rest is always further than the spread, a wall's
    noise never reaches the floor. Pixels with no sample left keep the mean.
    """
    H, W = total.shape
    n = np.maximum(total, 1.0)
    grey_mean = cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY)
    spread = np.sqrt(np.maximum(squares / n - grey_mean ** 2, 0.0))
    limit = np.maximum(spread, PLATE_OUTLIER)
    kept = np.zeros((H, W), np.float32)
    again = np.zeros((H, W, 3), np.float32)
    for t, packed in zip(picks, seen_by):
        seen = np.unpackbits(packed, count=H * W).reshape(H, W)
        rgb = frame_rgb(layers, t)
        near = np.abs(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) - grey_mean) <= limit
        mask = (near & (seen > 0)).astype(np.uint8)
        kept += mask
        cv2.accumulate(rgb, again, mask=mask)
    ok = kept > 0
    again /= np.maximum(kept, 1.0)[..., None]
    return np.where(ok[..., None], again, plate)


def add_grain(plate: np.ndarray, unseen: np.ndarray) -> None:
    """Give the filled pixels of a float ``(H, W, 3)`` plate the seen wall's fine texture, in place.

    A fill is smooth; next to a real wall (sensor noise, fabric, paint) it reads
    as a flat smear. The seen pixels' high-pass residual sets the strength of a fixed
    (seeded, so it does not flicker) noise added where nothing was seen.
    """
    seen = ~unseen
    if seen.sum() < 64:
        return
    residual = plate - cv2.GaussianBlur(plate, (0, 0), 1.5)
    strength = residual[seen].std(axis=0)  # per channel
    grain = np.random.default_rng(0).normal(0.0, 1.0, plate.shape).astype(np.float32)
    # Channels of real grain move together (luminance) more than apart.
    grain = 0.7 * grain.mean(axis=-1, keepdims=True) / np.sqrt(1 / 3) + 0.3 * grain
    plate += np.where(unseen[..., None], grain * strength, 0.0).astype(np.float32)


def fill_unseen(canvas: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fill the ``missing`` pixels of a float ``(H, W, 3)`` canvas smoothly from the known ones.

    The known pixels within :data:`FILL_MARGIN` of the missing region are left out of the
    fill's sources (they are next to where the person always was: what the matte let
    through of hair and skin would otherwise be spread over the whole region). The fill
    is a pull-push over an image pyramid: each coarser level averages the known pixels
    under it, and each missing pixel takes the bilinear upsampling of the first level that
    knows it; over it, the wall at each end of a pixel's row (:func:`fill_along_rows`: a
    railing or a shelf seen on both sides goes on behind the person). Unlike an
    inpainting that propagates the boundary inwards (Telea), neither has streaks
    converging on the region's middle.
    """
    if not missing.any():
        return canvas
    far = cv2.distanceTransform(missing.astype(np.uint8) ^ 1, cv2.DIST_L2, 3) > FILL_MARGIN
    known = (missing == 0) & far
    if not known.any():
        known = missing == 0
    if not known.any():  # nothing known at all: a neutral grey
        return np.full_like(canvas, 128.0)
    filled = pull_push(canvas, known.astype(np.float32))
    filled = cv2.GaussianBlur(filled, (0, 0), 2.0)  # the pyramid's levels join smoothly
    # Along the rows from the wall at each end where they agree (horizontal lines go on behind the person),
    # else from each end a little way in, over the pyramid's fill.
    filled = fill_along_rows(canvas, known, filled)
    return np.where(missing[..., None].astype(bool), filled, canvas)


ROW_FILL_ALONG, ROW_FILL_ACROSS = 3.0, 1.0  # px: the Gaussian that smooths a row's ends, along and across rows
ROW_FILL_FADE = 4.0    # px: where rows that take the row fill meet rows that do not, the fills fade over this
ROW_FILL_AGREE = 24.0  # grey levels: a row's two ends this far apart (or more) are not one line across
ROW_FILL_REACH = 0.05  # of the frame diagonal: otherwise each end's colour goes this far in, fading


def fill_along_rows(canvas: np.ndarray, known: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The never-seen wall filled along its rows from the ``known`` wall at each end, over ``fallback``
    (``(H, W, C)`` float32, the pyramid's fill), for the pixels that are not ``known``.

    Walls behind a person are mostly horizontal lines (a railing, a shelf, a skirting board, the light
    falling off towards the floor): where a row's two ends have the same colour (within
    :data:`ROW_FILL_AGREE`), the straight line between them carries the line on behind the head, where
    the pyramid's fill from all around drew a pale grey blot out of the railing, the wall above and the
    wall below (lp_d9 under pan-left). Where they differ, each end's colour goes in only
    :data:`ROW_FILL_REACH` of the frame diagonal, fading into the fallback: joined, a flag's red stripe
    on one side of the demo's astronaut ran behind her to the shuttle on the other, a red band above
    both shoulders. The ends' colours are smoothed over known pixels only, a little along the row and
    less across it, so that one row's sensor noise is not drawn as a streak.
    """
    H, W = known.shape
    k = known.astype(np.float32)
    weight = cv2.GaussianBlur(k, (0, 0), sigmaX=ROW_FILL_ALONG, sigmaY=ROW_FILL_ACROSS)
    sums = cv2.GaussianBlur(canvas * k[..., None], (0, 0), sigmaX=ROW_FILL_ALONG, sigmaY=ROW_FILL_ACROSS)
    ends = sums / np.maximum(weight, 1e-6)[..., None]
    cols = np.arange(W)
    left, right = row_ends(known)
    has_l, has_r = left >= 0, right < W
    l, r = np.clip(left, 0, W - 1), np.clip(right, 0, W - 1)
    ys = np.arange(H)[:, None]
    # Each side's colour is the median of five rows' (a row's end is constant along the row, so the square
    # window is a column's): one row's outlier (a hair at the wall's edge) would be a line across the plate;
    # a railing five rows tall or more stays. A side a row does not have takes the other's colour, and a row
    # with neither the fallback's: the median must not reach into another row's nothing (lines across lp_d0).
    at_l, at_r = ends[ys, l], ends[ys, r]
    at_l = np.where(has_l[..., None], at_l, np.where(has_r[..., None], at_r, fallback))
    at_r = np.where(has_r[..., None], at_r, at_l)
    lo, hi = (cv2.medianBlur(np.ascontiguousarray(side, np.float32), 5) for side in (at_l, at_r))
    t = ((cols[None, :] - l) / np.maximum(r - l, 1)).astype(np.float32)[..., None]
    across = lo + t * (hi - lo)
    agree = (has_l & has_r).astype(np.float32) * (
        1.0 - smoothstep(np.clip(channel_max(np.abs(hi - lo)) / ROW_FILL_AGREE, 0.0, 1.0)))
    inv = np.float32(1.0 / max(1.0, ROW_FILL_REACH * float(np.hypot(H, W))))
    w_l = has_l * (1.0 - smoothstep(np.clip((cols[None, :] - left).astype(np.float32) * inv, 0.0, 1.0)))
    w_r = has_r * (1.0 - smoothstep(np.clip((right - cols[None, :]).astype(np.float32) * inv, 0.0, 1.0)))
    near = np.maximum(w_l, w_r)
    sides = (w_l[..., None] * lo + w_r[..., None] * hi) / np.maximum(w_l + w_r, np.float32(1e-6))[..., None]
    sides = fallback + near[..., None] * (sides - fallback)
    strength = np.where(known, 0.0, agree).astype(np.float32)
    # (rows that join fade into those that do not)
    strength = cv2.GaussianBlur(strength, (0, 0), ROW_FILL_FADE)[..., None]
    return (sides + strength * (across - sides)).astype(np.float32)


def pull_push(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Every pixel of a float ``(H, W, C)`` image where ``weight`` ``(H, W)`` is 0, filled from the
    weighted pixels by a pyramid: pull (average the known pixels into ever coarser levels), then
    push (each level's unknown pixels take the next coarser level, upsampled bilinearly)."""
    H, W = weight.shape
    # Down to a single pixel: a 2x1 level may still hold an unknown cell (a close-up's lower half),
    # which would otherwise come back black and be pushed into the whole fill.
    if weight.min() > 0 or max(H, W) <= 1:
        return image
    small = (max(1, (W + 1) // 2), max(1, (H + 1) // 2))
    w_small = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
    sum_small = cv2.resize(image * weight[..., None], small, interpolation=cv2.INTER_AREA)
    if sum_small.ndim == 2:
        sum_small = sum_small[..., None]
    coarse = pull_push(sum_small / np.maximum(w_small, 1e-6)[..., None], (w_small > 1e-6).astype(np.float32))
    up = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR)
    if up.ndim == 2:
        up = up[..., None]
    return np.where(weight[..., None] > 0, image, up)


class FrameRenderer:
    """Composes output frames; holds the buffers reused from frame to frame.

    The backward maps are computed on a grid :data:`MAP_SCALE` times coarser
    than the frame and upsampled bilinearly: every map here is piecewise linear
    or projective, so the upsampled map is exact away from occlusion edges
    (where it softens the edge by a pixel) and the work per frame drops by the
    square of the scale.
    """

    def __init__(self, size: tuple[int, int], canvas: np.ndarray, offset: tuple[int, int],
                 surface: FaceSurface, atlas: Optional[FaceAtlas] = None, scale: int = MAP_SCALE,
                 hidden_face: bool = True) -> None:
        H, W = size
        ox, oy = offset
        if scale not in (1, 2):
            raise ValueError("the map grid is the full frame or 2x coarser")
        self.size = size
        self.surface = surface
        self.offset = offset
        self.hidden_face = hidden_face  # fill what the source did not show of the face (unseen_face)
        self.scale = scale
        self.canvas = canvas.copy()  # the frame region is overwritten per frame; the margin stays
        self.region = self.canvas[oy:oy + H, ox:ox + W]
        self.plate = np.ascontiguousarray(canvas[oy:oy + H, ox:ox + W])
        # Coarse grid point j sits at full-resolution position scale * j + (scale - 1) / 2,
        # which is what cv2.resize assumes when it upsamples by `scale`.
        self.coarse = (-(-H // scale), -(-W // scale))
        self.xs = (scale * np.arange(self.coarse[1]) + (scale - 1) / 2).astype(np.float32)
        self.ys = (scale * np.arange(self.coarse[0]) + (scale - 1) / 2).astype(np.float32)
        self.core = np.empty((H, W), np.uint8)
        # What the matte missed is looked for on a half-size grid, against the plate's still, well-seen part.
        self.half = (max(1, W // 2), max(1, H // 2))
        near = 2 * int(round(MISSED_REACH * float(np.hypot(H, W)) / 2)) + 1
        self.near_kernel = np.ones((near, near), np.uint8)
        self.plate_small = cv2.resize(self.plate, self.half, interpolation=cv2.INTER_AREA)
        self.plate_ok = self.plate_small[..., 3] == 255
        # Where the plate is not a still wall seen in enough frames, the background under the person's
        # rim comes from the frame itself (wall_behind), on the same half-size grid.
        self.plate_unsure = ~self.plate_ok
        self.plate_ok = self.plate_ok if self.plate_ok.any() else None
        # On a moving background the margin next to the frame mirrors each frame (refresh_margins).
        self.margin_band = int(round(MARGIN_BAND * float(np.hypot(H, W)))) if self.plate_ok is None else 0
        self.static_canvas = canvas if self.margin_band else None
        self.behind_depth = BEHIND_DEPTH * float(np.hypot(*self.half))  # on the half-size grid
        # The face map is evaluated at full resolution: it may jump between the frame and the
        # atlas from one pixel to the next, which an upsampled coarse map would smear.
        self.full_xs = np.arange(W, dtype=np.float32)
        self.full_ys = np.arange(H, dtype=np.float32)
        self.band = max(2.0, round(BELOW_BAND * float(np.hypot(H, W))))
        self.reach = max(2.0, BEYOND_FADE * float(np.hypot(H, W)))
        # One source image for the person warp: the frame with the person continued beside and above
        # it (a margin of `reach` pixels on the left, right and top: extend_beyond), a transparent gap,
        # then the atlas. Frame pixel (x, y) is source pixel (x + margin, y + margin).
        self.margin = M = int(np.ceil(self.reach))
        self.atlas = atlas
        self.atlas_x = W + 2 * M + ATLAS_GAP
        ha, wa = atlas.image.shape[:2] if atlas is not None else (0, 0)
        self.source = np.zeros((max(H + M, ha), self.atlas_x + wa, 4), np.uint8)
        if atlas is not None:
            self.source[:ha, self.atlas_x:] = atlas.image
        self.extended = self.source[:H + M, :W + 2 * M]

    def plane_map(self, homography: np.ndarray, shift: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
        """Coarse backward maps (float32) of a homography (source -> target), read at ``+shift`` in the source."""
        Hi = inverse_homography(homography)
        Hi[:2] += np.outer(shift, Hi[2])  # add the shift in homogeneous coordinates
        Hi = Hi.astype(np.float32)
        # Each map is a ratio of functions affine in x and y: outer sums of a row and a column.
        mx = np.add.outer(Hi[0, 1] * self.ys + Hi[0, 2], Hi[0, 0] * self.xs)
        my = np.add.outer(Hi[1, 1] * self.ys + Hi[1, 2], Hi[1, 0] * self.xs)
        if abs(Hi[2, 0]) > 1e-12 or abs(Hi[2, 1]) > 1e-12:  # projective (an orbit); pans and zooms are affine
            w = np.add.outer(Hi[2, 1] * self.ys + 1.0, Hi[2, 0] * self.xs)
            np.divide(mx, w, out=mx)
            np.divide(my, w, out=my)
        return mx, my

    def edge_pull(self, homography: np.ndarray, mesh: np.ndarray) -> "Optional[EdgePull]":
        """The stretch that brings the person plane's reads at the target's left, right and top edges
        back onto the source frame's edges, or None when no edge reads beyond them.

        An orbit tilts the person's plane, so one side (an arc's far side, an arc-up's lower corners)
        projects inside the target: beyond it the view shows what the source never had, and the body,
        cut by the frame there, ended in a strip of wall (``extend_beyond`` fades it out). Where that
        gap is at most :data:`EDGE_PULL` of the diagonal the plane's reads are instead shifted towards
        the frame by the gap at the edge, less and less over a zone of at most :data:`EDGE_ZONE` of the
        frame (a smoothstep, so the stretch has no crease), which ends :data:`EDGE_CLEAR` of the
        diagonal before the face mesh's outline in each row (:func:`face_rows`; beside the jaw the
        face is narrower than its box, and below the chin the body has the whole width), changing
        from row to row over :data:`EDGE_RAMP` of the diagonal at the quickest: the body and hair near
        the edge widen a little, the face does not move. The shift is also at most a quarter of the
        zone (less 8 px) times the plane's source pixels per target pixel at the edge, so the stretch
        stays within 1.6x of the plane's own; what it leaves of a wider gap fades as before. Below the
        frame the body already continues (``continue_below``).

        ``homography``: the person plane's (source -> target); ``mesh``: ``(468, 2+)`` target pixels.
        """
        H, W = self.size
        Hi = inverse_homography(homography)
        diagonal = float(np.hypot(H, W))
        clear = EDGE_CLEAR * diagonal
        y0 = mesh[:, 1].min()
        rows = np.arange(H, dtype=np.float64)
        cols = np.arange(W, dtype=np.float64)
        zones = [np.minimum(EDGE_ZONE * W, b - clear) for b in face_rows(mesh[:, :2], H, W)]
        # The zone's width changes from row to row no faster than over EDGE_RAMP of the diagonal (a
        # running minimum, then a running mean of the same reach: never wider than the rows' own
        # within `clear` of it, so the chin keeps its clearance too), and the stretch bends the body's
        # vertical lines only gently.
        reach = max(1, int(round(0.5 * EDGE_RAMP * diagonal)))
        window = 2 * (reach + int(np.ceil(clear))) + 1
        zones = [uniform_filter1d(minimum_filter1d(z, window, mode="nearest"), 2 * reach + 1, mode="nearest")
                 for z in zones]
        zones.append(np.full(W, min(EDGE_ZONE * H, y0 - clear)))

        def read(x, y, axis):  # source coordinate (frame pixels) read at target (x, y) by the plane
            w = Hi[2, 0] * x + Hi[2, 1] * y + 1.0
            return (Hi[axis, 0] * x + Hi[axis, 1] * y + Hi[axis, 2]) / w

        left, right, top = read(0.0, rows, 0), read(float(W - 1), rows, 0), read(cols, 0.0, 1)
        gaps = (-left, right - (W - 1), -top)
        # Source pixels per target pixel at each edge: the smoothstep takes at most 1.5 * shift / zone
        # off that slope, so a cap of a quarter of the zone times the slope keeps 0.625 of it (a stretch
        # of at most 1.6x the plane's own, zoomed in or not). The cap grows from nothing at a zone of
        # 8 px, so the shift has no step from row to row where the zone reaches that.
        slopes = (read(1.0, rows, 0) - left, right - read(float(W - 2), rows, 0), read(cols, 1.0, 1) - top)
        shifts = []
        for gap, zone, slope in zip(gaps, zones, slopes):
            zone = np.maximum(zone, 0.0)
            cap = np.minimum(EDGE_PULL * diagonal, np.maximum(zone - 8.0, 0.0) / 4.0 * np.maximum(slope, 0.0))
            shift = np.clip(gap, 0.0, cap)
            if shift.max() <= 0.0:
                shifts.append(None)
                continue
            shifts.append((shift.astype(np.float32), np.maximum(zone, 1.0).astype(np.float32)))
        if all(v is None for v in shifts):
            return None
        return EdgePull(W, H, *shifts)

    def head_side(self, target: np.ndarray, box: tuple, covered: np.ndarray, fx: np.ndarray,
                  fy: np.ndarray) -> np.ndarray:
        """``(h, w)`` uint8 over the face map's ``box``: 255 inside the face surface's ring
        :data:`SOLID_RING` as the target view projects it (antialiased), 0 outside and where the
        map (``fx``, ``fy`` in the renderer's source) reads outside the frame: beside or above it
        (where the person fades out), below it (where the body continues) or in the face atlas
        (inside the oval, opaque anyway).

        Between the face oval and that ring the surface is the side of the head: a view that turns
        it towards the camera magnifies what the source saw there, and where that was the wall beside
        the jaw (the neck is narrower than the jaw) the magnified read drew a notch of wall between
        the jaw and the neck (lp_d0 and lp_d9 under the arcs). ``soften_stretch`` closes the
        person's outline up to this ring where the read is magnified, with the skin's colour.
        """
        rows, cols = box
        n = len(self.surface.oval)
        first = self.surface.ring_start + SOLID_RING * n
        ring = target[first:first + n, :2] - (cols.start, rows.start)
        mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
        cv2.fillPoly(mask, [np.round(ring * 4).astype(np.int32)], 255, cv2.LINE_AA, 2)
        H, W = self.size
        M = self.margin
        mask[covered & ((fx < M) | (fx > M + W - 1) | (fy < M) | (fy > M + H - 1))] = 0
        return mask

    def unseen_face(self, layer: np.ndarray, src2d: np.ndarray, covered: np.ndarray, fx: np.ndarray,
                    fy: np.ndarray, ratio: np.ndarray) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
        """How much of each face pixel's read is face the source did not show, for :func:`soften_stretch`
        to fill with a smooth colour and mirrored texture: None, or ``(unseen, hair)``, float32 in
        [0, 1] over the face map's box (``hair`` None where there is none).

        ``unseen`` is 1 where the view turns towards a triangle the source saw facing away (its read
        is the mirror image of the skin or hair in front of it: beyond lp_s18's far cheek under
        arc-right a crescent of skin outside a band of hair), and, over hair that hung in front of the
        face (:func:`hair_over_face`, read through the map), ``hair``: from none where the view shows
        the source at :data:`UNSEEN_NONE` of its area or more to all at :data:`UNSEEN_FULL` or less,
        so a still camera, or hair the view does not enlarge, keeps the source's pixels; patches
        narrower than :data:`HAIR_SLIVER` are left as read. The hair takes the face's skin colour, the
        turned triangles that of what is around them.
        ``layer``: the frame's RGBA person layer and ``src2d`` its surface vertices (where the hair is
        looked for, only when the view enlarges some of the face); ``ratio``: :func:`face_map`'s source
        area per target area.
        """
        turned = covered & (ratio <= 0.0)
        over = None
        enlarging = covered & (ratio > 0.0) & (ratio < UNSEEN_NONE)
        hair = hair_over_face(layer, src2d, self.surface) if enlarging.any() else None
        if hair is not None:
            mask, hx, hy, scale = hair
            M, inv = self.margin, np.float32(1.0 / scale)
            # (grid cell j covers frame pixels scale * j .. scale * j + scale - 1: its centre is half a cell on)
            shift = np.float32(0.5 * (scale - 1))
            read = cv2.remap(mask, (fx - np.float32(M + hx) - shift) * inv, (fy - np.float32(M + hy) - shift) * inv,
                             cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if read.any():
                enlarged = 1.0 - smoothstep(np.clip((ratio - UNSEEN_FULL) * (1.0 / (UNSEEN_NONE - UNSEEN_FULL)),
                                                    0.0, 1.0))
                over = (read.astype(np.float32) * np.float32(1 / 255)) * enlarged.astype(np.float32)
                over[~covered] = 0.0
                # Not a sliver: one along the jaw's edge (lp_s18 under arc-down) came and went from frame
                # to frame, and its fill with it (boundary flicker 1.40 -> 1.50).
                over8 = cv2.morphologyEx(np.rint(over * 255.0).astype(np.uint8), cv2.MORPH_OPEN, HAIR_SLIVER)
                over = over8.astype(np.float32) * np.float32(1 / 255)
                if over.max() < 0.01:
                    over = None
        if over is None and not turned.any():
            return None
        unseen = np.zeros(covered.shape, np.float32) if over is None else over.copy()
        unseen[turned] = 1.0
        return unseen, over

    def oval_mask(self, target: np.ndarray, box: tuple) -> np.ndarray:
        """``(h, w)`` uint8 over the face map's ``box``: 255 inside the face oval as the target view projects it."""
        rows, cols = box
        mask = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
        oval = target[self.surface.oval, :2] - (cols.start, rows.start)
        cv2.fillPoly(mask, [np.round(oval * 4).astype(np.int32)], 255, cv2.LINE_8, 2)
        return mask

    def upsample(self, coarse: np.ndarray) -> np.ndarray:
        """Full-resolution ``(H, W)`` map from a coarse one (bilinear; borders extrapolated linearly)."""
        H, W = self.size
        s = self.scale
        if s == 1:
            return coarse
        full = cv2.resize(coarse, (coarse.shape[1] * s, coarse.shape[0] * s), interpolation=cv2.INTER_LINEAR)[:H, :W]
        # cv2.resize clamps beyond the outer grid points, which pulls the first and last
        # row and column half a cell inwards; extend the map's slope there instead.
        full[0] = 2 * full[1] - full[2]
        full[:, 0] = 2 * full[:, 1] - full[:, 2]
        full[-1] = 2 * full[-2] - full[-3]
        full[:, -1] = 2 * full[:, -2] - full[:, -3]
        return full

    def claim_missed(self, layer: np.ndarray) -> np.ndarray:
        """``layer`` with the person's alpha extended over what the matte missed beside it: pixels
        within :data:`MISSED_REACH` of the matte that differ from a well-seen plate of a still
        background by more than :data:`MISSED_DIFF` are not the wall (fingertips, strands of hair), and
        drawn on the background plane they would float away from the person. Found on a half-size grid
        (a missed finger is wider than 2 pixels) and closed into whole shapes; inside them each pixel's
        alpha grows with its own difference from the wall (from none at half of ``MISSED_DIFF`` to
        opaque at one and a half times it): a difference matte against the clean plate, so a
        motion-blurred hand stays soft.

        facecam_000 waves her hand and touches her hair: the selfie matte misses the moving fingers. A
        claim that also asked them to look like the person's colour beside them (within 25 levels of
        the matte's core around them) left the fingers at her blond hair to the background, and arc-up
        drew them as skin-coloured pieces beside her head; reaching half as far left the waving hand's
        fingers torn (``docs/evaluation.md``, "Fingers the matte missed").
        """
        if self.plate_ok is None:  # the background moves, or nothing of it is well seen
            return layer
        small = cv2.resize(layer, self.half, interpolation=cv2.INTER_AREA)
        person = small[..., 3] > 0
        diff = cv2.absdiff(small, self.plate_small)
        diff = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])
        missed = (diff > MISSED_DIFF) & self.plate_ok & ~person
        if not missed.any():
            return layer
        missed &= cv2.dilate(person.view(np.uint8), self.near_kernel) > 0
        if not missed.any():
            return layer
        # Whole shapes, not lace: a moving finger's blur is only partly unlike the wall.
        solid = cv2.morphologyEx(missed.view(np.uint8), cv2.MORPH_CLOSE, MISSED_CLOSE)
        solid[person] = 0  # still holds every missed pixel (none is the person's): never empty here
        # The alpha at full resolution: each pixel's own difference from the plate (a strand at the
        # hair's edge keeps its shape, not the half-size grid's blocks), inside those shapes widened
        # by a half-size pixel, over their box.
        H, W = self.size
        ys, xs = np.nonzero(solid)
        y0, y1 = max(0, 2 * int(ys.min()) - 4), min(H, 2 * int(ys.max()) + 6)
        x0, x1 = max(0, 2 * int(xs.min()) - 4), min(W, 2 * int(xs.max()) + 6)
        shapes = cv2.resize(cv2.dilate(solid, CLAIM_WIDEN) * np.uint8(255), (W, H),
                            interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
        diff = cv2.absdiff(layer[y0:y1, x0:x1], self.plate[y0:y1, x0:x1])
        diff = np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]).astype(np.float32)
        strength = np.clip((diff - MISSED_DIFF / 2) * (1.0 / MISSED_DIFF), 0.0, 1.0)
        out = layer.copy()
        alpha = out[y0:y1, x0:x1, 3]
        np.maximum(alpha, (shapes * strength).astype(np.uint8), out=alpha)
        return out

    def wall_behind(self) -> None:
        """Under the person's rim, where the plate is unsure (a wall the person always hid, a moving
        background), put the frame's own wall mirrored across the nearest pixel of it that the person
        leaves clear, fading into the plate over :data:`BEHIND_DEPTH` of the diagonal, in place in
        ``self.region``.

        The plate there is a smooth fill (or, behind a hand-held subject, the mean of frames that do
        not line up): around lp_s18's head it drew a pale band as wide as the matte's soft rim, under
        a still camera too. The mirrored wall has the colours and texture right beside the person.
        The cost is temporal: the mirror follows the matte's outline from frame to frame, where the
        plate stood still, so the boundary flicker rises (``benchmarks/warp_quality.py``, 81 frames:
        under a still camera lp_s18 1.068 -> 1.204 while its PSNR against the input rose 37.1 -> 41.1
        dB; on the 24 arcs by up to 0.11). Reaching 0.10 of the diagonal instead of 0.03, lp_d9
        arc-down's flicker rose to 2.020 instead of 1.800; a narrower reach (0.009 plus a 0.007 fade),
        on this grid or at full resolution, did not lower it (lp_s18 arc-up 1.374 and 1.367, against
        1.374). Found on the half-size grid and upsampled: a band of wall needs no finer detail.
        """
        w, h = self.half
        core = cv2.resize(self.core, (w, h), interpolation=cv2.INTER_NEAREST)
        if not core.any() or core.all():
            return
        distance, nearest = nearest_clear(core)
        near = (core > 0) & self.plate_unsure & (distance < self.behind_depth)
        if not near.any():
            return
        p = np.flatnonzero(near.ravel())
        q = nearest.ravel()[p]
        py, px = np.divmod(p, w)
        qy, qx = np.divmod(q, w)
        if ROW_MIRROR > 0:  # along the row where that finds the wall nearly as near (ROW_MIRROR)
            row_x, row_d = row_nearest_clear(core, py, px)
            along = row_d <= ROW_MIRROR * np.maximum(distance.ravel()[p], 1.0)
            qy, qx = np.where(along, py, qy), np.where(along, row_x, qx)
        ry, rx = 2 * qy - py, 2 * qx - px
        usable = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
        r = np.clip(ry, 0, h - 1) * w + np.clip(rx, 0, w - 1)
        usable &= core.ravel()[r] == 0
        small = cv2.resize(self.region, (w, h), interpolation=cv2.INTER_AREA)  # the frame, the plate under the core
        u = np.clip(distance.ravel()[p] / self.behind_depth, 0.0, 1.0)
        weight = np.zeros((h, w), np.float32)
        weight.ravel()[p] = (1.0 - smoothstep(u)) * usable
        mirrored = np.zeros_like(small)
        packed = mirrored.view(np.uint32).reshape(h, w)  # one RGBA pixel per element: one gather
        packed.ravel()[p] = small.view(np.uint32).ravel()[r]
        # Upsampled over the box of the pixels that take it (2 full-size pixels per half-size one), weighted
        # (premultiplied): a pixel beside one that takes no mirror read (its own colour, the person's hair,
        # under weight 0) took part of that colour under the weight interpolated between them, a dark line
        # that the arc moved off the head into the wall (the cartoon's "crack" beside its hair).
        by0, by1, bx0, bx1 = py.min(), py.max() + 1, px.min(), px.max() + 1
        y0, x0 = 2 * by0, 2 * bx0
        y1, x1 = min(self.size[0], 2 * by1), min(self.size[1], 2 * bx1)
        size = (2 * (bx1 - bx0), 2 * (by1 - by0))
        box_w = weight[by0:by1, bx0:bx1]
        full_w = cv2.resize(box_w, size, interpolation=cv2.INTER_LINEAR)[:y1 - y0, :x1 - x0]
        premultiplied = cv2.multiply(cv2.cvtColor(mirrored[by0:by1, bx0:bx1], cv2.COLOR_RGBA2RGB),
                                     cv2.merge([box_w] * 3), dtype=cv2.CV_32F)
        full_m = cv2.resize(premultiplied, size, interpolation=cv2.INTER_LINEAR)[:y1 - y0, :x1 - x0]
        region = self.region[y0:y1, x0:x1]
        # (OpenCV's per-channel arithmetic: numpy's over a last axis of 3 runs several times slower)
        mixed = cv2.multiply(cv2.cvtColor(region, cv2.COLOR_RGBA2RGB), cv2.merge([1.0 - full_w] * 3),
                             dtype=cv2.CV_32F)
        mixed += full_m
        mixed += 0.5
        rgba = cv2.cvtColor(np.clip(mixed, 0, 255, out=mixed).astype(np.uint8), cv2.COLOR_RGB2RGBA)
        cv2.insertChannel(cv2.extractChannel(region, 3), rgba, 3)
        region[...] = rgba

    def refresh_margins(self) -> None:
        """On a moving background, make the canvas's margin next to the frame this frame's mirror image,
        fading over :data:`MARGIN_BAND` of the diagonal into the clip's mirrored plate, in place.

        The margin mirrors the plate, a mean of frames that a hand-held camera did not line up: where
        a view shows beyond the frame, a seam ran along the frame's edge (lp_s18 under pan-up: the
        plant above her head broken at the top edge). Next to the edge, the frame's own mirror image
        continues it without one.
        """
        B = self.margin_band
        if not B:
            return
        H, W = self.size
        ox, oy = self.offset
        canvas, static, region = self.canvas, self.static_canvas, self.region
        Hc, Wc = canvas.shape[:2]
        u = np.arange(1, B + 1, dtype=np.float32) / np.float32(B)
        weight = 1.0 - smoothstep(u)  # k + 1 pixels beyond the edge
        sides = (  # (canvas band, this frame's rows or columns mirrored into it, along axis)
            (np.s_[max(0, oy - B):oy, ox:ox + W], lambda n: region[:n][::-1], 0),
            (np.s_[oy + H:min(Hc, oy + H + B), ox:ox + W], lambda n: region[H - n:][::-1], 0),
            (np.s_[oy:oy + H, max(0, ox - B):ox], lambda n: region[:, :n][:, ::-1], 1),
            (np.s_[oy:oy + H, ox + W:min(Wc, ox + W + B)], lambda n: region[:, W - n:][:, ::-1], 1),
        )
        for k, (band, mirrored, axis) in enumerate(sides):
            n = canvas[band].shape[axis]
            if n == 0 or n > (H, W)[axis]:
                continue
            w = weight[:n] if k % 2 else weight[:n][::-1]  # nearest the frame first
            w = w[:, None, None] if axis == 0 else w[None, :, None]
            mixed = static[band].astype(np.float32)
            mixed += w * (mirrored(n).astype(np.float32) - mixed)
            canvas[band] = (mixed + 0.5).astype(np.uint8)

    def background_region(self, layer: np.ndarray) -> np.ndarray:
        """Make the canvas's frame region (``self.region``) this frame's wall, and its margins; returns
        ``layer`` with what the matte missed beside the person claimed (:meth:`claim_missed`).

        The wall is this frame where it is visible and the plate where the person covers it, even
        partly (the feathered rim holds hair and skin: on the background plane it would draw a ghost
        outline of the person wherever the two planes part), widened by 4 pixels so that hair the
        matte missed at its edge is not drawn again on the background; under the person's rim, where
        the plate is unsure, the frame's wall mirrored (:meth:`wall_behind`).
        """
        layer = self.claim_missed(layer)
        cv2.compare(cv2.extractChannel(layer, 3), 0, cv2.CMP_GT, dst=self.core)
        cv2.dilate(self.core, PLATE_CLEARANCE, dst=self.core)
        np.copyto(self.region, layer)
        cv2.copyTo(self.plate, self.core, self.region)
        self.wall_behind()
        self.refresh_margins()
        return layer

    def render(self, layer: np.ndarray, src2d: np.ndarray, world: np.ndarray, camera: PinholeCamera,
               person_h: np.ndarray, bg_h: np.ndarray) -> np.ndarray:
        """One output frame ``(H, W, 3)`` uint8 from the frame's RGBA person layer ``(H, W, 4)``."""
        H, W = self.size

        layer = self.background_region(layer)
        bx, by = (self.upsample(m) for m in self.plane_map(bg_h, self.offset))
        background = cv2.remap(self.canvas, bx, by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        # Person plane, with the face surface's own map where it covers the target.
        M = self.margin
        px, py = self.plane_map(person_h, (M, M))
        target = project(world, camera)
        pull = self.edge_pull(person_h, target[:self.surface.ring_start])
        if pull is not None:
            pull.apply(px, py, self.xs, self.ys)
        # Which margins the reads reach (a coarse map's upsampling extrapolates by up to half a cell; a
        # cubic read touches 2 pixels beyond its position): only those are filled this frame.
        slack = self.scale + 2
        reach_lo_x, reach_hi_x, reach_lo_y = px.min() - slack, px.max() + slack, py.min() - slack
        px, py = self.upsample(px), self.upsample(py)
        np.minimum(px, W + 2 * M + 1, out=px)  # beyond the margin's right edge: the transparent gap, never the atlas
        atlas_ok = None if self.atlas is None else self.atlas.matches(self.atlas.shape_of(world))
        # The face map marks its atlas reads by ATLAS_TAG (far beyond any frame read) and they are
        # moved to the atlas's place here: a frame read beyond the right edge (a close-up's rings)
        # is then never taken for one (it read the atlas's pixels, or the gap before it).
        face = face_map(src2d, target, self.surface, self.full_xs, self.full_ys, self.atlas, ATLAS_TAG, atlas_ok,
                        with_blend=True, with_ratio=True)
        blend = hidden = None
        if face is not None:
            box, covered, fx, fy, blend, ratio = face
            # Frame reads move by the margin; beside and above the frame the face surface reads the
            # margin (the person continued there, fading out) like the plane does, and beyond it
            # nothing. Below the frame it continues as the body does.
            on_atlas = fx >= 0.5 * ATLAS_TAG
            in_frame = ~on_atlas
            fx -= np.float32(ATLAS_TAG - self.atlas_x) * on_atlas
            fx += np.float32(M) * in_frame
            fy += np.float32(M) * in_frame
            if pull is not None:  # the rings around the face stretch with the plane they join (none in the mesh)
                pull.apply(fx, fy, self.full_xs[box[1]], self.full_ys[box[0]], where=in_frame)
            np.minimum(fx, W + 2 * M + 1, out=fx, where=in_frame)
            reads = covered & in_frame
            if reads.any():
                # (masked reductions: no copy of the reads)
                reach_lo_x = min(reach_lo_x, np.min(fx, where=reads, initial=np.inf) - 2)
                reach_hi_x = max(reach_hi_x, np.max(fx, where=reads, initial=-np.inf) + 2)
                reach_lo_y = min(reach_lo_y, np.min(fy, where=reads, initial=np.inf) - 2)
            if blend is not None:
                np.subtract(blend[2], np.float32(ATLAS_TAG - self.atlas_x), out=blend[2])  # all atlas reads
            np.copyto(px[box], fx, where=covered)
            np.copyto(py[box], fy, where=covered)
            hidden = self.unseen_face(layer, src2d, covered, fx, fy, ratio) if self.hidden_face else None
        # Below the frame the body continues without fading (margins beside included): its outline
        # goes straight down (the last row's alpha) and its colours come from the band of rows above
        # the edge, reflected back and forth (continue_below).
        He, We = H + M, W + 2 * M  # the frame with its margins, in the source image
        rows = np.flatnonzero(py.max(axis=1) > He - 1)
        below_rows = below = texture_y = None
        if rows.size:
            below_rows = slice(rows[0], H)
            bx_, by_ = px[below_rows], py[below_rows]
            below = (by_ > He - 1) & (bx_ >= 0) & (bx_ <= We - 1)
            texture_y = np.where(below, below_band_rows(by_, He, self.band), by_)
            depth_below = np.where(below, by_ - np.float32(He - 1), np.float32(0))
            by_[below] = He - 1
        depth = (M - reach_lo_x, reach_hi_x - (W - 1 + M), M - reach_lo_y)
        extend_beyond(layer, self.extended, self.band, self.reach,
                      tuple(int(np.clip(np.ceil(d), 0, M)) for d in depth))
        layer = self.source
        person = cv2.remap(layer, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        fold_region = None
        if face is not None:
            # The face is read again bicubically: bilinear reads at fractional positions average
            # neighbouring pixels, which wipes out the skin's fine texture (pores, noise) and left
            # smooth, flat patches where the view enlarges the face (arc-up: flat/smeared face
            # area 0.061 -> 0.042 above the input's on facecam_000, 49 frames). Only the mesh's own box (not
            # the rings around it): the cubic read costs about twice the bilinear one.
            mesh = target[:self.surface.ring_start]
            x0, y0 = np.floor(mesh[:, :2].min(axis=0)).astype(int)
            x1, y1 = np.ceil(mesh[:, :2].max(axis=0)).astype(int) + 1
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
            if x1 > x0 and y1 > y0:
                fold_region = (y0, y1, x0, x1)
                box = (slice(y0, y1), slice(x0, x1))
                person[box] = cv2.remap(layer, np.ascontiguousarray(px[box]), np.ascontiguousarray(py[box]),
                                        cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

        if blend is not None:
            # Rims of the atlas's regions: the frame's read mixed with the atlas's.
            sub, weight, ax, ay = blend
            read = cv2.remap(layer, ax, ay, cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            w = cv2.merge([weight] * 4)
            mixed = person[sub].astype(np.float32)
            mixed += w * (read.astype(np.float32) - mixed)
            person[sub] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        if face is not None:
            if fold_region is not None:
                smooth_folds(person, *face[:4], in_frame, fold_region)
            unseen, over = (None, None) if hidden is None else hidden
            soften_stretch(person, *face[:4], layer, self.head_side(target, *face[:4]), unseen, over,
                           None if hidden is None else self.oval_mask(target, face[0]))
        if below is not None and below.any():
            continue_below(person[below_rows], self.extended, px[below_rows], texture_y, below, self.band,
                           depth_below)
        alpha = cv2.extractChannel(person, 3).astype(np.float32)
        alpha *= 1.0 / 255.0
        blended = cv2.blendLinear(person, background, alpha, 1.0 - alpha)
        return cv2.cvtColor(blended, cv2.COLOR_RGBA2RGB)


def face_rows(mesh: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of an ``(H, W)`` frame, the room ``(H,)`` left and right of the face: the distance from
    the frame's left edge to the mesh's convex hull, and from the hull to the right edge. Rows above
    the hull take the room beside the mesh's box (the hair around the forehead); rows below it (the
    neck and body) the whole width."""
    hull = cv2.convexHull(mesh.astype(np.float32)).reshape(-1, 2)
    y0, y1 = hull[:, 1].min(), hull[:, 1].max()
    left, right = np.full(H, float(W)), np.full(H, float(W))
    top = max(0, int(np.ceil(y0)))
    left[:top] = hull[:, 0].min()
    right[:top] = W - 1 - hull[:, 0].max()
    ys = np.arange(top, min(H, int(np.floor(y1)) + 1), dtype=np.float64)
    if ys.size:
        # Where each row crosses the hull's edges (a convex polygon: the leftmost and rightmost crossing).
        a, b = hull, np.roll(hull, -1, axis=0)
        lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
        crosses = (ys[:, None] >= lo) & (ys[:, None] <= hi) & (hi > lo)
        t = (ys[:, None] - a[:, 1]) / np.where(b[:, 1] != a[:, 1], b[:, 1] - a[:, 1], 1.0)
        x = a[:, 0] + t * (b[:, 0] - a[:, 0])
        xl = np.where(crosses, x, np.inf).min(axis=1)
        xr = np.where(crosses, x, -np.inf).max(axis=1)
        ok = np.isfinite(xl)
        left[ys[ok].astype(int)] = xl[ok]
        right[ys[ok].astype(int)] = W - 1 - xr[ok]
    return left, right


class EdgePull:
    """A stretch of the person plane's reads towards the frame's left, right and top edges
    (:meth:`FrameRenderer.edge_pull`): each edge's shift and the width of the zone it fades over, per
    target row (per column for the top), or None."""

    def __init__(self, W: int, H: int, left, right, top) -> None:
        self.W, self.H = W, H
        self.left, self.right, self.top = left, right, top

    @staticmethod
    def _fade(distance: np.ndarray, zone: np.ndarray) -> np.ndarray:
        return (1.0 - smoothstep(np.clip(distance / zone, 0.0, 1.0))).astype(np.float32)

    def apply(self, mx: np.ndarray, my: np.ndarray, xs: np.ndarray, ys: np.ndarray,
              where: Optional[np.ndarray] = None) -> None:
        """Shift the backward maps ``mx``, ``my`` ``(len(ys), len(xs))`` read at target columns ``xs`` and
        rows ``ys`` (both increasing), in place (only at ``where`` when given). Only the columns (rows)
        within a zone's reach are worked on."""
        rows = np.clip(np.round(ys).astype(int), 0, self.H - 1)
        cols = np.clip(np.round(xs).astype(int), 0, self.W - 1)
        parts = []  # (map, slice of it, shift)
        if self.left is not None:
            shift, zone = self.left
            n = int(np.searchsorted(xs, zone.max()))
            part = np.s_[:, :n]
            parts.append((mx, part, shift[rows, None] * self._fade(xs[None, :n], zone[rows, None])))
        if self.right is not None:
            shift, zone = self.right
            n = int(np.searchsorted(xs, np.float32(self.W - 1) - zone.max()))
            part = np.s_[:, n:]
            parts.append((mx, part, -shift[rows, None] * self._fade(np.float32(self.W - 1) - xs[None, n:],
                                                                    zone[rows, None])))
        if self.top is not None:
            shift, zone = self.top
            n = int(np.searchsorted(ys, zone.max()))
            part = np.s_[:n, :]
            parts.append((my, part, shift[None, cols] * self._fade(ys[:n, None], zone[None, cols])))
        for target, part, delta in parts:
            if where is None:
                target[part] += delta
            else:
                np.add(target[part], delta, out=target[part], where=where[part])


def extend_beyond(layer: np.ndarray, out: np.ndarray, band: float, reach: float,
                  depths: Optional[tuple[int, int, int]] = None) -> None:
    """Write the RGBA ``layer`` ``(H, W, 4)`` into ``out`` ``(H + M, W + 2M, 4)`` at ``(M, M)`` and fill the
    margins beside and above it (M = ``out``'s top margin) with the person continued beyond the frame.

    A close-up's person is cut by the frame's sides: a zoom-out or a pan showed that cut as a
    straight line down the hair or the shoulder (and the face surface's outer ring, clamped to the
    edge, drew its last column as horizontal streaks). In the margin the outline goes straight on
    (the edge column's alpha, or row's above) and fades to nothing at ``reach`` pixels from the
    edge; the colour is the edge's own, smoothed, plus the fine detail of the ``band`` columns (rows)
    inside the edge, mirrored back and forth, as :func:`continue_below` does below the frame. A plain
    mirror drew a ghost of whatever lay near the edge without touching it (the top of a head just
    inside the frame floated above it upside down; an earring came twice).

    ``depths`` (left, right, top; default the whole margin) says how many columns (rows) of each
    margin next to the frame to fill, those the reads reach; the rest keep what they held.
    """
    H, W = layer.shape[:2]
    M = out.shape[0] - H
    out[M:, M:M + W] = layer
    if M == 0:
        return
    u = np.clip(np.arange(1, M + 1, dtype=np.float32) / np.float32(reach), 0.0, 1.0)
    fade = 1.0 - smoothstep(u)  # no crease where the frame ends or the fade does
    left, right, top = (M, M, M) if depths is None else depths
    rows = out[M:]
    if left:
        rows[:, M - left:M] = _continued(layer[:, :min(W, M)], band, fade[:left])[:, ::-1]
    if right:
        rows[:, M + W:M + W + right] = _continued(layer[:, ::-1][:, :min(W, M)], band, fade[:right])
    if top:  # from the rows below the margin, margins beside included, so the corners fade both ways
        out[M - top:M] = _continued(rows[:min(H, M)].transpose(1, 0, 2), band, fade[:top]).transpose(1, 0, 2)[::-1]


def _continued(strip: np.ndarray, band: float, fade: np.ndarray) -> np.ndarray:
    """``(n, len(fade), 4)`` uint8: what lies beyond an edge, column ``k`` at ``k + 1`` pixels from it, for
    a strip ``(n, w, 4)`` whose column 0 is the edge and whose columns go inwards (extend_beyond)."""
    n, w = strip.shape[:2]
    m = len(fade)
    span = int(min(round(band), w - 1))
    strip = strip[:, :min(w, span + 1 + int(np.ceil(3 * BELOW_SMOOTH)))]  # what the colour and detail need
    smooth, detail = colour_and_detail(strip)
    k = np.arange(1, m + 1)
    cols = span - np.abs(span - np.mod(k, 2 * span)) if span > 0 else np.zeros(m, int)
    out = np.empty((n, m, 4), np.uint8)
    # The edge's colour, averaged along it over a width that grows with the distance from it (as the
    # outline's alpha is below): the edge's stripes (a sleeve's) would go on as streaks.
    r = (SPREAD * k).astype(np.int64)
    edge = spread_table(smooth[:, 0], np.float32(1 / 255) * strip[:, 0, 3].astype(np.float32), int(r[-1]))
    out[..., :3] = np.clip(edge[:, r].transpose(2, 1, 0) + detail[:, cols] + 0.5, 0, 255)
    # The outline goes straight on, rounded: at k pixels from the edge the edge's alpha is averaged along
    # it over k + 1 pixels, so a strand of hair touching the edge continues as a fading glow rather than
    # as a box with square corners.
    edge_alpha = np.pad(strip[:, 0, 3].astype(np.float32), (m + 1, m + 1), mode="edge")
    total = np.concatenate([[0.0], np.cumsum(edge_alpha, dtype=np.float64)])
    i = np.arange(n)[:, None] + (m + 1)
    mean = (total[i + r + 1] - total[i - r]) / (2 * r + 1)
    out[..., 3] = np.clip(mean * fade + 0.5, 0, 255)
    return out


SPREAD = 0.5  # pixels along an edge per pixel beyond it: the half width over which its colour is averaged there


def spread_table(colour: np.ndarray, weight: np.ndarray, radii: int) -> np.ndarray:
    """``(C, radii + 1, n)`` float32: for each radius r and pixel i of a row of pixels ``colour``
    ``(n, C)``, the mean of its ``2 r + 1`` pixels centred on i weighted by ``weight`` ``(n,)`` (the row's
    ends repeat beyond it), or pixel i's own colour where the weight there is (nearly) nothing."""
    n, C = colour.shape
    pad = radii + 1
    # The row and its weight with their ends repeated (np.pad's own overhead is several times this work).
    ends = np.concatenate([np.zeros(pad, np.int64), np.arange(n), np.full(pad, n - 1)])
    w = weight.astype(np.float64)[ends]
    sums = np.zeros((C + 1, len(w) + 1))
    np.cumsum(colour.astype(np.float64)[ends] * w[:, None], axis=0, out=sums[:C, 1:].T)
    np.cumsum(w, out=sums[C, 1:])
    r = np.arange(radii + 1)
    box = np.empty((C + 1, radii + 1, n))  # box sums: one subtraction of two slices per radius
    for k in r:
        np.subtract(sums[:, pad + 1 + k:pad + 1 + k + n], sums[:, pad - k:pad - k + n], out=box[:, k])
    total = box[C]
    enough = total > 1e-3 * (2 * r + 1)[:, None]
    mean = (box[:C] / np.maximum(total, 1e-9)).astype(np.float32)
    np.copyto(mean, colour.T.astype(np.float32)[:, None, :], where=~enough)
    return mean


def colour_and_detail(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split an RGBA uint8 ``strip`` ``(n, w, 4)`` into its colour, smoothed over :data:`BELOW_SMOOTH`
    pixels and weighted by alpha (so the wall beside an outline does not tint it), and its fine detail
    ``(n, w, 3)`` float32 each; the detail is 0 at a strong edge (more than :data:`BELOW_DETAIL` grey
    levels, and 2 pixels around it: a collar) and where the strip is mostly transparent, so that
    continuing it beyond the frame (continue_below, extend_beyond) repeats texture, not edges."""
    # (OpenCV's per-channel arithmetic: numpy's over a last axis of 3 runs several times slower)
    n, w = strip.shape[:2]
    alpha = cv2.extractChannel(strip, 3).astype(np.float32) * np.float32(1 / 255)
    rgb = cv2.cvtColor(strip, cv2.COLOR_RGBA2RGB).astype(np.float32)
    weight = np.maximum(cv2.GaussianBlur(alpha, (0, 0), BELOW_SMOOTH), np.float32(1e-3))
    smooth = cv2.divide(cv2.GaussianBlur(cv2.multiply(rgb, cv2.merge([alpha] * 3)), (0, 0), BELOW_SMOOTH),
                        cv2.merge([weight] * 3)).reshape(n, w, 3)
    edge = cv2.dilate((channel_max(cv2.absdiff(rgb, smooth)) > BELOW_DETAIL).view(np.uint8), np.ones((5, 5), np.uint8))
    keep = ((edge == 0) & (alpha >= 0.5)).view(np.uint8)
    detail = cv2.subtract(rgb, smooth, mask=keep).reshape(n, w, 3)  # 0 outside the mask
    return smooth, detail


FOLD_JUMP = (3.5, 6.0)  # times the face's median step between neighbouring pixels' reads: no fold .. a fold
FOLD_BLUR = 1.5   # pixels: the Gaussian's sigma that fills a fold's band from both of its sides
FOLD_BAND = np.ones((3, 3), np.uint8)  # the band: the pixels on both sides of the jump and one more each way


def smooth_folds(person: np.ndarray, box: tuple, covered: np.ndarray, fx: np.ndarray, fy: np.ndarray,
                 same: np.ndarray, region: tuple) -> None:
    """Where the face surface folds over itself in the view (the nose in front of the far cheek, the jaw
    in front of the neck), fill the pixels along the fold's edge from both sides of it, in place.

    There the read jumps: neighbouring output pixels read source pixels far apart (the surface between
    them is hidden), and the last pixels of the front surface read the part of the source it showed
    nearly edge-on, squeezed into a line. The source's shading there (the shadow down a frontal nose's
    flank) came out as a dark crack, and the edge itself as the index buffer's stair steps (the demo's
    arc-left: a crack from the far eye down the nose). A jump is a step between 4-neighbours of
    :data:`FOLD_JUMP` times the face's median step (from none at the first figure to a whole fold at the
    second), between two covered pixels that read the same image (``same``: bool, the box's shape; an
    atlas region's rim is not a fold); the band is its two pixels widened by :data:`FOLD_BAND`, and
    there the read gives way, as much as the pixel is a fold, to the Gaussian-weighted
    (:data:`FOLD_BLUR`) mean colour of the opaque pixels beside the band. Alpha stays as it was.

    ``person``: the output's RGBA person image; ``box``, ``covered``, ``fx``, ``fy``: the face map
    (:func:`face_map` on the full grid); ``region``: ``(y0, y1, x0, x1)`` output pixels to look in (the
    face mesh's box: the rings beyond it read hair and wall, whose jumps are the outline's own).
    """
    by, bx = box[0].start, box[1].start
    pad = int(np.ceil(3 * FOLD_BLUR)) + 1
    y0, y1 = max(region[0] - pad, by), min(region[1] + pad, box[0].stop)
    x0, x1 = max(region[2] - pad, bx), min(region[3] + pad, box[1].stop)
    if y1 - y0 < 3 or x1 - x0 < 3:
        return
    here = np.s_[y0 - by:y1 - by, x0 - bx:x1 - bx]
    cov, mx, my, kind = covered[here], fx[here], fy[here], same[here]
    if not cov[::2, ::2].any():
        return
    jump = np.zeros(cov.shape, np.float32)  # the longest step to a 4-neighbour, squared
    for axis in (0, 1):
        a, b = (np.s_[:-1], np.s_[1:]) if axis == 0 else (np.s_[:, :-1], np.s_[:, 1:])
        dx, dy = np.subtract(mx[b], mx[a]), np.subtract(my[b], my[a])
        step = cv2.add(cv2.multiply(dx, dx), cv2.multiply(dy, dy))
        step[~(cov[a] & cov[b] & (kind[a] == kind[b]))] = 0.0
        np.maximum(jump[a], step, out=jump[a])
        np.maximum(jump[b], step, out=jump[b])
    typical = float(np.median(jump[::4, ::4][cov[::4, ::4]])) if cov[::4, ::4].any() else 1.0
    lo, hi = FOLD_JUMP
    found = jump > (lo * lo) * max(typical, 1e-6)
    if not found.any():
        return
    # Only the folds' own box (and the blur's reach) is worked on.
    cx, cy, cw, ch = cv2.boundingRect(found.view(np.uint8))
    u0, u1 = max(cy - pad, 0), min(cy + ch + pad, found.shape[0])
    v0, v1 = max(cx - pad, 0), min(cx + cw + pad, found.shape[1])
    # How much of a fold each pixel is rises smoothly with the jump, so that a jump near the threshold
    # does not switch the fill on and off from frame to frame (boundary flicker).
    steps = np.sqrt(jump[u0:u1, v0:v1] * np.float32(1.0 / max(typical, 1e-6)))
    share = smoothstep(np.clip((steps - lo) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)).astype(np.float32)
    band = cv2.dilate(share, FOLD_BAND)
    part = person[y0 + u0:y0 + u1, x0 + v0:x0 + v1]
    rgb = cv2.cvtColor(part, cv2.COLOR_RGBA2RGB).astype(np.float32)
    weight = (1.0 - band) * (part[..., 3] > 127)
    total = cv2.GaussianBlur(weight, (0, 0), FOLD_BLUR)
    colour = cv2.divide(cv2.GaussianBlur(cv2.multiply(rgb, cv2.merge([weight] * 3)), (0, 0), FOLD_BLUR),
                        cv2.merge([np.maximum(total, np.float32(1e-3))] * 3))
    share = band * np.minimum(total * np.float32(1 / 0.05), 1.0)  # (no colour to take: as read)
    fill = share > 0
    mixed = rgb[fill] + share[fill, None] * (colour[fill] - rgb[fill])
    part[fill, :3] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


STRETCH_GRID = 4     # pixels: the face map's stretch is measured on this coarser grid
STRETCH_LOW, STRETCH_HIGH = 0.15, 0.35  # source px per output px in the most magnified direction: all fill .. none
STRETCH_BLUR = 5.0   # pixels: the Gaussian's sigma that smooths a stretched read's streaks
STRETCH_FADE = 4.0   # pixels: the fill's weight is smoothed over this, so triangle edges leave no step
OPAQUE_REACH = 0.002  # share of the opaque core under the Gaussian below which smoothed() mixes in the plain mean
STRETCH_RIM = 6      # pixels: opaque source pixels this close to the matte's edge give a stretched fill no colour
STRETCH_GRAIN = 8    # grey levels: the mirrored detail is limited to this (skin's texture, not a mole or a strand)
STRETCH_EDGE = np.ones((5, 5), np.uint8)  # detail this close to an edge's (beyond 2 * STRETCH_GRAIN) is dropped too


def soften_stretch(person: np.ndarray, box: tuple, covered: np.ndarray, fx: np.ndarray, fy: np.ndarray,
                   source: np.ndarray, solid: Optional[np.ndarray] = None,
                   unseen: Optional[np.ndarray] = None, hair: Optional[np.ndarray] = None,
                   face: Optional[np.ndarray] = None) -> None:
    """Where the face surface magnifies its source strongly in some direction, replace the streaks with
    a smooth colour and the texture of the nearest unstretched face, mirrored, in place.

    ``person`` is the output's RGBA person image; ``box``, ``covered``, ``fx``, ``fy`` the face map
    (:func:`face_map` on the full grid) into the RGBA ``source`` image. The map's least singular
    value (source pixels per target pixel in its most magnified direction) below
    :data:`STRETCH_HIGH` marks a read stretched out of a few source pixels: the side of the head
    that a frontal source saw edge-on, turned towards the camera by an arc, which the read draws as
    parallel streaks. There the colour is the read's, smoothed (:func:`smoothed`), plus what that
    smoothing takes out of the source (at most :data:`STRETCH_GRAIN`), read at full scale beyond
    the source pixel of the nearest unstretched one and mirrored across it: the face's own texture
    and grain, which a magnified read has lost. Strong edges at least 3 pixels across (a glasses'
    arm seen along its length) stay as read. The outline is mended with twice the fill's weight:
    the matte's gaps are closed (:func:`close_gaps`; a notch of wall under the ear, magnified, was a
    hole in the cheek), the added opacity and the soft rim's read (part wall) take the fill's colour.
    The map is sampled every :data:`STRETCH_GRID` pixels, counted only where its gradient saw covered
    pixels on both sides, and only the pixels the fill reaches are worked on.

    ``solid`` (uint8, the box's shape: :meth:`FrameRenderer.head_side`) marks where the outline is
    closed whatever the gap's width: the side of the head, where the read is wall beside the jaw.
    ``unseen`` (float32 in [0, 1], the box's shape: :meth:`FrameRenderer.unseen_face`) is filled the
    same way whatever the stretch, strong edges included: face the source did not show (it faced
    away, or hair hung over it); its read (where ``unseen`` exceeds :data:`UNSEEN_COLOUR`) gives the
    fill no colour, and its texture is the finest
    grain (:data:`UNSEEN_GRAIN`) mirrored from inside ``face`` (uint8, the box's shape, the face oval
    as the target view projects it). Where ``hair`` (the part of ``unseen`` that was hair over the
    face) the fill's colour is the skin's: that of ``face`` where the read shows skin (opaque, not
    unseen, and not darker than :data:`HAIR_DARK` of its median lightness).
    """
    q = STRETCH_GRID
    h, w = covered.shape
    cq = covered[::q, ::q]
    dx_dy, dx_dx = np.gradient(fx[::q, ::q], float(q))
    dy_dy, dy_dx = np.gradient(fy[::q, ::q], float(q))
    squares = dx_dx * dx_dx + dx_dy * dx_dy + dy_dx * dy_dx + dy_dy * dy_dy
    det = np.abs(dx_dx * dy_dy - dx_dy * dy_dx)
    largest = np.sqrt(0.5 * (squares + np.sqrt(np.maximum(squares * squares - 4.0 * det * det, 0.0))))
    least = det / np.maximum(largest, 1e-6)
    weight = 1.0 - smoothstep(np.clip((least - STRETCH_LOW) / (STRETCH_HIGH - STRETCH_LOW), 0.0, 1.0))
    # Only where the gradients saw the surface on both sides: at its edge they span the jump to the
    # uncovered pixels' zeros, which reads as a stretch (the top of a head under a still camera).
    inside = cv2.erode(cq.astype(np.uint8), np.ones((3, 3), np.uint8))  # (the box's edge: one-sided, fine)
    weight = np.where(inside > 0, weight, 0.0).astype(np.float32)
    if unseen is not None:
        if hair is not None:
            # Hair is widened: the fill's soft edge then lies on the skin beside it, not on the hair's own
            # edge (a dark line along it). What the source saw facing away is not: it changes from frame
            # to frame with the landmarks, and a wider fill followed it (boundary flicker on the cartoon's
            # arc-down 1.30 -> 1.43). The hair's share sets the fill's colour pixel by pixel: smoothed, its
            # square corners draw no blocks.
            hair = widened(hair, UNSEEN_WIDEN * q, float(q))
            unseen = np.maximum(unseen, hair)
        np.maximum(weight, unseen[::q, ::q], out=weight)
    weight = cv2.GaussianBlur(weight, (0, 0), STRETCH_FADE / q) * cq
    # Anchors: unstretched face surface over the person (its outer rings also lie over the wall).
    clear = ((weight < 0.05) & cq & (person[box][::q, ::q, 3] > 127)).astype(np.uint8)
    if weight.max() < 0.05 or not clear.any():
        return
    # Each stretched pixel reads the source's detail at its mirror image across the nearest clear cell's
    # source pixel, at full scale: offsets in the output are offsets in the source.
    ay, ax = np.divmod(nearest_clear(1 - clear)[1], clear.shape[1])
    if unseen is not None and face is not None:
        # Face the source did not show mirrors the face's own skin, not the hair beyond its outline.
        skin_clear = clear & (face[::q, ::q] > 0)
        if skin_clear.any():
            sy, sx = np.divmod(nearest_clear(1 - skin_clear)[1], clear.shape[1])
            on_face = unseen[::q, ::q] >= 0.5
            ay, ax = np.where(on_face, sy, ay), np.where(on_face, sx, ax)
    gy, gx = np.mgrid[0:clear.shape[0], 0:clear.shape[1]]
    mirror_x = (fx[::q, ::q][ay, ax] - (gx - ax) * q).astype(np.float32)
    mirror_y = (fy[::q, ::q][ay, ax] - (gy - ay) * q).astype(np.float32)

    rows, cols = np.nonzero(weight > 0.01)
    y0, y1 = max(0, rows.min() * q - q), min(h, rows.max() * q + 2 * q)
    x0, x1 = max(0, cols.min() * q - q), min(w, cols.max() * q + 2 * q)
    # Grid values over the stretched part's pixels (bilinear; cell (i, j) lands within 1.5 px of (i q, j q)).
    size = (clear.shape[1] * q, clear.shape[0] * q)
    wgt, mx, my = (cv2.resize(g, size, interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
                   for g in (weight, mirror_x, mirror_y))
    Hs, Ws = source.shape[:2]
    np.clip(mx, 0, Ws - 1, out=mx)
    np.clip(my, 0, Hs - 1, out=my)
    region = person[box]

    # The stretched part, with a blur's margin and its corner on the frame's multiples of 4 where the box
    # allows (smoothed()'s quarter-size grid then stays put from frame to frame): its smoothed colour, and
    # its strong edges (a glasses' arm seen along its length), kept as read (3 pixels across at least: a
    # single stretched row of another shade is a streak, not an object).
    pad = int(3 * STRETCH_BLUR) + 1
    oy, ox = box[0].start, box[1].start
    py0, px0 = max(0, ((oy + y0 - pad) & ~3) - oy), max(0, ((ox + x0 - pad) & ~3) - ox)
    py1, px1 = min(h, y1 + pad), min(w, x1 + pad)
    here = np.s_[y0 - py0:y1 - py0, x0 - px0:x1 - px0]
    rgba = region[py0:py1, px0:px1]
    rgb8 = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    alpha = cv2.extractChannel(rgba, 3)
    # The colour is the opaque person's: the matte's soft rim holds the wall beside the face, which a
    # magnified read spreads into a pale crescent along the outline (lp_d9's near jaw under arc-left).
    core = cv2.compare(alpha, 255, cv2.CMP_EQ)
    if STRETCH_RIM > 0:
        # Nor the source's opaque edge: beside a bright wall the cheek's last pixels are lit by it (lp_d9,
        # frame 80: Lab lightness 165 and 156 at 0 and 4 px inside the matte's edge, 150 at 8 px, 142-143
        # from 16 px in), and magnified under arc-left that edge was a pale patch across the near cheek.
        core = cv2.bitwise_and(core, rim_clear(source, fx, fy, covered, (py0, py1, px0, px1)))
    if unseen is not None:
        # What the source did not show gives no colour, its blurred edge included: taken from where it
        # was under one half, the dark hair at that edge was smoothed into the fill beside it (part of
        # the dark smear under lp_s18's far eye corner under arc-right).
        core[unseen[py0:py1, px0:px1] > UNSEEN_COLOUR] = 0
    colour = smoothed(rgb8, core)[here].astype(np.int16)
    if hair is not None and face is not None:
        # Hair that hung over the face takes the colour of the face's own skin around it, not that of
        # the hair beside it.
        lightness = cv2.extractChannel(cv2.cvtColor(rgb8, cv2.COLOR_RGB2LAB), 0)
        skin = (core > 0) & (face[py0:py1, px0:px1] > 0)
        if skin.any():
            skin &= lightness >= HAIR_DARK * float(np.median(lightness[skin]))
            share = np.clip(hair[y0:y1, x0:x1], 0.0, 1.0)[..., None]
            skin_colour = smoothed(rgb8, skin.view(np.uint8) * np.uint8(255))[here].astype(np.float32)
            base = colour.astype(np.float32)  # (OpenCV's per-channel arithmetic: numpy's is slower here)
            mixed = cv2.add(base, cv2.multiply(cv2.subtract(skin_colour, base), cv2.merge([share[..., 0]] * 3)))
            colour = np.rint(mixed, out=mixed).astype(np.int16)
    strong = channel_max(cv2.absdiff(rgb8, cv2.GaussianBlur(rgb8, (0, 0), BELOW_SMOOTH))) > BELOW_DETAIL
    strong = cv2.morphologyEx(strong.astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    strong = cv2.GaussianBlur(cv2.dilate(strong[here], np.ones((5, 5), np.uint8)), (0, 0), 2.0)
    # The outline too is the person's: a stretched read of the matte's edge draws it as streaks, and a
    # notch of wall beside the source's outline (under the ear) as a hole inside the magnified cheek.
    closed = close_gaps(alpha)[here]
    if solid is not None:
        np.maximum(closed, solid[y0:y1, x0:x1], out=closed)
    alpha = alpha[here]
    # The outline's weight, twice the fill's: strong edges (the outline's own) do not hold it back.
    reach = np.minimum(2.0 * wgt, 1.0)
    keep = strong.astype(np.float32) * np.float32(1 / 255)
    if unseen is not None:
        keep *= 1.0 - unseen[y0:y1, x0:x1]
    wgt *= 1.0 - keep

    # Only the pixels the fill reaches are worked on: the source's detail at their mirror reads (the
    # person's, without strong edges), sampled there.
    iy, ix = np.nonzero(reach > 0.01)
    dy0, dy1 = int(max(0, my.min() - pad)) & ~3, int(min(Hs, my.max() + 1 + pad))
    dx0, dx1 = int(max(0, mx.min() - pad)) & ~3, int(min(Ws, mx.max() + 1 + pad))
    area = source[dy0:dy1, dx0:dx1]
    texture = cv2.cvtColor(area, cv2.COLOR_RGBA2RGB)
    opaque = cv2.compare(cv2.extractChannel(area, 3), 255, cv2.CMP_EQ)
    smooth = smoothed(texture, opaque)  # the colour's smoothing, on the source
    at = (mx[iy, ix] - np.float32(dx0), my[iy, ix] - np.float32(dy0))
    texture_at = sample(texture, *at)
    detail = texture_at.astype(np.int16) - sample(smooth, *at)  # what that smoothing takes out
    # (none from the matte's soft rim: its colour is part wall)
    if unseen is not None:
        # Face the source did not show can be wide: its mirror reads reach far into the face, over the
        # nose, lips and eye corners, whose shapes the smoothing's detail still holds (pale squiggles
        # over lp_s18's far cheek under arc-right). There only the finest grain is taken.
        # An edge there (a lash, a strand) is left out below a lower limit than elsewhere.
        share = np.clip(unseen[y0:y1, x0:x1][iy, ix], 0.0, 1.0)
        fine = texture_at.astype(np.float32) - sample(cv2.GaussianBlur(texture, (0, 0), UNSEEN_GRAIN), *at)
        detail = np.rint(detail + share[:, None] * (fine - detail)).astype(np.int16)
        limit = 2 * STRETCH_GRAIN + share * (UNSEEN_EDGE - 2 * STRETCH_GRAIN)
    else:
        limit = 2 * STRETCH_GRAIN
    person_there = sample(opaque, *at, cv2.INTER_NEAREST) > 0
    # An edge's detail (a strand, the glasses' rim, the matte's edge) is left out with the pixels
    # around it: clipped to STRETCH_GRAIN, the edge's shoulders drew its outline as a thin bright line
    # over the cheek (a chevron on lp_d9's near cheek, squiggles beside lp_d0's ear under arc-left).
    drop = np.zeros(wgt.shape, np.uint8)
    size = np.abs(detail)
    drop[iy, ix] = (np.maximum(np.maximum(size[:, 0], size[:, 1]), size[:, 2]) > limit) | ~person_there
    detail[cv2.dilate(drop, STRETCH_EDGE)[iy, ix] > 0] = 0
    np.clip(detail, -STRETCH_GRAIN, STRETCH_GRAIN, out=detail)
    # Where the nearest clear cell changes, the mirror reads sweep across the source within a cell:
    # a streak of squeezed texture, drawn as a thin line over the cheek. The detail fades out there.
    sweep = np.maximum(*(np.hypot(*gradient_at(m, iy, ix)) for m in (mx, my)))
    detail = detail * np.clip(2.0 - 0.5 * sweep, 0.0, 1.0)[:, None]
    fill = colour[iy, ix] + detail
    read = rgb8[here][iy, ix].astype(np.float32)
    # The soft rim's read is part wall: it takes the fill's colour with the outline's weight.
    was = alpha[iy, ix].astype(np.float32)
    r = reach[iy, ix]
    rim = np.minimum((255.0 - was) * np.float32(1 / 16), 1.0)
    w = wgt[iy, ix]
    w += (1.0 - w) * r * rim
    mixed = read + w[:, None] * (fill - read)
    # Where the closed outline adds opacity, the added part has the fill's colour (premultiplied).
    now = was + r * (closed[iy, ix].astype(np.float32) - was)
    mixed += (fill - mixed) * ((now - was) / np.maximum(now, 1.0))[:, None]
    target = region[y0:y1, x0:x1]
    target[iy, ix, :3] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    target[iy, ix, 3] = np.clip(now + 0.5, 0, 255).astype(np.uint8)


HAIR_DARK = 0.6      # of the face's median Lab lightness: darker is hair, not skin (a shadowed cheek keeps 0.75)
HAIR_OPEN = 0.03     # of the face's height: dark parts narrower than this (a strand, a glasses' arm) are not hair here
FEATURE_MARGIN = 0.03  # of the face's height: around brows, eyes and lips nothing is taken for hair
HAIR_SCALE = 2       # hair over the face is found on a grid this many frame pixels across (faces 120 px tall or more)
HAIR_FADE = 0.25     # of the way from the eyes' line to the chin: hair over the face counts fully below this
UNSEEN_COLOUR = 0.05  # share of unseen face beyond which a pixel gives the fill no colour
UNSEEN_GRAIN = 1.5   # pixels: the Gaussian whose residual is the grain mirrored into face the source did not show
HAIR_SLIVER = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))  # hair over the face narrower than this is left
UNSEEN_WIDEN = 2     # grid cells (STRETCH_GRID px): hair over the face is filled this far beyond it
UNSEEN_EDGE = 6      # grey levels: that grain beyond this is an edge's (a lash, a strand) and left out
UNSEEN_FULL, UNSEEN_NONE = 0.55, 0.75  # source area per target area: hair over the face refilled fully .. not at all


def widened(mask: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """``mask`` (float32, >= 0) dilated by a square of half-size ``radius`` pixels and smoothed by a
    Gaussian of ``sigma``: OpenCV's own result, worked out only around the mask's nonzero pixels (the
    rest stays 0, as it would; hair over a face is a small part of the face map's box)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = np.zeros_like(mask)
    if rows.size == 0:
        return out
    # OpenCV's float Gaussian reaches 4 sigma; pixels that far beyond the dilated mask see only zeros.
    pad = radius + int(np.ceil(4 * sigma)) + 1
    part = np.s_[max(rows[0] - pad, 0):rows[-1] + 1 + pad, max(cols[0] - pad, 0):cols[-1] + 1 + pad]
    grown = cv2.dilate(mask[part], np.ones((2 * radius + 1,) * 2, np.uint8))
    out[part] = cv2.GaussianBlur(grown, (0, 0), sigma)
    return out


def hair_over_face(frame: np.ndarray, points: np.ndarray, surface: FaceSurface) -> Optional[tuple]:
    """Where the source frame's face mesh lies over hair: ``(mask, x0, y0, scale)``, a uint8 weight (255:
    hair) over a box of the frame whose corner is ``(x0, y0)``, each of its pixels ``scale`` frame pixels
    across (:data:`HAIR_SCALE`, or 1 for a small face), or None when there is none.

    MediaPipe places a turned face's far outline where the cheek would be, and hair that hangs in
    front of the cheek lies inside it (lp_s18, turned 17 deg, her hair over her left cheek): a view
    that turns that cheek towards the camera enlarges the strip into a band of hair across the face.
    Hair here is what has less than :data:`HAIR_DARK` of the face's median Lab lightness, at least
    :data:`HAIR_OPEN` of the face's height wide, and joined to such hair between the mesh and the
    first rings around it (hair that comes from beside the head), below the line through the eyes
    (fading in over :data:`HAIR_FADE` of the way to the chin), and never within
    :data:`FEATURE_MARGIN` of the brows, eyes or lips. Hair as light as the skin is not found, nor
    skin-coloured wall; a dark beard joined to dark hair is taken for hair.

    ``frame``: ``(H, W, 4)`` uint8 RGBA person layer; ``points``: the frame's surface vertices
    ``(V, 2)`` (mesh, then rings).
    """
    from .warp_mesh import face_regions

    H, W = frame.shape[:2]
    n = len(surface.oval)
    ring = points[surface.ring_start + SOLID_RING * n:surface.ring_start + (SOLID_RING + 1) * n]
    x0, y0 = (int(max(0, np.floor(v))) for v in ring.min(axis=0))
    x1, y1 = int(min(W, np.ceil(ring[:, 0].max()) + 1)), int(min(H, np.ceil(ring[:, 1].max()) + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    height = float(np.ptp(points[:MESH_VERTICES, 1]))
    # A band of hair is wide: found on a half-size grid, unless the face is small.
    scale = HAIR_SCALE if height >= 120.0 else 1
    rgba = frame[y0:y1, x0:x1]
    if scale > 1:
        rgba = cv2.resize(rgba, (-(-(x1 - x0) // scale), -(-(y1 - y0) // scale)), interpolation=cv2.INTER_AREA)
    mesh = (points[:MESH_VERTICES] - (x0, y0)) * (1.0 / scale)
    height /= scale
    if height < 8.0:
        return None
    inside = np.zeros(rgba.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(cv2.convexHull(mesh.astype(np.float32)).reshape(-1, 2)).astype(np.int32)], 1)
    around = np.zeros_like(inside)
    cv2.fillPoly(around, [np.round((ring - (x0, y0)) * (1.0 / scale)).astype(np.int32)], 1)
    features, down = face_regions(mesh, inside.shape, FEATURE_MARGIN)
    lightness = cv2.extractChannel(cv2.cvtColor(rgba, cv2.COLOR_RGB2LAB), 0)  # (alpha ignored)
    alpha = cv2.extractChannel(rgba, 3)
    skin = (inside > 0) & ~features & (alpha == 255)
    if not skin.any():
        return None
    dark = ((lightness < HAIR_DARK * float(np.median(lightness[skin]))) & (alpha > 0)).view(np.uint8)
    k = 2 * int(round(0.5 * HAIR_OPEN * height)) + 1
    dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, labels = cv2.connectedComponents(dark, connectivity=8)
    if count < 2:
        return None
    beside = np.zeros(count, bool)
    beside[labels[(around > 0) & (inside == 0)]] = True
    beside[0] = False
    hair = beside[labels] & (inside > 0) & ~features
    # Only below the eyes, fading in over HAIR_FADE of the way to the chin: hair over the forehead and
    # temples lies on the head (a parting swept across it), and filled with skin it read as a receding
    # hairline; cut off at the eyes' line, the fill's top edge was a straight line across the hair.
    weight = np.clip(down * (1.0 / HAIR_FADE), 0.0, 1.0) * hair
    if weight.max() < 0.01:
        return None
    return np.rint(weight * 255.0).astype(np.uint8), x0, y0, scale


def rim_clear(source: np.ndarray, fx: np.ndarray, fy: np.ndarray, covered: np.ndarray, part: tuple) -> np.ndarray:
    """A uint8 mask over ``part`` ``(y0, y1, x0, x1)`` of the face box: 0 where the face map (``fx``, ``fy``
    where ``covered``) reads a source pixel that is not opaque or lies within :data:`STRETCH_RIM` pixels of
    the RGBA ``source``'s matte edge, 255 elsewhere (uncovered pixels included)."""
    y0, y1, x0, x1 = part
    mx, my, reads = fx[y0:y1, x0:x1], fy[y0:y1, x0:x1], covered[y0:y1, x0:x1]
    if not reads.any():
        return np.full(reads.shape, 255, np.uint8)
    # Only the source around what is read (the erosion reaches STRETCH_RIM beyond it): the same result.
    Hs, Ws = source.shape[:2]
    pad = STRETCH_RIM + 2
    sx0 = int(np.clip(np.floor(np.min(mx, where=reads, initial=np.inf)) - pad, 0, Ws))
    sx1 = int(np.clip(np.ceil(np.max(mx, where=reads, initial=-np.inf)) + pad, sx0, Ws))
    sy0 = int(np.clip(np.floor(np.min(my, where=reads, initial=np.inf)) - pad, 0, Hs))
    sy1 = int(np.clip(np.ceil(np.max(my, where=reads, initial=-np.inf)) + pad, sy0, Hs))
    if sx1 <= sx0 or sy1 <= sy0:
        read = np.zeros(reads.shape, np.uint8)
    else:
        alpha = cv2.extractChannel(source[sy0:sy1, sx0:sx1], 3)
        inner = cv2.erode(cv2.compare(alpha, 255, cv2.CMP_EQ), np.ones((2 * STRETCH_RIM + 1,) * 2, np.uint8))
        read = cv2.remap(inner, mx - np.float32(sx0), my - np.float32(sy0), cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    read[~reads] = 255
    return read


STRETCH_CLOSE = 5    # quarter-size pixels: the closing of a stretched read's outline (20 px at full size)


def close_gaps(alpha: np.ndarray) -> np.ndarray:
    """A uint8 matte with its gaps narrower than about ``4 * STRETCH_CLOSE`` pixels closed, never below
    ``alpha`` itself: a morphological closing at quarter size, brought back to full size (smoothly) only
    where it added something there, so a straight outline gains nothing. Beyond the matte's edge
    counts as transparent: a gap open to it is not closed."""
    h, w = alpha.shape
    small = cv2.resize(alpha, ((w + 3) // 4, (h + 3) // 4), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (STRETCH_CLOSE, STRETCH_CLOSE))
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    # 1 where the closing added 16 levels or more (a partly transparent hole, or a 4 px gap: a quarter
    # to half of a cell)
    where = cv2.resize(cv2.subtract(closed, small), (w, h), interpolation=cv2.INTER_LINEAR)
    where = np.minimum(where.astype(np.float32) * np.float32(1 / 16), 1.0)
    up = cv2.max(cv2.resize(closed, (w, h), interpolation=cv2.INTER_LINEAR), alpha)
    return np.clip(alpha + where * (up.astype(np.float32) - alpha) + 0.5, 0, 255).astype(np.uint8)


# Under the rim the wall is mirrored along its row where the row finds it within this many times the distance
# to the nearest clear pixel (an outline up to about 60 deg from upright): a railing beside a jaw goes on at
# its height instead of turning with the outline into a jagged grey piece (lp_d9 under pan-left).
ROW_MIRROR = 2.0


def row_ends(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of a bool ``(H, W)`` mask, the column of the nearest set pixel at or left of it in its
    row (-1 where there is none) and at or right of it (``W`` where there is none)."""
    cols = np.arange(mask.shape[1])
    left = np.maximum.accumulate(np.where(mask, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(mask, cols, mask.shape[1])[:, ::-1], axis=1)[:, ::-1]
    return left, right


def row_nearest_clear(blocked: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pixels ``(ys, xs)`` of a uint8 mask, the column of the nearest pixel in the same row where
    ``blocked`` is 0, and its distance (a row with none: the pixel's own column, at an infinite distance)."""
    w = blocked.shape[1]
    left, right = (side[ys, xs] for side in row_ends(blocked == 0))
    dl = np.where(left >= 0, xs - left, np.inf)
    dr = np.where(right < w, right - xs, np.inf)
    x = np.where(dl <= dr, left, right)
    d = np.minimum(dl, dr)
    return np.where(np.isfinite(d), x, xs), d


def nearest_clear(blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of a uint8 mask, the distance to the nearest pixel where ``blocked`` is 0 and that
    pixel's flat index (``(H, W)`` float32 and int64; at least one pixel must be 0)."""
    distance, labels = cv2.distanceTransformWithLabels(blocked, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    clear = np.flatnonzero(blocked.ravel() == 0)  # OpenCV numbers them 1, 2, ... in scan order
    return distance, clear[labels - 1]


def smoothed(rgb: np.ndarray, opaque: Optional[np.ndarray] = None) -> np.ndarray:
    """A uint8 image smoothed by a Gaussian of sigma :data:`STRETCH_BLUR`, done at quarter size (the result
    is smooth: sampled every 4 pixels, a Gaussian of sigma 5 loses nothing, and costs a sixteenth).
    Not cv2.stackBlur: in OpenCV 4.11 two threads calling it at once corrupt each other's results (748
    of 800 calls differed in a throwaway test), and the engine renders two frames at once.

    With ``opaque`` (a uint8 mask, 255 on the person's opaque core), each pixel takes the mean of the core's
    colours around it (a Gaussian weighted by the mask), so the soft rim takes the person's colour, not the
    wall's it holds; where no core lies within the Gaussian's reach, the core's colour from further away
    (:func:`pull_push`), and the plain mean only when the image holds no core at all."""
    h, w = rgb.shape[:2]
    quarter = ((w + 3) // 4, (h + 3) // 4)
    sigma = 0.25 * STRETCH_BLUR

    def plain_mean() -> np.ndarray:
        return cv2.GaussianBlur(cv2.resize(rgb, quarter, interpolation=cv2.INTER_AREA), (0, 0), sigma)

    if opaque is None or cv2.countNonZero(opaque) == opaque.size:
        plain = plain_mean()
    else:
        # the opaque pixels' colours and the mask at full size, averaged to quarter size and smoothed
        # together: colour sums and weights
        sums = cv2.cvtColor(cv2.bitwise_and(rgb, rgb, mask=opaque), cv2.COLOR_RGB2RGBA)
        cv2.insertChannel(opaque, sums, 3)
        sums = cv2.resize(sums, quarter, interpolation=cv2.INTER_AREA)
        sums = cv2.GaussianBlur(sums.astype(np.float32), (0, 0), sigma)
        share = cv2.extractChannel(sums, 3)
        colour = cv2.divide(cv2.cvtColor(sums, cv2.COLOR_RGBA2RGB), cv2.merge([np.maximum(share, 0.03)] * 3),
                            scale=255.0)
        use = np.minimum(share, np.float32(255 * OPAQUE_REACH)) * np.float32(1 / (255 * OPAQUE_REACH))
        known = share >= np.float32(255 * OPAQUE_REACH)
        # beyond the core's reach: its colour carried on (a pull-push), not the wall's
        beyond = pull_push(colour, known.astype(np.float32)) if known.any() else plain_mean()
        plain = cv2.blendLinear(colour, beyond.astype(np.float32), use, 1.0 - use)
        plain = np.clip(plain + 0.5, 0, 255).astype(np.uint8)
    return cv2.resize(plain, (w, h), interpolation=cv2.INTER_LINEAR)


def sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray,
           interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` read at the ``(n,)`` float32 positions ``xs``, ``ys``: ``(n,)`` or ``(n, C)`` (cv2.remap
    on a map of rows of 1024, as remap takes no side of 32767 or more)."""
    n = len(xs)
    rows = -(-n // 1024) or 1
    grid = [np.zeros(rows * 1024, np.float32) for _ in range(2)]
    grid[0][:n], grid[1][:n] = xs, ys
    read = cv2.remap(image, grid[0].reshape(rows, 1024), grid[1].reshape(rows, 1024), interpolation)
    return read.reshape(rows * 1024, *image.shape[2:])[:n]


def gradient_at(image: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.gradient(image)`` (rows, then columns) at the pixels ``(iy, ix)`` of a 2-D float image only:
    central differences inside, one-sided at its edges, the same values."""
    h, w = image.shape
    y0, y1 = np.maximum(iy - 1, 0), np.minimum(iy + 1, h - 1)
    x0, x1 = np.maximum(ix - 1, 0), np.minimum(ix + 1, w - 1)
    d_dy = (image[y1, ix] - image[y0, ix]) / np.maximum(y1 - y0, 1).astype(image.dtype)
    d_dx = (image[iy, x1] - image[iy, x0]) / np.maximum(x1 - x0, 1).astype(image.dtype)
    return d_dy, d_dx  # (0 along a side one pixel long)


def channel_max(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` the largest of an ``(H, W, 3)`` image's channels (faster than ``max(axis=-1)``)."""
    a, b, c = cv2.split(image)
    return cv2.max(cv2.max(a, b), c)


def below_band_rows(y: np.ndarray, H: int, band: float) -> np.ndarray:
    """Rows of the frame that stand in for rows ``y`` below it (``y > H - 1``): the last ``band`` rows,
    reflected back and forth (H-1, H-2, ..., H-1-band, ..., H-1), so that what continues below the
    edge has the texture of the rows above it and no seam."""
    depth = np.mod(y - np.float32(H - 1), np.float32(2 * band))
    return (np.float32(H - 1) - (np.float32(band) - np.abs(np.float32(band) - depth))).astype(np.float32)


def continue_below(person: np.ndarray, layer: np.ndarray, px: np.ndarray, texture_y: np.ndarray,
                   below: np.ndarray, band: float, depth: np.ndarray) -> None:
    """Give the pixels of ``person`` (RGBA rows of the output) read from below the frame (``below``),
    which hold the last row's colour and alpha, texture instead of vertical streaks, in place.

    Repeating the last row drew streaks down the body (each pixel of it stretched into a
    column); reflecting the whole frame bent outlines back on themselves (a dress narrowing
    into a waist, a second chin under the first). Here the outline goes straight down (alpha is
    left alone). The colour is the last row's, smoothed (weighted by alpha, so the wall beside
    the outline does not tint it), plus the fine detail of the band of rows above the edge at
    ``texture_y`` (:func:`below_band_rows`): the weave of a sweater continues, while a strong
    edge in the band (more than :data:`BELOW_DETAIL` grey levels of detail: a collar), and 2
    pixels around it, is left out rather than reflected into a zigzag. Only where the band's
    pixel is as opaque as the last row's: beside the outline the band may hold the wall. ``depth``: how
    far below the frame each pixel reads (source pixels; 0 elsewhere)."""
    H = layer.shape[0]
    top = max(0, int(H - 1 - band - 3 * BELOW_SMOOTH))
    smooth, detail = colour_and_detail(layer[top:H])
    px = np.ascontiguousarray(px)
    rows = texture_y - np.float32(top)
    base = cv2.remap(smooth, px, np.full(px.shape, np.float32(H - 1 - top)), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    # Further down, the last row's colour averaged along it over a width that grows with the depth
    # (SPREAD), by at most BELOW_SPREAD_LIMIT grey levels: the shading's soft stripes (lp_d0's throat
    # and the shadows beside it under zoom-out) no longer run down as columns, a lapel's edge stays.
    last = np.float32(1 / 255) * layer[H - 1, :, 3].astype(np.float32)
    r = (SPREAD * depth[below]).astype(np.int64)
    table = spread_table(smooth[-1], last, int(r.max(initial=0)))
    at = r * table.shape[2] + np.clip(np.rint(px[below]).astype(np.int64), 0, table.shape[2] - 1)
    for c in range(3):
        was = base[..., c][below]
        base[..., c][below] = was + np.clip(table[c].ravel()[at] - was, -BELOW_SPREAD_LIMIT, BELOW_SPREAD_LIMIT)
    fine = cv2.remap(detail, px, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    opacity = cv2.remap(np.ascontiguousarray(layer[top:H, :, 3]), px, rows, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    take = below & (opacity.astype(np.int16) >= person[..., 3].astype(np.int16) - BELOW_OPAQUE)
    np.copyto(person[..., :3], np.clip(base + fine + 0.5, 0, 255).astype(np.uint8), where=take[..., None])


def face_map(src2d: np.ndarray, target: np.ndarray, surface: FaceSurface, xs: np.ndarray,
             ys: np.ndarray, atlas: Optional["FaceAtlas"] = None, atlas_x: float = 0.0,
             atlas_ok: Optional[np.ndarray] = None, with_blend: bool = False,
             with_ratio: bool = False) -> Optional[tuple]:
    """Backward map of the face surface on a regular grid of target positions.

    With an ``atlas``, a triangle the current frame saw less than
    :data:`~.warp_texture.ATLAS_GAIN` times as large as the atlas's frame did,
    that the target view shows larger than the current frame did, and that
    ``atlas_ok`` allows (``(F,)`` bool, :meth:`~.warp_texture.FaceAtlas.matches`:
    the face around it has the same shape in both frames; default all), reads the
    atlas instead (:meth:`~.warp_texture.FaceAtlas.reads`): its source pixels are
    the atlas's, shifted right by ``atlas_x`` (the renderer places the atlas beside
    the frame in one image). Each vertex weighs the atlas by the share of its
    triangles that read it; triangles whose corners all weigh it fully read it
    alone, those with some weight (the rim of an atlas region, on both sides)
    read the frame here and, with ``with_blend``, the atlas in a fifth element.

    Args:
        src2d: ``(V, 2)`` vertex pixels in the source frame.
        target: ``(V, 3)`` vertex pixels and depth under the target camera.
        xs, ys: ``(w,)`` and ``(h,)`` evenly spaced target pixel positions of the
            grid's columns and rows (the full frame's ``arange`` or a coarser grid).

    Returns:
        None when no triangle is in view, else ``(box, covered, map_x, map_y)``:
        a box of grid cells (a pair of slices), which of them the surface
        covers (``(h, w)`` bool) and their source pixels (``(h, w)`` float32;
        meaningless where not covered). Triangles are painted far to near into
        an index buffer (the nearest wins); back-facing face triangles are
        painted first, under every front-facing one; back-facing ring triangles
        and behind-the-camera ones are skipped. With ``with_blend``, a fifth
        element: None, or ``(sub_box, weight, atlas_x, atlas_y)`` over the box of
        the blending triangles (``(h', w')`` float32 each): the atlas's weight in
        ``[0, 1]`` and its source pixels, to mix over the frame's read. With
        ``with_ratio``, a last element ``(h, w)`` float32: per pixel, the source area
        its triangle had over the area the target gives it (source pixels per target
        pixel, squared; under 1 where the view enlarges the source), negative where
        the source saw that triangle facing away and the target shows it (the view
        turns towards what the source hid), for the triangles of the face's outer
        band (``surface.near_outline``, where the surface has it: the nose's side, folded
        in a turned source, is its own mirror image, not hidden face); 1 for atlas
        reads, the rings' triangles and triangles the target shows folded.
    """
    step = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    origin = np.array([xs[0], ys[0]], np.float64)
    W, H = len(xs), len(ys)
    tris = surface.triangles
    dst = target[:, :2]
    corners = dst[tris]  # (F, 3, 2), target pixels
    cells = (corners - origin) / step  # the same corners in grid cells
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # twice the signed area; < 0: facing away
    lo = np.floor(cells.min(axis=1))
    hi = np.ceil(cells.max(axis=1))
    # Folded face triangles stay (see below); a folded ring triangle would throw hair or wall
    # beyond the head's outline, so those are culled.
    on_face = np.arange(len(tris)) < getattr(surface, "face_triangles", len(tris))
    visible = ((det > 1e-3) | ((det < -1e-3) & on_face)) & (target[tris, 2].min(axis=1) > 1e-3)
    visible &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < W) & (lo[:, 1] < H)
    idx = np.flatnonzero(visible)
    if idx.size == 0:
        return None
    depth = target[tris[idx], 2].mean(axis=1)
    # Back-facing triangles first, then the front-facing ones far to near: nearer triangles
    # overwrite, and a fold of the surface (a temple turning away) is still covered by its
    # own skin where nothing nearer hides it, instead of leaving a hole onto the flat layer.
    idx = idx[np.lexsort((-depth, det[idx] > 0))]

    # Affine map per triangle, target pixel -> source pixel: s = A d + b, one table row per triangle
    # (row 0 unused: the index buffer's 0 means "no triangle").
    src = src2d[tris[idx]]
    mixed = None
    own = triangle_areas(src2d, tris) if atlas is not None or with_ratio else None  # source areas
    if atlas is not None:
        # Larger by more than rounding: a still camera's view is its frame's own, to the last bit or not.
        use = atlas.reads(own, 0.5 * det > own * (1.0 + ENLARGED_MARGIN), atlas_ok)
        # Each corner's weight of the atlas: the share of the triangles around its vertex that read
        # it (0 where this triangle has no atlas texture to offer), so the switch between the
        # frame's and the atlas's texture is a blend across the region's rim, not a seam.
        can = atlas.offers(atlas_ok)
        weight = (atlas.vertex_share(use)[tris[idx]] * can[idx, None]) if use.any() else np.zeros((idx.size, 3))
        full = weight.min(axis=1) > 0.999
        src = np.where(full[:, None, None], atlas.uv[tris[idx]] + (atlas_x, 0.0), src)
        mixed = ~full & (weight.max(axis=1) > 0.001)
        if not (with_blend and mixed.any()):
            mixed = None
    a1, a2, inv = e1[idx], e2[idx], 1.0 / det[idx]
    table = np.zeros((6, idx.size + 1))
    table[:, 1:] = _affine_rows(src, corners[idx], a1, a2, inv)

    # Index buffer over the surface's bounding box only (the face is a small part of most frames).
    x0, y0 = int(max(0, lo[idx, 0].min())), int(max(0, lo[idx, 1].min()))
    x1, y1 = int(min(W, hi[idx, 0].max() + 1)), int(min(H, hi[idx, 1].max() + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    buf = np.zeros((y1 - y0, x1 - x0), np.int32)
    fixed = np.round((cells[idx] - (x0, y0)) * 16).astype(np.int32)  # 4 fractional bits
    fill = cv2.fillConvexPoly
    for k, corners_k in enumerate(list(fixed), 1):  # ids from 1; the Python loop is ~2 us a triangle
        fill(buf, corners_k, k, cv2.LINE_8, 4)
    # Evaluate densely over the box: gathers from a small table beat indexing scattered pixels.
    # fillConvexPoly also paints pixels up to a pixel outside a triangle's edge, where its affine map
    # is extrapolated; for a triangle seen nearly edge-on that read lands tens to hundreds of pixels
    # away (stray dots along the face's outline). Each read stays inside its triangle's source box:
    # planes 6..9, the box's x min, x max, y min, y max.
    columns = np.zeros((10, idx.size + 1), np.float32)
    columns[:6, 1:] = table[:, 1:]
    columns[6, 1:], columns[7, 1:] = src[..., 0].min(axis=1), src[..., 0].max(axis=1)
    columns[8, 1:], columns[9, 1:] = src[..., 1].min(axis=1), src[..., 1].max(axis=1)
    # Ten planes, each contiguous: the arithmetic below ran slower on strided views of one (h, w, 10) gather.
    per_pixel = np.take(columns, buf, axis=1)
    gx = xs[None, x0:x1].astype(np.float32)
    gy = ys[y0:y1, None].astype(np.float32)
    map_x = per_pixel[0] * gx
    map_x += per_pixel[1] * gy
    map_x += per_pixel[2]
    map_y = per_pixel[3] * gx
    map_y += per_pixel[4] * gy
    map_y += per_pixel[5]
    np.minimum(np.maximum(map_x, per_pixel[6], out=map_x), per_pixel[7], out=map_x)
    np.minimum(np.maximum(map_y, per_pixel[8], out=map_y), per_pixel[9], out=map_y)
    box = (slice(y0, y1), slice(x0, x1))
    extra = ()
    if with_ratio:
        ratio = np.ones(idx.size + 1, np.float32)
        facing = (det[idx] > 0) & on_face[idx]
        ratio[1:][facing] = own[idx[facing]] / (0.5 * det[idx[facing]])
        near = getattr(surface, "near_outline", None)
        if near is not None:  # only the face's outer band counts as turned: elsewhere the size alone
            inner = facing & ~np.concatenate([near, np.zeros(len(tris) - len(near), bool)])[idx]
            ratio[1:][inner] = np.abs(ratio[1:][inner])
        if atlas is not None:
            ratio[1:][full] = 1.0
        extra = (np.take(ratio, buf),)
    if not with_blend:
        return (box, buf > 0, map_x, map_y) + extra
    blend = None
    if mixed is not None:
        # The atlas's map and weight, over the box of the triangles that blend only.
        m = idx[mixed]
        bx0, by0 = int(max(x0, lo[m, 0].min())), int(max(y0, lo[m, 1].min()))
        bx1, by1 = int(min(x1, hi[m, 0].max() + 1)), int(min(y1, hi[m, 1].max() + 1))
        if bx1 > bx0 and by1 > by0:
            rows = np.zeros((9, idx.size + 1))
            values = np.concatenate([atlas.uv[tris[m]] + (atlas_x, 0.0), weight[mixed][..., None]], axis=-1)
            rows[:, 1:][:, mixed] = _affine_rows(values, corners[m], a1[mixed], a2[mixed], inv[mixed])
            rows = rows.astype(np.float32)
            sub = buf[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0]
            sx, sy = xs[None, bx0:bx1].astype(np.float32), ys[by0:by1, None].astype(np.float32)
            at = [np.take(rows[3 * r], sub) * sx + np.take(rows[3 * r + 1], sub) * sy + np.take(rows[3 * r + 2], sub)
                  for r in range(3)]
            blend = ((slice(by0, by1), slice(bx0, bx1)), np.clip(at[2], 0.0, 1.0), at[0], at[1])
    return (box, buf > 0, map_x, map_y, blend) + extra


def _affine_rows(values: np.ndarray, corners: np.ndarray, a1: np.ndarray, a2: np.ndarray,
                 inv: np.ndarray) -> np.ndarray:
    """``(3k, n)`` coefficients (x, y, 1) of the affine functions of target pixels that take each of
    ``n`` triangles' corners ``(n, 3, 2)`` to ``values`` ``(n, 3, k)``; ``a1``, ``a2`` are the
    triangles' edge vectors from corner 0 and ``inv`` the inverse of their cross product."""
    v1, v2 = values[:, 1] - values[:, 0], values[:, 2] - values[:, 0]
    out = np.empty((3 * values.shape[-1], values.shape[0]))
    for r in range(values.shape[-1]):  # [e1 e2]^-1 = [[e2y, -e2x], [-e1y, e1x]] / det
        ax = (v1[:, r] * a2[:, 1] - v2[:, r] * a1[:, 1]) * inv
        ay = (v2[:, r] * a1[:, 0] - v1[:, r] * a2[:, 0]) * inv
        out[3 * r], out[3 * r + 1] = ax, ay
        out[3 * r + 2] = values[:, 0, r] - ax * corners[:, 0, 0] - ay * corners[:, 0, 1]
    return out
