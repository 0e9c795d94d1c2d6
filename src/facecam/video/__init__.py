"""Video reading, writing, resampling and face-centred cropping."""

from .io import (  # noqa: F401
    DEFAULT_FPS,
    DEFAULT_FRAMES,
    VideoClip,
    check_frame_count,
    read_image,
    read_video,
    write_video,
)
from .crop import CropBox, apply_crop, parse_size, reference_crop  # noqa: F401
