"""`facecam debug ...`: developer tools (tiny models, diagnostics).

Each sub-verb is one entry of :data:`SUBVERBS`: a function that adds its parser to the
``debug`` sub-parsers and sets ``func``. Add a sub-verb by writing ``_register_<name>``
and listing it there; nothing else changes.
"""

from __future__ import annotations

import argparse
from typing import Callable

from ._options import ProseAndExamplesFormatter, seed_type

ORDER = 90


def _register_make_tiny_model(sub) -> None:
    p = sub.add_parser(
        "make-tiny-model", help="write a tiny random FaceCam model folder in the real layout",
        description="Write a complete FaceCam weights folder (original-layout Wan2.2-I2V-A14B base with "
                    "Wan-native names + FaceCam fine-tune folders) with tiny random networks, so the whole "
                    "facecam engine path - discovery, conversion, fine-tune merge, sampling - runs on a CPU "
                    "in seconds. The output is noise: it is for testing the plumbing, not for results.",
        epilog="example:\n  facecam debug make-tiny-model /tmp/tiny\n"
               "  facecam generate clip.mp4 --camera arc-left --engine facecam --weights /tmp/tiny "
               "--frames 9 --size 64x48 --steps 4 -o out/",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("dir", help="folder to create (must be empty or missing)")
    p.add_argument("--seed", type=seed_type, default=0, help="random seed of the tiny weights (default 0)")
    p.set_defaults(func=_run_make_tiny_model)


def _run_make_tiny_model(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._atomic import atomic_folder
    from ..errors import FacecamError

    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        raise FacecamError(f"{target} is a file: give a folder to write the model into")
    if target.exists() and any(target.iterdir()):
        raise FacecamError(f"{target} exists and is not an empty folder")
    from .._atomic import check_writable

    check_writable(target.parent, "the model's parent folder")
    from ..model.tiny import write_tiny_model  # torch: seconds to import, so after the checks
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename when complete (an empty target folder is replaced):
    # an interrupted run leaves no half model.
    with atomic_folder(target) as stage:
        write_tiny_model(stage, seed=args.seed)
    import sys

    print(target)  # alone on stdout, for W=$(facecam debug make-tiny-model DIR)
    print(f"wrote a tiny random FaceCam model (its output is noise: for testing the plumbing) into {target}; "
          f"try: facecam generate clip.mp4 --engine facecam --weights {target} --frames 9 --size 64x48 --steps 4 "
          f"-o out/", file=sys.stderr)
    return 0


from ._debug_proxy import register_make_proxy_ply  # noqa: E402  (its own module, light to import)
from ._debug_sheet import register_sheet  # noqa: E402

SUBVERBS: list[Callable] = [_register_make_tiny_model, register_make_proxy_ply, register_sheet]


def register(sub) -> None:
    p = sub.add_parser("debug", help="a run's contact sheet (debug sheet DIR) and developer tools (tiny test "
                                     "models, a proxy head from a photo)",
                       description="Developer tools. See `facecam debug SUBCOMMAND --help`.",
                       epilog="examples:\n"
                              "  facecam debug sheet out/                 "
                              "# one PNG: input | condition | output, first/middle/last\n"
                              "  facecam debug make-tiny-model /tmp/tiny  "
                              "# random weights in the real layout, for tests",
                       formatter_class=ProseAndExamplesFormatter)
    debug_sub = p.add_subparsers(dest="debug_command", metavar="SUBCOMMAND")
    for add in SUBVERBS:
        add(debug_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])  # a usage error, as argparse's (1 is a WRONG verdict)
