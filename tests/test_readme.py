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


def test_the_readme_is_a_front_page_not_a_notebook():
    """At most 250 lines (issue 29): the studies live in docs/ pages."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_the_readme_cli_table_is_the_cli():
    """Every command of `quaton --help` has a row in README's command table, and every row is a command."""
    import typer.main

    from quaton.cli import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Command line") :].split("\n\n")[1]
    rows = set(re.findall(r"^\| `quaton ([a-z-]+)", table, re.MULTILINE))
    assert rows == commands


def test_the_readme_quickstart_is_the_script_ci_runs():
    """The four quickstart commands in README are scripts/quickstart.sh's, which CI runs from the wheel."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quickstart") :]
    shown = [
        line.split("  #")[0].strip() for line in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)[1].splitlines()
    ]
    script = [
        line for line in (ROOT / "scripts" / "quickstart.sh").read_text().splitlines() if line.startswith("quaton ")
    ]
    assert shown == script


def test_every_local_link_of_the_docs_exists():
    """Markdown links to files in README.md, docs/*.md and examples/README.md point at files that exist."""
    broken = []
    for doc in [ROOT / "README.md", ROOT / "examples" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
