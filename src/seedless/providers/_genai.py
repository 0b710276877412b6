"""What the Gemini, Imagen and Vertex providers share on google-genai: the client and the errors.

Three jobs, in one place:

* :func:`import_genai` imports google-genai, or raises a :class:`ConfigurationError` that names
  the pip extra. Nothing else in seedless imports ``google.genai`` or ``google.auth``, and
  this module is itself only imported when a ``gemini`` or ``vertex`` endpoint is first used.
* :class:`GenaiClient` builds one ``google.genai.Client`` from an :class:`~seedless.Endpoint`
  on first use (API key and base URL for the Gemini API and its relays; project, location and
  credentials for Vertex, Application Default Credentials when none are given) with the SDK's
  own retries turned off, so that the client's one retry policy is the only one.
* :func:`genai_wire` builds the :class:`~seedless.providers.base.WireRequest` of a planned
  call: the REST path the SDK will post to (the API version pinned, so the plan and the wire
  agree), the headers with credentials masked, and the camelCase JSON body.
* :func:`translate_error` maps what the SDK, httpx, aiohttp and google-auth raise onto
  :mod:`seedless.errors` (through :func:`seedless.errors.error_for_status`, the library's one
  status table), keeping the status and any ``Retry-After``, with secrets scrubbed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    ContentBlockedError,
    ProviderError,
    RequestError,
    SeedlessError,
    ServerError,
    TimeoutError,
    error_for_status,
    is_secret_header,
    redact,
)
from ..retry import honour_should_retry
from ..retry import parse_retry_after as retry_headers
from .base import WireRequest

if TYPE_CHECKING:
    from ..capabilities import ModelSpec
    from ..config import Endpoint

__all__ = [
    "DEFAULT_TIMEOUT",
    "GenaiClient",
    "api_version",
    "genai_wire",
    "import_genai",
    "parse_retry_after",
    "split_api_version",
    "translate_error",
]


#: Seconds one wire call may take when the endpoint sets no timeout (a 4K image with thinking
#: can take minutes; without a limit a stalled connection would hang forever).
DEFAULT_TIMEOUT = 300.0

_VERSION_SUFFIX = re.compile(r"^(?P<base>.*?)/+(?P<version>v\d+(?:(?:alpha|beta)\d*)?)/*$")


def split_api_version(base_url: str | None) -> tuple[str | None, str | None]:
    """``"https://relay.example/v1beta"`` -> ``("https://relay.example/", "v1beta")``.

    google-genai appends its API version to the base URL, so a relay URL that already ends in
    one would otherwise be called as ``.../v1beta/v1/models/...``.
    """
    if not base_url:
        return None, None
    match = _VERSION_SUFFIX.match(base_url)
    if match is None:
        return base_url, None
    return match.group("base") + "/", match.group("version")


#: The API versions seedless pins when neither the base URL nor GOOGLE_GENAI_API_VERSION names
#: one (google-genai 3.x's own defaults: ``v1`` for the Gemini API, ``v1beta1`` for Vertex).
DEFAULT_API_VERSIONS = {"gemini": "v1", "vertex": "v1beta1"}
_HOSTS = {"gemini": "https://generativelanguage.googleapis.com/"}


def api_version(endpoint: Endpoint, *, vertex: bool) -> str:
    """The API version the endpoint's calls use: a version at the end of its base URL, else
    GOOGLE_GENAI_API_VERSION (google-genai's own variable; ``beta`` means the beta version),
    else google-genai's default. seedless passes it to the SDK explicitly, so a planned
    request names the path the SDK then posts to."""
    _, from_url = split_api_version(endpoint.base_url)
    if from_url:
        return from_url
    mode = "vertex" if vertex else "gemini"
    env = os.environ.get("GOOGLE_GENAI_API_VERSION")
    if env == "beta":
        return "v1beta1" if vertex else "v1beta"
    return env or DEFAULT_API_VERSIONS[mode]


def genai_wire(
    endpoint: Endpoint,
    spec: ModelSpec,
    *,
    vertex: bool,
    method: str,
    body: dict[str, Any],
    chosen: dict[str, Any],
    extensions: dict[str, Any],
    shape: str,
) -> WireRequest:
    """The planned request of a google-genai call to ``{model}:{method}``: REST path and URL
    (Vertex: under the project and location; express mode without them), the headers it
    carries (credentials masked) and the camelCase body."""
    version = api_version(endpoint, vertex=vertex)
    model = endpoint.wire_model(spec.id)
    base, _ = split_api_version(endpoint.base_url)
    headers = {"Content-Type": "application/json"}
    express = vertex and endpoint.api_key is not None and endpoint.credentials is None
    if not vertex or express:
        headers["x-goog-api-key"] = "[secure]"
    else:
        headers["Authorization"] = "Bearer [secure]"
    for name, value in endpoint.headers.items():
        headers[name] = "[secure]" if is_secret_header(name) else value
    if not vertex:
        path = f"/{version}/models/{model}:{method}"
        host = base or _HOSTS["gemini"]
    else:
        location = endpoint.location or "global"
        project = endpoint.project or "{project of the credentials}"
        where = "" if express else f"projects/{project}/locations/{location}/"
        path = f"/{version}/{where}publishers/google/models/{model}:{method}"
        region = "" if location == "global" or express else f"{location}-"
        host = base or f"https://{region}aiplatform.googleapis.com/"
    return WireRequest(
        provider=spec.provider,
        model=spec.key,
        shape=shape,
        method="POST",
        url=redact(host.rstrip("/") + path),
        path=path,
        headers=headers,
        json=body,
        chosen=chosen,
        extensions=extensions,
    )


def import_genai(extra: str = "gemini") -> ModuleType:
    """The ``google.genai`` package, or a ConfigurationError naming the extra to install."""
    try:
        from google import genai  # lazy: an optional SDK, imported on first use
    except ImportError as exc:
        raise ConfigurationError(
            "The gemini and vertex providers run on Google's google-genai SDK, which is not "
            f'installed. Install it with: pip install "seedless[{extra}]"'
        ) from exc
    return genai


class GenaiClient:
    """One ``google.genai.Client`` for an endpoint, built on first use and shared by providers.

    Building it is deferred to the first call, because in Vertex mode without explicit
    credentials the SDK looks up Application Default Credentials, which must not happen when
    a client is merely created (or never used).
    """

    def __init__(self, endpoint: Endpoint, *, vertex: bool, api_version: str | None = None) -> None:
        self.endpoint = endpoint
        self.vertex = vertex
        #: An API version for this client's calls (Batch Mode and the Files API are
        #: ``v1beta``), unless the endpoint's base URL names one.
        self.api_version = api_version
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The SDK client, built on first call (ConfigurationError if it cannot be)."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def http_options(self) -> Any:
        """``HttpOptions`` for the endpoint: base URL (an API version at its end is split off,
        so ``https://relay.example/v1beta`` works), the pinned API version (:func:`api_version`),
        timeout in ms, headers, SDK retries off."""
        types = import_genai().types
        endpoint = self.endpoint
        base_url, _ = split_api_version(endpoint.base_url)
        timeout = endpoint.timeout if endpoint.timeout else DEFAULT_TIMEOUT
        return types.HttpOptions(
            base_url=base_url,
            api_version=self.version(),
            timeout=int(timeout * 1000),
            headers=dict(endpoint.headers) or None,
            # attempts=1: no tenacity retries in the SDK, and no implicit retry on aiohttp
            # connection errors either (it only runs when retry_options is unset).
            retry_options=types.HttpRetryOptions(attempts=1),
        )

    def version(self) -> str:
        """The API version this client's calls use."""
        pinned = split_api_version(self.endpoint.base_url)[1]
        if self.api_version and not pinned:
            return self.api_version
        return api_version(self.endpoint, vertex=self.vertex)

    def _build(self) -> Any:
        genai = import_genai()
        endpoint = self.endpoint
        options = self.http_options()
        try:
            if not self.vertex:
                key = endpoint.require_key("GEMINI_API_KEY", "GOOGLE_API_KEY")
                return genai.Client(vertexai=False, api_key=key, http_options=options)
            if endpoint.api_key is not None and endpoint.credentials is None:
                # Vertex express mode: an API key instead of a project and credentials.
                return genai.Client(vertexai=True, api_key=endpoint.key(), http_options=options)
            return genai.Client(
                vertexai=True,
                project=endpoint.project,
                location=endpoint.location,
                credentials=endpoint.credentials,
                http_options=options,
            )
        except SeedlessError:
            raise
        except Exception as exc:
            raise _configuration_error(exc, endpoint) from exc

    async def aclose(self) -> None:
        """Close the SDK client's connection pools (a no-op if it was never built)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()
            client.close()

    def __repr__(self) -> str:
        mode = "vertex" if self.vertex else "gemini"
        built = self._client is not None
        return f"<GenaiClient {mode} endpoint={self.endpoint.name!r} built={built}>"


def _configuration_error(exc: BaseException, endpoint: Endpoint) -> ConfigurationError:
    """A setup failure of the SDK or google-auth, told in terms of seedless's configuration."""
    text = redact(str(exc))
    if type(exc).__name__ == "DefaultCredentialsError" or "credentials" in text.lower():
        return ConfigurationError(
            f"Vertex endpoint {endpoint.name!r} has no usable Google Cloud credentials: {text} "
            "Run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
            "or pass Endpoint(credentials=...)."
        )
    if endpoint.protocol == "vertex":
        return ConfigurationError(
            f"Vertex endpoint {endpoint.name!r} cannot be set up: {text} Set "
            "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, or pass Endpoint(project=..., "
            "location=...)."
        )
    return ConfigurationError(f"Endpoint {endpoint.name!r} cannot be set up: {text}")


# ------------------------------------------------------------------------------ errors

#: Words in a 400 from Vertex Imagen that mean its safety filter refused the prompt.
_BLOCK_PHRASES = ("responsible ai", "safety filter", "violate", "prohibited")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_retry_after(headers: Any, details: Any = None) -> float | None:
    """Seconds to wait: the headers (:func:`seedless.retry.parse_retry_after`), else the
    ``retryDelay`` of a ``google.rpc.RetryInfo`` detail in the error body."""
    try:
        from_headers = retry_headers(headers)
    except (AttributeError, TypeError):
        from_headers = None
    return from_headers if from_headers is not None else _retry_info(details)


def _retry_info(details: Any) -> float | None:
    """The ``retryDelay`` of a ``google.rpc.RetryInfo`` detail in an error body."""
    if not isinstance(details, Mapping):
        return None
    error = details.get("error", details)
    items = error.get("details") if isinstance(error, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _error_reasons(details: Any) -> set[str]:
    """The ``reason`` fields of ``google.rpc.ErrorInfo`` details (``API_KEY_INVALID`` ...)."""
    if not isinstance(details, Mapping):
        return set()
    error = details.get("error", details)
    items = error.get("details") if isinstance(error, Mapping) else None
    return {
        str(item["reason"])
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, Mapping) and item.get("reason")
    }


def _scrub(exc: BaseException) -> None:
    """Remove secrets from the SDK exception we chain, so tracebacks cannot show a key."""
    try:
        exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
        message = getattr(exc, "message", None)
        if isinstance(message, str):
            exc.message = redact(message)  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - an exotic exception type; the message is redacted anyway
        pass


def _mro_names(exc: BaseException) -> set[str]:
    """``module.Class`` for every class of ``exc``, by full module and by top-level package
    (httpx re-exports its exceptions, so ``httpx._exceptions.ReadTimeout`` is also
    ``httpx.ReadTimeout``)."""
    names: set[str] = set()
    for cls in type(exc).__mro__:
        module = cls.__module__ or ""
        names.add(f"{module}.{cls.__name__}")
        names.add(f"{module.split('.')[0]}.{cls.__name__}")
    return names


def translate_error(exc: BaseException, *, provider: str, model: str) -> SeedlessError:
    """The seedless error for an exception raised while calling google-genai.

    HTTP errors keep their status (through :func:`error_for_status`) and ``Retry-After``;
    a wrong Gemini API key (400 ``API_KEY_INVALID``) is an :class:`AuthenticationError`;
    Imagen's 400 for a prompt its safety filter refuses is a :class:`ContentBlockedError`;
    timeouts become :class:`TimeoutError`; dropped connections and truncated answers become
    :class:`ServerError` (both retryable); the rest of the transport's and google-auth's
    exceptions follow :data:`_BY_CLASS`. Anything else is a non-retryable ProviderError.
    """
    if isinstance(exc, SeedlessError):
        return exc
    _scrub(exc)
    genai = import_genai()
    if isinstance(exc, genai.errors.APIError):
        return _api_error(exc, provider=provider, model=model)
    names = _mro_names(exc)
    for classes, translate in _BY_CLASS:
        if names & classes:
            return translate(exc, provider, model)
    if isinstance(exc, ValueError):
        return RequestError(f"google-genai refused the request for {model}: {redact(str(exc))}")
    return ProviderError(
        f"{provider} failed on {model}: {type(exc).__name__}: {redact(str(exc))}",
        provider=provider,
    )


def _api_error(exc: Any, *, provider: str, model: str) -> SeedlessError:
    """An HTTP error answer (google-genai's ``APIError``), by status and reason."""
    status = int(exc.code or 0)
    message = exc.message or exc.status or str(exc)
    headers = getattr(exc.response, "headers", None)
    retry_after = parse_retry_after(headers, exc.details)
    reasons = _error_reasons(exc.details)
    if status == 400 and ("API_KEY_INVALID" in reasons or "API key not valid" in message):
        return AuthenticationError(
            f"{provider} refused the API key (HTTP 400 API_KEY_INVALID): {message} Check "
            "GEMINI_API_KEY / GOOGLE_API_KEY or the endpoint's api_key.",
            provider=provider,
            status=status,
        )
    if status == 400 and any(p in message.lower() for p in _BLOCK_PHRASES):
        return ContentBlockedError(
            f"{model}: the service's safety filter refused the request (HTTP 400): "
            f"{message} Rephrase the prompt; nothing was generated.",
            reason=message,
            provider=provider,
            status=status,
        )
    if status <= 0:
        return ServerError(f"{provider} failed: {message}", provider=provider)
    error = error_for_status(status, message, provider=provider, retry_after=retry_after)
    with contextlib.suppress(AttributeError, TypeError):  # headers that are no mapping
        honour_should_retry(error, headers)
    return error


def _timed_out(exc: BaseException, provider: str, model: str) -> SeedlessError:
    return TimeoutError(
        f"{provider} did not answer {model} in time ({type(exc).__name__}). Raise the "
        "endpoint's timeout, or try again later.",
        provider=provider,
    )


def _dropped(exc: BaseException, provider: str, model: str) -> SeedlessError:
    return ServerError(
        f"{provider} dropped the connection or sent an incomplete answer for {model} "
        f"({type(exc).__name__}: {redact(str(exc))[:300]}).",
        provider=provider,
    )


def _refresh_failed(exc: BaseException, provider: str, model: str) -> SeedlessError:
    return AuthenticationError(
        f"{provider}: Google Cloud credentials could not be refreshed: {redact(str(exc))} "
        "Run `gcloud auth application-default login` or check the service account.",
        provider=provider,
    )


def _no_credentials(exc: BaseException, provider: str, model: str) -> SeedlessError:
    return ConfigurationError(
        f"{provider}: no Google Cloud credentials found: {redact(str(exc))} Run `gcloud "
        "auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, or pass "
        "Endpoint(credentials=...)."
    )


#: Exceptions that are not HTTP answers, by ``module.Class`` of any class they are (see
#: :func:`_mro_names`), and how each becomes a seedless error; the first match wins.
_BY_CLASS: tuple[tuple[frozenset[str], Callable[[BaseException, str, str], SeedlessError]], ...] = (
    (
        frozenset(
            {
                "httpx.TimeoutException",
                "httpx2.TimeoutException",
                "builtins.TimeoutError",
                "asyncio.TimeoutError",
                "aiohttp.ServerTimeoutError",
            }
        ),
        _timed_out,
    ),
    (
        frozenset(
            {
                "httpx.TransportError",
                "httpx2.TransportError",
                "aiohttp.ClientConnectionError",
                "aiohttp.ClientPayloadError",
                "google.auth.exceptions.TransportError",
                "builtins.ConnectionError",
                "google.genai.errors.UnknownApiResponseError",  # a truncated answer
            }
        ),
        _dropped,
    ),
    (frozenset({"google.auth.exceptions.RefreshError"}), _refresh_failed),
    (frozenset({"google.auth.exceptions.DefaultCredentialsError"}), _no_credentials),
)
