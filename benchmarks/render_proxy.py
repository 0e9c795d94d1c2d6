"""Proxy-head render speed: ms per 480x480 view over an 81-view sweep (CPU, numpy).

Builds the Gaussian head from the astronaut portrait (or loads ``--ply``), renders
the authors' composition (480x480 in the top of a 704x480 canvas) for an 81-view
trajectory like their random sampler (azimuth -40..40, elevation -20..20, FOV
25..45 deg), and prints one line per measurement.

    python benchmarks/render_proxy.py [--ply gaussians.ply] [--views 81]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ply", default=None, help="a 3DGS head; default: built from skimage's astronaut")
    parser.add_argument("--views", type=int, default=81)
    parser.add_argument("--spacing", type=float, default=1.0, help="portrait head sample spacing (photo px)")
    args = parser.parse_args()

    from facecam.camera.sphere import relative_to_sphere
    from facecam.condition.proxy_view import render_proxy_views
    from facecam.face.gaussians import gaussians_from_portrait, load_gaussian_ply

    t0 = time.perf_counter()
    if args.ply:
        cloud = load_gaussian_ply(args.ply)
        source = args.ply
    else:
        import skimage.data

        from facecam.face.landmarks import detect_image_landmarks

        image = skimage.data.astronaut()
        cloud = gaussians_from_portrait(image, detect_image_landmarks(image), spacing_px=args.spacing)
        source = f"astronaut portrait, spacing {args.spacing} px"
    build = time.perf_counter() - t0

    azimuth, elevation = relative_to_sphere(np.linspace(-40, 40, args.views), np.linspace(-20, 20, args.views))
    fov = np.linspace(25, 45, args.views)
    render_proxy_views(cloud, azimuth[:1], elevation[:1], fov[:1], progress=False)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    frames = render_proxy_views(cloud, azimuth, elevation, fov, progress=False)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"machine        : {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy")
    print(f"head           : {len(cloud)} Gaussians ({source}), built/loaded in {build:.2f} s")
    print(f"views          : {len(frames)} x {frames.shape[1]}x{frames.shape[2]} (480x480 render + white pad)")
    print(f"render         : {1000 * total / len(frames):.0f} ms/view wall, {total:.1f} s total")
    # CPU time of this process: the fairer figure on a shared machine (numpy runs on one core).
    print(f"render (cpu)   : {1000 * cpu / len(frames):.0f} ms/view, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
