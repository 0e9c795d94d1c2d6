"""The weight-free artifact measure: flat and smeared area inside the face box, output over input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import grey_clip, one_error_line

BOX = (150.0, 60.0, 330.0, 260.0)  # the astronaut's face, roughly (x0, y0, x1, y1)


def test_real_face_texture_is_mostly_neither_flat_nor_smeared(astronaut):
    from facecam.eval.artifacts import artifact_mask, box_fraction

    assert box_fraction(artifact_mask(astronaut), BOX) < 0.15


def test_a_flat_filled_triangle_counts_as_most_of_its_area(astronaut):
    from facecam.eval.artifacts import artifact_score

    broken = astronaut.copy()
    import cv2

    tri = np.array([[180, 100], [300, 110], [230, 230]], np.int32)
    cv2.fillConvexPoly(broken, tri, (200, 150, 130))
    area = cv2.contourArea(tri.astype(np.float32)) / ((BOX[2] - BOX[0]) * (BOX[3] - BOX[1]))  # 0.19
    score = artifact_score(astronaut[None], broken[None], [BOX], [BOX], samples=0)
    # Counted where the whole 11-pixel window is flat: the triangle less a 5-pixel rim (0.146 when written).
    assert 0.6 * area < score.max_excess <= area + 0.01
    assert score.missing == 0 and len(score.excess) == 1


def test_a_horizontal_smear_is_flagged(astronaut):
    from facecam.eval.artifacts import artifact_score

    smeared = astronaut.copy()
    # Stretch one column of the face sideways over 100 pixels, as a torn warp does.
    smeared[120:220, 200:300] = astronaut[120:220, 200:201]
    score = artifact_score(astronaut[None], smeared[None], [BOX], [BOX], samples=0)
    assert score.max_excess > 0.15  # the smear covers 0.28 of the box; its edges are not counted


def test_the_same_frames_score_zero_excess(astronaut):
    from facecam.eval.artifacts import artifact_score

    frames = np.stack([astronaut, np.roll(astronaut, 3, axis=1)])
    score = artifact_score(frames, frames, [BOX, BOX], [BOX, BOX], samples=0)
    assert score.excess == [0.0, 0.0] and score.max_excess == 0.0


def test_a_frame_without_a_face_is_missing_not_scored(astronaut):
    from facecam.eval.artifacts import artifact_score

    score = artifact_score(astronaut[None], astronaut[None], [BOX], [None], samples=0)
    assert score.missing == 1 and score.max_excess is None and score.excess == [None]


def test_a_frame_whose_input_has_no_face_is_not_scored(astronaut):
    """A plain input against a face scored the input's pixels in the output's box: -0.87 and "within target"."""
    from facecam.eval.artifacts import artifact_score

    plain = np.full_like(astronaut, 128)
    score = artifact_score(plain[None], astronaut[None], [None], [BOX], samples=0)
    assert score.max_excess is None and score.excess == [None]
    assert score.input_missing == 1 and score.missing == 0
    assert score.verdict().startswith("no verdict: no checked frame had a face in both videos (0 without one in "
                                      "the output, 1 in the input)")


def test_eval_artifacts_command_reports_a_flat_patch_on_the_face(astronaut, tmp_path, capsys):
    import json

    import cv2

    from facecam.cli import main
    from facecam.video.io import write_video

    broken = astronaut.copy()
    cv2.fillConvexPoly(broken, np.array([[190, 150], [290, 150], [240, 230]], np.int32), (205, 160, 140))
    write_video(tmp_path / "in.mp4", np.repeat(astronaut[None], 5, axis=0), 24.0)
    write_video(tmp_path / "out.mp4", np.repeat(broken[None], 5, axis=0), 24.0)
    assert main(["eval", "artifacts", "--input", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "out.mp4"),
                 "--samples", "2", "--json"]) == 1  # above the target: a script can tell
    result = json.loads(capsys.readouterr().out)
    assert result["missing"] == 0 and len(result["excess"]) == 2
    assert result["max_excess"] > 0.05  # the patch covers about a tenth of the face box
    # Without --json the last line is the verdict, naming the worst frame.
    assert main(["eval", "artifacts", "--input", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "out.mp4"),
                 "--samples", "2"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    worst = result["frames"][result["excess"].index(result["max_excess"])]
    assert last.startswith(f"ABOVE target: worst frame {worst} has +{result['max_excess']:.3f}"), last
    assert main(["eval", "artifacts", "--input", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "in.mp4"),
                 "--samples", "2"]) == 0  # the input against itself: within the target
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("within target")
    # An output that lost the face in a checked frame fails too (its other frames within the target).
    lost = np.repeat(astronaut[None], 5, axis=0)
    lost[-1] = 128
    write_video(tmp_path / "lost.mp4", lost, 24.0)
    assert main(["eval", "artifacts", "--input", str(tmp_path / "in.mp4"), "--output", str(tmp_path / "lost.mp4"),
                 "--samples", "0", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["lost"] == 1 and result["missing"] == 1 and result["max_excess"] < 0.05


def test_artifact_verdict_is_within_target_for_an_untouched_face(astronaut):
    from facecam.eval.artifacts import artifact_score

    score = artifact_score(astronaut[None], astronaut[None], [BOX], [BOX], samples=0)
    assert score.max_excess == 0.0
    assert score.verdict().startswith("within target: worst frame 0 has +0.000")
    score.max_excess, score.missing = None, 1
    assert score.verdict().startswith("no verdict")


def test_a_magnified_face_is_not_counted_as_smeared(astronaut):
    import cv2

    from facecam.eval.artifacts import artifact_score

    zoomed = cv2.resize(astronaut, None, fx=1.4, fy=1.4, interpolation=cv2.INTER_LINEAR)  # a zoom-in's upsampling
    box_zoomed = tuple(1.4 * v for v in BOX)
    score = artifact_score(astronaut[None], zoomed[None], [BOX], [box_zoomed], samples=0)
    assert abs(score.max_excess) < 0.02


# --- `facecam eval artifacts`: bad input is one error line -------------------------------------------------

def test_eval_artifacts_cli_refuses_a_folder_without_frames(tmp_path, capsys):
    from facecam.cli import main

    clip = grey_clip(tmp_path / "out.mp4")
    (tmp_path / "folder").mkdir()
    assert main(["eval", "artifacts", "--input", str(tmp_path / "folder"), "--output", str(clip)]) == 2
    one_error_line(capsys, "give a video file")


def test_eval_artifacts_cli_refuses_a_negative_sample_count(tmp_path, capsys):
    from facecam.cli import main

    clip = grey_clip(tmp_path / "out.mp4")
    assert main(["eval", "artifacts", "--input", str(clip), "--output", str(clip), "--samples", "-1"]) == 2
    one_error_line(capsys, "--samples must be at least 0, got -1")


def test_eval_artifacts_cli_says_in_one_line_that_there_is_nothing_to_score(tmp_path, capsys):
    """No face in any checked input frame: one error line and status 2 (it printed a record of Nones)."""
    from facecam.cli import main

    clip = grey_clip(tmp_path / "b.mp4")
    for extra in ([], ["--json"]):
        assert main(["eval", "artifacts", "--input", str(clip), "--output", str(clip), *extra]) == 2
        assert capsys.readouterr().out == ""
    assert main(["eval", "artifacts", "--input", str(clip), "--output", str(clip)]) == 2
    one_error_line(capsys, "no face found in the 5 checked input frames: nothing to score")


def test_eval_warns_when_the_input_is_not_the_one_the_output_was_made_from(astronaut, tmp_path, caplog):
    """A newcomer scored one person's output against another person's input: "within target", no word."""
    import logging
    import shutil

    import cv2

    from facecam.cli import main
    from facecam.video.io import write_video

    run = tmp_path / "run"
    run.mkdir()
    write_video(run / "talk_input.mp4", np.repeat(astronaut[None], 3, axis=0), 24.0)
    write_video(run / "talk.mp4", np.repeat(astronaut[None], 3, axis=0), 24.0)
    other = np.ascontiguousarray(cv2.flip(astronaut, 1))
    write_video(tmp_path / "other.mp4", np.repeat(other[None], 3, axis=0), 24.0)
    shutil.copy(run / "talk_input.mp4", tmp_path / "copy.mp4")

    def said(*argv):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="facecam"):
            main(list(argv))
        return [r.getMessage() for r in caplog.records]

    for verb in (["artifacts"], ["camera", "--camera", "static"]):
        lines = said("eval", *verb[:1], "--input", str(tmp_path / "other.mp4"), "--output", str(run / "talk.mp4"),
                     *verb[1:])
        assert len(lines) == 1 and lines[0].startswith(f"facecam: warning: --input {tmp_path / 'other.mp4'} is not "
                                                       f"{run / 'talk_input.mp4'}, the cropped clip"), (verb, lines)
        # Its own input, or a byte-identical copy of it: nothing to say.
        assert said("eval", *verb[:1], "--input", str(run / "talk_input.mp4"), "--output", str(run / "talk.mp4"),
                    *verb[1:]) == []
        assert said("eval", *verb[:1], "--input", str(tmp_path / "copy.mp4"), "--output", str(run / "talk.mp4"),
                    *verb[1:]) == []


def test_dark_face_share_counts_hair_across_the_cheek_below_the_eyes_only(astronaut, astronaut_landmarks):
    """The astronaut's own face below the eyes is mostly skin; a dark band painted across her cheek below
    the eyes counts as about its share of that region, the same band over her forehead does not."""
    import cv2

    from facecam.eval.artifacts import dark_face_share

    points = astronaut_landmarks
    base = dark_face_share(astronaut, points)
    assert base is not None and base < 0.05
    mesh = points[:468, :2]
    eyes_y, chin_y = mesh[[33, 133, 362, 263], 1].mean(), mesh[152, 1]
    right = mesh[[234, 454], 0].max()  # the face's image-right edge (the oval's widest points are 234 and 454)
    cheek = astronaut.copy()
    x0, y0, y1 = int(right - 25), int(eyes_y + 0.3 * (chin_y - eyes_y)), int(chin_y - 10)
    cv2.rectangle(cheek, (x0, y0), (int(right) + 10, y1), (45, 30, 20), -1)
    share = dark_face_share(cheek, points)
    assert 0.08 < share - base < 0.3
    forehead = astronaut.copy()
    top = int(mesh[10, 1])
    cv2.rectangle(forehead, (x0, top + 5), (int(right) + 10, int(eyes_y) - 25), (45, 30, 20), -1)
    assert dark_face_share(forehead, points) == pytest.approx(base, abs=0.005)
