"""Camera trajectories: presets, JSON keyframes, interpolation, the authors' random sampler."""

from .trajectory import (  # noqa: F401
    FIELDS,
    PRESET_HELP,
    PRESETS,
    CameraTrajectory,
    from_keys,
    load_trajectory,
    preset,
    random_trajectory,
    resolve_camera,
)
