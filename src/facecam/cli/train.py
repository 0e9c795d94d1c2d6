"""`facecam train`: fine-tune one FaceCam expert (single process, or under `accelerate launch`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ._options import ProseAndExamplesFormatter

ORDER = 70


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="fine-tune a FaceCam expert (high or low noise) with accelerate",
        description="Fine-tune the self-attention and patch embedding of one Wan2.2-I2V-A14B expert into FaceCam "
                    "(or LoRA adapters on them). Options come from a YAML config (a file, or a shipped name: "
                    "tiny, paper, single_gpu_lora); the flags below override it. Runs as one process, or on many "
                    "GPUs and nodes under `accelerate launch --config_file ACCELERATE.yaml -m facecam train ...`. "
                    "The output folder gets metrics.csv (step,loss,lr), logs/ (TensorBoard), checkpoints/ "
                    "(atomic, resumed automatically), validation/ videos and export/ (authors' format under "
                    "export/wan2.2_14b/<expert>/released_version, diffusers layout under export/diffusers/).",
        epilog="examples:\n"
               "  facecam train --config tiny --output runs/tiny            # tiny random model, CPU, seconds\n"
               "  facecam train --config single_gpu_lora --weights ~/facecam-weights --data shards/ --expert high\n"
               "  accelerate launch --config_file \"$(facecam train --accelerate-config multinode_24gpu)\" \\\n"
               "      --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR \\\n"
               "      -m facecam train --config paper --expert high --weights W --data shards/ --output runs/high",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("--config", metavar="CONFIG", help="YAML file or shipped config name (tiny, paper, single_gpu_lora)")
    p.add_argument("--data", metavar="SHARDS", help="training shards (folder, file or glob), or 'synthetic'")
    p.add_argument("--weights", metavar="DIR", help="weights folder with the Wan2.2-I2V-A14B base (`facecam download`)")
    p.add_argument("--expert", choices=("high", "low"), help="which expert this run trains (t >= 900 or t < 900)")
    p.add_argument("--max-steps", type=int, metavar="N", help="optimisation steps in total (a resumed run continues to N)")
    p.add_argument("--output", metavar="DIR", help="run folder (metrics, checkpoints, exports)")
    p.add_argument("--resume", metavar="auto|none|CKPT", help="resume from the latest checkpoint (auto, default), "
                                                              "start over (none: in a folder without checkpoints), or from a checkpoint folder")
    p.add_argument("--lora", action="store_true", default=None, help="train LoRA adapters instead of the full layers")
    p.add_argument("--accelerate-config", metavar="NAME",
                   help="print the path of a shipped accelerate config (single_gpu, fsdp, "
                        "multinode_24gpu) and exit")
    p.add_argument("--list-configs", action="store_true", help="list the shipped training configs and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import FacecamError

    if args.max_steps is not None and args.max_steps < 1:  # (said as the config's max_steps, seconds later)
        raise FacecamError(f"--max-steps must be at least 1, got {args.max_steps}")
    from ..train.config import CONFIG_DIR, load_config, shipped_configs

    if args.list_configs:
        for name in shipped_configs():
            print(name)
        return 0
    if args.accelerate_config:
        path = CONFIG_DIR / f"accelerate_{args.accelerate_config}.yaml"
        if not path.is_file():
            names = sorted(p.stem[len("accelerate_"):] for p in CONFIG_DIR.glob("accelerate_*.yaml"))
            raise FacecamError(f"no accelerate config {args.accelerate_config!r}; choose one of: {', '.join(names)}")
        print(path)
        return 0
    if not args.config:
        raise FacecamError("--config is required (a YAML file, or a shipped name: " + ", ".join(shipped_configs()) + ")")
    config = load_config(args.config, data=args.data, weights=args.weights, expert=args.expert,
                         max_steps=args.max_steps, output=args.output, resume=args.resume)
    if args.lora:
        config = dataclasses.replace(config, lora=dataclasses.replace(config.lora, enabled=True))
    # Refuse a wrong output or data path now, before the run folder and its tiny weights are written.
    from ..video.outputs import check_output_dir

    check_output_dir(Path(config.output).expanduser())
    if config.data not in (None, "synthetic"):
        from ..data.dataset import find_shards

        find_shards(config.data)
    if config.weights not in (None, "tiny"):
        # The base's folder, before torch and the trainer load (a wrong --weights was said after 8 s).
        from ..model.layout import find_weights

        find_weights(Path(config.weights).expanduser(), require_finetunes=False)
    had = list(logging.getLogger().handlers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # a line already worded for the user ("facecam: warning: ...")
        if handler not in had:  # goes out as it is, without the time and the logger's name
            handler.setFormatter(_UserLines(handler.formatter))
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # four INFO lines per checkpoint, through the bar
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..train.trainer import train
    from ..video.outputs import output_dir

    # A folder that cannot be written is one line (it was a traceback from inside the trainer), and one this
    # run made is removed again if the run fails before writing anything (a wrong --weights left it empty).
    with output_dir(Path(config.output).expanduser()), logging_redirect_tqdm():  # log lines above the bar
        result = train(config, progress=True)
    print(f"trained the {config.expert} expert to step {result.step}: {result.output}")
    for kind, path in result.exports.items():
        print(f"export ({kind}): {path}")
    return 0


class _UserLines(logging.Formatter):
    """Training's log format for its progress lines; messages that begin ``facecam:`` (warnings and notes,
    worded for the user as every verb words them) are shown alone."""

    def __init__(self, inner: "logging.Formatter | None") -> None:
        super().__init__()
        self.inner = inner or logging.Formatter("%(asctime)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if message.startswith("facecam: ") else self.inner.format(record)
