"""The scripts in benchmarks/ stay runnable: every figure in README and docs names one of them.

Two of them had gone stale without a test noticing: ``face_share.py`` did not parse (an
indentation slip in a later change) and ``artifact_origin.py`` wrapped ``soften_stretch`` with
one argument too few after the function grew one. Compiling every script catches the first
kind; ``--help`` (which every script answers before any work) catches a script whose imports or
argument parsing broke; the second kind only shows in a run, so the scripts that hook into the warp
engine's internals are run once on a short clip.
"""

from __future__ import annotations

import py_compile
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import media_path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != "shared_clips.py")  # shared_clips: a module


def test_every_benchmark_script_the_docs_name_exists():
    import re

    root = BENCHMARKS.parent
    named = set()
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        named |= set(re.findall(r"benchmarks/([\w-]+\.(?:py|sh))\b", doc.read_text()))
    assert len(named) >= 20  # the README's benchmark list alone names more
    assert sorted(n for n in named if not (BENCHMARKS / n).is_file()) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_compiles(script, tmp_path):
    py_compile.compile(str(script), cfile=str(tmp_path / "out.pyc"), doraise=True)


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.sh")), ids=lambda p: p.name)
def test_benchmark_shell_script_parses(script):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_every_benchmark_script_answers_help():
    def ask(script: Path):
        proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                              timeout=300, cwd=BENCHMARKS)
        return script.name, proc.returncode, proc.stdout, proc.stderr

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(ask, SCRIPTS))
    broken = [f"{name}: exit {rc}: {err.strip().splitlines()[-1] if err.strip() else out[:200]}"
              for name, rc, out, err in answers if rc != 0 or "usage:" not in out]
    assert not broken, "\n".join(broken)


def test_a_clip_name_that_is_no_clip_stops_the_script(tmp_path):
    # docs/evaluation.md gave `camera_correctness.py OUT` (the outputs' folder, which is --keep OUT): OUT was
    # taken as a clip, all 11 runs "FAILED" and the script exited 0.
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "camera_correctness.py"), str(tmp_path / "OUT")],
                          capture_output=True, text=True, timeout=300, cwd=BENCHMARKS)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"camera_correctness.py: error: no such clip: {tmp_path / 'OUT'} (give clip files")


@pytest.mark.slow
def test_artifact_origin_runs_on_a_shared_clip():
    """It replaces ``soften_stretch`` with a wrapper that keeps one frame's face map: the wrapper must
    take what the renderer passes (it lost the head's side mask once), and the map it kept is read."""
    media_path("lp_d0.mp4")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "artifact_origin.py"), "lp_d0", "arc-up", "20",
                           "--frames", "25"], capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("lp_d0.mp4 arc-up frame 20: flagged ")
    assert [line.split()[0] for line in lines[1:5]] == ["wall", "face,", "face,", "person"]
    # The face map the wrapper kept is read: the squeezed face's backward map and local spread.
    assert lines[5].startswith("  face, new: backward map singular values, median largest ")


@pytest.mark.slow
def test_warp_speed_against_a_revision_runs_both_codes_in_their_own_processes():
    """``--against REV`` unpacks the revision's ``src`` and runs it beside this checkout's, each in a fresh
    process that reports which package it imported (the script stops if it was the wrong one)."""
    media_path("lp_d0.mp4")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "warp_speed.py"), "--against", "HEAD", "--repeat", "1",
                           "--frames", "9", "lp_d0.mp4"], capture_output=True, text=True,
                          timeout=600, cwd=BENCHMARKS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("warp engine, camera arc-left, 9 frames")
    head = lines[1].split()
    assert head[:5] == ["clip", "this", "fps", "this", "CPU"] and head[-2:] == ["CPU", "ratio"]
    row = lines[2].split()
    assert row[0] == "lp_d0.mp4" and len(row) == 7
    assert all(float(v) > 0 for v in row[1:]) and len(lines) == 3


def test_warp_speed_against_an_unknown_revision_is_one_clear_error():
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "warp_speed.py"), "--against", "no-such-revision",
                           "--frames", "9", "lp_d0.mp4"], capture_output=True, text=True, timeout=300, cwd=BENCHMARKS)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"warp_speed.py: error: --against no-such-revision: no such revision in {BENCHMARKS.parent}")
