"""`facecam condition`: render the camera-condition video for a source video."""

from __future__ import annotations

import argparse

ORDER = 20


def register(sub) -> None:
    p = sub.add_parser(
        "condition", help="render the face-mesh camera condition for a video (no weights, CPU)",
        description="Crop the video around the face, track its landmarks and render the camera condition: the "
                    "face mesh of the head as the target camera would see it. Writes DIR/<name>_input.mp4 (the "
                    "cropped source), <name>_camera.mp4 (the condition), <name>_preview.mp4 (both side by side) "
                    "and <name>_camera.json (the per-frame camera and the options used). The input and preview "
                    "play the source's sound, if it has any.",
        epilog="example: facecam condition talk.mp4 --camera arc-left -o out/")
    p.add_argument("video", help="source video (mp4/mov/mkv/webm/avi) or portrait image (jpg/png/webp)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    from ._options import add_condition_options

    add_condition_options(p)
    p.add_argument("--weights", metavar="DIR", default=None,
                   help="weights folder (`facecam download`) whose gaussians.ply is --profile release's proxy head "
                        "(default: $FACECAM_WEIGHTS); nothing else is read from it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..run import check_run_output, render, write_run
    from ..video.outputs import output_dir
    from ._options import condition_options

    options = condition_options(args)
    check_run_output(args.video, args.output, video=False)
    with output_dir(args.output):
        result = render(args.video, options, progress=True, weights=args.weights)
        written = write_run(result, args.output, progress=True)
    for path in written.values():
        print(path)
    return 0

