"""Tiny random FaceCam models in the real on-disk layout, for tests and CPU smoke runs.

:func:`write_tiny_model` writes exactly what ``facecam download`` would, with every
network shrunk to a few thousand parameters: an original-layout
``Wan2.2-I2V-A14B/`` (Wan-native DiT shards + config.json, ``Wan2.1_VAE.pth`` with
native VAE names, ``models_t5_umt5-xxl-enc-bf16.pth`` with native T5 names, a word-level
tokenizer under ``google/umt5-xxl/``) and ``FaceCam/wan2.2_14b/{high,low}/released_version``
fine-tunes (partial, Wan-native; the high one split over two safetensors files, the low
one a torch file wrapped in ``{"state_dict": ...}``), so loading, conversion and
fine-tune merging all run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .keys import t5_keymap, vae_keymap
from .transformer import FaceCamTransformer
from .weights import BASE_DIRNAME, FINETUNE_DIRNAME, T5_FILE, TOKENIZER_DIR, VAE_FILE

# head_dim 12 keeps the rotary split (t 4, h 4, w 4) valid.
TINY_WAN_CONFIG = dict(dim=24, ffn_dim=32, num_heads=2, num_layers=2, in_dim=36, out_dim=16,
                       text_dim=16, freq_dim=16, eps=1e-6, patch_size=(1, 2, 2))
TINY_VAE_CONFIG = dict(base_dim=8, z_dim=16)
TINY_T5 = dict(d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, relative_attention_num_buckets=32)
TINY_WORDS = ["a", "portrait", "of", "person", "the", "face", "video", "camera", "man", "woman"]


def tiny_transformer(seed: int = 0) -> FaceCamTransformer:
    torch.manual_seed(seed)
    return FaceCamTransformer.from_wan_config(**TINY_WAN_CONFIG).eval()


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(**TINY_VAE_CONFIG).eval()


def tiny_text_encoder(seed: int = 0, vocab_size: int = 64):
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    config = UMT5Config(vocab_size=vocab_size, feed_forward_proj="gated-gelu", dropout_rate=0.0,
                        is_encoder_decoder=False, use_cache=False, **TINY_T5)
    return UMT5EncoderModel(config).eval()


def write_tiny_tokenizer(folder: Path) -> None:
    """A word-level fast tokenizer with UMT5's special tokens (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in TINY_WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # UMT5 appends </s> to every sequence; keep that so the real code path is exercised.
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "</s>",
        "unk_token": "<unk>", "model_max_length": 512,
    }, indent=2))


def _finetune_subset(model: FaceCamTransformer, seed: int) -> dict[str, torch.Tensor]:
    """A FaceCam-style partial fine-tune: self-attention + patch embedding, perturbed (Wan-native names)."""
    g = torch.Generator().manual_seed(seed)
    names = model.trainable_parameter_names()
    state = model.state_dict()
    tuned = {n: state[n] + 0.05 * torch.randn(state[n].shape, generator=g) for n in names}
    return model.keymap().convert_to_native(tuned)


def write_tiny_model(root: str | Path, seed: int = 0) -> Path:
    """Write a complete tiny model folder at ``root`` (original-layout base + fine-tunes); return ``root``."""
    from safetensors.torch import save_file

    root = Path(root)
    base = root / BASE_DIRNAME
    for i, expert in enumerate(("high_noise_model", "low_noise_model")):
        model = tiny_transformer(seed + i)
        folder = base / expert
        folder.mkdir(parents=True, exist_ok=True)
        wan_cfg = {"_class_name": "WanModel", "model_type": "i2v", **TINY_WAN_CONFIG,
                   "patch_size": list(TINY_WAN_CONFIG["patch_size"])}
        (folder / "config.json").write_text(json.dumps(wan_cfg, indent=2))
        native = {k: v.contiguous() for k, v in model.to_wan_state_dict().items()}
        # Two shards, like the real (sharded) experts.
        keys = sorted(native)
        half = len(keys) // 2
        for index, part in enumerate((keys[:half], keys[half:]), start=1):
            shard = folder / f"diffusion_pytorch_model-{index:05d}-of-00002.safetensors"
            save_file({k: native[k] for k in part}, str(shard))

        ft_dir = root / FINETUNE_DIRNAME / "wan2.2_14b" / ("high" if i == 0 else "low") / "released_version"
        ft_dir.mkdir(parents=True, exist_ok=True)
        tuned = _finetune_subset(model, seed + 100 + i)
        if i == 0:
            keys = sorted(tuned)
            save_file({k: tuned[k].contiguous() for k in keys[: len(keys) // 2]}, str(ft_dir / "part1.safetensors"))
            save_file({k: tuned[k].contiguous() for k in keys[len(keys) // 2:]}, str(ft_dir / "part2.safetensors"))
        else:
            torch.save({"state_dict": tuned}, ft_dir / "model.pth")

    vae = tiny_vae(seed)
    torch.save(vae_keymap(vae).convert_to_native(vae.state_dict()), base / VAE_FILE)
    t5 = tiny_text_encoder(seed)
    t5_native = t5_keymap(t5).convert_to_native(t5.state_dict())
    torch.save({k: v.to(torch.bfloat16) for k, v in t5_native.items()}, base / T5_FILE)
    write_tiny_tokenizer(base / TOKENIZER_DIR)
    write_tiny_proxy(root / FINETUNE_DIRNAME / "gaussians.ply")
    return root


def write_tiny_proxy(path: Path, spacing_px: float = 6.0) -> Path:
    """A small 3D Gaussian head (about 3,600 Gaussians, 240 KB) where the authors keep ``gaussians.ply``,
    lifted from scikit-image's astronaut portrait, so ``--profile release`` runs on the tiny model."""
    import skimage.data

    from ..errors import NoFaceError
    from ..face.gaussians import gaussians_from_portrait, save_gaussian_ply
    from ..face.landmarks import detect_image_landmarks

    image = skimage.data.astronaut()
    landmarks = detect_image_landmarks(image)
    if landmarks is None:  # pragma: no cover - the astronaut's face is always found
        raise NoFaceError("no face found in the astronaut portrait")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_gaussian_ply(gaussians_from_portrait(image, landmarks, spacing_px=spacing_px), path)
    return path
