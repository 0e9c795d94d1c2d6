"""`facecam app`: serve the web page (author a camera move, preview it, generate)."""

from __future__ import annotations

import argparse

ORDER = 40


def register(sub) -> None:
    p = sub.add_parser(
        "app", help="local web page: upload, author a camera move, preview the condition, generate",
        description="Serve a Gradio page on this machine. Upload a video or a portrait photo, pick a preset and "
                    "its strength, edit keyframes in a table or upload a trajectory JSON, preview the condition "
                    "(source | condition side by side) in seconds on a CPU, then generate with the warp engine "
                    "(or facecam, when weights are configured). Results download as the same files "
                    "`facecam generate` writes.",
        epilog="example: facecam app --port 7860   then open http://127.0.0.1:7860")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--concurrency", type=int, default=2, help="jobs run at once across all tabs (default 2)")
    from ._options import add_engine_options

    add_engine_options(p, "facecam engine (as `facecam generate`)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import FacecamError
    from ._options import check_count, engine_options

    check_count("--concurrency", args.concurrency, 1)
    if not 0 <= args.port < 65536:
        raise FacecamError(f"--port must be 0..65535, got {args.port}")
    check_host(args.host)
    try:
        from ..app import launch
    except ImportError as exc:
        raise FacecamError(f"the web page cannot start: {exc}; reinstall facecam (gradio is a dependency)") from None
    # The same options as `facecam generate --engine facecam` ($FACECAM_WEIGHTS included).
    launch(host=args.host, port=args.port, concurrency=args.concurrency,
           facecam_options=engine_options(args, engine="facecam"))
    return 0


def check_host(host: str) -> None:
    """A one-line error for a --host this machine cannot listen on (Gradio would blame the port)."""
    import socket

    from ..errors import FacecamError

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FacecamError(f"--host {host!r} is not an address or a name this machine can resolve") from None
    for family, _, _, _, address in infos:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address[0], 0))
            return
        except OSError:
            continue
    raise FacecamError(f"--host {host}: this machine has no such address to listen on "
                       f"(127.0.0.1 for this machine only, 0.0.0.0 for every interface)")
