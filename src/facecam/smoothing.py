"""Savitzky-Golay smoothing over time, without importing ``scipy.signal``.

Importing ``scipy.signal`` (it pulls in ``scipy.stats``) added 0.55-1.0 s to the warp engine's imports on
the development machine (timed by hand, ``python -c "import ..."`` twice with and without it), which
every ``facecam generate`` paid for one filter; this is the same filter in a few lines
(``tests/test_smoothing.py`` checks it against ``scipy.signal.savgol_filter``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def _projection(window: int, polyorder: int) -> np.ndarray:
    """``(window, window)``: row ``i`` gives the value at sample ``i`` of the least-squares polynomial of
    degree ``polyorder`` through ``window`` consecutive samples."""
    u = np.arange(window, dtype=np.float64) - (window - 1) / 2.0  # centred: a well-conditioned fit
    vander = u[:, None] ** np.arange(polyorder + 1)
    return vander @ np.linalg.pinv(vander)


def savgol(x: np.ndarray, window: int, polyorder: int = 2, axis: int = 0) -> np.ndarray:
    """``scipy.signal.savgol_filter(x, window, polyorder, axis=axis, mode="interp")``: each sample takes
    the value at its position of the polynomial fitted over the ``window`` samples centred on it; the
    first and last ``window // 2`` take the polynomial fitted over the first (last) ``window`` samples.
    ``window`` must be odd, larger than ``polyorder`` and at most the length along ``axis``."""
    from scipy.ndimage import correlate1d

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    if window % 2 == 0 or window <= polyorder or window > n:
        raise ValueError(f"savgol: window {window} must be odd, above the order {polyorder} and at most "
                         f"the {n} samples")
    project = _projection(window, polyorder)
    half = window // 2
    moved = np.moveaxis(x, axis, 0)
    out = correlate1d(moved, project[half], axis=0, mode="nearest")  # the ends are replaced below
    flat = moved.reshape(n, -1)
    result = out.reshape(n, -1)
    result[:half] = project[:half] @ flat[:window]
    result[n - half:] = project[window - half:] @ flat[n - window:]
    return np.moveaxis(out, 0, axis)
