"""Host memory of FSDP2 loading and the size of its checkpoints, 2 CPU processes over gloo.

Writes a random expert far larger than the Python/torch baseline of a process (default dim 1024,
4 blocks: ~70 M parameters, ~280 MB fp32) and trains it for one step, 2 processes, with
``tests/fsdp_cpu.py`` (the Trainer under torchrun, FSDP2 as ``accelerate_fsdp.yaml`` sets it up) in
three set-ups:

* ``every-rank``: each process reads the expert (``fsdp_cpu_ram_efficient_loading: false``), fp32;
* ``main-alone``: only the main process reads it, the other builds it on meta (the shipped config), fp32;
* ``every-rank-bf16``, ``main-alone-bf16``: the same with bf16 mixed precision (the frozen base
  loaded and kept in bf16, as the paper config runs).

and prints, per set-up and process, the resident memory building the expert added (the loader
memory-maps fp32 safetensors, so an fp32 load shows up only where pages are touched later; the
bf16 cast reads them all), the peak resident memory after setup and at the end, and the size of
the step's checkpoint against the model file::

    python benchmarks/fsdp_loading_memory.py [--dim 1024] [--layers 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "fsdp_cpu.py"
SETUPS = {"every-rank": [], "main-alone": ["--main-loads-alone"], "every-rank-bf16": ["--bf16"],
          "main-alone-bf16": ["--main-loads-alone", "--bf16"]}


def write_model(folder: Path, dim: int, layers: int) -> Path:
    import facecam.model.tiny as tiny

    tiny.TINY_WAN_CONFIG = dict(tiny.TINY_WAN_CONFIG, dim=dim, ffn_dim=4 * dim, num_heads=dim // 128 or 1,
                                num_layers=layers)
    return tiny.write_tiny_model(folder)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def run(setup: str, weights: Path, output: Path, port: int) -> dict:
    from facecam.train.config import config_path

    values = yaml.safe_load(config_path("tiny").read_text())
    values.update(weights=str(weights), output=str(output), max_steps=1, checkpoint_every=1, validation_every=0,
                  trackers=[], export_pipeline=False,
                  synthetic=dict(samples=2, frames=5, height=32, width=32, as_latents=True))
    config = output.parent / f"{setup}.yaml"
    config.write_text(yaml.safe_dump(values))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(RUNNER), str(config), *SETUPS[setup]]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{setup} failed:\n{proc.stderr[-3000:]}")
    ranks = [json.loads((output / f"rank-{r}.json").read_text()) for r in (0, 1)]
    ckpt = output / "checkpoints" / "step-00000001"
    return {"setup": setup, "expert_rss_mb": [round(r["expert_rss_mb"]) for r in ranks],
            "setup_peak_rss_mb": [round(r["setup_peak_rss_mb"]) for r in ranks],
            "peak_rss_mb": [round(r["peak_rss_mb"]) for r in ranks],
            "frozen_dtypes": ranks[0]["frozen_dtypes"], "loss": ranks[0]["losses"][0],
            "checkpoint_trainable_mb": round(folder_bytes(ckpt / "trainable") / 2**20, 1),
            "checkpoint_mb": round(folder_bytes(ckpt) / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_model(Path(tmp) / "weights", args.dim, args.layers)
        expert = weights / "Wan2.2-I2V-A14B" / "high_noise_model"
        model_mb = folder_bytes(expert) / 2**20
        print(f"expert: dim {args.dim}, {args.layers} blocks, {model_mb:.1f} MB fp32 on disk")
        rows = [run(name, weights, Path(tmp) / name, 29591 + i) for i, name in enumerate(SETUPS)]
    for row in rows:
        print(f"{row['setup']:>16}: building the expert added rank 0 {row['expert_rss_mb'][0]} MB, rank 1 "
              f"{row['expert_rss_mb'][1]} MB; peak RSS after setup rank 0 {row['setup_peak_rss_mb'][0]} MB, rank 1 "
              f"{row['setup_peak_rss_mb'][1]} MB, whole run {row['peak_rss_mb'][0]} / {row['peak_rss_mb'][1]} MB; "
              f"checkpoint {row['checkpoint_mb']} MB (trained part {row['checkpoint_trainable_mb']} MB); "
              f"loss {row['loss']:.6f}; frozen {','.join(row['frozen_dtypes'])}")
    if args.json:
        args.json.write_text(json.dumps({"model_mb": model_mb, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
