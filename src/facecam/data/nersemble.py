"""Reading a NeRSemble download: sequences, cameras, frames, masks and calibration.

Layouts read (the releases of the ``nersemble_data`` and ``nersemble_benchmark``
downloaders, the per-frame variant the FaceCam authors read, and the v1 release)::

    <root>/metadata_sequences.csv                      optional: columns ID, ..., one per sequence,
                                                       "x" where that participant recorded it,
                                                       "m" where it is marked (used with include_marked)
    <root>/<participant, 3 digits>/calibration/camera_params.json   (v1: <participant>/camera_params.json)
                                                       optional: {"world_2_cam": {serial: 4x4},
                                                       "intrinsics": 3x3}
    <root>/<participant>/sequences/<sequence>/
        images/cam_<serial>.mp4                        "video": one video per camera (synchronised)
        alpha_map/ or alpha_maps/cam_<serial>.mp4      optional foreground mattes, same frames
      or
        rgb_images/cam_<serial>/frame_<digits>.jpg     "frames": one image (jpg or png) per frame
        masks/cam_<serial>/mask_<digits>.png           optional foreground masks (0..255)
      or
        frame_<digits>/images-2x/cam_<serial>.png      "timesteps" (v1): one folder per frame
        frame_<digits>/alpha_map/cam_<serial>.png      optional mattes (the -73fps folder names too)

Frame numbers may have any number of digits and are sorted numerically. ``BACKGROUND``
sequences (empty-studio plates) are skipped. Participants are sorted by ID; the last 2%
(at least one when there are two or more) are the validation split. Time index ``t``
means the ``t``-th frame of a camera (for per-frame images, the ``t``-th frame number in
sorted order).
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

# The 16 camera serials of the NeRSemble rig.
SERIALS = tuple(str(s) for s in range(222200036, 222200050)) + ("220700191", "221501007")
VAL_FRACTION = 0.02
SKIPPED_SEQUENCES = ("BACKGROUND",)
VIDEO_MATTES = ("alpha_map", "alpha_maps")  # nersemble_data writes alpha_map/, nersemble_benchmark alpha_maps/
TIMESTEP_IMAGES = ("images-2x", "images-2x-73fps")  # v1: frame_<digits>/<one of these>/cam_<serial>.png
TIMESTEP_MATTES = ("alpha_map", "alpha_map-73fps")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NersembleSequence:
    """One recorded sequence of one participant.

    Attributes:
        participant: three-digit participant folder name (``"017"``).
        sequence: sequence folder name (``"EXP-1-head"``).
        path: the sequence folder.
        layout: ``"video"`` (``images/cam_*.mp4``), ``"frames"`` (``rgb_images/cam_*/frame_*.jpg``) or
            ``"timesteps"`` (``frame_*/images-2x/cam_*.png``, the v1 release).
        cameras: serials found, in rig order.
        masks: the mattes' folder name (``alpha_map``, ``alpha_maps``, ``masks``, ...) or None.
        images: the ``timesteps`` layout's image folder name in each frame folder; None otherwise.
    """

    participant: str
    sequence: str
    path: str
    layout: str
    cameras: tuple[str, ...]
    masks: Optional[str]
    images: Optional[str] = None

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


def _first_folder(parent: Path, names: Sequence[str]) -> Optional[str]:
    return next((name for name in names if (parent / name).is_dir()), None)


def numbered(folder: Path, prefix: str, suffixes: Sequence[str] = ()) -> list[tuple[int, str]]:
    """``(number, name)`` of the entries ``<prefix>_<digits>`` of ``folder`` (files with one of
    ``suffixes`` when given), sorted by number; any digit count."""
    found = []
    for p in folder.iterdir() if folder.is_dir() else ():
        stem = p.stem if suffixes else p.name
        if suffixes and p.suffix.lower() not in suffixes:
            continue
        head, _, digits = stem.rpartition("_")
        if head == prefix and digits.isdigit():
            found.append((int(digits), p.name))
    return sorted(found)


def describe_sequence(path: Path, participant: str) -> Optional[NersembleSequence]:
    """Inspect one sequence folder; None when it holds no camera data."""
    images, rgb = path / "images", path / "rgb_images"
    if images.is_dir() and any(images.glob("cam_*.mp4")):
        cams = [p.stem[4:] for p in images.glob("cam_*.mp4")]
        return NersembleSequence(participant, path.name, str(path), "video", _rig_order(cams),
                                 _first_folder(path, VIDEO_MATTES))
    if rgb.is_dir() and any(rgb.glob("cam_*")):
        cams = [p.name[4:] for p in rgb.glob("cam_*") if p.is_dir()]
        masks = "masks" if (path / "masks").is_dir() else None
        return NersembleSequence(participant, path.name, str(path), "frames", _rig_order(cams), masks)
    steps = numbered(path, "frame")
    if steps:
        first = path / steps[0][1]
        folder = _first_folder(first, TIMESTEP_IMAGES)
        if folder is not None:
            cams = [p.stem[4:] for p in (first / folder).glob("cam_*") if p.suffix.lower() in IMAGE_SUFFIXES]
            if cams:
                return NersembleSequence(participant, path.name, str(path), "timesteps", _rig_order(cams),
                                         _first_folder(first, TIMESTEP_MATTES), folder)
    return None


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


def _csv_sequences(csv_path: Path, marks: Sequence[str]) -> dict[str, list[str]]:
    """participant -> sequences whose cell in ``metadata_sequences.csv`` is one of ``marks``."""
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
            out[pid] = [k for k, v in row.items()
                        if k != "ID" and k not in SKIPPED_SEQUENCES and (v or "").strip().lower() in marks]
        return out


def scan_nersemble(root: str | Path, split: str = "train", val_fraction: float = VAL_FRACTION,
                   include_marked: bool = False) -> list[NersembleSequence]:
    """All usable sequences under a NeRSemble root, sorted by participant then sequence.

    Uses ``metadata_sequences.csv`` when present (only sequences marked "x", and "m" with
    ``include_marked``, whose folder exists; a warning counts the "m" ones left out),
    otherwise every folder under ``<participant>/sequences/``.

    Raises:
        FacecamError: when the root is missing or holds no sequence.
    """
    root = Path(root)
    if not root.is_dir():
        raise FacecamError(f"NeRSemble folder not found: {root}")
    csv_path = root / "metadata_sequences.csv"
    marked: dict[str, list[str]] = {}
    if csv_path.is_file():
        listed = _csv_sequences(csv_path, ("x", "m") if include_marked else ("x",))
        if not include_marked:
            marked = _csv_sequences(csv_path, ("m",))
    else:
        listed = {p.name: sorted(q.name for q in (p / "sequences").iterdir() if q.is_dir())
                  for p in root.iterdir() if (p / "sequences").is_dir()}
    sequences = []
    skipped = 0
    for participant in split_participants(list(listed), split, val_fraction):
        folder = root / participant / "sequences"
        skipped += sum(describe_sequence(folder / name, participant) is not None
                       for name in marked.get(participant, []))
        for name in sorted(listed[participant]):
            if name in SKIPPED_SEQUENCES:
                continue
            seq = describe_sequence(folder / name, participant)
            if seq is not None:
                sequences.append(seq)
    if skipped:
        log.warning(f"facecam: warning: {skipped} NeRSemble sequences marked 'm' in {csv_path.name} are left out "
                    "(--include-marked uses them)")
    if not sequences:
        raise FacecamError(f"no NeRSemble sequences ({split} split) under {root}: expected "
                           "<participant>/sequences/<sequence>/images/cam_<serial>.mp4, rgb_images/cam_<serial>/ "
                           "or frame_<digits>/images-2x/")
    return sequences


def read_camera_params(sequence: NersembleSequence) -> Optional[dict]:
    """The participant's ``calibration/camera_params.json`` (v1: ``camera_params.json``) - ``world_2_cam``
    per serial, ``intrinsics`` - or None."""
    participant = Path(sequence.path).parents[1]
    for path in (participant / "calibration" / "camera_params.json", participant / "camera_params.json"):
        if path.is_file():
            with open(path) as f:
                return json.load(f)
    return None


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
        if sequence.layout == "timesteps":
            return len(self._timesteps(sequence))
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
        Indices past the end hold the last frame.
        """
        if camera not in sequence.cameras:
            raise FacecamError(f"camera {camera} not in {sequence.key}")
        wanted = sorted(set(int(t) for t in times))
        root = Path(sequence.path)
        masks = None
        if sequence.layout == "video":
            got = _decode_indices(root / "images" / f"cam_{camera}.mp4", wanted, lambda f: _resize(f, size))
            if with_masks and sequence.masks:
                decoded = _decode_indices(root / sequence.masks / f"cam_{camera}.mp4", wanted,
                                          lambda f: _resize_mask(f[..., 0], size))
                masks = np.stack([decoded[int(t)] for t in times])
            return np.stack([got[int(t)] for t in times]), masks
        if sequence.layout == "frames":
            files = self._frame_files(sequence, camera)
            picked = {t: files[min(t, len(files) - 1)] for t in wanted}
            images = {t: root / "rgb_images" / f"cam_{camera}" / name for t, (_, name) in picked.items()}
            if with_masks and sequence.masks:
                folder = root / sequence.masks / f"cam_{camera}"
                by_number = dict(numbered(folder, "mask", IMAGE_SUFFIXES))
                missing = [n for n, _ in picked.values() if n not in by_number]
                if missing:
                    raise FacecamError(f"no mask_{missing[0]}.png in {folder}")
                mattes = {t: folder / by_number[n] for t, (n, _) in picked.items()}
        else:
            steps = self._timesteps(sequence)
            folders = {t: root / steps[min(t, len(steps) - 1)][1] for t in wanted}
            images = {t: _image_file(f / sequence.images, f"cam_{camera}") for t, f in folders.items()}
            if with_masks and sequence.masks:
                mattes = {t: _image_file(f / sequence.masks, f"cam_{camera}") for t, f in folders.items()}
        got = {t: _resize(_imread_rgb(path), size) for t, path in images.items()}
        if with_masks and sequence.masks:
            masks_by_t = {t: _resize_mask(_imread_gray(path), size) for t, path in mattes.items()}
            masks = np.stack([masks_by_t[int(t)] for t in times])
        return np.stack([got[int(t)] for t in times]), masks

    def _frame_files(self, sequence: NersembleSequence, camera: str) -> list[tuple[int, str]]:
        folder = Path(sequence.path) / "rgb_images" / f"cam_{camera}"
        files = numbered(folder, "frame", IMAGE_SUFFIXES)
        if not files:
            raise FacecamError(f"no frame_<digits>.jpg or .png in {folder}")
        return files

    def _timesteps(self, sequence: NersembleSequence) -> list[tuple[int, str]]:
        steps = numbered(Path(sequence.path), "frame")
        if not steps:
            raise FacecamError(f"no frame_<digits> folders in {sequence.path}")
        return steps


def _image_file(folder: Path, stem: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        if (folder / (stem + suffix)).is_file():
            return folder / (stem + suffix)
    raise FacecamError(f"no {stem}.png or .jpg in {folder}")


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


def _decode_indices(path: Path, wanted: Sequence[int], convert=None) -> dict[int, np.ndarray]:
    """Decode frames at sorted indices ``wanted`` of a constant-rate video; indices past the end hold the last frame.

    Seeks to the keyframe before the first wanted index, then counts frames by
    timestamp, so a clip that starts deep into a long sequence is not decoded from 0.
    ``convert`` (e.g. a resize) is applied to each wanted frame as it is decoded.
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
                # Converted (resized) as decoded: a sample never holds 81 full-resolution 3208x2200 frames.
                out[index] = convert(frame.to_ndarray(format="rgb24")) if convert else frame.to_ndarray(format="rgb24")
            last = frame
            if index >= pending[-1]:
                break
        if last is None and not out:
            raise FacecamError(f"no decodable frames in {path}")
    tail = max(out) if out else None
    for t in wanted:
        if t not in out:
            # Past the end of the recording: hold the last decoded frame.
            if tail is not None and tail < t:
                out[t] = out[tail]
            else:
                held = last.to_ndarray(format="rgb24")
                out[t] = convert(held) if convert else held
    return out
