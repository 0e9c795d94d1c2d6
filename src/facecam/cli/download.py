"""`facecam download`: fetch the base model and the FaceCam fine-tunes from Hugging Face."""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter

ORDER = 80

# Only what the engine reads from the base repository (it also holds example media and docs).
BASE_ORIGINAL_FILES = ["high_noise_model/*", "low_noise_model/*", "Wan2.1_VAE.pth",
                       "models_t5_umt5-xxl-enc-bf16.pth", "google/umt5-xxl/*", "*.json", "LICENSE*"]


def register(sub) -> None:
    p = sub.add_parser(
        "download", help="download the Wan2.2-I2V-A14B base and the FaceCam fine-tunes",
        description="Download the weights the facecam engine needs into DIR (resumable: run it again after an "
                    "interruption). DIR/Wan2.2-I2V-A14B (base, original layout, ~120 GB; or "
                    "DIR/Wan2.2-I2V-A14B-Diffusers with --diffusers) and DIR/FaceCam (fine-tunes, proxy head). "
                    "Then: facecam generate VIDEO --engine facecam --weights DIR ...",
        epilog="example:\n  facecam download --to ~/facecam-weights",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("--to", default=None, metavar="DIR",
                   help="target folder (default: $FACECAM_WEIGHTS or ~/facecam-weights)")
    p.add_argument("--diffusers", action="store_true",
                   help="take the diffusers-format base (Wan-AI/Wan2.2-I2V-A14B-Diffusers) instead")
    p.add_argument("--only", choices=("base", "finetunes"), default=None, help="download only one part")
    p.set_defaults(func=run)


def download_plan(root, diffusers: bool = False, only=None) -> list[dict]:
    """The ``snapshot_download`` calls to make: repo, local folder, file patterns."""
    from pathlib import Path

    from ..model import weights as w

    root = Path(root)
    plan = []
    if only in (None, "base"):
        if diffusers:
            plan.append(dict(repo_id=w.BASE_DIFFUSERS_REPO, local_dir=root / w.BASE_DIFFUSERS_DIRNAME,
                             allow_patterns=None))
        else:
            plan.append(dict(repo_id=w.BASE_REPO, local_dir=root / w.BASE_DIRNAME,
                             allow_patterns=BASE_ORIGINAL_FILES))
    if only in (None, "finetunes"):
        plan.append(dict(repo_id=w.FINETUNE_REPO, local_dir=root / w.FINETUNE_DIRNAME, allow_patterns=None))
    return plan


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..errors import FacecamError

    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise FacecamError(f"huggingface_hub is needed for downloads: {exc}") from None
    from ..video.outputs import output_dir

    root = Path(args.to or os.environ.get("FACECAM_WEIGHTS") or Path.home() / "facecam-weights").expanduser()
    # A file or an unwritable place for --to is one line (it was a traceback), and a folder made here is
    # removed again when nothing was fetched into it.
    with output_dir(root):
        for step in download_plan(root, args.diffusers, args.only):
            print(f"downloading {step['repo_id']} -> {step['local_dir']}")
            fetched = any(Path(step["local_dir"]).rglob("*")) if Path(step["local_dir"]).is_dir() else False
            try:
                # snapshot_download skips complete files and resumes partial ones.
                snapshot_download(repo_id=step["repo_id"], local_dir=str(step["local_dir"]),
                                  allow_patterns=step["allow_patterns"])
            except (HfHubHTTPError, OSError, ValueError) as exc:
                again = ("run the same command again to resume" if fetched or any(root.rglob("*.incomplete"))
                         else "check the connection and run the same command again")
                _drop_empty(Path(step["local_dir"]))
                raise FacecamError(f"download of {step['repo_id']} failed ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}); {again}") from None
    print(f"done: facecam generate VIDEO --engine facecam --weights {root} -o OUT")
    return 0


def _drop_empty(folder) -> None:
    """Remove ``folder`` when no file in it holds a byte: a download that fetched nothing leaves nothing
    (huggingface_hub makes its cache folder there first); ``output_dir`` then removes ``--to`` if it made it."""
    import shutil

    if folder.is_dir() and not any(p.is_file() and p.stat().st_size for p in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)
