"""facecam: re-angle portrait videos with a face-mesh camera condition.

The package follows the data flow of the FaceCam paper: a source video is cropped
around the face, its landmarks are tracked, a camera trajectory is turned into a
face-mesh "camera condition" video, and an engine (the FaceCam diffusion model or
the weight-free warp engine) renders the performance under the new camera.
"""

__version__ = "0.1.0"

from .errors import FacecamError  # noqa: F401
