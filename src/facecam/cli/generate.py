"""`facecam generate`: re-angle a video with an engine."""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter

ORDER = 30


def register(sub) -> None:
    p = sub.add_parser(
        "generate", help="re-angle a video (engine: facecam diffusion model, or weight-free warp)",
        description="Build the camera condition (as `facecam condition`) and render the video under the new camera. "
                    "Writes the condition files plus DIR/<name>.mp4 (with the source's sound, as the input and preview). Engines: `warp` (geometric re-render, any "
                    "CPU, a preview/baseline) and `facecam` (the FaceCam diffusion model; needs a GPU and weights, "
                    "see `facecam download`).",
        epilog="examples:\n  facecam generate talk.mp4 --camera zoom-in --engine warp -o out/\n"
               "  facecam generate talk.mp4 --camera arc-left --engine facecam --weights ~/facecam-weights -o out/\n"
               "  facecam generate long.mp4 --frames all --move-frames 81 --engine warp -o out/\n\n"
               "Long clips keep their videos in temporary files beyond $FACECAM_SPILL_MB (default 256) MB each,\n"
               "about 3 MB of disk a frame at 704x480, in $TMPDIR.",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("video", help="source video or portrait image")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    from ._options import add_condition_options, add_engine_choice, add_engine_options

    add_engine_choice(p)
    add_condition_options(p)
    add_engine_options(p, "facecam engine")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..run import check_engine, check_run_output, load_engine, render, write_run
    from ..video.outputs import output_dir
    from ._options import condition_options, engine_options

    options, engine = condition_options(args), engine_options(args)
    check_engine(engine)  # before touching the output folder
    check_run_output(args.video, args.output, video=True)  # before minutes of rendering, not after
    with output_dir(args.output):
        loaded = load_engine(engine)
        result = render(args.video, options, engine, loaded=loaded, progress=True)
        written = write_run(result, args.output, progress=True)
    for path in written.values():
        print(path)
    return 0
