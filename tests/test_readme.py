"""README.md's Python example runs as written (in a scratch directory, with the repo's configs)."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_readme_python_example_runs(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The Python API in one example") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    accuracy, predictions = (
        capsys.readouterr().out.strip().splitlines()[-1].split(maxsplit=1)
    )  # after the progress lines
    assert float(accuracy) > 0.3  # two epochs of 360 digits (40 held out for validation): well above chance (0.1)
    assert (tmp_path / "designs" / "api-demo" / "design.json").is_file()
    assert "tensor([" in predictions
