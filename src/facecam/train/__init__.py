"""Fine-tuning the FaceCam experts (issue 7): accelerate training loop, schedule, checkpoints, exports.

Entry points: :func:`facecam.train.trainer.train` (library) and ``facecam train`` (CLI). Heavy
imports (diffusers, accelerate, peft) happen inside the submodules, so importing this package
is cheap.
"""

from .config import TrainConfig, load_config  # noqa: F401
