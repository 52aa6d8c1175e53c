"""atomic_write: the one way pydlk writes files (checkpoints, logs, plots, downloads)."""
import os

import pytest

from pydlk._atomic import atomic_write


def test_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    p = tmp_path / "state.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_write(p) as f:
            f.write(b"half of the new")
            raise RuntimeError("crash while writing")
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["state.bin"]  # no temporary file left behind
    with atomic_write(p) as f:
        f.write(b"new")
    assert p.read_bytes() == b"new" and os.listdir(tmp_path) == ["state.bin"]


def test_text_mode_keeps_newlines_as_written(tmp_path):
    p = tmp_path / "log.csv"
    with atomic_write(p, "w") as f:
        f.write("a,b\r\n1,2\n")
    assert p.read_bytes() == b"a,b\r\n1,2\n"
