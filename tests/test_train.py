"""Training (issue 7) on the tiny random model, on the CPU.

Every run here uses precomputed latents (the VAE encoder is the slow part on a CPU) except the
CLI run, which goes through the whole pixel path of the shipped ``tiny`` config.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from facecam.errors import FacecamError
from facecam.train.config import SyntheticData, TrainConfig, load_config

from conftest import one_error_line


# --------------------------------------------------------------------------- fixtures
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reset_accelerate() -> None:
    """accelerate keeps process-wide singletons; each run here is a new 'process' with its own precision."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    reset_accelerate()
    yield


@pytest.fixture(scope="module")
def wide_weights(tmp_path_factory) -> Path:
    """The tiny model with dim 96: the shipped one (dim 24) projects 24 features onto 64 outputs per
    token through its frozen head, too few to fit one sample's velocity field."""
    import facecam.model.tiny as tiny

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiny, "TINY_WAN_CONFIG", dict(tiny.TINY_WAN_CONFIG, dim=96, ffn_dim=64, num_heads=2))
        return tiny.write_tiny_model(tmp_path_factory.mktemp("wide") / "weights")


def run_config(weights: Path, output: Path, **overrides) -> TrainConfig:
    """The shipped tiny config on latents, quiet: no trackers, no validation renders."""
    base = dict(weights=str(weights), output=str(output), trackers=[], validation_every=0, checkpoint_every=0,
                export_pipeline=False, synthetic=SyntheticData(samples=2, frames=5, height=32, width=32,
                                                              as_latents=True))
    base.update(overrides)
    return load_config("tiny", **base)


def base_expert(weights: Path, expert: str = "high"):
    from facecam.model.weights import load_original_expert

    folder = "high_noise_model" if expert == "high" else "low_noise_model"
    return load_original_expert(weights / "Wan2.2-I2V-A14B" / folder)[0]


def read_metrics(output: Path) -> list[dict]:
    with open(output / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- schedule
def test_high_expert_draws_indices_0_to_357_where_t_is_at_least_900():
    from facecam.train.schedule import TrainingSchedule

    s = TrainingSchedule.for_expert("high")
    assert (s.low, s.high) == (0, 358)
    assert s.timesteps[357] >= 900 > s.timesteps[358]
    idx = s.sample_indices(10000, torch.Generator().manual_seed(0))
    assert idx.min() == 0 and idx.max() == 357


def test_low_expert_draws_indices_358_to_999():
    from facecam.train.schedule import TrainingSchedule

    s = TrainingSchedule.for_expert("low")
    assert (s.low, s.high) == (358, 1000)
    idx = s.sample_indices(10000, torch.Generator().manual_seed(0))
    assert idx.min() == 358 and idx.max() == 999


def test_training_sigmas_are_the_shifted_inference_schedule_with_1000_steps():
    from facecam.model.sampling import shifted_sigmas
    from facecam.train.schedule import TrainingSchedule

    s = TrainingSchedule.for_expert("high")
    plain = torch.linspace(1, 0, 1001, dtype=torch.float64)[:-1]
    assert torch.allclose(s.sigmas, 5 * plain / (1 + 4 * plain))
    assert torch.allclose(shifted_sigmas(50)[:2], torch.tensor([1.0, 5 * 0.98 / (1 + 4 * 0.98)], dtype=torch.float64))
    assert s.timesteps[0] == 1000


def test_training_schedule_agrees_with_the_inference_pipeline_on_timesteps_and_expert_split():
    from facecam.model.sampling import make_scheduler, release_sigmas
    from facecam.train.schedule import TrainingSchedule

    scheduler = make_scheduler()
    scheduler.set_timesteps(sigmas=release_sigmas(1000).tolist())
    high = TrainingSchedule.for_expert("high")
    assert torch.allclose(scheduler.timesteps.double(), high.timesteps, atol=1e-3)
    # every step the pipeline gives the high-noise expert is one the high-noise run trains on
    boundary = 0.9 * 1000
    pipeline_high = [i for i, t in enumerate(scheduler.timesteps) if float(t) >= boundary]
    assert pipeline_high == list(range(high.low, high.high))


def test_loss_weights_have_mean_one_zero_minimum_and_peak_at_t_500():
    from facecam.train.schedule import TrainingSchedule

    w = TrainingSchedule.for_expert("low").weights
    t = TrainingSchedule.for_expert("low").timesteps
    assert w.mean().item() == pytest.approx(1.0)
    assert w.min().item() == pytest.approx(0.0, abs=1e-12)
    assert abs(t[w.argmax()].item() - 500) < 2


def test_noisy_latent_is_the_straight_path_between_clean_and_noise():
    from facecam.train.schedule import TrainingSchedule

    s = TrainingSchedule.for_expert("high")
    clean, noise = torch.ones(2, 3), torch.zeros(2, 3)
    noisy = s.add_noise(clean, noise, torch.tensor([0, 100]))
    assert torch.allclose(noisy[0], torch.zeros(3))                       # s' = 1: pure noise
    assert torch.allclose(noisy[1], torch.full((3,), 1 - s.sigmas[100].item()))


# --------------------------------------------------------------------------- config
def test_shipped_tiny_config_trains_the_tiny_model_on_synthetic_data_on_cpu():
    cfg = load_config("tiny")
    assert (cfg.weights, cfg.data, cfg.mixed_precision) == ("tiny", "synthetic", "no")


def test_paper_config_is_lr_5e5_constant_3000_steps_batch_1_per_gpu():
    cfg = load_config("paper")
    assert (cfg.learning_rate, cfg.lr_scheduler, cfg.max_steps) == (5e-5, "constant", 3000)
    assert cfg.batch_size * cfg.gradient_accumulation_steps * 24 == 24
    assert cfg.mixed_precision == "bf16" and cfg.gradient_checkpointing


def test_unknown_config_key_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 1.0e-4\n")
    with pytest.raises(FacecamError, match="unknown option.*learning_rat"):
        load_config(str(bad))


def test_config_numbers_written_as_yaml_reads_them_are_taken_and_wrong_types_are_one_line(tmp_path):
    """`learning_rate: 5e-5` (YAML reads it as text) crashed the trainer with a traceback; `max_steps: 2.5`
    trained 3 steps and `max_steps: true` ran."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("learning_rate: 5e-5\nmax_steps: 20.0\nlora:\n  alpha: 16\n")
    config = load_config(str(cfg))
    assert config.learning_rate == 5e-5 and isinstance(config.learning_rate, float)
    assert config.max_steps == 20 and isinstance(config.max_steps, int)
    assert config.lora.alpha == 16.0 and isinstance(config.lora.alpha, float)
    for text, message in (("learning_rate: abc", "learning_rate must be a number, got 'abc'"),
                          ("max_steps: 2.5", "max_steps must be a whole number, got 2.5"),
                          ("max_steps: true", "max_steps must be a whole number, got True"),
                          ("gradient_checkpointing: 1", "gradient_checkpointing must be true or false, got 1"),
                          ("lora:\n  rank: eight", "lora.rank must be a whole number, got 'eight'")):
        cfg.write_text(text + "\n")
        with pytest.raises(FacecamError, match=f"^{cfg}: " + re.escape(message) + "$"):
            load_config(str(cfg))


def test_missing_weights_is_a_clear_error():
    with pytest.raises(FacecamError, match="--weights"):
        load_config("paper", data="shards/").validate()


def test_shipped_accelerate_configs_parse_and_cover_single_gpu_fsdp_and_24_gpus():
    from accelerate.commands.config.config_args import load_config_from_file

    from facecam.train.config import CONFIG_DIR

    def load(name):
        return load_config_from_file(str(CONFIG_DIR / f"accelerate_{name}.yaml"))

    assert load("single_gpu").num_processes == 1
    fsdp = load("fsdp")
    assert fsdp.distributed_type == "FSDP" and fsdp.fsdp_config["fsdp_reshard_after_forward"] is True
    assert fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "WanTransformerBlock"
    # No DeepSpeed config is shipped: ZeRO-3 as accelerate runs it here loads the fp32 expert on every process.
    assert sorted(p.stem for p in CONFIG_DIR.glob("accelerate_*.yaml")) == [
        "accelerate_fsdp", "accelerate_multinode_24gpu", "accelerate_single_gpu"]
    multi = load("multinode_24gpu")
    assert (multi.num_machines, multi.num_processes) == (3, 24)


# --------------------------------------------------------------------------- checkpoints (no model)
def test_checkpoint_commit_is_atomic_and_latest_moves_only_on_commit(tmp_path):
    from facecam.train.checkpoint import CheckpointManager

    m = CheckpointManager(tmp_path / "ckpt", keep=2)
    (m.begin(10) / "a.bin").write_text("x")
    m.commit(10)
    tmp = m.begin(20)
    (tmp / "half.bin").write_text("partial")       # a save that dies here...
    assert m.latest().name == "step-00000010"        # ...leaves the previous checkpoint the latest
    m.clean_partial()
    assert not tmp.exists() and (m.latest() / "a.bin").read_text() == "x"


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    from facecam.train.checkpoint import CheckpointManager

    m = CheckpointManager(tmp_path, keep=2)
    for step in (1, 2, 3):
        m.begin(step)
        m.commit(step)
    assert [p.name for p in m.complete()] == ["step-00000002", "step-00000003"]


# --------------------------------------------------------------------------- training runs
@pytest.fixture(scope="module")
def overfit_run(wide_weights, tmp_path_factory):
    from facecam.train.trainer import Trainer

    cfg = run_config(wide_weights, tmp_path_factory.mktemp("overfit"), max_steps=100, learning_rate=5e-3,
                     synthetic=SyntheticData(samples=1, frames=5, height=32, width=32, as_latents=True))
    reset_accelerate()
    trainer = Trainer(cfg)
    result = trainer.train()
    return trainer, result


@pytest.mark.slow
def test_overfitting_one_sample_halves_the_loss_within_100_steps(overfit_run):
    _, result = overfit_run
    losses = np.array(result.losses)
    assert len(losses) == 100
    # Per-step losses swing with the sampled timestep; compare the first and last ten steps.
    assert losses[-10:].mean() <= 0.5 * losses[:10].mean(), (losses[:10].mean(), losses[-10:].mean())


@pytest.mark.slow
def test_training_changes_self_attention_and_patch_embedding_and_nothing_else(overfit_run, wide_weights):
    trainer, _ = overfit_run
    before = dict(base_expert(wide_weights).named_parameters())
    after = dict(trainer.accelerator.unwrap_model(trainer.model).named_parameters())
    trainable = set(trainer.trained_names)
    assert any(n.startswith("patch_embedding.") for n in trainable) and any(".attn1.to_q." in n for n in trainable)
    assert not any(".attn2." in n or ".ffn." in n or n.startswith("proj_out") for n in trainable)
    for name, param in after.items():
        if name in trainable:
            assert not torch.equal(param.detach(), before[name].detach()), f"{name} did not train"
        else:
            assert torch.equal(param.detach(), before[name].detach()), f"frozen {name} changed"


@pytest.mark.slow
def test_metrics_csv_has_step_loss_lr_per_step(overfit_run):
    trainer, _ = overfit_run
    rows = read_metrics(trainer.output)
    assert list(rows[0]) == ["step", "loss", "lr"]
    assert [int(r["step"]) for r in rows] == list(range(1, 101))
    assert float(rows[0]["lr"]) == pytest.approx(5e-3)


@pytest.mark.slow
def test_resumed_run_equals_straight_run(tiny_weights, tmp_path):
    from safetensors.torch import load_file

    from facecam.train.trainer import train

    straight = train(run_config(tiny_weights, tmp_path / "straight", max_steps=6, checkpoint_every=3))
    first = train(run_config(tiny_weights, tmp_path / "resumed", max_steps=3, checkpoint_every=3))
    assert first.step == 3
    second = train(run_config(tiny_weights, tmp_path / "resumed", max_steps=6, checkpoint_every=3))
    assert second.resumed_from.name == "step-00000003" and second.step == 6
    a = load_file(str(tmp_path / "straight/checkpoints/step-00000006/trainable.safetensors"))
    b = load_file(str(tmp_path / "resumed/checkpoints/step-00000006/trainable.safetensors"))
    assert set(a) == set(b) and len(a) > 0
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=0), key
    assert straight.losses[3:] == pytest.approx(second.losses, abs=1e-6)
    assert [r["loss"] for r in read_metrics(tmp_path / "straight")] == [r["loss"] for r in read_metrics(tmp_path / "resumed")]


@pytest.mark.slow
def test_crash_during_checkpoint_save_leaves_previous_checkpoint_loadable(tiny_weights, tmp_path, monkeypatch):
    import facecam.train.trainer as trainer_module
    from facecam.train.trainer import Trainer, train

    out = tmp_path / "run"
    train(run_config(tiny_weights, out, max_steps=2, checkpoint_every=2))
    real_save = trainer_module.save_process_state

    def dies_midway(folder, rank, state):
        # accelerate has written trainable weights and optimizer state into the temporary folder by now
        assert (folder / "optimizer.bin").is_file()
        raise OSError("No space left on device")

    monkeypatch.setattr(trainer_module, "save_process_state", dies_midway)
    with pytest.raises(OSError, match="No space left"):
        train(run_config(tiny_weights, out, max_steps=4, checkpoint_every=2))
    ckpts = out / "checkpoints"
    assert (ckpts / "latest").read_text().strip() == "step-00000002"
    assert not (ckpts / "step-00000004").exists() and (ckpts / ".tmp-step-00000004").is_dir()

    monkeypatch.setattr(trainer_module, "save_process_state", real_save)
    trainer = Trainer(run_config(tiny_weights, out, max_steps=4, checkpoint_every=2))
    trainer.setup()
    assert trainer.resumed_from.name == "step-00000002" and trainer.step == 2
    assert not (ckpts / ".tmp-step-00000004").exists()
    assert trainer.train().step == 4


@pytest.mark.slow
def test_exported_authors_checkpoint_holds_trained_keys_under_wan_names(overfit_run, wide_weights):
    from safetensors.torch import load_file

    from facecam.model.weights import load_finetune

    trainer, result = overfit_run
    folder = result.exports["authors"]
    assert folder.relative_to(trainer.output).parts == ("export", "wan2.2_14b", "high", "released_version")
    state = load_file(str(folder / "model.safetensors"))
    assert "blocks.0.self_attn.q.weight" in state and "patch_embedding.weight" in state
    assert not any("ffn" in k or "cross_attn" in k or k.startswith("head.") for k in state)
    model = base_expert(wide_weights)
    load_finetune(model, folder)
    trained = dict(trainer.accelerator.unwrap_model(trainer.model).named_parameters())
    for name, param in model.named_parameters():
        assert torch.equal(param.detach(), trained[name].detach().to(param.dtype)), name


@pytest.mark.slow
def test_lora_trains_adapters_and_export_merges_them(tiny_weights, tmp_path):
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from facecam.train.config import LoraOptions
    from facecam.train.trainer import Trainer

    cfg = run_config(tiny_weights, tmp_path / "lora", max_steps=3, export_pipeline=True,
                     lora=LoraOptions(enabled=True, rank=4, alpha=4))
    trainer = Trainer(cfg)
    result = trainer.train()
    assert all(".lora_" in n or n.startswith("patch_embedding.") for n in trainer.param_names)
    exported = load_file(str(result.exports["authors"] / "model.safetensors"))
    base = base_expert(tiny_weights).to_wan_state_dict()
    assert set(exported) == {k for k in base if ".self_attn." in k or k.startswith("patch_embedding.")}
    assert not torch.equal(exported["blocks.0.self_attn.q.weight"], base["blocks.0.self_attn.q.weight"])
    assert torch.equal(exported["blocks.0.self_attn.norm_q.weight"], base["blocks.0.self_attn.norm_q.weight"])
    # The diffusers export is the whole expert with the adapters folded in.
    from facecam.model.transformer import FaceCamTransformer

    full = FaceCamTransformer.from_pretrained(str(result.exports["diffusers"]))
    assert torch.equal(full.to_wan_state_dict()["blocks.0.self_attn.q.weight"], exported["blocks.0.self_attn.q.weight"])

    # The LoRA export loads with diffusers' own load_lora_weights and acts as the merged expert does.
    from facecam.model.sampling import make_scheduler
    from facecam.model.transformer import facecam_velocity
    from facecam.model.weights import find_weights, load_expert, load_vae
    from facecam.pipeline import FaceCamPipeline

    # The run started from the Wan base (no FaceCam fine-tune), so the adapters go onto the base experts.
    layout = find_weights(tiny_weights)
    pipe = FaceCamPipeline(transformer=load_expert(layout, "high", torch.float32, finetune=False)[0],
                           transformer_2=load_expert(layout, "low", torch.float32, finetune=False)[0],
                           vae=load_vae(layout), scheduler=make_scheduler())
    g = torch.Generator().manual_seed(0)
    x, src, cond = (torch.randn(1, 16, 2, 4, 4, generator=g) for _ in range(3))
    t, text = torch.tensor([950.0]), torch.randn(1, 8, pipe.transformer.config.text_dim, generator=g)
    with torch.no_grad():
        before = facecam_velocity(pipe.transformer, x, src, cond, t, text)
        pipe.load_lora_weights(result.exports["lora"])  # the run trained the high-noise expert
        after = facecam_velocity(pipe.transformer, x, src, cond, t, text)
        merged = facecam_velocity(full.float(), x, src, cond, t, text)
    assert len(pipe.transformer.peft_config) == 1 and not getattr(pipe.transformer_2, "peft_config", None)
    assert not torch.allclose(before, after, atol=1e-4)
    assert torch.allclose(after, merged, atol=1e-5), (after - merged).abs().max()


@pytest.mark.slow
def test_bf16_mixed_precision_keeps_trained_weights_fp32_and_frozen_bf16(tiny_weights, tmp_path):
    from facecam.train.trainer import Trainer

    trainer = Trainer(run_config(tiny_weights, tmp_path / "bf16", max_steps=2, mixed_precision="bf16"))
    result = trainer.train()
    params = dict(trainer.accelerator.unwrap_model(trainer.model).named_parameters())
    assert params["blocks.0.attn1.to_q.weight"].dtype == torch.float32
    assert params["blocks.0.ffn.net.0.proj.weight"].dtype == torch.bfloat16
    assert all(np.isfinite(result.losses))


@pytest.mark.slow
def test_cli_tiny_run_writes_metrics_validation_video_checkpoints_and_exports(tiny_weights, tmp_path, capsys,
                                                                             caplog):
    import yaml

    from facecam.cli import main
    from facecam.train.config import config_path
    from facecam.video.io import probe_video

    values = yaml.safe_load(config_path("tiny").read_text())
    values.update(max_steps=2, checkpoint_every=1, validation_every=2, validation_steps=10)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(values))
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert main(["train", "--config", str(cfg_file), "--weights", str(tiny_weights), "--output", str(out)]) == 0
    # the low-noise fine-tune's load was logged twice, and accelerate's checkpoint lines cut through the bar
    finetune = [r for r in caplog.records if r.getMessage().startswith("low-noise fine-tune (")]
    assert len(finetune) == 1 and "22 tensors loaded" in finetune[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("accelerate") and r.levelno < logging.WARNING]
    metrics = read_metrics(out)
    assert [int(r["step"]) for r in metrics] == [1, 2]
    # the bar counts the steps and shows the last step's loss as metrics.csv records it
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = [line for line in bar if line.startswith("training the high expert") and "2/2" in line][-1]
    assert f"loss={float(metrics[-1]['loss']):.4g}" in last
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-00000002"
    video = probe_video(out / "validation" / "step-00000002.mp4")
    assert video["frames"] == 5 and video["width"] == 4 * 32   # source | condition | target | render
    assert (out / "export/wan2.2_14b/high/released_version/model.safetensors").is_file()
    assert (out / "export/diffusers/transformer/config.json").is_file()
    if importlib.util.find_spec("tensorboard") is not None:
        assert any((out / "logs").rglob("events.out.tfevents*"))


def test_train_log_lines_worded_for_the_user_go_out_without_time_and_logger():
    # "2026-12-06 19:40:10,817 facecam.train.trainer: facecam: warning: the run in runs/tiny is already at step 10"
    from facecam.cli.train import _UserLines

    formatter = _UserLines(logging.Formatter("%(asctime)s %(name)s: %(message)s"))

    def line(message, *args):
        return formatter.format(logging.LogRecord("facecam.train.trainer", logging.WARNING, __file__, 1, message,
                                                  args, None))

    assert line("facecam: warning: the run in %s is already at step %d", "runs/tiny", 10) == (
        "facecam: warning: the run in runs/tiny is already at step 10")
    progress = line("resumed from %s at step %d", "ckpt", 2)
    assert progress.endswith(" facecam.train.trainer: resumed from ckpt at step 2") and progress[:2] == "20"


def test_cli_bad_config_name_exits_2_with_one_line(capsys):
    from facecam.cli import main

    assert main(["train", "--config", "no-such-config"]) == 2
    err = capsys.readouterr().err.strip()
    # the choices are the training configs (it listed the accelerate configs too, as if they were some)
    assert err == ("facecam: error: unknown config 'no-such-config': give a YAML file or one of: "
                   "paper, single_gpu_lora, tiny")
    assert main(["train", "--config", "accelerate_fsdp"]) == 2  # was read as a training config
    err = capsys.readouterr().err.strip()
    assert err.startswith("facecam: error: 'accelerate_fsdp' configures accelerate, not training: use it as "
                          "`accelerate launch --config_file \"$(facecam train --accelerate-config fsdp)\"")
    assert len(err.splitlines()) == 1
    assert main(["train", "--config", "tiny", "--max-steps", "0"]) == 2  # ("config: max_steps must be >= 1")
    assert capsys.readouterr().err.strip() == "facecam: error: --max-steps must be at least 1, got 0"


def test_cli_refuses_an_output_that_is_a_file_before_writing_anything(tmp_path, capsys):
    from facecam.cli import main

    existing = tmp_path / "existing"
    existing.write_bytes(b"mine")
    assert main(["train", "--config", "tiny", "--output", str(existing)]) == 2
    one_error_line(capsys, "exists and is not a folder")
    assert existing.read_bytes() == b"mine" and [p.name for p in tmp_path.iterdir()] == ["existing"]


def test_cli_a_run_that_fails_on_its_weights_leaves_no_folder_and_an_unwritable_one_is_one_line(tmp_path, capsys):
    """A wrong --weights left an empty run folder; a folder under /proc was a traceback from the trainer."""
    from facecam.cli import main

    out = tmp_path / "runs" / "r7"
    assert main(["train", "--config", "tiny", "--weights", str(tmp_path / "nope"), "--output", str(out)]) == 2
    one_error_line(capsys, "weights folder not found")
    assert list(tmp_path.iterdir()) == []
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["train", "--config", "tiny", "--output", str(blocked / "run")]) == 2
    one_error_line(capsys, "cannot write to output folder")


def test_cli_refuses_data_that_is_not_a_shard_before_making_the_run_folder(tmp_path, capsys):
    from facecam.cli import main

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a tar")
    assert main(["train", "--config", "tiny", "--output", str(tmp_path / "run"), "--data", str(clip)]) == 2
    one_error_line(capsys, "not a shard")
    assert not (tmp_path / "run").exists()


def test_cli_prints_shipped_accelerate_config_path(capsys):
    from facecam.cli import main

    assert main(["train", "--accelerate-config", "multinode_24gpu"]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()


# --------------------------------------------------------------------------- real shards and the engine
@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Two in-the-wild samples (5 frames, 32x32) written by `facecam data build` from a shared clip."""
    from conftest import media_path
    from facecam.cli import main

    wild = tmp_path_factory.mktemp("wild")
    (wild / "lp_d0.mp4").symlink_to(media_path("lp_d0.mp4"))
    out = tmp_path_factory.mktemp("shards") / "build"
    assert main(["data", "build", "--wild", str(wild), "-o", str(out), "--samples", "2", "--frames", "5",
                 "--size", "32x32", "--wild-fraction", "1", "--samples-per-shard", "2", "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_training_on_built_shards_resumes_at_the_same_sample(tiny_weights, shards, tmp_path):
    from facecam.train.trainer import Trainer, train

    straight = train(run_config(tiny_weights, tmp_path / "a", data=str(shards), max_steps=3, checkpoint_every=2))
    train(run_config(tiny_weights, tmp_path / "b", data=str(shards), max_steps=2, checkpoint_every=2))
    reset_accelerate()
    trainer = Trainer(run_config(tiny_weights, tmp_path / "b", data=str(shards), max_steps=3, checkpoint_every=2))
    trainer.setup()
    # the reader's own (epoch, position) came back: 2 samples per epoch, 2 consumed
    state = trainer.stream.dataset.state_dict()
    assert state["epoch"] * 2 + state["position"] == 2
    resumed = trainer.train()
    assert resumed.losses == pytest.approx(straight.losses[2:], abs=1e-6)


@pytest.mark.slow
def test_a_resume_that_cannot_continue_the_run_is_refused_early_or_said(tiny_weights, shards, tmp_path, caplog):
    # The other expert's checkpoint was blamed on --weights (after the model had loaded); --resume none left
    # the earlier run's checkpoints beside the new ones; a smaller max_steps or other data went on silently.
    import torch

    from facecam.train import modeling
    from facecam.train.trainer import train

    out = tmp_path / "run"
    train(run_config(tiny_weights, out, max_steps=2, checkpoint_every=2))
    loads = []
    real_load = modeling.load_expert
    modeling.load_expert = lambda *a, **k: loads.append(a) or real_load(*a, **k)
    try:
        with pytest.raises(FacecamError, match=r"step-00000002 trains the high expert, this run the low one: "
                                               r"train each expert in its own --output folder"):
            train(run_config(tiny_weights, out, max_steps=4, expert="low"))
        with pytest.raises(FacecamError, match=r"already holds a run's checkpoints \(latest: step-00000002\); "
                                               r"--resume none would mix two runs in one folder"):
            train(run_config(tiny_weights, out, max_steps=4, resume="none"))
        assert loads == []  # both said before the expert was loaded
    finally:
        modeling.load_expert = real_load
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest", "step-00000002"]
    exported = {p: p.stat().st_mtime_ns for p in (out / "export").rglob("*") if p.is_file()}
    with caplog.at_level(logging.WARNING):
        standing = train(run_config(tiny_weights, out, max_steps=1))
    assert standing.step == 2
    assert "is already at step 2 (max_steps 1): nothing to train; raise --max-steps to go on" in caplog.text
    # the export is step 2's already: named, not written again
    assert {p: p.stat().st_mtime_ns for p in (out / "export").rglob("*") if p.is_file()} == exported
    assert list(standing.exports) == ["authors"] and standing.exports["authors"].exists()
    assert standing.exports["authors"].relative_to(out / "export")
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["max_steps"] == 2  # the record of the run that trained
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        result = train(run_config(tiny_weights, out, max_steps=3, checkpoint_every=3, data=str(shards)))
    assert result.step == 3
    assert f"was trained on other data (synthetic), this run reads {shards.resolve()}" in caplog.text
    # the new data was read from its start: step 3 drew the shards' first sample, as a fresh run's step 1
    state = torch.load(out / "checkpoints" / "step-00000003" / "trainer_state_0.pt", weights_only=False)
    assert state["data_source"]["path"] == str(shards.resolve())
    assert [name for name, _ in state["data_source"]["shards"]] == ["shard-000000.tar"]
    assert state["data"]["dataset"]["epoch"] * 2 + state["data"]["dataset"]["position"] == 1
    # The same shards moved elsewhere are the same data: the run goes on from its position, without a word.
    import shutil

    moved = shutil.copytree(shards, tmp_path / "moved")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert train(run_config(tiny_weights, out, max_steps=4, checkpoint_every=4, data=str(moved))).step == 4
    assert "other data" not in caplog.text
    state = torch.load(out / "checkpoints" / "step-00000004" / "trainer_state_0.pt", weights_only=False)
    assert state["data"]["dataset"]["epoch"] * 2 + state["data"]["dataset"]["position"] == 2


@pytest.mark.slow
def test_exported_authors_checkpoint_loads_into_the_facecam_engine_and_changes_its_output(tiny_weights, tmp_path):
    """Copy the export over FaceCam/wan2.2_14b/high of a weights folder: `facecam generate --engine facecam`
    (its engine, on a shared clip) then renders something else than with the released fine-tune."""
    import shutil
    import types

    from conftest import media_path
    from facecam.engines import get_engine
    from facecam.train.trainer import train
    from facecam.video import io

    result = train(run_config(tiny_weights, tmp_path / "run", max_steps=3, learning_rate=1e-2))
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    released = weights / "FaceCam" / "wan2.2_14b" / "high" / "released_version"
    shutil.rmtree(released)
    shutil.copytree(result.exports["authors"], released)

    clip = io.read_video(media_path("facecam_000.mp4"), fps=24, num_frames=5)
    frames = np.ascontiguousarray(clip.frames[:, 256:448:6, 168:328:5])          # (5, 32, 32, 3)
    fake = types.SimpleNamespace(source=frames, condition=np.full_like(frames, 255), fps=24.0, name="x")

    def render(folder: Path) -> np.ndarray:
        engine = get_engine("facecam", weights=str(folder), steps=3, cfg=5.0, offload=False, device="cpu",
                            dtype="float32")
        reports = [r.line() for r in engine.pipeline.load_reports]
        assert any("high-noise fine-tune" in line for line in reports)
        return engine.generate(fake, seed=0, progress=False)

    ours, released_out = render(weights), render(tiny_weights)
    assert ours.shape == released_out.shape == (5, 32, 32, 3)
    assert np.abs(ours.astype(int) - released_out.astype(int)).mean() > 0.5


@pytest.mark.slow
def test_expert_only_validation_render_writes_side_by_side_video(tiny_weights, tmp_path):
    from facecam.train.trainer import Trainer
    from facecam.video.io import probe_video

    trainer = Trainer(run_config(tiny_weights, tmp_path / "val", max_steps=1, validation_every=1,
                                 validation_mode="expert", validation_steps=10))
    trainer.train()
    video = probe_video(tmp_path / "val" / "validation" / "step-00000001.mp4")
    assert (video["frames"], video["height"], video["width"]) == (5, 32, 4 * 32)


@pytest.mark.slow
def test_two_process_data_parallel_run_under_torchrun_writes_one_state_per_rank(tiny_weights, tmp_path):
    """DDP over gloo on the CPU: the same code path as multi-GPU runs (ranks, reduce, barriers, per-rank states)."""
    import os
    import subprocess
    import sys

    import yaml

    from facecam.train.config import config_path

    values = yaml.safe_load(config_path("tiny").read_text())
    values.update(max_steps=2, checkpoint_every=1, validation_every=0, trackers=[], export_pipeline=False,
                  synthetic=dict(samples=4, frames=5, height=32, width=32, as_latents=True))
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(yaml.safe_dump(values))
    out = tmp_path / "out"
    env = dict(os.environ, ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29571",
           "-m", "facecam", "train", "--config", str(cfg_file), "--weights", str(tiny_weights), "--output", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = out / "checkpoints" / "step-00000002"
    assert {p.name for p in ckpt.glob("trainer_state_*.pt")} == {"trainer_state_0.pt", "trainer_state_1.pt"}
    states = [torch.load(ckpt / f"trainer_state_{r}.pt", weights_only=False) for r in (0, 1)]
    assert states[0]["data"]["consumed"] == states[1]["data"]["consumed"] == 2
    assert [int(r["step"]) for r in read_metrics(out)] == [1, 2]          # one writer: the main process


@pytest.mark.slow
def test_lora_run_resumes_exactly(tiny_weights, tmp_path):
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from facecam.train.config import LoraOptions
    from facecam.train.trainer import train

    lora = LoraOptions(enabled=True, rank=4, alpha=4)
    train(run_config(tiny_weights, tmp_path / "a", max_steps=3, checkpoint_every=1, lora=lora))
    reset_accelerate()
    train(run_config(tiny_weights, tmp_path / "b", max_steps=2, checkpoint_every=1, lora=lora))
    reset_accelerate()
    train(run_config(tiny_weights, tmp_path / "b", max_steps=3, checkpoint_every=1, lora=lora))
    a = load_file(str(tmp_path / "a/checkpoints/step-00000003/trainable.safetensors"))
    b = load_file(str(tmp_path / "b/checkpoints/step-00000003/trainable.safetensors"))
    assert any(".lora_B." in k for k in a)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=0), key


def test_a_launch_whose_processes_never_formed_a_group_stops():
    from facecam.errors import FacecamError
    from facecam.train.trainer import check_process_group

    check_process_group(1, {})
    check_process_group(4, {"WORLD_SIZE": "4"})
    with pytest.raises(FacecamError, match="launcher started 2 processes but this one sees 1"):
        check_process_group(1, {"WORLD_SIZE": "2"})


def test_cli_a_missing_weights_folder_is_said_before_torch_loads(tmp_path):
    """`train --config single_gpu_lora --weights WRONG` took 8 s (torch, diffusers, the trainer) to say so."""
    import subprocess
    import sys

    code = ("import sys; from facecam.cli import main; "
            f"rc = main(['train', '--config', 'single_gpu_lora', '--weights', {str(tmp_path / 'nope')!r}, "
            f"'--data', 'synthetic', '--output', {str(tmp_path / 'run')!r}]); print(rc, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "weights folder not found" in done.stderr and not (tmp_path / "run").exists()
