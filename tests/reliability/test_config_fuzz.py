"""Property-based: configs mutated from valid ones either validate or fail with one ConfigError
naming the keys at fault: each one a real key of the config (or the mutated one), and at least one
of them the mutated key, inside it or a section around it."""

import copy
import math
import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaton.config import build_config, dump_config
from quaton.errors import ConfigError, TrainingError
from quaton.train.memory import check_memory

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
BASES = [yaml.safe_load(p.read_text()) for p in CONFIGS if "base" not in (yaml.safe_load(p.read_text()) or {})]
RESOLVED = [build_config(b).model_dump(mode="json") for b in BASES]


def paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just(-1),
    st.just(0),
    st.just(1e30),
    st.just("1e-6"),
    st.just([1, "a"]),
)


SCHEMA_KEYS = {".".join(path) for resolved in RESOLVED for path in paths(resolved)}


@st.composite
def mutated(draw):
    """(config data, the dotted keys that were replaced, deleted or added)."""
    data = copy.deepcopy(draw(st.sampled_from(RESOLVED)))
    changed: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(data))))
        node = data
        for key in path[:-1]:
            node = node[key]
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        action = draw(st.sampled_from(["replace", "delete", "unknown"]))
        if action == "replace":
            node[path[-1]] = draw(BAD_VALUES)
        elif action == "delete":
            del node[path[-1]]
        else:
            node[path[-1] + "_typo"] = 1
            path = (*path[:-1], path[-1] + "_typo")
        changed.append(".".join(path))
    return data, changed


def related(named: str, changed: str) -> bool:
    """``named`` is the changed key, a key inside it (a list entry, a section's field) or a section
    around it."""
    return named == changed or named.startswith(changed + ".") or changed.startswith(named + ".")


DOTTED = re.compile(r"\b[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+\b")


def named_keys(message: str) -> list[str]:
    """The keys an error names: each part's location (before its first ': '), or, for a rule
    across keys (no location), the dotted config keys its text names."""
    keys = []
    for part in message.removeprefix("invalid config: ").split("; "):
        head = part.split(": ", 1)[0] if ": " in part else ""
        if head and " " not in head and (head in SCHEMA_KEYS or "." in head or head.isidentifier()):
            keys.append(head)
        else:
            keys += [key for key in DOTTED.findall(part) if key in SCHEMA_KEYS]
    return keys


EXAMPLES = int(os.environ.get("QUATON_FUZZ_EXAMPLES", "300"))  # scripts/reliability.py runs thousands


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_validate_or_fail_with_one_clear_error(mutation):
    data, changed = mutation
    try:
        config = build_config(data)
    except ConfigError as error:
        message = str(error)
        assert message.startswith("invalid config:") and "\n" not in message
        named = named_keys(message)
        assert named, f"names no config key: {message}"
        for key in named:  # every key it names is real: in the schema, or the one the user added
            base = re.sub(r"\.\d+(?=\.|$)", "", key)  # list entries: model.distances.2
            assert base in SCHEMA_KEYS or any(related(key, c) for c in changed), f"{key!r} is no config key: {message}"
        assert any(related(key, c) for key in named for c in changed), (
            f"names {named}, none of the changed {changed}: {message}"
        )
        return
    # a valid config round-trips and its memory estimate is finite; too-large ones stop before allocating
    assert build_config(yaml.safe_load(dump_config(config))) == config
    try:
        need = check_memory(config, __import__("torch").device("cpu"), available=8 * 1024**3)
        assert math.isfinite(need) and need > 0
    except TrainingError as error:
        assert "GiB" in str(error)
