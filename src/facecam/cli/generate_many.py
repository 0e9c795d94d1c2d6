"""`facecam generate-many`: many videos over many GPUs (``accelerate launch``), or one video split over GPUs.

Each process of ``accelerate launch --num_processes N -m facecam generate-many ...`` takes
its GPU from ``LOCAL_RANK`` and every N-th video. With ``--context-parallel`` all N
processes work on each video together (diffusers context parallelism, Ulysses over the
DiT token sequence) and rank 0 writes the files. Outputs are the files of
``facecam generate`` for each video.
"""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter

ORDER = 31


def register(sub) -> None:
    p = sub.add_parser(
        "generate-many", help="re-angle many videos with the facecam engine on several GPUs",
        description=__doc__.split("\n\n", 1)[1], formatter_class=ProseAndExamplesFormatter,
        epilog="examples:\n"
               "  accelerate launch --num_processes 4 -m facecam generate-many clips/*.mp4 --camera arc-left "
               "--weights ~/facecam-weights -o out/\n"
               "  accelerate launch --num_processes 2 -m facecam generate-many talk.mp4 --context-parallel "
               "--weights ~/facecam-weights -o out/")
    p.add_argument("videos", nargs="+", help="source videos")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    from ._options import add_condition_options, add_engine_options

    add_condition_options(p)
    g = add_engine_options(p, "facecam engine", exclude=("device",))
    g.add_argument("--context-parallel", action="store_true",
                   help="split each video's denoising over all launched processes instead of sharding videos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..run import check_engine, check_run_output, load_engine, render, write_run
    from ..video.outputs import prepare_output_dir
    from ._options import condition_options, engine_options

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    # The same seed on every rank (the options' default is fixed): context-parallel ranks must start from
    # identical noise.
    options = condition_options(args)
    engine = engine_options(args, engine="facecam", context_parallel=world if args.context_parallel else 1)
    check_engine(engine)
    # A video given twice (a glob and a name, say) is rendered once: the second run replaced the first's files.
    from pathlib import Path

    seen: set = set()
    videos = []
    for video in args.videos:
        key = Path(video).resolve()
        if key in seen:
            if rank == 0:
                import logging

                logging.getLogger("facecam").warning(f"facecam: note: {video} is given more than once; it is "
                                                     f"rendered once")
            continue
        seen.add(key)
        videos.append(video)
    args.videos = videos
    if args.context_parallel and world > 1:
        import torch
        import torch.distributed as dist

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl")
        mine = list(args.videos)  # every rank works on every video
    else:
        mine = list(args.videos)[rank::world]
    # Every input is checked before the model loads (a missing last video stopped the batch after the others
    # had taken minutes each), and two inputs of one name would write the same files: the second replaced the
    # first without a word.
    from ..errors import FacecamError
    from ..video.io import check_video_path

    stems: dict[str, str] = {}
    for video in args.videos:
        check_video_path(video)
        check_run_output(video, args.output, video=True)  # a folder of a result's name in the way, ...
        other = stems.setdefault(Path(video).stem, video)
        if other != video:
            raise FacecamError(f"{other} and {video} would both be written as {Path(video).stem}.mp4 in "
                               f"{args.output}: rename one, or run them into different -o folders")
    prepare_output_dir(args.output)
    loaded = load_engine(engine)
    for video in mine:
        result = render(video, options, engine, loaded=loaded, progress=rank == 0)
        if args.context_parallel and rank != 0:
            continue
        for path in write_run(result, args.output).values():
            print(path, file=sys.stdout)
    return 0
