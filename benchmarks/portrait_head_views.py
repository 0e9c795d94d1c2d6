"""How often MediaPipe finds the face on the portrait-built proxy head, per head size.

Builds the astronaut's Gaussian head (``face.gaussians.portrait``) with the face
(forehead to chin) scaled to each ``--heights`` value in world units, renders it
on the camera sphere over the official sampler's range (azimuth 0/+-30/+-45 from the
front, elevation 0/+-30, FOV 25/40/55: 45 views, 480x480) and counts the views
where MediaPipe finds no face. This is the measurement behind
``portrait.FACE_HEIGHT``.

    python benchmarks/portrait_head_views.py [--heights 0.6,0.72,0.8]
"""

from __future__ import annotations

import argparse
import itertools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", default="0.6,0.72,0.8")
    args = parser.parse_args()

    import skimage.data

    import facecam.face.gaussians.portrait as portrait
    from facecam.camera.sphere import SPHERE_RADIUS, sphere_camera
    from facecam.face.gaussians.splat import render_gaussians
    from facecam.face.landmarks import detect_image_landmarks, face_mesh

    image = skimage.data.astronaut()
    landmarks = detect_image_landmarks(image)
    views = list(itertools.product((270, 240, 300, 225, 315), (0, -30, 30), (25, 40, 55)))
    mesh = face_mesh(static=True)
    for height in (float(h) for h in args.heights.split(",")):
        portrait.FACE_HEIGHT = height  # the constant the builder reads
        head = portrait.gaussians_from_portrait(image, landmarks)
        missed = []
        for az, el, fov in views:
            K, R, t = sphere_camera(az, el, fov, size=(480, 480), radius=SPHERE_RADIUS)
            if detect_image_landmarks(render_gaussians(head, K, R, t, size=(480, 480)), mesh) is None:
                missed.append((az - 270, el, fov))
        print(f"face height {height:.2f}: MediaPipe missed {len(missed)} of {len(views)} views "
              f"(azimuth from front, elevation, fov): {missed}", flush=True)


if __name__ == "__main__":
    main()
