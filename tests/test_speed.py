"""The speed and memory options (facecam.speed) on the tiny random model, on the CPU in fp32.

``--compile`` is checked for its wiring only: compiling even the tiny model's block takes about
20 s on this CPU (inductor builds C++), too long for a unit test; ``--offload`` needs a GPU, so
its wiring is checked with the device calls recorded; ``--quantize`` runs when torchao is installed.
"""

from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest
import torch

from conftest import tiny_pipeline

from facecam import speed
from facecam.errors import FacecamError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEPS = 10  # 4 high-noise + 6 low-noise steps: enough for every cache to reuse after its warm-up


@pytest.fixture(scope="module")
def pipe(tiny_weights):
    return tiny_pipeline(tiny_weights)


def _latents(pipe, videos) -> torch.Tensor:
    return pipe(*videos, num_inference_steps=STEPS, output_type="latent",
                generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def plain(pipe, videos) -> torch.Tensor:
    return _latents(pipe, videos)


@pytest.fixture(scope="module")
def mag_ratios(pipe, videos):
    return speed.calibrate_mag_cache(pipe, *videos, steps=STEPS)


def _relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------- cache
def test_each_expert_runs_its_share_of_the_steps(pipe):
    assert speed.expert_steps(pipe, 50) == {"transformer": 18, "transformer_2": 32}
    assert speed.expert_steps(pipe, STEPS) == {"transformer": 4, "transformer_2": 6}


def test_mag_calibration_gives_one_ratio_per_step_of_each_expert(mag_ratios):
    assert mag_ratios["steps"] == STEPS
    assert len(mag_ratios["transformer"]) == 4 and len(mag_ratios["transformer_2"]) == 6
    for table in (mag_ratios["transformer"], mag_ratios["transformer_2"]):
        assert table[0] == 1.0  # an expert's first step has no previous residual
        assert all(0.5 < r < 2.0 and r != 1.0 for r in table[1:])


def test_calibration_leaves_no_cache_behind_and_does_not_change_the_result(pipe, videos, plain, mag_ratios):
    assert not pipe.transformer.is_cache_enabled and not pipe.transformer_2.is_cache_enabled
    assert torch.equal(_latents(pipe, videos), plain)


@pytest.mark.parametrize("kind, threshold", [("first-block", 1e9), ("taylorseer", 1000), ("mag", 1e9)])
def test_a_cache_that_always_reuses_changes_the_result(pipe, videos, plain, mag_ratios, kind, threshold):
    try:
        speed.apply_cache(pipe, kind, threshold, steps=STEPS, mag_ratios=mag_ratios)
        cached = _latents(pipe, videos)
    finally:
        speed.apply_cache(pipe, "none")
    assert 1e-3 < _relative_l2(cached, plain) < 0.5


@pytest.mark.parametrize("kind", ["first-block", "mag"])
def test_a_zero_threshold_never_reuses(pipe, videos, plain, mag_ratios, kind):
    try:
        speed.apply_cache(pipe, kind, 0.0, steps=STEPS, mag_ratios=mag_ratios)
        assert pipe.transformer.is_cache_enabled
        cached = _latents(pipe, videos)
    finally:
        speed.apply_cache(pipe, "none")
    assert torch.equal(cached, plain)


def test_cache_none_removes_a_cache_and_leaves_the_result_bit_identical(pipe, videos, plain):
    speed.apply_cache(pipe, "first-block", 1e9)
    speed.apply_cache(pipe, "none")
    assert not pipe.transformer.is_cache_enabled and not pipe.transformer_2.is_cache_enabled
    assert torch.equal(_latents(pipe, videos), plain)


def test_mag_cache_without_ratios_is_one_clear_line(tiny_weights):
    from facecam.engines.diffusion import FaceCamEngine

    with pytest.raises(FacecamError, match=r"run `facecam calibrate-cache --weights .*` once") as err:
        FaceCamEngine(weights=str(tiny_weights), device="cpu", cache="mag")
    assert "\n" not in str(err.value)


def test_calibrate_cache_writes_the_ratios_generate_reads(tmp_path, capsys):
    from facecam.cli import main
    from facecam.engines.diffusion import FaceCamEngine
    from facecam.model.tiny import write_tiny_model

    weights = write_tiny_model(tmp_path / "weights")
    assert main(["calibrate-cache", "--weights", str(weights), "--frames", "9", "--size", "64x48",
                 "--steps", "4", "--device", "cpu"]) == 0
    written = capsys.readouterr().out.strip()
    assert written == str(weights / "facecam_cache" / "mag_ratios.json")
    engine = FaceCamEngine(weights=str(weights), device="cpu", steps=4, cache="mag")
    assert len(engine.mag_ratios["transformer"]) == 2 and len(engine.mag_ratios["transformer_2"]) == 2
    assert engine.pipeline.transformer.is_cache_enabled and engine.pipeline.transformer_2.is_cache_enabled


def test_a_cache_refuses_clips_longer_than_one_window(tiny_weights):
    from types import SimpleNamespace

    from facecam.engines.diffusion import FaceCamEngine

    engine = FaceCamEngine(weights=str(tiny_weights), device="cpu", cache="first-block", window=9)
    frames = np.zeros((13, 64, 48, 3), np.uint8)
    with pytest.raises(FacecamError, match="cannot follow several temporal windows"):
        engine.generate(SimpleNamespace(source=frames, condition=frames, name="long"), progress=False)
    assert engine._pipe is None  # refused before the model was built


# --------------------------------------------------------------------------- attention
def test_native_attention_gives_the_default_result(tiny_weights, videos, plain):
    pipe = tiny_pipeline(tiny_weights)
    speed.set_attention(pipe, "native")
    assert torch.equal(_latents(pipe, videos), plain)


@pytest.mark.parametrize("backend, package", [("flash", "flash-attn"), ("sage", "sageattention"),
                                              ("flash_hub", "kernels")])
def test_a_backend_whose_package_is_missing_is_one_clear_line(pipe, monkeypatch, backend, package):
    for module in ("flash_attn", "sageattention", "kernels"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails, installed or not
    with pytest.raises(FacecamError) as err:
        speed.set_attention(pipe, backend)
    assert str(err.value) == f"attention backend {backend!r} needs the {package} package: pip install {package}"


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(FacecamError, match="unknown attention backend 'flash3'; use one of .*native.*sage"):
        speed.check_attention("flash3")


def test_generate_with_a_missing_backend_exits_with_one_line(tiny_weights, tmp_path, monkeypatch, capsys):
    from facecam.cli import main

    monkeypatch.setitem(sys.modules, "sageattention", None)
    rc = main(["generate", str(tmp_path / "v.mp4"), "--engine", "facecam", "--weights", str(tiny_weights),
               "--attention", "sage", "-o", str(tmp_path / "out")])
    assert rc == 2
    assert capsys.readouterr().err == ("facecam: error: attention backend 'sage' needs the sageattention package: "
                                       "pip install sageattention\n")


# --------------------------------------------------------------------------- compile
def test_compile_compiles_the_repeated_block_of_both_experts(pipe, monkeypatch):
    calls = []
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name)
        monkeypatch.setattr(model, "compile_repeated_blocks", lambda _n=name, **kw: calls.append((_n, kw)))
    speed.compile_experts(pipe)
    assert calls == [("transformer", {"fullgraph": False}), ("transformer_2", {"fullgraph": False})]


# --------------------------------------------------------------------------- offload
def test_offload_on_the_cpu_is_one_clear_line(pipe):
    with pytest.raises(FacecamError, match="--offload group moves weights between CPU memory and a GPU; "
                                           "the device is cpu"):
        speed.apply_offload(pipe, "group", "cpu")


def test_group_offload_streams_each_block_of_both_experts(tiny_weights, monkeypatch):
    pipe = tiny_pipeline(tiny_weights)
    calls = []
    fake_pin(monkeypatch)  # this CPU build of torch cannot pin
    for name in ("transformer", "transformer_2"):
        monkeypatch.setattr(getattr(pipe, name), "enable_group_offload",
                            lambda _n=name, **kw: calls.append((_n, kw)))
    monkeypatch.setattr(pipe.vae, "to", lambda device: calls.append(("vae", device)))
    speed.apply_offload(pipe, "group", "cuda:1")
    cuda, cpu = torch.device("cuda:1"), torch.device("cpu")
    group = dict(onload_device=cuda, offload_device=cpu, offload_type="block_level", num_blocks_per_group=1,
                 use_stream=True)
    assert calls == [("transformer", group), ("transformer_2", group), ("vae", cuda)]
    assert pipe.vae.use_tiling


def fake_pin(monkeypatch):
    """Pinning needs a GPU driver: stand in with copies that remember they were made, so each swap is seen.
    Returns the whole tensors pinned and the blocks plain tensors were packed into."""
    made, blocks = [], []

    def pinned(t):
        made.append(t.clone())
        return made[-1]

    def block(nbytes):
        blocks.append(torch.empty(nbytes, dtype=torch.uint8))
        return blocks[-1]

    monkeypatch.setattr(speed, "_pinned", pinned)
    monkeypatch.setattr(speed, "_pinned_block", block)
    return made, blocks


def inside(tensor, blocks) -> bool:
    start, end = tensor.data_ptr(), tensor.data_ptr() + tensor.numel() * tensor.element_size()
    return any(b.data_ptr() <= start and end <= b.data_ptr() + b.numel() for b in blocks)


def test_group_offload_pins_each_tensor_in_place_so_host_ram_holds_the_experts_once(tiny_weights, monkeypatch):
    pipe = tiny_pipeline(tiny_weights)
    made, blocks = fake_pin(monkeypatch)
    seen, before = {}, {}
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name)
        before[name] = {k: (p, p.detach().clone()) for k, p in model.named_parameters()}
        # what diffusers will pin: by then every tensor the expert holds must be the pinned one
        monkeypatch.setattr(model, "enable_group_offload", lambda _m=model, _n=name, **kw: seen.__setitem__(
            _n, [*_m.parameters(), *_m.buffers()]))
    monkeypatch.setattr(pipe.vae, "to", lambda device: None)
    speed.apply_offload(pipe, "group", "cuda")
    for name in ("transformer", "transformer_2"):
        after = dict(getattr(pipe, name).named_parameters())
        assert all(after[k] is p for k, (p, _) in before[name].items())  # the same Parameter objects
        assert all(torch.equal(after[k], v) for k, (_, v) in before[name].items())
    held = seen["transformer"] + seen["transformer_2"]
    # plain tensors are packed into one 1 GiB block per expert (the tiny experts are far smaller)
    assert made == [] and [b.numel() for b in blocks] == [speed.PIN_BLOCK] * 2
    assert len(held) > 20 and all(inside(t, blocks) for t in held)


def test_packed_pinning_fills_power_of_two_blocks_first_fit_without_overlap(monkeypatch):
    made, blocks = fake_pin(monkeypatch)
    model = torch.nn.Sequential(torch.nn.Linear(30, 20), torch.nn.Linear(20, 7), torch.nn.Linear(60, 50),
                                torch.nn.LayerNorm(7))
    model.register_buffer("scale", torch.tensor(3.0))
    values = {k: v.detach().clone() for k, v in model.state_dict().items()}
    count = speed.pin_in_place(model, block=4096)
    assert count == len(values) == 9
    # first fit, in module order: the Sequential's scale (4 B) opens a 4096 B block at 0; 20x30 fp32 (2400 B)
    # at 512 (512-aligned), its bias (80 B) at 3072; 7x20 (560 B) does not fit (3584 + 560 > 4096): a second
    # 4096 B block, at 0, but its bias (28 B) fits the first, at 3584; 50x60 (12000 B) opens a block of its own,
    # rounded up to 16384; its bias (200 B) and the LayerNorm's weight go into the second, at 1024 and 1536
    assert [b.numel() for b in blocks] == [4096, 4096, 16384] and made == []
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in values.items())
    assert all(inside(t, blocks) for t in state.values())
    spans = sorted((t.data_ptr(), t.data_ptr() + t.numel() * t.element_size()) for t in state.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no two tensors share a byte
    offset = {k: next((i, t.data_ptr() - b.data_ptr()) for i, b in enumerate(blocks) if inside(t, [b]))
              for k, t in state.items()}
    assert all(at % speed.PIN_ALIGN == 0 for _, at in offset.values())
    assert offset["scale"] == (0, 0) and offset["0.weight"] == (0, 512) and offset["0.bias"] == (0, 3072)
    assert offset["1.weight"] == (1, 0) and offset["1.bias"] == (0, 3584) and offset["2.weight"] == (2, 0)
    assert offset["2.bias"] == (1, 1024) and offset["3.weight"] == (1, 1536)


def test_pinning_swaps_quantized_weights_as_new_parameters(tiny_weights, monkeypatch):
    pytest.importorskip("torchao")
    pipe = tiny_pipeline(tiny_weights)
    speed.quantize_experts(pipe, "int8", "cpu")
    model = pipe.transformer
    weight = model.blocks[0].attn1.to_q.weight
    kind, values = type(weight.data), weight.dequantize().clone()
    assert kind is not torch.Tensor  # a torchao tensor subclass
    made, blocks = fake_pin(monkeypatch)
    count = speed.pin_in_place(model)
    tensors = [*model.parameters(), *model.buffers()]
    assert count == len(tensors) and len(made) == sum(type(t.data) is not torch.Tensor for t in tensors) > 0
    assert all(inside(t, blocks) for t in tensors if type(t.data) is torch.Tensor)  # plain ones packed
    swapped = model.blocks[0].attn1.to_q.weight
    assert swapped is not weight and type(swapped.data) is kind and not swapped.requires_grad
    assert torch.equal(swapped.dequantize(), values)
    assert sum(type(m) is kind and torch.equal(m.dequantize(), values) for m in made) == 1


@pytest.mark.parametrize("mode, method", [("model", "enable_model_cpu_offload"),
                                          ("sequential", "enable_sequential_cpu_offload")])
def test_model_and_sequential_offload_are_diffusers_pipeline_offload(pipe, monkeypatch, mode, method):
    calls = []
    monkeypatch.setattr(pipe, method, lambda device: calls.append(device))
    monkeypatch.setattr(pipe, "enable_vae_tiling", lambda: calls.append("tiling"))
    speed.apply_offload(pipe, mode, "cuda")
    assert calls == [torch.device("cuda"), "tiling"]


def test_the_former_offload_flag_values_still_work(tiny_weights):
    from facecam.engines.diffusion import FaceCamEngine

    assert FaceCamEngine(weights=str(tiny_weights), device="cpu", offload=False).offload == "none"
    with pytest.raises(FacecamError, match="--offload model moves weights"):
        FaceCamEngine(weights=str(tiny_weights), device="cpu", offload=True)


# --------------------------------------------------------------------------- quantization
def test_quantize_without_torchao_is_one_clear_line(pipe, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)
    with pytest.raises(FacecamError) as err:
        speed.quantize_experts(pipe, "int8", "cpu")
    assert str(err.value) == "--quantize int8 needs torchao: pip install torchao (or pip install 'facecam[speed]')"


def test_fp8_on_the_cpu_is_one_clear_line(pipe):
    with pytest.raises(FacecamError, match=r"--quantize fp8 needs a GPU with fp8 support .* use --quantize int8"):
        speed.quantize_experts(pipe, "fp8", "cpu")


def test_int8_weights_stay_close_to_the_float_result(tiny_weights, videos, plain):
    pytest.importorskip("torchao.quantization")
    pipe = tiny_pipeline(tiny_weights)
    speed.quantize_experts(pipe, "int8", "cpu")
    assert type(pipe.transformer.blocks[0].ffn.net[2].weight).__name__ == "Int8Tensor"
    assert pipe.transformer.proj_out.weight.dtype == torch.float32  # outside the blocks: exact
    deviation = _relative_l2(_latents(pipe, videos), plain)
    assert 0 < deviation < 0.01


# --------------------------------------------------------------------------- flags
@pytest.mark.parametrize("verb", ["generate", "generate-many"])
def test_the_speed_flags_are_on_the_generating_verbs(verb, capsys):
    from facecam.cli import main

    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    for flag in ("--cache {none,first-block,taylorseer,mag}", "--cache-threshold X", "--attention BACKEND",
                 "--compile", "--offload [{none,model,group,sequential}]", "--quantize {none,fp8,int8}"):
        assert flag in text


def test_batch_guidance_is_an_engine_option_equal_to_two_passes(tiny_weights):
    """--batch-guidance: the engine's output matches two passes (uint8 frames within one grey level)."""
    from facecam.engines import get_engine

    rng = np.random.default_rng(0)
    clip = types.SimpleNamespace(source=rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8),
                                 condition=rng.integers(0, 256, (9, 64, 48, 3), dtype=np.uint8), fps=24.0, name="x")
    kw = dict(weights=str(tiny_weights), steps=3, device="cpu", dtype="float32")
    two = get_engine("facecam", **kw).generate(clip, seed=0, progress=False)
    one = get_engine("facecam", batch_guidance=True, **kw).generate(clip, seed=0, progress=False)
    assert np.abs(two.astype(int) - one.astype(int)).max() <= 1


def test_a_facecam_run_prints_no_import_chatter_from_torchao_or_torch(tiny_weights, tmp_path, astronaut):
    """With the speed extra installed, torchao, torch and diffusers warn at import time about kernels
    and serialisation a user cannot act on; the CLI keeps those lines out unless -v."""
    import subprocess

    from PIL import Image

    pytest.importorskip("torchao")
    photo = tmp_path / "p.png"
    Image.fromarray(astronaut).save(photo)
    proc = subprocess.run([sys.executable, "-m", "facecam", "generate", str(photo), "--engine", "facecam",
                           "--weights", str(tiny_weights), "--frames", "5", "--size", "64x48", "--steps", "1",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "torchao" not in proc.stderr and "_pytree" not in proc.stderr, proc.stderr[:2000]


# --------------------------------------------------------------------------- benchmarks/generate_speed.py
def _generate_speed():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "generate_speed.py"
    spec = importlib.util.spec_from_file_location("generate_speed_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_speed_records_a_failing_configuration_and_goes_on():
    gs = _generate_speed()

    class Broken:
        device = torch.device("cpu")
        host = gs.HostMemory()

        def pipeline(self):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 50.00 MiB")

    args = types.SimpleNamespace(steps=2, cfg=5.0, repeats=1, warmup_steps=1)
    failed = gs.measure(Broken(), "compile", {"compile": True}, args, None, [])
    assert failed["error"] == "failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 50.00 MiB"
    assert gs.row(failed, None) == f"{'compile':<22}{failed['error']}"
    # without a measured baseline the ratios are left out, not divided by a missing row
    done = {"name": "int8", "options": {"quantize": "int8"}, "s_per_step": 2.0, "s_per_video": 5.0,
            "peak_gib": None, "warmup_s": None}
    line = gs.row(done, gs.baseline_of([failed, done]))
    assert line.split()[:3] == ["int8", "2.0000", "-"]


def test_generate_speed_starts_nothing_once_its_budget_is_spent(tmp_path, monkeypatch, capsys):
    import json

    gs = _generate_speed()
    out = tmp_path / "speed.json"
    monkeypatch.setattr(sys, "argv", ["generate_speed.py", "--configs", "baseline", "batch-guidance", "--budget", "0",
                                      "--json", str(out)])
    gs.main()
    rows = json.loads(out.read_text())["results"]
    assert [r["name"] for r in rows] == ["baseline", "batch-guidance"]
    assert all(r["error"] == "skipped: the 0 s budget was spent" for r in rows)
    assert "REDUCED configuration" in capsys.readouterr().out


def test_generate_speed_sees_the_host_memory_a_configuration_takes():
    gs = _generate_speed()
    if gs.HostMemory.available() is None:
        pytest.skip("no /proc/meminfo here")
    # The measure is the whole machine's: another process freeing memory meanwhile hides part of ours
    # (0.31 GiB was seen with a benchmark ending beside the suite), so it gets three tries.
    for _ in range(3):
        host = gs.HostMemory(every=0.01)
        with host:
            held = np.ones(512 * 2**20, np.uint8)  # 0.5 GiB, written, so the pages are taken
            time.sleep(0.2)
        assert held.sum() == 512 * 2**20
        del held
        if 0.35 < host.peak_gib < 1.5:
            break
    assert 0.35 < host.peak_gib < 1.5
