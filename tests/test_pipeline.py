"""FaceCamPipeline and the facecam engine on a tiny random model in the real layout."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import media_path

from facecam.model.tiny import write_tiny_model
from facecam.pipeline import (
    DEFAULT_PROMPT, FaceCamPipeline, make_scheduler, release_sigmas,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")




@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "weights")


@pytest.fixture(scope="module")
def pipe(tiny_dir) -> FaceCamPipeline:
    p = FaceCamPipeline.from_pretrained(tiny_dir, torch_dtype=torch.float32)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8),
            rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8))


def _reference_timesteps(steps: int) -> np.ndarray:
    s = np.linspace(1.0, 0.0, steps + 1)[:-1]
    return 1000.0 * (5.0 * s / (1.0 + 4.0 * s))


def test_schedule_is_the_release_shifted_linear_schedule():
    scheduler = make_scheduler()
    scheduler.set_timesteps(sigmas=release_sigmas(50).tolist())
    np.testing.assert_allclose(scheduler.timesteps.numpy(), _reference_timesteps(50), rtol=1e-6, atol=1e-3)
    assert scheduler.sigmas[-1].item() == 0.0 and len(scheduler.sigmas) == 51
    assert int((scheduler.timesteps >= 900).sum()) == 18  # 18 high-noise steps of 50


def test_high_expert_runs_exactly_on_steps_with_t_at_least_900(pipe, videos):
    seen = {"high": [], "low": []}
    hooks = [m.register_forward_pre_hook(lambda mod, args, key=key: seen[key].append(float(args[3][0])))
             for key, m in (("high", pipe.transformer), ("low", pipe.transformer_2))]
    try:
        out = pipe(*videos, num_inference_steps=10, guidance_scale=5.0, generator=torch.Generator().manual_seed(0),
                   output_type="latent")
    finally:
        for h in hooks:
            h.remove()
    ts = _reference_timesteps(10)
    expected_high = [t for t in ts if t >= 900]
    expected_low = [t for t in ts if t < 900]
    assert len(expected_high) == 4 and len(expected_low) == 6
    # two calls per step (conditional + unconditional)
    np.testing.assert_allclose(seen["high"], np.repeat(expected_high, 2), atol=1e-3)
    np.testing.assert_allclose(seen["low"], np.repeat(expected_low, 2), atol=1e-3)
    assert out.experts == ["high"] * 4 + ["low"] * 6


@pytest.mark.slow
def test_one_step_is_guided_euler_on_the_velocity(pipe, videos):
    """After step 0: x1 = x0 + (sigma'_1 - sigma'_0) * (v_neg + g (v_pos - v_neg)), computed by hand."""
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(1, 16, 3, 8, 6, generator=g)
    captured = {}

    def grab(p, i, t, tensors):
        if i == 0:
            captured["x1"] = tensors["latents"].clone()
        return {}

    pipe(*videos, num_inference_steps=2, guidance_scale=5.0, latents=x0.clone(), output_type="latent",
         callback_on_step_end=grab)
    src = pipe.encode_video(pipe._video_tensor(videos[0], "s"))
    cam = pipe.encode_video(pipe._video_tensor(videos[1], "c"))
    t = torch.tensor([1000.0])
    with torch.no_grad():
        v_pos = pipe.transformer(x0, src, cam, t, pipe.encode_prompt(DEFAULT_PROMPT))
        v_neg = pipe.transformer(x0, src, cam, t, pipe.encode_prompt(""))
    sigma1 = 5 * 0.5 / (1 + 4 * 0.5)
    expected = x0 + (sigma1 - 1.0) * (v_neg + 5.0 * (v_pos - v_neg))
    assert torch.allclose(captured["x1"], expected, atol=1e-5)


def test_guidance_one_skips_the_negative_pass(pipe, videos):
    calls = []
    hooks = [m.register_forward_pre_hook(lambda *a: calls.append(1)) for m in (pipe.transformer, pipe.transformer_2)]
    try:
        pipe(*videos, num_inference_steps=2, guidance_scale=1.0, output_type="latent")
    finally:
        for h in hooks:
            h.remove()
    assert len(calls) == 2  # one pass per step (t = 1000 high, t = 833 low)


@pytest.mark.slow
def test_seed_makes_runs_reproducible(pipe, videos):
    run = lambda seed: pipe(*videos, num_inference_steps=3,  # noqa: E731
                            generator=torch.Generator().manual_seed(seed)).frames
    a, b, c = run(7), run(7), run(8)
    assert a.shape == (1, 9, 64, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_callback_can_replace_latents(pipe, videos):
    steps = []

    def zero(p, i, t, tensors):
        steps.append(i)
        return {"latents": torch.zeros_like(tensors["latents"])}

    out = pipe(*videos, num_inference_steps=3, output_type="latent", callback_on_step_end=zero)
    assert steps == [0, 1, 2]
    assert torch.count_nonzero(out.frames) == 0


def test_bad_frame_count_is_a_clear_error(pipe, videos):
    from facecam.errors import FacecamError

    with pytest.raises(FacecamError, match="4k\\+1"):
        pipe(videos[0][:8], videos[1][:8], num_inference_steps=1)


@pytest.mark.slow
def test_second_run_uses_cached_prompt_embeddings_without_text_encoder(tmp_path, videos, monkeypatch):
    root = write_tiny_model(tmp_path / "w")
    first = FaceCamPipeline.from_pretrained(root, torch_dtype=torch.float32)
    first.set_progress_bar_config(disable=True)
    a = first(*videos, num_inference_steps=2, generator=torch.Generator().manual_seed(1)).frames
    cache = sorted((root / "facecam_cache" / "prompt_embeds").glob("*.safetensors"))
    assert len(cache) == 2  # the prompt and the empty negative prompt
    assert first.text_encoder is None  # released after encoding

    import facecam.model.weights as weights
    import transformers

    def forbidden(*args, **kwargs):
        raise AssertionError("text encoder constructed on a cached run")

    monkeypatch.setattr(weights, "load_text_encoder", forbidden)
    monkeypatch.setattr(weights, "t5_from_native", forbidden)
    monkeypatch.setattr(transformers.UMT5EncoderModel, "__init__", forbidden)
    second = FaceCamPipeline.from_pretrained(root, torch_dtype=torch.float32)
    second.set_progress_bar_config(disable=True)
    b = second(*videos, num_inference_steps=2, generator=torch.Generator().manual_seed(1)).frames
    assert np.array_equal(a, b)


def test_save_pretrained_round_trip_runs_without_text_encoder(pipe, videos, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [
        "model_index.json", "prompt_embeds", "scheduler", "transformer", "transformer_2", "vae"]
    again = FaceCamPipeline.from_pretrained(tmp_path / "saved", torch_dtype=torch.float32)
    again.set_progress_bar_config(disable=True)
    kw = dict(num_inference_steps=3, output_type="latent")
    a = pipe(*videos, generator=torch.Generator().manual_seed(2), **kw).frames
    b = again(*videos, generator=torch.Generator().manual_seed(2), **kw).frames
    assert again.text_encoder is None
    assert torch.allclose(a, b, atol=1e-4)


# --------------------------------------------------------------------------- engine + CLI
def test_engine_reports_missing_weights_with_download_hint(tmp_path):
    from facecam.engines import engine_class

    ok, why = engine_class("facecam").availability(weights=str(tmp_path))
    assert not ok and "facecam download --to" in why
    ok, why = engine_class("facecam").availability(weights=None)
    assert not ok and "--weights" in why


@pytest.mark.slow
def test_engine_generates_requested_frames_from_a_shared_clip(tiny_dir):
    from facecam.engines import get_engine
    from facecam.video import io

    clip = io.read_video(media_path("facecam_000.mp4"), fps=24, num_frames=9)
    # 480x704 source: take a centred 192x144 window and subsample by 3 -> 64x48
    frames = clip.frames[:, 256:448:3, 168:312:3]
    condition = np.full_like(frames, 255)
    condition[:, 20:40, 15:30] = (48, 255, 48)
    fake = types.SimpleNamespace(source=np.ascontiguousarray(frames), condition=condition, fps=24.0, name="x")
    engine = get_engine("facecam", weights=str(tiny_dir), steps=3, cfg=5.0, offload=False, device="cpu",
                        dtype="float32")
    out = engine.generate(fake, seed=0, progress=False)
    assert out.shape == (9, 64, 48, 3) and out.dtype == np.uint8
    assert np.array_equal(out, engine.generate(fake, seed=0, progress=False))


@pytest.mark.slow
def test_cli_make_tiny_model_then_generate_writes_mp4(tmp_path):
    from facecam.cli import main
    from facecam.video.io import read_video

    video = media_path("facecam_000.mp4")
    assert main(["debug", "make-tiny-model", str(tmp_path / "tiny")]) == 0
    assert (tmp_path / "tiny" / "Wan2.2-I2V-A14B" / "Wan2.1_VAE.pth").is_file()
    rc = main(["generate", str(video), "--camera", "arc-left", "--engine", "facecam", "--weights",
               str(tmp_path / "tiny"), "--frames", "9", "--size", "64x48", "--steps", "3", "--seed", "0",
               "--device", "cpu", "-o", str(tmp_path / "out")])
    assert rc == 0
    result = read_video(tmp_path / "out" / "facecam_000.mp4", fps=None, num_frames=None)
    assert result.frames.shape == (9, 64, 48, 3)
    assert (tmp_path / "out" / "facecam_000_camera.mp4").is_file()


def test_cli_generate_without_weights_says_what_to_download(tmp_path, capsys):
    from facecam.cli import main

    video = media_path("facecam_000.mp4")
    rc = main(["generate", str(video), "--engine", "facecam", "--weights", str(tmp_path / "none"),
               "-o", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "facecam download --to" in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "facecam_000.mp4").exists()


def test_make_tiny_model_refuses_a_non_empty_folder(tmp_path, capsys):
    from facecam.cli import main

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("keep")
    assert main(["debug", "make-tiny-model", str(tmp_path / "x")]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_download_plan_fetches_base_and_finetunes_into_dir(tmp_path):
    from facecam.cli.download import download_plan

    plan = download_plan(tmp_path)
    assert [(p["repo_id"], p["local_dir"]) for p in plan] == [
        ("Wan-AI/Wan2.2-I2V-A14B", tmp_path / "Wan2.2-I2V-A14B"), ("wlyu/FaceCam", tmp_path / "FaceCam")]
    assert "Wan2.1_VAE.pth" in plan[0]["allow_patterns"]
    assert download_plan(tmp_path, diffusers=True, only="base")[0]["repo_id"] == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"


@pytest.mark.slow
def test_generate_many_shards_videos_by_rank(tiny_dir, tmp_path, monkeypatch):
    from facecam.cli import main

    videos = [str(media_path("facecam_000.mp4")), str(media_path("facecam_007.mp4"))]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    rc = main(["generate-many", *videos, "--weights", str(tiny_dir), "--frames", "5", "--size", "64x48",
               "--steps", "1", "--dtype", "float32", "-o", str(tmp_path / "out")])
    assert rc == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "facecam_007.mp4" in written  # rank 1 of 2 takes the second video ...
    assert not any(name.startswith("facecam_000") for name in written)  # ... and only that one


def test_context_windows_as_long_as_the_clip_give_exactly_the_plain_result(pipe):
    """Long clips: a window covering the clip is the un-windowed pipeline; shorter windows run,
    call the experts per window (at the window's length) and are deterministic."""
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (25, 32, 32, 3), dtype=np.uint8)  # 7 latent frames
    cond = rng.integers(0, 256, (25, 32, 32, 3), dtype=np.uint8)
    run = lambda **kw: pipe(src, cond, num_inference_steps=2, output_type="latent",  # noqa: E731
                            generator=torch.Generator().manual_seed(3), **kw).frames
    plain = run()
    assert torch.equal(run(context_frames=25), plain)
    assert torch.equal(run(context_frames=81), plain)

    seen = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[2]))
    try:
        windowed = run(context_frames=13, context_overlap=4)  # 4-latent windows overlapping by 1: 2 windows
    finally:
        hook.remove()
    assert windowed.shape == plain.shape
    assert torch.equal(windowed, run(context_frames=13, context_overlap=4))
    assert not torch.allclose(windowed, plain)
    assert seen and set(seen) == {4}  # each expert call sees one window's target latents


def test_bad_context_windows_are_refused_before_any_work(pipe, videos):
    from facecam.errors import FacecamError

    with pytest.raises(FacecamError, match="4k\\+1"):
        pipe(*videos, num_inference_steps=1, context_frames=12)
    with pytest.raises(FacecamError, match="multiple of 4"):
        pipe(*videos, num_inference_steps=1, context_frames=5, context_overlap=3)


def test_every_expert_call_runs_inside_its_cache_context(pipe, videos):
    """diffusers' cache hooks need a named context per pass: "cond", then "uncond", at every step."""
    calls = []
    for expert in (pipe.transformer, pipe.transformer_2):
        original = expert.cache_context

        def spy(name, _original=original, **kwargs):
            calls.append((name, kwargs["step_index"]))
            return _original(name, **kwargs)

        expert.cache_context = spy
    try:
        pipe(*videos, num_inference_steps=3, guidance_scale=5.0, output_type="latent")
        assert calls == [("cond", 0), ("uncond", 0), ("cond", 1), ("uncond", 1), ("cond", 2), ("uncond", 2)]
        calls.clear()
        pipe(*videos, num_inference_steps=2, guidance_scale=1.0, output_type="latent")
        assert calls == [("cond", 0), ("cond", 1)]
    finally:
        for expert in (pipe.transformer, pipe.transformer_2):
            del expert.cache_context


def test_a_diffusers_first_block_cache_runs_and_a_zero_threshold_changes_nothing(tiny_dir, videos):
    """With the contexts set, diffusers' First-Block cache plugs in: threshold 0 never reuses (same
    latents as without it); a huge threshold reuses after the first step and changes the result."""
    from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache

    def run(threshold):
        p = FaceCamPipeline.from_pretrained(tiny_dir, torch_dtype=torch.float32)
        p.set_progress_bar_config(disable=True)
        if threshold is not None:
            for expert in (p.transformer, p.transformer_2):
                apply_first_block_cache(expert, FirstBlockCacheConfig(threshold=threshold))
        return p(*videos, num_inference_steps=3, output_type="latent",
                 generator=torch.Generator().manual_seed(0)).frames

    plain = run(None)
    assert torch.allclose(run(0.0), plain, atol=1e-6)
    assert not torch.allclose(run(1e9), plain, atol=1e-3)


def test_unknown_facecam_engine_options_are_refused(tiny_dir):
    from facecam.engines import get_engine
    from facecam.errors import FacecamError

    with pytest.raises(FacecamError, match="unknown facecam engine option.*stpes"):
        get_engine("facecam", weights=str(tiny_dir), stpes=3)
