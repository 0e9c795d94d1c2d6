"""Reading a NeRSemble download: sequences, cameras, frames, masks and calibration.

Layout read (the public release as the ``nersemble_data`` downloader writes it, and the
per-frame variant the FaceCam authors read)::

    <root>/metadata_sequences.csv                      optional: columns ID, ..., one per sequence,
                                                       "x" where that participant recorded it
    <root>/<participant, 3 digits>/calibration/camera_params.json
                                                       optional: {"world_2_cam": {serial: 4x4},
                                                       "intrinsics": 3x3}
    <root>/<participant>/sequences/<sequence>/
        images/cam_<serial>.mp4                        one video per camera (all cameras synchronised)
        alpha_map/cam_<serial>.mp4                     optional foreground mattes, same frames
                                                       (the benchmark release names it alpha_maps/)
      or
        rgb_images/cam_<serial>/frame_<digits>.jpg     one image per frame (.png in v1), any digit count
        masks/cam_<serial>/mask_<digits>.png           optional foreground masks (0..255)

Sequences marked ``m`` in ``metadata_sequences.csv`` are skipped unless ``include_marked`` (one
log line says how many); a sequence without mattes is matted by selfie segmentation, with one
warning per sequence.

``BACKGROUND`` sequences (empty-studio plates) are skipped. Participants are sorted
by ID; the last 2% (at least one when there are two or more) are the validation
split. Time index ``t`` means the ``t``-th frame of a camera (for per-frame images,
the ``t``-th frame number in sorted order).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from ..errors import FacecamError

log = logging.getLogger("facecam")

# The 16 camera serials of the NeRSemble rig.
SERIALS = tuple(str(s) for s in range(222200036, 222200050)) + ("220700191", "221501007")
VAL_FRACTION = 0.02
SKIPPED_SEQUENCES = ("BACKGROUND",)
MATTE_DIRS = ("alpha_map", "alpha_maps")  # the downloader's name, the benchmark release's name
FRAME_SUFFIXES = (".jpg", ".png")


@dataclass(frozen=True)
class NersembleSequence:
    """One recorded sequence of one participant.

    Attributes:
        participant: three-digit participant folder name (``"017"``).
        sequence: sequence folder name (``"EXP-1-head"``).
        path: the sequence folder.
        layout: ``"video"`` (``images/cam_*.mp4``) or ``"frames"`` (``rgb_images/cam_*/frame_*.jpg``).
        cameras: serials found, in rig order.
        masks: ``"video"`` (``alpha_map`` / ``alpha_maps``), ``"frames"`` (``masks``) or None.
    """

    participant: str
    sequence: str
    path: str
    layout: str
    cameras: tuple[str, ...]
    masks: Optional[str]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cameras"] = list(self.cameras)
        return d

    @property
    def key(self) -> str:
        return f"{self.participant}/{self.sequence}"


def _rig_order(serials: Sequence[str]) -> tuple[str, ...]:
    known = [s for s in SERIALS if s in serials]
    return tuple(known + sorted(s for s in serials if s not in SERIALS))


def describe_sequence(path: Path, participant: str) -> Optional[NersembleSequence]:
    """Inspect one sequence folder; None when it holds no camera data."""
    images, rgb = path / "images", path / "rgb_images"
    if images.is_dir() and any(images.glob("cam_*.mp4")):
        cams = [p.stem[4:] for p in images.glob("cam_*.mp4")]
        layout = "video"
        masks = "video" if any((path / d).is_dir() for d in MATTE_DIRS) else None
    elif rgb.is_dir() and any(rgb.glob("cam_*")):
        cams = [p.name[4:] for p in rgb.glob("cam_*") if p.is_dir()]
        layout = "frames"
        masks = "frames" if (path / "masks").is_dir() else None
    else:
        return None
    return NersembleSequence(participant, path.name, str(path), layout, _rig_order(cams), masks)


def split_participants(participants: Sequence[str], split: str, val_fraction: float = VAL_FRACTION) -> list[str]:
    """The ``train``, ``val`` or ``all`` share of sorted participants (validation = the last ``val_fraction``)."""
    ordered = sorted(participants)
    n_train = int(len(ordered) * (1.0 - val_fraction))
    if len(ordered) >= 2:
        n_train = min(max(n_train, 1), len(ordered) - 1)  # both splits non-empty
    else:
        n_train = len(ordered)
    if split == "train":
        return ordered[:n_train]
    if split == "val":
        return ordered[n_train:]
    if split == "all":
        return ordered
    raise FacecamError(f"split must be train, val or all, got {split!r}")


def _csv_sequences(csv_path: Path, include_marked: bool = False, skipped: Optional[list] = None
                   ) -> dict[str, list[str]]:
    """participant -> sequences marked "x" (and "m" with ``include_marked``) in ``metadata_sequences.csv``;
    the ``participant/sequence`` keys of the "m" ones left out are appended to ``skipped``."""
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "ID" not in reader.fieldnames:
            raise FacecamError(f"{csv_path} has no ID column")
        out: dict[str, list[str]] = {}
        for row in reader:
            try:
                pid = f"{int(row['ID']):03d}"
            except (TypeError, ValueError):
                continue
            marks = {k: (v or "").strip().lower() for k, v in row.items() if k != "ID" and k not in SKIPPED_SEQUENCES}
            wanted = ("x", "m") if include_marked else ("x",)
            out[pid] = [k for k, v in marks.items() if v in wanted]
            if skipped is not None and not include_marked:
                skipped.extend(f"{pid}/{k}" for k, v in marks.items() if v == "m")
        return out


def scan_nersemble(root: str | Path, split: str = "train", val_fraction: float = VAL_FRACTION,
                   include_marked: bool = False) -> list[NersembleSequence]:
    """All usable sequences under a NeRSemble root, sorted by participant then sequence.

    Uses ``metadata_sequences.csv`` when present (only sequences marked "x" whose
    folder exists, and "m" with ``include_marked``), otherwise every folder under
    ``<participant>/sequences/``.

    Raises:
        FacecamError: when the root is missing or holds no sequence.
    """
    root = Path(root)
    if not root.is_dir():
        raise FacecamError(f"NeRSemble folder not found: {root}")
    csv_path = root / "metadata_sequences.csv"
    skipped: list[str] = []
    if csv_path.is_file():
        listed = _csv_sequences(csv_path, include_marked, skipped)
        if skipped:
            log.warning("facecam: %d NeRSemble sequence(s) marked 'm' in %s skipped; --include-marked uses them",
                        len(skipped), csv_path.name)
    else:
        listed = {p.name: sorted(q.name for q in (p / "sequences").iterdir() if q.is_dir())
                  for p in root.iterdir() if (p / "sequences").is_dir()}
    sequences = []
    for participant in split_participants(list(listed), split, val_fraction):
        for name in sorted(listed[participant]):
            if name in SKIPPED_SEQUENCES:
                continue
            seq = describe_sequence(root / participant / "sequences" / name, participant)
            if seq is not None:
                sequences.append(seq)
    if not sequences:
        raise FacecamError(f"no NeRSemble sequences ({split} split) under {root}: expected "
                           "<participant>/sequences/<sequence>/images/cam_<serial>.mp4 or rgb_images/cam_<serial>/")
    return sequences


def read_camera_params(sequence: NersembleSequence) -> Optional[dict]:
    """The participant's ``calibration/camera_params.json`` (``world_2_cam`` per serial, ``intrinsics``), or None."""
    path = Path(sequence.path).parents[1] / "calibration" / "camera_params.json"
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


class NersembleReader:
    """Frames and masks of one camera of one sequence at chosen time indices, resized to the sample size.

    Frames are resized straight to ``(H, W)`` like the authors' loader (the rig's
    2200x3208 frames have the 704x480 aspect within 1%). Decoded frame lists are not
    kept between calls: a sample touches each camera once.
    """

    def num_frames(self, sequence: NersembleSequence) -> int:
        """Frames per camera (the first camera's count; the rig is synchronised)."""
        cam = sequence.cameras[0]
        if sequence.layout == "frames":
            return len(self._frame_files(sequence, cam))
        import av

        with av.open(str(Path(sequence.path) / "images" / f"cam_{cam}.mp4")) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for _ in container.demux(stream) if _.size)

    def read(self, sequence: NersembleSequence, camera: str, times: Sequence[int], size: tuple[int, int],
             with_masks: bool = True) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Frames ``(n, H, W, 3)`` uint8 RGB and masks ``(n, H, W)`` float32 in [0, 1] (None without masks).

        ``times`` may repeat and come in any order; each distinct index is decoded once.
        """
        if camera not in sequence.cameras:
            raise FacecamError(f"camera {camera} not in {sequence.key}")
        wanted = sorted(set(int(t) for t in times))
        if sequence.layout == "frames":
            frames = self._frame_files(sequence, camera)
            got = {t: _resize(_imread_rgb(frames[min(t, len(frames) - 1)][1]), size) for t in wanted}
            masks = None
            if with_masks and sequence.masks:
                mfiles = dict(_numbered(Path(sequence.path) / "masks" / f"cam_{camera}", "mask_", (".png",)))
                masks_by_t = {}
                for t in wanted:
                    number = frames[min(t, len(frames) - 1)][0]
                    if number not in mfiles:
                        raise FacecamError(f"no mask for frame {number} of camera {camera} in {sequence.key}")
                    masks_by_t[t] = _resize_mask(_imread_gray(mfiles[number]), size)
                masks = np.stack([masks_by_t[int(t)] for t in times])
        else:
            got = {t: _resize(f, size) for t, f in _decode_indices(Path(sequence.path) / "images" / f"cam_{camera}.mp4", wanted).items()}
            masks = None
            if with_masks and sequence.masks:
                folder = next(Path(sequence.path) / d for d in MATTE_DIRS if (Path(sequence.path) / d).is_dir())
                path = folder / f"cam_{camera}.mp4"
                decoded = _decode_indices(path, wanted)
                masks = np.stack([_resize_mask(decoded[int(t)][..., 0], size) for t in times])
        return np.stack([got[int(t)] for t in times]), masks

    def _frame_files(self, sequence: NersembleSequence, camera: str) -> list[tuple[int, Path]]:
        folder = Path(sequence.path) / "rgb_images" / f"cam_{camera}"
        files = _numbered(folder, "frame_", FRAME_SUFFIXES)
        if not files:
            raise FacecamError(f"no frame_<number>.jpg or .png in {folder}")
        return files


def _numbered(folder: Path, prefix: str, suffixes: Sequence[str]) -> list[tuple[int, Path]]:
    """``(number, path)`` of ``<prefix><digits><suffix>`` files in ``folder``, in numeric order (any digit count)."""
    out = []
    for p in folder.glob(f"{prefix}*") if folder.is_dir() else []:
        digits = p.stem[len(prefix):]
        if p.suffix.lower() in suffixes and digits.isdigit():
            out.append((int(digits), p))
    return sorted(out)


def _imread_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacecamError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _imread_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FacecamError(f"cannot read mask {path}")
    return image


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if frame.shape[:2] == (h, w):
        return frame
    interp = cv2.INTER_AREA if frame.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(frame, (w, h), interpolation=interp)


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return _resize(mask, size).astype(np.float32) / 255.0


def _decode_indices(path: Path, wanted: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode frames at sorted indices ``wanted`` of a constant-rate video; indices past the end hold the last frame.

    Seeks to the keyframe before the first wanted index, then counts frames by
    timestamp, so a clip that starts deep into a long sequence is not decoded from 0.
    """
    import av

    if not path.is_file():
        raise FacecamError(f"video not found: {path}")
    out: dict[int, np.ndarray] = {}
    last = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        base = stream.time_base
        start_pts = stream.start_time or 0
        first = wanted[0]
        if first > 0 and rate > 0 and base is not None:
            container.seek(int(start_pts + first / rate / base), stream=stream, backward=True, any_frame=False)
        pending = list(wanted)
        counter = None
        for frame in container.decode(stream):
            if frame.pts is not None and rate > 0 and base is not None:
                index = int(round((frame.pts - start_pts) * base * rate))
            else:
                # No timestamps: only valid when decoding from the start.
                index = 0 if counter is None else counter + 1
            counter = index
            if index > pending[-1]:
                break
            if index in pending:
                out[index] = frame.to_ndarray(format="rgb24")
            last = frame
            if index >= pending[-1]:
                break
        if last is None and not out:
            raise FacecamError(f"no decodable frames in {path}")
    tail = max(out) if out else None
    for t in wanted:
        if t not in out:
            # Past the end of the recording: hold the last decoded frame.
            out[t] = out[tail] if tail is not None and tail < t else last.to_ndarray(format="rgb24")
    return out
