"""NeRSemble layouts as the releases ship them: matte folder names, v1 per-frame folders, frame
numbers of any width, marked sequences; and a build's settings that hold across machines.

Trees are made in tmp from the shared clip with the barcoded cameras of ``test_data``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecam.data.build import build_dataset
from facecam.data.nersemble import SERIALS, NersembleReader, read_camera_params, scan_nersemble
from facecam.data.samples import Sources, plan_sample, render_sample
from facecam.data.wild import scan_wild
from facecam.errors import FacecamError
from facecam.video.io import write_video
from test_data import (CAMERAS, CONFIG, MASK_BAND, SIZE, STORED, base_clip, camera_view, context,  # noqa: F401
                       make_tree, read_stamp, stamp)

TIMES = 8  # frames per camera in these trees


def camera_frames(base: np.ndarray, cam: int, times) -> list[np.ndarray]:
    return [stamp(camera_view(base[t], cam), t, cam) for t in times]


def matte(t: int) -> np.ndarray:
    """The stored matte of frame ``t``: foreground except a bottom band ``MASK_BAND + 8 t`` pixels high."""
    mask = np.full(STORED, 255, np.uint8)
    mask[STORED[0] - MASK_BAND - 8 * t:] = 0
    return mask


def zero_rows(mask: np.ndarray) -> int:
    """Rows at the bottom of an output-size mask that are background."""
    return int((mask.max(axis=1) < 0.5).sum())


def imwrite_rgb(path: Path, frame: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 97])


@pytest.mark.parametrize("folder", ["alpha_map", "alpha_maps"])
def test_video_mattes_are_read_from_either_release_folder_name(tmp_path, base_clip, folder):
    root = make_tree(tmp_path, base_clip[:TIMES], layout="video")
    seq_dir = root / "001" / "sequences" / "EXP-1-head"
    (seq_dir / folder).mkdir()
    for serial in SERIALS[:CAMERAS]:
        write_video(seq_dir / folder / f"cam_{serial}.mp4",
                    np.stack([np.repeat(matte(t)[..., None], 3, axis=2) for t in range(TIMES)]), 24.0)
    seq = scan_nersemble(root, "all")[0]
    assert seq.layout == "video" and seq.masks == folder
    frames, masks = NersembleReader().read(seq, SERIALS[1], [5, 2], SIZE)
    assert [read_stamp(f) for f in frames] == [(5, 1), (2, 1)]
    # frame t's matte has a background band of (24 + 8 t) / 2 output rows
    assert [zero_rows(m) for m in masks] == [pytest.approx((MASK_BAND + 8 * t) / 2, abs=1) for t in (5, 2)]


def test_frame_numbers_of_any_width_are_sorted_numerically_and_paired_with_their_masks(tmp_path, base_clip):
    seq_dir = tmp_path / "001" / "sequences" / "EXP-1-head"
    numbers = [8, 9, 10, 11]  # unpadded: by name the order would be 10, 11, 8, 9
    for c, serial in enumerate(SERIALS[:2]):
        for t, frame in zip(numbers, camera_frames(base_clip, c, numbers)):
            imwrite_rgb(seq_dir / "rgb_images" / f"cam_{serial}" / f"frame_{t}.jpg", frame)
            (seq_dir / "masks" / f"cam_{serial}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(seq_dir / "masks" / f"cam_{serial}" / f"mask_{t:04d}.png"), matte(t - 8))
    seq = scan_nersemble(tmp_path, "all")[0]
    reader = NersembleReader()
    assert seq.layout == "frames" and seq.masks == "masks" and reader.num_frames(seq) == 4
    frames, masks = reader.read(seq, SERIALS[1], [0, 1, 2, 3, 9], SIZE)
    assert [read_stamp(f) for f in frames] == [(8, 1), (9, 1), (10, 1), (11, 1), (11, 1)]
    assert [zero_rows(m) for m in masks] == [pytest.approx((MASK_BAND + 8 * k) / 2, abs=1) for k in (0, 1, 2, 3, 3)]


def make_v1_tree(root: Path, base: np.ndarray, mattes: bool = True) -> Path:
    """The v1 release: ``<sequence>/frame_<5 digits>/images-2x/cam_<serial>.png`` (+ ``alpha_map/``)."""
    seq_dir = root / "001" / "sequences" / "EXP-1-head"
    for t in range(TIMES):
        for c, serial in enumerate(SERIALS[:CAMERAS]):
            step = seq_dir / f"frame_{t:05d}"
            (step / "images-2x").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(step / "images-2x" / f"cam_{serial}.png"),
                        cv2.cvtColor(stamp(camera_view(base[t], c), t, c), cv2.COLOR_RGB2BGR))
            if mattes:
                (step / "alpha_map").mkdir(exist_ok=True)
                cv2.imwrite(str(step / "alpha_map" / f"cam_{serial}.png"), matte(t))
    (root / "001" / "camera_params.json").write_text(json.dumps({
        "intrinsics": np.eye(3).tolist(), "world_2_cam": {s: np.eye(4).tolist() for s in SERIALS[:CAMERAS]}}))
    return root


def test_v1_per_frame_folders_give_frames_mattes_and_calibration(tmp_path, base_clip):
    seq = scan_nersemble(make_v1_tree(tmp_path, base_clip), "all")[0]
    assert (seq.layout, seq.images, seq.masks, seq.cameras) == ("timesteps", "images-2x", "alpha_map",
                                                                 SERIALS[:CAMERAS])
    reader = NersembleReader()
    assert reader.num_frames(seq) == TIMES
    frames, masks = reader.read(seq, SERIALS[3], [6, 1, 6], SIZE)
    assert [read_stamp(f) for f in frames] == [(6, 3), (1, 3), (6, 3)]
    assert [zero_rows(m) for m in masks] == [pytest.approx((MASK_BAND + 8 * t) / 2, abs=1) for t in (6, 1, 6)]
    assert read_camera_params(seq)["world_2_cam"][SERIALS[0]] == np.eye(4).tolist()


def test_a_v1_sample_cuts_its_background_with_the_v1_mattes(tmp_path, base_clip, context):
    config = replace(CONFIG, frames=5, stride=1)
    plan = plan_sample(0, 7, Sources(scan_nersemble(make_v1_tree(tmp_path, base_clip), "all")), config)
    sample = render_sample(plan, config, context)
    assert sample.meta["background"]["matte"] == "dataset"
    colour = sample.meta["background_colour"]
    band = MASK_BAND // 2 - 2  # frame 0's background band at output size, minus the resize blur
    assert (sample.raw_source[0, -band:] == colour).all() and (sample.raw_target[0, -band:] == colour).all()


def write_csv(root: Path, rows: str) -> None:
    (root / "metadata_sequences.csv").write_text("ID,EXP-1-head,EXP-2-eyes,FREE,wears_glasses\n" + rows)


def test_marked_sequences_are_left_out_with_one_warning_unless_included(tmp_path, base_clip, caplog):
    for name in ("EXP-1-head", "EXP-2-eyes", "FREE"):
        make_tree(tmp_path, base_clip[:2], participants=("001", "002"), sequence=name, masks=False)
    write_csv(tmp_path, "1,x,m,m,x\n2,x,,m,\n")
    with caplog.at_level(logging.WARNING, logger="facecam"):
        default = scan_nersemble(tmp_path, "all")
    assert [s.key for s in default] == ["001/EXP-1-head", "002/EXP-1-head"]
    assert [r.getMessage() for r in caplog.records] == [
        "facecam: warning: 3 NeRSemble sequences marked 'm' in metadata_sequences.csv are left out "
        "(--include-marked uses them)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="facecam"):
        included = scan_nersemble(tmp_path, "all", include_marked=True)
    assert [s.key for s in included] == ["001/EXP-1-head", "001/EXP-2-eyes", "001/FREE", "002/EXP-1-head",
                                         "002/FREE"]
    assert caplog.records == []


def test_a_folder_without_frames_is_not_a_sequence(tmp_path):
    (tmp_path / "001" / "sequences" / "EXP-1-head" / "frame_00000" / "images-2x").mkdir(parents=True)
    with pytest.raises(FacecamError, match="no NeRSemble sequences"):
        scan_nersemble(tmp_path, "all")


@pytest.fixture
def clips(tmp_path) -> tuple[Path, Path]:
    """The same two clips mounted at two places, as two machines of a split build see them."""
    from conftest import media_path

    mounts = (tmp_path / "mnt" / "portraits", tmp_path / "data" / "elsewhere" / "portraits")
    for folder in mounts:
        (folder / "set").mkdir(parents=True)
        (folder / "set" / "a.mp4").symlink_to(media_path("lp_d0.mp4"))
        (folder / "b.mp4").symlink_to(media_path("facecam_000.mp4"))
    return mounts


def test_split_build_machines_with_other_mounts_share_one_output(tmp_path, clips):
    out = tmp_path / "out"
    config = replace(CONFIG, frames=5, samples_per_shard=1)
    for index, mount in enumerate(clips):
        summary = build_dataset(out, Sources([], scan_wild(mount)), 2, seed=3, config=config, num_shards=2,
                                shard_index=index, progress=False)
        assert summary.shards == [f"shard-{index:06d}.tar"] and summary.samples_made == 1 and not summary.failed
    assert json.loads((out / "build.json").read_text())["wild_clips"] == ["b.mp4", "set/a.mp4"]


def test_a_sequence_shorter_than_a_sample_is_counted_and_its_held_frames_recorded(tmp_path, base_clip):
    # 8 frames at stride 3 give source times 0 3 6 7 7: the last two hold frame 7 (a frozen tail, said by
    # `data build`); the summary counts the sample.
    from facecam.data.shards import iter_shard

    root = make_tree(tmp_path / "src", base_clip[:8], layout="video")
    config = replace(CONFIG, frames=5, stride=3, samples_per_shard=1)
    summary = build_dataset(tmp_path / "out", Sources(scan_nersemble(root, "all")), 1, seed=0, config=config,
                            progress=False)
    assert summary.samples_made == 1 and summary.short == 1 and summary.to_dict()["short_clip_samples"] == 1
    meta = json.loads(next(fields for _, fields in iter_shard(tmp_path / "out" / "shard-000000.tar"))["json"])
    assert meta["source_times"] == [0, 3, 6, 7, 7] and meta["frames_held"] == 2


def test_build_warns_once_when_sequences_have_no_mattes(tmp_path, base_clip, caplog):
    root = make_tree(tmp_path / "src", base_clip[:12], layout="video")
    config = replace(CONFIG, frames=5, stride=1, samples_per_shard=1)
    with caplog.at_level(logging.WARNING, logger="facecam"):
        build_dataset(tmp_path / "out", Sources(scan_nersemble(root, "all")), 1, seed=0, config=config,
                      progress=False)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("facecam.data")] == [
        "facecam: warning: 1 of 1 NeRSemble sequences have no mattes (alpha_map/, alpha_maps/ or masks/): "
        "their backgrounds are cut out with MediaPipe selfie segmentation instead"]
