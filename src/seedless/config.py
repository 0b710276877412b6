"""Where keys, base URLs and per-endpoint settings come from: :class:`Endpoint` profiles.

An endpoint is something a user names before the colon of a model string (``gemini``,
``vertex``, ``openai``, ``bfl``, ``stability``, ``together``, or their own ``myrelay``) and
speaks one wire ``protocol``. The built-in endpoints (:data:`DEFAULTS`) read each ecosystem's
own environment variables (``BFL_API_KEY`` and ``STABILITY_API_KEY`` for Black Forest Labs and
Stability AI, whose base URLs ``SEEDLESS_BFL_URL`` and ``SEEDLESS_STABILITY_URL`` can move);
explicit values always win over the environment. One program may use two relays of the same
protocol at once by giving them different names. The self-hosted servers (``forge``:
AUTOMATIC1111/Forge, ``comfyui``) read their address from ``SEEDLESS_FORGE_URL`` and
``SEEDLESS_COMFYUI_URL``, and optional HTTP basic auth (``user:password``) from
``SEEDLESS_FORGE_AUTH`` and ``SEEDLESS_COMFYUI_AUTH`` or the URL itself.

Which matrix rows an endpoint serves: its own (rows whose provider is its name), then those of
its ``profile``. The OpenAI-style Flux hosts are built-in endpoints with rows of their own
(``together``, ``deepinfra``, and ``relay`` for a generic OpenAI-style relay), each spelling
the wire as its host publishes it; an endpoint of your own names the host it resembles with
``Endpoint(profile="relay")``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator

from ._registry import known_protocols
from .errors import (
    Code,
    ConfigurationError,
    Remedy,
    install_log_redaction,
    is_secret_header,
    redact,
    register_secret,
    register_url_secrets,
)

__all__ = [
    "DEFAULTS",
    "OPENAI_HOST",
    "PROTOCOLS",
    "SELF_HOSTED",
    "Endpoint",
    "default_endpoints",
    "merge_endpoints",
    "missing_base_url",
]

#: The wire protocols seedless speaks, each implemented by one module in ``seedless.providers``.
PROTOCOLS = ("gemini", "vertex", "openai", "local", "forge", "comfyui", "bfl", "stability")
#: Protocols of servers people run themselves (their endpoints default to a local address).
SELF_HOSTED = ("forge", "comfyui")
#: The host of OpenAI's own API: an ``openai`` endpoint that goes there serves OpenAI's models
#: only (OpenAI serves no Flux).
OPENAI_HOST = "api.openai.com"


class Endpoint(BaseModel):
    """One configured backend: a name users type, the protocol it speaks, and how to reach it."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    name: str = Field(description='What users type before ":" in a model string.')
    protocol: str = Field(
        description="gemini | vertex | openai | local | forge | comfyui | bfl | stability"
    )
    api_key: SecretStr | None = None
    base_url: str | None = None
    project: str | None = None
    location: str | None = None
    credentials: Any = Field(default=None, repr=False)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    extra_fields: dict[str, Any] = Field(default_factory=dict)
    field_names: dict[str, str] = Field(default_factory=dict)
    model_ids: dict[str, str] = Field(
        default_factory=dict,
        description="The host's own names for matrix models, e.g. "
        "{'flux-dev': 'black-forest-labs/FLUX.1-dev'} on a Together-style host.",
    )
    profile: tuple[str, ...] | None = Field(
        default=None,
        description="whose built-in matrix rows this endpoint serves besides its own: "
        "provider names such as 'relay' or 'together'. None: the protocol's rows; for "
        "protocol openai, 'openai' and 'relay', or only 'openai' when it goes to OpenAI "
        "itself (no base_url, or api.openai.com)",
    )
    prices: dict[str, float] = Field(default_factory=dict)
    batch_prices: dict[str, float] = Field(
        default_factory=dict,
        description="USD per image through the provider's batch engine, by model id "
        "(default: the matrix's batch price, half the list price).",
    )
    batch_engine: bool | None = Field(
        default=None,
        description="Whether this endpoint serves its protocol's batch engine (Gemini Batch "
        "Mode, the OpenAI Batch API). None: the Gemini API and OpenAI's own host do; an "
        "OpenAI-style relay does only if it says so.",
    )
    allow_retired: bool | None = None
    timeout: float | None = None

    if TYPE_CHECKING:  # what callers may pass: the key as a plain string

        def __init__(
            self,
            *,
            name: str,
            protocol: str,
            api_key: SecretStr | str | None = None,
            base_url: str | None = None,
            project: str | None = None,
            location: str | None = None,
            credentials: Any = None,
            headers: Mapping[str, str] = ...,
            extra_fields: Mapping[str, Any] = ...,
            field_names: Mapping[str, str] = ...,
            model_ids: Mapping[str, str] = ...,
            profile: str | Sequence[str] | None = None,
            prices: Mapping[str, float] = ...,
            batch_prices: Mapping[str, float] = ...,
            batch_engine: bool | None = None,
            allow_retired: bool | None = None,
            timeout: float | None = None,
        ) -> None: ...

    @field_validator("profile", mode="before")
    @classmethod
    def _profile_names(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value in PROTOCOLS:
            return value
        known = known_protocols()  # built-ins plus third-party entry points
        if value not in known:
            raise ValueError(f"unknown protocol {value!r}; seedless speaks {', '.join(known)}")
        return value

    def model_post_init(self, __context: Any) -> None:
        install_log_redaction()
        if self.api_key is not None:
            register_secret(self.api_key.get_secret_value())
        for key, value in self.headers.items():
            if is_secret_header(key):
                register_secret(value.split(" ", 1)[-1])
        register_url_secrets(self.base_url)

    @field_serializer("headers")
    def _dump_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Credential headers dump as ``[secure]``, as the key does (``model_dump()``, JSON)."""
        return {k: "[secure]" if is_secret_header(k) else v for k, v in headers.items()}

    @field_serializer("base_url")
    def _dump_base_url(self, base_url: str | None) -> str | None:
        return redact(base_url) if base_url else base_url

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact(value) if name == "base_url" and value else value

    def wire_model(self, model_id: str, wire_id: str | None = None) -> str:
        """The name this endpoint's host uses for the matrix model ``model_id``: the endpoint's
        own ``model_ids``, else the matrix row's ``wire_id``, else the id itself."""
        return self.model_ids.get(model_id) or wire_id or model_id

    @property
    def goes_to_openai(self) -> bool:
        """Whether this is an ``openai`` endpoint that reaches OpenAI itself (no base URL, or
        OpenAI's), which serves OpenAI's models and no Flux."""
        if self.protocol != "openai":
            return False
        if not self.base_url:
            return self.name not in DEFAULTS or not DEFAULTS[self.name].needs_base_url
        return _host(self.base_url) == OPENAI_HOST

    def row_providers(self) -> tuple[str, ...]:
        """Whose matrix rows this endpoint serves, in lookup order: its own name's, then its
        ``profile``'s (by default the protocol's; see :attr:`profile`)."""
        if self.profile is not None:
            profile = self.profile
        elif self.protocol == "openai":
            profile = ("openai",) if self.goes_to_openai else ("openai", "relay")
        else:
            profile = (self.protocol,)
        return tuple(dict.fromkeys((self.name, *profile)))

    def key(self) -> str | None:
        """The API key as a plain string, for the provider that sends it (never for display)."""
        return self.api_key.get_secret_value() if self.api_key is not None else None

    def require_key(self, *env_names: str) -> str:
        """The API key, or a ConfigurationError that says both ways to provide one."""
        key = self.key()
        if not key:
            names = " or ".join(env_names) if env_names else "an environment variable"
            endpoint = f"Endpoint(name={self.name!r}, protocol={self.protocol!r}, api_key=...)"
            raise ConfigurationError(
                f"No API key for endpoint {self.name!r} ({self.protocol}). Set {names}.",
                remedy=Remedy(
                    "Or pass {} to the Client. For keyless work use {}, or seedless.testing's "
                    "emulator in tests.",
                    endpoints=Code(f"[{endpoint}]"),
                    model="local:pillow",
                ),
            )
        return key


def _env(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _host(url: str) -> str:
    """The lower-cased host of ``url`` ("" if it has none)."""
    return (urlsplit(url.strip()).hostname or "").lower()


@dataclass(frozen=True)
class _Default:
    """A built-in endpoint: its protocol, the environment variables it reads, its defaults."""

    protocol: str
    key_env: tuple[str, ...] = ()
    base_url_env: tuple[str, ...] = ()
    project_env: tuple[str, ...] = ()
    location_env: tuple[str, ...] = ()
    location: str | None = None
    base_url: str | None = None
    profile: tuple[str, ...] | None = None
    needs_base_url: bool = False  # no usable default: refused (before I/O) until one is set


#: The built-in endpoints and each ecosystem's own variables, in the order that ecosystem
#: reads them (google-genai reads GOOGLE_API_KEY first). ``together``, ``deepinfra`` and
#: ``relay`` are OpenAI-style Flux hosts with matrix rows of their own (their hosts' field
#: names, formats, sizes and model ids).
DEFAULTS: dict[str, _Default] = {
    "local": _Default("local"),
    "gemini": _Default(
        "gemini",
        key_env=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        base_url_env=("GOOGLE_GEMINI_BASE_URL",),
    ),
    "vertex": _Default(
        "vertex",
        base_url_env=("GOOGLE_VERTEX_BASE_URL",),
        project_env=("GOOGLE_CLOUD_PROJECT",),
        location_env=("GOOGLE_CLOUD_LOCATION",),
        location="global",
    ),
    "openai": _Default("openai", key_env=("OPENAI_API_KEY",), base_url_env=("OPENAI_BASE_URL",)),
    "together": _Default(
        "openai",
        key_env=("TOGETHER_API_KEY",),
        base_url_env=("TOGETHER_BASE_URL",),
        base_url="https://api.together.ai/v1",
        profile=("together",),
    ),
    "deepinfra": _Default(
        "openai",
        key_env=("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
        base_url_env=("DEEPINFRA_BASE_URL",),
        base_url="https://api.deepinfra.com/v1/openai",
        profile=("deepinfra",),
    ),
    "relay": _Default(
        "openai",
        key_env=("SEEDLESS_RELAY_API_KEY",),
        base_url_env=("SEEDLESS_RELAY_URL",),
        needs_base_url=True,
    ),
    # self-hosted: the key is optional HTTP basic auth, "user:password" (A1111's --api-auth)
    "forge": _Default(
        "forge", key_env=("SEEDLESS_FORGE_AUTH",), base_url_env=("SEEDLESS_FORGE_URL",)
    ),
    "comfyui": _Default(
        "comfyui", key_env=("SEEDLESS_COMFYUI_AUTH",), base_url_env=("SEEDLESS_COMFYUI_URL",)
    ),
    # Black Forest Labs' API; location picks the region (global, eu, us), base_url overrides.
    "bfl": _Default(
        "bfl", key_env=("BFL_API_KEY",), base_url_env=("SEEDLESS_BFL_URL",), location="global"
    ),
    "stability": _Default(
        "stability", key_env=("STABILITY_API_KEY",), base_url_env=("SEEDLESS_STABILITY_URL",)
    ),
}


def missing_base_url(endpoint: Endpoint) -> str | None:
    """Why ``endpoint`` cannot be reached, when it is a built-in one that has no default base
    URL (``relay``) and none was set; None when it has one or needs none."""
    default = DEFAULTS.get(endpoint.name)
    if endpoint.base_url or default is None or not default.needs_base_url:
        return None
    if default.protocol != endpoint.protocol:
        return None
    names = " or ".join(default.base_url_env)
    return (
        f"Endpoint {endpoint.name!r} has no base URL. Set {names} to your host's URL, or pass "
        f"Endpoint(name={endpoint.name!r}, protocol={endpoint.protocol!r}, base_url=...) to "
        "the Client."
    )


def default_endpoints(environ: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    """The built-in endpoints, configured from the environment (read at Client creation)."""
    env = os.environ if environ is None else environ
    endpoints: dict[str, Endpoint] = {}
    for name, default in DEFAULTS.items():
        key = _env(env, *default.key_env)
        endpoints[name] = Endpoint(
            name=name,
            protocol=default.protocol,
            api_key=SecretStr(key) if key else None,
            base_url=_env(env, *default.base_url_env) or default.base_url,
            project=_env(env, *default.project_env),
            location=_env(env, *default.location_env) or default.location,
            profile=default.profile,
        )
    return endpoints


def merge_endpoints(base: Mapping[str, Endpoint], extra: Iterable[Endpoint]) -> dict[str, Endpoint]:
    """Endpoints by name; an explicit endpoint replaces the one of the same name.

    When it speaks the same protocol, the fields it leaves unset (key, base URL, project,
    location, credentials) keep the values the replaced endpoint had from the environment:
    ``Endpoint(name="openai", protocol="openai", base_url=relay)`` still uses OPENAI_API_KEY.
    """
    merged = dict(base)
    for endpoint in extra:
        previous = merged.get(endpoint.name)
        if previous is not None and previous.protocol == endpoint.protocol:
            inherited = {
                field: getattr(previous, field)
                for field in _INHERITED
                if getattr(endpoint, field) is None and getattr(previous, field) is not None
            }
            if inherited:
                endpoint = endpoint.model_copy(update=inherited)
        merged[endpoint.name] = endpoint
    return merged


_INHERITED = ("api_key", "base_url", "project", "location", "credentials", "profile")
