"""Full-reference image metrics for the static protocol: PSNR, SSIM, LPIPS.

All functions take uint8 RGB images ``(H, W, 3)`` (or clips ``(T, H, W, 3)``)
with values in [0, 255]. Video scores are the mean of per-frame scores, as
novel-view-synthesis papers report them.

* PSNR: ``10 log10(255^2 / MSE)`` over all pixels and channels
  (``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=255``).
  Identical frames would give infinity; a frame's value is capped at
  :data:`PSNR_CAP` so that a video mean stays a finite, JSON-safe number.
* SSIM: Wang et al. (2004) as ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255)``: an 11x11 Gaussian window (sigma 1.5, truncated at 3.5
  sigma), K1 = 0.01, K2 = 0.03, population statistics, computed per channel
  and averaged (``channel_axis=-1``), over the pixels whose window lies inside
  the image (the border of 5 pixels is left out).
* LPIPS (Zhang et al. 2018, v0.1, AlexNet): needs two weight files we cannot
  ship: torchvision's ImageNet AlexNet (``alexnet-owt-7be5be79.pth``) and the
  LPIPS linear heads (``alex.pth`` from the ``lpips`` package). They are found
  at explicit paths, in the torch hub cache and in an installed ``lpips``
  package; when either is missing :func:`load_lpips` raises
  :class:`LpipsUnavailable` with a message saying where to put them, and the
  protocols report the other metrics.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FacecamError, WeightsError

PSNR_CAP = 100.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scikit-image's fixed Gaussian truncation: radius int(3.5 * 1.5 + 0.5) = 5 -> 11x11 (Wang et al.)
SSIM_K1 = 0.01
SSIM_K2 = 0.03
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


class LpipsUnavailable(FacecamError):
    """LPIPS weights are not on this machine."""


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise FacecamError(f"images differ in size: {a.shape} vs {b.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of one image pair ``(H, W, C)`` (or any equal shapes), capped at :data:`PSNR_CAP`."""
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

    x, y = _pair(a, b)
    if mean_squared_error(x, y) <= data_range ** 2 * 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return float(peak_signal_noise_ratio(x, y, data_range=data_range))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of one image pair, ``(H, W)`` or ``(H, W, C)``; images must be at least 11x11."""
    from skimage.metrics import structural_similarity

    x, y = _pair(a, b)
    side = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1
    if min(x.shape[:2]) < side:
        raise FacecamError(f"SSIM needs images of at least {side}x{side} pixels, got {x.shape[:2]}")
    return float(structural_similarity(x, y, data_range=data_range, channel_axis=-1 if x.ndim == 3 else None,
                                       gaussian_weights=True, sigma=SSIM_SIGMA,
                                       use_sample_covariance=False, K1=SSIM_K1, K2=SSIM_K2))


def _frames_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.shape[1:] != b.shape[1:]:
        raise FacecamError(f"videos differ in frame size: {a.shape[1:3]} vs {b.shape[1:3]}")
    n = min(len(a), len(b))
    if n == 0:
        raise FacecamError("no frames to compare")
    return a[:n], b[:n]


BAR_FRAMES = 50  # a per-frame score over at least this many frames shows a progress bar (seconds: HD SSIM)


def video_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame PSNR of two clips ``(T, H, W, 3)``; the shorter length is used."""
    a, b = _frames_pair(a, b)
    return float(np.mean([psnr(x, y) for x, y in zip(a, b)]))


def video_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame SSIM of two clips ``(T, H, W, 3)``; the shorter length is used."""
    from tqdm.auto import tqdm

    a, b = _frames_pair(a, b)
    pairs = tqdm(zip(a, b), total=len(a), desc="ssim", unit="frame", leave=False, disable=len(a) < BAR_FRAMES)
    return float(np.mean([ssim(x, y) for x, y in pairs]))


# --------------------------------------------------------------------------- LPIPS

def _hub_checkpoint_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def find_lpips_weights(backbone: Optional[str | os.PathLike] = None,
                       linear: Optional[str | os.PathLike] = None) -> tuple[Optional[Path], Optional[Path]]:
    """Locate the AlexNet backbone and LPIPS linear-head files, ``None`` for each one not found.

    The backbone is looked up at ``backbone``, then in the torch hub cache; the
    linear heads at ``linear``, then inside an installed ``lpips`` package (found
    without importing it, because importing it needs torchvision).
    """
    bb = Path(backbone) if backbone else _hub_checkpoint_dir() / ALEXNET_FILE
    lin: Optional[Path] = Path(linear) if linear else None
    if lin is None:
        spec = importlib.util.find_spec("lpips")
        if spec is not None and spec.origin:
            lin = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"
    return (bb if bb.is_file() else None), (lin if lin is not None and lin.is_file() else None)


class LPIPS:
    """LPIPS v0.1 with the AlexNet backbone, on CPU or any torch device.

    Call with two uint8 images ``(H, W, 3)`` or clips ``(T, H, W, 3)``; returns the
    mean distance (0 = identical; larger = more different).
    """

    # Where the five LPIPS taps sit in torchvision's ``alexnet().features``: after
    # each ReLU (indices 1, 4, 7, 9, 11).
    _TAPS = (1, 4, 7, 9, 11)
    _SHIFT = (-0.030, -0.088, -0.188)
    _SCALE = (0.458, 0.448, 0.450)

    def __init__(self, backbone_path: str | os.PathLike, linear_path: str | os.PathLike,
                 device: str = "cpu") -> None:
        import torch
        from torch import nn

        self.torch = torch
        self.device = torch.device(device)
        # torchvision's AlexNet feature stack, rebuilt here so that torchvision is not needed.
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=False), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=False),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=False),
        )
        # A weight file that is there but is not these weights is an error to report (WeightsError), not
        # a reason to leave LPIPS out quietly (it came back as `lpips: None` with a note cut mid-sentence).
        state = _state_dict(backbone_path, "the AlexNet backbone")
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        expected = self.features.state_dict()
        if set(feats) != set(expected) or any(tuple(feats[k].shape) != tuple(v.shape) for k, v in expected.items()):
            raise WeightsError(f"{backbone_path} is not torchvision's AlexNet: its features.* tensors do not "
                               f"match ({len(set(expected) & set(feats))} of the {len(expected)} expected names)")
        self.features.load_state_dict(feats, strict=True)
        lin = _state_dict(linear_path, "the LPIPS linear heads")
        try:
            self.lins = [lin[f"lin{i}.model.1.weight"].float() for i in range(5)]
        except (KeyError, AttributeError):
            raise WeightsError(f"{linear_path} has no LPIPS linear heads (lin0..lin4.model.1.weight)") from None
        self.features.eval().to(self.device)
        self.lins = [w.to(self.device) for w in self.lins]
        self.shift = torch.tensor(self._SHIFT, device=self.device).view(1, 3, 1, 1)
        self.scale = torch.tensor(self._SCALE, device=self.device).view(1, 3, 1, 1)

    def _taps(self, x):
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._TAPS:
                out.append(x)
        return out

    def _prep(self, frames: np.ndarray):
        t = self.torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).float()
        t = t.permute(0, 3, 1, 2) / 127.5 - 1.0  # LPIPS expects [-1, 1]
        return (t - self.shift) / self.scale

    def __call__(self, a: np.ndarray, b: np.ndarray, batch: int = 8) -> float:
        a, b = _frames_pair(a, b)
        total = []
        with self.torch.no_grad():
            for s in range(0, len(a), batch):
                fa, fb = self._taps(self._prep(a[s:s + batch])), self._taps(self._prep(b[s:s + batch]))
                d = 0.0
                for xa, xb, w in zip(fa, fb, self.lins):
                    na = xa / (self.torch.sqrt((xa ** 2).sum(1, keepdim=True)) + 1e-10)
                    nb = xb / (self.torch.sqrt((xb ** 2).sum(1, keepdim=True)) + 1e-10)
                    d = d + ((na - nb) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
                total.append(d.cpu().numpy())
        return float(np.mean(np.concatenate(total)))


def _state_dict(path, what: str) -> dict:
    """The tensors of a PyTorch weight file, or one :class:`WeightsError` line saying it is not one."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpickling error, a truncated file, a video: any of them
        raise WeightsError(f"{path} is not a PyTorch weight file for {what} "
                           f"({type(exc).__name__}{': ' + str(exc).splitlines()[0] if str(exc) else ''}); "
                           f"give the right one with --lpips-backbone/--lpips-linear") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not the state dict of {what}")
    return state


def check_lpips_paths(backbone: Optional[str | os.PathLike] = None,
                      linear: Optional[str | os.PathLike] = None) -> None:
    """:class:`WeightsError` when a weight file the user named (``--lpips-backbone``, ``--lpips-linear``) is
    not there: a mistyped path is a mistake to report, not a reason to leave LPIPS out quietly."""
    for flag, what, path in (("--lpips-backbone", "AlexNet backbone", backbone),
                             ("--lpips-linear", "LPIPS linear heads", linear)):
        if path is not None and Path(path).is_dir():
            raise WeightsError(f"{what} ({flag}) is a folder: give the .pth file, got {path}")
        if path is not None and not Path(path).is_file():
            raise WeightsError(f"{what} ({flag}) not found: {path}")


def load_lpips(backbone: Optional[str | os.PathLike] = None, linear: Optional[str | os.PathLike] = None,
               device: str = "cpu") -> LPIPS:
    """An :class:`LPIPS` scorer, or :class:`LpipsUnavailable` saying which weight file is missing."""
    bb, lin = find_lpips_weights(backbone, linear)
    missing = []
    if bb is None:
        where = backbone or (_hub_checkpoint_dir() / ALEXNET_FILE)
        missing.append(f"AlexNet backbone ({where}; torchvision's ImageNet weights {ALEXNET_FILE})")
    if lin is None:
        where = linear or "the `lpips` package's weights/v0.1/alex.pth (pip install --no-deps lpips)"
        missing.append(f"LPIPS linear heads ({where})")
    if missing:
        raise LpipsUnavailable("LPIPS weights not found: " + "; ".join(missing)
                               + ". Pass --lpips-backbone/--lpips-linear; LPIPS is left out")
    return LPIPS(bb, lin, device=device)
