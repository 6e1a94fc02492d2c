"""Between the hosted MCP shapes (camelCase) and the REST API's JSON (snake_case), guided by schemas.

One walk each way, for every tool: the schema says which keys are fields (renamed) and which
objects are maps of the caller's own keys (`metadata`: kept as they are). Outbound, only declared
fields survive, in the schema's order, so a tool answers exactly its output schema whatever else
the REST model carries (pod_id, headers, client_id, text_url...).
"""

from __future__ import annotations

import re
from typing import Any

from .params import Schema

_UPPER = re.compile(r"[A-Z]")


def snake(name: str) -> str:
    return _UPPER.sub(lambda match: "_" + match.group(0).lower(), name)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _fields(schema: Schema) -> dict[str, Schema]:
    """The declared fields of an object schema, across anyOf alternatives; empty for a map."""
    fields: dict[str, Schema] = dict(schema.get("properties", {}))
    for branch in schema.get("anyOf", ()):
        fields.update(_fields(branch))
    return fields


def _items(schema: Schema) -> Schema:
    if "items" in schema:
        return schema["items"]  # type: ignore[no-any-return]
    for branch in schema.get("anyOf", ()):
        if "items" in branch:
            return branch["items"]  # type: ignore[no-any-return]
    return {}


def to_hosted(value: Any, schema: Schema) -> Any:
    """REST JSON as the hosted server answers it: declared fields only, camelCase, absent ones left out."""
    if isinstance(value, list):
        return [to_hosted(item, _items(schema)) for item in value]
    if not isinstance(value, dict):
        return value
    fields = _fields(schema)
    if not fields:
        return value
    return {name: to_hosted(value[snake(name)], field) for name, field in fields.items()
            if value.get(snake(name)) is not None}


def to_rest(value: Any, schema: Schema) -> Any:
    """Tool arguments (already checked against `schema`) with the REST API's snake_case names."""
    if isinstance(value, list):
        return [to_rest(item, _items(schema)) for item in value]
    if not isinstance(value, dict):
        return value
    fields = _fields(schema)
    if not fields:
        return value
    return {snake(name): to_rest(item, fields.get(name, {})) for name, item in value.items()}
