"""Training options as data: one dataclass, one YAML file, one place for every default.

A config file is a flat YAML mapping whose keys are the fields of :class:`TrainConfig`
(``lora:`` and ``synthetic:`` are nested mappings). The CLI's flags (``--data``,
``--weights``, ``--expert``, ``--max-steps``, ``--output``) override the file. Shipped
configs live next to this module in ``configs/`` and are addressed by their stem
(``facecam train --config tiny``); accelerate launch configs are the ``accelerate_*.yaml``
files of the same folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import FacecamError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class LoraOptions:
    """LoRA on the self-attention projections instead of full fine-tuning (needs ``peft``)."""

    enabled: bool = False
    rank: int = 64            # LoRA rank r of every adapted projection
    alpha: float = 64.0       # scaling is alpha / rank
    dropout: float = 0.0
    # The patch embedding is small (36x2x2 -> dim) and new inputs flow through it, so it stays
    # fully trained in LoRA mode; self-attention q/k/v/o get adapters, their norms stay frozen.
    train_patch_embedding: bool = True


@dataclass
class SyntheticData:
    """Random (source, target, condition) videos, for ``data: synthetic`` smoke runs and tests."""

    samples: int = 4          # distinct samples per epoch
    frames: int = 5           # 4k+1 frames (5 -> 2 latent frames)
    height: int = 32
    width: int = 32
    as_latents: bool = False  # yield VAE-space latents (16, F, H/8, W/8) and skip the VAE encoder (fast tests)


@dataclass
class TrainConfig:
    """Every option of a FaceCam fine-tuning run (one expert per run)."""

    # --- what to train --------------------------------------------------------
    expert: str = "high"                 # "high" (t >= 900) or "low" (t < 900)
    weights: Optional[str] = None        # base weights folder (facecam download layout); "tiny" = random tiny model
    init_from_finetune: bool = False     # start from the released FaceCam fine-tune instead of the Wan base
    data: Optional[str] = None           # shard folder / file / glob of the data issue's shards, or "synthetic"
    output: str = "runs/facecam"         # run folder: metrics.csv, checkpoints/, export/, validation/, logs/
    seed: int = 0
    cpu_threads: Optional[int] = None    # torch intra-op threads; 1 is fastest for the tiny model on a shared CPU
    # --- optimisation (paper: constant LR 5e-5, global batch 24, 3K steps) ------
    max_steps: int = 3000
    batch_size: int = 1                  # per process; global batch = batch_size * processes * accumulation
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    lr_scheduler: str = "constant"       # "constant" or "constant_with_warmup"
    lr_warmup_steps: int = 0
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: Optional[float] = None  # None: no clipping (the authors' framework default)
    mixed_precision: str = "bf16"        # "bf16", "fp16" or "no"; accelerate launch flags override
    gradient_checkpointing: bool = True
    frozen_dtype: str = "auto"           # dtype of frozen weights: "auto" (bf16 with bf16 mixed precision unless FSDP1/DeepSpeed), "bf16", "fp32"
    lora: LoraOptions = field(default_factory=LoraOptions)
    # --- schedule -------------------------------------------------------------
    shift: float = 5.0
    boundary: float = 0.9
    prompt: str = "A portrait of a person"
    # --- data -----------------------------------------------------------------
    synthetic: SyntheticData = field(default_factory=SyntheticData)
    # --- checkpoints, logs, validation ------------------------------------------
    checkpoint_every: int = 500          # 0: only at the end
    checkpoints_keep: int = 2            # newest N complete checkpoints kept
    resume: str = "auto"                 # "auto" (latest in output/checkpoints), "none", or a checkpoint folder
    log_every: int = 1
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    validation_every: int = 500          # 0: never
    validation_steps: int = 20           # sampler steps of the validation render (over both experts' range)
    validation_mode: str = "pipeline"    # "pipeline": FaceCamPipeline with the trained expert + the other one
                                         # (released fine-tune if present, else base; kept on the CPU between
                                         # renders); "expert": the trained expert alone on its share of the steps
    validation_guidance: float = 5.0     # classifier-free guidance of the pipeline render (release: 5.0)
    export_dtype: str = "bf16"           # dtype of exported weights: "bf16" (as released) or "fp32"
    export_pipeline: bool = True         # also export in FaceCamPipeline's save_pretrained layout

    def validate(self) -> "TrainConfig":
        """Raise :class:`FacecamError` for an option no run could use."""
        checks = [
            (self.expert in ("high", "low"), f"expert must be 'high' or 'low', got {self.expert!r}"),
            (self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.lr_scheduler in ("constant", "constant_with_warmup"),
             f"lr_scheduler must be 'constant' or 'constant_with_warmup', got {self.lr_scheduler!r}"),
            (self.mixed_precision in ("bf16", "fp16", "no"), "mixed_precision must be bf16, fp16 or no"),
            (self.frozen_dtype in ("auto", "bf16", "fp32"), "frozen_dtype must be auto, bf16 or fp32"),
            (self.export_dtype in ("bf16", "fp32"), "export_dtype must be bf16 or fp32"),
            (self.validation_mode in ("pipeline", "expert"), "validation_mode must be pipeline or expert"),
            (self.checkpoint_every >= 0 and self.validation_every >= 0, "checkpoint/validation intervals must be >= 0"),
            (self.checkpoints_keep >= 1, "checkpoints_keep must be >= 1"),
            (0 < self.boundary < 1, f"boundary must be in (0, 1), got {self.boundary}"),
            (self.lora.rank >= 1, "lora.rank must be >= 1"),
            ((self.synthetic.frames - 1) % 4 == 0, f"synthetic.frames must be 4k+1, got {self.synthetic.frames}"),
            (self.synthetic.height % 16 == 0 and self.synthetic.width % 16 == 0,
             "synthetic.height and width must be multiples of 16 (VAE 8x, patch 2x)"),
        ]
        for ok, message in checks:
            if not ok:
                raise FacecamError(f"config: {message}")
        output = Path(self.output).expanduser()
        if output.exists() and not output.is_dir():
            raise FacecamError(f"output path exists and is not a folder: {output}")
        if self.resume not in ("auto", "none") and not Path(self.resume).expanduser().is_dir():
            raise FacecamError(f"checkpoint to resume from not found: {self.resume}")
        if self.weights is None:
            raise FacecamError("no weights: pass --weights DIR (the folder of `facecam download`) or use --config tiny")
        if self.data is None:
            raise FacecamError("no training data: pass --data SHARDS (see `facecam data --help`) or set data: synthetic")
        return self

    # --- I/O --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Build from a mapping, rejecting unknown keys (a typo must not silently use a default)."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FacecamError(f"{source}: unknown option(s) {', '.join(unknown)}")
        nested = {"lora": LoraOptions, "synthetic": SyntheticData}
        for key, kind in nested.items():
            if key in values:
                sub = values[key] or {}
                if not isinstance(sub, dict):
                    raise FacecamError(f"{source}: {key} must be a mapping")
                sub_known = {f.name for f in dataclasses.fields(kind)}
                bad = sorted(set(sub) - sub_known)
                if bad:
                    raise FacecamError(f"{source}: unknown option(s) {', '.join(f'{key}.{b}' for b in bad)}")
                values[key] = kind(**_typed(kind, sub, source, f"{key}."))
        return cls(**_typed(cls, values, source))

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _typed(kind, values: dict[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """``values`` with each number or switch of the dataclass ``kind`` checked against its default's type: YAML
    reads ``5e-5`` (no dot) as a string, which crashed the trainer with a traceback; ``max_steps: 2.5`` trained
    3 steps and ``max_steps: true`` ran as 1. A number written as text is read as one; anything else is a
    one-line error naming the option."""
    out = dict(values)
    for f in dataclasses.fields(kind):
        if f.name not in out or out[f.name] is None or isinstance(f.default, (dict, list)):
            continue
        value, want = out[f.name], type(f.default) if f.default is not dataclasses.MISSING else None
        name = f"{prefix}{f.name}"
        if want is bool:
            if not isinstance(value, bool):
                raise FacecamError(f"{source}: {name} must be true or false, got {value!r}")
        elif want is float:
            try:
                if isinstance(value, bool):
                    raise ValueError
                out[f.name] = float(value)
            except (TypeError, ValueError):
                raise FacecamError(f"{source}: {name} must be a number, got {value!r}") from None
        elif want is int:
            try:
                if isinstance(value, bool):
                    raise ValueError
                number = float(value)
                if not number.is_integer():
                    raise ValueError
                out[f.name] = int(number)
            except (TypeError, ValueError, OverflowError):
                raise FacecamError(f"{source}: {name} must be a whole number, got {value!r}") from None
    return out


def shipped_configs() -> list[str]:
    """Names of the training configs shipped with facecam (``tiny``, ``paper``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if not p.stem.startswith("accelerate_"))


def config_path(name_or_path: str) -> Path:
    """A YAML path, or the shipped config of that name (``tiny`` -> ``configs/tiny.yaml``)."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FacecamError(f"config file not found: {path}")
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if name_or_path.startswith("accelerate_") and shipped.is_file():
        name = name_or_path[len("accelerate_"):]
        raise FacecamError(f"{name_or_path!r} configures accelerate, not training: use it as "
                           f"`accelerate launch --config_file \"$(facecam train --accelerate-config {name})\" "
                           f"-m facecam train --config CONFIG ...`")
    if shipped.is_file():
        return shipped
    raise FacecamError(f"unknown config {name_or_path!r}: give a YAML file or one of: {', '.join(shipped_configs())}")


def load_config(name_or_path: str, **overrides: Any) -> TrainConfig:
    """Read a config (file or shipped name) and apply the non-None overrides."""
    import yaml

    path = config_path(name_or_path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise FacecamError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise FacecamError(f"{path}: expected a mapping of options at the top level")
    config = TrainConfig.from_dict(values, source=str(path))
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
