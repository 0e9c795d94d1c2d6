"""The ``facecam`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; modules are discovered automatically, so adding a verb
never touches this file. Sub-command modules import heavy libraries inside their
run functions, so ``facecam --help`` and every ``--help`` stay fast and need no
weights.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import FacecamError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facecam",
        description=(
            "Re-angle portrait videos. Give a video of a person and a camera move "
            "(a preset such as arc-left, or a JSON keyframe file); facecam renders the "
            "same performance from the new, moving camera."
        ),
        epilog="Start with `facecam demo` (no weights needed), then `facecam cameras` and `facecam condition --help`.",
    )
    parser.add_argument("--version", action="version", version=f"facecam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        result = args.func(args)
    except FacecamError as exc:
        print(f"facecam: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facecam: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
