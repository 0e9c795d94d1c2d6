"""Seconds per denoising step, peak memory and achieved TFLOP/s of one FaceCam expert.

Default (a CUDA GPU is present): the full-size Wan2.2-I2V-A14B expert (dim 5120, 40 layers)
with random bf16 weights - nothing is downloaded - on the release's input, 704x480 and
81 frames: 21 target + 21 source latent frames = 2 x 21 x 44 x 30 = 55,440 tokens, 512
text tokens. A denoising step is two forwards (classifier-free guidance).

Without a GPU it runs a *reduced* configuration (full layer width, 2 layers, a small
video, float32) and says so in its output; the figure is then only a smoke number.

    python benchmarks/dit_step.py                  # auto
    python benchmarks/dit_step.py --layers 40 --frames 81 --height 704 --width 480 --dtype bf16
    python benchmarks/dit_step.py --attention-backend flash --compile
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from facecam.model.transformer import A14B_WAN_CONFIG, FaceCamTransformer, keep_fp32_modules


def parse_args() -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=40 if cuda else 2, help="transformer blocks (A14B: 40)")
    p.add_argument("--frames", type=int, default=81 if cuda else 17, help="video frames, 4k+1 (release: 81)")
    p.add_argument("--height", type=int, default=704 if cuda else 128)
    p.add_argument("--width", type=int, default=480 if cuda else 96)
    p.add_argument("--dtype", default="bf16" if cuda else "fp32", choices=("bf16", "fp16", "fp32"))
    p.add_argument("--repeats", type=int, default=3 if cuda else 2, help="timed forwards after one warm-up")
    p.add_argument("--attention-backend", default=None,
                   help="diffusers attention backend (e.g. flash, _flash_3, _native_cudnn); default: torch SDPA")
    p.add_argument("--compile", action="store_true", help="torch.compile the repeated transformer blocks")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    return p.parse_args()


def flops_per_forward(cfg: dict, tokens: int, text_tokens: int) -> float:
    """Matmul FLOPs of one DiT forward (2 per multiply-add); norms, rotary, softmax and embeddings omitted."""
    d, ffn, layers = cfg["dim"], cfg["ffn_dim"], cfg["num_layers"]
    n, l_txt = tokens, text_tokens
    per_block = (
        2 * n * d * d * 4            # self-attention q, k, v, o
        + 2 * 2 * n * n * d          # self-attention scores and weighted sum
        + 2 * n * d * d * 2          # cross-attention q, o
        + 2 * l_txt * d * d * 2      # cross-attention k, v on the text tokens
        + 2 * 2 * n * l_txt * d      # cross-attention scores and weighted sum
        + 2 * n * d * ffn * 2        # feed-forward
    )
    patch = 2 * n * cfg["in_dim"] * 4 * d + 2 * n * d * cfg["out_dim"] * 4
    return layers * per_block + patch


def build_model(cfg: dict, device: torch.device, dtype: torch.dtype) -> FaceCamTransformer:
    """Random weights directly on the device (meta -> empty -> normal init): no 57 GB fp32 detour."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    from diffusers.utils import logging as dlogging

    dlogging.set_verbosity_error()  # the fp32-modules cast warning: keep_fp32_modules() below handles it
    model = FaceCamTransformer.from_wan_config(device="meta", **cfg).to(dtype)
    model = model.to_empty(device=device)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    # Rotary tables are computed buffers; to_empty left them uninitialised.
    model.rope = WanRotaryPosEmbed(model.config.attention_head_dim, model.config.patch_size,
                                   model.config.rope_max_seq_len).to(device)
    keep_fp32_modules(model)
    return model.eval()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    reduced = not (cuda and args.layers == 40 and args.frames == 81 and (args.height, args.width) == (704, 480))
    cfg = dict(A14B_WAN_CONFIG, num_layers=args.layers)
    model = build_model(cfg, device, dtype)
    if args.attention_backend:
        model.set_attention_backend(args.attention_backend)
    if args.compile:
        model.compile_repeated_blocks(fullgraph=True)

    f = (args.frames - 1) // 4 + 1
    h, w = args.height // 8, args.width // 8
    gen = torch.Generator(device="cpu").manual_seed(0)
    lat = lambda: torch.randn(1, 16, f, h, w, generator=gen).to(device, dtype)  # noqa: E731
    noisy, source, camera = lat(), lat(), lat()
    text = torch.randn(1, 512, cfg["text_dim"], generator=gen).to(device, dtype)
    t = torch.tensor([937.0], device=device)
    tokens = 2 * f * (h // 2) * (w // 2)

    def forward():
        with torch.no_grad():
            out = model(noisy, source, camera, t, text)
        if cuda:
            torch.cuda.synchronize()
        return out

    out = forward()  # warm-up (kernels, compile)
    assert out.shape == noisy.shape
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.repeats):
        forward()
    per_forward = (time.perf_counter() - start) / args.repeats
    flops = flops_per_forward(cfg, tokens, 512)
    result = {
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "reduced_configuration": reduced,
        "note": ("full A14B expert at the release size" if not reduced else
                 "REDUCED configuration (not the A14B figure): see layers/frames/size"),
        "layers": args.layers, "dim": cfg["dim"], "frames": args.frames, "size": f"{args.height}x{args.width}",
        "latent_frames_in_dit": 2 * f, "tokens": tokens, "dtype": args.dtype,
        "attention_backend": args.attention_backend or "sdpa", "compiled": args.compile,
        "parameters_billion": round(sum(p.numel() for p in model.parameters()) / 1e9, 3),
        "seconds_per_forward": round(per_forward, 4),
        "seconds_per_step_cfg": round(2 * per_forward, 4),
        "seconds_per_50_step_video": round(100 * per_forward, 1),  # both experts cost the same
        "tflop_per_forward": round(flops / 1e12, 2),
        "achieved_tflops": round(flops / per_forward / 1e12, 2),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
