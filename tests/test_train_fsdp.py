"""Sharded training (issue 16, item 7) on the tiny random model: FSDP2 with 2 CPU processes over gloo.

The runs go through :mod:`tests.fsdp_cpu` (the Trainer under torchrun with the environment
``accelerate launch`` derives from ``accelerate_fsdp.yaml``; see its docstring for why accelerate
needs to be shown the CPU as a device) and are compared with the DDP run of the same config,
which computes the same steps unsharded.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facecam.errors import FacecamError

RUNNER = Path(__file__).with_name("fsdp_cpu.py")
EXPORT = Path("export/wan2.2_14b/high/released_version/model.safetensors")


def write_config(path: Path, weights: Path, output: Path, max_steps: int, **extra) -> Path:
    import yaml

    from facecam.train.config import config_path

    values = yaml.safe_load(config_path("tiny").read_text())
    values.update(weights=str(weights), output=str(output), max_steps=max_steps, checkpoint_every=1,
                  validation_every=0, trackers=[], export_pipeline=False,
                  synthetic=dict(samples=4, frames=5, height=32, width=32, as_latents=True), **extra)
    path.write_text(yaml.safe_dump(values))
    return path


def run(cmd: list[str], **env: str) -> None:
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1", **env), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]  # with the Python stacks of an aborted process (faulthandler)


def torchrun(args: list[str], port: int, **env: str) -> None:
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port), *args],
        **env)


def accelerate_launch(args: list[str], port: int, precision: str = "no") -> None:
    """``accelerate launch`` with the shipped FSDP config and 2 processes."""
    from facecam.train.config import CONFIG_DIR

    run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / "accelerate_fsdp.yaml"),
         "--num_processes", "2", "--mixed_precision", precision, "--main_process_port", str(port), *args])


def ranks(output: Path) -> list[dict]:
    return [json.loads((output / f"rank-{r}.json").read_text()) for r in (0, 1)]


def losses(output: Path) -> list[str]:
    with open(output / "metrics.csv", newline="") as fh:
        return [row["loss"] for row in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def runs(tiny_weights, tmp_path_factory) -> dict[str, Path]:
    """FSDP2 with the main process loading alone: 2 steps under ``accelerate launch`` with the shipped
    ``accelerate_fsdp.yaml`` (fp32, as the DDP run it is compared to), then resumed to 3 under
    torchrun; DDP: 3 steps straight; FSDP2 in bf16 mixed precision: 2 steps; FSDP2 LoRA: 1 step."""
    root = tmp_path_factory.mktemp("fsdp")
    fsdp, ddp, bf16 = root / "fsdp", root / "ddp", root / "bf16"
    accelerate_launch([str(RUNNER), str(write_config(root / "fsdp2.yaml", tiny_weights, fsdp, 2))], 29581)
    (fsdp / "after-2-steps").mkdir()
    for r in (0, 1):
        (fsdp / f"rank-{r}.json").rename(fsdp / "after-2-steps" / f"rank-{r}.json")
    torchrun([str(RUNNER), str(write_config(root / "fsdp3.yaml", tiny_weights, fsdp, 3)), "--main-loads-alone"], 29582)
    torchrun(["-m", "facecam", "train", "--config", str(write_config(root / "ddp.yaml", tiny_weights, ddp, 3))],
             29583, ACCELERATE_USE_CPU="true")
    accelerate_launch([str(RUNNER), str(write_config(root / "bf16.yaml", tiny_weights, bf16, 2))], 29584, "bf16")
    lora = root / "lora"
    torchrun([str(RUNNER), str(write_config(root / "lora.yaml", tiny_weights, lora, 1, lora=dict(enabled=True, rank=4,
              alpha=4))), "--main-loads-alone"], 29585)
    return {"fsdp": fsdp, "ddp": ddp, "bf16": bf16, "lora": lora}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fsdp2_run_shards_and_only_the_main_process_reads_the_expert(runs):
    first = ranks(runs["fsdp"] / "after-2-steps")
    assert [r["distributed_type"] for r in first] == ["DistributedType.FSDP"] * 2
    assert [r["expert_on_meta"] for r in first] == [False, True]
    assert first[0]["losses"] == first[1]["losses"] and len(first[0]["losses"]) == 2
    # train() released the gloo group (fsdp_cpu.py then leaves without the interpreter's teardown)
    assert [r["group_left_open"] for r in first + ranks(runs["fsdp"])] == [False] * 4


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fsdp2_checkpoint_holds_the_trained_parameters_and_their_adam_state_only(runs, tiny_weights):
    from torch.distributed.checkpoint import FileSystemReader

    from facecam.model.weights import find_weights, load_expert
    from facecam.train.trainer import base_reference

    ckpt = runs["fsdp"] / "checkpoints" / "step-00000003"
    assert not list(ckpt.glob("pytorch_model_fsdp*")) and not list(ckpt.glob("optimizer*"))
    stored = FileSystemReader(str(ckpt / "trainable")).read_metadata().state_dict_metadata
    model, _ = load_expert(find_weights(tiny_weights, require_finetunes=False), "high", torch.float32, finetune=False)
    trained = set(model.trainable_parameter_names())
    params = dict(model.named_parameters())
    assert {k[len("model."):] for k in stored if k.startswith("model.")} == trained
    for moment in ("exp_avg", "exp_avg_sq"):
        assert {k.split(".", 2)[2].rsplit(".", 1)[0] for k in stored if k.endswith(f".{moment}")} == trained
    stored_bytes = sum(m.size.numel() * 4 for k, m in stored.items() if k.startswith("model."))
    assert stored_bytes == sum(params[n].numel() * 4 for n in trained)
    assert stored_bytes < 0.5 * sum(p.numel() * 4 for p in params.values())
    reference = json.loads((ckpt / "base.json").read_text())
    assert reference == base_reference(find_weights(tiny_weights, require_finetunes=False), "high", False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_resumed_fsdp2_run_equals_the_straight_ddp_run(runs):
    from safetensors.torch import load_file

    resumed = ranks(runs["fsdp"])
    assert [r["resumed_from"] for r in resumed] == ["step-00000002"] * 2
    assert [r["expert_on_meta"] for r in resumed] == [False, True]
    assert losses(runs["fsdp"]) == losses(runs["ddp"]) and len(losses(runs["ddp"])) == 3
    a, b = load_file(str(runs["fsdp"] / EXPORT)), load_file(str(runs["ddp"] / EXPORT))
    assert set(a) == set(b) and len(a) > 0
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=0), key


def test_non_main_process_builds_the_expert_on_meta_with_the_loaders_shapes_and_dtypes(tiny_weights):
    from facecam.model.weights import empty_expert, find_weights, load_expert

    layout = find_weights(tiny_weights, require_finetunes=False)
    for dtype in (torch.float32, torch.bfloat16):
        empty = empty_expert(layout, "low", dtype)
        loaded, _ = load_expert(layout, "low", dtype, finetune=False)
        assert all(p.is_meta for p in empty.parameters())
        assert not any(b.is_meta for b in empty.buffers())  # the rotary tables are not broadcast: built here
        assert {n: (p.shape, p.dtype) for n, p in empty.named_parameters()} == \
            {n: (p.shape, p.dtype) for n, p in loaded.named_parameters()}
        for (name, a), (_, b) in zip(empty.named_buffers(), loaded.named_buffers()):
            assert torch.equal(a, b), name


def test_resume_refuses_trained_parameters_of_another_base(tiny_weights, tmp_path):
    from facecam.model.tiny import write_tiny_model
    from facecam.model.weights import find_weights
    from facecam.train.checkpoint import check_base_reference, write_base_reference
    from facecam.train.trainer import base_reference

    other = write_tiny_model(tmp_path / "other", seed=1)
    ours = base_reference(find_weights(tiny_weights, require_finetunes=False), "high", False)
    theirs = base_reference(find_weights(other, require_finetunes=False), "high", False)
    assert ours["fingerprint"] != theirs["fingerprint"]
    write_base_reference(tmp_path, ours)
    check_base_reference(tmp_path, ours)
    with pytest.raises(FacecamError, match="resume with the same --weights"):
        check_base_reference(tmp_path, theirs)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fsdp2_bf16_run_keeps_the_frozen_base_bf16_and_the_trained_parameters_fp32(runs):
    bf16, fp32 = ranks(runs["bf16"]), ranks(runs["fsdp"] / "after-2-steps")
    from facecam.model.transformer import FaceCamTransformer

    # frozen: bf16 except the modules diffusers keeps in fp32 (norms, time embedder), as the loaders keep them
    assert [r["frozen_dtypes"] for r in bf16] == [["torch.bfloat16", "torch.float32"]] * 2
    keep = set(FaceCamTransformer._keep_in_fp32_modules)
    assert bf16[0]["frozen_fp32"] and all(keep & set(name.split(".")) for name in bf16[0]["frozen_fp32"])
    assert [r["trained_dtypes"] for r in bf16] == [["torch.float32"]] * 2
    assert [r["frozen_dtypes"] for r in fp32] == [["torch.float32"]] * 2
    assert [r["expert_on_meta"] for r in bf16] == [False, True]
    assert bf16[0]["losses"] == pytest.approx(fp32[0]["losses"], rel=0.02)   # bf16 rounding, same steps
    assert bf16[0]["losses"] != fp32[0]["losses"]


def test_meta_loading_is_refused_with_an_accelerate_that_would_mix_up_the_optimizer_parameters():
    import accelerate

    from facecam.train.trainer import check_meta_loading_support

    check_meta_loading_support(accelerate.__version__)  # the installed one (pyproject's minimum or newer)
    check_meta_loading_support("1.16.0")
    with pytest.raises(FacecamError, match=r"needs accelerate>=1.16.0 \(found 1.15.0\)"):
        check_meta_loading_support("1.15.0")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fsdp2_lora_checkpoint_holds_the_adapters_and_the_patch_embedding_only(runs):
    from torch.distributed.checkpoint import FileSystemReader

    assert [r["expert_on_meta"] for r in ranks(runs["lora"])] == [False, True]   # adapters on meta too
    stored = FileSystemReader(str(runs["lora"] / "checkpoints/step-00000001/trainable")).read_metadata()
    names = {k[len("model."):] for k in stored.state_dict_metadata if k.startswith("model.")}
    adapters = {n for n in names if ".lora_A." in n or ".lora_B." in n}
    assert adapters and all(".attn1." in n for n in adapters)
    assert names - adapters == {"patch_embedding.weight", "patch_embedding.bias"}
