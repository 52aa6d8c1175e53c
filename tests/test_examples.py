"""Every script in examples/ runs as written (with short settings where it takes arguments)."""

import os
import subprocess
import sys

import pytest
from conftest import child_env

ROOT = os.path.join(os.path.dirname(__file__), "..", "examples")
ARGS = {
    "hyperparameter_search.py": ["--trials", "2", "--epochs", "1"],
    "augmentation_and_tta.py": ["--epochs", "2"],
    "transfer_learning.py": ["--seeds", "1", "--steps", "5", "--pretrain-epochs", "1"],
    "second_order.py": ["--quick"],
    "autocast_digits.py": ["--epochs", "1", "--seeds", "0"],
}
EXAMPLES = sorted(f for f in os.listdir(ROOT) if f.endswith(".py"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name, tmp_path):
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, name)] + ARGS.get(name, []),
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "accuracy" in r.stdout or "best" in r.stdout
