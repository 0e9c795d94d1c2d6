"""The paper's static benchmark (paper 4.2, supplement table 4): Ava-256 novel views scored against real cameras.

10 identities x 10 source/target camera pairs; each generated view is compared
with the target camera's real video by PSNR, SSIM, LPIPS (:mod:`.metrics`)
and identity similarity (:mod:`.identity`). This module owns the folder
layout (:func:`ava256_paths`, ``docs/evaluation.md``), the reading of a
camera stored as a video or a folder of frames, the scoring
(:func:`run_static`) and the table-1 style summary (:func:`summarize_static`).
Views missing from the generated folder can be made first with
:func:`facecam.eval.static_views.generate_static`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import FacecamError
from ..video.io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoClip, check_frame_count, read_image, read_video
from .identity import FaceEmbedder, identity_similarity
from .records import mean_of, write_json

# Supplement, section 4.2 and table 4.
AVA256_IDENTITIES = ("KDA058", "XJT672", "LAS440", "IFG774", "EID363", "NRE683", "PAK800", "MCR809",
                     "SKB942", "KJJ701")
AVA256_PAIRS = (("cam_400944", "cam_401031"), ("cam_400944", "cam_401410"), ("cam_400981", "cam_401045"),
                ("cam_400981", "cam_401292"), ("cam_401163", "cam_401031"), ("cam_401163", "cam_401458"),
                ("cam_401168", "cam_401045"), ("cam_401168", "cam_401292"), ("cam_401316", "cam_401410"),
                ("cam_401316", "cam_401458"))
DEFAULT_FRAME_FOLDER_FPS = 24.0  # frame rate given to generated views of cameras stored as frame folders


def find_clip(folder: Path, stem: str) -> Optional[Path]:
    """``folder/<stem>.<video suffix>`` or a folder ``folder/<stem>/`` holding frames; None when neither exists."""
    for suffix in VIDEO_EXTENSIONS:
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    d = folder / stem
    if d.is_dir() and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir()):
        return d
    return None


def ava256_paths(ava_dir: Path, generated_dir: Path, identity: str, source_cam: str,
                 target_cam: str) -> dict:
    """Where one static run's files are expected.

    * ground truth: ``<ava_dir>/<IDENTITY>/<target_cam>.mp4`` (or a folder
      ``<ava_dir>/<IDENTITY>/<target_cam>/`` of frames, sorted by name);
    * source (what the engine was given): ``<ava_dir>/<IDENTITY>/<source_cam>.mp4``;
    * generated: ``<generated_dir>/<IDENTITY>/<source_cam>_to_<target_cam>.mp4``.
    """
    return {"target": find_clip(ava_dir / identity, target_cam),
            "source": find_clip(ava_dir / identity, source_cam),
            "generated": find_clip(generated_dir / identity, f"{source_cam}_to_{target_cam}")}


def read_frames(path: Path, max_frames: Optional[int] = None) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB of a video (at its own rate) or a folder of frames."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise FacecamError(f"input is a folder with no frames ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
                               f"in it; give a video file: {path}")
        files = files[:max_frames] if max_frames else files
        images = [read_image(f) for f in files]
        for f, image in zip(files, images):
            if image.shape != images[0].shape:
                (h0, w0), (h, w) = images[0].shape[:2], image.shape[:2]
                raise FacecamError(f"the frames in {path} differ in size ({files[0].name} {w0}x{h0}, {f.name} "
                                   f"{w}x{h}): a folder of frames must hold one video's frames")
        return np.stack(images)
    frames = read_video(path, fps=None, num_frames=None).frames
    return frames[:max_frames] if max_frames else frames


def read_camera(path: Path, num_frames: int, fps: float = DEFAULT_FRAME_FOLDER_FPS):
    """The first ``num_frames`` frames of one camera, at the capture's own rate (no resampling).

    ``path`` is a video or a folder of frames (:func:`ava256_paths`); a short
    clip holds its last frame. Frame ``i`` of every camera of a capture is
    the same instant, which is what the scorer compares, so nothing is
    resampled. A frame folder has no rate of its own: ``fps`` is used.

    Returns:
        :class:`~facecam.video.io.VideoClip`.
    """
    check_frame_count(num_frames)
    if not path.is_dir():
        return read_video(path, fps=None, num_frames=num_frames)
    frames = read_frames(path, num_frames)
    taken = len(frames)
    if taken < num_frames:
        frames = np.concatenate([frames, np.repeat(frames[-1:], num_frames - taken, axis=0)])
    return VideoClip(frames, float(fps), str(path), taken)


def static_output_path(generated_dir: str | os.PathLike, identity: str, source_cam: str, target_cam: str) -> Path:
    """Where a generated view is written: ``<generated_dir>/<IDENTITY>/<source_cam>_to_<target_cam>.mp4``."""
    return Path(generated_dir) / identity / f"{source_cam}_to_{target_cam}.mp4"


def static_sidecar_path(video: Path) -> Path:
    """The JSON written beside a view we generated (``<src>_to_<tgt>.json``): options and the target's crop."""
    return video.with_suffix(".json")


def _fit(generated: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if generated.shape[1:3] == tuple(size):
        return generated
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in generated])


def score_static_pair(target: np.ndarray, generated: np.ndarray, lpips=None,
                      embedder: Optional[FaceEmbedder] = None, identity_samples: int = 9) -> dict:
    """PSNR, SSIM, LPIPS (None without weights) and identity of a generated clip vs the real target view.

    The generated frames are resized to the target's size when they differ;
    the shorter length is used.
    """
    from .metrics import video_psnr, video_ssim

    resized = generated.shape[1:3] != target.shape[1:3]
    gen = _fit(generated, target.shape[1:3])
    n = min(len(gen), len(target))
    gen, tgt = gen[:n], target[:n]
    ident = identity_similarity(tgt, gen, embedder, identity_samples).to_dict() if embedder else None
    return {"psnr": video_psnr(tgt, gen), "ssim": video_ssim(tgt, gen),
            "lpips": lpips(tgt, gen) if lpips is not None else None,
            "identity": ident, "frames": n, "resized": bool(resized)}


def run_static(ava_dir: str | os.PathLike, generated_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               method: str, identities: Sequence[str] = AVA256_IDENTITIES,
               pairs: Sequence[tuple[str, str]] = AVA256_PAIRS, max_frames: Optional[int] = None,
               lpips=None, lpips_note: str = "", embedder: Optional[FaceEmbedder] = None,
               log: Callable[[str], None] = print) -> list[dict]:
    """Score every (identity, camera pair) whose files exist; missing ones are recorded, not fatal.

    Raises:
        FacecamError: no pair had both its target and generated video.
    """
    ava, gen_root, out = Path(ava_dir), Path(generated_dir), Path(out_dir)
    if not ava.is_dir():
        raise FacecamError(f"--ava256 must be a folder laid out as <IDENTITY>/<cam>.mp4: {ava}")
    if not gen_root.is_dir():
        raise FacecamError(f"--generated must be a folder laid out as <IDENTITY>/<src>_to_<tgt>.mp4: {gen_root}")
    records = []
    for identity in identities:
        for src, tgt in pairs:
            rid = f"{identity}__{src}_to_{tgt}"
            paths = ava256_paths(ava, gen_root, identity, src, tgt)
            record = {"run": rid, "subject": identity, "source_camera": src, "target_camera": tgt,
                      "method": method, "files": {k: str(v) if v else None for k, v in paths.items()}}
            if paths["target"] is None or paths["generated"] is None:
                missing = [k for k in ("target", "generated") if paths[k] is None]
                record.update(status="missing", error=f"missing {' and '.join(missing)}")
            else:
                try:
                    target = read_frames(paths["target"], max_frames)
                    generated = read_frames(paths["generated"], max_frames)
                    box = _target_crop(paths["generated"])
                    if box is not None:  # our own output: compare with the target seen through its crop
                        from ..video.crop import apply_crop

                        target = apply_crop(target, box)
                        record["target_crop"] = box.to_dict()
                    record.update(score_static_pair(target, generated, lpips, embedder))
                    record["lpips_note"] = lpips_note if lpips is None else ""
                    record["status"] = "ok"
                except FacecamError as exc:
                    record.update(status="error", error=str(exc))
            if record["status"] != "missing":  # a pair tried is recorded at once; a missing one at the end
                write_json(out / "runs" / f"{rid}.json", record)
                log(f"{rid}: " + (f"PSNR {record['psnr']:.2f} SSIM {record['ssim']:.4f}"
                                  if record["status"] == "ok" else f"error: {record['error']}"))
            records.append(record)
    if not any(r["status"] == "ok" for r in records):
        raise FacecamError(f"no Ava-256 pair could be scored: none had both {ava}/<IDENTITY>/<target cam>.mp4 "
                           f"and {gen_root}/<IDENTITY>/<src cam>_to_<target cam>.mp4 (see docs/evaluation.md)")
    # Only now: a run that scored nothing wrote a record of every default pair as missing (112 files).
    for record in records:
        if record["status"] == "missing":
            write_json(out / "runs" / f"{record['run']}.json", record)
    return records


def _target_crop(generated: Path):
    """The target crop our generator recorded beside ``generated``, or None (someone else's output)."""
    from ..video.crop import CropBox

    sidecar = static_sidecar_path(generated)
    if generated.is_dir() or not sidecar.is_file():
        return None
    try:
        box = json.loads(sidecar.read_text()).get("target_crop")
        return CropBox(**box) if box else None
    except (json.JSONDecodeError, OSError, TypeError):
        return None


def summarize_static(records: Sequence[dict], method: str) -> dict:
    """Table-1 style summary of the scored pairs (identity similarity as a cosine, like the paper's: 1 the same face)."""
    ok = [r for r in records if r.get("status") == "ok"]
    models = sorted({r["identity"]["model"] for r in ok if r.get("identity")})
    return {
        "method": method,
        "identity_model": ", ".join(models) if models else None,
        "overall": {"psnr": mean_of(r["psnr"] for r in ok), "ssim": mean_of(r["ssim"] for r in ok),
                    "lpips": mean_of(r["lpips"] for r in ok),
                    "identity_similarity": mean_of(r["identity"]["similarity"] for r in ok if r.get("identity")),
                    "runs": len(ok)},
        "per_subject": {i: {"psnr": mean_of(r["psnr"] for r in ok if r["subject"] == i),
                            "ssim": mean_of(r["ssim"] for r in ok if r["subject"] == i),
                            "runs": sum(1 for r in ok if r["subject"] == i)}
                        for i in dict.fromkeys(r["subject"] for r in ok)},
        "missing": [r["run"] for r in records if r.get("status") == "missing"],
        "errors": [{"run": r["run"], "error": r.get("error")} for r in records if r.get("status") == "error"],
    }
