"""The public surface: a sorted __all__, lazy SDK imports, no secrets in reprs or errors."""

from __future__ import annotations

import subprocess
import sys

from pydantic import SecretStr

import seedless
from seedless.errors import ProviderError, error_for_status, redact


def test_all_is_exactly_the_public_names_and_sorted() -> None:
    """As httpx's test_exported_members: every public name the package defines is exported,
    and only those (the lazily imported names count as defined)."""
    import types

    defined = {
        name
        for name, value in vars(seedless).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    defined.discard("annotations")  # from __future__ import annotations
    lazy = set(seedless._LAZY)
    assert set(seedless.__all__) == defined | lazy | {"__version__"}
    names = [name for name in seedless.__all__ if name != "__version__"]
    assert names == sorted(names)
    for name in seedless.__all__:
        assert hasattr(seedless, name)


def test_import_does_not_load_provider_sdks() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import seedless; "
        "print([m for m in sys.modules if m.startswith(('google', 'httpx', 'tqdm', 'numpy'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_status_table() -> None:
    assert isinstance(error_for_status(401, "x", provider="p"), seedless.AuthenticationError)
    assert isinstance(error_for_status(403, "x", provider="p"), seedless.AuthenticationError)
    assert isinstance(error_for_status(404, "x", provider="p"), seedless.ModelNotFoundError)
    limited = error_for_status(429, "x", provider="p", retry_after=3)
    assert (
        isinstance(limited, seedless.RateLimitError)
        and limited.retryable
        and limited.retry_after == 3
    )
    assert isinstance(error_for_status(503, "x", provider="p"), seedless.ServerError)
    plain = error_for_status(400, "bad", provider="p")
    assert type(plain) is ProviderError and not plain.retryable and plain.status == 400


def test_secrets_never_print() -> None:
    endpoint = seedless.Endpoint(
        name="gemini", protocol="gemini", api_key=SecretStr("my-very-secret-key")
    )
    assert "my-very-secret-key" not in repr(endpoint) and "my-very-secret-key" not in str(endpoint)
    err = ProviderError("service said: bad key my-very-secret-key", provider="gemini")
    assert "my-very-secret-key" not in str(err)
    assert (
        redact("AIza" + "SyA1234567890abcdefghijklmnop and Bearer abc.def")
        == "[secure] and Bearer [secure]"
    )
    assert redact("https://x/?key=abcdef&x=1") == "https://x/?key=[secure]&x=1"


def test_reprs_do_not_dump_a_fitted_lut() -> None:
    from PIL import Image

    from seedless.client import edit_request

    original = Image.new("RGB", (16, 16), (120, 80, 40))
    edited = seedless.Adjust(brightness=0.8).apply(original)
    effect = seedless.fit_effect(original, edited)
    request = edit_request(original, effect=effect)
    assert len(repr(effect)) < 2000 and len(repr(request)) < 3000
    assert effect.table[:40] not in repr(request)


def test_credentials_in_a_base_url_never_print() -> None:
    from seedless.providers.openai import OpenAIProvider

    url = "https://bob:url-password-1234@relay.example/v1?api-version=2&token=url-token-5678"
    endpoint = seedless.Endpoint(name="relay", protocol="openai", base_url=url)
    for text in (repr(endpoint), str(endpoint), repr(OpenAIProvider(endpoint))):
        assert "url-password-1234" not in text and "url-token-5678" not in text
        assert "relay.example" in text and "api-version=2" in text
    # registered: the secrets are scrubbed from any text, in any shape
    assert redact("echo url-password-1234 url-token-5678") == "echo [secure] [secure]"
    # and URLs nobody registered lose their userinfo password and credential-like query values
    assert redact("see https://amy:pw-9@h.example/x?a=1&sig=s1&secret=s2&auth=s3 now") == (
        "see https://amy:[secure]@h.example/x?a=1&sig=[secure]&secret=[secure]&auth=[secure] now"
    )
    assert redact("(https://x/?key=abcdef)") == "(https://x/?key=[secure])"
