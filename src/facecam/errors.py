"""User-facing error types.

Every mistake a user can make (a missing file, a video without a face, an
unwritable folder) raises a subclass of :class:`FacecamError` whose message is one
readable line. The CLI prints that line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class FacecamError(Exception):
    """An error caused by the input or the environment, explained in one line."""


class VideoError(FacecamError):
    """A file could not be read or written as a video or image."""


class NoFaceError(FacecamError):
    """No face was found where one is required."""


class TrajectoryError(FacecamError):
    """A camera preset or trajectory file is invalid."""


class WeightsError(FacecamError):
    """Model weights are missing or do not fit the model."""
