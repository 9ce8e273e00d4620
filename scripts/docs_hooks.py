"""MkDocs hook: the config reference page is generated from the schema at build time, never copied
by hand (issue 29). ``<!-- config-reference -->`` in docs/config-reference.md becomes one table per
section: key, type, default, description."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- config-reference -->"


def _type(field: Any) -> str:
    return str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def config_tables() -> str:
    from pydantic import BaseModel

    from quaton.config import Config

    lines: list[str] = []

    def section(model: type[BaseModel], prefix: str) -> None:
        rows, nested = [], []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested.append((annotation, f"{prefix}{name}."))
                continue
            default = "(required)" if field.is_required() else repr(field.get_default(call_default_factory=True))
            described = _cell(field.description or "")
            rows.append(f"| `{prefix}{name}` | `{_cell(_type(field))}` | `{_cell(default)}` | {described} |")
        if rows:
            lines.extend(
                [
                    f"## `{prefix.rstrip('.') or 'top level'}`",
                    "",
                    "| key | type | default | description |",
                    "|---|---|---|---|",
                    *rows,
                    "",
                ]
            )
        for child, child_prefix in nested:
            section(child, child_prefix)

    section(Config, "")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return markdown.replace(MARKER, config_tables()) if MARKER in markdown else markdown
