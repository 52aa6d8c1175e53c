"""atomic_write: the one way pydlk writes files (checkpoints, logs, plots, downloads)."""

import os

import pytest
from conftest import child_env

from pydlk._atomic import atomic_write


def test_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    p = tmp_path / "state.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="crash"), atomic_write(p) as f:
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


def _with_umask(mask, fn):
    old = os.umask(mask)
    try:
        return fn()
    finally:
        os.umask(old)


def test_new_files_get_the_umask_mode(tmp_path):
    import numpy as np

    import pydlk

    p = tmp_path / "ckpt.npz"
    _with_umask(0o022, lambda: pydlk.save({"w": np.ones(2)}, p))
    assert p.stat().st_mode & 0o777 == 0o644
    q = tmp_path / "log.csv"

    def write():
        with atomic_write(q, "w") as f:
            f.write("x\n")

    _with_umask(0o027, write)
    assert q.stat().st_mode & 0o777 == 0o640


def test_writing_over_a_file_keeps_its_mode(tmp_path):
    import numpy as np

    import pydlk

    p = tmp_path / "ckpt.npz"
    p.write_bytes(b"old")
    os.chmod(p, 0o640)
    _with_umask(0o077, lambda: pydlk.save({"w": np.ones(2)}, p))
    assert p.stat().st_mode & 0o777 == 0o640


def test_temporaries_are_named_per_target(tmp_path):
    p = tmp_path / "a.npz"
    with atomic_write(p) as f:
        names = [n for n in os.listdir(tmp_path) if n != "a.npz"]
        f.write(b"x")
    assert len(names) == 1 and names[0].startswith(f".a.npz.tmp-{os.getpid()}-")


_KILLED_WRITER = """
import sys, numpy as np
import pydlk
big = np.ones(40_000_000, np.float32)  # 160 MB: the write takes a while
print("ready", flush=True)
while True:
    pydlk.save({"w": big}, sys.argv[1])
"""


def test_a_killed_save_leaves_no_temporary_after_the_next_save(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    import pydlk

    target = tmp_path / "ckpt.npz"
    env = child_env()
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60
        temps = []
        while time.monotonic() < deadline:  # kill it while a temporary is being written
            temps = [n for n in os.listdir(tmp_path) if ".tmp-" in n]
            if temps and os.path.getsize(tmp_path / temps[0]) > 1 << 20:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    left = [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    assert left, "the writer was not caught mid-save"
    pydlk.save({"w": np.zeros(3)}, target)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(pydlk.load(target)["w"], 0)


def test_live_writers_temporaries_are_kept(tmp_path):
    p = tmp_path / "a.npz"
    mine = tmp_path / f".a.npz.tmp-{os.getpid()}-abcd"
    mine.write_bytes(b"in progress")
    other = tmp_path / ".b.npz.tmp-999999999-abcd"  # another target's: not ours to remove
    other.write_bytes(b"x")
    with atomic_write(p) as f:
        f.write(b"new")
    assert mine.exists() and other.exists()
