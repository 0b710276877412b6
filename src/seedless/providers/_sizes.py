"""From a request's size and aspect ratio to the pixels a free-size model is asked for.

Pure functions shared by the providers whose services take explicit ``width``/``height`` or
``WxH`` sizes (OpenAI-style hosts, BFL, the self-hosted Forge and ComfyUI): a size class
(``"1K"``) becomes about that many pixels at the requested ratio, within the model's
:class:`~seedless.capabilities.SizeRule` (edge multiples, edge and pixel limits, the widest
ratio); an explicit ``WxH`` is checked against the rule; a model with a fixed list of sizes
gets the closest entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..capabilities import SizeRule, check_size_rule
from ..errors import RequestError

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..models import ImageRequest

__all__ = [
    "SIZE_CLASSES",
    "closest_size",
    "dims_for",
    "parse_ratio",
    "parse_wxh",
    "pixel_size",
    "size_fields",
    "size_rule",
]

#: Size classes as square edge lengths: a class is the pixel area edge x edge, at any ratio.
SIZE_CLASSES: dict[str, int] = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}

_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_RATIO_RE = re.compile(r"^(\d+):(\d+)$")
#: Free-size models without a published rule still round edges to multiples of 16.
_DEFAULT_RULE = SizeRule()


def size_rule(spec: ModelSpec, default: SizeRule = _DEFAULT_RULE) -> SizeRule:
    """The matrix's pixel rule for a free-size model (``ModelSpec.size_rule``), else
    ``default``."""
    return spec.size_rule or default


def parse_ratio(ratio: str) -> float:
    """``"16:9"`` -> 1.777...; RequestError for anything that is not W:H."""
    match = _RATIO_RE.match(ratio)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise RequestError(f"aspect ratio {ratio!r} is not of the form W:H (e.g. '16:9')")
    return int(match.group(1)) / int(match.group(2))


def parse_wxh(size: str) -> tuple[int, int] | None:
    """``"1024x768"`` -> (1024, 768); None for anything else."""
    match = _SIZE_RE.match(size)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def dims_for(ratio: float, size_class: str, rule: SizeRule) -> tuple[int, int]:
    """Width and height of about ``edge**2`` pixels at ``ratio``, within the model's rule."""
    edge = SIZE_CLASSES[size_class]
    area = float(edge * edge)
    if rule.max_ratio is not None:
        ratio = min(max(ratio, 1 / rule.max_ratio), rule.max_ratio)
    if rule.max_pixels is not None:
        area = min(area, float(rule.max_pixels))
    if rule.min_pixels is not None:
        area = max(area, float(rule.min_pixels))
    width, height = math.sqrt(area * ratio), math.sqrt(area / ratio)
    if rule.max_edge is not None and max(width, height) > rule.max_edge:
        scale = rule.max_edge / max(width, height)
        width, height = width * scale, height * scale
    m = rule.multiple
    nearest = (_round_to(width, m), _round_to(height, m))
    down = (max(m, int(width // m) * m), max(m, int(height // m) * m))
    up = (math.ceil(width / m) * m, math.ceil(height / m) * m)
    for dims in (nearest, down, up):  # nearest, unless rounding crossed a limit
        if not rule.problems(*dims):
            return dims
    return nearest


def closest_size(sizes: tuple[str, ...], ratio: float, area: float | None) -> str | None:
    """The entry of a fixed size list whose ratio (then area) is closest."""
    candidates = [(s, dims) for s in sizes if (dims := parse_wxh(s)) is not None]
    if not candidates:
        return None

    def distance(item: tuple[str, tuple[int, int]]) -> tuple[float, float]:
        w, h = item[1]
        off = abs(math.log((w / h) / ratio))
        return (round(off, 6), abs(math.log(w * h / area)) if area else 0.0)

    return min(candidates, key=distance)[0]


def size_fields(
    request: ImageRequest,
    spec: ModelSpec,
    names: Mapping[str, str],
    options: dict[str, Any],
    *,
    default: bool = True,
) -> dict[str, Any]:
    """``size`` or ``width``/``height`` (under the host's ``names``) for the request's size
    and ratio; ``width``/``height`` options are taken out of ``options``. With nothing asked
    for, the model's default size is sent (unless ``default`` is false: the service decides,
    as an edit's input image does)."""
    takes_wh = "width" in names and "height" in names
    fields: dict[str, Any] = {}
    ratio_text = request.aspect_ratio
    if ratio_text is not None and "aspect_ratio" in names:
        fields[names["aspect_ratio"]] = ratio_text  # the host takes the ratio itself
        ratio_text = None if request.size is None else ratio_text
    pixels = (options.pop("width", None), options.pop("height", None))
    size = request.size
    if size is None and ratio_text is None and spec.default_size and default:
        size = spec.default_size
    if size == "auto" and pixels == (None, None):
        return fields if takes_wh else {**fields, names.get("size", "size"): "auto"}
    found = _requested_dims(spec, request.size, size, ratio_text, pixels)
    if found is None:
        return fields
    dims, explicit = found
    if dims[0] <= 0 or dims[1] <= 0:
        raise RequestError(f"{spec.key}: image sizes must be positive, not {dims}.")
    if explicit:
        check_size_rule(spec, dims[0], dims[1])
    elif spec.sizes:
        chosen = closest_size(spec.sizes, dims[0] / dims[1], float(dims[0] * dims[1]))
        listed = parse_wxh(chosen) if chosen is not None else None
        if listed is not None:
            dims = listed
    if takes_wh:
        fields[names["width"]], fields[names["height"]] = dims
    else:
        fields[names.get("size", "size")] = f"{dims[0]}x{dims[1]}"
    return fields


def pixel_size(
    request: ImageRequest, spec: ModelSpec, default: SizeRule = _DEFAULT_RULE
) -> tuple[int, int] | None:
    """The width and height ``request`` asks for with its ``size`` and ``aspect_ratio``, or
    None when it gives neither (the server, or the workflow, decides).

    ``size="WxH"`` is taken as is, checked against the row's size rule; a size class, or an
    aspect ratio alone (``"1K"`` then), becomes about that many pixels at the ratio within the
    rule (``default`` for a row without one).
    """
    asked = request.size
    found = _requested_dims(spec, asked, asked, request.aspect_ratio, (None, None), default)
    if found is None:
        return None
    dims, explicit = found
    if explicit:
        check_size_rule(spec, *dims)
    return dims


def _requested_dims(
    spec: ModelSpec,
    asked: str | None,
    size: str | None,
    ratio_text: str | None,
    pixels: tuple[Any, Any],
    default: SizeRule = _DEFAULT_RULE,
) -> tuple[tuple[int, int], bool] | None:
    """(width, height) and whether the caller gave them explicitly: from the ``width`` and
    ``height`` options, a ``WxH`` size, a size class at the ratio, or the ratio alone."""
    width, height = pixels
    if width is not None or height is not None:
        if width is None or height is None or asked is not None or ratio_text:
            raise RequestError(
                f"{spec.key}: give width and height together, and not with size or aspect_ratio."
            )
        return (int(width), int(height)), True
    if size is not None:
        wxh = parse_wxh(size)
        if wxh is not None:
            if (
                ratio_text is not None
                and abs(math.log((wxh[0] / wxh[1]) / parse_ratio(ratio_text))) > 0.02
            ):
                raise RequestError(
                    f"size {size!r} and aspect_ratio {ratio_text!r} disagree; give one."
                )
            return wxh, True
        if size in SIZE_CLASSES:
            ratio = parse_ratio(ratio_text) if ratio_text else 1.0
            return dims_for(ratio, size, size_rule(spec, default)), False
        raise RequestError(
            f"size {size!r} is neither 'WxH' nor a size class ({', '.join(SIZE_CLASSES)})."
        )
    if ratio_text is not None:
        return dims_for(parse_ratio(ratio_text), "1K", size_rule(spec, default)), False
    return None
