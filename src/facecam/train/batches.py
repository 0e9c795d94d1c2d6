"""Training samples in, latent batches out, with a resumable position.

The trainer accepts any iterable of sample dicts (the data issue's shard reader, a list, a
generator) holding either pixel videos::

    {"source": (T, 3, H, W), "target": (T, 3, H, W), "condition": (T, 3, H, W)}   # float in [-1, 1]

or precomputed normalised VAE latents::

    {"source_latents": (16, F, h, w), "target_latents": ..., "condition_latents": ...}

(extra keys such as ``meta`` are ignored; the shard reader of :mod:`facecam.data.dataset` puts
latents under the plain names and says so in ``meta["latents"]``). :class:`SampleStream` turns it into batches and
remembers how far it got (epoch and samples consumed), so a resumed run sees exactly the
samples the uninterrupted run would have seen. A dataset with ``state_dict()`` /
``load_state_dict()`` restores itself; any other *deterministic* iterable is fast-forwarded.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import torch

from ..errors import FacecamError

VIDEO_KEYS = ("source", "target", "condition")
LATENT_KEYS = tuple(f"{k}_latents" for k in VIDEO_KEYS)


class SyntheticVideos(torch.utils.data.IterableDataset):
    """Smooth random (source, target, condition) videos, deterministic per index, sharded by rank.

    Each video is a low-resolution random field upsampled to ``height x width`` and drifting
    over time, so the VAE sees image-like content rather than white noise.
    """

    def __init__(self, samples: int, frames: int, height: int, width: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, as_latents: bool = False) -> None:
        self.samples, self.frames, self.height, self.width = samples, frames, height, width
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.as_latents = as_latents

    def _video(self, g: torch.Generator) -> torch.Tensor:
        coarse = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
        weights = torch.linspace(0, 1, self.frames).view(-1, 1, 1, 1)
        frames = (1 - weights) * coarse[0] + weights * coarse[1]          # (T, 3, 4, 4)
        return torch.nn.functional.interpolate(frames, size=(self.height, self.width), mode="bilinear",
                                               align_corners=False).clamp(-1, 1)

    def _latents(self, g: torch.Generator) -> torch.Tensor:
        f, h, w = (self.frames - 1) // 4 + 1, self.height // 8, self.width // 8
        coarse = torch.randn(16, 2, max(h // 2, 1), max(w // 2, 1), generator=g)
        return torch.nn.functional.interpolate(coarse.unsqueeze(0), size=(f, h, w), mode="trilinear",
                                               align_corners=False)[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(self.seed * 100003 + index)
        if self.as_latents:
            return {key: self._latents(g) for key in LATENT_KEYS} | {"meta": {"index": index}}
        return {key: self._video(g) for key in VIDEO_KEYS} | {"meta": {"index": index}}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index in range(self.rank, self.samples, self.world_size):
            yield self[index]


def _is_latent_sample(sample: dict[str, Any]) -> bool:
    meta = sample.get("meta") or {}
    if isinstance(meta, dict) and "latents" in meta:  # the shard reader says which it yields
        return bool(meta["latents"])
    return torch.as_tensor(sample["target"]).shape[0] == 16  # (16, F, h, w); videos are (T, 3, H, W), T = 4k+1


def collate(samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack a list of samples into a batch: videos ``(B, 3, T, H, W)`` or latents (``*_latents``, ``(B, 16, F, h, w)``)."""
    first = samples[0]
    if all(k in first for k in LATENT_KEYS):
        return {k: torch.stack([torch.as_tensor(s[k]) for s in samples]) for k in LATENT_KEYS}
    if all(k in first for k in VIDEO_KEYS):
        if _is_latent_sample(first):
            return {f"{k}_latents": torch.stack([torch.as_tensor(s[k]) for s in samples]) for k in VIDEO_KEYS}
        # Samples are (T, 3, H, W) like the video readers; the VAE wants (B, 3, T, H, W).
        return {k: torch.stack([torch.as_tensor(s[k]).permute(1, 0, 2, 3) for s in samples]) for k in VIDEO_KEYS}
    raise FacecamError(f"training sample has keys {sorted(first)}; expected {', '.join(VIDEO_KEYS)} "
                       f"(videos or latents) or {', '.join(LATENT_KEYS)}")


class SampleStream:
    """Endless batches from an iterable dataset, with a position that survives a restart."""

    def __init__(self, dataset: Iterable[dict[str, Any]], batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.epoch = 0
        self.consumed = 0  # samples taken from the current epoch
        self._iterator: Optional[Iterator[dict[str, Any]]] = None

    def _start_epoch(self) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)
        self._iterator = iter(self.dataset)

    def _next_sample(self) -> dict[str, Any]:
        if self._iterator is None:
            self._start_epoch()
        try:
            sample = next(self._iterator)
        except StopIteration:
            if self.consumed == 0:  # a whole epoch without a sample would loop forever
                raise FacecamError("the training data yielded no samples "
                                   "(empty shards, or fewer samples than processes?)") from None
            self.epoch, self.consumed = self.epoch + 1, 0
            self._start_epoch()
            return self._next_sample()
        self.consumed += 1
        return sample

    def next_batch(self) -> dict[str, torch.Tensor]:
        return collate([self._next_sample() for _ in range(self.batch_size)])

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": self.epoch, "consumed": self.consumed}
        if hasattr(self.dataset, "state_dict"):
            state["dataset"] = self.dataset.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.consumed = int(state["epoch"]), int(state["consumed"])
        if "dataset" in state and hasattr(self.dataset, "load_state_dict"):
            # The dataset repositions itself; its iterator continues from there.
            self.dataset.load_state_dict(state["dataset"])
            self._iterator = iter(self.dataset)
            return
        self._start_epoch()
        for _ in range(self.consumed):  # deterministic iterables: replay the epoch up to the position
            try:
                next(self._iterator)
            except StopIteration:
                raise FacecamError("cannot resume: the training data has fewer samples than the checkpoint consumed "
                                   "(did the data change?)") from None
