"""The README's Python tour runs as written (in a temporary folder, against the shipped data)."""

import os
import re
import shutil

from conftest import ROOT


def test_readme_python_tour_runs(tmp_path, capsys):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has a Python example"
    shutil.copytree(ROOT / "data", tmp_path / "data")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert "MSTKKKPLTQEQLEDARRLK" in capsys.readouterr().out
