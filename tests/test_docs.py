"""The docs site's generated pages (issue 29): the config reference is made from the schema when the
site is built (scripts/docs_hooks.py), so it lists every key `quaton config --defaults` prints, with
its default; and every API page names a module that exists."""

import importlib.util
import re
from pathlib import Path

import yaml

from quaton.config import build_config, dump_config

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _leaves(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_the_config_reference_lists_every_key_with_its_default():
    page = _hooks().on_page_markdown((ROOT / "docs" / "config-reference.md").read_text(), None, None, None)
    rows = dict(re.findall(r"^\| `([^`]+)` \| `[^`]*` \| `([^`]*)` \|", page, re.MULTILINE))
    defaults = dict(_leaves(yaml.safe_load(dump_config(build_config({})))))
    missing = [key for key in defaults if key not in rows]
    assert not missing, missing
    assert rows["optics.wavelength"] == repr(defaults["optics.wavelength"]) and rows["model.grid"] == "64"


def test_every_api_page_names_a_module():
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        for name in re.findall(r"^::: (\S+)", page.read_text(), re.MULTILINE):
            assert importlib.util.find_spec(name) is not None, f"{page.name}: {name}"
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f"api/{page.name}" in nav for page in (ROOT / "docs" / "api").glob("*.md"))
