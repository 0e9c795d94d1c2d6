"""Options shared by the verbs that build a camera condition (condition, generate, bench)."""

from __future__ import annotations

import argparse


def add_condition_options(parser: argparse.ArgumentParser) -> None:
    """--camera, --strength, --frames, --fps, --size, --proxy, --mode, --seed."""
    g = parser.add_argument_group("camera and condition")
    g.add_argument("--camera", "-c", default="arc-left", metavar="PRESET|FILE.json",
                   help="camera move: a preset (see `facecam cameras`) or a JSON keyframe file (default: arc-left)")
    g.add_argument("--strength", type=float, default=1.0,
                   help="multiply the camera move (0.5 = half the angle/zoom/pan; default 1)")
    g.add_argument("--frames", type=int, default=81, help="output frames, 4k+1 (default 81 = 3.4 s at 24 fps)")
    g.add_argument("--fps", type=float, default=24.0, help="output frame rate; the source is resampled (default 24)")
    g.add_argument("--size", default="704x480", metavar="HxW", help="output height x width (default 704x480, the model's size)")
    g.add_argument("--proxy", default="subject", metavar="subject|template|PATH.ply",
                   help="head seen by the target camera: the subject's own first-frame mesh (default), "
                        "the generic template head, or a 3D Gaussian head .ply (the authors' gaussians.ply)")
    g.add_argument("--mode", default="relative", choices=("relative", "absolute"),
                   help="relative: the proxy sits on the source head and the move starts at the source view "
                        "(default); absolute: the authors' proxy views on a sphere, top square of the canvas")
    g.add_argument("--seed", type=int, default=None, help="seed for the random preset and the engines")


def condition_kwargs(args: argparse.Namespace) -> dict:
    from ..video.crop import parse_size

    return {
        "camera": args.camera,
        "strength": args.strength,
        "num_frames": args.frames,
        "fps": args.fps,
        "size": parse_size(args.size),
        "proxy": args.proxy,
        "mode": args.mode,
        "seed": args.seed,
    }


def add_engine_options(parser: argparse.ArgumentParser, title: str = "facecam engine",
                       device: bool = True) -> argparse._ArgumentGroup:
    """--weights, --steps, --cfg, --offload, [--device], --dtype: the diffusion engine's options; returns the group."""
    g = parser.add_argument_group(title)
    g.add_argument("--weights", metavar="DIR", default=None,
                   help="weights folder (base Wan2.2-I2V-A14B + FaceCam fine-tunes); default $FACECAM_WEIGHTS")
    g.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    g.add_argument("--cfg", type=float, default=5.0, help="classifier-free guidance scale (default 5.0)")
    g.add_argument("--offload", action="store_true", help="model CPU offload + VAE tiling (48 GB cards)")
    if device:
        g.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    g.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"),
                   help="compute dtype (default bfloat16)")
    return g
