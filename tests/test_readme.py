"""README's library example runs offline as written and prints what its comments promise."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import ROOT


def _library_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Library\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_library_example_runs_offline(tmp_path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_library_example())
    # Run from a directory outside the checkout: the installed package, not the source tree.
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "True 0"
    assert lines[1] == "True"
    assert lines[2].startswith("{'epochs': 6, 'exact': 6, 'mismatch': 0,")
