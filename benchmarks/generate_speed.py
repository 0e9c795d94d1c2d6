"""The speed and memory options of the facecam engine, side by side, on the same inputs and noise.

Each configuration builds the same random-weight expert pair afresh (same seed), applies its options
with :mod:`facecam.speed` in the engine's order and runs one generation to latents
(``output_type="latent"``). Printed per configuration: seconds per denoising step (mean over steps
2..N), seconds per video (the whole call, VAE encoding included, no decoding), peak GPU memory of
the call (CUDA), the most host memory in use while it was set up and run (the drop of
/proc/meminfo's MemAvailable from before the first configuration, sampled every 0.1 s: the whole
machine's, so page-locked memory counts), and the relative L2 distance of the final latents to the
baseline's.

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
import gc
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

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
    p.add_argument("--warmup-steps", type=int, default=2,
                   help="steps of the untimed first call of the baseline and of compiled configurations (default 2)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="start no further configuration once this many seconds have passed (the rest are listed "
                        "as skipped); for a lent GPU's fixed time")
    p.add_argument("--layers", type=int, default=40,
                   help="with --full: blocks per expert (default 40, the A14B's); fewer is a REDUCED check of the "
                        "--full code path, which may then run on the CPU")
    p.add_argument("--frames", type=int, default=None, help="with --full: frames (default 81; fewer is REDUCED)")
    p.add_argument("--size", default=None, metavar="HxW",
                   help="with --full: height x width, as `facecam generate --size` (default 704x480; another size "
                        "is REDUCED)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the results as JSON (rewritten after each configuration)")
    return p.parse_args()


# --------------------------------------------------------------------------- models
class Builder:
    """Builds the same pipeline (weights, inputs) for each configuration."""

    def __init__(self, full: bool, device: torch.device, layers: int = 40, frames: int = 81,
                 size: tuple[int, int] = (704, 480)):
        self.full, self.device, self.layers = full, device, layers
        self.host = HostMemory()  # before any pipeline: the host memory the configurations add to this
        self.dtype = torch.bfloat16 if full and device.type == "cuda" else torch.float32
        if full:
            self.frames, self.size = frames, size
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
            cfg = dict(A14B_WAN_CONFIG, num_layers=self.layers)
            experts = [build_model(cfg, self.device, self.dtype) for _ in range(2)]
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


def release(device: torch.device) -> None:
    """Free what a finished configuration held, so the next one's memory figures are its own.

    A pipeline's modules and hooks hold reference cycles (without the collection the next one may not
    fit), and torch keeps freed page-locked blocks in its host cache: group offload's 54 GiB of them were
    still counted under the next configuration in the 2026-12-04 H200 run.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        empty_host = getattr(getattr(torch, "accelerator", None), "empty_host_cache", None) \
            or getattr(torch._C, "_host_emptyCache", None)
        if empty_host is not None:
            empty_host()


class HostMemory:
    """The most host memory in use while a configuration runs, above what was in use before the first one.

    Read from /proc/meminfo's MemAvailable (the whole machine, so page-locked memory counts, which a
    process's RSS may not show), sampled every ``every`` seconds on a thread; None where there is no
    /proc/meminfo.
    """

    def __init__(self, every: float = 0.1):
        self.every, self.base = every, self.available()

    @staticmethod
    def available() -> Optional[int]:
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def __enter__(self):
        self.least, self.done = self.base, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while self.base is not None:
            self.least = min(self.least, self.available())
            if self.done.wait(self.every):
                return

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()

    @property
    def peak_gib(self) -> Optional[float]:
        return None if self.base is None else (self.base - self.least) / 2**30


def run_config(builder: Builder, name: str, options: dict, args, mag_ratios) -> dict:
    with builder.host as host:
        result = _run_config(builder, name, options, args, mag_ratios)
    return {**result, "host_gib": host.peak_gib}


def _run_config(builder: Builder, name: str, options: dict, args, mag_ratios) -> dict:
    device = builder.device
    pipe = builder.pipeline()
    setup = time.perf_counter()
    apply_options(pipe, options, device, args.steps, mag_ratios)
    warmup = None
    if options.get("compile") or name == "baseline":
        # The first call pays compilation (compile) or kernel selection (the first run of the process).
        start = time.perf_counter()
        generate(pipe, builder.videos, args.warmup_steps, args.cfg, device, bool(options.get("batch_guidance")))
        warmup = time.perf_counter() - start
    setup = time.perf_counter() - setup
    runs = [generate(pipe, builder.videos, args.steps, args.cfg, device, bool(options.get("batch_guidance")))
            for _ in range(args.repeats)]
    result = min(runs, key=lambda r: r["s_per_video"])
    result["s_per_step"] = min(r["s_per_step"] for r in runs)
    del pipe
    release(device)
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


COLUMNS = (f"{'configuration':<22}{'s/step':>9}{'x/step':>8}{'s/video':>10}{'x/video':>9}"
           f"{'peak GiB':>10}{'host GiB':>10}{'rel L2':>10}{'warm-up s':>11}  options")


def row(r: dict, base: Optional[dict]) -> str:
    """One configuration's line; a failed or skipped one says why, a missing baseline leaves the ratios out."""
    if "error" in r:
        return f"{r['name']:<22}{r['error']}"
    peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
    host = f"{r['host_gib']:.1f}" if r.get("host_gib") is not None else "-"
    warm = f"{r['warmup_s']:.1f}" if r["warmup_s"] is not None else "-"
    fast = (f"{base['s_per_step'] / r['s_per_step']:>8.2f}", f"{base['s_per_video'] / r['s_per_video']:>9.2f}",
            f"{r['deviation']:>10.4f}") if base else (f"{'-':>8}", f"{'-':>9}", f"{'-':>10}")
    return (f"{r['name']:<22}{r['s_per_step']:>9.4f}{fast[0]}{r['s_per_video']:>10.3f}{fast[1]}{peak:>10}{host:>10}"
            f"{fast[2]}{warm:>11}  {json.dumps(r['options'])}")


def report(results: list[dict], header: list[str]) -> str:
    base = baseline_of(results)
    return "\n".join(header + ["", COLUMNS] + [row(r, base) for r in results])


def baseline_of(results: list[dict]) -> Optional[dict]:
    return results[0] if results and results[0]["name"] == "baseline" and "error" not in results[0] else None


def write_json(path: Optional[str], header: list[str], results: list[dict]) -> None:
    if path:
        rows = [{k: v for k, v in r.items() if k != "latents"} for r in results]
        Path(path).write_text(json.dumps({"header": header, "results": rows}, indent=1) + "\n")


def measure(builder: Builder, name: str, options: dict, args, mag_ratios, results: list[dict]) -> dict:
    """Run one configuration; a failure (out of memory, a compile error) is recorded and the others go on."""
    print(f"generate_speed: {name} ...", file=sys.stderr, flush=True)
    try:
        r = run_config(builder, name, options, args, mag_ratios)
    except Exception as exc:  # noqa: BLE001 - reported in the table; the remaining configurations still run
        message = " ".join(str(exc).split())[:160]
        r = {"name": name, "options": options, "error": f"failed: {type(exc).__name__}: {message}"}
    if "error" in r:  # the failed pipeline was held by the traceback until here
        release(builder.device)
        return r
    base = baseline_of(results) or (r if name == "baseline" else None)
    if base is not None:
        r["deviation"] = float((r["latents"] - base["latents"]).norm() / base["latents"].norm())
    return r


def main() -> None:
    began = time.perf_counter()
    args = parse_args()
    cuda = torch.cuda.is_available()
    full_size = args.layers == 40 and args.frames in (None, 81) and args.size in (None, "704x480")
    if args.full and not cuda and full_size:
        sys.exit("generate_speed: --full builds two 14B-parameter experts and needs a CUDA GPU "
                 "(--layers/--frames/--size give a reduced check of that path)")
    size = tuple(int(v) for v in (args.size or "704x480").lower().split("x"))
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

    builder = Builder(args.full, device, args.layers, args.frames or 81, size)
    card = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    shape = f"{builder.frames} frames at {builder.size[0]}x{builder.size[1]}"
    if args.full and full_size:
        what = "full-size A14B expert pair, random bf16 weights, 704x480x81 (55,440 tokens per expert call)"
    elif args.full:
        what = (f"REDUCED configuration: the A14B's block width with {args.layers} block(s) per expert, "
                f"{builder.dtype}, {shape}; NOT the full-size figure")
    else:
        what = (f"REDUCED configuration: the tiny test model (2 blocks, width 24), fp32 on the CPU, {shape}; "
                "NOT a GPU figure")
    header = [f"generate_speed  {datetime.datetime.now().isoformat(timespec='seconds')}  {card}", what,
              f"steps {args.steps}, guidance {args.cfg} (two passes per step), fastest of {args.repeats} run(s), "
              f"torch {torch.__version__}; "
              "x = speed-up over the baseline, rel L2 = |latents - baseline| / |baseline| (random weights)"]
    print("\n".join(header + ["", COLUMNS]), flush=True)
    mag_ratios = calibrate(builder, args) if any(o.get("cache") == "mag" for o in configs.values()) else None

    results: list[dict] = []
    todo = list(configs.items()) + ([("best", None)] if "best" in names else [])
    for name, options in todo:
        if args.budget is not None and time.perf_counter() - began > args.budget:
            results.append({"name": name, "options": options or {},
                            "error": f"skipped: the {args.budget:.0f} s budget was spent"})
        else:
            if options is None:  # best: composed from what was measured
                options = best_options([r for r in results if "error" not in r]) if baseline_of(results) else {}
                if not options:
                    continue
            results.append(measure(builder, name, options, args, mag_ratios, results))
        print(row(results[-1], baseline_of(results)), flush=True)
        write_json(args.json, header, results)
    print("\n" + report(results, header))


if __name__ == "__main__":
    main()
