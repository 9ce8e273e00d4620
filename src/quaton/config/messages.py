"""One message for a config that does not validate: every offending key and what is wrong with it
(pydantic's union internals merged, a length typed with a unit read as the slip it is)."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from quaton.config.schema import Config


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error["loc"]) or "<config>"


# pydantic names each member of a union in the error location (model.distances.float,
# model.distances.list[float]); a user typed one value and wants one message about it.
_UNION_MEMBER = re.compile(r"^(?:float|int|str|bool|none|(?:list|tuple|dict|set)\[.*\])$")
_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(nm|um|µm|μm|mm|cm|m)\s*$")
_UNIT_EXPONENT = {"nm": "e-9", "um": "e-6", "µm": "e-6", "μm": "e-6", "mm": "e-3", "cm": "e-2", "m": ""}


def _merge_union_members(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One error per key for union fields: the members' specific errors (a bad list entry, an
    unparsable number) with the member's name dropped from the location, or, when the value fits
    no member at all, one 'expected A or B' error."""
    merged: list[dict[str, Any]] = []
    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for item in items:
        loc = tuple(item["loc"])
        at = next(
            (i for i, part in enumerate(loc) if i > 0 and isinstance(part, str) and _UNION_MEMBER.match(part)), None
        )
        if at is None:
            merged.append(item)
            continue
        key = loc[:at]
        if key not in groups:
            groups[key] = []
            merged.append({"loc": key, "group": groups[key]})
        groups[key].append((loc[at], {**item, "loc": key + loc[at + 1 :]}))
    result = []
    for item in merged:
        if "group" not in item:
            result.append(item)
            continue
        members = item["group"]
        specific = [error for _, error in members if not error["type"].endswith("_type")]
        if specific:
            result.extend(specific)
        else:
            names = " or ".join(dict.fromkeys(name for name, _ in members))
            result.append(
                {
                    "loc": item["loc"],
                    "type": "union",
                    "msg": f"expected {names}, got {members[0][1]['input']!r}",
                    "input": members[0][1]["input"],
                }
            )
    return result


def _nearest_key(loc: tuple) -> str:
    """' (did you mean `wavelength`?)' for a misspelt key at ``loc``, or '' when nothing is close."""
    section: Any = Config
    for part in loc[:-1]:
        field = getattr(section, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        section = annotation
    close = difflib.get_close_matches(str(loc[-1]), list(getattr(section, "model_fields", {})), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _message(item: dict[str, Any]) -> str:
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return f"unknown key{_nearest_key(item['loc'])}; `quaton config --defaults` lists every key"
    value = item.get("input")
    if item["type"] == "float_parsing" and isinstance(value, str):
        match = _WITH_UNIT.match(value)
        if match:
            example = f"{match.group(1)}{_UNIT_EXPONENT[match.group(2)]}"
            return f"{value!r} is not a number: lengths are in metres, e.g. {example}"
    return message


def format_validation_error(error: ValidationError) -> str:
    """One message listing every offending key and what is wrong with it."""
    # a rule across keys (empty location) names its keys in its message
    lines = [
        f"{_location(item)}: {_message(item)}" if item["loc"] else _message(item)
        for item in _merge_union_members([dict(item) for item in error.errors()])
    ]
    return "invalid config: " + "; ".join(dict.fromkeys(lines))
