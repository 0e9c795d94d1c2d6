"""The run API (facecam.run): options as data, flags generated from them, one naming contract,
a record that reproduces the run, and earlier results that survive a failed run."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

SMALL = dict(frames=5, size=(256, 192))


@pytest.fixture(scope="module")
def portrait_clip():
    import skimage.data

    from facecam.video.io import VideoClip

    return VideoClip(np.repeat(skimage.data.astronaut()[None], 5, axis=0), 24.0, None, 1)


def _parse(argv):
    from facecam.cli import build_parser

    return build_parser().parse_args(argv)


@pytest.mark.parametrize("argv", [["generate", "v.mp4", "-o", "out"], ["condition", "v.mp4", "-o", "out"],
                                  ["bench", "dynamic", "--videos", "v", "-o", "out"]])
def test_bare_flags_are_the_option_dataclasses_defaults(argv):
    from facecam.cli._options import condition_options, engine_options
    from facecam.run import ConditionOptions, EngineOptions

    args = _parse(argv)
    assert condition_options(args) == ConditionOptions()
    if hasattr(args, "steps"):
        assert engine_options(args) == EngineOptions()


def test_every_option_field_has_a_flag_that_sets_it():
    from facecam.cli._options import condition_options, engine_options

    args = _parse(["generate", "v.mp4", "-o", "out", "--camera", "zoom-in", "--strength", "0.5", "--frames", "17",
                   "--fps", "12", "--size", "512x320", "--proxy", "template", "--mode", "absolute", "--seed", "7",
                   "--move-frames", "9", "--start", "1.5", "--duration", "4", "--framing", "reference", "--track",
                   "--profile", "release", "--rotate", "90", "--face", "0.7,0.25", "--engine", "facecam", "--weights", "w", "--steps", "4", "--cfg", "2.5",
                   "--offload", "group", "--device", "cpu", "--dtype", "float32", "--window", "41", "--overlap", "8",
                   "--cache", "mag", "--cache-threshold", "0.1", "--attention", "sage", "--compile", "--quantize", "int8",
                   "--batch-guidance"])
    condition, engine = condition_options(args), engine_options(args)
    assert dataclasses.asdict(condition) == dict(camera="zoom-in", strength=0.5, frames=17, fps=12.0,
                                                 size=(512, 320), proxy="template", mode="absolute", seed=7,
                                                 start=1.5, duration=4.0, move_frames=9, framing="reference",
                                                 track=True, profile="release", rotate=90, face=(0.7, 0.25))
    assert engine.record() == dict(engine="facecam", weights="w", steps=4, cfg=2.5, offload="group", device="cpu",
                                   dtype="float32", window=41, overlap=8, cache="mag", cache_threshold=0.1,
                                   attention="sage", compile=True, quantize="int8", batch_guidance=True,
                                   context_parallel=1)


def test_a_bare_offload_flag_means_group_offload():
    from facecam.cli._options import engine_options

    assert engine_options(_parse(["generate", "v.mp4", "-o", "out", "--offload"])).offload == "group"
    assert engine_options(_parse(["generate", "v.mp4", "-o", "out"])).offload == "none"


def test_warp_is_given_none_of_the_diffusion_options():
    from facecam.run import EngineOptions

    assert EngineOptions(engine="warp", steps=3).engine_kwargs() == {}


def test_diffusion_flags_typed_for_the_warp_engine_are_said_to_be_unused(caplog):
    # --steps 10 --cfg 3 --offload group with the warp engine ran without a word; engine_options was {}.
    from facecam.cli._options import engine_options

    def typed(argv):
        args = _parse(argv)
        args.given_flags = {t.split("=", 1)[0] for t in argv if t.startswith("--")}
        caplog.clear()
        with caplog.at_level("WARNING", logger="facecam"):
            engine_options(args)
        return [r.getMessage() for r in caplog.records]

    base = ["generate", "v.mp4", "-o", "out"]
    assert typed([*base, "--steps", "10", "--cfg=3", "--offload", "group", "--seed", "2"]) == [
        "facecam: note: --steps, --cfg, --offload only apply to --engine facecam; the warp engine ignores them"]
    assert typed([*base, "--weights", "w/"]) == [
        "facecam: note: --weights only applies to --engine facecam; the warp engine ignores it"]
    assert typed(base) == [] and typed([*base, "--engine", "facecam", "--steps", "10"]) == []
    # The release profile reads its proxy head from --weights, whatever the engine: not "ignored".
    assert typed([*base, "--profile", "release", "--weights", "w/"]) == []
    assert typed([*base, "--profile", "release", "--weights", "w/", "--steps", "4"]) == [
        "facecam: note: --steps only applies to --engine facecam; the warp engine ignores it"]


def test_weights_default_to_the_environment(monkeypatch):
    from facecam.run import EngineOptions

    monkeypatch.setenv("FACECAM_WEIGHTS", "/somewhere/weights")
    assert EngineOptions(engine="facecam").record()["weights"] == "/somewhere/weights"


def test_a_run_writes_the_naming_contract_and_records_every_option(portrait_clip, tmp_path):
    from facecam.run import ConditionOptions, EngineOptions, render, write_run
    from facecam.video.io import read_video

    options = ConditionOptions(camera="zoom-in", seed=3, **SMALL)
    result = render(portrait_clip, options, EngineOptions(engine="warp"), name="face")
    written = write_run(result, tmp_path)
    assert sorted(written) == ["face.mp4", "face_camera.json", "face_camera.mp4", "face_input.mp4",
                               "face_preview.mp4"]
    assert read_video(written["face.mp4"], fps=None, num_frames=None).frames.shape == (5, 256, 192, 3)
    record = json.loads(written["face_camera.json"].read_text())
    assert record["engine"] == "warp" and record["engine_options"] == {}
    for name, value in dataclasses.asdict(options).items():
        assert record["options"][name] == (list(value) if isinstance(value, tuple) else value), name
    # The record is enough to run it again: the same options give the same condition.
    again = ConditionOptions.from_record(record)
    assert again == options
    assert np.array_equal(render(portrait_clip, again, name="face").clip.condition, result.clip.condition)


def test_a_condition_only_run_has_no_video_and_no_engine(portrait_clip):
    from facecam.run import ConditionOptions, render

    result = render(portrait_clip, ConditionOptions(**SMALL), name="face")
    assert result.video is None and "face.mp4" not in result.files()
    assert "engine" not in result.record()


def test_a_failed_write_leaves_the_earlier_results_intact(portrait_clip, tmp_path, monkeypatch):
    import facecam.video.outputs as outputs
    from facecam.run import ConditionOptions, EngineOptions, render, write_run

    first = write_run(render(portrait_clip, ConditionOptions(**SMALL), EngineOptions(), name="face"), tmp_path)
    before = {name: path.read_bytes() for name, path in first.items()}
    second = render(portrait_clip, ConditionOptions(camera="zoom-in", **SMALL), EngineOptions(), name="face")

    real_replace, moved = outputs.os.replace, []

    def fail_on_the_third_swap(src, dst):
        if ".previous" not in str(dst):
            moved.append(dst)
            if len(moved) == 3:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", fail_on_the_third_swap)
    with pytest.raises(outputs.VideoError, match="No space left"):
        write_run(second, tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)  # no staging folder left either
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


@pytest.mark.slow
def test_a_failed_generate_into_a_results_folder_keeps_them(tmp_path, astronaut):
    from PIL import Image

    from facecam.cli import main

    photo = tmp_path / "face.png"
    Image.fromarray(astronaut).save(photo)
    out = tmp_path / "out"
    assert main(["generate", str(photo), "-o", str(out), "--frames", "5", "--size", "256x192"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    wall = tmp_path / "face.jpg"  # same stem, no face: fails after the folder was prepared
    Image.fromarray(np.full((256, 256, 3), 200, np.uint8)).save(wall)
    assert main(["generate", str(wall), "-o", str(out), "--frames", "5", "--size", "256x192"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, "before", "after"])
def test_native_log_lines_show_only_with_verbose(tmp_path, verbose):
    """-v before the verb or after it (after it was an "unrecognized argument")."""
    import subprocess
    import sys

    import skimage.data
    from PIL import Image

    photo = tmp_path / "face.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL")}
    argv = [sys.executable, "-m", "facecam", *(["-v"] if verbose == "before" else []), "condition", str(photo),
            "-o", str(tmp_path / "out"), "--frames", "5", "--size", "256x192", *(["-v"] if verbose == "after" else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    assert ("TensorFlow Lite" in done.stderr) == bool(verbose), done.stderr
    assert "landmarks" in done.stderr  # the progress bar still shows


def test_the_record_keeps_every_engine_option_the_run_used(portrait_clip, monkeypatch):
    from facecam.run import ConditionOptions, EngineOptions, render

    class SourceBack:  # stands in for a loaded facecam engine: what is recorded, not what is drawn
        def generate(self, clip, *, seed=None, progress=False):
            return clip.source.copy()

    monkeypatch.delenv("FACECAM_WEIGHTS", raising=False)
    engine = EngineOptions(engine="facecam", weights="/w", steps=7, cfg=3.5, dtype="float16")
    record = render(portrait_clip, ConditionOptions(**SMALL), engine, loaded=SourceBack(), name="face").record()
    assert record["engine"] == "facecam"
    assert record["engine_options"] == dict(weights="/w", steps=7, cfg=3.5, offload="none", device=None,
                                            dtype="float16", window=81, overlap=16, cache="none",
                                            cache_threshold=None, attention="native", compile=False,
                                            quantize="none", batch_guidance=False, context_parallel=1)


def test_generate_into_the_sources_own_folder_never_replaces_the_source(tmp_path, astronaut, capsys):
    """`generate same/clip.mp4 -o same` wrote the result as same/clip.mp4 over the source, exit 0."""
    from facecam.cli import main
    from facecam.video.io import write_video

    folder = tmp_path / "same"
    folder.mkdir()
    source = write_video(folder / "clip.mp4", np.repeat(astronaut[None], 5, axis=0), 24.0)
    before = source.read_bytes()
    code = main(["generate", str(source), "--frames", "5", "--size", "128x96", "-o", str(folder)])
    err = capsys.readouterr().err
    assert code != 0 and "would replace the source video" in err and "Traceback" not in err
    assert source.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["clip.mp4"]  # nothing else written either


def test_a_folder_named_like_a_result_and_an_earlier_result_under_a_new_condition_are_refused(tmp_path, astronaut,
                                                                                             capsys):
    """A folder `out/clip.mp4/` was moved aside and deleted with its files, exit 0; `condition` into a
    folder holding a `generate` run's result left that result beside the new camera's files."""
    from facecam.cli import main
    from facecam.video.io import write_video

    source = write_video(tmp_path / "clip.mp4", np.repeat(astronaut[None], 5, axis=0), 24.0)
    small = ["--frames", "5", "--size", "128x96"]
    out = tmp_path / "out"
    (out / "clip.mp4").mkdir(parents=True)
    (out / "clip.mp4" / "keep.txt").write_text("precious")
    code = main(["generate", str(source), *small, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "clip.mp4 is in the way of a result of that name and is not a file" in err
    assert (out / "clip.mp4" / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4"]

    run = tmp_path / "run"
    assert main(["generate", str(source), *small, "-c", "zoom-in", "-o", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    code = main(["condition", str(source), *small, "-c", "arc-right", "-o", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and "holds an earlier run's result clip.mp4; this condition would sit beside it" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # beside its own source a condition is written as ever (the source is no result)
    assert main(["condition", str(source), *small, "-o", str(tmp_path)]) == 0
    assert (tmp_path / "clip_camera.mp4").is_file() and source.is_file()


@pytest.mark.parametrize("window, overlap, message", [
    (9, 8, "--overlap must be a multiple of 4 video frames from 0 to 4 (the window of 9 less 5: each window must "
           "add new frames), got 8"),
    (81, 6, "--overlap must be a multiple of 4 video frames from 0 to 76"),
    (80, 16, "--window must be 4k+1 video frames, at least 5 (e.g. 81), got 80"),
])
def test_window_options_are_checked_before_the_engine_loads(tiny_weights, window, overlap, message):
    # --window 9 --overlap 8 was refused only once the model had loaded, as an overlap "shorter than the
    # window" - which 8 is.
    from facecam.errors import FacecamError
    from facecam.run import EngineOptions, check_engine

    options = EngineOptions(engine="facecam", weights=str(tiny_weights), window=window, overlap=overlap)
    with pytest.raises(FacecamError, match="^" + re.escape(message)):
        check_engine(options)
    check_engine(EngineOptions(engine="facecam", weights=str(tiny_weights), window=9, overlap=4))


@pytest.mark.parametrize("option, message", [
    (dict(steps=0), "--steps must be a whole number of denoising steps, at least 1, got 0"),
    (dict(cfg=float("nan")), "--cfg must be a finite guidance scale >= 0 (1 = no guidance), got nan"),
    (dict(cfg=-5.0), "--cfg must be a finite guidance scale >= 0"),
    (dict(cache="first-block", cache_threshold=-1.0), "--cache-threshold must be a finite number above 0, got -1.0"),
    (dict(cache="taylorseer", cache_threshold=0.5), "--cache-threshold for taylorseer is the steps between full "
                                                    "computations (a whole number >= 1), got 0.5"),
    (dict(device="tpu"), "unknown --device 'tpu': use cuda, cuda:N, cpu or mps"),
    (dict(device="meta"), "--device meta: the facecam engine runs on cuda, cpu or mps"),
    (dict(device="cpu", offload="group"), "--offload group moves weights between CPU memory and a GPU"),
    (dict(attention="nonsense"), "unknown attention backend 'nonsense'"),
    (dict(device="cpu", quantize="fp8"), "--quantize fp8 needs a GPU with fp8 support"),
])
def test_engine_numbers_and_device_are_checked_before_any_weight_loads(tiny_weights, monkeypatch, option, message):
    # --steps 0 and --cfg nan were refused by the pipeline once both fine-tunes had loaded, --cache-threshold -1
    # ran, and --device tpu / meta / cuda on a CPU build ended in a traceback.
    from facecam.errors import FacecamError
    from facecam.pipeline import FaceCamPipeline
    from facecam.run import EngineOptions, check_engine, load_engine

    loads = []
    monkeypatch.setattr(FaceCamPipeline, "from_weights", classmethod(lambda cls, *a, **k: loads.append(a)))
    options = EngineOptions(engine="facecam", weights=str(tiny_weights), **option)
    with pytest.raises(FacecamError, match="^" + re.escape(message)):
        check_engine(options)
    with pytest.raises(FacecamError, match="^" + re.escape(message)):
        load_engine(options)
    assert loads == []


def test_a_cuda_device_this_machine_cannot_use_is_one_line(monkeypatch):
    import torch

    from facecam.engines.diffusion import resolve_device_name
    from facecam.errors import FacecamError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(FacecamError, match=r"^--device cuda: this PyTorch is a CPU build; use --device cpu"):
        resolve_device_name("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    with pytest.raises(FacecamError, match=r"^--device cuda:1: no CUDA GPU is visible"):
        resolve_device_name("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device_name("cuda:0") == "cuda:0"
    with pytest.raises(FacecamError, match=r"^--device cuda:1: this machine shows 1 CUDA GPU\(s\)"):
        resolve_device_name("cuda:1")
    assert resolve_device_name("cpu") == "cpu" and resolve_device_name(None) is None


def test_a_warp_run_beyond_the_models_range_warns_once_in_the_warps_words(portrait_clip, tmp_path, caplog):
    """README: a move that leaves 45 deg from frontal prints one warning line. A warp run printed two, the first
    about the FaceCam model it did not run; a condition-only run (for the model) keeps the model's line."""
    import json
    import logging

    from facecam.run import ConditionOptions, EngineOptions, render

    keys = tmp_path / "far.json"
    keys.write_text(json.dumps({"frames": 5, "keys": [{"t": 0, "yaw": 0}, {"t": 4, "yaw": -50}]}))
    options = ConditionOptions(camera=str(keys), **SMALL)
    said = {}
    for engine in (EngineOptions(), None):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="facecam"):
            render(portrait_clip, options, engine, name="face")
        said[engine is None] = [r.getMessage() for r in caplog.records if " deg " in r.getMessage()]
    warp, condition = said[False], said[True]
    assert len(warp) == 1 and "warp engine" in warp[0] and "FaceCam model" not in warp[0]
    assert len(condition) == 1 and "the FaceCam model (--engine facecam) was trained within 45 deg" in condition[0]
