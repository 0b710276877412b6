"""Every refusal is raised before anything is spent: by ``prepare()``, with no socket opened and
no provider asked to send, and counted as invalid by a batch's dry run.

The table names every kind of refusal the matrix and the built-in providers make. The
autouse guard in ``tests/conftest.py`` adds the other half: across the whole suite, no
built-in provider's ``send`` ever raises a RequestError (a refusal there would come after a
budget was reserved and a ledger row written).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import seedless
from seedless import Endpoint, RequestError
from seedless.cli import main
from seedless.client import edit_request, generate_request
from seedless.errors import ConfigurationError
from seedless.models import ImageRequest

PNG = (Path(__file__).resolve().parents[1] / "examples" / "photos" / "cat.jpg").read_bytes()
LOCALAI = Endpoint(
    name="localai",
    protocol="openai",
    base_url="http://127.0.0.1:9/v1",
    field_names={"seed": "", "width": "", "height": ""},
)
RELAY = Endpoint(name="relay", protocol="openai", base_url="http://127.0.0.1:9/v1")


def _g(model: str, **kw: Any) -> ImageRequest:
    return generate_request("a red fox", model=model, **kw)


def _e(model: str, prompt: str | None = "darker", **kw: Any) -> ImageRequest:
    return edit_request([PNG], prompt, model=model, **kw)


#: refusal -> (request, the error class, a phrase of the message)
REFUSALS: dict[str, tuple[ImageRequest, type[Exception], str]] = {
    # the matrix
    "unknown model": (_g("relay:flux-9"), ConfigurationError, "Unknown model"),
    "Flux on OpenAI itself": (_g("openai:flux-dev"), ConfigurationError, "together:flux-dev"),
    "an output format the host lacks": (
        _g("together:flux-dev", output_mime_type="image/webp"),
        RequestError,
        "image/jpeg, image/png",
    ),
    "a seed on a host that takes none": (
        _g("deepinfra:flux-dev", seed=1),
        RequestError,
        "together:flux-dev",
    ),
    "retired model": (
        _g("vertex:imagen-4.0-generate-001"),
        seedless.ModelRetiredError,
        "shut down",
    ),
    "operation": (_e("vertex:imagen-4.0-ultra-generate-001"), RequestError, "cannot edit"),
    "no seed at all": (_g("openai:gpt-image-2", seed=1), RequestError, "takes no seed"),
    "best-effort seed": (_g("gemini:gemini-3-pro-image", seed=1), RequestError, "best-effort"),
    "seed range": (_g("vertex:imagen-4.0-generate-001", seed=0), RequestError, "seeds from 1"),
    "aspect ratio": (_g("gemini:gemini-3-pro-image", aspect_ratio="7:3"), RequestError, "7:3"),
    "size from a list": (_g("gemini:gemini-3.1-flash-lite-image", size="4K"), RequestError, "4K"),
    "size rule": (_g("openai:gpt-image-2", size="1000x1000"), RequestError, "multiples of 16"),
    "negative prompt": (
        _g("gemini:gemini-3-pro-image", negative_prompt="blur"),
        RequestError,
        "negative prompt",
    ),
    "watermark off": (
        _g("gemini:gemini-3-pro-image", add_watermark=False),
        RequestError,
        "always watermarks",
    ),
    "watermark on": (_g("relay:flux-dev", add_watermark=True), RequestError, "no watermark"),
    "too many references": (
        edit_request([PNG] * 15, "darker", model="gemini:gemini-3-pro-image"),
        RequestError,
        "at most 14",
    ),
    "output format on the Gemini API": (
        _g("gemini:gemini-3-pro-image", output_mime_type="image/jpeg"),
        RequestError,
        "service picks the output format",
    ),
    "output format not offered": (
        _g("openai:gpt-image-2", output_mime_type="image/gif"),
        RequestError,
        "image/gif",
    ),
    "local edit without an effect": (_e("local:pillow"), RequestError, "exact effect"),
    "AI edit without an instruction": (
        _e("relay:flux-2-flex", prompt=None),
        RequestError,
        "instruction",
    ),
    "unknown option (did you mean)": (
        _g("relay:flux-2-pro", options={"stpes": 20}),
        RequestError,
        "does not take option 'stpes'",
    ),
    "option for the other operation": (
        _g("openai:gpt-image-2", options={"input_fidelity": "high"}),
        RequestError,
        "edit requests only",
    ),
    "moderation on an edit": (
        _e("openai:gpt-image-2", options={"moderation": "low"}),
        RequestError,
        "generate requests only",
    ),
    "option type": (_g("relay:flux-dev", options={"steps": "many"}), RequestError, "steps"),
    "option value": (
        _g("gemini:gemini-3-pro-image", options={"thinking_level": "EXTREME"}),
        RequestError,
        "EXTREME",
    ),
    "Vertex-only option on the Gemini API": (
        _g("gemini:gemini-3-pro-image", options={"person_generation": "ALLOW_ALL"}),
        RequestError,
        "vertex:gemini-3-pro-image",
    ),
    "seed with prompt rewriting": (
        _g("vertex:imagen-4.0-generate-001", seed=3, options={"enhance_prompt": True}),
        RequestError,
        "enhance_prompt",
    ),
    "seed with the watermark on": (
        _g("vertex:imagen-4.0-generate-001", seed=3, add_watermark=True),
        RequestError,
        "watermark",
    ),
    "response_format on a base64-only model": (
        _g("openai:gpt-image-2", options={"response_format": "url"}),
        RequestError,
        "always answers base64",
    ),
    # the providers' plans
    "width with a size": (
        _g("relay:flux-dev", size="1K", options={"width": 512, "height": 512}),
        RequestError,
        "width and height together",
    ),
    "size neither WxH nor a class": (_g("relay:flux-dev", size="huge"), RequestError, "huge"),
    "a field the endpoint drops": (_g("localai:flux-dev", seed=4), RequestError, "drops"),
    "modalities without IMAGE": (
        _g("gemini:gemini-3-pro-image", options={"response_modalities": ["TEXT"]}),
        RequestError,
        "IMAGE",
    ),
    "an option google-genai's types refuse": (
        _g("gemini:gemini-3-pro-image", options={"safety_settings": [{"colour": "red"}]}),
        RequestError,
        "invalid option value",
    ),
}
#: refusals that need allow_retired=True to be reached (the model is shut down)
RETIRED_OK = {"operation", "seed range", "seed with prompt rewriting", "seed with the watermark on"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    opened: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        raise AssertionError("a connection was opened while preparing a request")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield opened


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_every_refusal_comes_from_prepare_with_nothing_sent(
    name: str, no_network: list[Any], today: Any
) -> None:
    request, error, phrase = REFUSALS[name]
    client = seedless.AsyncClient(
        endpoints=[LOCALAI, RELAY],
        clock=lambda: today,
        allow_retired=name in RETIRED_OK,
        environ={},
    )
    with pytest.raises(error) as info:
        client.prepare(request)
    assert phrase in str(info.value), str(info.value)
    assert no_network == []


def test_a_batch_dry_run_counts_refused_jobs_as_invalid_and_costs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[Any]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"id": "typo", "prompt": "a fox", "model": "together:flux-2-pro", "options": {"stpes": 20}},
        {"id": "ok", "prompt": "a fox", "model": "together:flux-2-pro", "seed": 1},
    ]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert main(["batch", str(jobs), "-o", str(tmp_path / "out"), "--dry-run"]) == 0
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "1 to run, 1 refused by validation" in shown and "'stpes'" in shown
    assert "$0.0300" in shown  # the worst case counts the valid job only
    assert no_network == []
