"""The package outside the clone (issue 29): configs shipped inside it and found by name, ``quaton
init``, the files a wheel must carry, one version source."""

import fnmatch
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import quaton
from quaton.cli import app
from quaton.config import load_config, packaged_configs, resolve_config_path
from quaton.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "quaton"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_a_shipped_config_is_found_by_name_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert resolve_config_path("default") == PACKAGE / "configs" / "default.yaml"
    assert resolve_config_path("configs/paper/qpi.yaml") == PACKAGE / "configs" / "paper" / "qpi.yaml"
    assert load_config("smoke").name == "smoke"
    assert {"default", "smoke", "paper/qpi", "dat/d2nn_smoke"} <= set(packaged_configs())


def test_a_file_of_that_name_wins_over_the_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("smoke").write_text("name: mine\n")
    assert load_config("smoke").name == "mine"


def test_a_misspelt_config_name_gets_the_nearest_and_every_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"did you mean `default`\?.*smoke.*quaton init DIR"):
        resolve_config_path("defualt")


def test_quaton_init_copies_every_shipped_config_and_keeps_what_is_there(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("name: edited\n")
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    copied = sorted(str(p.relative_to(tmp_path / "configs").with_suffix("")) for p in tmp_path.rglob("*.yaml"))
    assert copied == packaged_configs()
    assert (tmp_path / "configs" / "default.yaml").read_text() == "name: edited\n"
    assert "1 kept" in result.output
    # a copied sweep still finds its base config (relative to it)
    sweep = CliRunner().invoke(app, ["sweep", str(tmp_path / "configs" / "paper" / "qpi.yaml"), "--dry-run"])
    assert sweep.exit_code == 0, sweep.output


def test_the_wheel_carries_every_config_the_typed_marker_and_the_embedded_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["quaton"]
    shipped = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "configs").rglob("*.yaml")]
    assert shipped and all(
        any(fnmatch.fnmatch(f, pattern) and f.count("/") == pattern.count("/") for pattern in patterns) for f in shipped
    )
    assert "py.typed" in patterns and (PACKAGE / "py.typed").is_file()
    assert all((PACKAGE / name).is_file() for name in ("data/mnist_5k.npz", "data/NOTICE"))


def test_the_version_has_one_source():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "quaton.__version__"}
    assert quaton.__version__.count(".") == 2


def test_the_repository_carries_license_citation_and_changelog():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation and f"version: {quaton.__version__}" in citation
    assert all(ref in citation for ref in ("2310.03049", "2212.06141", "2008.09206"))
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
