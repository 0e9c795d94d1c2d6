"""Run profiles: this project's choices (``default``) or the authors' released inference (``release``).

``--profile release`` reproduces how the authors' script prepares and samples a video:

=====================  ==========================================  ===========================================
step                   default profile                              release profile
=====================  ==========================================  ===========================================
camera                 relative: the proxy sits on the source head  absolute: the proxy head's views on a sphere
trajectory             the chosen preset (``arc-left``)             ``random`` unless a camera is given
proxy head             the subject's own first-frame mesh           the ``gaussians.ply`` in the weights folder
source frames          resampled to ``--fps`` (24)                  consecutive frames at the file's rate
crop resize            area filter when shrinking                   bilinear (``cv2.INTER_LINEAR``)
framing                ``auto`` (small faces framed tighter)        the reference crop
latents between steps  float32                                      bfloat16
VAE                    float32                                      bfloat16, never tiled
=====================  ==========================================  ===========================================

The release profile fixes the options in its column: an option left at its default takes the
release's value; an option set to anything else - on the command line even to its default value -
is an error naming it, never a silent override. ``docs/diffusion.md`` lists the measured effect of
each difference.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import FacecamError

if TYPE_CHECKING:  # pragma: no cover
    from .run import ConditionOptions

PROFILES = ("default", "release")
PROXY_FILENAME = "gaussians.ply"
# Condition options the release profile fixes: field -> (value, flag shown in errors).
RELEASE_FIXED = {"mode": ("absolute", "--mode"), "framing": ("reference", "--framing"), "track": (False, "--track"),
                 "fps": (None, "--fps")}


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise FacecamError(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    return profile


def release_proxy(weights: Optional[str]) -> Path:
    """The authors' proxy head ``gaussians.ply`` in a weights folder (as ``facecam download`` lays it out)."""
    weights = weights or os.environ.get("FACECAM_WEIGHTS")
    if not weights:
        raise FacecamError("the release profile's proxy head is the gaussians.ply of the weights folder: "
                           "give --weights DIR (or $FACECAM_WEIGHTS), or --proxy PATH.ply")
    root = Path(weights).expanduser()
    candidates = [root / "FaceCam" / PROXY_FILENAME, root / PROXY_FILENAME, root / "ckpts" / PROXY_FILENAME]
    for path in candidates:
        if path.is_file():
            return path
    raise FacecamError(f"no {PROXY_FILENAME} in {root} (looked in FaceCam/, the folder itself and ckpts/); "
                       f"run `facecam download --to {root}` or give --proxy PATH.ply")


def resolve_profile(options: "ConditionOptions", weights: Optional[str] = None) -> "ConditionOptions":
    """The condition options a profile runs with: unchanged for ``default``; for ``release`` the
    fixed options of the table above (a conflicting explicit value raises :class:`FacecamError`)."""
    check_profile(options.profile)
    if options.profile == "default":
        return options
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    given = getattr(options, "given", set())  # fields the command line set (facecam.cli._options)
    changes = {}
    for name, (value, flag) in RELEASE_FIXED.items():
        current = getattr(options, name)
        if current != value and (current != defaults[name] or name in given):
            raise FacecamError(f"--profile release runs with {flag} {value if value is not None else '(none)'}; "
                               f"drop {flag} {current}")
        changes[name] = value
    if options.camera == defaults["camera"] and "camera" not in given:
        changes["camera"] = "random"
    proxy = str(options.proxy)
    if not proxy.lower().endswith(".ply"):
        if proxy != defaults["proxy"] or "proxy" in given:
            raise FacecamError(f"--profile release draws the authors' Gaussian head; drop --proxy {proxy} "
                               f"or give --proxy PATH.ply")
        changes["proxy"] = str(release_proxy(weights))
    return dataclasses.replace(options, **changes)
