"""`facecam data build` and `facecam data show`: make training shards, look at them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._options import ProseAndExamplesFormatter, seed_type

ORDER = 70


def register(sub) -> None:
    p = sub.add_parser("data", help="build FaceCam training shards (NeRSemble + in-the-wild clips) and inspect them",
                       description="Training-data generation (paper 3.4): multi-shot stitching of NeRSemble cameras, "
                                   "synthetic zoom/pan, in-the-wild pairs, written as WebDataset-style tar shards. "
                                   "See docs/data.md for the layouts read and the sample format.")
    verbs = p.add_subparsers(dest="data_command", metavar="VERB")

    b = verbs.add_parser("build", help="write training shards",
                         description="Write N samples into OUT/shard-XXXXXX.tar. Deterministic for a seed; "
                                     "re-running the same command after a crash finishes the missing samples only. "
                                     "Split across machines with --num-shards N --shard-index I (one job each, same OUT).",
                         epilog="examples:\n  facecam data build --wild clips/ -o shards/ --samples 64\n"
                                "  facecam data build --nersemble /data/nersemble --wild clips/ -o shards/ "
                                "--samples 10000 --workers 2\n"
                                "  facecam data build --wild clips/ -o shards/ --samples 256 --num-shards 8 "
                                "--shard-index 0",
                         formatter_class=ProseAndExamplesFormatter)
    b.add_argument("--nersemble", metavar="DIR", help="NeRSemble root (<participant>/sequences/<sequence>/...)")
    b.add_argument("--wild", metavar="DIR", help="folder of monocular portrait clips (any video container)")
    b.add_argument("-o", "--out", "--output", required=True, metavar="OUT", help="output folder for the shards")
    b.add_argument("--samples", type=int, required=True, metavar="N", help="samples in the whole build (all machines)")
    b.add_argument("--seed", type=seed_type, default=0, help="build seed (default 0)")
    b.add_argument("--workers", type=int, default=1, metavar="W", help="processes on this machine (default 1)")
    b.add_argument("--num-shards", type=int, default=1, metavar="N", help="machines the build is split over (default 1)")
    b.add_argument("--shard-index", type=int, default=0, metavar="I", help="this machine's part, 0..N-1 (default 0)")
    b.add_argument("--samples-per-shard", type=int, default=32, help="samples per tar shard (default 32)")
    b.add_argument("--frames", type=int, default=81, help="frames per clip, 4k+1 (default 81)")
    b.add_argument("--size", default="704x480", metavar="HxW", help="clip height x width (default 704x480)")
    b.add_argument("--max-targets", type=int, default=4, metavar="K", help="at most K stitched cameras per target (default 4)")
    b.add_argument("--stride", type=int, default=3, help="NeRSemble frame stride (default 3)")
    b.add_argument("--wild-fraction", type=float, default=None,
                   help="share of in-the-wild samples when both sources are given (default 0.022: the paper's 0.2K of 9.1K)")
    b.add_argument("--background", choices=("replace", "keep"), default="replace",
                   help="replace NeRSemble backgrounds by a random colour (default) or keep them")
    b.add_argument("--include-marked", action="store_true",
                   help="also use NeRSemble sequences marked 'm' in metadata_sequences.csv (skipped by default)")
    b.add_argument("--split", choices=("train", "val", "all"), default="train",
                   help="NeRSemble participants: train (first 98%%, default), val (last 2%%) or all")
    b.add_argument("--vae", metavar="DIR", help="diffusers AutoencoderKLWan folder: also store normalised latents")
    b.add_argument("--device", default=None, metavar="DEVICE",
                   help="where --vae encodes (default: cuda when present, else cpu)")
    b.add_argument("--vae-dtype", choices=("float32", "bfloat16"), default=None,
                   help="--vae precision (default: bfloat16 on a GPU, float32 on a CPU)")
    b.add_argument("--cache", metavar="DIR", help="landmark cache folder (default OUT/.cache/landmarks)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)

    s = verbs.add_parser("show", help="contact sheet of a shard's samples",
                         description="Write a PNG with one row per sample: source | target | condition, "
                                     "at the first, middle and last frame.",
                         epilog="example:\n  facecam data show shards/shard-000000.tar --samples 8 -o sheet.png",
                         formatter_class=ProseAndExamplesFormatter)
    s.add_argument("shard", metavar="SHARD", help="a shard-XXXXXX.tar")
    s.add_argument("-o", "--out", "--output", metavar="PNG", help="output image (default: SHARD with .png)")
    s.add_argument("--samples", type=int, default=4, help="samples to show, 1 or more (default 4)")
    s.set_defaults(func=run_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])  # a usage error, as argparse's (1 is a WRONG verdict)


def run_build(args: argparse.Namespace) -> int:
    from ..errors import FacecamError
    from ..video.crop import parse_size
    from ..video.io import check_frame_count
    from ..video.outputs import check_output_dir
    from ..data.build import build_dataset, load_sources, shard_count
    from ._options import check_count
    from ..data.samples import BuildConfig

    if not args.nersemble and not args.wild:
        raise FacecamError("give --nersemble DIR and/or --wild DIR")
    from .._atomic import check_writable

    check_output_dir(args.out)
    check_writable(args.out, "output folder")  # before the sources' scan and the VAE's load
    fresh = not Path(args.out).exists()
    check_count("--samples", args.samples, 1)
    check_count("--samples-per-shard", args.samples_per_shard, 1)
    check_count("--workers", args.workers, 1)
    check_count("--stride", args.stride, 1)
    check_count("--max-targets", args.max_targets, 1)
    check_count("--num-shards", args.num_shards, 1)
    if not 0 <= args.shard_index < args.num_shards:
        raise FacecamError(f"--shard-index must be in 0..{args.num_shards - 1} (--num-shards {args.num_shards}), "
                           f"got {args.shard_index}")
    total = shard_count(args.samples, args.samples_per_shard)
    if total < args.num_shards:  # said by every job of the array, the ones with work included
        idle = f"job {total}" if args.num_shards - total == 1 else f"jobs {total}-{args.num_shards - 1}"
        print(f"facecam: warning: {_count(args.samples, 'sample')} at --samples-per-shard {args.samples_per_shard} "
              f"make {_count(total, 'shard')}, fewer than --num-shards {args.num_shards}: {idle} "
              f"(--shard-index) have none; give more --samples or a smaller --samples-per-shard", file=sys.stderr)
    if 1 <= args.frames < 5:  # the VAE's 4k+1 allows 1, but a sample is a moving clip
        raise FacecamError(f"--frames must be at least 5 for training clips (4k+1, e.g. 17, 49, 81), got {args.frames}")
    if args.cache:
        check_writable(args.cache, "--cache folder")
    if args.wild_fraction is None:
        args.wild_fraction = BuildConfig.wild_fraction
    if not 0.0 <= args.wild_fraction <= 1.0:
        raise FacecamError(f"--wild-fraction must be in [0, 1], got {args.wild_fraction}")
    config = BuildConfig(frames=check_frame_count(args.frames), size=parse_size(args.size), stride=args.stride,
                         max_targets=args.max_targets, wild_fraction=args.wild_fraction, background=args.background,
                         split=args.split, samples_per_shard=args.samples_per_shard)
    sources = load_sources(args.nersemble, args.wild, args.split, include_marked=args.include_marked)
    encoder = None
    if args.vae:
        from ..data.latents import WanVideoEncoder

        if not Path(args.vae).is_dir():
            raise FacecamError(f"--vae folder not found: {args.vae}")
        encoder = WanVideoEncoder.from_pretrained(args.vae, args.device, args.vae_dtype)
    summary = build_dataset(args.out, sources, args.samples, args.seed, config, workers=args.workers,
                            num_shards=args.num_shards, shard_index=args.shard_index, encoder=encoder,
                            cache=args.cache, progress=not args.quiet)
    record = {**summary.to_dict(), "seed": args.seed, "num_shards": args.num_shards, "shard_index": args.shard_index,
              "workers": args.workers, "sources": {"nersemble_sequences": len(sources.nersemble),
                                                   "wild_clips": len(sources.wild)}}
    out = Path(args.out)
    if summary.failed and summary.samples_made == 0 and summary.samples_resumed == 0:
        # Nothing was made: no summary, no "complete" line for a folder that is about to go.
        _say_failures(summary)
        _drop_fresh(args, fresh)
        raise FacecamError(f"no sample could be made: all {len(summary.failed)} failed (reasons above)")
    summary_path = out / f"summary-{args.shard_index:04d}-of-{args.num_shards:04d}.json"
    summary_path.write_text(json.dumps(record, indent=1))
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(summary.kinds.items())) or "none"
    shards = _count(len(summary.shards), "shard")
    if args.shard_index >= total:
        print(f"nothing to do: --shard-index {args.shard_index} owns no shard ({_count(args.samples, 'sample')} make "
              f"{_count(total, 'shard')}); summary: {summary_path}")
    elif summary.samples_made == 0 and not summary.failed and not summary.packed:
        # (no sample count: a complete shard's samples include any an earlier run left out)
        print(f"nothing to do: the build in {out} is complete ({shards}); summary: {summary_path}")
    else:
        print(f"{shards} complete in {out} ({_count(summary.samples_made, 'sample')} made: {kinds}; "
              f"{summary.samples_resumed} already there; {len(summary.failed)} failed; "
              f"{_count(summary.retried, 'attempt')} re-planned: no face or unreadable clip)")
        print(f"{summary.seconds:.1f} s, {summary.samples_per_minute:.2f} samples/min; summary: {summary_path}")
    if summary.short:
        stride = f" (NeRSemble sequences: at --stride {config.stride})" if sources.nersemble else ""
        print(f"facecam: warning: {_count(summary.short, 'sample')} of this run came from clips shorter than "
              f"{config.frames} frames at {config.fps:g} fps{stride}: their last frame is held to the end (a frozen "
              f"tail; `frames_held` in a sample's record); give longer clips or a smaller --frames", file=sys.stderr)
    _say_failures(summary)
    return 0


def _say_failures(summary) -> None:
    """The samples every attempt failed for, and the five commonest reasons (stderr)."""
    if summary.failed:
        print(f"samples left out (every attempt failed): {summary.failed[:20]}", file=sys.stderr)
    for reason, count in sorted(summary.reasons.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count}x {reason}", file=sys.stderr)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _drop_fresh(args: argparse.Namespace, fresh: bool) -> None:
    """A build that made the output folder and then not one sample: the folder goes again (an empty shard,
    the caches and the staging area would read as a build). Only then: an interrupted build keeps what it
    made, to resume. Not when the build is split over machines, which write into the same folder."""
    import shutil

    if fresh and args.num_shards == 1:
        shutil.rmtree(args.out, ignore_errors=True)


# What cv2.imwrite can write the contact sheet as.
SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def run_show(args: argparse.Namespace) -> int:
    from ..data.shards import check_shard
    from ..data.show import contact_sheet
    from ..errors import FacecamError
    from ._options import check_count

    check_count("--samples", args.samples, 1)
    shard = check_shard(args.shard)
    out = Path(args.out) if args.out else shard.with_suffix(".png")
    if out.suffix.lower() not in SHEET_SUFFIXES:
        raise FacecamError(f"-o names the image written: give a .png (or {', '.join(SHEET_SUFFIXES[1:])}) name, "
                           f"got {out.name}")
    if out.exists() and not out.is_file():
        raise FacecamError(f"-o {out} is a folder, not an image file: give the .png to write")
    rows = contact_sheet(shard, out, args.samples)
    print(f"wrote {out} ({rows} samples: source | target | condition at first, middle, last frame)")
    return 0
