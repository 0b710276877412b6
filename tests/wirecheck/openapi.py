"""OpenAPI 3.1 descriptions as validators (jsonschema, Draft 2020-12), closed-world.

OpenAPI schemas leave objects open (no ``additionalProperties: false``), while the services
answer 400 ``unknown_parameter`` to a field they do not define; so every object schema with
``properties`` is closed here with ``unevaluatedProperties: false`` (which, unlike
``additionalProperties``, also works through ``anyOf``). OpenAI's file still carries OpenAPI
3.0's ``nullable: true``; it becomes ``type: [T, "null"]``.

Multipart forms are checked as objects: text fields are coerced to the schema's integer,
number or boolean type (a form has only strings), files stand as strings (``format:
binary``), and a repeated or ``name[]`` field (openai-python's array convention, which
OpenAI accepts) is an array under ``name``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

Report = Callable[[str, str, str], None]  # (path, message, schema)

_UNEXPECTED = re.compile(r"'([^']+)'")


def _close(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _close(v) for k, v in node.items()}
        if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "properties" in out and "additionalProperties" not in out:
            out["unevaluatedProperties"] = False
        return out
    if isinstance(node, list):
        return [_close(item) for item in node]
    return node


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class OpenAPIDoc:
    """One trimmed OpenAPI description: routes, and request/answer checks."""

    def __init__(self, label: str, doc: dict[str, Any], *, error: str) -> None:
        self.label = label
        self.paths: dict[str, Any] = doc["paths"]
        self.components = _close(copy.deepcopy(doc.get("components", {})))
        self.error_schema = error
        servers = doc.get("servers") or [{"url": ""}]
        self.base = re.sub(r"^https?://[^/]+", "", servers[0]["url"]).rstrip("/")
        self._routes = sorted(
            ((_template_regex(self.base + p), p) for p in self.paths),
            key=lambda item: item[1].count("{"),  # literal paths before templated ones
        )
        self._validators: dict[str, Draft202012Validator] = {}

    def route(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The template and operation of ``METHOD path`` (``/v1/images/edits``), if defined."""
        for regex, template in self._routes:
            if regex.match(path):
                operation = self.paths[template].get(method.lower())
                if operation is not None:
                    return template, operation
        return None

    def request_schema(self, operation: dict[str, Any], content_type: str) -> Any:
        """The body schema of ``operation`` for ``content_type`` (None: no body defined)."""
        content = operation.get("requestBody", {}).get("content", {})
        return content.get(content_type, {}).get("schema")

    def answer_schema(self, operation: dict[str, Any], status: int, content_type: str) -> Any:
        """The answer schema for a 2xx ``status`` (None if the definition has none)."""
        responses = operation.get("responses", {})
        response = responses.get(str(status)) or responses.get("2XX") or responses.get("default")
        content = (response or {}).get("content", {})
        return content.get(content_type, {}).get("schema")

    def name_of(self, schema: Any) -> str:
        """A schema's component name, for messages."""
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            return str(schema["$ref"].rsplit("/", 1)[-1])
        return "(inline schema)"

    def resolve(self, schema: Any) -> dict[str, Any]:
        """``schema`` with a top-level ``$ref`` followed."""
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.components["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema if isinstance(schema, dict) else {}

    def check(self, schema: Any, value: Any, report: Report, name: str | None = None) -> None:
        """Check ``value`` against ``schema``; each problem goes to ``report``."""
        validator = self._validator(schema)
        name = self.name_of(schema) if name is None or "$ref" in schema else name
        for error in validator.iter_errors(value):
            path = _json_path(error)
            if error.validator == "unevaluatedProperties":
                for field in _UNEXPECTED.findall(error.message):
                    report(f"{path}.{field}", "unknown field", name)
                continue
            message = error.message if len(error.message) < 300 else error.message[:300] + "..."
            if error.validator in ("anyOf", "oneOf") and error.context:
                best = min(error.context, key=lambda e: len(e.message))
                message = f"{message.split(' is not valid')[0][:80]} is not valid: {best.message}"
            report(path, message, name)

    def _validator(self, schema: Any) -> Draft202012Validator:
        key = repr(schema)
        if key not in self._validators:
            root = {**_close(copy.deepcopy(schema)), "components": self.components}
            self._validators[key] = Draft202012Validator(root)
        return self._validators[key]

    # -- multipart ------------------------------------------------------------------------

    def form_instance(self, schema: Any, form: dict[str, Any]) -> dict[str, Any]:
        """A multipart form as the object its schema describes (see the module docstring)."""
        props = self.resolve(schema).get("properties", {})
        out: dict[str, Any] = {}
        for raw_name, value in form.items():
            name = raw_name.removesuffix("[]")
            items = value if isinstance(value, list) else [value]
            coerced = [self._coerce(props.get(name, {}), item) for item in items]
            out[name] = (
                coerced if raw_name.endswith("[]") or isinstance(value, list) else coerced[0]
            )
        return out

    def _coerce(self, prop: dict[str, Any], value: Any) -> Any:
        if not isinstance(value, str):
            return "<file>"  # a FilePart: binary
        types = self._types(prop)
        if "integer" in types and re.fullmatch(r"-?\d+", value):
            return int(value)
        if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        if "boolean" in types and value in ("true", "false"):
            return value == "true"
        return value

    def _types(self, prop: dict[str, Any]) -> set[str]:
        prop = self.resolve(prop)
        kinds = prop.get("type", [])
        found = {kinds} if isinstance(kinds, str) else set(kinds)
        for branch in prop.get("anyOf", []) + prop.get("oneOf", []):
            found |= self._types(branch)
        return found
