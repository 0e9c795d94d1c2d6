"""`facecam cameras`: list the camera presets."""

from __future__ import annotations

import argparse
import json
import textwrap

from ._options import ProseAndExamplesFormatter, seed_type

ORDER = 10


DESCRIPTION = textwrap.fill(width=88, text=(
    "List the camera presets. Directions are the camera's: pan-left moves the camera "
    "left, so the face moves right. Write your own move as a JSON keyframe file: "
    '{"frames": 81, "keys": [{"t": 0, "yaw": 0}, {"t": 80, "yaw": -30, "zoom": 1.2}]} '
    "(fields yaw, pitch, roll in degrees; zoom factor; pan_x, pan_y in frame fractions; "
    "a field left out holds its previous value; t counts frames of the file's own "
    "'frames', and the move is resampled to --frames, the same move at any length). "
    "A run's own <name>_camera.json (written by `facecam generate`) is a camera file too."))


def register(sub) -> None:
    p = sub.add_parser("cameras", help="list the camera presets",
                       description=DESCRIPTION,
                       epilog="examples:\n"
                              "  facecam cameras                               # the presets and where each ends\n"
                              "  facecam cameras --export arc-left > my_move.json   # a keyframe file to edit\n"
                              "  facecam generate talk.mp4 -c my_move.json -o out/",
                       formatter_class=ProseAndExamplesFormatter)
    what = p.add_mutually_exclusive_group()  # (--json with --export was ignored: the file is JSON already)
    what.add_argument("--json", action="store_true", help="print the presets' end points as JSON")
    what.add_argument("--export", metavar="PRESET", help="print a preset as a keyframe file (JSON) to start "
                                                         "editing from")
    p.add_argument("--seed", type=seed_type, default=0, help="seed of an exported `random` move (default 0); the file holds "
                   "the sampled move from the source view (without a video the subject's frontal direction is "
                   "unknown, so the frontal anchoring of `random` applies only when it is given by name)")
    p.add_argument("--frames", type=int, default=81, help="frames of the exported move (default 81)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..camera.trajectory import PRESET_HELP, PRESETS, preset
    from ..errors import FacecamError

    given = getattr(args, "given_flags", set())
    if args.export != "random" and "--seed" in given:  # it was ignored without a word
        raise FacecamError("--seed seeds `--export random` only")
    if not args.export and "--frames" in given:
        raise FacecamError("--frames is the length of an --export'ed move: give --export PRESET")
    if args.export:
        from ._options import check_count

        check_count("--frames", args.frames, 2)
        traj = preset(args.export, args.frames, seed=args.seed)
        keys = traj.to_dict()["keys"]
        if args.export != "random":  # a preset is its two ends; random's zoom follows the FOV per frame
            keys = [keys[0], keys[-1]]
        print(json.dumps({"name": args.export, "frames": args.frames, "keys": keys}, indent=1))
        return 0
    if args.json:
        print(json.dumps(PRESETS, indent=1))
        return 0
    width = max(map(len, PRESETS))
    for name in PRESETS:
        print(f"{name:<{width}}  {PRESET_HELP[name]}")
    return 0
