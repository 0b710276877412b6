"""Jobs of a batch, and the loaders that read them lazily from JSONL, CSV or a folder + recipe.

A :class:`Job` is one request (generate, edit: AI or local) with a stable ``id`` and an output
name. Its id is what the ledger keys on, so running the same batch again finds it: an id
given in the job file wins, else the output name, else the request's hash (so the same job
file, even reordered, maps to the same jobs).

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
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigurationError, InvalidImageError, SeedlessError
from ..models import EditRequest, GenerateRequest, ImageInput, ImageRequest, canonical_json

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

JobKind = Literal["generate", "edit", "best_of"]

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
_UNSAFE_NAME = re.compile(r"[\x00-\x1f<>:\"|?*\\]")


class BestOf(BaseModel):
    """Best-of-N: draw ``n`` candidates, keep the one ``scorer`` ranks first.

    ``scorer`` is any scorer of :mod:`seedless.strategies.scorers` (or your function); None
    means :class:`~seedless.strategies.MatchEffect` on the job's approved pair (an anchored
    edit's images 2 and 3). ``threshold`` stops drawing once a candidate scores that much.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    n: int = Field(ge=1, le=64)
    threshold: float | None = None
    scorer: Any = Field(default=None, exclude=True, repr=False)
    scorer_label: str = Field(default="", description="How the scorer is named in hashes.")

    @model_validator(mode="after")
    def _label(self) -> BestOf:
        if not self.scorer_label:
            label = "MatchEffect(anchors)" if self.scorer is None else _scorer_name(self.scorer)
            object.__setattr__(self, "scorer_label", label)
        return self

    def describe(self) -> dict[str, Any]:
        return {"n": self.n, "threshold": self.threshold, "scorer": self.scorer_label}


class Job(BaseModel):
    """One unit of a batch: a request, a stable id and where its output goes.

    ``output`` is a path relative to the batch's output folder, without extension (the
    extension follows the image's type); it defaults to the id. A job asking for ``n`` images
    writes ``<output>-0.png`` ... ``<output>-<n-1>.png``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    request: GenerateRequest | EditRequest
    output: str | None = None
    best_of: BestOf | None = None
    source: str | None = Field(
        default=None, description="Where the job was read from (file:line), for messages."
    )
    inputs: tuple[str, ...] = Field(
        default=(), description="The files the job reads, so that no output is written over one."
    )
    allow_retired: bool | None = Field(
        default=None, description="Reach a model past its shutdown date (None: the client's)."
    )

    @field_validator("output")
    @classmethod
    def _relative_output(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return safe_output_name(value)

    @model_validator(mode="after")
    def _default_id(self) -> Job:
        if self.best_of is not None:
            if not best_of_available():
                raise ValueError(
                    "best-of-N jobs arrive with seedless's best-of-N strategy "
                    "(seedless.strategies.best_of), which this installation does not have"
                )
            if self.best_of.scorer is None and _anchors(self.request) is None:
                raise ValueError(
                    "best_of needs a scorer (scorer=MatchAdjust(...), a function, ...) unless "
                    "the job is an anchored edit, whose approved pair the default scorer uses"
                )
        if not self.id:
            object.__setattr__(self, "id", self.output or self.hash[:16])
        return self

    # ------------------------------------------------------------------ construction

    @classmethod
    def generate(
        cls,
        prompt: str,
        *,
        model: str,
        id: str = "",
        output: str | None = None,
        **fields: Any,
    ) -> Job:
        """A text-to-image job; ``fields`` are those of :class:`~seedless.GenerateRequest`."""
        request = GenerateRequest(prompt=prompt, model=model, **fields)
        return cls(id=id, request=request, output=output)

    @classmethod
    def edit(
        cls,
        images: Any,
        prompt: str | None = None,
        *,
        model: str = "local:pillow",
        id: str = "",
        output: str | None = None,
        **fields: Any,
    ) -> Job:
        """An edit job: ``images[0]`` is the source, further images are references."""
        sequence = images if isinstance(images, (list, tuple)) else [images]
        request = EditRequest(
            images=tuple(ImageInput.of(image) for image in sequence),
            prompt=prompt,
            model=model,
            **fields,
        )
        inputs = tuple(os.fspath(i) for i in sequence if isinstance(i, (str, os.PathLike)))
        return cls(id=id, request=request, output=output, inputs=inputs)

    # ------------------------------------------------------------------ identity

    @property
    def kind(self) -> JobKind:
        return "best_of" if self.best_of is not None else self.request.operation

    @property
    def model(self) -> str | None:
        """The model the job's request names."""
        return self.request.model

    @property
    def output_name(self) -> str:
        """The output path stem, relative to the output folder."""
        return self.output or safe_output_name(self.id)

    @cached_property
    def request_hash(self) -> str:
        return self.request.request_hash()

    @cached_property
    def hash(self) -> str:
        """What the job asks for: the request hash, plus best-of settings if any."""
        if self.best_of is None:
            return self.request_hash
        best = canonical_json({"request": self.request_hash, "best_of": self.best_of.describe()})
        return hashlib.sha256(best.encode()).hexdigest()

    @cached_property
    def input_hash(self) -> str | None:
        """sha256 over the input images' hashes (edits), None for text-to-image."""
        if not isinstance(self.request, EditRequest):
            return None
        joined = ",".join(image.sha256 for image in self.request.images)
        return hashlib.sha256(joined.encode()).hexdigest()

    @cached_property
    def recipe_hash(self) -> str:
        """sha256 of what is done to the inputs: the request without its images."""
        data = self.request.canonical()
        data.pop("images", None)
        if self.best_of is not None:
            data["best_of"] = self.best_of.describe()
        return hashlib.sha256(canonical_json(data).encode()).hexdigest()

    def __repr__(self) -> str:
        return f"Job({self.id!r}, {self.kind}, model={self.request.model!r})"


@dataclass(frozen=True)
class JobProblem:
    """An entry of a job source that cannot become a job: an image that cannot be read (a
    missing or unreadable file, a folder or FIFO named like an image, a damaged file ...).

    Sources yield it in the job's place so that one bad entry does not stop the others: the
    batch records it as failed with ``error`` (which names the file), at no cost, and a run
    after the file is fixed makes it a job like any other.
    """

    id: str
    error: SeedlessError
    source: str | None = None
    kind: JobKind = "edit"
    model: str | None = None

    @cached_property
    def hash(self) -> str:
        text = f"problem:{self.id}:{type(self.error).__name__}:{self.error}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def request_hash(self) -> str:
        return self.hash


#: What a job source yields.
JobEntry: TypeAlias = Job | JobProblem


def _scorer_name(scorer: object) -> str:
    from ..strategies.scorers import scorer_name

    return scorer_name(scorer)


def _anchors(request: ImageRequest) -> tuple[ImageInput, ImageInput] | None:
    """(original, approved) of an anchored edit: images 2 and 3, or 1 and 2 for a pair."""
    if not isinstance(request, EditRequest) or len(request.images) < 2:
        return None
    if len(request.images) == 2:
        return request.images[0], request.images[1]
    return request.images[1], request.images[2]


def default_scorer(job: Job) -> Any:
    """The scorer a best-of job ranks with: its own, else MatchEffect on its approved pair."""
    assert job.best_of is not None
    if job.best_of.scorer is not None:
        return job.best_of.scorer
    from ..strategies.scorers import MatchEffect

    pair = _anchors(job.request)
    if pair is None:  # pragma: no cover - refused when the job is built
        raise ConfigurationError(f"job {job.id}: best_of needs a scorer")
    return MatchEffect(pair[0], pair[1])


def best_of_available() -> bool:
    """Whether :mod:`seedless.strategies.best_of` exists in this installation."""
    try:
        return importlib.util.find_spec("seedless.strategies.best_of") is not None
    except ImportError:  # seedless.strategies itself is missing
        return False


def safe_output_name(name: str) -> str:
    """``name`` as a relative POSIX path inside the output folder; refuses escapes.

    Plain string work, no pathlib: pathlib interns every name it parses, and a batch of
    thousands of unique names would keep growing (and rehashing) the interpreter's table.
    """
    text = name.replace("\\", "/").strip()
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or text.startswith("/") or ".." in parts or _UNSAFE_NAME.search(text):
        raise ValueError(
            f"output name {name!r} must be a relative path inside the output folder, "
            "without '..' or special characters"
        )
    return "/".join(parts)


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
    if value is None or isinstance(value, dict) or hasattr(value, "apply"):
        return value
    if isinstance(value, str):
        from ..effects import load_effect

        path = Path(value).expanduser()
        return load_effect(path if path.is_absolute() else base / path)
    raise ConfigurationError(f"effect must be an object or an effect file path, not {value!r}")


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
        from ..strategies.scorers import MatchAdjust, MatchEffect

        kind = spec.get("kind", "match_effect")
        weight = float(spec.get("structure_weight", 5.0))
        label = canonical_json(spec)
        if kind in ("match_adjust", "MatchAdjust"):
            from ..effects import Adjust

            return MatchAdjust(
                Adjust.model_validate(spec.get("adjust", {})), structure_weight=weight
            ), label
        if kind in ("match_effect", "MatchEffect"):
            pair = _paths(spec.get("original"), base) + _paths(spec.get("approved"), base)
            effect = _effect(spec.get("effect"), base)
            if isinstance(effect, dict):
                from ..effects import effect_from_dict

                effect = effect_from_dict(effect)
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
    from ..strategies.anchoring import anchored_request

    original = _read_images(_paths(data.get("original"), base))
    approved = _read_images(_paths(data.get("approved"), base))
    if len(original) != 1 or len(approved) != 1 or len(images) != 1:
        raise ConfigurationError(
            "an anchored edit takes one image, one original and one approved image"
        )
    effect = _effect(data.get("effect"), base)
    if isinstance(effect, dict):
        from ..effects import effect_from_dict

        effect = effect_from_dict(effect)
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
        op = data.get("op") or data.get("kind") or ("edit" if images else "generate")
        best_of = _best_of(data, folder)
        if op == "best_of":
            if best_of is None:
                raise ConfigurationError("op 'best_of' needs best_of: the number of candidates")
            op = "edit" if images else "generate"
        if op not in ("generate", "edit"):
            raise ConfigurationError(f"unknown op {op!r}; expected generate, edit or best_of")
        fields = {k: data[k] for k in _REQUEST_FIELDS if data.get(k) is not None}
        inputs = _read_images(images) if op == "edit" else []
        request: ImageRequest
        if op == "edit":
            if not images:
                raise ConfigurationError("an edit job needs 'image' (or 'images')")
            if data.get("original") is not None or data.get("approved") is not None:
                if "model" not in fields:
                    raise ConfigurationError("an anchored edit needs a model")
                request = _anchored(inputs, data, fields, folder)
            else:
                fields.setdefault("model", "local:pillow")
                effect = _effect(data.get("effect"), folder)
                request = EditRequest(images=tuple(inputs), effect=effect, **fields)
        else:
            if images:
                raise ConfigurationError("a generate job takes no images; use op 'edit'")
            request = GenerateRequest(**fields)
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
    from ..strategies.recipe import Recipe

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
            from ..strategies.scorers import MatchEffect

            effect = _effect(fields.get("effect"), base)
            if isinstance(effect, dict):
                from ..effects import effect_from_dict

                effect = effect_from_dict(effect)
            fields["scorer"] = MatchEffect(fields["original"], fields["approved"], effect=effect)
        fields["best_of"] = settings
    # absolute: job_from_dict reads paths relative to the folder, these are relative to the
    # recipe (or the current folder) and may be relative themselves
    references = [path.resolve() for path in _paths(fields.pop("references", None), base)]
    anchors = {Path(str(fields[k])).resolve() for k in ("original", "approved") if fields.get(k)}
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

    absolute = directory.absolute()

    def jobs() -> Iterator[JobEntry]:
        for name in names:
            data = dict(fields, id=name, output=Path(name).stem)
            data["images"] = [str(absolute / name), *map(str, references)]
            yield _entry(data, directory, str(directory / name))

    return JobSource(jobs, f"{directory} ({len(names)} images)")


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
