"""What each difference between the default and the release profile changes, measured without real weights.

For every shared clip (``../shared/media``):

* crop resize: mean absolute difference (grey levels) between the default crop (area filter when
  shrinking) and the release's bilinear crop of the same window;
* source frames: seconds of the file an 81-frame clip covers at 24 fps (default) and with
  consecutive frames (release), and the mean absolute difference of their last frames;
* condition start: distance (pixels) between the source nose and the condition's nose in the first
  frame - relative mode draws the proxy on the source head, absolute mode in the top square.

On the tiny random model (CPU, fp32 experts, 10 steps, 17 frames at 128x96 from one shared clip):

* bf16 latents between steps: relative L2 of the final latents against float32 latents;
* bf16 VAE: relative L2 of the encoded source latents, and mean absolute difference (grey levels) of
  the decoded frames, against the float32 VAE.

What these differences do to a video from the real weights is not measured here (no run with the real weights yet).
Prints one JSON object. Usage: ``python benchmarks/release_profile.py [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def clip_figures(path: Path, weights: Path) -> dict:
    from facecam.profiles import resolve_profile
    from facecam.run import ConditionOptions, render
    from facecam.video.crop import apply_crop
    from facecam.video.io import read_video

    default = render(path, ConditionOptions(frames=81, camera="static", framing="reference"))
    release_opts = resolve_profile(ConditionOptions(frames=81, profile="release"), str(weights))
    release = render(path, release_opts)
    raw = read_video(path, fps=None, num_frames=81)
    resampled = read_video(path, fps=24.0, num_frames=81)
    box = release.clip.crop
    area, linear = apply_crop(raw.frames[:1], box, "auto"), apply_crop(raw.frames[:1], box, "linear")
    nose_src = default.clip.source_track.points[0, 4, :2]
    nose_rel = default.clip.condition_points[0, 4, :2]
    nose_abs = release.clip.condition_points[0, 4, :2]
    return {
        "clip": path.name,
        "file_fps": raw.fps,
        "crop_area_vs_linear_mad": float(np.abs(area.astype(float) - linear.astype(float)).mean()),
        "span_s_default": round(80 / 24.0, 3),
        "span_s_release": round(80 / raw.fps, 3),
        "last_frame_mad_resampled_vs_consecutive": float(np.abs(resampled.frames[-1].astype(float)
                                                                - raw.frames[-1].astype(float)).mean()),
        "condition_nose_offset_px_relative": float(np.linalg.norm(nose_rel - nose_src)),
        "condition_nose_offset_px_absolute": float(np.linalg.norm(nose_abs - release.clip.source_track.points[0, 4, :2])),
    }


def model_figures(weights: Path, clip_path: Path) -> dict:
    import torch

    from facecam.model.vae import decode_pixels, encode_pixels
    from facecam.pipeline import FaceCamPipeline
    from facecam.run import ConditionOptions, render

    torch.manual_seed(0)
    run = render(clip_path, ConditionOptions(frames=17, size=(128, 96), camera="arc-left"))
    pipe = FaceCamPipeline.from_pretrained(weights, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)

    def final(**kw):
        return pipe(run.clip.source, run.clip.condition, num_inference_steps=10, output_type="latent",
                    generator=torch.Generator().manual_seed(0), **kw).frames

    fp32, bf16 = final(), final(latents_dtype=torch.bfloat16)
    pixels = torch.from_numpy(run.clip.source).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    z32 = encode_pixels(pipe.vae, pixels)
    d32 = decode_pixels(pipe.vae, z32)
    pipe.vae.to(torch.bfloat16)
    z16 = encode_pixels(pipe.vae, pixels)
    d16 = decode_pixels(pipe.vae, z32)
    rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
    return {
        "model": "tiny random (CPU, fp32 experts)",
        "latents_bf16_between_steps_rel_l2": rel(bf16, fp32),
        "vae_bf16_encode_rel_l2": rel(z16, z32),
        "vae_bf16_decode_mad_grey_levels": float(((d16 - d32).abs() * 127.5).mean()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if not MEDIA.is_dir():
        print(f"needs the shared clips in {MEDIA}", file=sys.stderr)
        return 1
    import tempfile

    from facecam.model.tiny import write_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        weights = write_tiny_model(Path(tmp) / "tiny")
        clips = [clip_figures(p, weights) for p in sorted(MEDIA.glob("*.mp4"))]
        model = model_figures(weights, MEDIA / "facecam_000.mp4")
    out = {"clips": clips, "tiny_model": model}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
