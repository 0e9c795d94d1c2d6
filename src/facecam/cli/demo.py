"""`facecam demo`: re-angle a built-in portrait on any laptop, no weights, no arguments."""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter

ORDER = 5

DEMO_CAMERAS = ("arc-left", "zoom-in")
DEMO_NAME = "astronaut"


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="start here: re-angle a built-in portrait with the weight-free warp engine (CPU, seconds)",
        description="Builds a short clip from a built-in portrait (scikit-image's astronaut photo), renders it under "
                    f"the {' and '.join(DEMO_CAMERAS)} camera moves with the `warp` engine (a geometric preview, not "
                    "the diffusion model) and writes the results, their camera conditions and a side-by-side "
                    "comparison video.",
        epilog="examples:\n  facecam demo\n  facecam demo -o my-demo/ --frames 81",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("-o", "--output", default="facecam-demo", metavar="DIR",
                   help="output folder (created if missing; default: facecam-demo/)")
    p.add_argument("--frames", type=int, default=49, help="clip length, 4k+1 frames at 24 fps (default 49 = 2 s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..video.outputs import output_dir, write_outputs

    with output_dir(args.output):
        written = write_outputs(args.output, demo_files(args.frames, progress=True), 24.0)
    for path in written.values():
        print(path)
    return 0


def demo_clip(num_frames: int):
    """The demo source: the astronaut portrait held still for ``num_frames`` frames at 24 fps."""
    import numpy as np
    import skimage.data

    from ..video.io import VideoClip, check_frame_count

    check_frame_count(num_frames)
    image = skimage.data.astronaut()
    return VideoClip(np.repeat(image[None], num_frames, axis=0), 24.0, None, 1)


def demo_files(num_frames: int = 49, cameras: tuple[str, ...] = DEMO_CAMERAS, progress: bool = True) -> dict:
    """Everything `facecam demo` writes: ``{file name: frames (T, H, W, 3) | JSON dict}``."""
    import numpy as np

    from ..run import ConditionOptions, EngineOptions, load_engine, render

    clip = demo_clip(num_frames)
    engine = EngineOptions(engine="warp")
    loaded = load_engine(engine)
    files: dict = {}
    results = {}
    steps = cameras
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(cameras, desc="demo", unit="camera")
    for camera in steps:
        # One bar per stage: the outer bar counts cameras, the inner stages stay quiet.
        # track: the zoom centres on the face, so zoom-in keeps the whole head (centred on the frame it
        # cut the hair off the top of the astronaut's head).
        results[camera] = render(clip, ConditionOptions(camera=camera, frames=num_frames, track=True), engine,
                                 loaded=loaded, name=DEMO_NAME)
        files[f"{DEMO_NAME}_{camera}.mp4"] = results[camera].video
        files[f"{DEMO_NAME}_{camera}_camera.mp4"] = results[camera].clip.condition
    last = results[cameras[-1]]
    source = last.clip.source
    files[f"{DEMO_NAME}_input.mp4"] = source
    panels = [label(source, "input")] + [label(results[c].video, f"{c} (warp)") for c in cameras]
    files[f"{DEMO_NAME}_comparison.mp4"] = np.concatenate(panels, axis=2)
    files[f"{DEMO_NAME}_demo.json"] = {
        "source": "skimage.data.astronaut()", "frames": num_frames, "fps": last.clip.fps,
        "size": list(last.clip.size), "engine": "warp", "cameras": list(cameras),
        "runs": {c: {"options": r.record()["options"], "engine_options": r.record()["engine_options"]}
                 for c, r in results.items()},
        "note": "The warp engine is a weight-free geometric preview and baseline, not the FaceCam diffusion "
                "model: it moves the pixels the camera saw and cannot invent unseen parts of the head.",
    }
    return files


def label(frames, text: str):
    """A copy of ``(T, H, W, 3)`` frames with ``text`` written in the top-left corner."""
    import cv2

    out = frames.copy()
    scale = max(0.5, frames.shape[2] / 640)
    for frame in out:
        cv2.putText(frame, text, (12, int(32 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    int(4 * scale), cv2.LINE_AA)
        cv2.putText(frame, text, (12, int(32 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, int(1.5 * scale)), cv2.LINE_AA)
    return out
