"""The speed and memory options of the facecam engine, side by side, on the same inputs and noise.

Each configuration builds the same random-weight expert pair afresh (same seed), applies its options
with :mod:`facecam.speed` in the engine's order and runs one generation to latents
(``output_type="latent"``). Printed per configuration: seconds per denoising step (mean over steps
2..N), seconds per video (the whole call, VAE encoding included, no decoding), peak GPU memory of
the call (CUDA), and the relative L2 distance of the final latents to the baseline's.

* the baseline is the release's way: two guidance passes per step, native (PyTorch SDPA) attention,
  bf16 on a GPU, everything on the device;
* ``best``: the fastest attention/compile choice measured, plus the fastest cache whose latents stay
  within 5% of the baseline's, composed and run last.

``--full`` (CUDA): the full-size Wan2.2-I2V-A14B expert pair (2 x 14B parameters, random bf16 weights,
nothing downloaded; a tiny VAE, which is not what is measured) at 704x480x81 = 55,440 tokens per
expert call. Without it: the tiny test model (2 blocks of width 24) at a small size, on the CPU in
fp32 - a REDUCED configuration whose figures say nothing about a GPU; the output says so.
Deviations on random weights are not the deviations on the real weights.

    python benchmarks/generate_speed.py                                  # CPU: tiny model
    python benchmarks/generate_speed.py --full --steps 8                 # CUDA: A14B pair, 8 steps
    python benchmarks/generate_speed.py --full --configs baseline offload-group+int8 --steps 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from facecam import speed  # noqa: E402
from facecam.pipeline import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT, FaceCamPipeline, make_scheduler  # noqa: E402

# name -> options (the FaceCamEngine option names); "best" is composed from the measured ones.
CONFIGS = {
    "baseline": {},
    "compile": {"compile": True},
    "batch-guidance": {"batch_guidance": True},
    "first-block": {"cache": "first-block"},
    "taylorseer": {"cache": "taylorseer"},
    "mag": {"cache": "mag"},
    "int8": {"quantize": "int8"},
    "fp8": {"quantize": "fp8"},
    "offload-group": {"offload": "group"},
    "offload-group+int8": {"offload": "group", "quantize": "int8"},
    "offload-model": {"offload": "model"},
}
# offload and fp8 need a GPU
CPU_CONFIGS = ("baseline", "compile", "batch-guidance", "first-block", "taylorseer", "mag", "int8")
MAX_CACHE_DEVIATION = 0.05


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="full-size A14B experts at 704x480x81 (needs CUDA)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: 50 with --full, else 20)")
    p.add_argument("--configs", nargs="+", default=None, metavar="NAME",
                   help=f"configurations to run, the baseline first (known: {', '.join(CONFIGS)}, best); "
                        "default: every one the device can run, then best")
    p.add_argument("--attention", default=None, metavar="BACKEND",
                   help="also measure this attention backend (flash, sage, _flash_3_hub, ...)")
    p.add_argument("--cfg", type=float, default=5.0, help="guidance scale (two passes per step when > 1)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per configuration, the fastest kept (default: 1 with --full, else 3)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    return p.parse_args()


# --------------------------------------------------------------------------- models
class Builder:
    """Builds the same pipeline (weights, inputs) for each configuration."""

    def __init__(self, full: bool, device: torch.device):
        self.full, self.device = full, device
        self.dtype = torch.bfloat16 if full else torch.float32
        if full:
            self.frames, self.size = 81, (704, 480)
        else:
            from facecam.model.tiny import write_tiny_model

            self.tiny = write_tiny_model(Path(tempfile.mkdtemp(prefix="generate-speed-")) / "weights")
            self.frames, self.size = 17, (128, 96)
        rng = np.random.default_rng(0)
        shape = (self.frames, *self.size, 3)
        self.videos = (rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 256, shape, dtype=np.uint8))

    def pipeline(self) -> FaceCamPipeline:
        if not self.full:
            pipe = FaceCamPipeline.from_pretrained(self.tiny, torch_dtype=self.dtype)
        else:
            from dit_step import build_model

            from facecam.model.tiny import tiny_vae
            from facecam.model.transformer import A14B_WAN_CONFIG

            torch.manual_seed(0)  # the same random experts for every configuration
            experts = [build_model(dict(A14B_WAN_CONFIG), self.device, self.dtype) for _ in range(2)]
            pipe = FaceCamPipeline(transformer=experts[0], transformer_2=experts[1], vae=tiny_vae(),
                                   scheduler=make_scheduler())
            text = torch.Generator().manual_seed(1)
            for prompt in (DEFAULT_PROMPT, DEFAULT_NEGATIVE_PROMPT):
                pipe.prompt_cache.put(prompt, torch.randn(1, 512, A14B_WAN_CONFIG["text_dim"], generator=text))
        pipe.set_progress_bar_config(disable=True)
        return pipe


def apply_options(pipe: FaceCamPipeline, options: dict, device: torch.device, steps: int, mag_ratios) -> None:
    """As FaceCamEngine does: quantize, attention, cache, placement, compile."""
    offload = options.get("offload", "none")
    if offload != "none":
        # The full-size experts are built on the GPU (fast); offload starts from CPU memory, as a loaded engine.
        speed.quantize_experts(pipe, options.get("quantize", "none"), device)
        pipe.to("cpu")
    else:
        speed.quantize_experts(pipe, options.get("quantize", "none"), device, work_device=device)
    if options.get("attention", "native") != "native":
        speed.set_attention(pipe, options["attention"])
    speed.apply_cache(pipe, options.get("cache", "none"), options.get("cache_threshold"), steps=steps,
                      mag_ratios=mag_ratios)
    speed.apply_offload(pipe, offload, device)
    if options.get("compile"):
        speed.compile_experts(pipe)


# --------------------------------------------------------------------------- measuring
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generate(pipe: FaceCamPipeline, videos, steps: int, cfg: float, device: torch.device,
             batch_guidance: bool = False) -> dict:
    """One timed generation to latents; step times from the end-of-step callback."""
    marks: list[float] = []

    def mark(p, i, t, tensors):
        sync(device)
        marks.append(time.perf_counter())
        return {}

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    latents = pipe(*videos, num_inference_steps=steps, guidance_scale=cfg, output_type="latent",
                   generator=torch.Generator("cpu").manual_seed(0), callback_on_step_end=mark,
                   batch_guidance=batch_guidance).frames
    sync(device)
    total = time.perf_counter() - start
    per_step = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else total
    return {"latents": latents.float().cpu(), "s_per_step": per_step, "s_per_video": total,
            "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}


def run_config(builder: Builder, name: str, options: dict, args, mag_ratios) -> dict:
    device = builder.device
    pipe = builder.pipeline()
    setup = time.perf_counter()
    apply_options(pipe, options, device, args.steps, mag_ratios)
    warmup = None
    if options.get("compile") or name == "baseline":
        # The first call pays compilation (compile) or kernel selection (the first run of the process).
        start = time.perf_counter()
        generate(pipe, builder.videos, 2, args.cfg, device, bool(options.get("batch_guidance")))
        warmup = time.perf_counter() - start
    setup = time.perf_counter() - setup
    runs = [generate(pipe, builder.videos, args.steps, args.cfg, device, bool(options.get("batch_guidance")))
            for _ in range(args.repeats)]
    result = min(runs, key=lambda r: r["s_per_video"])
    result["s_per_step"] = min(r["s_per_step"] for r in runs)
    del pipe
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"name": name, "options": options, "setup_s": setup, "warmup_s": warmup, **result}


def calibrate(builder: Builder, args) -> dict:
    pipe = builder.pipeline()
    pipe.to(builder.device)
    ratios = speed.calibrate_mag_cache(pipe, *builder.videos, steps=args.steps, guidance_scale=args.cfg)
    del pipe
    return ratios


def best_options(results: list[dict]) -> dict:
    """The fastest attention/compile choice per step, plus the fastest cache within MAX_CACHE_DEVIATION."""
    by_name = {r["name"]: r for r in results}
    base = by_name["baseline"]
    options: dict = {}
    for r in results:
        keys = set(r["options"])
        if keys and keys <= {"attention", "compile", "batch_guidance"} and r["s_per_step"] < base["s_per_step"]:
            options.update(r["options"])
    caches = [r for r in results if set(r["options"]) == {"cache"} and r["deviation"] <= MAX_CACHE_DEVIATION
              and r["s_per_video"] < base["s_per_video"]]
    if caches:
        options.update(min(caches, key=lambda r: r["s_per_video"])["options"])
    return options


def report(results: list[dict], header: list[str]) -> str:
    base = results[0]
    lines = header + ["", f"{'configuration':<22}{'s/step':>9}{'x/step':>8}{'s/video':>10}{'x/video':>9}"
                      f"{'peak GiB':>10}{'rel L2':>10}{'warm-up s':>11}  options"]
    for r in results:
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
        warm = f"{r['warmup_s']:.1f}" if r["warmup_s"] is not None else "-"
        lines.append(f"{r['name']:<22}{r['s_per_step']:>9.4f}{base['s_per_step'] / r['s_per_step']:>8.2f}"
                     f"{r['s_per_video']:>10.3f}{base['s_per_video'] / r['s_per_video']:>9.2f}{peak:>10}"
                     f"{r['deviation']:>10.4f}{warm:>11}  {json.dumps(r['options'])}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    cuda = torch.cuda.is_available()
    if args.full and not cuda:
        sys.exit("generate_speed: --full builds two 14B-parameter experts and needs a CUDA GPU")
    device = torch.device("cuda" if cuda else "cpu")
    args.steps = args.steps or (50 if args.full else 20)
    args.repeats = args.repeats or (1 if args.full else 3)
    names = list(args.configs or [*(CONFIGS if cuda else CPU_CONFIGS), "best"])
    if cuda and args.configs is None and torch.cuda.get_device_capability(device) < (8, 9):
        names.remove("fp8")
    if names[0] != "baseline":
        names.insert(0, "baseline")
    configs = {n: dict(CONFIGS[n]) for n in names if n != "best"}
    if args.attention:
        configs[f"attention-{args.attention}"] = {"attention": args.attention}
    if any(o.get("quantize") for o in configs.values()):
        try:
            speed.check_quantize("int8", device)
        except Exception as exc:  # noqa: BLE001 - reported, the other configurations still run
            print(f"generate_speed: skipping quantized configurations: {exc}")
            configs = {n: o for n, o in configs.items() if not o.get("quantize")}

    builder = Builder(args.full, device)
    card = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    header = [f"generate_speed  {datetime.datetime.now().isoformat(timespec='seconds')}  {card}",
              ("full-size A14B expert pair, random bf16 weights, 704x480x81 (55,440 tokens per expert call)"
               if args.full else
               "REDUCED configuration: the tiny test model (2 blocks, width 24), fp32 on the CPU, "
               f"{builder.frames} frames at {builder.size[0]}x{builder.size[1]}; NOT a GPU figure"),
              f"steps {args.steps}, guidance {args.cfg} (two passes per step), fastest of {args.repeats} run(s), "
              f"torch {torch.__version__}; "
              "x = speed-up over the baseline, rel L2 = |latents - baseline| / |baseline| (random weights)"]
    mag_ratios = calibrate(builder, args) if any(o.get("cache") == "mag" for o in configs.values()) else None

    results = []
    for name, options in configs.items():
        print(f"generate_speed: {name} ...", file=sys.stderr, flush=True)
        results.append(run_config(builder, name, options, args, mag_ratios))
        results[-1]["deviation"] = float((results[-1]["latents"] - results[0]["latents"]).norm()
                                         / results[0]["latents"].norm())
    if "best" in names:
        options = best_options(results)
        if options:
            print("generate_speed: best ...", file=sys.stderr, flush=True)
            results.append(run_config(builder, "best", options, args, mag_ratios))
            results[-1]["deviation"] = float((results[-1]["latents"] - results[0]["latents"]).norm()
                                             / results[0]["latents"].norm())
    print(report(results, header))
    if args.json:
        rows = [{k: v for k, v in r.items() if k != "latents"} for r in results]
        Path(args.json).write_text(json.dumps({"header": header, "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
