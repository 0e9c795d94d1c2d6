"""Which face depth lets an orbit turn only what it commands? Geometry only, no rendering of the clips.

Part 1 (the shared clips, frames 0/20/40/60/80 of the 704x480 crop): each frame's landmarks are lifted to
3D with MediaPipe's own z (the warp engine before) or with the depth of the PnP-posed face template
(:func:`facecam.face.pose.template_depth`), seen by the arc presets' end cameras, and read back by
PnP. Prints, per arc and proxy, the reading minus the rigid composition the judge expects
(:func:`facecam.eval.camera.expected_change`): an orbit of a rigid head is read exactly so by PnP
when the head has the template's shape.

Part 2 (ground truth, the built-in astronaut photo as a rigid Gaussian head rendered at exact angles,
480x480, 50 deg FOV): what MediaPipe + PnP measure on the renders, against the judge's rigid
rotation (E) and the size change predicted from the still frame's landmarks lifted with MediaPipe z or
with the template's depth.

Part 3 (ground truth on the clips' own heads): frames 0 and 40 of each shared clip's 704x480 crop made
into a rigid Gaussian head (:func:`facecam.face.gaussians.gaussians_from_portrait`), rendered at the
clip's face height under exact yaw orbits of 15 and 30 deg each way and read by MediaPipe + PnP, as the
judge reads the warp engine's output. Prints what the instrument reads beyond the rigid rotation: an
orbit in yaw alone should read no pitch or roll.

    python benchmarks/warp_depth.py [--media DIR] [--parts 1,2,3]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from shared_clips import CLIPS, MEDIA  # noqa: E402 - beside this script
ARCS = {"arc-left": (-30.0, 0.0), "arc-right": (30.0, 0.0), "arc-up": (0.0, 20.0), "arc-down": (0.0, -20.0)}


def view(yaw: float, pitch: float) -> dict:
    return {"yaw": yaw, "pitch": pitch, "roll": 0.0, "zoom": 1.0, "pan_x": 0.0, "pan_y": 0.0}


def angles(points, size) -> np.ndarray:
    from facecam.face.pose import estimate_head_pose

    p = estimate_head_pose(points, size)
    return np.array([float(p.yaw), float(p.pitch), float(p.roll)])


def clips_part(media: Path) -> None:
    from facecam.condition.builder import crop_to_face
    from facecam.condition.project import lift, orbit_pivot, project, target_camera
    from facecam.eval.camera import _head_angles, _wrap, detect_frames
    from facecam.face.pose import estimate_head_pose, focal_length, intrinsics, template_depth
    from facecam.video.io import read_video

    errors = {"mediapipe": {a: [] for a in ARCS}, "template": {a: [] for a in ARCS}}
    for name in CLIPS:
        clip = read_video(str(media / name), fps=24.0, num_frames=81)
        frames, _ = crop_to_face(clip, (480, 704))
        size = frames.shape[1:3]
        f = focal_length(size)
        K = intrinsics(size, f)
        for p in detect_frames(frames, [0, 20, 40, 60, 80]).values():
            if p is None:
                continue
            p = p.astype(np.float64)
            pose = estimate_head_pose(p, size)
            pivot = orbit_pivot(lift(p, K), pose.rotation)
            a0 = angles(p, size)
            for arc, (yaw, pitch) in ARCS.items():
                cam = target_camera(view(yaw, pitch), size, pivot, f)
                expected = _head_angles(cam.R @ pose.rotation) - _head_angles(pose.rotation)
                for proxy, pts in (("mediapipe", p), ("template", template_depth(p, size, f))):
                    read = angles(project(lift(pts, K), cam), size) - a0
                    errors[proxy][arc].append([_wrap(v) for v in read - expected])
    print("part 1: PnP reading of the proxy seen by the arc's end camera, minus the rigid composition (deg)")
    print(f"  {'proxy':10s} {'arc':10s} {'mean yaw/pitch/roll':>24s} {'max |yaw/pitch/roll|':>24s}")
    for proxy, per_arc in errors.items():
        for arc, rows in per_arc.items():
            e = np.asarray(rows)
            print(f"  {proxy:10s} {arc:10s} {np.array2string(e.mean(0), precision=1):>24s} "
                  f"{np.array2string(np.abs(e).max(0), precision=1):>24s}")


def truth_part() -> None:
    import skimage.data

    from facecam.condition.project import lift, orbit_pivot, project, target_camera
    from facecam.condition.proxy_view import render_proxy_views
    from facecam.eval.camera import _head_angles, _wrap
    from facecam.face.gaussians import gaussians_from_portrait
    from facecam.face.landmarks import detect_image_landmarks
    from facecam.face.pose import estimate_head_pose, face_scale, focal_length, intrinsics, template_depth

    image = skimage.data.astronaut()
    cloud = gaussians_from_portrait(image, detect_image_landmarks(image), spacing_px=2.0)
    # Beyond 30 deg too: a preset arc of a head that is already turned ends 50-55 deg from frontal
    # (lp_s18 arc-left), where MediaPipe reads uncommanded pitch and roll even on a rigid head.
    views = [(0, 0), (-30, 0), (-15, 0), (15, 0), (30, 0), (0, -20), (0, -10), (0, 10), (0, 20),
             (-40, 0), (40, 0), (-50, 0), (50, 0), (-55, 0), (55, 0)]
    size = (480, 480)
    yaw = np.array([v[0] for v in views], float)
    pitch = np.array([v[1] for v in views], float)
    frames = render_proxy_views(cloud, 270.0 + yaw, pitch, np.full(len(views), 50.0), canvas=size, progress=False)
    f = focal_length(size)
    K = intrinsics(size, f)
    p0 = detect_image_landmarks(frames[0]).astype(np.float64)
    pose0 = estimate_head_pose(p0, size)
    pivot = orbit_pivot(lift(p0, K), pose0.rotation)
    a0, s0 = angles(p0, size), face_scale(p0[None])[0]
    print("\npart 2: a rigid Gaussian head at exact orbit angles (astronaut, 480x480)")
    print("  orbit yaw/pitch | measured - rigid expectation (yaw pitch roll, deg) | size change x100 (log): "
          "measured, predicted with MediaPipe z, with template depth")
    for k, (y, p) in enumerate(views[1:], 1):
        pk = detect_image_landmarks(frames[k]).astype(np.float64)
        cam = target_camera(view(y, p), size, pivot, f)
        expected = _head_angles(cam.R @ pose0.rotation) - _head_angles(pose0.rotation)
        measured = angles(pk, size) - a0
        scale = [np.log(face_scale(q[None])[0] / s0) * 100 for q in
                 (pk, project(lift(p0, K), cam), project(lift(template_depth(p0, size, f), K), cam))]
        print(f"  {y:+4d} {p:+4d}       | " + " ".join(f"{_wrap(v):+5.1f}" for v in measured - expected)
              + "  | " + " ".join(f"{v:+6.2f}" for v in scale))


def clip_heads_part(media: Path) -> None:
    from facecam.condition.builder import crop_to_face
    from facecam.condition.project import lift, orbit_pivot, target_camera
    from facecam.condition.proxy_view import render_proxy_views
    from facecam.eval.camera import _head_angles, _wrap
    from facecam.face.gaussians import gaussians_from_portrait
    from facecam.face.landmarks import detect_image_landmarks
    from facecam.face.pose import estimate_head_pose, focal_length, intrinsics
    from facecam.video.io import read_video

    yaws = np.array([0.0, -30.0, -15.0, 15.0, 30.0])
    size = (480, 480)
    print("\npart 3: rigid Gaussian copies of the clips' heads at exact yaw orbits, rendered at the clip's face height")
    print("  clip         frame face px | orbit yaw: measured - rigid expectation (yaw pitch roll, deg)")
    worst = np.zeros(3)
    for name in CLIPS:
        clip = read_video(str(media / name), fps=24.0, num_frames=81)
        frames, _ = crop_to_face(clip, (480, 704))
        for t in (0, 40):
            p = detect_image_landmarks(frames[t])
            if p is None:
                print(f"  {name:12s} {t:5d}   no face")
                continue
            cloud = gaussians_from_portrait(frames[t], p, spacing_px=1.5)
            face_px = float(np.hypot(*(p[10, :2] - p[152, :2])))
            # The field of view that gives the copy the clip's face height (found from a frontal render at 50 deg).
            probe = detect_image_landmarks(render_proxy_views(cloud, [270.0], [0.0], [50.0], canvas=size,
                                                              progress=False)[0])
            if probe is None:
                print(f"  {name:12s} {t:5d}   no face on its frontal copy")
                continue
            at50 = float(np.hypot(*(probe[10, :2] - probe[152, :2])))
            fov = float(np.degrees(2.0 * np.arctan(np.tan(np.radians(25.0)) * at50 / face_px)))
            views = render_proxy_views(cloud, 270.0 + yaws, np.zeros(len(yaws)), np.full(len(yaws), fov),
                                       canvas=size, progress=False)
            base = detect_image_landmarks(views[0])
            if base is None:
                continue
            pose0 = estimate_head_pose(base.astype(np.float64), size)
            a0 = angles(base.astype(np.float64), size)
            f = focal_length(size)
            pivot = orbit_pivot(lift(base.astype(np.float64), intrinsics(size, f)), pose0.rotation)
            cells = []
            for k, y in enumerate(yaws[1:], 1):
                pk = detect_image_landmarks(views[k])
                if pk is None:
                    cells.append(f"{y:+4.0f}: no face")
                    continue
                cam = target_camera(view(y, 0.0), size, pivot, f)
                expected = _head_angles(cam.R @ pose0.rotation) - _head_angles(pose0.rotation)
                error = np.array([_wrap(v) for v in angles(pk.astype(np.float64), size) - a0 - expected])
                worst = np.maximum(worst, np.abs(error))
                cells.append(f"{y:+4.0f}: " + " ".join(f"{v:+5.1f}" for v in error))
            print(f"  {name:12s} {t:5d} {face_px:7.0f} | " + " | ".join(cells))
    print(f"  largest |error| (yaw pitch roll): {worst[0]:.1f} {worst[1]:.1f} {worst[2]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", default=str(MEDIA), help=f"folder of the shared clips (default {MEDIA})")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run (default: 1,2,3)")
    args = parser.parse_args()
    parts = {x.strip() for x in args.parts.split(",")}
    if "1" in parts:
        clips_part(Path(args.media))
    if "2" in parts:
        truth_part()
    if "3" in parts:
        clip_heads_part(Path(args.media))


if __name__ == "__main__":
    main()
