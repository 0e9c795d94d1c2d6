"""Cuts to another shot inside a source clip.

facecam re-angles one continuous shot: the camera condition is drawn from one head's path, the warp
engine fills what it cannot see from neighbouring frames, and the model was trained on unbroken
clips. A clip that cuts to another shot (an edited video, a compilation) comes out with a jump at the
cut, and after it the head's mesh belongs to the last shot. So a run finds cuts and says where they
are, with the ``--start`` / ``--duration`` that keep one shot.

A cut is a frame pair whose 16x16 grey thumbnails differ by more than :data:`CUT_MIN` grey levels on
average and by :data:`CUT_RATIO` times more than each of the pairs beside it: a pan or a person
walking changes every pair alike, a flash changes two pairs in a row, a cut one. Measured by
``benchmarks/cuts.py``: on the six shared clips (all their frames) the largest difference of a pair
is 3.7 grey levels; at the cuts it builds (each two shared clips joined, two people swapping sides)
40.6-99.9, all found. A cut right after a pan of 16 px a frame (a 384 px view crossing itself in a
second) is missed: the pan's pairs differ by 24-27, the cut by 56. Only a warning hangs on it.
"""

from __future__ import annotations

import numpy as np

CUT_MIN = 15.0  # grey levels: mean absolute difference of two 16x16 thumbnails at least this ...
CUT_RATIO = 3.0  # ... and this many times that of the pairs before and after
SAY_CUTS = 5  # the warning names at most this many cuts
BLANK = 4.0  # grey levels: a thumbnail this flat (standard deviation) is a blank frame, not a shot
# A frame darker than its shot by this fraction (or brighter by 1 / (1 - FADE)) is a fade or flash, over its
# thumbnail's pixels brighter than LIT (a ratio of near-black pixels is noise). Both are estimates, not fitted
# to a corpus; on the six shared clips (all frames) the level followed by `dimmed` moves by at most 0.005
# (log) over a whole clip, a thirtieth of FADE (benchmarks/fade.py).
FADE = 0.15
LIT = 16.0


def thumbnails(frames) -> np.ndarray:
    """``(T, 16, 16)`` float grey thumbnails (area-averaged) of RGB ``frames`` (an array or spilled frames)."""
    import cv2

    return np.stack([cv2.resize(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY), (16, 16),
                                interpolation=cv2.INTER_AREA).astype(np.float32) for frame in frames])


def pair_differences(frames) -> np.ndarray:
    """``(T - 1,)`` mean absolute difference, in grey levels, between the thumbnails of consecutive frames."""
    return _differences(thumbnails(frames))


def _differences(thumbs: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))


def find_cuts(frames) -> list[int]:
    """Indices ``i`` of the frames that begin a new shot (frame ``i - 1`` is the last of the one before). A
    change from or to a blank frame (black, a plain card: :data:`BLANK` grey levels of spread at most) is not
    one: a black intro before the face is said otherwise, with the ``--start`` that skips it."""
    return shots(frames)[0]


def shots(frames) -> tuple[list[int], np.ndarray, np.ndarray]:
    """:func:`find_cuts`'s cuts, ``(T,)`` bool: which frames are blank, and the frames' :func:`thumbnails`."""
    thumbs = thumbnails(frames)
    blank = thumbs.std(axis=(1, 2)) <= BLANK
    if len(frames) < 3:  # one pair alone: a cut and a fast pan look alike
        return [], blank, thumbs
    diff = _differences(thumbs)
    diff[blank[:-1] | blank[1:]] = 0.0
    padded = np.concatenate([[0.0], diff, [0.0]])  # the first and last pairs have one neighbour
    cuts = []
    for k, d in enumerate(diff):
        beside = max(padded[k], padded[k + 2])  # the pairs before and after this one
        if d >= CUT_MIN and d >= CUT_RATIO * beside:
            cuts.append(k + 1)
    return cuts, blank, thumbs


def dimmed(thumbs: np.ndarray, shot: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """``(T,)`` bool: the frames of a fade or a flash, darker or brighter as a whole than most of their shot by
    more than :data:`FADE`.

    A frame's brightness is followed from frame to frame through its shot: each step is the median, over the
    pixels of the two :func:`thumbnails` of which either is brighter than :data:`LIT`, of the log ratio of
    their grey levels. A fade scales every pixel and moves that median at each step; a person walking in or
    out changes the pixels along their edge and leaves it near 0 (compared with the shot as a whole instead, a
    bright person who had covered most of a dark wall made the empty wall after them look like a fade). The
    level most frames share (the most frames within half a ``FADE`` of it) is the shot's; a frame further
    than ``FADE`` from it is dimmed. ``shot``: ``(T,)`` the shot each frame is in; blank frames are left out.
    """
    out = np.zeros(len(thumbs), bool)
    width = -np.log(1.0 - FADE)
    for number in np.unique(shot):
        frame = np.flatnonzero((shot == number) & ~blank)
        if len(frame) < 2:
            continue
        level = brightness(thumbs[frame])
        ordered = np.sort(level)  # the frames within half a FADE of each level, counted on the sorted levels
        count = np.searchsorted(ordered, ordered + width / 2, "right") - np.searchsorted(ordered, ordered - width / 2)
        mode = ordered[int(np.argmax(count))]
        shared = level[np.abs(level - mode) <= width / 2]
        out[frame] = np.abs(level - np.median(shared)) > width
    return out


def brightness(thumbs: np.ndarray) -> np.ndarray:
    """``(n,)`` log brightness of consecutive :func:`thumbnails` against the first's, followed from frame to
    frame (:func:`dimmed`): the sum of each step's median log ratio over the pixels of which either thumbnail
    is brighter than :data:`LIT`."""
    steps = [float(np.median(np.log(np.maximum(b[lit], 1.0) / np.maximum(a[lit], 1.0)))) if lit.any() else 0.0
             for a, b in zip(thumbs[:-1], thumbs[1:]) for lit in [np.maximum(a, b) > LIT]]
    return np.concatenate([[0.0], np.cumsum(steps)])


def warn_cuts(frames, fps: float, start: float = 0.0) -> list[int]:
    """Find cuts in ``frames`` (read from ``start`` seconds at ``fps``) and warn once, naming their times and the
    ``--start`` / ``--duration`` that keep the longest shot. Returns the cut indices."""
    cuts = find_cuts(frames)
    if not cuts:
        return cuts
    import logging

    bounds = [0, *cuts, len(frames)]
    a, b = max(zip(bounds[:-1], bounds[1:]), key=lambda shot: shot[1] - shot[0])
    times = ", ".join(f"{start + i / fps:.2f} s" for i in cuts[:SAY_CUTS])
    if len(cuts) > SAY_CUTS:
        times += f" and {len(cuts) - SAY_CUTS} more"
    keep = []
    if a:
        keep.append(f"--start {start + a / fps:.2f}")
    if b < len(frames):
        keep.append(f"--duration {(b - a) / fps:.2f}")
    logging.getLogger("facecam").warning(
        f"facecam: warning: the video cuts to another shot at {times}; facecam re-angles one continuous shot, so "
        f"the result will jump there; {' '.join(keep)} keeps the longest shot ({(b - a) / fps:.1f} s)")
    return cuts
