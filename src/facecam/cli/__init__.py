"""The ``facecam`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``; modules are discovered automatically, so adding a verb
never touches this file. Sub-command modules import heavy libraries inside their
run functions, so ``facecam --help`` and every ``--help`` stay fast and need no
weights.

MediaPipe and TensorFlow Lite write their C++ log lines (``W0000 ...
inference_feedback_manager``, ``Created TensorFlow Lite XNNPACK delegate``) straight
to file descriptor 2. Unless ``-v`` is given, the command points that descriptor at
/dev/null and gives Python (messages, progress bars) its own copy of the terminal, so
the user sees facecam's lines only; ``-v`` shows everything and turns on facecam's
INFO logging.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import re
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import FacecamError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``facecam: error: ... (see `facecam generate
    --help`)``), instead of the verb's whole usage block; the exit status stays argparse's 2. Every error
    starts ``facecam: error:`` whoever finds it (argparse, or a check after parsing: ``--frames abc`` and
    ``--frames 0`` began differently), and the pointer names the verb's own ``--help``."""

    def error(self, message: str):
        # "argument --size: --size sides must be ..." names the flag twice: once is enough.
        named = re.match(r"argument (\S+): (.*)$", message, re.S)
        if named and any(flag in named.group(2) for flag in named.group(1).split("/")):
            message = named.group(2)
        self.exit(2, f"facecam: error: {message} (see `{self.prog} --help`)\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a job scheduler's stop, ``kill``), raised where SIGINT raises KeyboardInterrupt so that a run
    cleans up the same way: without it the process died where it stood and left an empty output folder."""


def _terminate(signum, frame):
    raise _Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="facecam",
        description=(
            "Re-angle portrait videos. Give a video of a person and a camera move "
            "(a preset such as arc-left, or a JSON keyframe file); facecam renders the "
            "same performance from the new, moving camera."
        ),
        epilog="Start with `facecam demo` (no weights needed), then `facecam cameras` and `facecam generate --help`.",
    )
    parser.add_argument("--version", action="version", version=f"facecam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every log line, MediaPipe's and TensorFlow Lite's included (before or after the verb)")
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
    parser.verbs = sub.choices  # for an unknown flag, the verb's own error line and --help
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = _negative_values(list(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    if any(token in ("-v", "--verbose") for token in extra):  # after the verb too (it was "unrecognized")
        extra = [token for token in extra if token not in ("-v", "--verbose")]
        args.verbose = True
    if extra:  # said by the verb, which points at its own --help (argparse left it to `facecam --help`)
        parser.verbs.get(getattr(args, "command", None), parser).error(f"unrecognized arguments: {' '.join(extra)}")
    # The flags typed (not their defaults): an option a profile fixes may only be refused when given.
    args.given_flags = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    if not getattr(args, "func", None):
        parser.print_help()
        return 2  # a usage error, as argparse's and the bare verbs'
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    with _log_lines(args.verbose):
        try:
            result = args.func(args)
        except FacecamError as exc:
            print(f"facecam: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, _Terminated)
            print(f"facecam: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
            return 143 if terminated else 130
        except BrokenPipeError:
            # The reader left (`facecam cameras --json | head`): stop quietly, as Unix tools do, and keep
            # Python from complaining again when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, before)
    return int(result or 0)


def _negative_values(argv: list[str]) -> list[str]:
    """``--flag -0.1,0.5`` as ``--flag=-0.1,0.5``: argparse takes a value starting with ``-`` that is not one
    plain number for a flag and said "expected one argument" (``--face -0.1,0.5`` deserved its range error)."""
    out: list[str] = []
    for token in argv:
        if (out and out[-1].startswith("--") and "=" not in out[-1] and "," in token
                and re.match(r"^-[0-9.]", token)):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


# Loggers that warn at import time about things a facecam user cannot act on (torchao's optional CUDA
# kernels on a CPU machine, torch's pytree deprecations, diffusers' torchao serialisation check).
IMPORT_CHATTER = ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer")


@contextlib.contextmanager
def _log_lines(verbose: bool):
    """Without ``verbose``: native libraries' log lines to /dev/null, Python's stderr kept (see the module doc)."""
    if verbose:
        os.environ["FACECAM_VERBOSE"] = "1"
        os.environ["GLOG_minloglevel"] = os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logging.basicConfig(level=logging.INFO, format="facecam: %(name)s: %(message)s")
        yield
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in IMPORT_CHATTER:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        own_fd = sys.stderr.fileno() == 2  # False under a test's capture: leave it alone
    except (AttributeError, OSError, ValueError):
        own_fd = False
    if not own_fd:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding,
                           errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = python_stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
