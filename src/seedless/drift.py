"""Check the capability matrix against what an endpoint really serves (``seedless models check``).

Lists the endpoint's models (Gemini API ``GET /v1beta/models``, paged; OpenAI-style
``GET /v1/models``; any provider with a ``served_models()`` method, as the self-hosted ones
have: Forge's checkpoints from ``GET /sdapi/v1/sd-models``, ComfyUI's from
``GET /models/checkpoints``) and compares them with the matrix rows of that endpoint: served
image models the matrix lacks, matrix models the endpoint no longer lists, and rows whose
dates have passed (a shutdown date passed while the endpoint still lists the model, or a
deprecation date passed). A self-hosted server's generic row serves any checkpoint it has,
so its listing is shown as it is: nothing there is "unknown", and only rows of your own that
name a checkpoint can be "missing".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import httpx

from .capabilities import Matrix, ModelSpec
from .config import DEFAULTS, Endpoint, missing_base_url
from .errors import ConfigurationError, ProviderError, error_for_status, redact
from .providers import create_provider
from .providers.openai import api_root, api_url

__all__ = ["Drift", "check", "list_models"]

GEMINI_DEFAULT_BASE = "https://generativelanguage.googleapis.com"
_IMAGE_HINTS = ("image", "imagen", "flux", "dall-e", "banana")
#: The rows of self-hosted protocols that stand for whatever the server has (never missing).
_GENERIC_ROWS = {"forge": "checkpoint", "comfyui": "workflow"}


@dataclass
class Drift:
    """What differs between the matrix and one endpoint's listing."""

    endpoint: str
    served: list[str]
    unknown: list[str] = field(default_factory=list)  # served, not in the matrix
    missing: list[str] = field(default_factory=list)  # in the matrix (not retired), not served
    dated: list[str] = field(default_factory=list)  # rows whose dates have passed
    open_ended: bool = False  # a self-hosted server: what it serves is listed as it is

    @property
    def clean(self) -> bool:
        return not (self.unknown or self.missing or self.dated)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [f"{self.endpoint}: {len(self.served)} image model(s) served"]
        if self.open_ended:
            lines[0] = f"{self.endpoint}: {len(self.served)} checkpoint(s) on the server"
            lines += [f"    {name}" for name in self.served]
        for title, items in (
            ("served but not in the matrix (add a row: see docs/models.md)", self.unknown),
            ("in the matrix but not served", self.missing),
            ("dates passed", self.dated),
        ):
            if items:
                lines.append(f"  {title}:")
                lines += [f"    - {item}" for item in items]
        if self.clean:
            lines.append("  no drift")
        return "\n".join(lines)


def _is_image_model(model_id: str) -> bool:
    return any(hint in model_id.lower() for hint in _IMAGE_HINTS)


async def list_models(endpoint: Endpoint, *, timeout: float = 30.0) -> list[str]:
    """The model ids an endpoint lists (all of them; callers filter)."""
    headers = dict(endpoint.headers)
    async with httpx.AsyncClient(timeout=endpoint.timeout or timeout) as http:
        if endpoint.protocol == "gemini":
            key = endpoint.require_key("GEMINI_API_KEY", "GOOGLE_API_KEY")
            base = (endpoint.base_url or GEMINI_DEFAULT_BASE).rstrip("/")
            url = f"{base}/v1beta/models"
            ids: list[str] = []
            token: str | None = None
            for _ in range(100):  # pages
                params = {"pageSize": "100", **({"pageToken": token} if token else {})}
                data = await _get_json(http, url, {**headers, "x-goog-api-key": key}, params)
                ids += [
                    str(m.get("name", "")).removeprefix("models/") for m in data.get("models", [])
                ]
                token = data.get("nextPageToken")
                if not token:
                    break
            return ids
        if endpoint.protocol == "openai":
            unreachable = missing_base_url(endpoint)
            if unreachable:
                raise ConfigurationError(unreachable)
            default = DEFAULTS.get(endpoint.name)
            key = endpoint.require_key(*(default.key_env if default else ("OPENAI_API_KEY",)))
            root = api_root(endpoint.base_url)
            data = await _get_json(
                http, api_url(root, "/models"), {**headers, "authorization": f"Bearer {key}"}, {}
            )
            items = data if isinstance(data, list) else data.get("data", [])  # Together: a list
            return [str(m.get("id")) for m in items if isinstance(m, dict)]
    provider = create_provider(endpoint)  # imports the provider's module only now
    listing = getattr(provider, "served_models", None)
    if listing is not None:
        try:
            return [str(name) for name in await listing()]
        finally:
            await provider.aclose()
    raise ConfigurationError(
        f"endpoint {endpoint.name!r} speaks {endpoint.protocol!r}, which has no model listing "
        "seedless can read (Vertex lists no per-project publisher models); only dates are checked"
    )


async def _get_json(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str]
) -> Any:
    try:
        response = await http.get(url, headers=headers, params=params)
    except httpx.HTTPError as exc:
        raise ProviderError(f"cannot list models at {url}: {exc}", retryable=True) from exc
    if response.status_code >= 400:
        raise error_for_status(response.status_code, response.text[:300], provider=redact(url))
    return response.json()


def check(matrix: Matrix, endpoint: Endpoint, served: list[str] | None, *, today: date) -> Drift:
    """Compare the matrix rows of ``endpoint`` with what it serves (None: dates only).

    The rows are those the endpoint serves (its own, then its profile's); the host's own names
    (the rows' ``wire_id``, ``Endpoint.model_ids``) are read back as the matrix ids they stand
    for.
    """
    rows: dict[str, ModelSpec] = {}
    for provider in endpoint.row_providers():
        for row in matrix:
            if row.provider == provider:
                rows.setdefault(row.id, row)
    if served is not None:
        matrix_ids = {row.wire_id: model_id for model_id, row in rows.items() if row.wire_id}
        matrix_ids.update({wire: model_id for model_id, wire in endpoint.model_ids.items()})
        served = [matrix_ids.get(model_id, model_id) for model_id in served]
    known = set(rows) | {alias for row in rows.values() for alias in row.aliases}
    generic = _GENERIC_ROWS.get(endpoint.protocol)
    if generic is not None:  # a self-hosted server: every checkpoint it has is served
        drift = Drift(endpoint=endpoint.name, served=sorted(served or []), open_ended=True)
        known.add(generic)
        served = None if served is None else [*served, generic]
    else:
        image_served = sorted(m for m in (served or []) if _is_image_model(m) or m in known)
        drift = Drift(endpoint=endpoint.name, served=image_served)
    if served is not None:
        drift.unknown = [m for m in drift.served if m not in known and generic is None]
        drift.missing = sorted(
            model_id
            for model_id, row in rows.items()
            if row.status(today) != "retired" and model_id not in served
        )
    for model_id, row in sorted(rows.items()):
        life = row.lifecycle
        if life.shutdown and life.shutdown <= today and (served is None or model_id in served):
            still = " but is still listed" if served is not None else ""
            drift.dated.append(f"{model_id}: shutdown {life.shutdown} has passed{still}")
        elif life.deprecated and life.deprecated <= today and row.status(today) != "retired":
            drift.dated.append(f"{model_id}: deprecated since {life.deprecated}")
    return drift
