"""`facecam debug sheet DIR`: one PNG to judge a run at a glance.

For a folder written by `facecam generate` (or `facecam demo`): every result
``X.mp4`` that has a condition ``X_camera.mp4`` beside it becomes one block of the
sheet - three rows (first, middle and last frame) of input | condition | output.
The input is ``X_input.mp4`` or, when the folder holds one result per camera
(the demo), the folder's only ``*_input.mp4``. Lives apart from
:mod:`facecam.cli.debug`, which lists it in ``SUBVERBS``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._options import ProseAndExamplesFormatter

SHEET_NAME = "contact_sheet.png"
PANEL_HEIGHT = 352  # pixels per frame on the sheet (half of the 704-pixel working height)
MAX_PANEL_HEIGHT = 2160  # pixels: a 4K frame's height


def register_sheet(sub) -> None:
    p = sub.add_parser(
        "sheet", help="one PNG: first/middle/last frames of input, condition and output side by side",
        description="Write a contact sheet of a folder written by `facecam generate` or `facecam demo`: for "
                    "every result X.mp4 with its condition X_camera.mp4, the first, middle and last frames of "
                    "the input, the condition and the output side by side, one row per frame. A folder written "
                    "by `facecam condition` has no output: its sheet shows the input and the condition.",
        epilog="examples:\n  facecam generate talk.mp4 --camera arc-left -o out/ && facecam debug sheet out/\n"
               "  facecam condition talk.mp4 --camera zoom-in -o move/ && facecam debug sheet move/\n"
               "  facecam debug sheet facecam-demo/ -o /tmp/demo_sheet.png",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("dir", help="folder written by `facecam generate`, `facecam condition` (input and condition "
                              "only) or `facecam demo`")
    p.add_argument("-o", "--output", metavar="PNG", default=None,
                   help=f"sheet to write (default: DIR/{SHEET_NAME})")
    p.add_argument("--height", type=int, default=PANEL_HEIGHT,
                   help=f"height of each frame on the sheet in pixels, 16 to {MAX_PANEL_HEIGHT} (default "
                        f"{PANEL_HEIGHT})")
    p.set_defaults(func=_run_sheet)


def _run_sheet(args: argparse.Namespace) -> int:
    from ..errors import FacecamError

    folder = Path(args.dir)
    if not folder.is_dir():
        raise FacecamError(f"not a folder: {folder}")
    if not 16 <= args.height <= MAX_PANEL_HEIGHT:  # 100000 ran out of memory (24 GB) without a word
        raise FacecamError(f"--height must be between 16 and {MAX_PANEL_HEIGHT} pixels, got {args.height}")
    out = Path(args.output) if args.output else folder / SHEET_NAME
    if out.suffix.lower() != ".png":
        raise FacecamError(f"the sheet is written as a PNG: name it *.png, got {out.name}")
    sheet = contact_sheet(folder, args.height)
    write_png(out, sheet)
    print(out)
    return 0


def find_results(folder: Path) -> list[tuple[str, Path, Path, Path]]:
    """``[(name, input, condition, output)]`` for every result in a generate/demo folder."""
    from ..errors import FacecamError

    inputs = sorted(folder.glob("*_input.mp4"))
    results = []
    for condition in sorted(folder.glob("*_camera.mp4")):
        name = condition.name[:-len("_camera.mp4")]
        output = folder / f"{name}.mp4"
        source = folder / f"{name}_input.mp4"
        if not source.exists():
            if len(inputs) != 1:
                raise FacecamError(f"cannot tell which input belongs to {condition.name} in {folder}")
            source = inputs[0]
        # A `facecam condition` folder has no output: its sheet shows the input and the move.
        results.append((name, source, condition, output if output.exists() else None))
    if not results:
        raise FacecamError(f"no result in {folder}: expected X_camera.mp4 (a folder written by `facecam generate`, "
                           "`facecam condition` or `facecam demo`)")
    return results


def pick_frames(path: Path) -> tuple[list[int], list[np.ndarray]]:
    """Indices and frames of the first, middle and last frame of a video."""
    from ..video.io import read_video

    frames = read_video(path, fps=None, num_frames=None).frames
    idx = sorted({0, (len(frames) - 1) // 2, len(frames) - 1})
    return idx, [frames[i] for i in idx]


def contact_sheet(folder: Path, height: int = PANEL_HEIGHT) -> np.ndarray:
    """The sheet ``(H, W, 3)`` uint8: one block of (first, middle, last) x (input, condition, output) per result
    (input and condition alone for a `facecam condition` folder)."""
    blocks = []
    results = find_results(folder)
    titles = output_titles(folder, [name for name, *_ in results])
    several = len({source for _, source, *_ in results}) > 1  # results of several clips: say whose input
    for name, source, condition, output in results:
        columns = []
        shown = [(f"{name} input" if several else "input", source), ("condition", condition)]
        if output is not None:
            shown.append((titles[name], output))
        for title, path in shown:
            idx, frames = pick_frames(path)
            panels = [stamp(fit(frame, height), f"{title} {i}") for i, frame in zip(idx, frames)]
            while len(panels) < 3:  # a clip shorter than 3 frames: repeat its last
                panels.append(panels[-1])
            columns.append(panels)
        width = max(p.shape[1] for col in columns for p in col)
        rows = [np.concatenate([pad_width(col[r], width) for col in columns], axis=1) for r in range(3)]
        blocks.append(np.concatenate(rows, axis=0))
    width = max(b.shape[1] for b in blocks)
    gap = np.full((8, width, 3), 255, np.uint8)
    out = []
    for block in blocks:
        out += [pad_width(block, width), gap]
    return np.concatenate(out[:-1], axis=0)


def output_titles(folder: Path, names: list[str]) -> dict[str, str]:
    """The label of each result's output column: the camera move its ``<name>_camera.json`` records (a
    `generate` folder's result is named after the clip, which said nothing of the move), with the result's
    name too where two results share a move; the name without the results' shared ``<clip>_`` where no
    record says the move (the demo's ``arc-left``)."""
    import json

    prefix = _common_prefix(names)
    short = {name: name[len(prefix):] or name for name in names}
    moves = {}
    for name in names:
        try:
            camera = json.loads((folder / f"{name}_camera.json").read_text())["options"]["camera"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(camera, str) and camera:
            moves[name] = camera
    titles = {}
    for name in names:
        move = moves.get(name)
        if move is None or move == short[name]:
            titles[name] = short[name]
        elif list(moves.values()).count(move) > 1:
            titles[name] = f"{short[name]} {move}"
        else:
            titles[name] = move
    return titles


def _common_prefix(names: list[str]) -> str:
    """The shared ``<clip>_`` of result names named ``<clip>_<camera preset>`` (``astronaut_`` for the demo),
    dropped from labels; none otherwise (``generate-many``'s lp_d0 and lp_d9 were labelled "d0" and "d9")."""
    if len(names) < 2:
        return ""
    import os

    from ..camera.trajectory import PRESETS

    common = os.path.commonprefix(names)
    prefix = common[:common.rfind("_") + 1]
    return prefix if prefix and all(name[len(prefix):] in PRESETS for name in names) else ""


def stamp(panel: np.ndarray, text: str) -> np.ndarray:
    """``panel`` with ``text`` in its top-left corner, sized to the panel (white on a dark outline)."""
    import cv2

    out = panel.copy()
    scale = max(0.3, min(1.0, panel.shape[1] / 420))
    org = (4, 4 + int(22 * scale))
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(2, int(4 * scale)), cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def fit(frame: np.ndarray, height: int) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def pad_width(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] == width:
        return image
    pad = np.full((image.shape[0], width - image.shape[1], 3), 255, np.uint8)
    return np.concatenate([image, pad], axis=1)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write ``image`` to ``path`` via a temporary name, so a failure leaves no half-written PNG."""
    from PIL import Image

    from .._atomic import atomic_path
    from ..errors import FacecamError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    except OSError as exc:
        raise FacecamError(f"cannot write {path}: {exc.strerror or exc}") from None
