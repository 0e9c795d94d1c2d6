"""PSNR, SSIM and LPIPS: hand-computed values on small arrays, and LPIPS's weight handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facecam.errors import FacecamError, WeightsError
from facecam.eval.metrics import (PSNR_CAP, LpipsUnavailable, load_lpips, psnr, ssim, video_psnr,
                                  video_ssim)

from conftest import one_error_line


def test_psnr_of_a_uniform_error_of_ten_levels_is_28_13_db():
    a = np.full((4, 4, 3), 100, np.uint8)
    b = np.full((4, 4, 3), 110, np.uint8)
    # MSE = 100 -> 10 log10(255^2 / 100) = 28.1308 dB
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-9)
    assert psnr(a, b) == pytest.approx(28.1308, abs=1e-4)


def test_psnr_of_one_changed_pixel_counts_it_over_all_pixels():
    a = np.zeros((2, 2), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    # MSE = 255^2 / 4 -> 10 log10(4) = 6.0206 dB
    assert psnr(a, b) == pytest.approx(6.0206, abs=1e-4)


def test_psnr_of_identical_images_is_capped():
    a = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert psnr(a, a) == PSNR_CAP


def test_ssim_of_two_flat_images_is_the_luminance_term():
    # Flat images have zero variance, so contrast-structure is (0 + C2) / (0 + C2) = 1 and
    # SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) with C1 = (0.01 * 255)^2.
    a = np.full((16, 16, 3), 100, np.uint8)
    b = np.full((16, 16, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, b) == pytest.approx(0.983611, abs=1e-6)


def test_ssim_of_an_image_and_its_negative_mean_grey_is_c2_over_its_variance_term():
    # a alternates 0/255 in a checkerboard (mean 127.5), b = 255 - a: same means and variances,
    # covariance = -variance, so SSIM = (2 mu^2 + C1)/(2 mu^2 + C1) * (-2 var + C2)/(2 var + C2).
    # With the Gaussian window the local variance is (127.5)^2 everywhere up to a tiny checkerboard
    # leakage term, so the value is very close to (C2 - 2 var) / (C2 + 2 var).
    a = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    b = 255 - a
    var = 127.5 ** 2
    c2 = (0.03 * 255) ** 2
    assert ssim(a, b) == pytest.approx((c2 - 2 * var) / (c2 + 2 * var), abs=1e-3)


def _wang_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM written out from Wang et al. (2004), independent of scikit-image: Gaussian 11x11 window
    (sigma 1.5), population statistics, per channel, the 5-pixel border left out, channels averaged."""
    from scipy.ndimage import gaussian_filter

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)

        def blur(img: np.ndarray) -> np.ndarray:
            return gaussian_filter(img, 1.5, truncate=3.5, mode="reflect")

        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
        smap = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        scores.append(smap[5:-5, 5:-5].mean())
    return float(np.mean(scores))


def test_ssim_equals_wang_et_al_written_out_on_a_random_pair():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_wang_ssim(a, b), abs=1e-9)
    assert 0.5 < ssim(a, b) < 0.99
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_a_grey_image_is_that_of_its_one_channel():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    b = np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_wang_ssim(a[..., None], b[..., None]), abs=1e-9)
    assert ssim(np.dstack([a] * 3), np.dstack([b] * 3)) == pytest.approx(ssim(a, b), abs=1e-12)


def test_ssim_of_images_smaller_than_its_window_is_one_clear_error():
    with pytest.raises(FacecamError, match="at least 11x11 pixels"):
        ssim(np.zeros((10, 40, 3), np.uint8), np.zeros((10, 40, 3), np.uint8))


@pytest.mark.parametrize("offset", [1, 5, 10, 64])
def test_psnr_of_a_constant_offset_is_20_log10_of_255_over_the_offset(offset):
    a = np.random.default_rng(3).integers(0, 256 - offset, (9, 7, 3)).astype(np.uint8)
    assert psnr(a, a + offset) == pytest.approx(20 * math.log10(255 / offset), abs=1e-9)


def test_psnr_of_different_sizes_is_one_clear_error():
    with pytest.raises(FacecamError, match="images differ in size"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_video_scores_are_means_of_frame_scores_over_the_shorter_clip():
    a = np.stack([np.full((12, 12, 3), v, np.uint8) for v in (100, 100, 50)])
    b = np.stack([np.full((12, 12, 3), v, np.uint8) for v in (110, 120)])
    assert video_psnr(a, b) == pytest.approx((psnr(a[0], b[0]) + psnr(a[1], b[1])) / 2)
    assert video_ssim(a, b) == pytest.approx((ssim(a[0], b[0]) + ssim(a[1], b[1])) / 2)


def test_lpips_without_weights_says_which_files_are_missing(tmp_path):
    with pytest.raises(LpipsUnavailable, match="AlexNet backbone .*nope.pth.*LPIPS linear heads"):
        load_lpips(tmp_path / "nope.pth", tmp_path / "nolin.pth")


def _fake_lpips_weights(tmp_path):
    import torch

    torch.manual_seed(0)
    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3),
              "features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3)}
    backbone = {}
    for name, shape in shapes.items():
        backbone[f"{name}.weight"] = torch.randn(shape) * 0.05
        backbone[f"{name}.bias"] = torch.zeros(shape[0])
    backbone["classifier.1.weight"] = torch.zeros(1)  # ignored, as torchvision's classifier is
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(backbone, tmp_path / "alex_backbone.pth")
    torch.save(linear, tmp_path / "alex_lin.pth")
    return tmp_path / "alex_backbone.pth", tmp_path / "alex_lin.pth"


@pytest.mark.slow  # first torch import: several seconds on a busy 2-core machine
def test_lpips_is_zero_for_identical_images_and_grows_with_noise(tmp_path, astronaut):
    backbone, linear = _fake_lpips_weights(tmp_path)
    metric = load_lpips(backbone, linear)
    img = astronaut[::8, ::8]
    rng = np.random.default_rng(0)
    small = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    large = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert metric(img, img) == pytest.approx(0.0, abs=1e-7)
    assert 0 < metric(img, small) < metric(img, large)


def test_lpips_rejects_a_backbone_that_is_not_alexnet(tmp_path):
    import torch

    _, linear = _fake_lpips_weights(tmp_path)
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    # A file that is there but is not the weights is the user's mistake: an error, not LPIPS left out.
    with pytest.raises(WeightsError, match=r"not torchvision's AlexNet: its features.\* tensors do not match "
                                           r"\(1 of the 10 expected names\)"):
        load_lpips(tmp_path / "bad.pth", linear)


def test_eval_metrics_cli_names_a_weight_file_that_is_not_one(tmp_path, capsys):
    """A video given as --lpips-backbone was torch.load's KeyError traceback; a folder said `not found`."""
    from facecam.cli import main

    clip = _tiny_clip(tmp_path / "a.mp4")
    backbone, linear = _fake_lpips_weights(tmp_path)
    base = ["eval", "metrics", "--reference", str(clip), "--output", str(clip)]
    assert main([*base, "--lpips-backbone", str(clip), "--lpips-linear", str(linear)]) == 2
    one_error_line(capsys, f"{clip} is not a PyTorch weight file for the AlexNet backbone")
    assert main([*base, "--lpips-backbone", str(backbone), "--lpips-linear", str(tmp_path)]) == 2
    one_error_line(capsys, "LPIPS linear heads (--lpips-linear) is a folder: give the .pth file")
    assert main([*base, "--lpips-backbone", str(backbone), "--lpips-linear", str(backbone)]) == 2
    one_error_line(capsys, "has no LPIPS linear heads")


# --- `facecam eval metrics`: bad input is one error line, before any scoring ------------------------------

def _tiny_clip(path):
    from facecam.video.io import write_video

    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    return write_video(path, frames, fps=24.0)


def test_eval_metrics_cli_refuses_a_folder_of_frames_that_differ_in_size(tmp_path, capsys, astronaut):
    """A folder holding stills of other sizes ended in numpy's "all input arrays must have the same shape"."""
    import cv2

    from facecam.cli import main

    clip = _tiny_clip(tmp_path / "gen.mp4")
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0000.png"), astronaut[..., ::-1])
    cv2.imwrite(str(folder / "0001.png"), astronaut[:256, :, ::-1])
    assert main(["eval", "metrics", "--reference", str(folder), "--output", str(clip)]) == 2
    one_error_line(capsys, "differ in size (0000.png 512x512, 0001.png 512x256)")


def test_eval_metrics_cli_refuses_a_folder_as_a_video(tmp_path, capsys):
    from facecam.cli import main

    clip = _tiny_clip(tmp_path / "gen.mp4")
    folder = tmp_path / "videos"
    folder.mkdir()
    _tiny_clip(folder / "a.mp4")
    assert main(["eval", "metrics", "--reference", str(folder), "--output", str(clip)]) == 2
    one_error_line(capsys, "give a video file")


@pytest.mark.parametrize("frames", ["0", "-3"])
def test_eval_metrics_cli_refuses_a_frame_count_below_one(tmp_path, capsys, frames):
    from facecam.cli import main

    clip = _tiny_clip(tmp_path / "gen.mp4")
    assert main(["eval", "metrics", "--reference", str(clip), "--output", str(clip), "--frames", frames]) == 2
    one_error_line(capsys, f"--frames must be at least 1, got {frames}")


@pytest.mark.parametrize("flag", ["--lpips-backbone", "--lpips-linear"])
def test_eval_metrics_cli_refuses_an_lpips_weight_file_that_is_not_there(tmp_path, capsys, flag):
    from facecam.cli import main

    clip = _tiny_clip(tmp_path / "gen.mp4")
    missing = tmp_path / "nope.pth"
    assert main(["eval", "metrics", "--reference", str(clip), "--output", str(clip), flag, str(missing)]) == 2
    assert f"({flag}) not found: {missing}" in one_error_line(capsys, "not found")


def test_eval_metrics_says_when_it_resized_or_cut_the_output(tmp_path, capsys):
    # Two videos of other sizes (even other people) were compared with only "resized: true" in the result.
    from facecam.cli import main
    from facecam.video.io import write_video

    reference = _tiny_clip(tmp_path / "ref.mp4")
    other = write_video(tmp_path / "other.mp4", np.zeros((9, 48, 64, 3), np.uint8), fps=24.0)
    assert main(["eval", "metrics", "--reference", str(reference), "--output", str(other), "--json"]) == 0
    captured = capsys.readouterr()
    assert '"resized": true' in captured.out
    assert ("facecam: note: the output (48x64, HxW) was resized to the reference's 32x32 before comparing" in
            captured.err)
    assert "the videos differ in length (5 and 9 frames read); the first 5 are compared" in captured.err
    assert main(["eval", "metrics", "--reference", str(reference), "--output", str(reference)]) == 0
    assert capsys.readouterr().err == ""


def test_plain_text_results_show_a_score_not_computed_as_a_dash(capsys):
    # `facecam eval metrics` without LPIPS weights printed "lpips: None"; docs and tables show "-".
    from facecam.cli.eval import _print

    _print({"psnr": 20.604812, "lpips": None, "resized": False, "quality": {"flicker": None}}, False)
    assert capsys.readouterr().out.splitlines() == ["psnr: 20.60481", "lpips: -", "resized: False",
                                                    "quality.flicker: -"]
