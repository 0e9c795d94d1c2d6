"""How large a cut is against ordinary motion (facecam.video.cuts.CUT_MIN, CUT_RATIO).

Prints, for each shared clip over all its frames, the largest and median mean absolute difference between
the 16x16 grey thumbnails of consecutive frames (``cuts.pair_differences``) and the cuts found; then the same
at the cut of built clips: each pair of shared clips joined end to end (30 frames of one, then 30 of the
other, both at 704x480), and lp_d0 beside facecam_000 swapped left and right halfway (the same colours on
both sides of the cut); last, a pan across skimage's astronaut photo (a 384 px window moving 4, 8 or 16 px a
frame) cut to its coffee photo: a cut beside a fast pan is only found while it stands out from the pan.

    python benchmarks/cuts.py [../shared/media]
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from facecam.video.cuts import find_cuts, pair_differences
from facecam.video.io import read_video

from shared_clips import media_folder  # beside this script


def main() -> None:
    media = media_folder(__doc__)
    clips = {}
    for path in sorted(media.glob("*.mp4")):
        frames = read_video(path, fps=None, num_frames=None).frames
        diff = pair_differences(frames)
        print(f"{path.name:16s} {len(frames):4d} frames  largest {diff.max():5.1f}  median {np.median(diff):4.2f}  "
              f"cuts found {find_cuts(frames)}")
        clips[path.stem] = np.stack([cv2.resize(f, (704, 480), interpolation=cv2.INTER_AREA) for f in frames[:30]])
    at_cut = []
    for a, b in itertools.permutations(clips, 2):
        joined = np.concatenate([clips[a], clips[b]])
        at_cut.append(pair_differences(joined)[29])
        found = find_cuts(joined)
        if found != [30]:
            print(f"{a} then {b}: cuts found {found}, expected [30]")
    print(f"joined pairs of clips ({len(at_cut)}): difference at the cut {min(at_cut):.1f}-{max(at_cut):.1f}")
    left = np.stack([cv2.resize(f, (352, 480), interpolation=cv2.INTER_AREA) for f in clips["lp_d0"]])
    right = np.stack([cv2.resize(f, (352, 480), interpolation=cv2.INTER_AREA) for f in clips["facecam_000"]])
    swapped = np.concatenate([np.concatenate([left, right], axis=2)[:15], np.concatenate([right, left], axis=2)[15:]])
    print(f"halves swapped: difference at the cut {pair_differences(swapped)[14]:.1f}, cuts found {find_cuts(swapped)}")
    from skimage import data

    photo, coffee = data.astronaut(), np.ascontiguousarray(data.coffee()[:384, :384])
    for step in (4, 8, 16):
        pan = np.stack([photo[64:448, i * step:i * step + 384] for i in range(8)])
        cut = np.concatenate([pan, np.repeat(coffee[None], 4, axis=0)])
        diff = pair_differences(cut)
        print(f"pan {step:2d} px a frame: pairs {diff[:7].min():.1f}-{diff[:7].max():.1f}, at the cut {diff[7]:.1f}, "
              f"cuts found {find_cuts(cut)} (expected [8])")


if __name__ == "__main__":
    main()
