"""Re-fetch and re-trim the vendored API definitions in this folder (needs the network; not CI).

    python tests/definitions/refresh.py                 # every source, from the network
    python tests/definitions/refresh.py openai          # one source
    python tests/definitions/refresh.py --local openai=/path/openapi.json ...

Each output file keeps only what seedless's wire checks use (the operations listed below and
the schemas they reach), without descriptions and examples, and opens with an ``x-vendored``
object naming the source repository or URL, path, commit or revision, and licence. Pass
``--ref NAME=COMMIT`` to pin a git source, ``--local NAME=PATH`` to read a file already on
disk (a checkout, an unpacked wheel) instead of downloading it; the note in the output says
which. See README.md beside this file for the list of sources and what each file is for.

The Gemini API (generativelanguage) publishes its discovery document only at its own URL,
which may need a key (``GEMINI_API_KEY``); without it, ``--local`` can point at
googleapis/googleapis protos (``gl.v1beta=/path/googleapis``), converted to the same
discovery-style schemas by :func:`protos_to_discovery` (proto3 JSON names: lowerCamelCase).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Keys dropped everywhere: prose and examples (the checks never read them).
_PROSE = frozenset(
    {
        "description", "example", "examples", "summary", "title", "enumDescriptions",
        "x-oaiMeta", "x-oaiTypeLabel", "x-oaiExpandable", "x-codeSamples", "x-readme",
        "x-stainless-const", "x-stainless-naming", "tags", "externalDocs",
    }
)  # fmt: skip


@dataclass
class Source:
    """Where one definition comes from, and what of it we keep."""

    name: str
    kind: str  # "openapi", "discovery" or "protos"
    output: str
    repository: str
    path: str
    licence: str
    url: str = ""
    ref: str = ""
    keep: dict[str, list[str]] = field(default_factory=dict)  # openapi: path -> methods
    methods: list[str] = field(default_factory=list)  # discovery: method ids
    extra_schemas: list[str] = field(default_factory=list)
    opaque: dict[str, list[str]] = field(default_factory=dict)  # schema -> cut properties
    proto_files: list[str] = field(default_factory=list)
    proto_package: str = ""


_OPENAI_PATHS = {
    "/images/generations": ["post"],
    "/images/edits": ["post"],
    "/models": ["get"],
    "/models/{model}": ["get"],
    "/files": ["post", "get"],
    "/files/{file_id}": ["get", "delete"],
    "/files/{file_id}/content": ["get"],
    "/batches": ["post", "get"],
    "/batches/{batch_id}": ["get"],
    "/batches/{batch_id}/cancel": ["post"],
}
_GEMINI_PROTOS = [
    "generative_service.proto", "content.proto", "safety.proto", "citation.proto",
    "retriever.proto", "model.proto", "model_service.proto",
]  # fmt: skip
#: Properties whose subtrees we never send or read: kept as untyped, to keep files small.
_GOOGLE_OPAQUE = {
    "GenerateContentRequest": ["tools", "toolConfig", "modelArmorConfig", "outputConfig"],
    "GenerationConfig": [
        "responseSchema", "responseJsonSchema", "responseJsonSchemaOrdered", "speechConfig",
        "routingConfig", "modelConfig", "translationConfig", "audioTranscriptionConfig",
        "responseFormat",
    ],
    "Part": [
        "functionCall", "functionResponse", "executableCode", "codeExecutionResult",
        "toolCall", "toolResponse",
    ],
    "PublisherModel": ["supportedActions", "predictSchemata"],
    "Candidate": ["groundingMetadata", "citationMetadata", "logprobsResult", "urlContextMetadata",
                  "groundingAttributions"],
}  # fmt: skip
_VERTEX_METHODS = [
    "aiplatform.projects.locations.publishers.models.generateContent",
    "aiplatform.projects.locations.publishers.models.streamGenerateContent",
    "aiplatform.projects.locations.publishers.models.predict",
    "aiplatform.publishers.models.list",
    "aiplatform.publishers.models.get",
]

_BFL_MODELS = [
    "flux-dev", "flux-pro-1.1", "flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max",
    "flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b",
]  # fmt: skip

SOURCES = {
    "bfl": Source(
        name="bfl",
        kind="openapi",
        output="bfl.openapi.json",
        repository="https://api.bfl.ai/openapi.json",
        path="openapi.json",
        licence="none stated (the API description BFL publishes for its clients)",
        url="https://api.bfl.ai/openapi.json",
        keep={
            **{f"/v1/{model}": ["post"] for model in _BFL_MODELS},
            "/v1/get_result": ["get"],
            "/v1/credits": ["get"],
        },
        extra_schemas=["HTTPValidationError"],
    ),
    "stability": Source(
        name="stability",
        kind="openapi",
        output="stability.openapi.json",
        repository="https://platform.stability.ai/docs/api-reference (REST v2beta)",
        path="the description behind the API reference (api.stability.ai/v2alpha/openapi)",
        licence="none stated (the API description Stability AI publishes for its clients)",
        url="https://api.stability.ai/v2alpha/openapi",
        keep={
            "/v2beta/stable-image/generate/ultra": ["post"],
            "/v2beta/stable-image/generate/core": ["post"],
            "/v2beta/stable-image/generate/sd3": ["post"],
        },
        extra_schemas=["ContentModerationResponse"],
    ),
    "openai": Source(
        name="openai",
        kind="openapi",
        output="openai.openapi.json",
        repository="openai/openai-openapi",
        path="openapi.json",
        licence="MIT",
        url="https://raw.githubusercontent.com/openai/openai-openapi/{ref}/openapi.json",
        ref="main",
        keep=_OPENAI_PATHS,
        extra_schemas=["ErrorResponse"],
    ),
    "together": Source(
        name="together",
        kind="openapi",
        output="together.openapi.json",
        repository="togethercomputer/openapi",
        path="openapi.yaml",
        licence="MIT",
        url="https://raw.githubusercontent.com/togethercomputer/openapi/{ref}/openapi.yaml",
        ref="main",
        keep={"/images/generations": ["post"]},
        extra_schemas=["ErrorData"],
    ),
    **{
        f"aiplatform.{version}": Source(
            name=f"aiplatform.{version}",
            kind="discovery",
            output=f"aiplatform.{version}.json",
            repository="https://aiplatform.googleapis.com/$discovery/rest",
            path=f"version={version}",
            licence="Apache-2.0 (as shipped in google-api-python-client's discovery_cache)",
            url=f"https://aiplatform.googleapis.com/$discovery/rest?version={version}",
            methods=_VERTEX_METHODS,
            extra_schemas=["GoogleRpcStatus"],
            opaque=_GOOGLE_OPAQUE,
        )
        for version in ("v1", "v1beta1")
    },
    **{
        f"gl.{version}": Source(
            name=f"gl.{version}",
            kind="discovery",
            output=f"generativelanguage.{version}.json",
            repository="https://generativelanguage.googleapis.com/$discovery/rest",
            path=f"version={version}",
            licence="Apache-2.0",
            url=f"https://generativelanguage.googleapis.com/$discovery/rest?version={version}",
            methods=[
                "generativelanguage.models.generateContent",
                "generativelanguage.models.streamGenerateContent",
                "generativelanguage.models.list",
                "generativelanguage.models.get",
            ],
            opaque=_GOOGLE_OPAQUE,
            proto_files=[f"google/ai/generativelanguage/{version}/{f}" for f in _GEMINI_PROTOS],
            proto_package=f"google.ai.generativelanguage.{version}",
        )
        for version in ("v1beta", "v1")
    },
}


# -------------------------------------------------------------------------------- fetching


def _download(url: str) -> bytes:
    key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
    if "generativelanguage" in url and key:
        url += f"&key={key}"
    with urllib.request.urlopen(url, timeout=60) as answer:  # fixed https URLs
        return bytes(answer.read())


def _parse(text: bytes, path: str) -> Any:
    if path.endswith((".yaml", ".yml")):
        import yaml  # PyYAML: only this script needs it

        return yaml.safe_load(text)
    return json.loads(text)


# -------------------------------------------------------------------------------- trimming


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _PROSE}
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _openapi_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _openapi_refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _openapi_refs(item, found)


def trim_openapi(doc: dict[str, Any], source: Source) -> dict[str, Any]:
    """The listed operations of an OpenAPI document and the component schemas they reach."""
    paths: dict[str, Any] = {}
    for path, methods in source.keep.items():
        item = doc["paths"].get(path)
        if item is None:
            continue
        kept = {m: _strip(item[m]) for m in methods if m in item}
        for op in kept.values():
            op.pop("security", None)
        if "parameters" in item:
            kept["parameters"] = _strip(item["parameters"])
        paths[path] = kept
    schemas = doc.get("components", {}).get("schemas", {})
    wanted: set[str] = set(source.extra_schemas)
    _openapi_refs(paths, wanted)
    done: set[str] = set()
    while wanted - done:
        name = sorted(wanted - done)[0]
        done.add(name)
        _openapi_refs(schemas.get(name, {}), wanted)
    return {
        "openapi": doc.get("openapi"),
        "info": {"title": doc["info"].get("title"), "version": doc["info"].get("version")},
        "servers": doc.get("servers", []),
        "paths": paths,
        "components": {"schemas": {n: _strip(schemas[n]) for n in sorted(done) if n in schemas}},
    }


def _discovery_methods(resource: dict[str, Any], out: dict[str, Any]) -> None:
    for method in resource.get("methods", {}).values():
        out[method["id"]] = method
    for sub in resource.get("resources", {}).values():
        _discovery_methods(sub, out)


def _trim_property(prop: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key in ("type", "format", "$ref", "enum", "deprecated", "readOnly", "required"):
        if key in prop:
            kept[key] = prop[key]
    if str(prop.get("description", "")).lstrip().startswith("Required."):
        kept["required"] = True
    if "items" in prop:
        kept["items"] = _trim_property(prop["items"])
    if "additionalProperties" in prop:
        kept["additionalProperties"] = _trim_property(prop["additionalProperties"])
    if "properties" in prop:
        kept["properties"] = {k: _trim_property(v) for k, v in prop["properties"].items()}
    return kept


def _short(schema_id: str) -> str:
    return re.sub(r"^GoogleCloudAiplatformV1(beta1)?", "", schema_id)


def _discovery_refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            _discovery_refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _discovery_refs(item, found)


def trim_discovery(doc: dict[str, Any], source: Source) -> dict[str, Any]:
    """The listed methods of a discovery document and the schemas their bodies reach."""
    every: dict[str, Any] = {}
    _discovery_methods(doc, every)
    methods = {}
    wanted: set[str] = set(source.extra_schemas)
    for method_id in source.methods:
        method = every.get(method_id)
        if method is None:
            continue
        kept = {k: method[k] for k in ("httpMethod", "path", "flatPath") if k in method}
        for key in ("request", "response"):
            if key in method:
                kept[key] = method[key]
                wanted.add(method[key]["$ref"])
        methods[method_id] = kept
    schemas = doc["schemas"]
    trimmed: dict[str, Any] = {}
    while wanted - set(trimmed):
        name = sorted(wanted - set(trimmed))[0]
        schema = _trim_property(schemas[name])
        for prop in source.opaque.get(_short(name), []):
            if prop in schema.get("properties", {}):
                schema["properties"][prop] = {"type": "any", "x-trimmed": True}
        trimmed[name] = schema
        _discovery_refs(schema, wanted)
    return {
        "kind": "discovery#restDescription",
        "id": doc.get("id"),
        "name": doc.get("name"),
        "version": doc.get("version"),
        "revision": doc.get("revision"),
        "rootUrl": doc.get("rootUrl"),
        "methods": methods,
        "schemas": dict(sorted(trimmed.items())),
    }


# ------------------------------------------------------------------- protos -> discovery form

_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "sint32": {"type": "integer", "format": "int32"},
    "uint32": {"type": "integer", "format": "uint32"},
    "int64": {"type": "string", "format": "int64"},
    "uint64": {"type": "string", "format": "uint64"},
    "float": {"type": "number", "format": "float"},
    "double": {"type": "number", "format": "double"},
    "google.protobuf.Value": {"type": "any"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": {"type": "any"}},
    "google.protobuf.Duration": {"type": "string", "format": "google-duration"},
    "google.protobuf.Timestamp": {"type": "string", "format": "google-datetime"},
    "google.protobuf.FieldMask": {"type": "string", "format": "google-fieldmask"},
}
_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|[A-Za-z_][\w.]*|\d+|[{}\[\]<>=;,()]|\S')


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _tokens(text: str) -> list[str]:
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return _TOKEN.findall(text)


def _skip_block(tokens: list[str], i: int) -> int:
    depth = 0
    while i < len(tokens):
        if tokens[i] == "{":
            depth += 1
        elif tokens[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _parse_message(tokens: list[str], i: int, prefix: str, out: dict[str, Any]) -> int:
    """Parse ``message Name { ... }`` starting at tokens[i] == 'message'; oneofs flattened."""
    name = prefix + tokens[i + 1]
    i += 3  # message Name {
    fields: dict[str, Any] = {}
    open_oneofs = 0
    while True:
        token = tokens[i]
        if token == "}":
            if open_oneofs == 0:
                break
            open_oneofs -= 1
            i += 1
        elif token == "message":
            i = _parse_message(tokens, i, name + ".", out)
        elif token == "enum":
            out[f"{name}.{tokens[i + 1]}"] = _enum_values(tokens, i)
            i = _skip_block(tokens, i)
        elif token in ("reserved", "option", "extensions"):
            while tokens[i] != ";":
                i += 1
            i += 1
        elif token == "oneof":
            open_oneofs += 1
            i += 3
        else:
            i = _parse_field(tokens, i, fields)
    out[name] = {"fields": fields}
    return i + 1


def _enum_values(tokens: list[str], i: int) -> list[str]:
    end = _skip_block(tokens, i)
    values = []
    j = i + 3
    while j < end - 1:
        if tokens[j] == "option" or tokens[j] == "reserved":
            while tokens[j] != ";":
                j += 1
        elif re.fullmatch(r"[A-Z][A-Z0-9_]*", tokens[j]) and tokens[j + 1] == "=":
            values.append(tokens[j])
        j += 1
    return values


def _parse_field(tokens: list[str], i: int, fields: dict[str, Any]) -> int:
    label = None
    if tokens[i] in ("optional", "repeated", "required"):
        label = tokens[i]
        i += 1
    if tokens[i] == "map":
        key_type, value_type = tokens[i + 2], tokens[i + 4]
        type_name = f"map<{key_type},{value_type}>"
        i += 6
    else:
        type_name = tokens[i]
        i += 1
    field_name = tokens[i]
    j = i + 1
    options_text = []
    while tokens[j] != ";":
        options_text.append(tokens[j])
        j += 1
    behaviour = " ".join(options_text)
    fields[field_name] = {
        "type": type_name,
        "repeated": label == "repeated",
        "required": "REQUIRED" in behaviour,
        "output_only": "OUTPUT_ONLY" in behaviour,
        "deprecated": "deprecated = true" in behaviour,
    }
    return j + 1


def parse_protos(texts: list[str], package: str) -> dict[str, Any]:
    """Messages and enums of ``.proto`` texts, by full name under ``package``."""
    out: dict[str, Any] = {}
    for text in texts:
        tokens = _tokens(text)
        i = 0
        while i < len(tokens):
            if tokens[i] == "message":
                i = _parse_message(tokens, i, "", out)
            elif tokens[i] == "enum":
                out[tokens[i + 1]] = _enum_values(tokens, i)
                i = _skip_block(tokens, i)
            elif tokens[i] == "service":
                i = _skip_block(tokens, i)
            else:
                i += 1
    return out


def _resolve(type_name: str, scope: str, parsed: dict[str, Any], package: str) -> str | None:
    name = type_name.removeprefix(package + ".")
    parts = scope.split(".")
    for depth in range(len(parts), -1, -1):
        candidate = ".".join([*parts[:depth], name]) if depth else name
        if candidate in parsed:
            return candidate
    return None


def _proto_property(field_info: dict[str, Any], scope: str, parsed: dict[str, Any],
                    package: str) -> dict[str, Any]:  # fmt: skip
    type_name = field_info["type"]
    prop: dict[str, Any]
    if type_name.startswith("map<"):
        _key_type, value_type = type_name[4:-1].split(",")
        inner = {"type": value_type, "repeated": False}
        prop = {
            "type": "object",
            "additionalProperties": _proto_property(inner, scope, parsed, package),
        }
    elif type_name in _SCALARS:
        prop = dict(_SCALARS[type_name])
    else:
        target = _resolve(type_name, scope, parsed, package)
        if target is None:
            prop = {"type": "any", "x-unresolved": type_name}
        elif isinstance(parsed[target], list):
            prop = {"type": "string", "enum": parsed[target]}
        else:
            prop = {"$ref": target.replace(".", "")}
    if field_info.get("repeated"):
        prop = {"type": "array", "items": prop}
    for flag, key in (("output_only", "readOnly"), ("deprecated", "deprecated"),
                      ("required", "required")):  # fmt: skip
        if field_info.get(flag):
            prop[key] = True
    return prop


def protos_to_discovery(texts: list[str], source: Source, revision: str) -> dict[str, Any]:
    """Discovery-style schemas (proto3 JSON names) for the messages of ``texts``."""
    parsed = parse_protos(texts, source.proto_package)
    version = source.proto_package.rsplit(".", 1)[-1]
    schemas: dict[str, Any] = {}
    for name, body in parsed.items():
        if isinstance(body, list):
            continue
        props = {
            _camel(f): _proto_property(info, name, parsed, source.proto_package)
            for f, info in body["fields"].items()
        }
        schemas[name.replace(".", "")] = {"id": name.replace(".", ""), "type": "object",
                                          "properties": props}  # fmt: skip
    routes = {  # as the REST mapping (google.api.http) of generative_service.proto puts them
        "generateContent": ("POST", "models/{modelsId}:generateContent",
                            "GenerateContentRequest", "GenerateContentResponse"),
        "streamGenerateContent": ("POST", "models/{modelsId}:streamGenerateContent",
                                  "GenerateContentRequest", "GenerateContentResponse"),
        "list": ("GET", "models", None, "ListModelsResponse"),
        "get": ("GET", "models/{modelsId}", None, "Model"),
    }  # fmt: skip
    # bound to the URL path by google.api.http ("/{version}/{model=models/*}:generateContent"),
    # so a REST body need not carry it
    for name, field_name in (("GenerateContentRequest", "model"),):
        schemas.get(name, {}).get("properties", {}).get(field_name, {}).pop("required", None)
    doc: dict[str, Any] = {
        "schemas": schemas,
        "id": f"generativelanguage:{version}",
        "name": "generativelanguage",
        "version": version,
        "revision": revision,
        "rootUrl": "https://generativelanguage.googleapis.com/",
        "resources": {"models": {"methods": {}}},
    }
    for short, (http, path, request, response) in routes.items():
        method: dict[str, Any] = {
            "id": f"generativelanguage.models.{short}",
            "httpMethod": http,
            "path": f"{version}/{path}",
            "flatPath": f"{version}/{path}",
            "response": {"$ref": response},
        }
        if request:
            method["request"] = {"$ref": request}
        doc["resources"]["models"]["methods"][short] = method
    return doc


# ------------------------------------------------------------------------------------ main


def refresh(source: Source, local: str | None, ref: str | None, origin: str | None = None) -> Path:
    """Fetch (or read) one source, trim it, and write its file; returns the path."""
    ref = ref or source.ref
    vendored: dict[str, Any] = {
        "repository": source.repository,
        "path": source.path,
        "licence": source.licence,
        "retrieved": date.today().isoformat(),
    }
    if source.kind == "protos" or (local and source.proto_files and Path(local).is_dir()):
        root = Path(local or ".")
        files = [f for f in source.proto_files if (root / f).is_file()]  # v1 has fewer
        texts = [(root / f).read_text(encoding="utf-8") for f in files]
        vendored.update(
            repository="googleapis/googleapis",
            path=", ".join(files),
            licence="Apache-2.0",
            commit=ref,
            note="converted from the protos (the live discovery document was not reachable): "
            "proto3 JSON names, field_behavior REQUIRED -> required, OUTPUT_ONLY -> readOnly",
        )
        doc = protos_to_discovery(texts, source, revision=f"googleapis@{ref}")
        trimmed = trim_discovery(doc, source)
    else:
        if local:
            raw = Path(local).read_bytes()
            vendored["read_from"] = origin or "a local copy"
        else:
            raw = _download(source.url.format(ref=ref))
        if "{ref}" in source.url:
            vendored["commit"] = ref
        elif ref:  # a source without versions: the date or revision of the copy read
            vendored["revision"] = ref
        doc = _parse(raw, source.path)
        trimmed = (
            trim_openapi(doc, source) if source.kind == "openapi" else trim_discovery(doc, source)
        )
        if source.kind == "discovery":
            vendored["revision"] = doc.get("revision")
    out = HERE / source.output
    out.write_text(json.dumps({"x-vendored": vendored, **trimmed}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"sources to refresh (default: {list(SOURCES)})")
    parser.add_argument("--local", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--ref", action="append", default=[], metavar="NAME=COMMIT")
    parser.add_argument(
        "--origin", action="append", default=[], metavar="NAME=TEXT",
        help="where a --local file came from (recorded in x-vendored.read_from)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    local = dict(item.split("=", 1) for item in args.local)
    refs = dict(item.split("=", 1) for item in args.ref)
    origins = dict(item.split("=", 1) for item in args.origin)
    for name in args.names or list(SOURCES):
        path = refresh(SOURCES[name], local.get(name), refs.get(name), origins.get(name))
        print(f"{name}: wrote {path.name} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
