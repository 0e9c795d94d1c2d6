"""Where one output frame's flat/smeared face area comes from (the warp engine, one clip, one camera).

Renders the clip with the warp engine in memory, keeps the face surface's backward map of frame K, and
splits the pixels :func:`facecam.eval.artifacts.artifact_mask` flags inside the output's face box into:

wall          the background (the output's person alpha below one half);
face, too     face-surface pixels whose source pixel is flagged in the input frame as well;
face, new     face-surface pixels whose source pixel is not flagged: texture the rendering lost;
person plane  the person layer outside the face surface.

Each mask is computed as ``facecam eval artifacts`` does (the face box resized to 200 rows), on the
frame's own box. For the ``face, new`` pixels it also prints the backward map's singular values
(source pixels per output pixel; the largest is how much the read squeezes the source) against the
face's overall scale (input box height / output box height), and the grey level's local spread
(5x5) in the output and at the source pixel.

    python benchmarks/artifact_origin.py lp_d0 arc-up 73 [--frames 81] [--png FILE]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from shared_clips import clip_paths  # noqa: E402 - beside this script


def full_mask(image: np.ndarray, box) -> np.ndarray:
    """The artifact mask of a whole frame at the scale its face box is measured at, back at full size."""
    from facecam.eval.artifacts import FACE_HEIGHT, artifact_mask

    scale = FACE_HEIGHT / (box[3] - box[1])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    mask = artifact_mask(small).astype(np.uint8)
    return cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def local_spread(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    return np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", help="clip path or shared clip name")
    parser.add_argument("camera", help="camera preset")
    parser.add_argument("frame", type=int, help="output frame to split")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--png", help="also write input | output with the parts coloured")
    args = parser.parse_args()

    from facecam.condition.builder import build_condition
    from facecam.engines import get_engine, warp
    from facecam.eval.artifacts import face_box
    from facecam.face.landmarks import detect_image_landmarks
    from facecam.video.io import read_video

    path = clip_paths([args.clip])[0]
    video = read_video(path, num_frames=args.frames)
    clip = build_condition(video, args.camera, num_frames=args.frames, name=f"{path.stem}_{args.camera}")
    if not 0 <= args.frame < args.frames:
        parser.error(f"frame {args.frame}: the run has {args.frames} frames")

    # Frames are rendered in order on one thread; the face map of frame K is kept from the call that
    # softens stretched reads (it receives the map after the margin's shift, in the renderer's source).
    warp.RENDER_THREADS = 1
    kept, count = {}, {"n": -1}
    render, soften = warp.FrameRenderer.render, warp.soften_stretch

    def counting_render(self, *a, **k):
        count["n"] += 1
        return render(self, *a, **k)

    def keeping_soften(person, box, covered, fx, fy, source, *rest):
        soften(person, box, covered, fx, fy, source, *rest)
        if count["n"] == args.frame:
            kept.update(box=box, covered=covered.copy(), fx=fx.copy(), fy=fy.copy(), person=person.copy(),
                        source=source.copy())

    warp.FrameRenderer.render, warp.soften_stretch = counting_render, keeping_soften
    try:
        output = get_engine("warp").generate(clip, progress=False)
    finally:
        warp.FrameRenderer.render, warp.soften_stretch = render, soften
    if not kept:
        raise SystemExit(f"frame {args.frame}: no face surface in view")

    src, out = clip.source[args.frame], output[args.frame]
    H, W = out.shape[:2]
    found = [detect_image_landmarks(im) for im in (src, out)]
    if any(p is None for p in found):
        raise SystemExit(f"frame {args.frame}: MediaPipe finds no face in the {'input' if found[0] is None else 'output'}")
    box_in, box_out = (face_box(p) for p in found)
    flagged_in, flagged_out = full_mask(src, box_in), full_mask(out, box_out)

    # The face map over the whole frame, in the renderer's source image (the frame at offset `margin`).
    source = kept["source"]
    margin = int(np.ceil(max(2.0, warp.BEYOND_FADE * float(np.hypot(H, W)))))  # as FrameRenderer.margin
    rows, cols = kept["box"]
    covered = np.zeros((H, W), bool)
    covered[rows, cols] = kept["covered"]
    fx = np.full((H, W), -1.0, np.float32)
    fy = fx.copy()
    fx[rows, cols], fy[rows, cols] = kept["fx"], kept["fy"]
    in_source = np.zeros(source.shape[:2], bool)
    in_source[margin:margin + H, margin:margin + W] = flagged_in
    ix = np.clip(np.round(fx).astype(int), 0, source.shape[1] - 1)
    iy = np.clip(np.round(fy).astype(int), 0, source.shape[0] - 1)
    flagged_there = in_source[iy, ix] & covered

    x0, y0, x1, y1 = (int(round(v)) for v in box_out)
    inside = np.zeros((H, W), bool)
    inside[max(0, y0):y1, max(0, x0):x1] = True
    wall = kept["person"][..., 3] < 128
    flagged = flagged_out & inside
    parts = {"wall": flagged & wall, "face, too": flagged & ~wall & flagged_there,
             "face, new": flagged & ~wall & covered & ~flagged_there, "person plane": flagged & ~wall & ~covered}
    n = inside.sum()
    bx0, by0, bx1, by1 = (int(round(v)) for v in box_in)
    print(f"{path.name} {args.camera} frame {args.frame}: flagged {flagged.sum() / n:.4f} of the output's box, "
          f"{flagged_in[max(0, by0):by1, max(0, bx0):bx1].mean():.4f} of the input's")
    for name, part in parts.items():
        print(f"  {name:13s} {part.sum() / n:.4f}")

    new = parts["face, new"]
    if new.any():
        d = [np.gradient(m, axis=a) for m in (fx, fy) for a in (1, 0)]
        jac = np.stack([np.stack(d[:2], -1), np.stack(d[2:], -1)], -2)[new]
        sv = np.linalg.svd(jac, compute_uv=False)
        scale = (box_in[3] - box_in[1]) / (box_out[3] - box_out[1])
        spread_out, spread_src = local_spread(out), local_spread(source[..., :3])
        print(f"  face, new: backward map singular values, median largest {np.median(sv[:, 0]):.2f}, "
              f"least {np.median(sv[:, 1]):.2f} (the face's scale: {scale:.2f}); local spread {np.median(spread_out[new]):.2f} "
              f"grey levels in the output, {np.median(spread_src[iy[new], ix[new]]):.2f} at the source pixel")
    if args.png:
        shown_out, shown_in = out.copy(), src.copy()
        colours = {"wall": (0, 0, 255), "face, too": (0, 255, 0), "face, new": (255, 0, 0), "person plane": (255, 255, 0)}
        for name, part in parts.items():
            shown_out[part] = (0.5 * shown_out[part] + 0.5 * np.array(colours[name])).astype(np.uint8)
        shown_in[flagged_in] = (0.5 * shown_in[flagged_in] + [0, 127, 0]).astype(np.uint8)
        cv2.imwrite(args.png, cv2.cvtColor(np.concatenate([shown_in, shown_out], 1), cv2.COLOR_RGB2BGR))
        print(args.png)


if __name__ == "__main__":
    main()
