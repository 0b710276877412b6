"""The request and result types (pydantic v2): what callers send, what comes back, with provenance.

Requests are frozen and have a canonical JSON form (sorted keys, images replaced by their
sha256) whose hash identifies the request: the same request always hashes the same, so a
result can be cached, recorded in a ledger and replayed from its recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeAlias, Union

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .effects import Effect, EffectField
from .errors import InvalidImageError
from .images import (
    atomic_write,
    decode,
    encode,
    extension_for,
    inspect,
    mime_for_suffix,
    read_source,
    thumbnail_png,
)

__all__ = [
    "EditRequest",
    "GenerateRequest",
    "Generation",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "canonical_hash",
    "canonical_json",
]

Operation = Literal["generate", "edit"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form request hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(data: Any) -> str:
    """The sha256 of :func:`canonical_json` of ``data``: how requests are identified."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _short_bytes(data: bytes) -> str:
    return f"<{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}>"


class ImageInput(BaseModel):
    """An image sent to a model: its bytes, MIME type and an optional name (file name)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    data: bytes = Field(repr=False)
    mime_type: str
    name: str | None = None

    @classmethod
    def of(cls, source: ImageLike) -> ImageInput:
        """Build from a path, bytes, a binary file open for reading (or BytesIO), a PIL image,
        an ImageResult or an ImageInput: the one input coercion of every entry point.

        Bytes are checked before anything is sent (:func:`seedless.images.inspect`): empty,
        truncated or non-image data, images over the pixel cap and animations are refused with
        :class:`~seedless.InvalidImageError` naming the file; a URL is refused, not downloaded.
        """
        if isinstance(source, ImageInput):
            return source
        if isinstance(source, ImageResult):
            return cls(data=source.data, mime_type=source.mime_type)
        if isinstance(source, Image.Image):
            data, mime = encode(source, "image/png")
            return cls(data=data, mime_type=mime)
        data, name = read_source(source)
        return cls(data=data, mime_type=inspect(data, name=name).mime, name=name)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def canonical(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "mime_type": self.mime_type}

    def __repr__(self) -> str:
        return f"ImageInput({self.mime_type}, {_short_bytes(self.data)}, name={self.name!r})"


#: Anything seedless accepts as an image: a path, bytes, a binary file open for reading (or
#: BytesIO), a PIL image, an input or a result.
ImageLike: TypeAlias = Union[
    str, "os.PathLike[str]", bytes, BinaryIO, "Image.Image", "ImageInput", "ImageResult"
]


class _RequestBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(default=None, description='"provider:model" or an alias')
    n: int = Field(default=1, ge=1, le=64)
    seed: int | None = None
    aspect_ratio: str | None = None
    size: str | None = Field(default=None, description='"1K"/"2K"/"4K"/"512" or "WxH"')
    negative_prompt: str | None = None
    add_watermark: bool | None = None
    output_mime_type: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider extension fields (steps, guidance, person_generation, ...).",
    )

    @property
    def operation(self) -> Operation:
        raise NotImplementedError

    def canonical(self) -> dict[str, Any]:
        """The request as plain JSON data, images as hashes, unset fields left out."""
        data = self.model_dump(mode="json", exclude_none=True, exclude={"images"})
        if not data.get("options"):
            data.pop("options", None)
        data["operation"] = self.operation
        return data

    def request_hash(self) -> str:
        return canonical_hash(self.canonical())


class GenerateRequest(_RequestBase):
    """Text to image."""

    prompt: str = Field(min_length=1)

    @property
    def operation(self) -> Operation:
        return "generate"


class EditRequest(_RequestBase):
    """Images plus an instruction (AI backends) or an exact effect (the local provider).

    ``images[0]`` is the source; any further images are references (for example an approved
    before/after pair), sent in the order given.
    """

    images: tuple[ImageInput, ...] = Field(min_length=1)
    prompt: str | None = None
    effect: EffectField | None = None

    if TYPE_CHECKING:  # what callers may pass: images as paths, bytes, PIL images, results

        def __init__(
            self,
            *,
            images: Sequence[ImageLike],
            prompt: str | None = None,
            effect: Effect | Mapping[str, Any] | None = None,
            model: str | None = None,
            n: int = 1,
            seed: int | None = None,
            aspect_ratio: str | None = None,
            size: str | None = None,
            negative_prompt: str | None = None,
            add_watermark: bool | None = None,
            output_mime_type: str | None = None,
            options: Mapping[str, Any] = ...,
        ) -> None: ...

    @field_validator("images", mode="before")
    @classmethod
    def _coerce_images(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(
                ImageInput.of(v) if not isinstance(v, (dict, ImageInput)) else v for v in value
            )
        return value

    @property
    def operation(self) -> Operation:
        return "edit"

    @property
    def source(self) -> ImageInput:
        return self.images[0]

    @property
    def references(self) -> tuple[ImageInput, ...]:
        return self.images[1:]

    def canonical(self) -> dict[str, Any]:
        data = super().canonical()
        data["images"] = [image.canonical() for image in self.images]
        return data


ImageRequest = GenerateRequest | EditRequest

SeedMode = Literal["deterministic", "seeded", "best_effort"]


class ImageResult(BaseModel):
    """One image and how it was made (provider, model, request, seed, cost, latency, hashes,
    and for self-hosted servers the ``host`` fingerprint)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    data: bytes = Field(repr=False)
    mime_type: str
    provider: str
    model: str
    seed: int | None = None
    seed_mode: SeedMode | None = None
    request: dict[str, Any] = Field(default_factory=dict, repr=False)
    request_hash: str
    cost_usd: float | None = None
    latency_s: float = 0.0
    sha256: str
    text: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    sent: dict[str, Any] = Field(
        default_factory=dict, description="Settings seedless chose and sent (add_watermark ...)"
    )
    host: dict[str, Any] = Field(
        default_factory=dict,
        description="The fingerprint of the server that made the image, for self-hosted models "
        "(checkpoint hash, server version, device): a seed replays exactly only on the same one",
    )
    index: int = 0
    cached: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def model_key(self) -> str:
        return f"{self.provider}:{self.model}"

    def to_pil(self) -> Image.Image:
        """Decode to a PIL image (lazily loaded, EXIF orientation not applied)."""
        return decode(self.data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image atomically, in the format its name says.

        A directory (or a path ending in a slash, created if needed) gets a name from the hash
        and MIME type, and the bytes as they came. A name whose extension is another image
        format's (``x.png`` for JPEG bytes) gets the image converted to that format, EXIF and
        ICC profile kept; transparency is never dropped silently (saving it as JPEG is
        refused), and a name without an image extension is refused, naming the right one.
        """
        target = Path(path)
        if os.fspath(path).endswith(("/", os.sep)):
            target.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            target = target / f"{self.sha256[:16]}{extension_for(self.mime_type)}"
            return atomic_write(target, self.data)
        wanted = mime_for_suffix(target)
        if wanted is None:
            raise ValueError(
                f"cannot tell an image format from the name {target.name!r}: this image is "
                f"{self.mime_type}, save it as {target.name}{extension_for(self.mime_type)} "
                "(or .png, .jpg, .webp to convert)"
            )
        if wanted == self.mime_type:
            return atomic_write(target, self.data)
        image = decode(self.data)
        if wanted == "image/jpeg" and image.has_transparency_data:
            raise InvalidImageError(
                f"this {self.mime_type} image has transparency, which JPEG cannot hold: save it "
                f"as {target.with_suffix('.png').name} to keep it"
            )
        data, _ = encode(image, wanted, like=image)
        return atomic_write(target, data)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if name == "recipe":
                raise AttributeError(
                    "ImageResult.recipe() moved: use seedless.Recipe.from_result(result) (the "
                    "recipe lives a layer above the result; see CHANGELOG.md)"
                )
            return super().__getattr__(name)

    def _repr_png_(self) -> bytes:
        return thumbnail_png([self.to_pil()])

    def __repr__(self) -> str:
        cost = "n/a" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (
            f"ImageResult({self.model_key}, {self.mime_type}, {_short_bytes(self.data)}, "
            f"seed={self.seed}, cost={cost}, latency={self.latency_s:.3f}s"
            f"{', cached' if self.cached else ''})"
        )

    __str__ = __repr__


class Generation(BaseModel):
    """All images one request produced; ``.image`` is the first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    images: tuple[ImageResult, ...]
    request: dict[str, Any] = Field(default_factory=dict, repr=False)
    request_hash: str = ""

    @property
    def image(self) -> ImageResult:
        return self.images[0]

    @property
    def cost_usd(self) -> float | None:
        costs = [image.cost_usd for image in self.images]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def __iter__(self) -> Iterator[ImageResult]:  # type: ignore[override]
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> ImageResult:
        return self.images[index]

    def save(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Save every image into ``directory`` (created if needed)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return [image.save(folder) for image in self.images]

    def _repr_png_(self) -> bytes:
        return thumbnail_png([image.to_pil() for image in self.images])


def as_inputs(images: Sequence[ImageLike] | ImageLike) -> tuple[ImageInput, ...]:
    """Normalise one image or a sequence of images into ImageInputs."""
    if isinstance(images, (list, tuple)):
        return tuple(ImageInput.of(image) for image in images)
    return (ImageInput.of(images),)  # type: ignore[arg-type]  # str is a Sequence too
