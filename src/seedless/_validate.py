"""The rules: refuse, before any I/O, what a model cannot do or is no longer there to do.

:func:`check_available` refuses, before anything else (no endpoint is even looked up), a
model no one can call, such as one without a public API; :func:`validate` checks a request
against its matrix row (operation, seed level and range, the seed-breaking options and the
watermark, aspect ratio, size, negative prompt, reference images, what an edit needs, output
format, and every option's name, operation, type and values); :func:`check_lifecycle`
refuses a retired model or warns once about a deprecated one. All run in the client before a
provider plans the wire call, and every refusal names what to do instead: the models that
can, the values that exist, the option you meant.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from ._matrix import Matrix
from ._specs import ModelSpec, Operation, SeedPolicy
from .errors import (
    Code,
    InvalidImageError,
    ModelRetiredError,
    Remedy,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)

__all__ = ["check_available", "check_lifecycle", "check_size_rule", "validate"]

_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")
_MORE_OPTIONS = (
    " If the host takes another field, declare it for the model ([model.options.<name>] in "
    "models.toml) or name it with Endpoint(field_names={'<option>': '<host field>'})."
)


class _Refusals:
    """Raises UnsupportedCapabilityError for one request, naming models that can instead."""

    def __init__(self, spec: ModelSpec, matrix: Matrix, operation: Operation, today: date | None):
        self.spec, self.matrix, self.operation, self.today = spec, matrix, operation, today

    def __call__(
        self,
        capability: str,
        why: str,
        alt_capability: str | None = None,
        where: Callable[[ModelSpec], bool] | None = None,
        alternatives: list[str] | None = None,
        hint: str = "",
        remedy: Remedy | None = None,
    ) -> None:
        if alternatives is None:
            alternatives = self.matrix.alternatives(
                self.spec,
                capability=alt_capability or self.operation,
                operation=self.operation,
                today=self.today,
                where=where,
            )
        alt = f" Models that can: {', '.join(alternatives)}." if alternatives else ""
        raise UnsupportedCapabilityError(
            f"{self.spec.key} {why}.{hint}{alt}",
            model=self.spec.key,
            capability=capability,
            alternatives=alternatives,
            remedy=remedy,
        )


def validate(
    request: Any,
    spec: ModelSpec,
    matrix: Matrix,
    *,
    seed_policy: SeedPolicy = "strict",
    today: date | None = None,
) -> None:
    """Refuse, before any I/O, a request ``spec`` cannot serve (UnsupportedCapabilityError)."""
    operation: Operation = request.operation
    refuse = _Refusals(spec, matrix, operation, today)
    if operation not in spec.operations:
        refuse(operation, f"cannot {operation} (it supports {', '.join(sorted(spec.operations))})")
    _check_seed(request, spec, refuse, seed_policy)
    _check_watermark(request, spec, refuse)
    _check_shape(request, spec, refuse)
    if operation == "edit":
        _check_edit(request, spec, refuse)
    _check_options(request, spec, matrix, refuse)


def _check_seed(request: Any, spec: ModelSpec, refuse: _Refusals, policy: SeedPolicy) -> None:
    if request.seed is None:
        return
    if spec.seed == "none":
        refuse("seed", "takes no seed: every call is a fresh random draw", "seed")
    if spec.seed == "best_effort" and policy != "best_effort":
        refuse(
            "seed",
            "takes a seed only as a best-effort hint (the same seed does not give the same "
            "image), so seedless refuses it by default; use a seeded model",
            "seed",
            remedy=Remedy("To send the seed anyway, pass {}.", seed_policy="best_effort"),
        )
    if spec.seed_range is not None:
        low, high = spec.seed_range
        if not low <= request.seed <= high:
            refuse("seed", f"takes seeds from {low} to {high}, not {request.seed}", "seed")
    for option in spec.seed_requires_off:
        if request.options.get(option):
            refuse(
                option,
                f"cannot replay a seed while {option} is on (the service rewrites the request "
                f"first, so the same seed no longer gives the same image). Drop {option}=True, "
                "or drop the seed",
                alternatives=[],
            )


def _check_watermark(request: Any, spec: ModelSpec, refuse: _Refusals) -> None:
    wanted = request.add_watermark
    if spec.watermark == "seed_requires_off" and request.seed is not None and wanted:
        refuse(
            "watermark",
            "cannot use a seed while the watermark is on (the service ignores or rejects the "
            "seed). Drop add_watermark=True, or drop the seed",
            alternatives=[],
        )
    if wanted is False and spec.watermark == "always":
        refuse(
            "watermark",
            "always watermarks its images (SynthID); it cannot be turned off",
            where=lambda row: row.watermark != "always",
        )
    if wanted is True and spec.watermark == "never":
        refuse("watermark", "has no watermark setting", where=lambda row: row.watermark != "never")


def _check_shape(request: Any, spec: ModelSpec, refuse: _Refusals) -> None:
    """Aspect ratio, size, negative prompt and output format."""
    ratios = spec.aspect_ratios
    if (
        request.aspect_ratio is not None
        and ratios is not None
        and request.aspect_ratio not in ratios
    ):
        refuse(
            "aspect_ratio",
            f"does not offer aspect ratio {request.aspect_ratio!r}; it offers {', '.join(ratios)}",
            alternatives=list(ratios),
        )
    if request.size is not None and spec.sizes is not None and request.size not in spec.sizes:
        refuse(
            "size",
            f"does not offer size {request.size!r}; it offers {', '.join(spec.sizes)}",
            alternatives=list(spec.sizes),
        )
    explicit = _SIZE_RE.match(request.size or "")
    if explicit:
        check_size_rule(spec, int(explicit.group(1)), int(explicit.group(2)))
    if request.negative_prompt and not spec.negative_prompt:
        refuse("negative_prompt", "does not accept a negative prompt", "negative_prompt")
    mime = request.output_mime_type
    if mime is not None and spec.wire != "local":
        offered = spec.output_mime_types
        if offered is None:
            refuse(
                "output_mime_type",
                f"cannot be asked for {mime}: the service picks the output format. Drop "
                "output_mime_type (convert the result yourself if you need another format)",
                where=lambda row: row.output_mime_types is not None,
            )
        elif mime.lower() not in offered:
            refuse(
                "output_mime_type",
                f"cannot answer {mime}; it offers {', '.join(offered)}",
                alternatives=list(offered),
            )


def _check_inputs(request: Any, spec: ModelSpec) -> None:
    """Refuse an input image in a format the model's wire does not take (GIF, BMP or TIFF to
    Gemini ...), naming the file, before it is uploaded."""
    accepted = spec.accepted_inputs()
    if accepted is None:
        return
    for image in request.images:
        if image.mime_type not in accepted:
            names = ", ".join(mime.split("/")[1].upper() for mime in accepted)
            label = f"image {image.name!r}" if image.name else "an input image"
            raise InvalidImageError(
                f"{spec.key} does not take {image.mime_type} inputs, and {label} is one; it "
                f"takes {names}. Convert it first (Pillow: image.save('x.png'))"
            )


def _check_edit(request: Any, spec: ModelSpec, refuse: _Refusals) -> None:
    _check_inputs(request, spec)
    count = len(request.images)
    limit = max(spec.max_reference_images, 1 if "edit" in spec.operations else 0)
    if count > limit:
        refuse(
            "reference_images",
            f"takes at most {limit} input image(s) per edit; the request has {count}",
            "reference_images",
            where=lambda row: row.max_reference_images >= count,
        )
    effect = getattr(request, "effect", None)
    if spec.edits_with == "effect" and effect is None:
        refuse(
            "effect",
            "edits with an exact effect, and the request has none. To send an instruction to "
            "an AI model instead, choose one",
            where=lambda row: row.edits_with == "instruction",
            remedy=Remedy("Pass {} (or a fitted effect).", effect=Code("seedless.Adjust(...)")),
        )
    describable = callable(getattr(effect, "describe", None))
    if spec.edits_with == "instruction" and not request.prompt and not describable:
        refuse(
            "prompt",
            "edits from an instruction, and the request has none",
            alternatives=[],
            remedy=Remedy(
                "Pass {} (e.g. 'make it slightly darker'), or an effect it can describe in words.",
                prompt=Code("'...'"),
            ),
        )


def _check_options(request: Any, spec: ModelSpec, matrix: Matrix, refuse: _Refusals) -> None:
    """Every option's name (with "did you mean"), operation, type and values."""
    operation: Operation = request.operation
    every = spec.accepted_options()
    accepted = spec.accepted_options(operation)
    for name, value in request.options.items():
        option = accepted.get(name)
        if option is None:
            if name in every:
                only = ", ".join(sorted(every[name].operations or ()))
                refuse(
                    name,
                    f"takes option {name!r} for {only} requests only, not for {operation}",
                    alternatives=[],
                )
            close = spec.closest_options(name, operation)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            if name == "response_format" and spec.response_formats == ():
                hint = " It takes no response_format: it always answers base64."
            known = ", ".join(map(repr, sorted(accepted))) or "none"
            refuse(
                name,
                f"does not take option {name!r} (options it takes: {known})",
                hint=hint + _MORE_OPTIONS,
                alternatives=[
                    row.key
                    for row in matrix
                    if row.id == spec.id
                    and row.provider != spec.provider
                    and name in row.accepted_options(operation)
                ],
            )
        assert option is not None
        problem = None if value is None else option.problem(value)
        if problem is not None:
            refuse(name, f"option {name!r} {problem}", alternatives=[])


def check_available(spec: ModelSpec, matrix: Matrix, *, today: date | None = None) -> None:
    """Refuse a model whose matrix row says no one can call it (``unavailable``), naming the
    reason and the seeded models that can do what it does instead. Needs no endpoint."""
    if spec.unavailable is None:
        return
    operation: Operation = "generate" if "generate" in spec.operations else "edit"
    alternatives = matrix.alternatives(spec, capability="seed", operation=operation, today=today)
    alt = (
        f" Seeded models that can {operation} instead: {', '.join(alternatives)}."
        if alternatives
        else ""
    )
    source = next(iter(spec.sources.get("unavailable", ())), None)
    raise UnsupportedCapabilityError(
        f"{spec.key} cannot be called: {spec.unavailable}.{alt}"
        + (f" Source: {source}." if source else ""),
        model=spec.key,
        capability="api",
        alternatives=alternatives,
    )


_warned: set[str] = set()
_warned_lock = threading.Lock()


def check_size_rule(spec: ModelSpec, width: int, height: int) -> None:
    """Refuse ``width`` x ``height`` when the model's published size rule excludes it (no I/O);
    a model without a rule accepts any size here."""
    if spec.size_rule is None:
        return
    problems = spec.size_rule.problems(width, height)
    if problems:
        raise UnsupportedCapabilityError(
            f"{spec.key} cannot make {width}x{height}: {'; '.join(problems)}.",
            model=spec.key,
            capability="size",
        )


def check_lifecycle(
    spec: ModelSpec,
    matrix: Matrix,
    *,
    today: date,
    allow_retired: bool = False,
) -> None:
    """Raise ModelRetiredError past the shutdown date; warn once per model if deprecated."""
    status = spec.status(today)
    life = spec.lifecycle
    chain = matrix.successors(spec, today)
    source = f" Source: {life.sources[0]}." if life.sources else ""
    instead = f" Use {chain[-1]} instead." if chain else ""
    if status == "retired":
        if allow_retired:
            return
        raise ModelRetiredError(
            f"{spec.key} was shut down on {life.shutdown}.{instead}{source}",
            model=spec.key,
            shutdown=str(life.shutdown),
            successor=chain[-1] if chain else None,
            sources=life.sources,
            remedy=Remedy("If your project or relay still serves it, pass {}.", allow_retired=True),
        )
    if status == "deprecated":
        with _warned_lock:
            if spec.key in _warned:
                return
            _warned.add(spec.key)
        earliest = " at the earliest" if life.shutdown_is_earliest else ""
        when = (
            f" and shuts down on {life.shutdown}{earliest}"
            if life.shutdown
            else ", with no shutdown date announced yet"
        )
        since = f" since {life.deprecated}" if life.deprecated else ""
        warnings.warn(
            f"{spec.key} is deprecated{since}{when}.{instead}{source}",
            SeedlessDeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside the seedless package."""
    package = str(Path(__file__).parent)
    frame = sys._getframe(2)  # the caller of check_lifecycle
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _reset_warnings_for_tests() -> None:
    with _warned_lock:
        _warned.clear()
