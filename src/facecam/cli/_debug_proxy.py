"""`facecam debug make-proxy-ply`: a 3D Gaussian proxy head from one portrait.

Lives apart from :mod:`facecam.cli.debug` (which lists it in ``SUBVERBS``) so the
debug verb's file stays a short index of sub-verbs. The leading underscore keeps
the CLI's verb discovery from treating this module as a top-level verb.
"""

from __future__ import annotations

import argparse

from ._options import ProseAndExamplesFormatter


def register_make_proxy_ply(sub) -> None:
    p = sub.add_parser(
        "make-proxy-ply", help="build a 3D Gaussian proxy head (.ply) from a portrait photo",
        description="Build a textured 3D Gaussian head from one portrait and its MediaPipe face mesh, in the "
                    "authors' proxy-head frame (face towards azimuth 270, +z up, forehead-to-chin 0.8 units), "
                    "and write it as a standard 3DGS .ply - the same format as the authors' gaussians.ply, "
                    "usable with --proxy PATH.ply. Without IMAGE the scikit-image astronaut portrait is used.",
        epilog="examples:\n  facecam debug make-proxy-ply head.ply\n"
               "  facecam debug make-proxy-ply me.jpg me.ply --preview me_views.png",
        formatter_class=ProseAndExamplesFormatter)
    p.add_argument("image", nargs="?", default=None,
                   help="portrait photo, one clearly visible face (default: skimage's astronaut)")
    p.add_argument("out", metavar="OUT.ply", help="Gaussian head file to write")
    p.add_argument("--spacing", type=float, default=1.0,
                   help="sample spacing on the face in photo pixels; smaller = more Gaussians (default 1.0)")
    p.add_argument("--preview", metavar="PNG", default=None,
                   help="also write the head seen from arc-right, the front and arc-left (30 deg), side by side")
    p.set_defaults(func=_run_make_proxy_ply)


def _run_make_proxy_ply(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from ..errors import FacecamError, NoFaceError

    out = Path(args.out)
    if out.suffix.lower() != ".ply":
        raise FacecamError(f"output must be a .ply file, got {out}")
    if not out.parent.is_dir():
        raise FacecamError(f"output folder does not exist: {out.parent}")
    if args.preview and not args.preview.lower().endswith(".png"):
        raise FacecamError(f"--preview must be a .png file, got {args.preview}")
    if not args.spacing > 0:
        raise FacecamError(f"--spacing must be positive, got {args.spacing}")
    from .._atomic import check_writable

    # Both places before any work: a preview that cannot be written must not leave the .ply half a result.
    check_writable(out.parent, "the output's folder")
    if args.preview:
        if not Path(args.preview).parent.is_dir():
            raise FacecamError(f"--preview's folder does not exist: {Path(args.preview).parent}")
        check_writable(Path(args.preview).parent, "--preview's folder")

    from ..condition.proxy_view import render_proxy_views
    from ..face.gaussians import gaussians_from_portrait, save_gaussian_ply
    from ..face.landmarks import detect_image_landmarks

    if args.image is None:
        import skimage.data

        image, name = skimage.data.astronaut(), "the astronaut portrait"
    else:
        from ..video.io import read_image

        image, name = read_image(args.image), args.image
    landmarks = detect_image_landmarks(image)
    if landmarks is None:
        raise NoFaceError(f"no face found in {name}")
    cloud = gaussians_from_portrait(image, landmarks, spacing_px=args.spacing)
    save_gaussian_ply(cloud, out)
    print(f"{out}: {len(cloud)} Gaussians")
    if args.preview:
        from PIL import Image

        from .._atomic import atomic_path
        from ..camera.sphere import relative_to_sphere

        azimuth, elevation = relative_to_sphere(np.array([30.0, 0.0, -30.0]), np.zeros(3))
        views = render_proxy_views(cloud, azimuth, elevation, np.full(3, 40.0), canvas=(480, 480))
        preview = Path(args.preview)
        with atomic_path(preview) as tmp:
            Image.fromarray(np.concatenate(list(views), axis=1)).save(tmp)
        print(preview)
    return 0
