"""`facecam generate`: re-angle a video with an engine."""

from __future__ import annotations

import argparse

ORDER = 30


def register(sub) -> None:
    p = sub.add_parser(
        "generate", help="re-angle a video (engine: facecam diffusion model, or weight-free warp)",
        description="Build the camera condition (as `facecam condition`) and render the video under the new camera. "
                    "Writes the condition files plus DIR/<name>.mp4. Engines: `warp` (geometric re-render, any "
                    "CPU, a preview/baseline) and `facecam` (the FaceCam diffusion model; needs a GPU and weights, "
                    "see `facecam download`).",
        epilog="examples:\n  facecam generate talk.mp4 --camera zoom-in --engine warp -o out/\n"
               "  facecam generate talk.mp4 --camera arc-left --engine facecam --weights ~/facecam-weights -o out/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", help="source video or portrait image")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--engine", default="warp", choices=("warp", "facecam"), help="renderer (default: warp)")
    from ._options import add_condition_options, add_engine_options

    add_condition_options(p)
    add_engine_options(p, "facecam engine")
    p.set_defaults(func=run)


def engine_options(args: argparse.Namespace) -> dict:
    import os

    if args.engine == "warp":
        return {}
    return {"weights": args.weights or os.environ.get("FACECAM_WEIGHTS"), "steps": args.steps, "cfg": args.cfg,
            "offload": args.offload, "device": args.device, "dtype": args.dtype}


def run(args: argparse.Namespace) -> int:
    from ..condition.builder import build_condition
    from ..engines import engine_class, get_engine
    from ..errors import FacecamError
    from ..video.outputs import output_dir, write_outputs
    from ._options import condition_kwargs
    from .condition import condition_files, report_filled

    kwargs = condition_kwargs(args)
    options = engine_options(args)
    ok, why = engine_class(args.engine).availability(**options)
    if not ok:  # before touching the output folder
        raise FacecamError(why)
    with output_dir(args.output):
        engine = get_engine(args.engine, **options)
        clip = build_condition(args.video, progress=True, **kwargs)
        report_filled(clip)
        video = engine.generate(clip, seed=args.seed, progress=True)
        files = {f"{clip.name}.mp4": video, **condition_files(clip)}
        files[f"{clip.name}_camera.json"]["engine"] = args.engine
        written = write_outputs(args.output, files, clip.fps)
    for path in written.values():
        print(path)
    return 0
