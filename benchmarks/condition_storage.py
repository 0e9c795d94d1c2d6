"""How the training condition is stored: size, time and error of H.264 4:2:0, lossless x264 RGB, npz frames,
and the meshes drawn at load time (what shards do).

For each shared clip, two 81-frame 704x480 conditions are drawn: ``training``, the kind a shard holds (the
mesh of the clip's first frame, repeated, under a zoom/pan drawn as the data recipe draws it; an in-the-wild
sample, or a NeRSemble sample with one target camera) and ``inference``, the arc-left condition ``facecam
generate`` draws (a different mesh every frame). Per format it prints the bytes, the time to store
(encode), the time to load (decode, or draw), and the largest pixel error after loading. ``meshes
(shards)`` stores the landmark array (``np.save``) and draws it with ``facecam.data.condition`` (the
motion parameters are in the sample's JSON anyway). Usage: ``python benchmarks/condition_storage.py [../shared/media]``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import av
import numpy as np

from shared_clips import media_folder  # beside this script
FRAMES = 81


def h264(frames: np.ndarray, codec: str, pix_fmt: str, options: dict) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.options = frames.shape[2], frames.shape[1], pix_fmt, options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def decode_mp4(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def npz(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, frames=frames)
    return buf.getvalue()


def load_npz(data: bytes) -> np.ndarray:
    with np.load(io.BytesIO(data)) as stored:
        return stored["frames"]


def save_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def conditions(path: Path) -> dict:
    """``{kind: (frames, draw)}``: the drawn condition and a function of stored landmark bytes that redraws it."""
    from facecam.condition.builder import build_condition
    from facecam.data.augment import sample_motion
    from facecam.data.condition import draw_condition, draw_meshes

    clip = build_condition(path, camera="arc-left", num_frames=FRAMES)
    size = clip.condition.shape[1:3]
    motion = sample_motion(np.random.default_rng(0), (1.0, 1.25))

    def draw_training(meshes: np.ndarray) -> np.ndarray:
        return draw_condition(meshes, [FRAMES], size, motion)

    def draw_inference(meshes: np.ndarray) -> np.ndarray:
        return draw_meshes(meshes, [1] * FRAMES, size)

    first = clip.condition_points[:1]
    return {"training": (draw_training(first), first, draw_training),
            "inference": (clip.condition, clip.condition_points, draw_inference)}


def main() -> int:
    media = media_folder(__doc__)
    from facecam.data.shards import load_npy

    if not media.is_dir():
        print(f"needs the shared clips in {media}", file=sys.stderr)
        return 1
    print(f"{'clip':16} {'condition':10} {'format':22} {'KB':>7} {'store s':>8} {'load s':>7} {'max error':>9}")
    for path in sorted(media.glob("*.mp4")):
        for kind, (drawn, points, draw) in conditions(path).items():
            formats = {
                "h264 yuv420p crf 17": (lambda f: h264(f, "libx264", "yuv420p", {"crf": "17"}), decode_mp4),
                "x264 rgb lossless": (lambda f: h264(f, "libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast"}),
                                      decode_mp4),
                "npz frames": (npz, load_npz),
                "meshes (shards)": (lambda f: save_npy(points), lambda b: draw(load_npy(b))),
            }
            for name, (encode, decode) in formats.items():
                start = time.perf_counter()
                data = encode(drawn)
                stored = time.perf_counter() - start
                start = time.perf_counter()
                loaded = decode(data)
                loading = time.perf_counter() - start
                error = int(np.abs(loaded.astype(int) - drawn).max())
                print(f"{path.name:16} {kind:10} {name:22} {len(data) / 1024:7.0f} {stored:8.2f} {loading:7.2f} "
                      f"{error:9d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
