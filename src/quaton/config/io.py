"""Configs from and to YAML: ``--set`` overrides, reading a file, validating, writing the resolved config."""

from __future__ import annotations

import copy
import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quaton.config.messages import format_validation_error
from quaton.config.schema import Config
from quaton.errors import ConfigError


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``data['a']['b'] = value`` for ``dotted = 'a.b'`` (creating sections as needed)."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"--set {dotted}: empty key segment")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=2' -> ('train.epochs', 2); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.epochs=2")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: cannot parse {raw!r}: {error}") from error
    return key.strip(), value


def build_config(data: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Validate a config dict after applying ``overrides`` ('key=value', dotted keys)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a mapping of sections (optics, model, ...), not {type(data).__name__}")
    data = copy.deepcopy(data)
    for text in overrides or []:
        set_dotted(data, *parse_override(text))
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def is_file(path: Path) -> bool:
    """Path.is_file, False (not an OSError) for a name too long, a NUL byte or a loop."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def packaged_configs() -> list[str]:
    """The configs shipped inside the package, by the names ``quaton train`` accepts ('default',
    'paper/qpi', ...)."""
    root = Path(str(resources.files("quaton") / "configs"))
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """``path`` when it is a file; else the config of that name shipped with quaton (``default``,
    ``paper/qpi``, with or without ``.yaml``): what makes ``quaton train default`` work outside a
    clone. Raises ConfigError naming the shipped configs when neither exists."""
    path = Path(path)
    if is_file(path):
        return path
    name = str(path).removeprefix("configs/")
    shipped = Path(str(resources.files("quaton") / "configs")) / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_absolute() and is_file(shipped):
        return shipped
    names = packaged_configs()
    close = difflib.get_close_matches(name.removesuffix(".yaml"), names, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    raise ConfigError(
        f"config file {path} does not exist, nor is it a config shipped with quaton{hint}: "
        f"{', '.join(names)} (quaton init DIR copies them)"
    )


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` when it is a file, else the config of that name shipped with quaton; else
    ConfigError '{what} {path} does not exist' (a sweep file, a space file)."""
    path = Path(path)
    if is_file(path):
        return path
    try:
        return resolve_config_path(path)
    except ConfigError:
        raise ConfigError(f"{what} {path} does not exist") from None


def read_config_data(path: str | Path) -> dict[str, Any]:
    """A YAML config file's mapping, not yet validated (a sweep's base, before its overrides)."""
    path = resolve_config_path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (optics, model, ...), not {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read and validate a YAML config file."""
    return build_config(read_config_data(path), overrides)


def dump_config(config: Config) -> str:
    """The resolved config as YAML (every default written out)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
