"""Where the parts of a FaceCam model lie in a weights folder (:func:`find_weights`), without torch.

Kept apart from :mod:`facecam.model.weights` (which imports torch and diffusers to load them) so that a
command told a wrong or missing ``--weights`` says so at once: importing the loaders first took 7-10 s
before that one-line error on the development machine (timed by hand).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import WeightsError

BASE_REPO = "Wan-AI/Wan2.2-I2V-A14B"
BASE_DIFFUSERS_REPO = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
FINETUNE_REPO = "wlyu/FaceCam"
BASE_DIRNAME = "Wan2.2-I2V-A14B"
BASE_DIFFUSERS_DIRNAME = "Wan2.2-I2V-A14B-Diffusers"
FINETUNE_DIRNAME = "FaceCam"
VAE_FILE = "Wan2.1_VAE.pth"
T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"
TOKENIZER_DIR = "google/umt5-xxl"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pth", ".pt")
DOWNLOAD_HINT = "run `facecam download --to {root}` (Wan2.2-I2V-A14B base + FaceCam fine-tunes from Hugging Face)"


@dataclass
class WeightsLayout:
    """Where each part of a FaceCam model lives inside a weights folder."""

    root: Path
    kind: str  # "original" | "diffusers" | "facecam" (our save_pretrained)
    base: Path
    high_finetune: Optional[Path] = None
    low_finetune: Optional[Path] = None

    @property
    def cache_dir(self) -> Path:
        """Where derived data (the cached prompt embeddings) is kept, next to the weights."""
        return self.base if self.kind == "facecam" else self.root / "facecam_cache"


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------
def _is_original_base(p: Path) -> bool:
    return (p / "high_noise_model").is_dir() and (p / "low_noise_model").is_dir()


def _is_diffusers_base(p: Path) -> bool:
    return (p / "transformer").is_dir() and (p / "transformer_2").is_dir() and (p / "vae").is_dir()


def _is_facecam_folder(p: Path) -> bool:
    index = p / "model_index.json"
    if not index.is_file():
        return False
    try:
        return json.loads(index.read_text()).get("_class_name") == "FaceCamPipeline"
    except (OSError, ValueError):
        return False


def _finetune_dir(p: Path) -> Optional[Path]:
    """``p`` or ``p/released_version`` when it holds weight files."""
    for cand in (p / "released_version", p):
        if cand.is_dir() and any(f.suffix in WEIGHT_SUFFIXES for f in cand.iterdir() if f.is_file()):
            return cand
    return None


def find_weights(root: str | Path | None, require_finetunes: bool = True) -> WeightsLayout:
    """Locate base and fine-tune weights under ``root`` or raise a one-line :class:`WeightsError`.

    ``require_finetunes=False`` (training starts from the Wan base) accepts a base without the
    FaceCam fine-tunes; the layout then has none.
    """
    if root is None:
        raise WeightsError("the facecam engine needs --weights DIR; " + DOWNLOAD_HINT.format(root="DIR"))
    root = Path(root).expanduser()
    hint = DOWNLOAD_HINT.format(root=root)
    if root.exists() and not root.is_dir():
        raise WeightsError(f"--weights {root} is a file; give the weights folder (the one holding "
                           f"{BASE_DIRNAME} and FaceCam); {hint}")
    if not root.is_dir():
        raise WeightsError(f"weights folder not found: {root}; {hint}")
    if _is_facecam_folder(root):
        return WeightsLayout(root, "facecam", root)

    base_candidates = [root, root / BASE_DIRNAME, root / BASE_DIFFUSERS_DIRNAME,
                       root / "models" / "Wan-AI" / BASE_DIRNAME, root / "Wan-AI" / BASE_DIRNAME]
    base, kind = None, ""
    for cand in base_candidates:
        if _is_original_base(cand):
            base, kind = cand, "original"
            break
        if _is_diffusers_base(cand):
            base, kind = cand, "diffusers"
            break
    if base is None:
        raise WeightsError(f"no Wan2.2-I2V-A14B base model in {root} (expected {BASE_DIRNAME}/high_noise_model/ "
                           f"or {BASE_DIFFUSERS_DIRNAME}/transformer/); {hint}")

    ft_roots = [root / FINETUNE_DIRNAME / "wan2.2_14b", root / "wan2.2_14b", root / "ckpts" / "wan2.2_14b"]
    for cand in ft_roots:
        high, low = _finetune_dir(cand / "high"), _finetune_dir(cand / "low")
        if high and low:
            return WeightsLayout(root, kind, base, high, low)
    if not require_finetunes:
        return WeightsLayout(root, kind, base)
    raise WeightsError(f"FaceCam fine-tunes not found in {root} (expected {FINETUNE_DIRNAME}/wan2.2_14b/high/"
                       f"released_version/ and .../low/released_version/); {hint}")


def expert_width(layout: WeightsLayout) -> Optional[int]:
    """The high-noise expert's hidden width (5120 for A14B) read from its config, None when unreadable."""
    if layout.kind == "original":
        path, keys = layout.base / "high_noise_model" / "config.json", ("dim",)
    else:
        path, keys = layout.base / "transformer" / "config.json", ("num_attention_heads", "attention_head_dim")
    try:
        config = json.loads(path.read_text())
        width = 1
        for key in keys:
            width *= int(config[key])
        return width
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_full_size(layout: WeightsLayout) -> bool:
    """True for the real 14B experts (anything wider than a test model; unreadable configs count as full)."""
    width = expert_width(layout)
    return width is None or width >= 1024
