"""FaceCamPipeline and the facecam engine on a tiny random model in the real layout."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import media_path, one_error_line, tiny_pipeline

from facecam.model.sampling import make_scheduler, release_sigmas
from facecam.model.tiny import write_tiny_model
from facecam.model.transformer import facecam_velocity
from facecam.pipeline import DEFAULT_PROMPT, FaceCamPipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dir(tiny_weights) -> Path:
    return tiny_weights


@pytest.fixture(scope="module")
def pipe(tiny_dir) -> FaceCamPipeline:
    return tiny_pipeline(tiny_dir)


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
    hooks = [m.register_forward_pre_hook(lambda mod, args, kwargs, key=key: seen[key].append(float(kwargs["timestep"][0])),
                                         with_kwargs=True)
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
        v_pos = facecam_velocity(pipe.transformer, x0, src, cam, t, pipe.encode_prompt(DEFAULT_PROMPT))
        v_neg = facecam_velocity(pipe.transformer, x0, src, cam, t, pipe.encode_prompt(""))
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
                            generator=torch.Generator().manual_seed(seed), output_type="uint8").frames
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
def test_cli_make_tiny_model_then_generate_writes_mp4(tmp_path, capsys):
    from facecam.cli import main
    from facecam.video.io import read_video

    video = media_path("facecam_000.mp4")
    assert main(["debug", "make-tiny-model", str(tmp_path / "tiny")]) == 0
    said = capsys.readouterr()  # the folder alone on stdout; what it is, and what to run next, on stderr
    assert said.out == f"{tmp_path / 'tiny'}\n"
    assert said.err.startswith("wrote a tiny random FaceCam model (its output is noise")
    assert f"try: facecam generate clip.mp4 --engine facecam --weights {tmp_path / 'tiny'} " in said.err
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
    (tmp_path / "model.bin").write_text("keep")
    assert main(["debug", "make-tiny-model", str(tmp_path / "model.bin")]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and err.count("\n") == 1 and (tmp_path / "model.bin").read_text() == "keep"


def test_download_plan_fetches_base_and_finetunes_into_dir(tmp_path):
    from facecam.cli.download import download_plan

    plan = download_plan(tmp_path)
    assert [(p["repo_id"], p["local_dir"]) for p in plan] == [
        ("Wan-AI/Wan2.2-I2V-A14B", tmp_path / "Wan2.2-I2V-A14B"), ("wlyu/FaceCam", tmp_path / "FaceCam")]
    assert "Wan2.1_VAE.pth" in plan[0]["allow_patterns"]
    assert download_plan(tmp_path, diffusers=True, only="base")[0]["repo_id"] == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"


def test_download_to_a_file_or_an_unreachable_hub_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """--to an existing file was a FileExistsError traceback; a failed first download left an empty folder and
    said "run the same command again to resume" with nothing to resume."""
    import huggingface_hub

    from facecam.cli import main

    afile = tmp_path / "afile.txt"
    afile.write_text("mine")
    assert main(["download", "--to", str(afile)]) == 2
    one_error_line(capsys, "output path exists and is not a folder")

    def offline(**kwargs):
        raise OSError("Connection refused")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    assert main(["download", "--to", str(tmp_path / "weights")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("facecam: error: download of Wan-AI/Wan2.2-I2V-A14B failed (OSError: Connection refused); check "
                   "the connection and run the same command again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt"]


def test_generate_many_checks_every_input_before_the_model_loads(tiny_dir, tmp_path, capsys, monkeypatch, caplog):
    """A missing last video stopped the batch only after the others had rendered; two inputs of one name
    wrote the same files, the second over the first."""
    import logging
    import shutil

    import facecam.run
    from facecam.cli import main
    from facecam.errors import FacecamError

    def no_loading(options):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(facecam.run, "load_engine", no_loading)
    clip = str(media_path("lp_d0.mp4"))
    common = ["--weights", str(tiny_dir), "--frames", "5", "--size", "64x48", "-o", str(tmp_path / "out")]
    assert main(["generate-many", clip, str(tmp_path / "nope.mp4"), *common]) == 2
    one_error_line(capsys, f"video not found: {tmp_path / 'nope.mp4'}")
    (tmp_path / "other").mkdir()
    shutil.copy(clip, tmp_path / "other" / "lp_d0.mp4")  # another file of the same name
    assert main(["generate-many", clip, str(tmp_path / "other" / "lp_d0.mp4"), *common]) == 2
    one_error_line(capsys, "would both be written as lp_d0.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]
    # The same video twice (here once through a link) is rendered once, with a note.
    (tmp_path / "link.mp4").symlink_to(clip)

    def stop(options):
        raise FacecamError("stopped where the model loads")

    monkeypatch.setattr(facecam.run, "load_engine", stop)
    with caplog.at_level(logging.WARNING, logger="facecam"):
        assert main(["generate-many", clip, str(tmp_path / "link.mp4"), clip, *common]) == 2
    assert "stopped where the model loads" in capsys.readouterr().err
    assert [r.getMessage() for r in caplog.records] == [
        f"facecam: note: {tmp_path / 'link.mp4'} is given more than once; it is rendered once",
        f"facecam: note: {clip} is given more than once; it is rendered once"]


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
    hook = pipe.transformer.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(kwargs["hidden_states"].shape[2]), with_kwargs=True)
    try:
        windowed = run(context_frames=13, context_overlap=4)  # 4-latent windows overlapping by 1: 2 windows
    finally:
        hook.remove()
    assert windowed.shape == plain.shape
    assert torch.equal(windowed, run(context_frames=13, context_overlap=4))
    assert not torch.allclose(windowed, plain)
    assert seen and set(seen) == {8}  # each expert call sees one window: 4 target + 4 source latent frames


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


# --- the conventional diffusers call ----------------------------------------------------------

def _count_expert_and_vae_calls(pipe):
    calls = []
    hooks = [m.register_forward_pre_hook(lambda *a, name=name: calls.append(name))
             for name, m in (("high", pipe.transformer), ("low", pipe.transformer_2))]
    original = pipe.vae.encode
    pipe.vae.encode = lambda *a, **k: (calls.append("vae"), original(*a, **k))[1]
    return calls, hooks, original


@pytest.mark.parametrize("bad, match", [
    (dict(output_type="mp4"), "output_type must be one of"),
    (dict(callback_on_step_end_tensor_inputs=["noise"]), "callback_on_step_end_tensor_inputs"),
    (dict(num_inference_steps=0), "num_inference_steps must be an integer >= 1"),
    (dict(guidance_scale=float("nan")), "guidance_scale must be a finite number"),
    (dict(guidance_scale_2=-1.0), "guidance_scale_2 must be a finite number"),
    (dict(generator=[torch.Generator(), torch.Generator()]), "2 generators for a batch of 1"),
    (dict(latents=torch.zeros(1, 16, 2, 8, 6)), "latents must have shape \\(1, 16, 3, 8, 6\\)"),
    (dict(prompt_embeds=torch.zeros(1, 7, 3)), "prompt_embeds must be"),
    (dict(context_frames=12), "4k\\+1"),
])
def test_bad_arguments_are_refused_before_any_vae_or_expert_call(pipe, videos, bad, match):
    from facecam.errors import FacecamError

    calls, hooks, original = _count_expert_and_vae_calls(pipe)
    try:
        with pytest.raises(FacecamError, match=match):
            pipe(*videos, **bad)
    finally:
        for h in hooks:
            h.remove()
        pipe.vae.encode = original
    assert calls == []


def test_bad_videos_are_refused_with_their_shapes(pipe, videos):
    from facecam.errors import FacecamError

    with pytest.raises(FacecamError, match="frame count must be 4k\\+1, got 8"):
        pipe(videos[0][:8], videos[1][:8])
    with pytest.raises(FacecamError, match="differ in shape"):
        pipe(videos[0], videos[1][:5])
    with pytest.raises(FacecamError, match="multiples of 16, got 64x40"):
        pipe(videos[0][:, :, :40], videos[1][:, :, :40])
    with pytest.raises(FacecamError, match="expected uint8 frames"):
        pipe(videos[0].astype(np.float32), videos[1])


def test_output_types_follow_diffusers_video_processor(pipe, videos):
    """np: float (B, T, H, W, 3) in [0, 1]; pil: lists of PIL images; uint8: the release's truncation."""
    run = lambda kind: pipe(*videos, num_inference_steps=1, output_type=kind,  # noqa: E731
                            generator=torch.Generator().manual_seed(0)).frames
    latents = run("latent")
    pixels = pipe.decode_latents(latents)  # (1, 3, T, H, W) in [-1, 1]
    as_np, as_pil, as_u8, as_pt = run("np"), run("pil"), run("uint8"), run("pt")
    expected = ((pixels + 1) / 2).clamp(0, 1).permute(0, 2, 3, 4, 1).numpy()
    assert as_np.dtype == np.float32 and as_np.shape == (1, 9, 64, 48, 3)
    np.testing.assert_allclose(as_np, expected, atol=1e-6)
    assert as_u8.dtype == np.uint8
    assert np.array_equal(as_u8, ((pixels + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).numpy())
    assert len(as_pil) == 1 and len(as_pil[0]) == 9 and as_pil[0][0].size == (48, 64)
    assert tuple(as_pt.shape) == (1, 9, 3, 64, 48)


def test_guidance_scale_2_applies_to_the_low_noise_expert_only(pipe, videos):
    run = lambda **kw: pipe(*videos, num_inference_steps=3, output_type="latent",  # noqa: E731
                            generator=torch.Generator().manual_seed(0), **kw).frames
    same = run(guidance_scale=5.0)
    assert torch.equal(run(guidance_scale=5.0, guidance_scale_2=5.0), same)
    assert not torch.allclose(run(guidance_scale=5.0, guidance_scale_2=2.0), same)
    calls, hooks, original = _count_expert_and_vae_calls(pipe)
    try:
        pipe(*videos, num_inference_steps=3, guidance_scale=5.0, guidance_scale_2=1.0, output_type="latent")
    finally:
        for h in hooks:
            h.remove()
        pipe.vae.encode = original
    # steps 0-1 (t = 1000, 909) are high-noise with two passes each; step 2 (t = 833) low-noise with one pass
    assert [c for c in calls if c != "vae"] == ["high"] * 4 + ["low"]


def test_a_callback_can_interrupt_and_replace_prompt_embeddings(pipe, videos):
    seen = []

    def stop_after_two(p, i, t, tensors):
        seen.append((i, p.num_timesteps, float(p.current_timestep)))
        if i == 1:
            p._interrupt = True
        return {"prompt_embeds": torch.zeros_like(tensors["prompt_embeds"])}

    out = pipe(*videos, num_inference_steps=4, output_type="latent", callback_on_step_end=stop_after_two,
               callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"])
    assert [s[0] for s in seen] == [0, 1] and out.experts == ["high", "high"]  # t = 1000, 937
    assert seen[0][1] == 4 and seen[0][2] == 1000.0
    assert pipe.current_timestep is None

    # replacing the prompt embeddings from step 0 on changes what follows
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = pipe(*videos, num_inference_steps=2, output_type="latent", generator=g()).frames
    zeroed = pipe(*videos, num_inference_steps=2, output_type="latent", generator=g(),
                  callback_on_step_end=lambda p, i, t, x: {"prompt_embeds": torch.zeros_like(x["prompt_embeds"])},
                  callback_on_step_end_tensor_inputs=["prompt_embeds"]).frames
    assert not torch.allclose(plain, zeroed)


def test_prompt_embeds_stand_in_for_the_prompt(pipe, videos):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    by_text = pipe(*videos, num_inference_steps=2, output_type="latent", generator=g()).frames
    by_embeds = pipe(*videos, prompt=None, num_inference_steps=2, output_type="latent", generator=g(),
                     prompt_embeds=pipe.encode_prompt(DEFAULT_PROMPT),
                     negative_prompt_embeds=pipe.encode_prompt("")).frames
    assert torch.equal(by_text, by_embeds)


def test_batched_guidance_equals_two_passes(pipe, videos):
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda m, a, k: calls.append(k["hidden_states"].shape[0]), with_kwargs=True)
    run = lambda **kw: pipe(*videos, num_inference_steps=3, output_type="latent",  # noqa: E731
                            generator=torch.Generator().manual_seed(0), **kw).frames
    try:
        two = run()
        n_two = list(calls)
        calls.clear()
        one = run(batch_guidance=True)
    finally:
        hook.remove()
    # the high expert's two steps: two batch-1 calls each, or one batch-2 call each
    assert n_two == [1, 1, 1, 1] and calls == [2, 2]
    assert (one - two).abs().max() < 1e-5


def test_vae_normalisation_matches_an_independent_computation(pipe, videos):
    pixels = pipe._video_tensor(videos[0], "s")
    ours = pipe.encode_video(pixels)
    raw = pipe.vae.encode(pixels).latent_dist.mean
    mean = torch.tensor(pipe.vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(pipe.vae.config.latents_std).view(1, 16, 1, 1, 1)
    assert not torch.allclose(mean, torch.zeros_like(mean))  # the tiny VAE has non-trivial statistics
    torch.testing.assert_close(ours, (raw - mean) / std)
    back = pipe.vae.decode(ours * std + mean).sample.clamp(-1, 1)
    torch.testing.assert_close(pipe.decode_latents(ours), back)


def test_a_vae_without_latent_statistics_is_refused():
    from facecam.errors import WeightsError
    from facecam.model.vae import normalize_latents

    with pytest.raises(WeightsError, match="latents_mean / latents_std"):
        normalize_latents(torch.zeros(1, 16, 1, 2, 2), types.SimpleNamespace(latents_mean=None, latents_std=None))


def test_bf16_pipeline_rounds_noise_and_timesteps_through_bf16(tiny_dir, videos):
    """The release's bf16 path: noise stored in bf16, timesteps fed in bf16, latents float32 between steps."""
    p = FaceCamPipeline.from_pretrained(tiny_dir, torch_dtype=torch.bfloat16)
    p.set_progress_bar_config(disable=True)
    assert p.transformer.patch_embedding.weight.dtype == torch.bfloat16
    seen = []
    hook = p.transformer.register_forward_pre_hook(
        lambda m, a, k: seen.append((k["timestep"].dtype, float(k["timestep"][0]), k["hidden_states"].dtype)),
        with_kwargs=True)
    captured = {}
    try:
        out = p(*videos, num_inference_steps=3, output_type="latent", generator=torch.Generator().manual_seed(0),
                callback_on_step_end=lambda pp, i, t, x: captured.setdefault(i, x["latents"].dtype) and {})
    finally:
        hook.remove()
    noise = torch.randn(1, 16, 3, 8, 6, generator=torch.Generator().manual_seed(0))
    assert seen[0][0] == torch.bfloat16 and seen[0][2] == torch.bfloat16
    # t = 1000 is exact in bf16; the values fed are the bf16 roundings of the schedule
    assert seen[0][1] == 1000.0
    assert out.frames.dtype == torch.float32 and captured[0] == torch.float32
    assert torch.isfinite(out.frames).all()
    # noise starts from the float32 draw rounded to bf16: a run from that rounded noise is identical
    again = p(*videos, num_inference_steps=3, output_type="latent",
              latents=noise.to(torch.bfloat16).float()).frames
    assert torch.equal(again, out.frames)
    assert not torch.equal(noise.to(torch.bfloat16).float(), noise)  # the rounding is real


def test_full_size_weights_are_refused_without_a_cuda_device(tmp_path, monkeypatch, capsys):
    """One line, before any loading; a tiny model in the same layout still runs on the CPU."""
    import json

    from facecam.cli import main
    from facecam.engines import engine_class
    from facecam.errors import FacecamError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    root = write_tiny_model(tmp_path / "weights")
    assert engine_class("facecam").availability(weights=str(root)) == (True, "")
    config = root / "Wan2.2-I2V-A14B" / "high_noise_model" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "dim": 5120, "num_heads": 40}))
    ok, why = engine_class("facecam").availability(weights=str(root))
    assert not ok and "need a CUDA GPU" in why and "no CUDA device" in why
    with pytest.raises(FacecamError, match="--device cpu was asked for"):
        engine_class("facecam")(weights=str(root), device="cpu")
    clip = media_path("lp_d0.mp4")
    rc = main(["generate", str(clip), "--engine", "facecam", "--weights", str(root), "--frames", "5",
               "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "need a CUDA GPU" in err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
