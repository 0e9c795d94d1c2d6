"""facecam.smoothing.savgol: scipy's Savitzky-Golay filter (mode "interp") without importing scipy.signal."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.signal import savgol_filter

from facecam.smoothing import savgol


@pytest.mark.parametrize("n, window, order", [(5, 5, 2), (6, 5, 2), (9, 7, 3), (81, 9, 2), (81, 31, 2),
                                              (500, 15, 1), (33, 33, 2)])
def test_savgol_matches_scipy_on_noise_along_either_axis(n, window, order):
    rng = np.random.default_rng(n + window)
    x = rng.normal(size=(n, 12, 2)) * 100.0
    for axis in (0, 1):
        if x.shape[axis] < window:
            continue
        want = savgol_filter(x, window, order, axis=axis, mode="interp")
        got = savgol(x, window, order, axis=axis)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # the middle of a long signal is smoothed, not copied: the noise's spread drops
    if n >= 3 * window:
        assert np.std(savgol(x, window, order)[window:-window]) < 0.9 * np.std(x[window:-window])


def test_a_polynomial_of_the_filter_s_order_passes_unchanged_ends_included():
    t = np.arange(40, dtype=np.float64)
    path = np.stack([3.0 + 0.5 * t - 0.02 * t ** 2, -1.0 + 0.1 * t], axis=1)
    np.testing.assert_allclose(savgol(path, 11, 2), path, atol=1e-9)


def test_bad_windows_are_refused():
    x = np.zeros((10, 3))
    for window in (4, 2, 11):  # even, not above the order, longer than the signal
        with pytest.raises(ValueError, match="window"):
            savgol(x, window, 2)


def test_the_warp_engine_and_framing_no_longer_import_scipy_signal():
    code = ("import sys, facecam.engines.warp, facecam.condition.framing, facecam.condition.builder; "
            "print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
