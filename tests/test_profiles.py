"""--profile release: the authors' released inference, piece by piece, on the tiny model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import media_path, tiny_pipeline

from facecam.errors import FacecamError
from facecam.run import ConditionOptions, EngineOptions, render, write_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_default_profile_changes_nothing(tiny_weights):
    from facecam.profiles import resolve_profile

    options = ConditionOptions(camera="zoom-in", frames=17)
    assert resolve_profile(options, str(tiny_weights)) is options


def test_release_fixes_camera_head_frames_and_framing(tiny_weights):
    from facecam.profiles import resolve_profile

    release = resolve_profile(ConditionOptions(profile="release"), str(tiny_weights))
    assert release.mode == "absolute" and release.camera == "random"
    assert release.proxy == str(tiny_weights / "FaceCam" / "gaussians.ply")
    assert release.fps is None and release.framing == "reference" and release.track is False
    # a camera the user chose is kept; so is an explicit .ply head
    chosen = resolve_profile(ConditionOptions(profile="release", camera="zoom-in", proxy="/x/head.ply"), None)
    assert chosen.camera == "zoom-in" and chosen.proxy == "/x/head.ply"


@pytest.mark.parametrize("options, match", [
    (dict(mode="relative"), None),  # relative is the default: not an explicit conflict
    (dict(framing="auto"), None),
    (dict(proxy="template"), "drop --proxy template"),
    (dict(track=True), "drop --track True"),
    (dict(fps=12.0), "drop --fps 12.0"),
])
def test_release_refuses_options_it_fixes_by_name(tiny_weights, options, match):
    from facecam.profiles import resolve_profile

    opts = ConditionOptions(profile="release", **options)
    if match is None:
        assert resolve_profile(opts, str(tiny_weights)).mode == "absolute"
    else:
        with pytest.raises(FacecamError, match=match):
            resolve_profile(opts, str(tiny_weights))


def test_release_without_weights_says_where_the_head_comes_from(tmp_path, monkeypatch):
    from facecam.profiles import resolve_profile

    monkeypatch.delenv("FACECAM_WEIGHTS", raising=False)
    with pytest.raises(FacecamError, match="give --weights DIR"):
        resolve_profile(ConditionOptions(profile="release"), None)
    with pytest.raises(FacecamError, match="no gaussians.ply in"):
        resolve_profile(ConditionOptions(profile="release"), str(tmp_path))


def test_condition_verb_takes_the_weights_folder_of_the_release_head(tiny_weights, astronaut, tmp_path, capsys,
                                                                     monkeypatch):
    # `facecam condition --profile release` was told to "give --weights DIR", a flag it did not have.
    import json

    from facecam.cli import main

    monkeypatch.delenv("FACECAM_WEIGHTS", raising=False)
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    argv = ["condition", str(photo), "--profile", "release", "--frames", "5", "-o", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "give --weights DIR (or $FACECAM_WEIGHTS), or --proxy PATH.ply" in capsys.readouterr().err
    assert main([*argv, "--weights", str(tiny_weights)]) == 0
    record = json.loads((tmp_path / "out" / "astronaut_camera.json").read_text())
    assert record["options"]["proxy"] == str(tiny_weights / "FaceCam" / "gaussians.ply")
    assert record["options"]["mode"] == "absolute"


def test_release_crop_resizes_bilinearly():
    from facecam.video.crop import apply_crop, reference_crop

    frame = np.random.default_rng(0).integers(0, 256, (1080, 720, 3), dtype=np.uint8)
    box = reference_crop((1080, 720), (360.0, 500.0), (704, 480))  # a shrink: 720 -> 480 wide
    linear = apply_crop(frame, box, "linear")
    expected = cv2.resize(frame, (box.resized_w, box.resized_h), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(linear, expected[box.top:box.top + 704, box.left:box.left + 480])
    assert not np.array_equal(linear, apply_crop(frame, box))  # the default shrinks with the area filter


def test_release_takes_consecutive_source_frames_at_the_files_rate(tiny_weights):
    """lp_d3 is 30 fps: the default resamples to 24 fps, the release takes frames 0..N-1 as they are."""
    from facecam.video.crop import apply_crop
    from facecam.video.io import read_video

    path = media_path("lp_d3.mp4")
    default = render(path, ConditionOptions(frames=9, size=(256, 192), camera="static"))
    release = render(path, ConditionOptions(frames=9, size=(256, 192), profile="release"),
                     EngineOptions(engine="warp", weights=str(tiny_weights)))
    assert default.clip.fps == 24.0 and release.clip.fps == 30.0
    assert release.clip.options["profile"] == "release" and release.clip.options["fps"] == 30.0
    # frames 0..8 of the file, each cropped with the release's box and bilinear resize
    raw = read_video(path, fps=None, num_frames=9).frames
    assert np.array_equal(release.clip.source, apply_crop(raw, release.clip.crop, "linear"))
    resampled = read_video(path, fps=24.0, num_frames=9).frames
    assert not np.array_equal(raw[-1], resampled[-1])  # at 24 fps the 9th frame is a later one of the file
    record = release.record()
    assert record["options"]["profile"] == "release" and record["options"]["mode"] == "absolute"
    assert record["options"]["proxy"].endswith("gaussians.ply")


def test_latents_stored_in_bf16_between_steps(tiny_weights, videos):
    pipe = tiny_pipeline(tiny_weights)
    seen = []

    def grab(p, i, t, x):
        seen.append(x["latents"].clone())
        return {}

    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    rounded = pipe(*videos, num_inference_steps=3, output_type="latent", generator=g(), callback_on_step_end=grab,
                   latents_dtype=torch.bfloat16).frames
    plain = pipe(*videos, num_inference_steps=3, output_type="latent", generator=g()).frames
    assert all(torch.equal(x, x.to(torch.bfloat16).float()) for x in seen)
    assert not torch.equal(rounded, plain)
    assert (rounded - plain).abs().max() < 0.1  # rounding, not a different computation


def test_release_profile_runs_end_to_end_on_the_tiny_model(tiny_weights, tmp_path, astronaut, monkeypatch):
    """Condition from the weights' gaussians.ply, bf16 VAE and latents, recorded in _camera.json."""
    from PIL import Image

    from facecam.pipeline import FaceCamPipeline

    calls = []
    original = FaceCamPipeline.__call__

    def spy(self, *args, **kwargs):
        calls.append((kwargs.get("latents_dtype"), self.vae.dtype, self.vae.use_tiling))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FaceCamPipeline, "__call__", spy)
    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut).save(photo)
    engine = EngineOptions(engine="facecam", weights=str(tiny_weights), steps=2, device="cpu", dtype="float32")
    # diffusers logs through its own handler (its loggers do not reach pytest's capture): listen on the logger
    import logging

    heard: list = []
    listener = logging.Handler()
    listener.emit = heard.append
    chatter = logging.getLogger("diffusers.models.modeling_utils")
    chatter.addHandler(listener)
    try:
        run = render(photo, ConditionOptions(profile="release", frames=5, size=(64, 48), seed=3), engine)
    finally:
        chatter.removeHandler(listener)
    assert calls == [(torch.bfloat16, torch.bfloat16, False)]
    # the bf16 cast of the VAE is the release's; diffusers' warning about it ("kept in float32: []") is not shown
    assert not [r for r in heard if "kept in float32" in r.getMessage()]
    assert run.video.shape == (5, 64, 48, 3)  # (small: a bf16 VAE is slow on a CPU, 84 s at 256x192)
    # the condition is the proxy head's render in the top square, white below
    assert (run.clip.condition[:, 48:] == 255).all() and (run.clip.condition[:, :48] < 250).any()
    written = write_run(run, tmp_path / "out")
    record = json.loads(written["portrait_camera.json"].read_text())
    assert record["options"]["profile"] == "release" and record["options"]["camera"] == "random"
    assert record["options"]["mode"] == "absolute"


def test_the_command_line_cannot_hand_the_release_profile_a_default_valued_conflict(tiny_weights, tmp_path, capsys):
    """`--mode relative` typed out is refused like any other conflict; a typed `--camera arc-left` is kept."""
    from facecam.cli import main

    clip = media_path("lp_d0.mp4")
    rc = main(["condition", str(clip), "--profile", "release", "--mode", "relative", "--frames", "5",
               "-o", str(tmp_path / "a")])
    assert rc == 2 and "drop --mode relative" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    rc = main(["condition", str(clip), "--profile", "release", "--camera=arc-left", "--frames", "5", "--size",
               "256x192", "--proxy", str(tiny_weights / "FaceCam" / "gaussians.ply"), "-o", str(tmp_path / "b")])
    assert rc == 0
    options = json.loads((tmp_path / "b" / "lp_d0_camera.json").read_text())["options"]
    assert options["camera"] == "arc-left" and options["mode"] == "absolute"
