"""The shared test clips the benchmarks run on (``../shared/media`` beside the repository)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("facecam_000.mp4", "facecam_007.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d9.mp4", "lp_s18.mp4")


def clip_paths(names: list[str]) -> list[Path]:
    """Each of ``names`` as a path: an existing file as it is, else a shared clip's name with or without
    ".mp4"; no names: all the shared clips. A name that is neither stops the script with one line (a
    folder meant for an option was taken as a clip, and every run "failed" with exit status 0)."""
    paths = [Path(p) if Path(p).exists() else MEDIA / (p if Path(p).suffix else f"{p}.mp4") for p in names]
    missing = [name for name, path in zip(names, paths) if not path.is_file()]
    if missing:
        raise SystemExit(f"{Path(sys.argv[0]).name}: error: no such clip: {', '.join(missing)} (give clip files "
                         f"or names of the shared clips in {MEDIA}: {', '.join(Path(c).stem for c in CLIPS)})")
    return paths or [MEDIA / name for name in CLIPS]


def media_folder(doc: str) -> Path:
    """The command line of a script whose one argument is the clips' folder (default :data:`MEDIA`);
    ``doc``'s first line is its ``--help`` description."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("media", nargs="?", type=Path, default=MEDIA,
                        help="folder of the shared clips (default: ../shared/media beside the repository)")
    return parser.parse_args().media
