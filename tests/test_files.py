"""Atomic writes and what a killed process leaves: its temporary files, and only its, are removed later."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gallery import files

DEAD = 2**22 + 12345  # above the default pid_max: no process has it


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    files.write_json(tmp_path / "a" / "meta.json", {"x": 1.5, "y": [float("nan"), float("inf")]})
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["meta.json"]
    assert json.loads((tmp_path / "a" / "meta.json").read_text()) == {"x": 1.5, "y": [None, None]}


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "entry.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["entry.png"]


def test_leftovers_of_gone_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    names = [f".0123abcd.{DEAD}.k2_j3.png", f".meta.{DEAD}.x8y9.json", f".gradcam-3.gray.{DEAD}.ab_cd.png",
             f".0123abcd.{os.getpid()}.k2_j3.png", "0123abcd.png", ".hidden-but-mine"]
    for name in names:
        (tmp_path / "ab" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "ab" / name).write_text("x")
    assert files.remove_leftovers(tmp_path) == 3
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == sorted(names[3:])
