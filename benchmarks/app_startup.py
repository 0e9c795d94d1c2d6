"""Start-up time of `facecam app`: seconds from launching the command to the first page served.

Also times the bare ``import facecam.app`` (Gradio itself is most of it) in a fresh
interpreter. Each figure is the best of ``--repeats`` cold starts.

    python benchmarks/app_startup.py [--repeats 3] [--weights DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import facecam.app"], check=True)
    return time.perf_counter() - start


def time_first_page(weights: str | None, timeout: float = 300.0) -> float:
    port = _free_port()
    argv = [sys.executable, "-m", "facecam", "app", "--port", str(port), *(["--weights", weights] if weights else [])]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                raise SystemExit(f"facecam app exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"no page within {timeout:.0f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default=None, help="serve with this weights folder (checks it at start-up)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores")
    print(f"import facecam.app: {min(time_import() for _ in range(args.repeats)):.1f} s")
    print(f"facecam app -> first page: {min(time_first_page(args.weights) for _ in range(args.repeats)):.1f} s")


if __name__ == "__main__":
    main()
