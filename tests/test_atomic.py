"""facecam._atomic: files and folders appear whole or not at all."""

from __future__ import annotations

import pytest

from facecam._atomic import atomic_folder, atomic_path, write_text_atomic


def test_a_failed_file_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "table.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".csv" and tmp.name.startswith(".")
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_a_folder_appears_with_all_its_files_only_when_the_block_ends(tmp_path):
    final = tmp_path / "sample-00000001"
    with atomic_folder(final) as tmp:
        (tmp / "json").write_text("{}")
        assert not final.exists() and tmp.name.startswith(".") and tmp.name.endswith(".tmp")
    assert (final / "json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample-00000001"]


def test_a_failed_folder_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "model") as tmp:
            (tmp / "weights.bin").write_bytes(b"half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_replaces_an_empty_folder_but_not_a_full_one(tmp_path):
    (tmp_path / "empty").mkdir()
    with atomic_folder(tmp_path / "empty") as tmp:
        (tmp / "a").write_text("new")
    assert (tmp_path / "empty" / "a").read_text() == "new"
    with pytest.raises(OSError):
        with atomic_folder(tmp_path / "empty") as tmp:
            (tmp / "b").write_text("second")
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
