"""Derive ``sdapi.openapi.json``: the AUTOMATIC1111/Forge web API as seedless uses it.

The API's request models are not written anywhere as a schema: ``modules/api/models.py``
generates them at run time (``PydanticModelGenerator``) from the ``__init__`` signatures of the
processing dataclasses in ``modules/processing.py``, minus ``API_NOT_ALLOWED``, plus the
``additional_fields`` it lists. Running that needs torch and the whole webui; this script reads
the same sources with ``ast`` and applies the same rules:

- a field is every annotated dataclass field without ``init=False``, merged over the class's MRO
  as ``merge_class_params`` does (the base class's signature is applied last, so its defaults
  win), then the additional fields (a later one of the same name replaces the earlier);
- a class field is ``Optional[<its annotation>]`` (nullable), ``Image`` becomes a string
  (base64), an additional field has the type it declares;
- responses are ``TextToImageResponse``/``ImageToImageResponse`` and ``SDModelItem`` as
  declared; of the dynamic ``OptionsModel`` only the keys seedless reads are kept (the object
  stays open); errors are FastAPI's (``{"detail": str}``, a 422's list of validation errors)
  and A1111's middleware's (``{"error", "detail", "body", "errors"}``).

Not run in CI. To refresh::

    python tests/definitions/derive_sdapi.py --git-dir PATH/TO/stable-diffusion-webui-forge \\
        --commit <sha> > tests/definitions/sdapi.openapi.json
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from typing import Any

REPOSITORY = "lllyasviel/stable-diffusion-webui-forge"
CLASSES = {
    "/sdapi/v1/txt2img": ("StableDiffusionProcessingTxt2Img", "TextToImageResponse"),
    "/sdapi/v1/img2img": ("StableDiffusionProcessingImg2Img", "ImageToImageResponse"),
}
_SIMPLE = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
    "dict": "object", "Image": "string", "tuple": "array",
}  # fmt: skip


def _type(annotation: str) -> dict[str, Any]:
    """A JSON Schema type for a Python annotation written as text."""
    text = annotation.replace(" ", "")
    nullable = "None" in text.split("|") or text.startswith("Optional[")
    text = (
        text.removeprefix("Optional[").removesuffix("]") if text.startswith("Optional[") else text
    )
    parts = [p for p in text.split("|") if p != "None"]
    base = parts[0].split("[", 1)[0] if parts else "Any"
    kind = _SIMPLE.get(base)
    schema: dict[str, Any] = {} if kind is None else {"type": kind}
    if kind == "array" and "[str]" in parts[0]:
        schema["items"] = {"type": "string"}
    if nullable and kind is not None:
        schema["type"] = [kind, "null"]
    return schema


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return None
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "field":
        for keyword in node.keywords:
            if keyword.arg == "default":
                return _literal(keyword.value)
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _dataclass_fields(tree: ast.Module) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Class name -> (base class names, {field: (annotation, default)}) of the init fields."""
    found: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, Any] = {}
        for item in node.body:
            if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
                continue
            value = item.value
            if (
                isinstance(value, ast.Call)
                and getattr(value.func, "id", "") == "field"
                and any(k.arg == "init" and _literal(k.value) is False for k in value.keywords)
            ):
                continue
            fields[item.target.id] = (ast.unparse(item.annotation), _literal(value))
        found[node.name] = ([ast.unparse(b) for b in node.bases], fields)
    return found


def _not_allowed(models: ast.Module) -> list[str]:
    for node in models.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "API_NOT_ALLOWED":
            return list(ast.literal_eval(node.value))
    raise SystemExit("API_NOT_ALLOWED not found in modules/api/models.py")


def _additional(models: ast.Module, class_name: str) -> list[dict[str, Any]]:
    """The additional_fields list passed to PydanticModelGenerator for ``class_name``."""
    for node in ast.walk(models):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "PydanticModelGenerator"
            and len(node.args) == 3
            and _literal(node.args[0]) == class_name
        ):
            out = []
            for item in node.args[2].elts:  # type: ignore[attr-defined]
                entry = {
                    ast.literal_eval(k): v for k, v in zip(item.keys, item.values, strict=True)
                }
                out.append(
                    {"key": ast.literal_eval(entry["key"]), "type": ast.unparse(entry["type"]),
                     "default": _literal(entry["default"])}
                )  # fmt: skip
            return out
    raise SystemExit(f"PydanticModelGenerator({class_name!r}, ...) not found")


def request_schema(processing: ast.Module, models: ast.Module, class_name: str) -> dict[str, Any]:
    classes = _dataclass_fields(processing)
    chain, current = [], class_name
    while current in classes:  # the MRO of single inheritance, subclass first
        chain.append(current)
        bases = classes[current][0]
        current = bases[0] if bases else ""
    merged: dict[str, Any] = {}
    for name in chain:  # each class's __init__ signature: all its fields, its own defaults
        signature: dict[str, Any] = {}
        for ancestor in reversed(chain[chain.index(name) :]):
            signature.update(classes[ancestor][1])
        merged = {**merged, **signature}
    blocked = set(_not_allowed(models))
    properties = {}
    for name, (annotation, default) in merged.items():
        if name in blocked:
            continue
        schema = _type(annotation)
        if "type" in schema and isinstance(schema["type"], str):
            schema["type"] = [schema["type"], "null"]  # Optional[...]
        properties[name] = {**schema, "default": default}
    for extra in _additional(models, class_name):
        properties[extra["key"]] = {**_type(extra["type"]), "default": extra["default"]}
    return {"type": "object", "properties": properties}


def document(processing: str, models: str, api: str, commit: str) -> dict[str, Any]:
    ptree, mtree = ast.parse(processing), ast.parse(models)
    for path in [*CLASSES, "/sdapi/v1/sd-models", "/sdapi/v1/options"]:
        if f'"{path}"' not in api:
            raise SystemExit(f"{path} is not a route in modules/api/api.py")
    answer = {
        "type": "object",
        "required": ["parameters", "info"],
        "properties": {
            "images": {"type": ["array", "null"], "items": {"type": "string"}},
            "parameters": {"type": "object"},
            "info": {"type": "string"},
        },
    }
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"TextToImageResponse": answer, "ImageToImageResponse": answer}
    for path, (class_name, response) in CLASSES.items():
        schemas[class_name] = request_schema(ptree, mtree, class_name)
        paths[path] = {"post": {
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{class_name}"}}}},
            "responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{response}"}}}}},
        }}  # fmt: skip
    nullable = {"type": ["string", "null"]}
    schemas["SDModelItem"] = {
        "type": "object",
        "required": ["title", "model_name", "hash", "sha256", "filename"],
        "properties": {"title": {"type": "string"}, "model_name": {"type": "string"},
                       "hash": nullable, "sha256": nullable, "filename": {"type": "string"},
                       "config": nullable},
    }  # fmt: skip
    schemas["Options"] = {
        "type": "object",
        "additionalProperties": True,
        "properties": {"sd_model_checkpoint": nullable, "sd_checkpoint_hash": nullable},
        "x-trimmed": "OptionsModel is built from opts.data_labels at run time; the keys "
        "seedless reads",
    }
    schemas["HTTPException"] = {
        "type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}},
    }  # fmt: skip
    schemas["A1111Error"] = {
        "type": "object",
        "required": ["error", "detail", "body", "errors"],
        "properties": {"error": {"type": "string"}, "detail": {}, "body": {},
                       "errors": {"type": "string"}},
        "x-source": "AUTOMATIC1111/stable-diffusion-webui modules/api/api.py api_middleware "
        "(commented out in Forge, which answers FastAPI's HTTPException)",
    }  # fmt: skip
    schemas["HTTPValidationError"] = {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "array", "items": {
            "type": "object", "required": ["loc", "msg", "type"],
            "properties": {"loc": {"type": "array"}, "msg": {"type": "string"},
                           "type": {"type": "string"}, "input": {}, "ctx": {}}}}},
    }  # fmt: skip
    for path, name in (("/sdapi/v1/sd-models", "SDModelItem"), ("/sdapi/v1/options", "Options")):
        schema: dict[str, Any] = {"$ref": f"#/components/schemas/{name}"}
        if name == "SDModelItem":
            schema = {"type": "array", "items": schema}
        paths[path] = {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": schema}}}}}}  # fmt: skip
    return {
        "x-vendored": {
            "repository": REPOSITORY,
            "paths": ["modules/processing.py", "modules/api/models.py", "modules/api/api.py"],
            "commit": commit,
            "licence": "AGPL-3.0 (the source; this file holds field names and types only)",
            "derived_by": "tests/definitions/derive_sdapi.py",
            "notes": "AUTOMATIC1111/stable-diffusion-webui serves the same routes and request "
            "models; Forge adds distilled_cfg_scale, hr_distilled_cfg, hr_additional_modules "
            "and firstpass_image.",
        },
        "openapi": "3.1.0",
        "info": {
            "title": "AUTOMATIC1111 / Forge web API (--api), as derived",
            "version": commit[:8],
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _show(git_dir: str, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", git_dir, "show", f"{commit}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--git-dir", required=True, help="a clone of " + REPOSITORY)
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "-C", args.git_dir, "rev-parse", args.commit],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    doc = document(
        _show(args.git_dir, commit, "modules/processing.py"),
        _show(args.git_dir, commit, "modules/api/models.py"),
        _show(args.git_dir, commit, "modules/api/api.py"),
        commit,
    )
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
