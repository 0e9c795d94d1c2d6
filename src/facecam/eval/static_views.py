"""The paper's static-setting inputs and the generation of missing Ava-256 views.

The static setting (paper 4.2) asks for a novel view of a capture: the source
camera's video conditioned on the face mesh of the target camera's **first
frame**, drawn once and repeated (:func:`build_static_clip`).
:func:`generate_static` renders every view missing from the generated folder
through the run API (:func:`facecam.run.render_clip`) and writes it where
:mod:`.static` looks for it, with a sidecar JSON holding the options and the
target's crop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import FacecamError, NoFaceError
from ..video.io import VideoClip, write_video
from .records import write_json
from .static import (AVA256_IDENTITIES, AVA256_PAIRS, ava256_paths, find_clip, read_camera, static_output_path,
                     static_sidecar_path)


def build_static_clip(source, target, target_camera: str, size: tuple[int, int],
                      name: str = "clip"):
    """The paper's static-setting input: the source camera's video and the target camera's first-frame mesh.

    The source is cropped with the reference face crop
    (:func:`~facecam.condition.builder.crop_to_face`); the target's **first
    frame** is cropped the same way (its own nose-centred box) and its
    MediaPipe face mesh is drawn once and repeated over every frame - the
    head frozen at t0, only the camera changes (the recipe of the training
    data's multi-view conditions, :func:`facecam.data.stitch.condition_frames`).

    Args:
        source: :class:`~facecam.video.io.VideoClip` of the source camera (``T`` frames, ``4k + 1``).
        target: :class:`~facecam.video.io.VideoClip` of the target camera (only frame 0 is used).
        target_camera: the target camera's name, kept in ``trajectory.meta["static_target"]``.
        size: output ``(height, width)``.
        name: output stem.

    Returns:
        :class:`~facecam.condition.builder.ConditionedClip` with a ``static``
        trajectory; ``options["target_crop"]`` is the crop box of the target
        camera, i.e. the framing the generated view should have.

    Raises:
        NoFaceError: no face in the target's first frame (or in the source).
    """
    from ..camera.trajectory import preset
    from ..condition.builder import ConditionedClip, crop_to_face
    from ..data.stitch import condition_frames
    from ..face.landmarks import detect_image_landmarks, detect_landmarks

    frames, box = crop_to_face(source, size)
    first = VideoClip(target.frames[:1], target.fps, target.path, 1)
    try:
        target_first, target_box = crop_to_face(first, size)
    except NoFaceError:
        raise NoFaceError(f"no face in the first frame of the target camera {target_camera}"
                          + (f" ({target.path})" if target.path else "")) from None
    points = detect_image_landmarks(target_first[0])
    if points is None:
        raise NoFaceError(f"no face in the cropped first frame of the target camera {target_camera}")
    t = len(frames)
    trajectory = preset("static", t)
    trajectory.meta["static_target"] = target_camera
    condition_points = np.repeat(points[None].astype(np.float32), t, axis=0)
    options = {"camera": "static", "static_target": target_camera, "frames": t, "fps": source.fps,
               "size": list(size), "source": source.path, "source_frames": source.source_frames,
               "target": target.path, "target_crop": target_box.to_dict()}
    return ConditionedClip(frames, condition_frames(points, size, t), float(source.fps), trajectory,
                           detect_landmarks(frames), condition_points, name, box, options)


def generate_static(ava_dir: str | os.PathLike, generated_dir: str | os.PathLike, engine, options=None, *,
                    identities: Sequence[str] = AVA256_IDENTITIES,
                    pairs: Sequence[tuple[str, str]] = AVA256_PAIRS, loaded=None,
                    log: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Generate every missing ``GEN/<ID>/<src>_to_<tgt>.mp4`` through the run API (resumable).

    ``engine`` is a :class:`~facecam.run.EngineOptions` (``loaded``: that engine, already built);
    ``options`` a :class:`~facecam.run.ConditionOptions` whose ``frames``, ``size`` and ``seed``
    are used (the camera is the target view, not a move).

    Existing outputs are left alone. A pair whose source or target camera is
    missing is skipped (the scorer records it); one whose generation raises a
    :class:`FacecamError` is logged and left for the scorer to record as
    missing. Each output is written atomically with a sidecar JSON
    (:func:`~facecam.eval.static.static_sidecar_path`) holding the options and the target's crop.

    Returns:
        ``{"generated": [...], "existing": [...], "skipped": [...], "failed": [...]}`` of run ids.
    """
    from ..run import ConditionOptions, load_engine, render_clip

    options = options or ConditionOptions(camera="static")
    num_frames, size = options.frames, tuple(options.size)
    loaded = loaded or load_engine(engine)
    ava, gen_root = Path(ava_dir), Path(generated_dir)
    if not ava.is_dir():
        raise FacecamError(f"--ava256 must be a folder laid out as <IDENTITY>/<cam>.mp4: {ava}")
    gen_root.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {"generated": [], "existing": [], "skipped": [], "failed": []}
    for identity in identities:
        for src, tgt in pairs:
            rid = f"{identity}__{src}_to_{tgt}"
            out = static_output_path(gen_root, identity, src, tgt)
            if find_clip(out.parent, out.stem) is not None:
                done["existing"].append(rid)
                continue
            paths = ava256_paths(ava, gen_root, identity, src, tgt)
            if paths["source"] is None or paths["target"] is None:
                done["skipped"].append(rid)
                continue
            start = time.perf_counter()
            try:
                clip = build_static_clip(read_camera(paths["source"], num_frames),
                                         read_camera(paths["target"], 1), tgt, size, name=out.stem)
                result = render_clip(clip, options, engine, loaded=loaded)
            except FacecamError as exc:
                log(f"{rid}: generation failed: {exc}")
                done["failed"].append(rid)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            record = result.record()
            write_json(static_sidecar_path(out), {**clip.options, "seed": options.seed, "engine": record["engine"],
                                                  "engine_options": record["engine_options"],
                                                  "crop": clip.crop.to_dict() if clip.crop else None})
            write_video(out, result.video, clip.fps)
            log(f"{rid}: generated {out} ({time.perf_counter() - start:.1f} s)")
            done["generated"].append(rid)
    return done
