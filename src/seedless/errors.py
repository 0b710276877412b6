"""The one exception hierarchy of seedless, and the single place where HTTP statuses map onto it.

::

    SeedlessError
     ├── ConfigurationError            missing key/project, unknown provider or model, missing extra
 ├── ClientClosedError             the client was closed: make a new one (also a RuntimeError)
     ├── RequestError                  refused before the network: nothing was sent, nothing spent
     │    ├── UnsupportedCapabilityError   .model .capability .alternatives
     │    ├── ModelRetiredError            .model .shutdown .successor .sources
     │    └── InvalidImageError            unreadable, too large, unsupported mode
     ├── ProviderError                 the backend answered badly   .provider .status .retryable
     │    ├── AuthenticationError          401 / 403
     │    ├── RateLimitError               429 (.retry_after)
     │    │    └── QuotaExceededError       429 billing stop (insufficient_quota), not retried
     │    ├── ServerError                  5xx, dropped connections, truncated answers
     │    ├── TimeoutError                 no answer in time
     │    ├── ModelNotFoundError           404 for the model (.successors from the matrix)
     │    ├── ContentBlockedError          safety filter (.reason: IMAGE_SAFETY, an RAI reason ...)
     │    ├── NoImageError                 the model answered without an image (.text)
     │    └── WorkflowError                a self-hosted server refused or failed a workflow
     │                                     (.node_errors: what went wrong, by node id)
     ├── BudgetExceededError           the next call would cross the budget cap
     └── DiskFullError                 no room left to write outputs or the ledger (an OSError too)

    HostChangedWarning                 a self-hosted server is not the stack a recipe was made on

A request split into several wire calls waits for all of them; if one fails, its error is
raised with ``.partial``: the images the other calls delivered (paid), so none is lost.

Messages are written for the person reading them: what happened and what to do. No error
message ever contains an API key or token: providers build messages from the service's own
error text, passed through :func:`redact`. This module is the one place secrets are removed:
:func:`redact` for text, and :func:`install_log_redaction` for the log records of seedless and
of the HTTP stacks it drives (httpx, httpcore, google-genai, google-auth), which would
otherwise print a ``?key=`` or a ``user:password@`` of a base URL at INFO or DEBUG.

When a setting would let a refused request through, the error carries it as a
:class:`Remedy` (``.remedy``) instead of spelling it inside the message: the library names it
as a keyword argument (``allow_retired=True``), and a caller that speaks other words (the
``seedless`` command: ``--allow-retired``) renders it its own way under :func:`naming`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from .models import ImageResult

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "ClientClosedError",
    "ConfigurationError",
    "ContentBlockedError",
    "DiskFullError",
    "HostChangedWarning",
    "InvalidImageError",
    "ModelNotFoundError",
    "ModelRetiredError",
    "NoImageError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitError",
    "Remedy",
    "RequestError",
    "SeedlessDeprecationWarning",
    "SeedlessError",
    "ServerError",
    "TimeoutError",
    "UnsupportedCapabilityError",
    "WorkflowError",
    "error_for_status",
    "install_log_redaction",
    "is_secret_header",
    "naming",
    "redact",
    "scrub_cause",
    "scrub_url",
]


class Remedy:
    """The settings that would let a refused request through, named in the reader's words.

    ``text`` is the sentence, with ``{}`` where each setting is named, in order; ``settings``
    are the library's keyword arguments (which job files share as fields) with the values to
    give them. By default a setting reads as a keyword argument (``allow_retired=True``);
    under :func:`naming`, as the caller names it (``--allow-retired``)::

        Remedy("If your project or relay still serves it, pass {}.", allow_retired=True)
    """

    def __init__(self, text: str, /, **settings: object) -> None:
        self.text = text
        self.settings = settings

    def render(self) -> str:
        """The sentence, each setting named as the current :func:`naming` names it."""
        namer = _namer.get()
        return self.text.format(*(namer(name, value) for name, value in self.settings.items()))

    def __repr__(self) -> str:
        settings = ", ".join(keyword(*item) for item in self.settings.items())
        return f"Remedy({self.text!r}, {settings})"


class Code(str):
    """A remedy's value shown as written (``seedless.Adjust(...)``), not as a quoted string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def keyword(setting: str, value: object) -> str:
    """A setting named as a keyword argument: ``allow_retired=True`` (the library's words)."""
    return f"{setting}={value!r}"


_namer: ContextVar[Callable[[str, object], str]] = ContextVar("seedless_namer", default=keyword)


@contextlib.contextmanager
def naming(namer: Callable[[str, object], str]) -> Iterator[None]:
    """Within the block, errors name the settings of their remedies with ``namer(setting,
    value)``: a command line names them as its flags."""
    token = _namer.set(namer)
    try:
        yield
    finally:
        _namer.reset(token)


class SeedlessError(Exception):
    """Base class of every error seedless raises on purpose.

    ``partial``: when a request was split into several wire calls and one failed, the images
    the other calls did deliver (and were paid for, see their ``cost_usd``); empty otherwise.
    ``remedy``: the setting that would let the request through, if one would (its sentence
    ends the message).
    """

    partial: tuple[ImageResult, ...] = ()
    remedy: Remedy | None = None

    def __init__(self, *args: object, remedy: Remedy | None = None) -> None:
        super().__init__(*args)
        if remedy is not None:
            self.remedy = remedy

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.remedy is None else f"{text} {self.remedy.render()}".lstrip()

    def __repr__(self) -> str:  # the message as read, remedy included (a notebook shows it)
        return f"{type(self).__name__}({str(self)!r})"


class SeedlessDeprecationWarning(DeprecationWarning):
    """A model you named is deprecated: it still answers, but has a shutdown date or successor.

    A subclass of DeprecationWarning that Python shows by default (see ``warnings`` filters set
    in ``seedless/__init__.py``), once per model per process.
    """


class HostChangedWarning(UserWarning):
    """The server a recipe replays on is not the stack the recipe was made on.

    A self-hosted model (Forge, ComfyUI) gives the same bytes for the same seed only on the
    same stack: checkpoint, server version, device. The warning names what changed; the
    replay still runs (its images may differ).
    """


class ConfigurationError(SeedlessError):
    """seedless cannot be set up as asked: a missing key or project, an unknown model."""


class ClientClosedError(SeedlessError, RuntimeError):
    """The client was closed (``close()``, ``aclose()`` or the end of its ``with`` block): it
    sends nothing more. Make a new client; a closed one is never silently reopened."""


class RequestError(SeedlessError):
    """The request was refused before any network I/O; nothing was sent and nothing was spent."""


class UnsupportedCapabilityError(RequestError):
    """The model cannot do what the request asks (a seed, an aspect ratio, a size, ...)."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        capability: str,
        alternatives: Sequence[str] = (),
        remedy: Remedy | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.model = model
        self.capability = capability
        self.alternatives = list(alternatives)


class ModelRetiredError(RequestError):
    """The model is past its shutdown date on this provider."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        shutdown: str | None,
        successor: str | None,
        sources: Sequence[str] = (),
        remedy: Remedy | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.model = model
        self.shutdown = shutdown
        self.successor = successor
        self.sources = list(sources)


class InvalidImageError(RequestError):
    """An input image is unreadable, too large (a decompression bomb) or in an unusable mode."""


class ProviderError(SeedlessError):
    """The backend answered, but not with images. ``status`` is the HTTP status, if any.

    ``retryable``: worth another attempt (the class's judgement, a 5xx is and a 400 is not,
    unless the service said otherwise with ``x-should-retry``); ``retry_after``: how long the
    service asked us to wait.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.provider = provider
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


class AuthenticationError(ProviderError):
    """The service refused the credentials (401/403). Check the key, project or token."""


class RateLimitError(ProviderError):
    """The service asked us to slow down (429). Retried with backoff, honouring Retry-After."""

    retryable = True


class QuotaExceededError(RateLimitError):
    """The account is out of quota or credit (a billing stop, not a rate): not retried.

    Waiting does not help; raise the limit or add credit in the provider's billing settings.
    """

    retryable = False


class ServerError(ProviderError):
    """The service failed (5xx), dropped the connection or sent a truncated answer. Retried."""

    retryable = True


class TimeoutError(ProviderError):
    """No answer within the timeout. Retried."""

    retryable = True


class ModelNotFoundError(ProviderError):
    """The service does not know the model (404). The message names the matrix's successors."""

    def __init__(self, message: str, *, successors: Iterable[str] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.successors = list(successors)


class ContentBlockedError(ProviderError):
    """A safety filter blocked the prompt or the image. ``reason`` is the service's own code."""

    def __init__(self, message: str, *, reason: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.reason = reason


class NoImageError(ProviderError):
    """The model answered without an image. ``text`` holds what it said instead."""

    def __init__(self, message: str, *, text: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.text = text


class WorkflowError(ProviderError):
    """A self-hosted server refused a workflow (400 with errors by node) or failed while running
    it. ``node_errors`` maps each node id at fault to the messages about it."""

    def __init__(
        self, message: str, *, node_errors: dict[str, list[str]] | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.node_errors = dict(node_errors or {})


class BudgetExceededError(SeedlessError):
    """Dispatching the next call would cross the budget cap; nothing more was spent."""

    def __init__(self, message: str, *, spent: float, cap: float, next_cost: float) -> None:
        super().__init__(message)
        self.spent = spent
        self.cap = cap
        self.next_cost = next_cost


class DiskFullError(SeedlessError, OSError):
    """The disk (or quota, or file-size limit) that holds the outputs and the ledger is full.

    Also an :class:`OSError` (``errno`` ENOSPC). A batch stops on it with its ledger consistent;
    free some space and run it again to resume.
    """

    def __str__(self) -> str:
        return str(self.strerror)  # the message, without OSError's "[Errno 28]" in front


#: errno values that mean "no room to write": no space, over quota, over the file-size limit.
_FULL_ERRNOS = frozenset(
    code for code in (getattr(errno, name, None) for name in ("ENOSPC", "EDQUOT", "EFBIG")) if code
)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says there is no room to write (an OSError, or SQLite's SQLITE_FULL)."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:  # SQLITE_FULL; SQLITE_IOERR_WRITE is how SQLite reports EFBIG
        return bool(code & 0xFF == 13 or code == 778)
    return "database or disk is full" in str(exc)


_STATUS_TABLE: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: ModelNotFoundError,
    408: TimeoutError,
    429: RateLimitError,
}


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    retry_after: float | None = None,
) -> ProviderError:
    """Build the exception for an HTTP error status: the one status table of the library."""
    cls = _STATUS_TABLE.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ProviderError
    retryable = True if status == 409 else None
    return cls(
        f"{provider} answered HTTP {status}: {message}",
        provider=provider,
        status=status,
        retry_after=retry_after,
        retryable=retryable,
    )


# API keys and bearer tokens in the shapes the services issue, anything after key=/token= (or
# another credential-like name, query parameters included), and the password of a URL's userinfo.
_SECRET_PATTERNS = [
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{10,}"),
    re.compile(r"\bya29\.[0-9A-Za-z_\-.]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.=]+"),
    re.compile(
        r"(?i)((?:[\w.\-]*(?:key|token|secret|password|signature|auth)[\w.\-]*|sig)=)"
        r"[^&#\s\"'()<>]+"
    ),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/?#@:]*:)[^\s/?#@]+(?=@)"),
]
_known_secrets: set[str] = set()
#: Header names that carry credentials: the standard ones and a relay's own
#: (``Ocp-Apim-Subscription-Key``, ``X-Relay-Token`` ...). Query parameters too (``?key=``).
_SECRET_HEADER = re.compile(r"(?i)auth|key|token|secret|password|signature|cookie|^sig$")


def is_secret_header(name: str) -> bool:
    """Whether an HTTP header (or URL query parameter) named ``name`` carries a credential."""
    return _SECRET_HEADER.search(name) is not None


def register_secret(value: str | None) -> None:
    """Remember a configured secret so :func:`redact` removes it from any text, in any shape."""
    if value and len(value) >= 4:
        _known_secrets.add(value)


def register_url_secrets(url: str | None) -> None:
    """Register the credentials a configured URL carries: its userinfo password (a lone user
    name, as in ``https://TOKEN@host``, counts as one) and the values of query parameters
    whose names look like credentials (``?key=``, ``?api_key=``, ``?token=``, ``?sig=`` ...)."""
    if not url:
        return
    parts = urlsplit(url.strip())
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        register_secret(unquote(password) if colon else unquote(user))
        register_secret(password if colon else user)  # as written, percent-escapes and all
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if is_secret_header(name):
            register_secret(value)
            register_secret(quote(value, safe=""))


def scrub_url(url: str) -> str:
    """``url`` without its userinfo (a password, or a token as user name) and with the values
    of credential-like query parameters redacted."""
    parts = urlsplit(url)
    return redact(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))


def scrub_cause(exc: BaseException) -> None:
    """Scrub the requests the exceptions of ``exc``'s chain carry: an httpx error keeps the
    request it failed on (its URL with a ``?key=`` or a password, its headers with the
    key), and error trackers walk ``__cause__``. Each is replaced by a request for the
    scrubbed URL (:func:`scrub_url`) with no headers. Duck-typed: nothing is imported."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for owner in (current, getattr(current, "response", None)):
            request = getattr(owner, "_request", None)
            if request is not None and hasattr(request, "method") and hasattr(request, "url"):
                scrubbed = scrub_url(str(request.url))
                with contextlib.suppress(Exception):  # not an httpx request after all: leave it
                    owner.request = type(request)(request.method, scrubbed)  # type: ignore[union-attr]
        current = current.__cause__ or current.__context__


def redact(text: str) -> str:
    """Remove API keys and tokens from ``text``: known configured secrets and common key shapes."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "[secure]")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[secure]", text)
        else:
            text = pattern.sub("[secure]", text)
    return text


#: Loggers (and their children) whose records :func:`install_log_redaction` scrubs: seedless's
#: own and those of the HTTP stacks it drives.
REDACTED_LOGGERS = ("seedless", "httpx", "httpcore", "google_genai", "google.genai", "google.auth")
_install_lock = threading.Lock()
_installed = False


def _scrubbed(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in REDACTED_LOGGERS)


def _scrub(record: logging.LogRecord) -> None:
    """Redact a record's message, and its traceback when that carries a secret."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: logging reports it itself when it formats it
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            record.exc_text = clean  # what logging.Formatter prints instead of formatting it


def install_log_redaction() -> None:
    """Scrub secrets from the log records of :data:`REDACTED_LOGGERS`, once per process.

    httpx logs every request's URL at INFO (a relay's ``?key=`` and a base URL's
    ``user:password@`` included) and its child loggers, like google-genai's, are created by
    the libraries themselves, so a filter on named loggers would miss some. seedless wraps the
    log record factory instead, keeping the one that was set (another library's keeps working):
    records of those loggers are redacted as they are made, which happens only for the levels
    a logger is enabled for. Called when an :class:`~seedless.Endpoint` is made.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _scrubbed(record.name):
                _scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
