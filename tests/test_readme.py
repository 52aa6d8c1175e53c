"""The README's example runs as printed (two epochs instead of ten, to stay quick) and learns."""

import pathlib
import re
import subprocess
import sys

from conftest import child_env

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_trains(tmp_path):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "range(10)" in code
    script = tmp_path / "example.py"
    script.write_text(code.replace("range(10)", "range(2)"))
    p = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    acc = float(re.search(r"test accuracy ([0-9.]+)", p.stdout).group(1))
    assert acc > 0.8, p.stdout
