"""Property-based: configs mutated from valid ones either validate or fail with one ConfigError naming a key."""

import copy
import math
import os
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
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.just([]), st.just({}), st.just(-1), st.just(0), st.just(1e30), st.just("1e-6"), st.just([1, "a"]),
)


@st.composite
def mutated(draw):
    data = copy.deepcopy(draw(st.sampled_from(RESOLVED)))
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
    return data


EXAMPLES = int(os.environ.get("QUATON_FUZZ_EXAMPLES", "300"))  # scripts/reliability.py runs thousands


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_validate_or_fail_with_one_clear_error(data):
    try:
        config = build_config(data)
    except ConfigError as error:
        message = str(error)
        assert message.startswith("invalid config:") and "\n" not in message
        named = message.removeprefix("invalid config: ").split(":")[0]
        assert named  # the offending key (or <config> for a cross-field rule that names keys itself)
        return
    # a valid config round-trips and its memory estimate is finite; too-large ones stop before allocating
    assert build_config(yaml.safe_load(dump_config(config))) == config
    try:
        need = check_memory(config, __import__("torch").device("cpu"), available=8 * 1024**3)
        assert math.isfinite(need) and need > 0
    except TrainingError as error:
        assert "GiB" in str(error)
