"""`facecam generate-many`: many videos over many GPUs (``accelerate launch``), or one video split over GPUs.

Each process of ``accelerate launch --num_processes N -m facecam generate-many ...`` takes
its GPU from ``LOCAL_RANK`` and every N-th video. With ``--context-parallel`` all N
processes work on each video together (diffusers context parallelism, Ulysses over the
DiT token sequence) and rank 0 writes the files. Outputs are the files of
``facecam generate`` for each video.
"""

from __future__ import annotations

import argparse

ORDER = 31


def register(sub) -> None:
    p = sub.add_parser(
        "generate-many", help="re-angle many videos with the facecam engine on several GPUs",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  accelerate launch --num_processes 4 -m facecam generate-many clips/*.mp4 --camera arc-left "
               "--weights ~/facecam-weights -o out/\n"
               "  accelerate launch --num_processes 2 -m facecam generate-many talk.mp4 --context-parallel "
               "--weights ~/facecam-weights -o out/")
    p.add_argument("videos", nargs="+", help="source videos")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    from ._options import add_condition_options, add_engine_options

    add_condition_options(p)
    g = add_engine_options(p, "facecam engine", device=False)
    g.add_argument("--context-parallel", action="store_true",
                   help="split each video's denoising over all launched processes instead of sharding videos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..condition.builder import build_condition
    from ..engines import get_engine
    from ..video.outputs import prepare_output_dir, write_outputs
    from ._options import condition_kwargs
    from .condition import condition_files

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.context_parallel and world > 1:
        import torch
        import torch.distributed as dist

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl")
        mine = list(args.videos)  # every rank works on every video
    else:
        mine = list(args.videos)[rank::world]
    kwargs = condition_kwargs(args)
    prepare_output_dir(args.output)
    engine = get_engine("facecam", weights=args.weights or os.environ.get("FACECAM_WEIGHTS"), steps=args.steps,
                        cfg=args.cfg, offload=args.offload, dtype=args.dtype,
                        context_parallel=world if args.context_parallel else 1)
    for video in mine:
        clip = build_condition(video, progress=rank == 0, **kwargs)
        # The same seed on every rank: context-parallel ranks must start from identical noise.
        frames = engine.generate(clip, seed=args.seed if args.seed is not None else 0, progress=rank == 0)
        if args.context_parallel and rank != 0:
            continue
        files = {f"{clip.name}.mp4": frames, **condition_files(clip)}
        files[f"{clip.name}_camera.json"]["engine"] = "facecam"
        for path in write_outputs(args.output, files, clip.fps).values():
            print(path, file=sys.stdout)
    return 0
