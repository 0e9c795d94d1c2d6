"""Checkpoint conversion, discovery and fine-tune loading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from facecam.errors import WeightsError
from facecam.model.keys import KeyMap, dit_key_to_native, t5_keymap, vae_keymap
from facecam.model.tiny import (
    TINY_WAN_CONFIG, tiny_text_encoder, tiny_transformer, tiny_vae, write_tiny_tokenizer,
)
from facecam.model.transformer import A14B_WAN_CONFIG, FaceCamTransformer
from facecam.model.weights import (
    apply_finetune, find_weights, load_components, load_finetune, load_text_encoder, read_state, t5_from_native,
    vae_from_native,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dir(tiny_weights) -> Path:
    return tiny_weights  # read only: the session's tiny model


# --------------------------------------------------------------------------- full-size coverage
def _expected_a14b_native_keys(layers: int) -> set[str]:
    """The Wan-native key set of one A14B expert, spelled out from the WanModel layout."""
    keys = {"patch_embedding.weight", "patch_embedding.bias", "head.head.weight", "head.head.bias",
            "head.modulation"}
    for m in ("text_embedding.0", "text_embedding.2", "time_embedding.0", "time_embedding.2", "time_projection.1"):
        keys |= {f"{m}.weight", f"{m}.bias"}
    for i in range(layers):
        for attn in ("self_attn", "cross_attn"):
            for lin in "qkvo":
                keys |= {f"blocks.{i}.{attn}.{lin}.weight", f"blocks.{i}.{attn}.{lin}.bias"}
            keys |= {f"blocks.{i}.{attn}.norm_q.weight", f"blocks.{i}.{attn}.norm_k.weight"}
        keys |= {f"blocks.{i}.norm3.weight", f"blocks.{i}.norm3.bias", f"blocks.{i}.modulation"}
        keys |= {f"blocks.{i}.ffn.0.weight", f"blocks.{i}.ffn.0.bias", f"blocks.{i}.ffn.2.weight",
                 f"blocks.{i}.ffn.2.bias"}
    return keys


def test_converter_covers_every_key_of_the_full_a14b_expert():
    model = FaceCamTransformer.from_wan_config(device="meta", **A14B_WAN_CONFIG)
    keymap = model.keymap()
    assert sum(p.numel() for p in model.parameters()) == 14_288_901_184
    assert len(keymap.to_native) == 1095
    assert keymap.native_keys() == _expected_a14b_native_keys(40)
    assert all(len(v) == 1 for v in keymap.from_native.values())  # one-to-one
    shapes = keymap.shapes
    assert tuple(shapes["patch_embedding.weight"]) == (5120, 36, 1, 2, 2)
    assert tuple(shapes["proj_out.weight"]) == (64, 5120)
    assert tuple(shapes["blocks.39.ffn.net.0.proj.weight"]) == (13824, 5120)
    assert tuple(shapes["condition_embedder.text_embedder.linear_1.weight"]) == (5120, 4096)


def test_dit_mapping_agrees_with_diffusers_own_wan_converter():
    """diffusers' converter (native -> diffusers) must invert our mapping on every A14B key."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    model = FaceCamTransformer.from_wan_config(device="meta", **A14B_WAN_CONFIG)
    keymap = model.keymap()
    native = {n: torch.empty(0) for n in keymap.native_keys()}
    back = convert_wan_transformer_to_diffusers(dict(native))
    assert set(back) == set(keymap.shapes)
    for native_key, ours in keymap.from_native.items():
        assert dit_key_to_native(ours[0]) == native_key


def test_vae_mapping_covers_the_real_wan21_vae_and_agrees_with_diffusers():
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    with init_empty_weights():
        vae = AutoencoderKLWan()  # the real Wan2.1 VAE config (base_dim 96)
    keymap = vae_keymap(vae)
    assert all(len(v) == 1 for v in keymap.from_native.values())
    native = keymap.native_keys()
    assert {"conv1.weight", "conv2.weight", "encoder.conv1.weight", "decoder.head.2.weight",
            "decoder.upsamples.4.shortcut.weight", "decoder.upsamples.3.resample.1.weight",
            "decoder.upsamples.14.residual.6.weight", "encoder.middle.1.to_qkv.weight"} <= native
    assert all(re.match(r"^(conv[12]|(encoder|decoder)\.(conv1|head|middle|downsamples|upsamples))\.", k)
               for k in native)
    for ours, native_key in keymap.to_native.items():
        converted = convert_wan_vae_to_diffusers({native_key: torch.empty(0)})
        assert list(converted) == [ours], native_key


def test_t5_mapping_covers_umt5_xxl():
    from accelerate import init_empty_weights
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                        feed_forward_proj="gated-gelu", is_encoder_decoder=False)
    with init_empty_weights():
        model = UMT5EncoderModel(config)
    keymap = t5_keymap(model)
    native = keymap.native_keys()
    assert len(native) == 2 + 24 * 10  # token embedding, final norm, 10 tensors per block
    assert sorted(keymap.from_native["token_embedding.weight"]) == ["encoder.embed_tokens.weight", "shared.weight"]
    assert keymap.to_native["encoder.block.23.layer.1.DenseReluDense.wi_0.weight"] == "blocks.23.ffn.gate.0.weight"
    assert keymap.to_native["encoder.block.5.layer.0.SelfAttention.relative_attention_bias.weight"] == \
        "blocks.5.pos_embedding.embedding.weight"


# --------------------------------------------------------------------------- numeric round trips
def test_vae_from_native_reproduces_the_diffusers_vae():
    vae = tiny_vae(3)
    rebuilt = vae_from_native(vae_keymap(vae).convert_to_native(vae.state_dict()))
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        a = vae.encode(x).latent_dist.mean
        b = rebuilt.encode(x).latent_dist.mean
    assert a.shape == (1, 16, 2, 4, 4)
    assert torch.equal(a, b)


def test_t5_from_native_reproduces_the_encoder():
    t5 = tiny_text_encoder(4)
    rebuilt = t5_from_native(t5_keymap(t5).convert_to_native(t5.state_dict()))
    ids = torch.tensor([[3, 4, 5, 6, 1, 0, 0]])
    mask = (ids > 0).long()
    mask[0, 4] = 1
    with torch.no_grad():
        assert torch.equal(t5(ids, attention_mask=mask).last_hidden_state,
                           rebuilt(ids, attention_mask=mask).last_hidden_state)


# --------------------------------------------------------------------------- fine-tunes
def test_finetune_changes_exactly_the_parameters_in_its_state_dict(tiny_dir):
    model = tiny_transformer(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ft_path = tiny_dir / "FaceCam/wan2.2_14b/high/released_version"
    native = read_state(ft_path)
    report = load_finetune(model, ft_path)
    targets = {model.keymap().from_native[k][0] for k in native}
    assert report.loaded == len(native) == 22
    after = model.state_dict()
    for key in before:
        changed = not torch.equal(before[key], after[key])
        assert changed == (key in targets), key
    for native_key, tensor in native.items():
        assert torch.equal(after[model.keymap().from_native[native_key][0]], tensor)


def test_finetune_key_that_maps_nowhere_fails_naming_it():
    model = tiny_transformer(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = {"blocks.0.self_attn.q.weight": torch.zeros(24, 24), "blocks.0.self_attn.qq.weight": torch.zeros(24, 24)}
    with pytest.raises(WeightsError, match=r"'blocks\.0\.self_attn\.qq\.weight' maps to no parameter"):
        apply_finetune(model, bad)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing half-applied


def test_finetune_shape_mismatch_fails_naming_key_and_shapes():
    model = tiny_transformer(0)
    with pytest.raises(WeightsError, match=r"'patch_embedding\.weight' has shape \(24, 16, 1, 2, 2\)"):
        apply_finetune(model, {"patch_embedding.weight": torch.zeros(24, 16, 1, 2, 2)})


def test_finetune_accepts_wrapped_torch_files_and_prefixed_keys(tmp_path):
    model = tiny_transformer(0)
    torch.save({"module": {"model.diffusion_model.patch_embedding.bias": torch.ones(24)}}, tmp_path / "ft.pt")
    report = load_finetune(model, tmp_path / "ft.pt")
    assert report.loaded == 1 and torch.equal(model.patch_embedding.bias.detach(), torch.ones(24))


def test_base_checkpoint_missing_a_parameter_fails():
    native = tiny_transformer(0).to_wan_state_dict()
    native.pop("blocks.1.ffn.2.bias")
    with pytest.raises(WeightsError, match=r"lacks 1 parameters, e\.g\. 'blocks\.1\.ffn\.2\.bias'"):
        FaceCamTransformer.from_wan_state_dict(native, **TINY_WAN_CONFIG)


# --------------------------------------------------------------------------- discovery
def test_tiny_model_folder_is_found_as_original_layout(tiny_dir):
    layout = find_weights(tiny_dir)
    assert layout.kind == "original"
    assert layout.base == tiny_dir / "Wan2.2-I2V-A14B"
    assert layout.high_finetune == tiny_dir / "FaceCam/wan2.2_14b/high/released_version"
    assert sorted(p.name for p in layout.high_finetune.iterdir()) == ["part1.safetensors", "part2.safetensors"]


def test_missing_weights_message_says_what_to_download(tmp_path):
    with pytest.raises(WeightsError, match=r"no Wan2\.2-I2V-A14B base model .*`facecam download --to"):
        find_weights(tmp_path)
    with pytest.raises(WeightsError, match="weights folder not found"):
        find_weights(tmp_path / "nope")


def test_a_missing_or_wrong_weights_folder_is_said_before_torch_or_diffusers_load(tmp_path):
    """The error came after importing the loaders (torch, diffusers): 7-10 s for one line."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from facecam.cli import main\n"
            "status = main(['generate', sys.argv[1], '-o', sys.argv[2], '--engine', 'facecam', *sys.argv[3:]])\n"
            "print(status, 'torch' in sys.modules, 'diffusers' in sys.modules)")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # never read: the engine is checked first
    for extra, phrase in (([], "needs --weights DIR"), (["--weights", str(tmp_path / "nope")], "weights folder not found")):
        done = subprocess.run([sys.executable, "-c", code, str(clip), str(tmp_path / "out"), *extra],
                              capture_output=True, text=True, timeout=120,
                              env={**__import__("os").environ, "FACECAM_WEIGHTS": ""})
        assert done.stdout.split() == ["2", "False", "False"], (done.stdout, done.stderr)
        assert done.stderr.startswith("facecam: error:") and phrase in done.stderr
        assert not (tmp_path / "out").exists()


def test_missing_finetunes_are_reported(tiny_dir, tmp_path):
    import shutil

    shutil.copytree(tiny_dir / "Wan2.2-I2V-A14B", tmp_path / "Wan2.2-I2V-A14B")
    with pytest.raises(WeightsError, match=r"FaceCam fine-tunes not found .*high/released_version"):
        find_weights(tmp_path)


def test_load_components_report_counts(tiny_dir):
    parts = load_components(find_weights(tiny_dir), torch.float32)
    lines = [r.line() for r in parts.reports]
    assert lines[0] == "high-noise expert (high_noise_model): 69 tensors loaded, 69/69 module parameters set"
    assert lines[1].startswith("low-noise expert (low_noise_model): ")
    assert "22 tensors loaded, 22/69 module parameters set" in lines[2]
    assert "22 tensors loaded, 22/69 module parameters set" in lines[3]
    assert lines[3].endswith("(a fine-tune holds only the parameters it changes; the others keep the base expert's)")
    assert "(" not in lines[0].split(":")[-1]  # a whole expert: no note


def test_diffusers_layout_base_loads_to_the_same_model(tiny_dir, tmp_path):
    """Write the tiny base in diffusers' folder layout; both layouts must give identical experts."""
    import shutil

    original = load_components(find_weights(tiny_dir), torch.float32)
    base = tmp_path / "Wan2.2-I2V-A14B-Diffusers"
    # Base only (no fine-tunes) in the diffusers layout, then the same fine-tune folders.
    for name, folder in (("transformer", "high_noise_model"), ("transformer_2", "low_noise_model")):
        from facecam.model.weights import load_original_expert

        expert, _ = load_original_expert(tiny_dir / "Wan2.2-I2V-A14B" / folder, torch.float32)
        expert.save_pretrained(base / name)
        # the published folders name diffusers' class, not ours
        config = json.loads((base / name / "config.json").read_text())
        config["_class_name"] = "WanTransformer3DModel"
        (base / name / "config.json").write_text(json.dumps(config))
    original.vae.save_pretrained(base / "vae")
    tiny_text_encoder(0).save_pretrained(base / "text_encoder")
    write_tiny_tokenizer(base / "tokenizer")
    shutil.copytree(tiny_dir / "FaceCam", tmp_path / "FaceCam")
    layout = find_weights(tmp_path)
    assert layout.kind == "diffusers"
    loaded = load_components(layout, torch.float32)
    for a, b in ((original.transformer, loaded.transformer), (original.transformer_2, loaded.transformer_2)):
        assert isinstance(b, FaceCamTransformer)
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    tokenizer, encoder = load_text_encoder(layout, torch.float32)
    ids = tokenizer(["A portrait of a person"], return_tensors="pt").input_ids
    assert ids.tolist() == [[3, 4, 5, 3, 6, 1]]  # words, then </s>
    assert encoder(ids).last_hidden_state.shape == (1, 6, 16)


def test_keymap_round_trip_is_identity():
    model = tiny_transformer(1)
    keymap = KeyMap.for_module(model, dit_key_to_native, "transformer")
    native = keymap.convert_to_native(model.state_dict())
    back, report = keymap.convert_from_native(native, complete=True)
    assert report.loaded == len(native) == 69 and set(back) == set(model.state_dict())


def _wan_t5_reference(sd: dict, ids: torch.Tensor, mask: torch.Tensor, heads: int, eps: float = 1e-6):
    """The Wan-native UMT5 encoder written out on its own key names (no transformers code):
    per-layer bidirectional relative position buckets (max distance 128), unscaled attention,
    ``fc2(fc1(x) * gelu_tanh(gate(x)))`` feed-forward, RMS norms."""
    import math

    import torch.nn.functional as F

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def buckets(n, num_buckets, max_dist=128):
        rel = torch.arange(n)[None, :] - torch.arange(n)[:, None]
        half = num_buckets // 2
        out = (rel > 0).long() * half
        rel = rel.abs()
        exact = half // 2
        large = exact + (torch.log(rel.float().clamp(min=1) / exact) / math.log(max_dist / exact)
                         * (half - exact)).long()
        large = large.clamp(max=half - 1)
        return out + torch.where(rel < exact, rel, large)

    x = sd["token_embedding.weight"][ids]
    b, n, d = x.shape
    layers = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(layers):
        p = lambda name: sd[f"blocks.{i}.{name}"]  # noqa: E731
        table = p("pos_embedding.embedding.weight")
        bias = table[buckets(n, table.shape[0])].permute(2, 0, 1)[None]
        bias = bias.masked_fill(mask[:, None, None, :] == 0, torch.finfo(x.dtype).min)
        h = rms(x, p("norm1.weight"))
        q, k, v = (F.linear(h, p(f"attn.{c}.weight")).view(b, n, heads, -1).transpose(1, 2) for c in "qkv")
        w = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
        x = x + F.linear((w @ v).transpose(1, 2).reshape(b, n, -1), p("attn.o.weight"))
        h = rms(x, p("norm2.weight"))
        ff = F.linear(h, p("ffn.fc1.weight")) * F.gelu(F.linear(h, p("ffn.gate.0.weight")), approximate="tanh")
        x = x + F.linear(ff, p("ffn.fc2.weight"))
    return rms(x, sd["norm.weight"])


def test_t5_from_native_matches_a_hand_written_wan_t5_encoder():
    t5 = tiny_text_encoder(5)
    native = t5_keymap(t5).convert_to_native(t5.state_dict())
    with torch.no_grad():  # make the norms non-trivial so a swapped key would show
        for k in native:
            if "norm" in k:
                native[k] = native[k] + 0.3 * torch.randn_like(native[k])
    model = t5_from_native(native)
    ids = torch.tensor([[3, 4, 5, 3, 6] + list(range(7, 17)) + [1, 0, 0, 0]])  # 20 tokens: long-range buckets too
    mask = (ids > 0).long()
    mask[0, 15] = 1
    with torch.no_grad():
        ours = model(ids, attention_mask=mask).last_hidden_state
        ref = _wan_t5_reference(native, ids, mask, heads=2)
    valid = mask[0].bool()
    assert torch.allclose(ours[0, valid], ref[0, valid], atol=1e-5), (ours - ref).abs().max()


def test_bf16_load_keeps_diffusers_fp32_modules_in_fp32(tiny_dir):
    parts = load_components(find_weights(tiny_dir), torch.bfloat16)
    high = parts.transformer
    assert high.patch_embedding.weight.dtype == torch.bfloat16
    assert high.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert high.scale_shift_table.dtype == torch.float32
    assert high.blocks[1].scale_shift_table.dtype == torch.float32
    assert high.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert high.blocks[0].norm2.weight.dtype == torch.float32  # the affine cross-attention norm
    # the fine-tune landed (cast to bf16) on top of the converted base
    ft = read_state(tiny_dir / "FaceCam/wan2.2_14b/high/released_version")
    assert torch.equal(high.patch_embedding.weight, ft["patch_embedding.weight"].to(torch.bfloat16))
