"""FaceCamTransformer: the conditioned forward, against an independent hand-written Wan DiT."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facecam.model.tiny import TINY_WAN_CONFIG
from facecam.model.transformer import FaceCamTransformer, facecam_input, facecam_velocity

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CFG = TINY_WAN_CONFIG


def _tiny(seed: int = 0) -> FaceCamTransformer:
    torch.manual_seed(seed)
    model = FaceCamTransformer.from_wan_config(**CFG).eval()
    # Random init leaves some tables small; make every parameter matter for the comparison.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


# ---------------------------------------------------------------------------
# An independent implementation of the Wan DiT on Wan-native weights, written from
# the Wan model description (complex rotary positions, LayerNorm/RMSNorm, AdaLN
# modulation). Only torch primitives; nothing from diffusers.
# ---------------------------------------------------------------------------
def _rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _ln(x, eps, w=None, b=None):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _rope_table(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """complex ``(len(positions), dim // 2)`` rotations for one axis."""
    inv = 1.0 / torch.pow(10000.0, torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(positions.to(torch.float64), inv)
    return torch.polar(torch.ones_like(angles), angles)


def _rope_apply(x, freqs):
    """x ``(B, N, H, D)``; freqs complex ``(N, D/2)``; channel pairs (2i, 2i+1) are one complex number."""
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * freqs[None, :, None, :]).flatten(3).to(x.dtype)


def _attention(q, k, v, heads):
    b, n, d = q.shape
    q, k, v = (t.view(b, -1, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
    return (w @ v).transpose(1, 2).reshape(b, n, d)


def hand_written_facecam(sd, noisy, source, camera, t, context):
    dim, heads, eps = CFG["dim"], CFG["num_heads"], CFG["eps"]
    b, c, f, h, w = noisy.shape
    # channel + frame conditioning, spelled out
    y = torch.zeros(b, 20, 2 * f, h, w)
    y[:, :16, :f] = camera
    y[:, :16, f:] = camera
    x = torch.zeros(b, 36, 2 * f, h, w)
    x[:, :16, :f] = noisy
    x[:, :16, f:] = source
    x[:, 16:] = y
    # patchify
    x = F.conv3d(x, sd["patch_embedding.weight"], sd["patch_embedding.bias"], stride=(1, 2, 2))
    gf, gh, gw = x.shape[2:]
    x = x.flatten(2).transpose(1, 2)
    # rotary positions: frames 0 .. 2F-1, rows, columns
    d = dim // heads
    half = d // 2
    split = [half - 2 * (half // 3), half // 3, half // 3]
    ft = _rope_table(torch.arange(gf), 2 * split[0])
    fh = _rope_table(torch.arange(gh), 2 * split[1])
    fw = _rope_table(torch.arange(gw), 2 * split[2])
    freqs = torch.cat([ft[:, None, None].expand(gf, gh, gw, -1), fh[None, :, None].expand(gf, gh, gw, -1),
                       fw[None, None, :].expand(gf, gh, gw, -1)], dim=-1).reshape(gf * gh * gw, half)
    # time and text embeddings
    fd = CFG["freq_dim"] // 2
    sinus = torch.outer(t.double(), torch.pow(10000.0, -torch.arange(fd, dtype=torch.float64) / fd))
    temb = torch.cat([torch.cos(sinus), torch.sin(sinus)], dim=1).float()
    e = F.linear(F.silu(F.linear(temb, sd["time_embedding.0.weight"], sd["time_embedding.0.bias"])),
                 sd["time_embedding.2.weight"], sd["time_embedding.2.bias"])
    e0 = F.linear(F.silu(e), sd["time_projection.1.weight"], sd["time_projection.1.bias"]).view(b, 6, dim)
    ctx = F.gelu(F.linear(context, sd["text_embedding.0.weight"], sd["text_embedding.0.bias"]), approximate="tanh")
    ctx = F.linear(ctx, sd["text_embedding.2.weight"], sd["text_embedding.2.bias"])
    for i in range(CFG["num_layers"]):
        p = lambda name: sd[f"blocks.{i}.{name}"]  # noqa: E731
        mod = (p("modulation") + e0).chunk(6, dim=1)
        hs = _ln(x, eps) * (1 + mod[1]) + mod[0]
        q = _rms(F.linear(hs, p("self_attn.q.weight"), p("self_attn.q.bias")), p("self_attn.norm_q.weight"), eps)
        k = _rms(F.linear(hs, p("self_attn.k.weight"), p("self_attn.k.bias")), p("self_attn.norm_k.weight"), eps)
        v = F.linear(hs, p("self_attn.v.weight"), p("self_attn.v.bias"))
        q = _rope_apply(q.view(b, -1, heads, d), freqs).flatten(2)
        k = _rope_apply(k.view(b, -1, heads, d), freqs).flatten(2)
        a = F.linear(_attention(q, k, v, heads), p("self_attn.o.weight"), p("self_attn.o.bias"))
        x = x + a * mod[2]
        hs = _ln(x, eps, p("norm3.weight"), p("norm3.bias"))
        q = _rms(F.linear(hs, p("cross_attn.q.weight"), p("cross_attn.q.bias")), p("cross_attn.norm_q.weight"), eps)
        k = _rms(F.linear(ctx, p("cross_attn.k.weight"), p("cross_attn.k.bias")), p("cross_attn.norm_k.weight"), eps)
        v = F.linear(ctx, p("cross_attn.v.weight"), p("cross_attn.v.bias"))
        x = x + F.linear(_attention(q, k, v, heads), p("cross_attn.o.weight"), p("cross_attn.o.bias"))
        hs = _ln(x, eps) * (1 + mod[4]) + mod[3]
        ff = F.linear(F.gelu(F.linear(hs, p("ffn.0.weight"), p("ffn.0.bias")), approximate="tanh"),
                      p("ffn.2.weight"), p("ffn.2.bias"))
        x = x + ff * mod[5]
    shift, scale = (sd["head.modulation"] + e[:, None]).chunk(2, dim=1)
    x = F.linear(_ln(x, eps) * (1 + scale) + shift, sd["head.head.weight"], sd["head.head.bias"])
    out = x.view(b, gf, gh, gw, 1, 2, 2, 16).permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, 16, gf, gh * 2, gw * 2)
    return out[:, :, :f]  # keep the target half only


def _inputs(b=2, f=3, h=8, w=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return (r(b, 16, f, h, w), r(b, 16, f, h, w), r(b, 16, f, h, w),
            torch.tensor([937.5, 412.0])[:b], r(b, 7, CFG["text_dim"]))


def test_conditioned_forward_equals_hand_written_wan_computation():
    model = _tiny()
    native = model.to_wan_state_dict()
    noisy, source, camera, t, ctx = _inputs()
    with torch.no_grad():
        ours = facecam_velocity(model, noisy, source, camera, t, ctx)
        ref = hand_written_facecam(native, noisy, source, camera, t, ctx)
    assert ours.shape == noisy.shape == (2, 16, 3, 8, 6)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()


def test_source_half_influences_target_through_attention():
    model = _tiny()
    noisy, source, camera, t, ctx = _inputs(b=1)
    with torch.no_grad():
        a = facecam_velocity(model, noisy, source, camera, t, ctx)
        b = facecam_velocity(model, noisy, source + 1.0, camera, t, ctx)
        c = facecam_velocity(model, noisy, source, camera + 1.0, t, ctx)
    assert (a - b).abs().max() > 1e-3  # frame condition reaches the target half
    assert (a - c).abs().max() > 1e-3  # channel condition too


def test_build_input_places_source_after_target_and_camera_on_channels():
    model = _tiny()
    noisy, source, camera, _, _ = _inputs(b=1, f=2)
    x = facecam_input(noisy, source, camera, in_channels=model.config.in_channels)
    assert x.shape == (1, 36, 4, 8, 6)
    assert torch.equal(x[:, :16, :2], noisy) and torch.equal(x[:, :16, 2:], source)
    assert torch.equal(x[:, 16:32, :2], camera) and torch.equal(x[:, 16:32, 2:], camera)
    assert torch.count_nonzero(x[:, 32:]) == 0


def test_rotary_positions_run_over_both_halves():
    """The rotary table the model uses covers 2F frames with positions 0..2F-1 (not restarted for the source)."""
    model = _tiny()
    x = torch.zeros(1, 36, 6, 8, 6)
    cos, _ = model.rope(x)
    per_frame = cos.view(6, 4 * 3, -1)[:, 0, :4]  # temporal channels of the first token of each frame
    t_dim = model.rope.t_dim
    inv = 1.0 / 10000 ** (torch.arange(0, t_dim, 2, dtype=torch.float64) / t_dim)
    expected = torch.cos(torch.arange(6, dtype=torch.float64)[:, None] * inv).repeat_interleave(2, dim=1)
    assert torch.allclose(per_frame.double(), expected[:, :4], atol=1e-6)


def test_wan_state_dict_round_trip_reproduces_the_model():
    model = _tiny()
    rebuilt = FaceCamTransformer.from_wan_state_dict(model.to_wan_state_dict(), **CFG)
    noisy, source, camera, t, ctx = _inputs(b=1)
    with torch.no_grad():
        assert torch.equal(facecam_velocity(model, noisy, source, camera, t, ctx),
                           facecam_velocity(rebuilt, noisy, source, camera, t, ctx))


def test_trainable_parameters_are_self_attention_and_patch_embedding():
    model = _tiny()
    names = model.trainable_parameter_names()
    native = set(model.keymap().to_native[n] for n in names)
    assert "patch_embedding.weight" in native and "patch_embedding.bias" in native
    per_block = {"q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias", "o.weight", "o.bias",
                 "norm_q.weight", "norm_k.weight"}
    assert native == {"patch_embedding.weight", "patch_embedding.bias"} | {
        f"blocks.{i}.self_attn.{p}" for i in range(CFG["num_layers"]) for p in per_block}


def test_wrong_latent_shapes_are_rejected():
    model = _tiny()
    noisy, source, camera, t, ctx = _inputs(b=1)
    with pytest.raises(ValueError, match="latent shapes differ"):
        facecam_velocity(model, noisy, source[:, :, :2], camera, t, ctx)


def test_the_expert_keeps_the_stock_wan_forward():
    """diffusers' hooks, LoRA loading and compile rely on WanTransformer3DModel's own forward."""
    from diffusers import WanTransformer3DModel

    assert FaceCamTransformer.forward is WanTransformer3DModel.forward
    model = _tiny()
    noisy, source, camera, t, ctx = _inputs(b=1)
    x = facecam_input(noisy, source, camera)
    with torch.no_grad():
        direct = model(hidden_states=x, timestep=t[:1], encoder_hidden_states=ctx, return_dict=False)[0]
        ours = facecam_velocity(model, noisy, source, camera, t[:1], ctx)
    assert direct.shape == (1, 16, 6, 8, 6)  # both halves; the target half is the first F frames
    assert torch.equal(ours, direct[:, :, :3])
