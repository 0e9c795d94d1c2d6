"""The FaceCam fine-tuning loop on accelerate: one expert per run, from one CPU to many GPU nodes.

One optimisation step, per process::

    batch   = next (source, target, condition) sample(s)            # pixels -> frozen VAE -> latents
    i       ~ U[expert's index range of the 1000-step schedule]  # schedule.TrainingSchedule
    x_t     = (1 - s'_i) target + s'_i eps
    v       = expert(x_t, source, condition, 1000 s'_i, prompt)     # target half only
    loss    = w(t_i) * mean((v - (eps - target))^2)

Only self-attention and the patch embedding (or their LoRA adapters) get gradients. The
same code runs single-process, DDP and FSDP2 (and, untested and unsharded in loading, DeepSpeed):
everything that differs (sharding, mixed precision, gradient sync) is accelerate's, chosen by the
launch config.
"""

from __future__ import annotations

import csv
import json
import importlib.util
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import torch

from ..errors import FacecamError
from .batches import SampleStream, SyntheticVideos, collate
from .checkpoint import (CheckpointManager, check_base_reference, fingerprint, load_process_state,
                         load_sharded_trainable, resolve_resume, save_process_state, save_sharded_trainable,
                         write_base_reference)
from .config import TrainConfig
from ..model.transformer import facecam_velocity
from .schedule import TrainingSchedule, velocity_target

log = logging.getLogger(__name__)

TRAINABLE_FILE = "trainable.safetensors"


@dataclass
class TrainResult:
    """What a finished (or stopped) run left behind."""

    output: Path
    step: int
    losses: list[float] = field(default_factory=list)   # per optimisation step of this invocation
    exports: dict[str, Path] = field(default_factory=dict)
    resumed_from: Optional[Path] = None


def build_dataset(config: TrainConfig, rank: int, world_size: int) -> Iterable[dict[str, Any]]:
    """The training samples of ``config.data``: ``synthetic`` or shards read by :mod:`facecam.data`."""
    if config.data == "synthetic":
        s = config.synthetic
        return SyntheticVideos(s.samples, s.frames, s.height, s.width, seed=config.seed, rank=rank,
                               world_size=world_size, as_latents=s.as_latents)
    from ..data.dataset import FaceCamShards

    # epochs=None: the reader counts epochs itself and never ends; its (epoch, position) state
    # is saved with every checkpoint. Latents are used where the shards store them.
    dataset = FaceCamShards(config.data, rank=rank, world_size=world_size, shuffle=True, seed=config.seed,
                            epochs=None, latents="auto")
    if len(dataset) == 0:  # an endless reader over nothing would spin forever
        raise FacecamError(f"{config.data} holds fewer samples than the {world_size} training processes")
    return dataset


def check_process_group(num_processes: int, environ: Optional[dict] = None) -> None:
    """Stop a launch whose processes did not form one group (each would believe it is rank 0 and write
    the same run folder): the launcher's ``WORLD_SIZE`` must match the processes the run sees."""
    import os

    environ = os.environ if environ is None else environ
    world = environ.get("WORLD_SIZE")
    if world is not None and world.isdigit() and int(world) != num_processes:
        raise FacecamError(f"the launcher started {world} processes but this one sees {num_processes}: the process "
                           "group did not form (run `accelerate launch` / `torchrun` with the same MASTER_ADDR, "
                           "MASTER_PORT and --num_processes on every node)")


class Trainer:
    """Fine-tunes one FaceCam expert as :class:`TrainConfig` says.

    Args:
        config: the run's options (validated here).
        dataset: an iterable of sample dicts (see :mod:`facecam.train.batches`); default: built from
            ``config.data``. It must be re-iterable and, for exact resume, deterministic or stateful.
        progress: show a bar of steps with the latest loss and learning rate (main process only).
    """

    def __init__(self, config: TrainConfig, dataset: Optional[Iterable[dict[str, Any]]] = None,
                 progress: bool = False) -> None:
        self.config = config.validate()
        self.output = Path(config.output).expanduser()
        self._dataset = dataset
        self.progress = progress
        self.schedule = TrainingSchedule.for_expert(config.expert, shift=config.shift, boundary=config.boundary)

    # ------------------------------------------------------------------ setup
    def _accelerator(self):
        import os

        from accelerate import Accelerator
        from accelerate.utils import ProjectConfiguration

        trackers = list(self.config.trackers or [])
        if "tensorboard" in trackers and importlib.util.find_spec("tensorboard") is None:
            # metrics.csv still records every step; a missing optional package must not stop a run.
            log.warning("tensorboard is not installed: logging to metrics.csv only "
                        "(pip install 'tensorboard<2.20' for TensorBoard)")
            trackers.remove("tensorboard")
        self.trackers = trackers
        # `accelerate launch --mixed_precision` (an env var) wins over the config file.
        mixed = None if os.environ.get("ACCELERATE_MIXED_PRECISION") else self.config.mixed_precision
        accelerator = Accelerator(
            mixed_precision=mixed,
            gradient_accumulation_steps=self.config.gradient_accumulation_steps,
            log_with=trackers or None,
            project_config=ProjectConfiguration(project_dir=str(self.output), logging_dir=str(self.output / "logs")),
        )
        check_process_group(accelerator.num_processes)
        return accelerator

    def _sharded(self) -> bool:
        from accelerate.utils import DistributedType

        return self.accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)

    def _fsdp2(self) -> bool:
        from accelerate.utils import DistributedType

        plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
        return self.accelerator.distributed_type == DistributedType.FSDP and getattr(plugin, "fsdp_version", 1) == 2

    def _main_loads_alone(self) -> bool:
        """FSDP2 with ``fsdp_cpu_ram_efficient_loading``: only the main process reads the expert; the
        others build it on ``meta`` and accelerate broadcasts every shard from the main one while
        sharding (``fsdp2_load_full_state_dict``), so one process of the run, not every one, holds a copy."""
        plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
        alone = self._fsdp2() and bool(getattr(plugin, "cpu_ram_efficient_loading", False)) \
            and self.accelerator.num_processes > 1
        if alone:
            check_meta_loading_support()
        return alone

    def _frozen_dtype(self) -> torch.dtype:
        choice = self.config.frozen_dtype
        if choice == "auto":
            # FSDP1 and DeepSpeed flatten a block's parameters into one buffer, which needs one dtype
            # (their mixed precision casts to bf16 for compute). FSDP2 shards parameter by parameter:
            # frozen bf16 weights beside fp32 trained ones halve what the main process loads and
            # every process keeps of the frozen base.
            one_dtype = self._sharded() and not self._fsdp2()
            bf16 = self.accelerator.mixed_precision == "bf16" and not one_dtype
            return torch.bfloat16 if bf16 else torch.float32
        return torch.bfloat16 if choice == "bf16" else torch.float32

    def _weights_root(self) -> Path:
        if self.config.weights != "tiny":
            return Path(self.config.weights).expanduser()
        from ..model.tiny import write_tiny_model

        root = self.output / "tiny_weights"
        if self.accelerator.is_main_process and not (root / ".complete").is_file():
            write_tiny_model(root, seed=0)
            (root / ".complete").write_text("ok\n")
        self.accelerator.wait_for_everyone()
        return root

    def _prompt_cache(self, layout):
        """Embeddings of the fixed prompt (training) and the empty negative prompt (validation CFG),
        encoded once per run folder by the main process; the 11 GB text encoder is freed right after."""
        from ..model.text import PROMPT_CACHE_DIRNAME, PromptCache
        from ..pipeline import DEFAULT_NEGATIVE_PROMPT

        from .modeling import encode_prompts

        cache = PromptCache(self.output / PROMPT_CACHE_DIRNAME)
        texts = [self.config.prompt, DEFAULT_NEGATIVE_PROMPT]
        if self.accelerator.is_main_process:
            missing = [t for t in texts if cache.get(t) is None]
            if missing:
                for text, states in zip(missing, encode_prompts(layout, missing, self.accelerator.device)):
                    cache.put(text, states)
        self.accelerator.wait_for_everyone()
        for text in texts:
            if cache.get(text) is None:
                raise FacecamError(f"prompt embedding missing from {cache.folder} (is {self.output} shared by all nodes?)")
        return cache

    def setup(self) -> None:
        """Build accelerator, model, optimiser, data and trackers; resume if a checkpoint is there."""
        from diffusers.optimization import get_scheduler

        from ..model.weights import load_vae
        from . import modeling

        cfg = self.config
        self.output.mkdir(parents=True, exist_ok=True)
        if cfg.cpu_threads:
            torch.set_num_threads(cfg.cpu_threads)
        self.accelerator = acc = self._accelerator()
        self.is_main = acc.is_main_process
        from accelerate.utils import set_seed

        set_seed(cfg.seed, device_specific=True)
        # Noise and timesteps come from a generator of our own, saved in every checkpoint, so a
        # resumed run draws exactly what the uninterrupted one would have drawn.
        self.noise_generator = torch.Generator().manual_seed(cfg.seed * 1000 + acc.process_index)

        layout = modeling.locate_base(self._weights_root())
        self.layout = layout
        self.base_reference = base_reference(layout, cfg.expert, cfg.init_from_finetune)
        self.checkpoints = CheckpointManager(self.output / "checkpoints", keep=cfg.checkpoints_keep)
        self._check_resume_early()
        self.prompt_cache = self._prompt_cache(layout)
        self.prompt_embeds = self.prompt_cache.get(cfg.prompt)
        vae_dtype = torch.float32 if acc.device.type == "cpu" else torch.bfloat16
        self.vae = load_vae(layout, vae_dtype).to(acc.device)

        empty = self._main_loads_alone() and not acc.is_main_process
        model = modeling.load_expert(layout, cfg.expert, self._frozen_dtype(), cfg.init_from_finetune, empty=empty)
        self.initial_config = dict(model.config)
        self.trained_names = model.trainable_parameter_names()  # what the export holds (LoRA merged into these)
        # (frozen weights were loaded in their dtype already; only the trained ones are upcast)
        self.param_names = modeling.configure_trainable(model, lora=cfg.lora)
        if cfg.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        # Before sharding: True on the non-main processes of a main-loads-alone run (read by the tests).
        self.expert_on_meta = all(p.is_meta for p in model.parameters())
        if empty:
            log.info("process %d: expert built on meta; its shards come from the main process", acc.process_index)
        n_train = sum(p.numel() for p in params)
        n_all = sum(p.numel() for p in model.parameters())
        log.info("training %s expert: %d of %d parameters (%.1f%%)", cfg.expert, n_train, n_all, 100 * n_train / n_all)

        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
                                      eps=cfg.adam_epsilon, weight_decay=cfg.weight_decay)
        # accelerate steps a prepared scheduler once per process, hence the warmup scaling.
        scheduler = get_scheduler(cfg.lr_scheduler, optimizer,
                                  num_warmup_steps=cfg.lr_warmup_steps * acc.num_processes)
        plugin = getattr(acc.state, "deepspeed_plugin", None)
        if plugin is not None:
            log.warning("facecam: warning: under DeepSpeed every process loads the whole expert in fp32 and "
                        "checkpoints hold the whole model (~57 GB of host memory a process for a 14B expert, "
                        "an estimate); the sharded path this project tests is FSDP2: "
                        "`facecam train --accelerate-config fsdp`")
            # No DataLoader goes through prepare(), so DeepSpeed must be told the micro-batch size.
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.batch_size
            ds_accum = plugin.deepspeed_config.get("gradient_accumulation_steps")
            if ds_accum not in (None, "auto", cfg.gradient_accumulation_steps):
                raise FacecamError(f"the DeepSpeed config accumulates {ds_accum} steps, the training config "
                                   f"{cfg.gradient_accumulation_steps}; make them equal")
        self.model, self.optimizer, self.lr_scheduler = acc.prepare(model, optimizer, scheduler)
        if not self._sharded():
            acc.register_save_state_pre_hook(self._save_trainable_hook)
            acc.register_load_state_pre_hook(self._load_trainable_hook)

        dataset = self._dataset if self._dataset is not None else build_dataset(cfg, acc.process_index,
                                                                                acc.num_processes)
        self.dataset = dataset
        self.validation_batch = first_sample(dataset) if cfg.validation_every else None
        self.stream = SampleStream(dataset, cfg.batch_size)
        self.data_source = self._data_source()  # (once: it reads every shard's header)
        self.step = 0
        self.resumed_from = self._resume()
        self.saved_step = self.step if self.resumed_from is not None else -1
        if self.is_main:
            if self.resumed_from is None or self.step < cfg.max_steps:  # (a run with nothing to train keeps the
                cfg.save(self.output / "config.yaml")                # record of the one that trained it)
            self._open_metrics()
        if self.trackers:
            acc.init_trackers("facecam", config=_flat_config(cfg))

    # ------------------------------------------------------ checkpoint hooks
    def _save_trainable_hook(self, models, weights, output_dir: str) -> None:
        """Single-process/DDP saves: keep only the trained parameters, not the frozen 14B."""
        from safetensors.torch import save_file

        from .modeling import trainable_state

        if self.accelerator.is_main_process:
            state = trainable_state(self.accelerator.unwrap_model(self.model))
            save_file({k: v.contiguous() for k, v in state.items()}, str(Path(output_dir) / TRAINABLE_FILE))
        while weights:
            weights.pop()

    def _load_trainable_hook(self, models, input_dir: str) -> None:
        from safetensors.torch import load_file

        path = Path(input_dir) / TRAINABLE_FILE
        if not path.is_file():
            raise FacecamError(f"{input_dir} has no {TRAINABLE_FILE} (written by a sharded FSDP/DeepSpeed run? "
                               "resume it with the same launch config)")
        model = self.accelerator.unwrap_model(self.model)
        state = load_file(str(path))
        expected = set(self.param_names)
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise FacecamError(f"{path} does not match this run's trainable parameters "
                               f"(missing {missing[:2]}, unexpected {extra[:2]}): was LoRA switched on or off?")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)
        while models:
            models.pop()

    # ------------------------------------------------------------ resume/save
    def _check_resume_early(self) -> None:
        """Refusals said before minutes of model loading: a checkpoint of the other expert or of another
        base, and --resume none over an earlier run's checkpoints (the new run's would be written beside
        them, and `latest` would point at whichever saved last). Deleting a run is left to the user."""
        manager = self.checkpoints
        if self.config.resume in ("none", "", None):
            latest = manager.latest()
            if latest is not None:
                raise FacecamError(f"{self.output} already holds a run's checkpoints (latest: {latest.name}); "
                                   f"--resume none would mix two runs in one folder: give a new --output, or "
                                   f"delete {manager.root} to start over there")
            return
        ckpt = resolve_resume(self.config.resume, manager)
        if ckpt is not None:
            check_base_reference(ckpt, self.base_reference)

    def _data_source(self) -> Optional[dict]:
        """What the training data is, for a resume to tell whether its saved position belongs to it: the
        shards' file names and sizes (the same shards moved or mounted elsewhere are the same data) and,
        to name them, their path; ``{"synthetic": True}``; None for a dataset object given in code."""
        data = self.config.data
        if self._dataset is not None:
            return None
        if data in (None, "synthetic"):
            return {"synthetic": True, "path": "synthetic"}
        from ..data.dataset import find_shards

        return {"path": str(Path(data).expanduser().resolve()),
                "shards": [[p.name, p.stat().st_size] for p in find_shards(data)]}

    def _resume(self) -> Optional[Path]:
        if self.is_main:
            self.checkpoints.clean_partial()
        self.accelerator.wait_for_everyone()
        ckpt = resolve_resume(self.config.resume, self.checkpoints)
        if ckpt is None:
            return None
        check_base_reference(ckpt, self.base_reference)
        if self._fsdp2():
            with _model_hidden(self.accelerator):  # scheduler and RNG states only
                self.accelerator.load_state(str(ckpt))
            load_sharded_trainable(ckpt, self.model, self.optimizer.optimizer)
        else:
            self.accelerator.load_state(str(ckpt))
        state = load_process_state(ckpt, self.accelerator.process_index)
        if state["expert"] != self.config.expert:
            raise FacecamError(f"{ckpt} trains the {state['expert']} expert, this run the {self.config.expert} one")
        self.step = int(state["step"])
        self.noise_generator.set_state(state["noise_generator"])
        before, now = state.get("data_source"), self.data_source
        same = before is None or now is None or {k: v for k, v in before.items() if k != "path"} == {
            k: v for k, v in now.items() if k != "path"}
        if same:
            self.stream.load_state_dict(state["data"])
        elif self.is_main:  # the saved position is one in the other data's order
            log.warning(f"facecam: warning: {ckpt} was trained on other data ({before['path']}), this run reads "
                        f"{now['path']}: the new data is read from its start")
        log.info("resumed from %s at step %d", ckpt, self.step)
        if self.step >= self.config.max_steps and self.is_main:
            log.warning(f"facecam: warning: the run in {self.output} is already at step {self.step} "
                        f"(max_steps {self.config.max_steps}): nothing to train; raise --max-steps to go on")
        return ckpt

    def save_checkpoint(self) -> Path:
        """Write the checkpoint of the current step atomically (every process must call this)."""
        acc = self.accelerator
        tmp = self.checkpoints.temp_folder(self.step)
        if self.is_main:
            self.checkpoints.begin(self.step)
        acc.wait_for_everyone()
        if self._fsdp2():
            # accelerate would write the whole model and its optimizer state; store the trained part only.
            with _model_hidden(acc):
                acc.save_state(str(tmp))
            save_sharded_trainable(tmp, self.model, self.optimizer.optimizer)
        else:
            acc.save_state(str(tmp))
        if self.is_main:
            write_base_reference(tmp, self.base_reference)
        save_process_state(tmp, acc.process_index, {
            "step": self.step, "expert": self.config.expert, "noise_generator": self.noise_generator.get_state(),
            "data": self.stream.state_dict(), "data_source": self.data_source,
        })
        acc.wait_for_everyone()
        final = self.checkpoints.root / tmp.name[len(".tmp-"):]
        if self.is_main:
            final = self.checkpoints.commit(self.step)
        acc.wait_for_everyone()
        self.saved_step = self.step
        return final

    # --------------------------------------------------------------- metrics
    def _open_metrics(self) -> None:
        """metrics.csv with rows up to the resumed step (a crashed continuation's rows are dropped)."""
        path = self.output / "metrics.csv"
        rows = []
        if path.is_file() and self.resumed_from is not None:
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= self.step]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["step", "loss", "lr"])
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_path = path

    def _log(self, loss: float, lr: float) -> None:
        if self.trackers:
            self.accelerator.log({"train/loss": loss, "train/lr": lr}, step=self.step)
        if self.is_main:
            with open(self.metrics_path, "a", newline="") as fh:
                csv.writer(fh).writerow([self.step, f"{loss:.8g}", f"{lr:.8g}"])

    # ------------------------------------------------------------------ step
    def latents(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(target, source, condition)`` normalised latents ``(B, 16, F, h, w)`` on the device."""
        from ..model.vae import encode_pixels

        device = self.accelerator.device
        if "target_latents" in batch:
            return tuple(batch[f"{k}_latents"].to(device).float() for k in ("target", "source", "condition"))
        return tuple(encode_pixels(self.vae, batch[k].to(device)) for k in ("target", "source", "condition"))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted flow-matching loss of one batch (target half only: the model returns only it)."""
        target, source, condition = self.latents(batch)
        b = target.shape[0]
        indices = self.schedule.sample_indices(b, generator=self.noise_generator)
        noise = torch.randn(target.shape, generator=self.noise_generator).to(target.device)
        noisy = self.schedule.add_noise(target, noise, indices)
        timesteps = self.schedule.timesteps[indices].to(target.device, torch.float32)
        if self.accelerator.mixed_precision == "bf16":
            # The release's sampler (and our pipeline) hands the DiT bf16-rounded timesteps; train on the same values.
            timesteps = timesteps.to(torch.bfloat16).float()
        text = self.prompt_embeds.to(target.device).expand(b, -1, -1)
        pred = facecam_velocity(self.model, noisy, source, condition, timesteps, text)
        per_sample = (pred.float() - velocity_target(target, noise)).pow(2).flatten(1).mean(1)
        weights = self.schedule.weights[indices].to(per_sample.device, torch.float32)
        return (per_sample * weights).mean()

    def train_step(self) -> float:
        """One optimiser step (``gradient_accumulation_steps`` micro-batches); returns the mean loss."""
        acc, cfg = self.accelerator, self.config
        total = 0.0
        for _ in range(cfg.gradient_accumulation_steps):
            with acc.accumulate(self.model):
                loss = self.loss(self.stream.next_batch())
                acc.backward(loss)
                if acc.sync_gradients and cfg.max_grad_norm:
                    acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
            total += loss.detach().float()
        mean = acc.reduce(total / cfg.gradient_accumulation_steps, reduction="mean")
        value = float(mean)
        if not math.isfinite(value):
            raise FacecamError(f"loss became {value} at step {self.step + 1}; lower learning_rate or check the data")
        return value

    # ------------------------------------------------------------ validation
    def validate(self) -> Optional[Path]:
        """Render the validation sample and write ``validation/step-N.mp4`` (source | condition | target | render).

        Every process renders (a sharded expert needs all ranks for its forward); the main one writes.
        """
        from ..model.vae import decode_pixels
        from .validation import write_side_by_side

        if self.validation_batch is None:
            return None
        batch = self.validation_batch
        device = self.accelerator.device
        if "target" in batch:
            source, condition, target = (batch[k].to(device) for k in ("source", "condition", "target"))
        else:  # latents-only data: decode for display (and for the pipeline, which takes pixels)
            source, condition, target = (decode_pixels(self.vae, batch[f"{k}_latents"].to(device))
                                         for k in ("source", "condition", "target"))
        self.model.eval()
        try:
            with torch.no_grad(), self.accelerator.autocast():
                if self.config.validation_mode == "pipeline":
                    render = self._render_pipeline(source, condition)
                else:
                    render = self._render_expert(batch)
        finally:
            self.model.train()
        path = self.output / "validation" / f"step-{self.step:08d}.mp4"
        if self.is_main:
            write_side_by_side(path, [source[0], condition[0], target[0], render[0]])
        self.accelerator.wait_for_everyone()
        return path

    def _other_expert(self):
        """The expert this run does not train, as inference would use it (kept on the CPU between renders)."""
        if getattr(self, "_other", None) is None:
            from .modeling import load_expert

            other = "low" if self.config.expert == "high" else "high"
            has_finetune = (self.layout.low_finetune if other == "low" else self.layout.high_finetune) is not None
            dtype = torch.float32 if self.accelerator.device.type == "cpu" else torch.bfloat16
            self._other = load_expert(self.layout, other, dtype, init_from_finetune=has_finetune).eval()
            self._other.requires_grad_(False)
        return self._other

    def _render_pipeline(self, source: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``(1, 3, T, H, W)`` in [-1, 1]: the whole FaceCamPipeline (both experts, CFG) with the trained expert."""
        from ..model.sampling import make_scheduler
        from ..pipeline import FaceCamPipeline

        cfg = self.config
        trainee = self.accelerator.unwrap_model(self.model)
        other = self._other_expert().to(self.accelerator.device)
        high, low = (trainee, other) if cfg.expert == "high" else (other, trainee)
        try:
            pipe = FaceCamPipeline(transformer=high, transformer_2=low, vae=self.vae,
                                   scheduler=make_scheduler(cfg.shift), boundary_ratio=cfg.boundary)
            pipe.prompt_cache = self.prompt_cache
            pipe.set_progress_bar_config(disable=True)
            out = pipe(source[:1], condition[:1], prompt=cfg.prompt, num_inference_steps=cfg.validation_steps,
                       guidance_scale=cfg.validation_guidance, generator=torch.Generator().manual_seed(cfg.seed),
                       output_type="latent")
            return pipe.decode_latents(out.frames)
        finally:
            other.to("cpu")

    def _render_expert(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The trained expert alone on its share of the sampler (see :mod:`facecam.train.validation`)."""
        from ..model.vae import decode_pixels
        from .validation import denoise_expert

        cfg = self.config
        target, source, condition = self.latents({k: v[:1] for k, v in batch.items()})
        latents = denoise_expert(self.model, cfg.expert, source=source, condition=condition, target=target,
                                 prompt_embeds=self.prompt_embeds.to(target.device), steps=cfg.validation_steps,
                                 shift=cfg.shift, boundary=cfg.boundary, generator=torch.Generator().manual_seed(cfg.seed))
        return decode_pixels(self.vae, latents)

    # ---------------------------------------------------------------- export
    def export(self) -> dict[str, Path]:
        """Write the trained expert in the authors' format and in the diffusers layout (main process)."""
        from .export import export_authors, export_diffusers, export_lora, write_export_note
        from .modeling import exported_state, merged_state, to_native

        cfg = self.config
        full = self.accelerator.get_state_dict(self.model)  # gathers FSDP / DeepSpeed shards onto the main process
        written: dict[str, Path] = {}
        if self.is_main:
            dtype = torch.bfloat16 if cfg.export_dtype == "bf16" else torch.float32
            scale = cfg.lora.alpha / cfg.lora.rank if cfg.lora.enabled else None
            root = self.output / "export"
            trained = exported_state(full, self.trained_names, scale, dtype)
            written["authors"] = export_authors(to_native(trained), root, cfg.expert,
                                                metadata={"step": self.step, "expert": cfg.expert})
            if cfg.export_pipeline:
                merged = merged_state(full, scale) if scale is not None else full
                written["diffusers"] = export_diffusers(merged, self.initial_config, root / "diffusers",
                                                        cfg.expert, dtype)
            if cfg.lora.enabled:
                written["lora"] = export_lora(full, root, cfg.expert, cfg.lora.rank, cfg.lora.alpha, dtype,
                                              patch_embedding=cfg.lora.train_patch_embedding)
            write_export_note(root, {"step": self.step, "expert": cfg.expert, "lora": cfg.lora.enabled,
                                     "dtype": cfg.export_dtype,
                                     "trained_parameters": len(trained), **{k: str(v) for k, v in written.items()}})
        self.accelerator.wait_for_everyone()
        return written

    def standing_export(self) -> Optional[dict[str, Path]]:
        """The run folder's export when it is already this step's, as this run would write it (expert,
        formats, dtype: ``export.json``), else None. A resume with nothing to train returns it instead of
        writing the expert again (gigabytes at full size). Every process reads the same note, so all of
        them take the same way."""
        cfg = self.config
        note = self.output / "export" / "export.json"
        try:
            info = json.loads(note.read_text())
        except (OSError, ValueError):
            return None
        kinds = ["authors"] + ["diffusers"] * bool(cfg.export_pipeline) + ["lora"] * bool(cfg.lora.enabled)
        if (info.get("step") != self.step or info.get("expert") != cfg.expert or info.get("dtype") != cfg.export_dtype
                or not all(info.get(k) and Path(info[k]).exists() for k in kinds)):
            return None
        if self.is_main:
            log.info("the export in %s is step %d's already: not written again", note.parent, self.step)
        return {k: Path(info[k]) for k in kinds}

    # ------------------------------------------------------------------ loop
    def train(self) -> TrainResult:
        """Run (or continue) training to ``max_steps``; checkpoint, validate and export on the way.

        Training ends the run: trackers are closed and a distributed run's process group is destroyed,
        so nothing collective can follow in this process."""
        if not hasattr(self, "accelerator"):
            self.setup()
        cfg = self.config
        losses: list[float] = []
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=f"training the {cfg.expert} expert", unit="step",
                   disable=not (self.progress and self.is_main), dynamic_ncols=True)
        try:
            while self.step < cfg.max_steps:
                loss = self.train_step()
                self.step += 1
                losses.append(loss)
                lr = self.lr_scheduler.get_last_lr()[0]
                bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.3g}", refresh=False)  # before the update draws it:
                bar.update(1)  # (the other way round the bar showed the previous step's loss)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    self._log(loss, lr)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if cfg.validation_every and self.step % cfg.validation_every == 0:
                    self.validate()
            if self.saved_step != self.step:
                self.save_checkpoint()
            if cfg.validation_every and losses and self.step % cfg.validation_every:
                self.validate()  # the final weights get a render too
            exports = self.standing_export() if not losses else None
            if exports is None:
                exports = self.export()
        finally:
            bar.close()
            # Ends the trackers and destroys the process group. A gloo group left to interpreter shutdown
            # can abort a process whose worker threads still hold tensors (SIGABRT, "terminate called
            # without an active exception": rank 1 of a 2-process CPU FSDP2 run, once on CI).
            self.accelerator.end_training()
        return TrainResult(self.output, self.step, losses, exports, self.resumed_from)


MIN_ACCELERATE_META_LOADING = "1.16.0"


def check_meta_loading_support(version: Optional[str] = None) -> None:
    """Main-process-only loading of the expert needs accelerate 1.16: 1.15's broadcast stops at the expert's
    top-level ``scale_shift_table`` (``ValueError: not enough values to unpack``, tried), and before 1.16
    the optimizer's parameters are matched to their shards by data pointer, 0 for every ``meta`` tensor."""
    from packaging.version import Version

    if version is None:
        import accelerate

        version = accelerate.__version__
    if Version(version) < Version(MIN_ACCELERATE_META_LOADING):
        raise FacecamError(f"fsdp_cpu_ram_efficient_loading needs accelerate>={MIN_ACCELERATE_META_LOADING} "
                           f"(found {version}): pip install -U accelerate, or set it to false in the launch config")


@contextmanager
def _model_hidden(accelerator):
    """Hide the prepared model and optimizer from accelerate's save_state/load_state, which then handle
    only the LR scheduler and the RNG states (FSDP2 runs store the trained parameters themselves)."""
    models, optimizers = accelerator._models, accelerator._optimizers
    accelerator._models, accelerator._optimizers = [], []
    try:
        yield
    finally:
        accelerator._models, accelerator._optimizers = models, optimizers


def base_reference(layout, expert: str, init_from_finetune: bool) -> dict[str, Any]:
    """What a checkpoint records about the frozen weights it does not store: the base expert's folder
    (and the fine-tune started from) and a fingerprint of their files."""
    from ..model.weights import EXPERT_FOLDERS, WEIGHT_SUFFIXES

    native_dir, diffusers_dir = EXPERT_FOLDERS[expert]
    folder = layout.base / (native_dir if layout.kind == "original" else diffusers_dir)
    files = [f for f in folder.iterdir() if f.is_file() and (f.suffix in WEIGHT_SUFFIXES or f.name == "config.json")]
    finetune = (layout.high_finetune if expert == "high" else layout.low_finetune) if init_from_finetune else None
    if finetune is not None:
        files += [finetune] if finetune.is_file() else [f for f in finetune.rglob("*") if f.suffix in WEIGHT_SUFFIXES]
    return {"path": str(folder.resolve()), "expert": expert, "layout": layout.kind,
            "finetune": str(finetune) if finetune is not None else None, "fingerprint": fingerprint(files)}


def first_sample(dataset: Iterable[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The dataset's first sample as a batch of one, leaving a stateful dataset's position untouched."""
    state = dataset.state_dict() if hasattr(dataset, "state_dict") else None
    iterator = iter(dataset)
    batch = collate([next(iterator)])
    del iterator  # closes the reader's files
    if state is not None:
        dataset.load_state_dict(state)
    return batch


def _flat_config(config: TrainConfig) -> dict[str, Any]:
    """Tracker-friendly hyper-parameters (TensorBoard's hparams take scalars and strings only)."""
    out: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(map(str, value))
        else:
            out[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


def train(config: TrainConfig, dataset: Optional[Iterable[dict[str, Any]]] = None,
          progress: bool = False) -> TrainResult:
    """Fine-tune one FaceCam expert; see :class:`Trainer`."""
    return Trainer(config, dataset, progress=progress).train()
