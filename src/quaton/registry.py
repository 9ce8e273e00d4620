"""Registries: components built by name from a config, each owning its options.

As timm builds models by name and Brevitas quantizers carry their options, every pluggable part of
quaton (quantizers, model kinds, tasks, read-out effects) is one :class:`Registry`: a name maps to
the component (a class or a builder function) and its :class:`Entry`, which holds the component's
options model (an :class:`Options` subclass; None: it takes none), a display name for tables and
captions, a one-line summary and free ``info`` that the layer using the registry reads (a model
kind's output, a task's losses). A component registers itself in its own file::

    from quaton.quant import QUANTIZERS, Quantizer
    from quaton.registry import Options

    class RoundingOptions(Options):
        offset: float = 0.0

    @QUANTIZERS.register("rounding", options=RoundingOptions, display="R")
    class Rounding(Quantizer): ...

``quaton.config`` checks names and options against the registries when a config is validated, so a
component registered at run time (a plugin, a test) is accepted like a built-in one; a name not
registered gets one :class:`~quaton.errors.ConfigError` with the nearest name and every choice.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from quaton.errors import ConfigError

T = TypeVar("T")


class Options(BaseModel):
    """Base of a component's options (and of every config section): unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class UnknownNameError(ConfigError, KeyError):
    """A name no registry entry has; a KeyError too, so that ``registry.get(name)`` and ``in`` work."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _nearest(name: str, choices: Sequence[str]) -> str:
    """' (did you mean `psq`?)' for a misspelt ``name``, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def docstring_summary(target: Any) -> str:
    """The first paragraph of ``target``'s docstring, on one line."""
    doc = (getattr(target, "__doc__", None) or "").strip()
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


def _type_name(annotation: Any) -> str:
    """'float', 'int | None', 'tuple[float, float]' for an option's annotation."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: ``target`` (class or builder), its ``options`` model (None: no
    options), ``display`` name, one-line ``summary`` and ``info`` for the layer that uses it."""

    name: str
    target: T
    what: str
    options: type[Options] | None = None
    display: str = ""
    summary: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    def parse_options(self, values: Mapping[str, Any] | None) -> Options | None:
        """``values`` validated against the options model, defaults filled in (None: the component
        takes no options). Raises ConfigError naming the option (relative to the options mapping)
        and, for an unknown one, every valid option."""
        values = dict(values or {})
        if self.options is None:
            if values:
                given = ", ".join(repr(key) for key in sorted(values, key=str))
                raise ConfigError(f"{self.what} {self.name} takes no options; remove {given}")
            return None
        try:
            return self.options.model_validate(values)
        except ValidationError as error:
            raise ConfigError(self._describe(error)) from None

    def _describe(self, error: ValidationError) -> str:
        valid = list(self.options.model_fields) if self.options else []
        parts = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            if item["type"] == "extra_forbidden":
                parts.append(
                    f"unknown option {key!r} of {self.what} {self.name}{_nearest(key, valid)}; "
                    f"valid options: {', '.join(valid) or 'none'}"
                )
            else:
                message = item["msg"].removeprefix("Value error, ")
                parts.append(f"{key}: {message}" if key else message)
        return "; ".join(dict.fromkeys(parts))

    def defaults(self) -> dict[str, Any]:
        """Every option's default (required options, which have none, left out)."""
        if self.options is None:
            return {}
        fields = self.options.model_fields.items()
        return {name: info.get_default(call_default_factory=True) for name, info in fields if not info.is_required()}

    def option_lines(self, prefix: str = "") -> list[str]:
        """One line per option: ``{prefix}{name}: {type} = {default}  {description}``."""
        if self.options is None:
            return []
        lines = []
        for name, info in self.options.model_fields.items():
            default = info.get_default(call_default_factory=True)
            shown = "(required)" if info.is_required() else repr(default)
            line = f"{prefix}{name}: {_type_name(info.annotation)} = {shown}"
            lines.append(f"{line}  {info.description}" if info.description else line)
        return lines


class Registry(Mapping[str, T]):
    """Name -> component, in registration order (``before`` inserts earlier).

    ``what`` names a component in messages ("quantizer"), ``key`` is the config key that selects
    one ("quantization.method"), ``extra`` are names the key accepts besides the entries ("none").
    ``registry[name]`` is the component, ``registry.entry(name)`` its :class:`Entry`; an unknown
    name raises :class:`UnknownNameError` with the nearest name and every choice.
    """

    def __init__(self, what: str, key: str, extra: Sequence[str] = ()) -> None:
        self.what = what
        self.key = key
        self.extra = tuple(extra)
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        target: T | None = None,
        *,
        options: type[Options] | None = None,
        display: str | None = None,
        summary: str | None = None,
        before: str | None = None,
        replace: bool = False,
        **info: Any,
    ) -> Any:
        """Register ``target`` under ``name``; without ``target``, a decorator that registers what it
        decorates and returns it unchanged. ``options``: the pydantic model of its options;
        ``display``: its name in tables (default: ``name``); ``summary``: one line (default: the
        first line of its docstring); ``before``: an entry it goes before in the order; ``replace``:
        allow re-registering ``name``; ``info``: what the registry's user reads (e.g. ``output``)."""
        if not isinstance(name, str) or not name or name in self.extra:
            reserved = f" other than {', '.join(self.extra)}" if self.extra else ""
            raise ValueError(f"a {self.what} needs a non-empty name{reserved}, not {name!r}")
        if options is not None and not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise TypeError(f"options of {self.what} {name!r} must be a pydantic model class, not {options!r}")

        def add(component: T) -> T:
            if name in self._entries and not replace:
                raise ValueError(f"{self.what} {name!r} is already registered; pass replace=True to replace it")
            entry = Entry(
                name=name,
                target=component,
                what=self.what,
                options=options,
                display=display or name,
                summary=summary if summary is not None else docstring_summary(component),
                info=dict(info),
            )
            if before is None and name in self._entries:  # a replacement keeps its place
                self._entries = {k: entry if k == name else v for k, v in self._entries.items()}
                return component
            entries = {k: v for k, v in self._entries.items() if k != name}
            if before is not None:
                self.entry(before)  # an unknown anchor is an error, not a silent append
                ordered: dict[str, Entry[T]] = {}
                for key, value in entries.items():
                    if key == before:
                        ordered[name] = entry
                    ordered[key] = value
                entries = ordered
            else:
                entries[name] = entry
            self._entries = entries
            return component

        return add if target is None else add(target)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a component registered for a test or a session)."""
        self.entry(name)
        del self._entries[name]

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"{self.key}: {self.unknown(name)}") from None

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def __getitem__(self, name: str) -> T:
        return self.entry(name).target

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def choices(self) -> list[str]:
        """Every name the config key accepts: the ``extra`` names, then the entries in order."""
        return [*self.extra, *self._entries]

    def unknown(self, name: Any) -> str:
        """ "unknown quantizer 'psqq' (did you mean `psq`?); choose one of none, pq, ..." (the name as
        its repr: whatever was typed, on one line)."""
        choices = self.choices()
        return f"unknown {self.what} {name!r}{_nearest(str(name), choices)}; choose one of {', '.join(choices)}"

    def check(self, name: Any) -> str:
        """``name`` if the config key accepts it; else ValueError (a field validator's error: pydantic
        adds the key) with the nearest name and every choice."""
        if name not in self.extra and name not in self._entries:
            raise ValueError(self.unknown(name))
        return name

    def schema_enum(self) -> Callable[[dict[str, Any]], None]:
        """A ``json_schema_extra`` that lists the choices registered when the schema is made."""
        return schema_enum(self.choices)

    def display(self, name: str) -> str:
        """The display name of ``name`` (the name itself when it is not registered)."""
        return self._entries[name].display if name in self._entries else str(name)


def schema_enum(choices: Callable[[], Sequence[str]]) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` that sets the field's ``enum`` to ``choices()`` when the schema is made
    (so that it lists what is registered then)."""

    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = list(choices())

    return extra


def option_field(options: type[Options], name: str, note: str = "") -> Any:
    """The field ``name`` of an options model (a pydantic FieldInfo), to declare it again as a flat
    config key (e.g. ``quantization.logit_scale`` for GS's ``logit_scale``): same type, default and
    bounds, its description prefixed with ``note`` ("GS: ..."). The options model stays the one
    definition. Typed Any, as ``pydantic.Field`` is, so that it can stand as a field's default."""
    info: FieldInfo = copy.deepcopy(options.model_fields[name])
    if note:
        info.description = f"{note}: {info.description}" if info.description else note
    return info


def fold_options(data: Any, entry: Entry | None, where: str, flat: Collection[str], into: str | None = None) -> Any:
    """Raw section ``data`` with the keys of ``data['options']`` that are also config keys moved to
    them, so that both spellings (``quantization.options.hard`` and ``quantization.hard``) are one
    key and the resolved config writes it once: to the flat keys ``flat`` of the section, or, with
    ``into``, to the sub-section ``data[into]`` (``model.options.ports`` -> ``model.mzi.ports``).
    Only options of ``entry`` move (another component's option stays, for validation to refuse).
    Raises ValueError when both spellings are given with different values."""
    if entry is None or entry.options is None or not isinstance(data, dict):
        return data
    options = data.get("options")
    target = data if into is None else data.get(into, {})
    if not isinstance(options, dict) or not isinstance(target, dict):
        return data
    moving = [key for key in options if key in entry.options.model_fields and (into is not None or key in flat)]
    if not moving:
        return data
    data = {**data, "options": {k: v for k, v in options.items() if k not in moving}}
    updates = {}
    for key in moving:
        if key in target and target[key] != options[key]:
            flat_key = f"{where}.{into}.{key}" if into else f"{where}.{key}"
            raise ValueError(
                f"{where}.options.{key} ({options[key]!r}) and {flat_key} ({target[key]!r}) are one key: set it once"
            )
        updates[key] = options[key]
    return {**data, **updates} if into is None else {**data, into: {**target, **updates}}


def resolve_options(entry: Entry, section: BaseModel, options: Mapping[str, Any] | None = None) -> Options | None:
    """The options ``entry``'s component is built with: its defaults, then the flat keys of the config
    ``section`` that name one of its options, then ``options`` (the section's ``options`` mapping)."""
    if entry.options is None:
        return entry.parse_options(options)
    flat = {name: getattr(section, name) for name in entry.options.model_fields if name in type(section).model_fields}
    return entry.parse_options({**flat, **dict(options or {})})
