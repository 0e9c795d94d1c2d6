"""Context windows for long clips: planning, blend weights, and exactness of the one-window case."""

import pytest
import torch

from facecam.context_windows import blend_windows, latent_count, plan_windows, window_weights
from facecam.errors import FacecamError


def test_latent_count_maps_4k_plus_1():
    assert latent_count(81) == 21
    assert latent_count(1) == 1
    assert latent_count(321) == 81
    with pytest.raises(FacecamError, match="4k\\+1"):
        latent_count(80)


@pytest.mark.parametrize("num,window,overlap", [(21, 21, 4), (41, 21, 4), (81, 21, 6), (22, 21, 5), (100, 21, 0)])
def test_windows_cover_every_frame_and_weights_sum_to_one(num, window, overlap):
    spans = plan_windows(num, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == num
    assert all(e - s == min(window, num) for s, e in spans)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 > s0 and e0 - s1 >= overlap  # overlap at least as asked, never a gap
    weights = window_weights(spans, num)
    total = torch.zeros(num)
    for (s, e), w in zip(spans, weights):
        assert w.shape == (e - s,) and bool((w > 0).all()) and bool((w <= 1).all())
        total[s:e] += w
    assert torch.allclose(total, torch.ones(num), atol=1e-6)


def test_overlap_weights_are_smooth_cross_fades():
    spans = plan_windows(41, 21, 6)
    assert spans == [(0, 21), (15, 36), (20, 41)]
    w = window_weights(spans, 41)
    # the first window is 1 until the overlap, then falls monotonically
    assert torch.equal(w[0][:15], torch.ones(15))
    assert bool((w[0][15:].diff() < 0).all())
    assert bool((w[1][:6].diff() > 0).all())


def test_one_window_as_long_as_the_clip_is_exactly_the_plain_prediction():
    torch.manual_seed(0)
    latents = torch.randn(1, 16, 21, 4, 3)
    model = lambda x: torch.tanh(x * 1.7) + x.mean(dim=2, keepdim=True)  # frames interact, like attention
    spans = plan_windows(21, 21, 4)
    out = blend_windows(lambda s, e: model(latents[:, :, s:e]), spans, window_weights(spans, 21), latents)
    assert torch.equal(out, model(latents))


def test_several_windows_differ_from_plain_only_where_context_is_cut():
    torch.manual_seed(0)
    latents = torch.randn(1, 2, 41, 2, 2)
    model = lambda x: x * 2.0  # frame-local: windows must reproduce it exactly (up to float rounding)
    spans = plan_windows(41, 21, 4)
    assert len(spans) >= 2
    out = blend_windows(lambda s, e: model(latents[:, :, s:e]), spans, window_weights(spans, 41), latents)
    assert torch.allclose(out, model(latents), atol=1e-6)
    mixing = lambda x: x + x.mean(dim=2, keepdim=True)  # frames interact: windows see less context
    out = blend_windows(lambda s, e: mixing(latents[:, :, s:e]), spans, window_weights(spans, 41), latents)
    assert not torch.allclose(out, mixing(latents), atol=1e-3)


def test_bad_plans_are_refused():
    with pytest.raises(FacecamError, match="overlap"):
        plan_windows(41, 21, 21)
    with pytest.raises(FacecamError, match="window"):
        plan_windows(41, 0, 0)
