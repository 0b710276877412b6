"""The client's surface: typed twins, a closed client that stays closed, aliases of retired
models that follow their successor, prepared requests that read well."""

from __future__ import annotations

import asyncio
import inspect
import io
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import seedless
from seedless import Adjust, FunctionProvider, ModelSpec, ProviderReply, RawImage
from seedless.client import edit_request, generate_request
from seedless.errors import ClientClosedError, ConfigurationError, ModelRetiredError

TODAY = date(2026, 11, 25)
POLICY = {"seed_policy", "allow_retired"}


@pytest.mark.parametrize(("name", "builder"), [("generate", generate_request),
                                               ("edit", edit_request)])  # fmt: skip
def test_sync_and_async_twins_share_one_typed_signature(name: str, builder: Any) -> None:
    sync = inspect.signature(getattr(seedless.Client, name))
    engine = inspect.signature(getattr(seedless.AsyncClient, name))
    assert str(sync) == str(engine)
    params = sync.parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())  # no **kwargs: Any
    built = set(inspect.signature(builder).parameters)
    assert set(params) - {"self"} == built | POLICY


def test_a_mistyped_keyword_fails_at_the_call_not_deep_inside() -> None:
    with pytest.raises(TypeError, match="sede"):
        seedless.Client().generate("a fox", model="openai:flux-dev", sede=7)  # type: ignore[call-arg]


def _reply(request: Any, spec: ModelSpec) -> ProviderReply:
    return ProviderReply(images=[RawImage(data=b"x", mime_type="image/png")])


MATRIX = seedless.Matrix(
    [ModelSpec(provider="fake", id="m", operations=frozenset({"generate"}), prices={"*": 0.0})]
)


def test_a_closed_client_raises_and_is_not_reopened(photos: list[Path]) -> None:
    provider = FunctionProvider(_reply)
    client = seedless.Client(providers={"fake": provider}, matrix=MATRIX, clock=lambda: TODAY)
    with client:
        assert client.generate("p", model="fake:m").image.data == b"x"
    assert client.is_closed and client.aio.is_closed
    with pytest.raises(ClientClosedError, match="was closed"):
        client.generate("p", model="fake:m")
    with pytest.raises(ClientClosedError):
        client.prepare(seedless.GenerateRequest(prompt="p", model="fake:m"))
    with pytest.raises(ClientClosedError), client:
        pass
    client.close()  # closing again does nothing
    assert isinstance(ClientClosedError("x"), RuntimeError)  # as httpx's closed-client error
    never_used = seedless.Client()
    never_used.close()
    with pytest.raises(ClientClosedError):
        never_used.edit(photos[0], effect=Adjust(brightness=0.9))


async def test_a_closed_async_client_raises() -> None:
    async with seedless.AsyncClient(providers={"fake": FunctionProvider(_reply)}, matrix=MATRIX,
                                    clock=lambda: TODAY) as client:  # fmt: skip
        await client.generate("p", model="fake:m")
    with pytest.raises(ClientClosedError):
        await client.generate("p", model="fake:m")
    with pytest.raises(ClientClosedError):
        client.provider("fake")
    with pytest.raises(ClientClosedError):
        async with client:
            pass
    await client.aclose()


def test_an_alias_of_a_retired_model_follows_its_successor_with_a_warning() -> None:
    client = seedless.Client(clock=lambda: TODAY)
    request = seedless.GenerateRequest(prompt="a fox", model="imagen-4")  # retired 2026-08-17
    with pytest.warns(seedless.SeedlessDeprecationWarning, match="now follows its successor"):
        prepared = client.prepare(request)
    assert prepared.spec.key == "vertex:gemini-nano-banana-2.1"
    with pytest.raises(ModelRetiredError):  # the explicit id keeps the refusal
        client.prepare(request.model_copy(update={"model": "vertex:imagen-4.0-generate-001"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # allowed: the alias keeps its own (retired) model
        allowed = client.prepare(request, allow_retired=True)
    assert allowed.spec.key == "vertex:imagen-4.0-generate-001"


def test_plan_uses_the_client_it_is_given_or_says_so(photos: list[Path]) -> None:
    with pytest.raises(ConfigurationError, match=r"pass client=seedless\.Client"):
        seedless.plan(images=[photos[0]], effect=Adjust(), client=None)  # type: ignore[arg-type]
    with seedless.Client(clock=lambda: TODAY) as client:
        chosen = seedless.plan(images=[photos[0]], effect=Adjust(brightness=0.9), client=client)
        chosen.run()
        assert not client.is_closed  # the plan does not close what it was given
        assert client.generate  # still usable


def test_a_prepared_request_shows_its_text_in_a_notebook() -> None:
    client = seedless.Client(clock=lambda: TODAY)
    photo = io.BytesIO()
    Image.new("RGB", (4, 4)).save(photo, format="PNG")
    prepared = client.prepare(seedless.EditRequest(images=[photo.getvalue()], effect=Adjust(),
                                                   model="local:pillow"))  # fmt: skip

    class Printer:
        text_shown = ""

        def text(self, value: str) -> None:
            self.text_shown += value

    printer = Printer()
    prepared._repr_pretty_(printer, False)
    assert printer.text_shown == str(prepared) and "local:pillow: 1 wire call(s)" in str(prepared)
    asyncio.run(client.aio.aclose())
