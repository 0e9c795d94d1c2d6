"""`facecam calibrate-cache`: measure the MagCache ratios of a weights folder once, for `--cache mag`."""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter

ORDER = 32


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate-cache", help="measure the MagCache ratios of a weights folder (once, before --cache mag)",
        description="Run one full generation with diffusers' MagCache calibration on both experts (nothing is "
                    "skipped; the output is not kept) and write the per-step magnitude ratios beside the weights "
                    "(WEIGHTS/.../mag_ratios.json), where `--cache mag` reads them. Costs one generation.",
        epilog="example:\n  facecam calibrate-cache --weights ~/facecam-weights\n"
               "  facecam generate talk.mp4 --engine facecam --weights ~/facecam-weights --cache mag -o out/",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("video", nargs="?", default=None,
                   help="a portrait video or photo to calibrate on (default: a built-in portrait photo)")
    from ._options import add_condition_options, add_engine_options

    add_condition_options(p, exclude=("start", "duration", "move_frames"))
    # The cache options are what this verb prepares; windows do not apply to one 81-frame clip.
    add_engine_options(p, "facecam engine", exclude=("cache", "cache_threshold", "window", "overlap"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from .. import speed
    from .._atomic import write_text_atomic
    from ..condition.builder import build_condition
    from ..engines.diffusion import FaceCamEngine
    from ..errors import FacecamError
    from ..run import check_engine
    from ._options import condition_options, engine_options
    from .demo import demo_clip

    options, engine_opts = condition_options(args), engine_options(args, engine="facecam")
    check_engine(engine_opts)
    if options.frames == "all":
        raise FacecamError("calibrate on one window: give --frames a number (81 is the model's length)")
    engine = FaceCamEngine(**engine_opts.engine_kwargs())
    video = args.video if args.video else demo_clip(int(options.frames))
    clip = build_condition(video, progress=True, **options.build_kwargs())
    engine.pipeline.set_progress_bar_config(desc="calibrating (one generation)")
    ratios = speed.calibrate_mag_cache(engine.pipeline, clip.source, clip.condition, steps=engine.steps,
                                       guidance_scale=engine.cfg, seed=options.seed or 0)
    path = speed.mag_ratios_path(engine.layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(ratios, indent=1) + "\n")
    print(path)
    return 0
