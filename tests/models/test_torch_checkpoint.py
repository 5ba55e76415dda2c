"""The restricted reader of PyTorch checkpoints: tensors out, no code run, other files refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from gallery.errors import GalleryError
from gallery.models import efficientnet_lite, torch_checkpoint


def test_reader_counts() -> None:
    state = torch_checkpoint.read_state_dict(efficientnet_lite.checkpoint_path())
    assert len(state) == 296
    assert sum(array.size for array in state.values()) == pytest.approx(4.69e6, abs=0.01e6)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].dtype == np.float32


@pytest.mark.parametrize("content", [b"not a checkpoint", b"PK\x03\x04zip", b""])
def test_reader_rejects_other_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(GalleryError, match="bad.pth"):
        torch_checkpoint.read_state_dict(path)


class _RunsCode:
    """Unpickled, it would run code. Through exec, not print: a Ray driver in the same test process
    (tests/executor) replaces builtins.print with its own, which pickles under another name."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("print('pickle ran code')",))


def test_reader_runs_no_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    header = [torch_checkpoint.MAGIC_NUMBER, torch_checkpoint.PROTOCOL_VERSION, {"little_endian": True}]
    path.write_bytes(b"".join(pickle.dumps(part) for part in [*header, _RunsCode()]))
    with pytest.raises(GalleryError, match="builtins.exec"):
        torch_checkpoint.read_state_dict(path)
    assert "pickle ran code" not in capsys.readouterr().out
