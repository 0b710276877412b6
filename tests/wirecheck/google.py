"""Google discovery documents as validators: a body against a schema, field by field.

Discovery schemas are not JSON Schema: ``type`` is ``string``/``integer``/``number``/
``boolean``/``object``/``array``/``any``, ``format`` refines it (``int32``, ``int64``
travelling as a string, ``byte`` as base64), ``$ref`` names another schema, and properties
are closed (a proto message has no other fields). This walker reads them directly rather than
converting them, so its messages can name the proto3 JSON rules: names are lowerCamelCase on
the wire; a parser also accepts the proto field name (``image_config``), which
``casing="proto"`` allows and the default ``"camel"`` reports as wrong casing, because
seedless sends camelCase. Properties marked ``required`` (the description said "Required.", or
the proto's field_behavior did) must be present in requests.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

Report = Callable[[str, str, str], None]  # (path, message, schema)

_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def camel(name: str) -> str:
    """The proto3 JSON name of a proto field name (``image_config`` -> ``imageConfig``)."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _flat_path_regex(flat: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", flat)
    pattern = "".join("[^/:]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^/{pattern}$")


class GoogleDoc:
    """One trimmed discovery document (plus an optional overlay of live fields)."""

    def __init__(self, label: str, doc: dict[str, Any], overlay: dict[str, Any] | None = None):
        self.label = label
        self.schemas: dict[str, Any] = {k: dict(v) for k, v in doc["schemas"].items()}
        self.methods: dict[str, Any] = doc["methods"]
        self.prefix = self._schema_prefix()
        for name, extra in (overlay or {}).get("schemas", {}).items():
            self.schemas[self.prefix + name] = extra
        for name, props in (overlay or {}).get("properties", {}).items():
            schema = self.schemas[self.prefix + name]
            merged = dict(schema.get("properties", {}))
            for prop, body in props.items():
                merged[prop] = {k: (self.prefix + v if k == "$ref" else v) for k, v in body.items()}
            self.schemas[self.prefix + name] = {**schema, "properties": merged}
        self._routes = [
            (method.get("httpMethod", "GET"), _flat_path_regex(method["flatPath"]), method_id)
            for method_id, method in self.methods.items()
            if "flatPath" in method
        ]

    def _schema_prefix(self) -> str:
        for name in self.schemas:
            match = re.match(r"^(GoogleCloudAiplatformV1(?:beta1)?)", name)
            if match:
                return match.group(1)
        return ""

    # -- routing ------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The method id and method of ``METHOD path`` (``/v1beta/models/x:generateContent``)."""
        for http, regex, method_id in self._routes:
            if http == method and regex.match(path):
                return method_id, self.methods[method_id]
        return None

    # -- checking -----------------------------------------------------------------------

    def check(
        self, ref: str, value: Any, report: Report, *, casing: str = "camel", request: bool
    ) -> None:
        """Check ``value`` against schema ``ref``; each problem goes to ``report``."""
        _Walker(self, report, casing, request).object(ref, value, "$")


class _Walker:
    def __init__(self, doc: GoogleDoc, report: Report, casing: str, request: bool) -> None:
        self.doc = doc
        self.report = report
        self.casing = casing
        self.request = request

    def object(self, ref: str, value: Any, path: str) -> None:
        schema = self.doc.schemas.get(ref)
        if schema is None:
            self.report(path, f"the definition has no schema {ref!r}", ref)
            return
        self.properties(schema, value, path, ref)

    def properties(self, schema: dict[str, Any], value: Any, path: str, name: str) -> None:
        if not isinstance(value, dict):
            self.report(path, f"expected an object, got {_kind(value)}", name)
            return
        props: dict[str, Any] = schema.get("properties", {})
        seen: set[str] = set()
        for key, item in value.items():
            prop = props.get(key)
            if prop is None:
                wire = camel(key)
                if wire != key and wire in props:
                    if self.casing != "proto":
                        self.report(
                            f"{path}.{key}",
                            f"wrong casing: the wire name is {wire!r} (proto3 JSON names)",
                            name,
                        )
                        continue
                    prop, key = props[wire], wire
                else:
                    self.report(f"{path}.{key}", "unknown field", name)
                    continue
            seen.add(key)
            if prop.get("deprecated"):
                self.report(f"{path}.{key}", "deprecated in this revision", name)
            self.value(prop, item, f"{path}.{key}", name)
        if self.request:
            for key, prop in props.items():
                if prop.get("required") and key not in seen:
                    self.report(f"{path}.{key}", "missing required field", name)

    def value(self, prop: dict[str, Any], value: Any, path: str, name: str) -> None:
        if "$ref" in prop:
            self.object(prop["$ref"], value, path)
            return
        kind = prop.get("type", "any")
        if kind == "any":
            return
        if kind == "object":
            if "properties" in prop:
                self.properties(prop, value, path, name)
            elif not isinstance(value, dict):
                self.report(path, f"expected an object, got {_kind(value)}", name)
            elif "additionalProperties" in prop:
                for key, item in value.items():
                    self.value(prop["additionalProperties"], item, f"{path}.{key}", name)
            return
        if kind == "array":
            if not isinstance(value, list):
                self.report(path, f"expected an array, got {_kind(value)}", name)
                return
            for index, item in enumerate(value):
                self.value(prop.get("items", {}), item, f"{path}[{index}]", name)
            return
        self.scalar(prop, kind, value, path, name)

    def scalar(self, prop: dict[str, Any], kind: str, value: Any, path: str, name: str) -> None:
        fmt = prop.get("format", "")
        if kind == "string" and fmt in ("int64", "uint64"):
            kind = "integer"  # proto3 JSON: 64-bit integers travel as strings or numbers
        if kind == "integer":
            number = value
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value) and fmt in _INT_RANGES:
                number = int(value)
            if isinstance(number, bool) or not isinstance(number, int):
                self.report(path, f"expected an integer ({fmt or 'int'}), got {_kind(value)}", name)
                return
            low, high = _INT_RANGES.get(fmt, (-(2**63), 2**64))
            if not low <= number <= high:
                self.report(path, f"{number} is out of range for {fmt}", name)
            return
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.report(path, f"expected a number, got {_kind(value)}", name)
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                self.report(path, f"expected a boolean, got {_kind(value)}", name)
            return
        if not isinstance(value, str):
            self.report(path, f"expected a string, got {_kind(value)}", name)
            return
        if "enum" in prop and value not in prop["enum"]:
            shown = ", ".join(prop["enum"])
            self.report(path, f"{value!r} is not one of the enum values ({shown})", name)
        elif fmt == "byte" and not _is_base64(value):
            self.report(path, "not base64 (format byte)", name)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
