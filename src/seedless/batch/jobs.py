"""Reading a batch's jobs lazily from JSONL, CSV or a folder + recipe (the job file format).

A :class:`Job` (:mod:`seedless.batch.job`, re-exported here) is one request (generate, edit:
AI or local) with a stable ``id`` and an output name. Its id is what the ledger keys on, so
running the same batch again finds it: an id given in the job file wins, else the output
name, else the request's hash (so the same job file, even reordered, maps to the same jobs).

Job files hold one job per line (JSONL) or row (CSV) with these fields, all optional but a
model and what the operation needs::

    id, output, op (generate | edit | best_of), model, prompt, image, images, references,
    effect, n, seed, aspect_ratio, size, negative_prompt, add_watermark, output_mime_type,
    options, original, approved, measured, best_of, scorer, threshold, allow_retired

``image``/``images``/``references``/``original``/``approved`` are paths relative to the job
file; ``effect`` is an Adjust object (JSON) or the path of an effect file; in CSV,
``images`` and ``references`` separate paths with ``;`` and ``options``/``effect``/
``best_of``/``scorer`` may hold JSON. ``original`` and ``approved`` make the job an anchored
edit (:func:`seedless.strategies.anchored_request`: the approved pair travels with the photo,
``prompt`` is the instruction, ``effect`` or ``measured`` the edit in numbers). ``best_of``
(a number of candidates, or ``{"n", "threshold", "scorer"}``) makes it best-of-N: the winner
is written, ranked by ``scorer`` (``{"kind": "match_adjust", "adjust": {...}}``,
``{"kind": "match_effect", "original": path, "approved": path}``, ``"module:function"``),
which defaults to :class:`~seedless.strategies.MatchEffect` on the job's approved pair.
``allow_retired: true`` lets the job reach a model past its shutdown date (a project or relay
that still serves it), as the client's ``allow_retired`` does for every job.

A folder plus a recipe gives one edit job per image in the folder; the recipe is a saved
:class:`~seedless.strategies.Recipe` (local, seeded, or anchored given the approved pair),
an effect file, or a JSON object of the job fields above (minus the image).

Loaders return a :class:`JobSource`: re-iterable (each pass re-reads the file, so a
pre-flight estimate and the run each stream the jobs) and lazy (one job, with its image
bytes, in memory at a time).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..effects import Adjust, effect_from_dict, load_effect
from ..errors import ConfigurationError, InvalidImageError
from ..models import EditRequest, GenerateRequest, ImageInput, canonical_json
from ..strategies.anchoring import anchored_request
from ..strategies.recipe import Recipe
from ..strategies.scorers import MatchAdjust, MatchEffect
from .job import BestOf, Job, JobEntry, JobKind, JobProblem

__all__ = [
    "IMAGE_SUFFIXES",
    "BestOf",
    "Job",
    "JobEntry",
    "JobKind",
    "JobProblem",
    "JobSource",
    "folder_jobs",
    "job_from_dict",
    "load_jobs",
    "read_csv",
    "read_jsonl",
]

#: Files a folder job source picks up.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})

_REQUEST_FIELDS = (
    "model",
    "prompt",
    "n",
    "seed",
    "aspect_ratio",
    "size",
    "negative_prompt",
    "add_watermark",
    "output_mime_type",
    "options",
)
_JOB_FIELDS = frozenset(
    {
        "id", "output", "op", "kind", "image", "images", "references", "effect", "original",
        "approved", "measured", "best_of", "scorer", "threshold", "allow_retired",
    }
    | set(_REQUEST_FIELDS)
)  # fmt: skip
#: Keys a saved recipe may carry that say nothing about the request.
_RECIPE_METADATA = frozenset(
    {"schema", "version", "name", "description", "notes", "created_at", "seedless", "source"}
)

# ---------------------------------------------------------------------- building jobs


def _paths(value: Any, base: Path) -> list[Path]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"expected an image path, got {item!r}")
        path = Path(item).expanduser()
        result.append(path if path.is_absolute() else base / path)
    return result


def _read_images(paths: list[Path]) -> list[ImageInput]:
    """The job's images, read and checked now (one at a time, lazily, as the source is read);
    any problem is an InvalidImageError naming the file, which makes the job a JobProblem."""
    inputs = []
    for path in paths:
        try:
            inputs.append(ImageInput.of(path))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise InvalidImageError(f"cannot read image {str(path)!r}: {reason}") from exc
    return inputs


def _effect(value: Any, base: Path) -> Any:
    """An effect as a job file gives it: None, its JSON object, an effect, or a file's path
    (loaded now, relative to ``base``)."""
    if value is None or isinstance(value, dict) or hasattr(value, "apply"):
        return value
    if isinstance(value, str):
        path = Path(value).expanduser()
        return load_effect(path if path.is_absolute() else base / path)
    raise ConfigurationError(f"effect must be an object or an effect file path, not {value!r}")


def _effect_object(value: Any, base: Path) -> Any:
    """Like :func:`_effect`, with a JSON object made the effect it describes."""
    effect = _effect(value, base)
    return effect_from_dict(effect) if isinstance(effect, dict) else effect


def _scorer(spec: Any, base: Path) -> tuple[Any, str]:
    """(scorer object or None for the default, label) from a job file's scorer spec."""
    if spec is None or spec in ("default", "match_effect", "MatchEffect"):
        return None, ""
    if callable(spec):
        return spec, ""
    if isinstance(spec, str) and ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr), spec
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot import scorer {spec!r}: {exc}") from exc
    if isinstance(spec, dict):
        kind = spec.get("kind", "match_effect")
        weight = float(spec.get("structure_weight", 5.0))
        label = canonical_json(spec)
        if kind in ("match_adjust", "MatchAdjust"):
            return MatchAdjust(
                Adjust.model_validate(spec.get("adjust", {})), structure_weight=weight
            ), label
        if kind in ("match_effect", "MatchEffect"):
            pair = _paths(spec.get("original"), base) + _paths(spec.get("approved"), base)
            effect = _effect_object(spec.get("effect"), base)
            if not pair and effect is None:
                return None, ""
            if len(pair) != 2:
                raise ConfigurationError("a match_effect scorer takes both original and approved")
            return MatchEffect(pair[0], pair[1], effect=effect, structure_weight=weight), label
    raise ConfigurationError(
        f"unknown scorer {spec!r}: use {{'kind': 'match_adjust', 'adjust': {{...}}}}, "
        "{'kind': 'match_effect', 'original': path, 'approved': path} or 'module:function'"
    )


def _best_of(data: Mapping[str, Any], base: Path) -> BestOf | None:
    value = data.get("best_of")
    if value is None or value is False:
        return None
    settings: dict[str, Any] = dict(value) if isinstance(value, dict) else {"n": int(value)}
    spec = settings.pop("scorer", data.get("scorer"))
    settings.setdefault("threshold", data.get("threshold"))
    scorer, label = _scorer(spec, base)
    return BestOf(scorer=scorer, scorer_label=label, **settings)


def _anchored(
    images: list[ImageInput], data: Mapping[str, Any], fields: dict[str, Any], base: Path
) -> EditRequest:
    original = _read_images(_paths(data.get("original"), base))
    approved = _read_images(_paths(data.get("approved"), base))
    if len(original) != 1 or len(approved) != 1 or len(images) != 1:
        raise ConfigurationError(
            "an anchored edit takes one image, one original and one approved image"
        )
    effect = _effect_object(data.get("effect"), base)
    seed = fields.pop("seed", None)
    fields.pop("negative_prompt", None)
    fields.pop("add_watermark", None)
    request = anchored_request(
        images[0],
        original=original[0],
        approved=approved[0],
        instruction=fields.pop("prompt", None),
        effect=effect,
        measured=None if effect is not None else data.get("measured"),
        **fields,
    )
    return request if seed is None else request.model_copy(update={"seed": seed})


def _entry(data: Mapping[str, Any], base: str | os.PathLike[str], where: str) -> JobEntry:
    """A job, or the JobProblem standing for it when one of its images cannot be read."""
    try:
        return job_from_dict(data, base=base, where=where)
    except InvalidImageError as exc:
        job_id = data.get("id") or data.get("output") or where
        model = data.get("model")
        return JobProblem(
            str(job_id), exc, source=where, model=model if isinstance(model, str) else None
        )


def job_from_dict(
    data: Mapping[str, Any], *, base: str | os.PathLike[str] = ".", where: str | None = None
) -> Job:
    """Build a job from one record of a job file (paths relative to ``base``). An image that
    cannot be read raises InvalidImageError naming it; other problems ConfigurationError."""
    label = f"{where}: " if where else ""
    unknown = sorted(set(data) - _JOB_FIELDS)
    if unknown:
        raise ConfigurationError(
            f"{label}unknown field(s) {', '.join(unknown)}; a job takes "
            f"{', '.join(sorted(_JOB_FIELDS))}"
        )
    folder = Path(base)
    try:
        images = _paths(data.get("images"), folder) or _paths(data.get("image"), folder)
        images += _paths(data.get("references"), folder)
        best_of = _best_of(data, folder)
        op = _operation(data, images, best_of)
        request = _request(op, images, data, folder)
        job_id = data.get("id")
        output = data.get("output")
        anchors = _paths(data.get("original"), folder) + _paths(data.get("approved"), folder)
        return Job(
            id="" if job_id is None else str(job_id),
            request=request,
            output=None if output in (None, "") else str(output),
            best_of=best_of,
            source=where,
            inputs=tuple(str(path) for path in images + anchors) if op == "edit" else (),
            allow_retired=data.get("allow_retired"),
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{label}{exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "job"
        raise ConfigurationError(f"{label}field {field}: {first['msg']}") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"{label}{exc}") from exc


def _operation(data: Mapping[str, Any], images: list[Path], best_of: BestOf | None) -> str:
    """The record's operation, generate or edit (``op: best_of`` is either, with images or
    without)."""
    op = data.get("op") or data.get("kind") or ("edit" if images else "generate")
    if op == "best_of":
        if best_of is None:
            raise ConfigurationError("op 'best_of' needs best_of: the number of candidates")
        op = "edit" if images else "generate"
    if op not in ("generate", "edit"):
        raise ConfigurationError(f"unknown op {op!r}; expected generate, edit or best_of")
    return str(op)


def _request(
    op: str, images: list[Path], data: Mapping[str, Any], folder: Path
) -> GenerateRequest | EditRequest:
    """The record's request: text to image, a plain edit (local by default) or an anchored
    edit (``original`` and ``approved`` given)."""
    fields = {k: data[k] for k in _REQUEST_FIELDS if data.get(k) is not None}
    if op != "edit":
        if images:
            raise ConfigurationError("a generate job takes no images; use op 'edit'")
        return GenerateRequest(**fields)
    inputs = _read_images(images)
    if not images:
        raise ConfigurationError("an edit job needs 'image' (or 'images')")
    if data.get("original") is not None or data.get("approved") is not None:
        if "model" not in fields:
            raise ConfigurationError("an anchored edit needs a model")
        return _anchored(inputs, data, fields, folder)
    fields.setdefault("model", "local:pillow")
    effect = _effect(data.get("effect"), folder)
    return EditRequest(images=tuple(inputs), effect=effect, **fields)


class JobSource:
    """A re-iterable, lazy sequence of jobs: every ``iter()`` reads the source again."""

    def __init__(self, factory: Callable[[], Iterator[JobEntry]], description: str) -> None:
        self._factory = factory
        self.description = description

    def __iter__(self) -> Iterator[JobEntry]:
        return self._factory()

    def __repr__(self) -> str:
        return f"<JobSource {self.description}>"


def read_jsonl(path: str | os.PathLike[str]) -> JobSource:
    """Jobs from a JSONL file, one JSON object a line (blank lines skipped), read lazily."""
    file = Path(path)

    def jobs() -> Iterator[JobEntry]:
        try:
            handle = file.open(encoding="utf-8-sig")  # a BOM (Windows editors) is skipped
        except OSError as exc:
            raise ConfigurationError(f"cannot read job file {file}: {exc}") from exc
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{file}:{number}"
                try:
                    data = json.loads(line)
                except ValueError as exc:
                    raise ConfigurationError(f"{where}: invalid JSON: {exc}") from exc
                if not isinstance(data, dict):
                    raise ConfigurationError(f"{where}: each line holds one JSON object")
                yield _entry(data, file.parent, where)

    return JobSource(jobs, str(file))


_CSV_INT = ("n", "seed")
_CSV_JSON = ("options", "effect", "best_of", "scorer")


def _csv_value(name: str, text: str) -> Any:
    text = text.strip()
    if name in _CSV_INT or (name == "best_of" and text.isdigit()):
        return int(text)
    if name == "threshold":
        return float(text)
    if name in ("add_watermark", "allow_retired"):
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name} must be true or false, not {text!r}")
        return lowered in ("true", "1", "yes")
    if name in ("images", "references"):
        return [part.strip() for part in text.split(";") if part.strip()]
    if name in _CSV_JSON and text[:1] in ("{", "["):
        return json.loads(text)
    return text


def read_csv(path: str | os.PathLike[str]) -> JobSource:
    """Jobs from a CSV file with a header row naming job fields; empty cells are absent."""
    file = Path(path)

    def jobs() -> Iterator[JobEntry]:
        try:
            handle = file.open(encoding="utf-8-sig", newline="")  # Excel writes a BOM
        except OSError as exc:
            raise ConfigurationError(f"cannot read job file {file}: {exc}") from exc
        with handle:
            reader = csv.DictReader(handle)
            for row in reader:
                where = f"{file}:{reader.line_num}"
                data: dict[str, Any] = {}
                try:
                    for name, cell in row.items():
                        if name is None:
                            raise ValueError("more cells than header columns")
                        if cell is not None and cell.strip() != "":
                            data[name.strip()] = _csv_value(name.strip(), cell)
                except ValueError as exc:
                    raise ConfigurationError(f"{where}: {exc}") from exc
                if data:
                    yield _entry(data, file.parent, where)

    return JobSource(jobs, str(file))


def _from_strategy_recipe(data: Mapping[str, Any], original: Any, approved: Any) -> dict[str, Any]:
    """Job fields replaying a saved :class:`seedless.strategies.Recipe` on each image."""
    try:
        recipe = Recipe.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "recipe"
        raise ConfigurationError(f"recipe: {where}: {first['msg']}") from exc
    if recipe.operation == "generate":
        raise ConfigurationError("this recipe generates; a folder batch edits each image in it")
    fields: dict[str, Any] = {"op": "edit", "model": recipe.model, **recipe.parameters}
    if recipe.strategy != "anchored":
        fields.update(prompt=recipe.instruction, seed=recipe.seed, effect=recipe.effect)
        return {k: v for k, v in fields.items() if v is not None}
    if original is None or approved is None:
        raise ConfigurationError(
            "an anchored recipe replays with its approved pair: give the original and the "
            "approved image (--original, --approved)"
        )
    for role, image in (("original", original), ("approved", approved)):
        expected = recipe.anchors.get(role)
        if expected is not None and ImageInput.of(image).sha256 != expected:
            raise ConfigurationError(
                f"the {role} image {image} is not the one this recipe was made with "
                f"(sha256 {expected[:12]}...); pass the original file, unmodified"
            )
    settings = recipe.best_of
    fields.update(
        prompt=recipe.instruction,
        measured=recipe.measured,
        effect=recipe.effect,
        original=str(original),
        approved=str(approved),
        best_of={
            "n": settings.n if settings is not None else 4,
            "threshold": settings.threshold if settings is not None else None,
        },
    )
    return {k: v for k, v in fields.items() if v is not None}


def _recipe_dict(recipe: Any, original: Any, approved: Any) -> tuple[dict[str, Any], Path]:
    """A recipe as job fields: a Recipe, a mapping, or a JSON/effect file, or an effect."""
    base = Path(".")
    if isinstance(recipe, (str, os.PathLike)):
        file = Path(recipe)
        base = file.parent
        if file.suffix.lower() == ".cube":
            return {"model": "local:pillow", "effect": str(file.name)}, base
        try:
            recipe = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read recipe {file}: {exc}") from exc
    if hasattr(recipe, "apply"):  # an effect object
        return {"model": "local:pillow", "effect": recipe}, base
    if hasattr(recipe, "model_dump"):
        recipe = recipe.model_dump(mode="json", exclude_none=True)
    if not isinstance(recipe, Mapping):
        raise ConfigurationError("a recipe is a Recipe, a JSON object of job fields, or an effect")
    if "strategy" in recipe:  # a saved seedless.strategies.Recipe
        return _from_strategy_recipe(recipe, original, approved), base
    data = {k: v for k, v in recipe.items() if k not in _RECIPE_METADATA}
    if data.get("kind") in ("adjust", "lut", "cube"):  # a saved effect file
        return {"model": "local:pillow", "effect": data}, base
    for forbidden in ("image", "images", "id", "output"):
        if forbidden in data:
            raise ConfigurationError(f"a recipe applies to every image; it takes no {forbidden!r}")
    if original is not None:
        data["original"] = str(original)
    if approved is not None:
        data["approved"] = str(approved)
    data.setdefault("op", "edit")
    return data, base


def folder_jobs(
    folder: str | os.PathLike[str],
    recipe: Any,
    *,
    original: str | os.PathLike[str] | None = None,
    approved: str | os.PathLike[str] | None = None,
) -> JobSource:
    """One edit job per image in ``folder`` (not recursive, sorted by name) with ``recipe``.

    The job id is the file name and the output name its stem, so ``cat.jpg`` becomes
    ``<out>/cat.jpg`` (or ``cat.png`` if the model answers PNG). ``original`` and
    ``approved`` are the approved pair an anchored recipe needs; they are never edited.
    """
    directory = Path(folder)
    if not directory.is_dir():
        raise ConfigurationError(f"no such folder: {directory}")
    fields, base = _folder_fields(recipe, original, approved)
    # absolute: job_from_dict reads paths relative to the folder, these are relative to the
    # recipe (or the current folder) and may be relative themselves
    references = [path.resolve() for path in _paths(fields.pop("references", None), base)]
    anchors = {Path(str(fields[k])).resolve() for k in ("original", "approved") if fields.get(k)}
    names = _image_names(directory, anchors)
    absolute = directory.absolute()

    def jobs() -> Iterator[JobEntry]:
        for name in names:
            data = dict(fields, id=name, output=Path(name).stem)
            data["images"] = [str(absolute / name), *map(str, references)]
            yield _entry(data, directory, str(directory / name))

    return JobSource(jobs, f"{directory} ({len(names)} images)")


def _folder_fields(recipe: Any, original: Any, approved: Any) -> tuple[dict[str, Any], Path]:
    """The job fields every image of a folder shares, loaded once: the effect, the anchors
    (absolute paths) and a best-of scorer fitted once on the pair."""
    fields, base = _recipe_dict(recipe, original, approved)
    if isinstance(fields.get("effect"), str):
        fields["effect"] = _effect(fields["effect"], base)
    for key in ("original", "approved"):  # anchors: absolute paths, loaded once
        if fields.get(key) is not None:
            fields[key] = str(_paths(fields[key], base)[0].resolve())
    if fields.get("best_of") is not None and fields.get("original") and fields.get("approved"):
        # one scorer, fitted once on the pair, shared by every job (scorers are thread-safe)
        settings = (
            dict(fields["best_of"])
            if isinstance(fields["best_of"], dict)
            else {"n": fields["best_of"]}
        )
        if settings.get("scorer", fields.get("scorer")) is None:
            effect = _effect_object(fields.get("effect"), base)
            fields["scorer"] = MatchEffect(fields["original"], fields["approved"], effect=effect)
        fields["best_of"] = settings
    return fields, base


def _image_names(directory: Path, anchors: set[Path]) -> list[str]:
    """The images of ``directory`` a folder batch edits, sorted (not the anchors); two that
    would be written under one name are refused."""
    names = sorted(
        p.name
        for p in directory.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.resolve() not in anchors
    )
    stems: dict[str, str] = {}
    for name in names:
        stem = Path(name).stem
        if stem in stems:
            raise ConfigurationError(
                f"{directory}: {stems[stem]} and {name} would both be written as {stem}.*; "
                "rename one, or batch them separately"
            )
        stems[stem] = name
    return names


def load_jobs(
    source: str | os.PathLike[str],
    *,
    recipe: Any = None,
    original: str | os.PathLike[str] | None = None,
    approved: str | os.PathLike[str] | None = None,
) -> JobSource:
    """Jobs from a ``.jsonl``/``.ndjson`` or ``.csv`` file, or a folder plus a ``recipe``."""
    path = Path(source)
    if path.is_dir():
        if recipe is None:
            raise ConfigurationError(
                f"{path} is a folder: give a recipe (model, prompt, effect ...) to apply to "
                "each image, or a JSONL/CSV job file instead"
            )
        return folder_jobs(path, recipe, original=original, approved=approved)
    if recipe is not None:
        raise ConfigurationError("a recipe goes with a folder of images, not with a job file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".csv":
        return read_csv(path)
    if not path.exists():
        raise ConfigurationError(f"no such job file or folder: {path}")
    raise ConfigurationError(f"{path}: job files are .jsonl or .csv")


def iter_jobs(jobs: Iterable[JobEntry] | str | os.PathLike[str]) -> Iterable[JobEntry]:
    """``jobs`` itself, or the jobs of the file or folder it names."""
    if isinstance(jobs, (str, os.PathLike)):
        return load_jobs(jobs)
    return jobs
