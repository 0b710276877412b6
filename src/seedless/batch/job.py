"""A batch's job: :class:`Job` (one request, a stable id, an output name), its best-of-N
settings (:class:`BestOf`) and :class:`JobProblem` (a source entry that cannot become one).

A job's ``id`` is what the ledger keys on, so running the same batch again finds it: an id
given wins, else the output name, else the request's hash. Its hashes (request, inputs,
recipe, and the job's own, best-of settings included) are what the ledger records. The
loaders that read jobs from JSONL, CSV or a folder plus a recipe are in
:mod:`seedless.batch.jobs`, which re-exports these names.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigurationError, SeedlessError
from ..models import EditRequest, GenerateRequest, ImageInput, ImageRequest, canonical_json
from ..strategies.scorers import MatchEffect, scorer_name

__all__ = [
    "BestOf",
    "Job",
    "JobEntry",
    "JobKind",
    "JobProblem",
    "default_scorer",
    "safe_output_name",
]

JobKind = Literal["generate", "edit", "best_of"]

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
            label = "MatchEffect(anchors)" if self.scorer is None else scorer_name(self.scorer)
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
        best_of = self.best_of
        if best_of is not None and best_of.scorer is None and _anchors(self.request) is None:
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
    pair = _anchors(job.request)
    if pair is None:  # pragma: no cover - refused when the job is built
        raise ConfigurationError(f"job {job.id}: best_of needs a scorer")
    return MatchEffect(pair[0], pair[1])


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
