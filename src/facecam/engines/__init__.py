"""Engines that render the re-angled video: ``facecam`` (diffusion) and ``warp`` (geometric)."""

from .base import ENGINES, Engine, engine_class, get_engine  # noqa: F401
