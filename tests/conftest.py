"""Shared fixtures: the real test clips beside the repository and an always-available portrait."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def media_path(name: str) -> Path:
    """Path of a shared clip; skips the test when the shared folder is absent (a fresh clone)."""
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"shared test media not available: {path}")
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real portrait photo, ``(512, 512, 3)`` uint8 RGB."""
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut) -> np.ndarray:
    from facecam.face.landmarks import detect_image_landmarks

    points = detect_image_landmarks(astronaut)
    assert points is not None
    return points


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models are latency-bound: on a shared 2-core machine extra torch threads only contend."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """One tiny FaceCam weights folder (the real layout, random tiny experts) for the whole session.

    Tests that only read it share it; a test that changes the folder makes its own with
    :func:`facecam.model.tiny.write_tiny_model`. The prompt cache the facecam engine writes beside
    the weights is deterministic, so sharing it does not couple tests.
    """
    from facecam.model.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "weights")


def tiny_pipeline(folder: Path):
    """A FaceCamPipeline from a tiny weights folder, fp32, without progress bars."""
    import torch

    from facecam.pipeline import FaceCamPipeline

    pipe = FaceCamPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def videos() -> tuple[np.ndarray, np.ndarray]:
    """A random 9-frame 64x48 source and condition for the tiny pipeline (read only)."""
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8),
            rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8))


def one_error_line(capsys, phrase: str) -> str:
    """Assert the CLI's stderr is one ``facecam: error:`` line holding ``phrase`` and no traceback; return it."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecam: error:") and phrase in lines[0], err
    assert "Traceback" not in err
    return lines[0]


def grey_clip(path: Path) -> Path:
    """A 5-frame 32x32 mid-grey mp4 (no face) at ``path``."""
    from facecam.video.io import write_video

    return write_video(path, np.full((5, 32, 32, 3), 128, np.uint8), fps=24.0)
