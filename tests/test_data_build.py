"""Building shards: determinism, crash-resume, machine split, in-the-wild pairs, latents, training reader, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import grey_clip, media_path, one_error_line
from facecam.data.build import build_dataset, shard_plan
from facecam.data.dataset import FaceCamShards, collate_samples
from facecam.data.nersemble import scan_nersemble
from facecam.data.samples import BuildConfig, SampleContext, Sources, make_sample
from facecam.data.condition import stored_condition
from facecam.data.shards import decode_mp4, iter_shard, load_npy
from facecam.data.wild import scan_wild
from facecam.eval.metrics import psnr
from test_data import FRAMES, SIZE, make_tree, reference_place

CONFIG = BuildConfig(frames=FRAMES, size=SIZE, samples_per_shard=2, wild_fraction=0.5)


@pytest.fixture(scope="module")
def wild_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wild")
    for name in ("lp_d0.mp4", "facecam_000.mp4"):
        (folder / name).symlink_to(media_path(name))
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory, wild_dir) -> Sources:
    from facecam.video.io import read_video

    clip = read_video(media_path("facecam_000.mp4"), fps=None, num_frames=None)
    base = np.stack([cv2.resize(f, (256, 352), interpolation=cv2.INTER_AREA) for f in clip.frames[:60]])
    tree = make_tree(tmp_path_factory.mktemp("nersemble"), base)
    return Sources(scan_nersemble(tree, "all"), scan_wild(wild_dir))


@pytest.fixture(scope="module")
def built(tmp_path_factory, sources) -> Path:
    """4 samples (mixed sources) in 2 shards, seed 5, one worker."""
    out = tmp_path_factory.mktemp("build_a")
    summary = build_dataset(out, sources, 4, seed=5, config=CONFIG, workers=1, progress=False)
    assert summary.shards == ["shard-000000.tar", "shard-000001.tar"] and summary.samples_made == 4
    return out


def shard_keys(out: Path) -> list[str]:
    return [k for p in sorted(out.glob("shard-*.tar")) for k, _ in iter_shard(p)]


# --- determinism ------------------------------------------------------------------------------

@pytest.mark.slow
def test_same_seed_gives_the_same_bytes_whatever_the_worker_count(built, sources, tmp_path):
    again = tmp_path / "b"
    build_dataset(again, sources, 4, seed=5, config=CONFIG, workers=2, progress=False)
    for name in ("shard-000000.tar", "shard-000001.tar"):
        assert (again / name).read_bytes() == (built / name).read_bytes()


@pytest.mark.slow
def test_a_build_split_over_two_machines_gives_the_same_shards(built, sources, tmp_path):
    split = tmp_path / "split"
    parts = [build_dataset(split, sources, 4, seed=5, config=CONFIG, num_shards=2, shard_index=i, progress=False)
             for i in (0, 1)]
    assert [p.shards for p in parts] == [["shard-000000.tar"], ["shard-000001.tar"]]
    for name in ("shard-000000.tar", "shard-000001.tar"):
        assert (split / name).read_bytes() == (built / name).read_bytes()
    assert not (split / ".staging").exists() and not (built / ".staging").exists()  # no empty folder left


@pytest.mark.slow
def test_different_seed_gives_different_samples(built, sources, tmp_path):
    other = tmp_path / "c"
    build_dataset(other, sources, 4, seed=6, config=CONFIG, workers=1, progress=False)
    a = {k: f for k, f in iter_shard(built / "shard-000000.tar")}
    b = {k: f for k, f in iter_shard(other / "shard-000000.tar")}
    assert a.keys() == b.keys()
    for key in a:
        assert json.loads(a[key]["json"]) != json.loads(b[key]["json"])
        assert a[key]["target.mp4"] != b[key]["target.mp4"]


def test_every_sample_records_its_parameters_and_provenance(built):
    kinds = set()
    for key, fields in iter_shard(built / "shard-000000.tar"):
        meta = json.loads(fields["json"])
        kinds.add(meta["kind"])
        assert meta["key"] == key and meta["seed"] == 5 and meta["config"]["frames"] == FRAMES
        assert set(meta["motion"]) == {"scale0", "scale1", "h0", "w0", "h1", "w1"}
        assert set(meta["still"]) == {"scale", "pos_h", "pos_w"}
        if meta["kind"] == "nersemble":
            assert meta["sequence"]["participant"] == "001" and meta["segments"]
            assert meta["background"]["colour"] == meta["background_colour"]
            assert set(meta["calibration"]["world_2_cam"]) == {meta["source_camera"], *meta["target_cameras"]}
        else:
            assert Path(meta["clip"]).name in ("lp_d0.mp4", "facecam_000.mp4") and meta["crop"]
        for clip in ("source", "target"):
            assert decode_mp4(fields[f"{clip}.mp4"]).shape == (FRAMES, *SIZE, 3)
        meshes = load_npy(fields["condition_mesh.npy"])  # one per stitched camera; one for a wild clip
        assert meshes.shape == (len(meta.get("segments", [None])), 478, 3)
        assert sum(meta["condition"]["frames"]) == FRAMES and meta["condition"]["size"] == list(SIZE)
        assert stored_condition(meshes, meta).shape == (FRAMES, *SIZE, 3)


# --- machine split and resume ------------------------------------------------------------------

def test_machine_split_covers_every_shard_exactly_once():
    parts = [shard_plan(100, 8, num_shards=3, shard_index=i) for i in range(3)]
    shards = sorted(s for p in parts for s in p)
    assert shards == list(range(13))
    samples = sorted(i for p in parts for v in p.values() for i in v)
    assert samples == list(range(100))


def test_a_sample_recorded_twice_keeps_the_first_and_a_killed_writers_leftovers_are_cleaned(tmp_path):
    from facecam.data.shards import clean_stale, sample_dir, write_failed

    write_failed(tmp_path, 0, 3, ["no face"])
    write_failed(tmp_path, 0, 3, ["other reason"])  # another process finished first: its record stays
    done = sample_dir(tmp_path, 0, 3)
    assert json.loads((done / "failed.json").read_text())["reasons"] == ["no face"]
    stale_sample = done.with_name(".sample-00000004.999.tmp")  # temporary names of pid 999 (killed)
    stale_sample.mkdir()
    stale_shard = tmp_path / ".shard-000000.999.tmp.tar"
    stale_shard.write_bytes(b"half a tar")
    clean_stale(tmp_path, 0)
    assert not stale_sample.exists() and not stale_shard.exists()
    assert sorted(p.name for p in done.parent.iterdir()) == ["sample-00000003"]


@pytest.mark.slow
def test_killed_build_restarted_finishes_every_shard_once(wild_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "facecam", "data", "build", "--wild", str(wild_dir), "-o", str(out),
           "--samples", "8", "--samples-per-shard", "2", "--frames", str(FRAMES), "--size", "176x128",
           "--workers", "2", "--seed", "3", "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    # Kill the whole process group (parent and workers) as soon as the first samples land.
    while time.time() < deadline:
        staged = list((out / ".staging").glob("shard-*/sample-*")) if (out / ".staging").is_dir() else []
        if len(staged) >= 2 or list(out.glob("shard-*.tar")):
            break
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(out.glob("shard-*.tar"))) < 4, "the build finished before it could be killed"

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "4 shards complete" in done.stdout and "already there" in done.stdout
    assert sorted(p.name for p in out.glob("shard-*.tar")) == [f"shard-{i:06d}.tar" for i in range(4)]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]  # no temporary shard left behind
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())
    keys = shard_keys(out)
    assert keys == [f"sample-{i:08d}" for i in range(8)]  # all there, none duplicated, in order
    for shard in sorted(out.glob("shard-*.tar")):
        for key, fields in iter_shard(shard):
            assert sorted(fields) == ["condition_mesh.npy", "json", "source.mp4", "target.mp4"]
            assert decode_mp4(fields["target.mp4"]).shape[0] == FRAMES
            assert json.loads(fields["json"])["key"] == key


# --- in-the-wild pairs -------------------------------------------------------------------------

@pytest.mark.slow
def test_wild_target_is_the_source_clip_under_the_recorded_zoom_pan(wild_dir, tmp_path):
    from facecam.video.crop import CropBox, apply_crop
    from facecam.video.io import read_video

    out = tmp_path / "wild"
    build_dataset(out, Sources([], scan_wild(wild_dir)), 2, seed=11, config=CONFIG, progress=False)
    for key, fields in iter_shard(out / "shard-000000.tar"):
        meta = json.loads(fields["json"])
        start = meta["start_frame"]
        needed = start + FRAMES + (1 - start - FRAMES) % 4
        # The record names the clip as build.json does: relative to the folder of clips, not as typed.
        assert meta["clip"] in json.loads((out / "build.json").read_text())["wild_clips"]
        assert not Path(meta["clip"]).is_absolute()
        clip = read_video(Path(wild_dir) / meta["clip"], fps=24, num_frames=needed).frames[start:start + FRAMES]
        h, w = meta["decoded_size"]  # frames are shrunk on decode to just cover the crop
        clip = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in clip])
        cropped = apply_crop(clip, CropBox(**meta["crop"]))
        m, s = meta["motion"], meta["still"]
        target, source = decode_mp4(fields["target.mp4"]), decode_mp4(fields["source.mp4"])
        for i in range(FRAMES):
            t = i / (FRAMES - 1)
            scale = m["scale0"] + t * (m["scale1"] - m["scale0"])
            want = reference_place(cropped[i], scale, m["h0"] + t * (m["h1"] - m["h0"]),
                                   m["w0"] + t * (m["w1"] - m["w0"]), 0)
            assert psnr(target[i], want) > 30, f"{key} target frame {i}"
            still = reference_place(cropped[i], s["scale"], s["pos_h"], s["pos_w"], meta["source_fill"])
            assert psnr(source[i], still) > 28, f"{key} source frame {i}"
        # the condition is the first frame's mesh, zoomed like the target: its first frame is not blank
        condition = stored_condition(load_npy(fields["condition_mesh.npy"]), meta)
        assert (condition[0] < 200).any() and meta["motion"]["scale0"] >= 1.0


# --- latents -----------------------------------------------------------------------------------

class PoolEncoder:
    """A stand-in VAE with the builder's interface: 4x temporal, 8x spatial mean pooling to 16 channels."""

    def encode_video(self, frames: np.ndarray) -> np.ndarray:
        x = frames.astype(np.float32) / 127.5 - 1.0
        t = np.concatenate([x[:1], x[1:]])[::4]  # (T', H, W, 3) with T' = (T - 1) / 4 + 1
        h, w = x.shape[1] // 8, x.shape[2] // 8
        pooled = t[:, :h * 8, :w * 8].reshape(len(t), h, 8, w, 8, 3).mean(axis=(2, 4))
        return np.tile(pooled.transpose(3, 0, 1, 2), (6, 1, 1, 1))[:16]


def test_latents_are_stored_next_to_the_videos_and_read_back(wild_dir, tmp_path):
    out = tmp_path / "lat"
    sources = Sources([], scan_wild(wild_dir))
    config = BuildConfig(frames=9, size=(128, 96))
    build_dataset(out, sources, 1, seed=2, config=config, encoder=PoolEncoder(), progress=False)
    (key, fields), = list(iter_shard(out / "shard-000000.tar"))
    assert json.loads(fields["json"])["latents"] == ["condition", "source", "target"]
    sample, _ = make_sample(0, 2, sources, config, SampleContext())
    for clip in ("source", "target", "condition"):
        z = load_npy(fields[f"{clip}_latent.npy"])
        assert z.shape == (16, 3, 16, 12) and z.dtype == np.float16
        want = PoolEncoder().encode_video(getattr(sample, clip)).astype(np.float16)
        np.testing.assert_array_equal(z, want)  # encoded from the exact frames, before H.264
    # the pixel condition the reader draws is the very drawing the condition latent was encoded from
    pixels = next(iter(FaceCamShards(out, shuffle=False, latents=False)))["condition"]
    np.testing.assert_array_equal(((pixels.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy(), sample.condition)
    assert json.loads(fields["json"])["format"] == "facecam-sample/3"
    item = next(iter(FaceCamShards(out, shuffle=False)))
    assert item["meta"]["latents"] is True and tuple(item["target"].shape) == (16, 3, 16, 12)
    pixels = next(iter(FaceCamShards(out, shuffle=False, latents=False)))
    assert tuple(pixels["target"].shape) == (9, 3, 128, 96)
    with pytest.raises(Exception, match="no latents"):
        next(iter(FaceCamShards(_pixels_only(tmp_path, sources), latents=True)))


def _pixels_only(tmp_path: Path, sources: Sources) -> Path:
    out = tmp_path / "pix"
    build_dataset(out, sources, 1, seed=2, config=BuildConfig(frames=9, size=(128, 96)), progress=False)
    return out


@pytest.mark.slow
def test_wan_video_encoder_normalises_the_posterior_mean_of_a_tiny_wan_vae():
    import torch

    from facecam.data.latents import WanVideoEncoder
    from facecam.model.tiny import tiny_vae

    vae = tiny_vae()
    encoder = WanVideoEncoder(vae)
    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    z = encoder.encode_video(frames)
    assert tuple(z.shape) == (16, 2, 4, 4)
    pixels = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        mean = vae.encode(pixels).latent_dist.mean[0]
    stats_mean = torch.tensor(vae.config.latents_mean).view(-1, 1, 1, 1)
    stats_std = torch.tensor(vae.config.latents_std).view(-1, 1, 1, 1)
    torch.testing.assert_close(z, (mean - stats_mean) / stats_std)


# --- training reader ----------------------------------------------------------------------------

def test_reader_yields_tensors_in_minus_one_to_one(built):
    item = next(iter(FaceCamShards(built, shuffle=False)))
    for clip in ("source", "target", "condition"):
        x = item[clip]
        assert tuple(x.shape) == (FRAMES, 3, *SIZE) and x.dtype.is_floating_point
        assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(item["condition"].max()) == 1.0  # the condition's white canvas
    assert item["meta"]["key"] == "sample-00000000" and item["meta"]["position"] == 0
    batch = collate_samples([item, item])
    assert tuple(batch["target"].shape) == (2, FRAMES, 3, *SIZE) and len(batch["meta"]) == 2


def test_reader_order_is_the_same_with_or_without_dataloader_workers(built):
    from torch.utils.data import DataLoader

    plain = [s["meta"]["key"] for s in FaceCamShards(built, seed=1)]
    loader = DataLoader(FaceCamShards(built, seed=1), batch_size=None, num_workers=2)
    assert [s["meta"]["key"] for s in loader] == plain
    assert sorted(plain) == [f"sample-{i:08d}" for i in range(4)]
    # shuffling depends on the seed and changes every epoch (8 possible orders of 2 shards x 2 samples)
    keys = lambda ds, epoch=0: [k for _, k in ds.order(epoch)]  # noqa: E731 - what iteration yields
    assert keys(FaceCamShards(built, seed=1)) == plain
    assert any(keys(FaceCamShards(built, seed=seed)) != plain for seed in (2, 3, 4))
    assert keys(FaceCamShards(built, seed=1), epoch=1) != plain
    assert keys(FaceCamShards(built, shuffle=False)) == sorted(plain)


def test_reader_splits_samples_across_ranks(built):
    ranks = [[s["meta"]["key"] for s in FaceCamShards(built, rank=r, world_size=2, seed=4)] for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 2
    assert sorted(ranks[0] + ranks[1]) == [f"sample-{i:08d}" for i in range(4)]


def test_reader_resumes_exactly_where_it_stopped(built):
    full = [s["meta"]["key"] for s in FaceCamShards(built, seed=9, epochs=2)]
    ds = FaceCamShards(built, seed=9, epochs=2)
    it = iter(ds)
    seen = [next(it)["meta"] for _ in range(5)]  # into the second epoch
    state = ds.state_dict()
    assert state["epoch"] == 1 and state["position"] == 1
    assert ds.state_after(seen[-1]) == state  # what a trainer with worker processes would save
    resumed = FaceCamShards(built, seed=9, epochs=2)
    resumed.load_state_dict(state)
    assert [m["key"] for m in seen] + [s["meta"]["key"] for s in resumed] == full


# --- CLI ------------------------------------------------------------------------------------------

def test_cli_show_writes_a_contact_sheet(built, tmp_path, capsys):
    from facecam.cli import main

    png = tmp_path / "sheet.png"
    assert main(["data", "show", str(built / "shard-000000.tar"), "-o", str(png), "--samples", "2"]) == 0
    sheet = cv2.imread(str(png))
    # two rows of 3 times x (source | target | condition) thumbnails 176 high
    assert sheet.shape[0] >= 2 * 176 and sheet.shape[1] >= 9 * 128
    assert "2 samples" in capsys.readouterr().out
    folder = tmp_path / "sheets.png"
    folder.mkdir()
    assert main(["data", "show", str(built / "shard-000000.tar"), "-o", str(folder)]) == 2  # (a traceback)
    assert f"-o {folder} is a folder, not an image file" in capsys.readouterr().err


def test_cli_build_without_a_source_is_one_clear_error(tmp_path, capsys):
    from facecam.cli import main

    assert main(["data", "build", "-o", str(tmp_path / "x"), "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("facecam: error:") and "--nersemble" in err and "Traceback" not in err


def test_cli_build_into_an_unwritable_place_or_without_a_face_leaves_nothing(tmp_path, capsys):
    """`-o /proc/x` was a FileNotFoundError traceback; a build where every clip had no face left an empty
    shard, a build.json and its caches behind, which read as a build."""
    from facecam.cli import main
    from facecam.video.io import write_video

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    faceless = tmp_path / "faceless"
    faceless.mkdir()
    write_video(faceless / "plain.mp4", np.full((25, 64, 64, 3), 120, np.uint8), 24.0)
    argv = ["data", "build", "--wild", str(faceless), "--samples", "1", "--frames", "17", "--size", "352x240",
            "--quiet"]
    assert main([*argv, "-o", str(blocker / "shards")]) == 2
    one_error_line(capsys, "cannot write to output folder")
    assert main([*argv, "-o", str(tmp_path / "shards")]) == 2
    captured = capsys.readouterr()
    assert "no sample could be made" in captured.err
    assert not (tmp_path / "shards").exists()
    assert "complete" not in captured.out and "summary" not in captured.out  # (it named a summary that then went)
    # A folder that was there before (another build's, say) is left as it was.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main([*argv, "-o", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_cli_data_names_a_file_given_for_a_folder_and_a_folder_for_a_file(tmp_path, capsys):
    from facecam.cli import main

    clip = grey_clip(tmp_path / "clip.mp4")
    assert main(["data", "build", "--wild", str(clip), "-o", str(tmp_path / "out"), "--samples", "1"]) == 2
    one_error_line(capsys, "--wild takes a folder of clips, got a file")
    assert main(["data", "show", str(tmp_path)]) == 2
    one_error_line(capsys, "is a folder and holds no shard-XXXXXX.tar (written by `facecam data build`)")
    (tmp_path / "shard-000001.tar").write_bytes(b"")
    (tmp_path / "shard-000000.tar").write_bytes(b"")
    assert main(["data", "show", str(tmp_path)]) == 2  # the folder of a build: its first shard is named
    one_error_line(capsys, f"is a folder: give one of its shard files, e.g. {tmp_path / 'shard-000000.tar'}")
    # --output as every other verb spells it; a stride below 1 is refused before any work
    assert main(["data", "build", "--wild", str(tmp_path), "--output", str(tmp_path / "out"), "--samples", "1",
                 "--stride", "0"]) == 2
    one_error_line(capsys, "--stride must be at least 1, got 0")


def test_cli_build_refuses_to_resume_with_other_options(built, wild_dir, capsys):
    from facecam.cli import main

    assert main(["data", "build", "--wild", str(wild_dir), "-o", str(built), "--samples", "4", "--seed", "5",
                 "--frames", str(FRAMES), "--size", "176x128", "--samples-per-shard", "2", "--quiet"]) == 2
    assert "other options" in capsys.readouterr().err


def _tiny_tar(path: Path) -> Path:
    """A valid tar with one member: enough for the checks made before a shard is read."""
    import tarfile

    (path.parent / "x.json").write_text("{}")
    with tarfile.open(path, "w") as tar:
        tar.add(path.parent / "x.json", arcname="sample-00000000.json")
    (path.parent / "x.json").unlink()
    return path


def test_cli_build_refuses_an_output_that_is_a_file_before_any_work(tmp_path, capsys):
    from facecam.cli import main

    (tmp_path / "wild").mkdir()
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"mine")
    assert main(["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(existing), "--samples", "2",
                 "--frames", "17", "--quiet"]) == 2
    one_error_line(capsys, "exists and is not a folder")
    assert existing.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["existing.mp4", "wild"]


def test_cli_show_refuses_a_file_that_is_not_a_shard(tmp_path, capsys):
    from facecam.cli import main

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a tar")
    assert main(["data", "show", str(clip)]) == 2
    one_error_line(capsys, "not a shard")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_cli_show_refuses_an_output_name_that_is_not_an_image(tmp_path, capsys):
    from facecam.cli import main

    shard = _tiny_tar(tmp_path / "shard-000000.tar")
    assert main(["data", "show", str(shard), "-o", str(tmp_path / "tmp_show")]) == 2
    one_error_line(capsys, "give a .png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.tar"]


@pytest.mark.parametrize("samples", ["0", "-1"])
def test_cli_show_refuses_a_sample_count_below_one(tmp_path, capsys, samples):
    from facecam.cli import main

    shard = _tiny_tar(tmp_path / "shard-000000.tar")
    assert main(["data", "show", str(shard), "--samples", samples]) == 2
    one_error_line(capsys, f"--samples must be at least 1, got {samples}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.tar"]


@pytest.mark.slow
def test_an_unreadable_clip_is_replanned_and_reported_not_fatal(tmp_path):
    wild = tmp_path / "wild"
    wild.mkdir()
    (wild / "broken.mp4").write_bytes(b"not a video at all")
    (wild / "lp_d0.mp4").symlink_to(media_path("lp_d0.mp4"))
    config = BuildConfig(frames=9, size=(128, 96), samples_per_shard=4)
    summary = build_dataset(tmp_path / "out", Sources([], scan_wild(wild)), 4, seed=1, config=config, progress=False)
    assert summary.failed == [] and summary.retried > 0
    assert all("broken.mp4" in reason for reason in summary.reasons)
    metas = [json.loads(f["json"]) for _, f in iter_shard(tmp_path / "out" / "shard-000000.tar")]
    assert len(metas) == 4 and all(Path(m["clip"]).name == "lp_d0.mp4" for m in metas)
    assert any(m["failed_attempts"] for m in metas)


def test_a_sample_that_fails_every_attempt_is_left_out_and_listed(tmp_path):
    wild = tmp_path / "wild"
    wild.mkdir()
    (wild / "broken.mp4").write_bytes(b"not a video at all")
    config = BuildConfig(frames=9, size=(128, 96), samples_per_shard=2, max_attempts=2)
    summary = build_dataset(tmp_path / "out", Sources([], scan_wild(wild)), 2, seed=1, config=config, progress=False)
    assert summary.failed == [0, 1] and summary.retried == 4
    assert list(iter_shard(tmp_path / "out" / "shard-000000.tar")) == []


# --- the condition, losslessly -------------------------------------------------------------------

def test_the_condition_round_trips_through_a_shard_exactly_as_drawn(tmp_path):
    """Shards store the meshes; the reader draws them with the inference drawing code, so training sees that
    drawing pixel for pixel and the mesh's 1-2 px coloured lines survive (H.264 4:2:0 turned the blue eye
    lines (48,48,255) into about (53,51,217))."""
    from facecam.condition.builder import build_condition
    from facecam.condition.raster import render_condition
    from facecam.data.augment import MotionParams
    from facecam.data.condition import condition_record
    from facecam.data.shards import pack_shard, write_sample

    clip = build_condition(media_path("facecam_000.mp4"), camera="arc-left", num_frames=9, size=(352, 240))
    size = clip.condition.shape[1:3]
    meshes = clip.condition_points[[0, 8]]  # two segments (two cameras), of 4 and 5 frames
    drawn = render_condition(meshes, size)
    np.testing.assert_array_equal(drawn, clip.condition[[0, 8]])  # what `facecam generate` draws
    blue = (drawn == (48, 48, 255)).all(axis=-1)
    assert blue[0].sum() > 50 and blue[1].sum() > 50  # the eye lines are there to lose
    still = MotionParams(1.0, 1.0, 0.0, 0.0, 0.0, 0.0)  # the drawing itself; the zoom/pan is tested with the build
    meta = {"key": "sample-00000000", "condition": condition_record([4, 5], size), "motion": still.to_dict()}
    write_sample(tmp_path, 0, 0, clip.source, clip.source, meshes, meta, 24.0)
    shard, failed = pack_shard(tmp_path, 0, [0])
    (key, fields), = list(iter_shard(shard))
    assert failed == [] and sorted(fields) == ["condition_mesh.npy", "json", "source.mp4", "target.mp4"]
    np.testing.assert_array_equal(load_npy(fields["condition_mesh.npy"]), meshes)
    item = next(iter(FaceCamShards(shard, shuffle=False, latents=False)))
    pixels = ((item["condition"].permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    want = np.repeat(drawn, [4, 5], axis=0)
    np.testing.assert_array_equal(pixels, want)
    assert (pixels[0][blue[0]] == (48, 48, 255)).all() and (pixels[8][blue[1]] == (48, 48, 255)).all()
    # for comparison, what H.264 does to the same lines
    smeared = decode_mp4(_h264(want))
    assert np.abs(smeared[0][blue[0]].astype(int) - (48, 48, 255)).max() > 20


def _h264(frames):
    import tempfile

    from facecam.video.io import write_video

    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "x.mp4", frames, 24.0)
        return Path(path).read_bytes()


def _old_format_shard(path: Path, condition: str = "camera.mp4") -> Path:
    """A shard as older builds wrote it: the condition as frames, an H.264 camera.mp4 (format 1) or an npz (2)."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in (("sample-00000000.json", b"{}"), ("sample-00000000.source.mp4", b"x"),
                           ("sample-00000000.target.mp4", b"x"), (f"sample-00000000.{condition}", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("condition", ["camera.mp4", "condition.npz"])
def test_a_shard_with_the_condition_stored_as_frames_is_refused_naming_the_rebuild(tmp_path, condition):
    from facecam.errors import FacecamError

    shard = _old_format_shard(tmp_path / "shard-000000.tar", condition)
    with pytest.raises(FacecamError, match=r"shard-000000.tar was built by an older facecam .*: "
                                           r"rebuild it with `facecam data build`$"):
        FaceCamShards(shard, shuffle=False)  # at construction, before a training run starts


def test_the_contact_sheet_of_an_old_shard_is_refused_naming_the_rebuild(tmp_path):
    from facecam.data.show import contact_sheet
    from facecam.errors import FacecamError

    shard = _old_format_shard(tmp_path / "shard-000000.tar")
    with pytest.raises(FacecamError, match="rebuild it with `facecam data build`"):
        contact_sheet(shard, tmp_path / "sheet.png")
    assert not (tmp_path / "sheet.png").exists()


def test_the_vae_encoder_batches_a_samples_clips_and_picks_device_and_precision(tmp_path):
    import torch

    from facecam.data.latents import WanVideoEncoder, encode_latents
    from facecam.errors import FacecamError
    from facecam.model.tiny import tiny_vae

    tiny_vae().save_pretrained(tmp_path / "vae")
    encoder = WanVideoEncoder.from_pretrained(str(tmp_path / "vae"))  # no GPU here: CPU, fp32
    assert encoder.device.type == "cpu" and next(encoder.vae.parameters()).dtype == torch.float32
    rng = np.random.default_rng(0)
    clips = {k: rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8) for k in ("source", "target", "condition")}
    batched = encoder.encode_videos(clips)
    for name, frames in clips.items():
        torch.testing.assert_close(batched[name], encoder.encode_video(frames), atol=1e-5, rtol=1e-5)
    assert sorted(encode_latents(encoder, clips)) == ["condition", "source", "target"]
    half = WanVideoEncoder.from_pretrained(str(tmp_path / "vae"), "cpu", "bfloat16")
    assert next(half.vae.parameters()).dtype == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(FacecamError, match="no CUDA device"):
            WanVideoEncoder.from_pretrained(str(tmp_path / "vae"), "cuda")


def test_cli_build_where_every_sample_fails_is_an_error_not_a_success(tmp_path, capsys):
    """A folder whose only clip has no face used to end "1 shards complete (2 samples made)", exit 0,
    with an empty shard: the failed samples were counted as made."""
    from facecam.cli import main
    from facecam.video.io import write_video

    (tmp_path / "wild").mkdir()
    write_video(tmp_path / "wild" / "wall.mp4", np.full((24, 96, 128, 3), 120, np.uint8), 24.0)
    assert main(["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(tmp_path / "out"), "--samples", "2",
                 "--frames", "17", "--size", "176x128", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no "1 shard complete in out ... summary: out/..." for a folder that goes
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("facecam: error:") and "no sample could be made: all 2 failed" in last
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("flag, value", [("--samples", "0"), ("--samples-per-shard", "-1")])
def test_cli_build_refuses_a_count_below_one_before_any_work(tmp_path, capsys, flag, value):
    from facecam.cli import main

    (tmp_path / "wild").mkdir()
    args = {"--samples": "2", "--samples-per-shard": "2", flag: value}
    assert main(["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(tmp_path / "out"), "--frames", "17",
                 "--quiet", *[x for kv in args.items() for x in kv]]) == 2
    one_error_line(capsys, f"{flag} must be at least 1, got {value}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--num-shards", "0"], "--num-shards must be at least 1, got 0"),
    (["--num-shards", "2", "--shard-index", "2"], "--shard-index must be in 0..1 (--num-shards 2), got 2"),
    (["--frames", "1"], "--frames must be at least 5 for training clips (4k+1, e.g. 17, 49, 81), got 1"),
    (["--cache", "FILE"], "cannot write to --cache folder"),
])
def test_cli_build_refuses_bad_split_frames_or_cache_before_any_work(tmp_path, capsys, extra, message):
    # --num-shards 0 was blamed on --shard-index; --frames 1 made still "clips"; a --cache that is a file
    # was a FileExistsError traceback after build.json had been written.
    from facecam.cli import main

    (tmp_path / "wild").mkdir()
    (tmp_path / "FILE").write_text("not a folder")
    extra = [str(tmp_path / "FILE") if x == "FILE" else x for x in extra]
    argv = ["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(tmp_path / "out"), "--samples", "1", "--quiet"]
    assert main([*argv, *(["--frames", "17"] if "--frames" not in extra else []), *extra]) == 2
    one_error_line(capsys, message)
    assert not (tmp_path / "out").exists()


def test_cli_build_warns_of_a_short_clip_and_says_when_there_is_nothing_to_do(tmp_path, capsys):
    # A clip shorter than --frames is held on its last frame: the samples were made without a word.
    # Re-running a finished build said "0 samples made", as if it had failed.
    from facecam.cli import main
    from facecam.video.io import read_video, write_video

    (tmp_path / "wild").mkdir()
    frames = read_video(media_path("facecam_000.mp4"), num_frames=13).frames[:10]
    write_video(tmp_path / "wild" / "short.mp4", np.stack([cv2.resize(f, (256, 352)) for f in frames]), 24.0)
    argv = ["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(tmp_path / "out"), "--samples", "1",
            "--frames", "17", "--size", "176x128", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "1 shard complete" in captured.out and "(1 sample made: 1 wild;" in captured.out
    assert ("facecam: warning: 1 sample of this run came from clips shorter than 17 frames at 24 fps: "
            "their last frame is held to the end") in captured.err
    record = json.loads((tmp_path / "out" / "summary-0000-of-0001.json").read_text())
    assert record["short_clip_samples"] == 1 and record["samples_made"] == 1
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"nothing to do: the build in {tmp_path / 'out'} is complete (1 shard)")
    assert "warning" not in captured.err


def test_a_wild_clip_window_with_a_cut_is_not_made_into_a_sample(tmp_path):
    # The wild pair's condition is the first frame's mesh: across a cut to another shot it lies about the
    # target's face. Such a window is another failed attempt, named in the sample's record.
    from facecam.video.io import read_video, write_video

    shots = [np.stack([cv2.resize(f, (256, 352), interpolation=cv2.INTER_AREA)
                       for f in read_video(media_path(name), num_frames=9).frames])
             for name in ("lp_d9.mp4", "facecam_000.mp4")]
    folder = tmp_path / "edited"
    folder.mkdir()
    write_video(folder / "cuts.mp4", np.concatenate([shots[0], shots[1]] * 3)[:48], 24.0)  # a cut every 9 frames
    sources = Sources([], scan_wild(folder))
    config = BuildConfig(frames=17, size=SIZE, max_attempts=3)
    sample, failures = make_sample(0, 1, sources, config, SampleContext())
    assert sample is None and len(failures) == 3
    assert all("cuts to another shot at frame" in f and "must be one shot" in f for f in failures)
    # One shot, the same reader: a sample.
    write_video(folder / "cuts.mp4", np.concatenate([shots[0], shots[0][::-1], shots[0]]), 24.0)
    sample, failures = make_sample(0, 1, sources, config, SampleContext())
    assert sample is not None and not failures


def test_cli_build_job_that_owns_no_shard_says_so_and_every_job_hears_of_the_split(tmp_path, capsys):
    """README's array example (64 samples over --num-shards 8) left jobs 2-7 saying "the build is complete
    (0 shards)": 64 samples at 32 a shard make 2 shards."""
    from facecam.cli import main
    from facecam.video.io import write_video

    (tmp_path / "wild").mkdir()
    write_video(tmp_path / "wild" / "wall.mp4", np.full((9, 96, 128, 3), 120, np.uint8), 24.0)
    argv = ["data", "build", "--wild", str(tmp_path / "wild"), "-o", str(tmp_path / "out"), "--samples", "64",
            "--frames", "17", "--num-shards", "8", "--shard-index", "5", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("nothing to do: --shard-index 5 owns no shard (64 samples make 2 shards)")
    assert "complete" not in captured.out
    warning = captured.err.strip().splitlines()[0]
    assert warning.startswith("facecam: warning: 64 samples at --samples-per-shard 32 make 2 shards, fewer than "
                              "--num-shards 8: jobs 2-7 (--shard-index) have none")
