"""How the training condition is stored: size, time and error of H.264 4:2:0, lossless x264 RGB and npz.

Draws the 81-frame 704x480 arc-left condition of each shared clip and prints, per format, the bytes,
the encode time and the largest pixel error after decoding. Usage: ``python benchmarks/condition_storage.py``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import av
import numpy as np

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


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


def main() -> int:
    from facecam.condition.builder import build_condition
    from facecam.data.shards import decode_condition

    if not MEDIA.is_dir():
        print(f"needs the shared clips in {MEDIA}", file=sys.stderr)
        return 1
    print(f"{'clip':16} {'format':22} {'KB':>7} {'encode s':>8} {'max error':>9}")
    for path in sorted(MEDIA.glob("*.mp4")):
        drawn = build_condition(path, camera="arc-left", num_frames=81).condition
        formats = {
            "h264 yuv420p crf 17": (lambda f: h264(f, "libx264", "yuv420p", {"crf": "17"}), decode_mp4),
            "x264 rgb lossless": (lambda f: h264(f, "libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast"}),
                                  decode_mp4),
            "npz (shards)": (_npz, decode_condition),
        }
        for name, (encode, decode) in formats.items():
            start = time.perf_counter()
            data = encode(drawn)
            seconds = time.perf_counter() - start
            error = int(np.abs(decode(data).astype(int) - drawn).max())
            print(f"{path.name:16} {name:22} {len(data) / 1024:7.0f} {seconds:8.2f} {error:9d}")
    return 0


def _npz(frames: np.ndarray) -> bytes:
    import tempfile

    from facecam.data.shards import write_condition

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.npz"
        write_condition(path, frames)
        return path.read_bytes()


if __name__ == "__main__":
    sys.exit(main())
