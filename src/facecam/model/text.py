"""Prompt embeddings: the one place UMT5 encodes a prompt, and the on-disk cache of the results.

FaceCam's prompt is fixed ("A portrait of a person", negative ""), so after the first run the
embeddings come from the cache and the 11 GB text encoder is never built again. The encoding
follows the release: 512 tokens, the encoder's last hidden state, exactly zero past the prompt.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Optional

import torch

from .._atomic import atomic_path

log = logging.getLogger(__name__)

TEXT_LENGTH = 512
PROMPT_CACHE_DIRNAME = "prompt_embeds"


@torch.no_grad()
def encode_text(tokenizer, encoder, prompt: str, device: Optional[torch.device] = None,
                max_length: int = TEXT_LENGTH) -> torch.Tensor:
    """``(1, max_length, text_dim)`` float32 UMT5 states of ``prompt`` on the CPU, zero past its tokens."""
    device = device if device is not None else next(encoder.parameters()).device
    inputs = tokenizer([prompt], padding="max_length", max_length=max_length, truncation=True,
                       add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
    encoder.to(device)
    states = encoder(ids, attention_mask=mask).last_hidden_state
    # As the release: positions past the prompt are exactly zero, not the encoder's padding output.
    return (states * mask[..., None].to(states.dtype)).float().cpu()


class PromptCache:
    """Prompt embeddings ``(1, 512, text_dim)`` on disk, one safetensors file per prompt text."""

    def __init__(self, folder: Optional[Path]):
        self.folder = Path(folder) if folder is not None else None
        self.memory: dict[str, torch.Tensor] = {}

    def _file(self, text: str) -> Optional[Path]:
        if self.folder is None:
            return None
        return self.folder / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.safetensors"

    def get(self, text: str) -> Optional[torch.Tensor]:
        if text in self.memory:
            return self.memory[text]
        f = self._file(text)
        if f is not None and f.is_file():
            from safetensors.torch import load_file

            self.memory[text] = load_file(str(f))["embeds"]
            return self.memory[text]
        return None

    def put(self, text: str, embeds: torch.Tensor) -> None:
        self.memory[text] = embeds.detach().cpu()
        f = self._file(text)
        if f is None:
            return
        from safetensors.torch import save_file

        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(f) as tmp:
                save_file({"embeds": self.memory[text].contiguous()}, str(tmp), metadata={"prompt": text})
        except OSError as exc:  # a read-only weights folder only costs a re-encode next time
            log.warning("could not cache the prompt embedding in %s: %s", f.parent, exc)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.safetensors")) if self.folder and self.folder.is_dir() else []
