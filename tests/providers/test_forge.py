"""The ``forge`` provider (AUTOMATIC1111/Forge web API), end to end through its emulator.

The same seed gives the same bytes; a request without a seed records the one the server
picked; a recipe made on forge warns on replay when the server reports another checkpoint
hash; basic auth never leaks; the server's error bodies (Forge's and A1111's) map onto the
error tree; ``models check`` lists the server's checkpoints.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

import seedless
from seedless import Endpoint, HostChangedWarning, Recipe
from seedless.cli import main
from seedless.client import edit_request, generate_request
from seedless.drift import check, list_models
from seedless.errors import (
    AuthenticationError,
    ProviderError,
    ServerError,
    UnsupportedCapabilityError,
)
from seedless.providers.forge import ForgeProvider
from seedless.retry import RetryPolicy
from seedless.strategies import replay
from seedless.testing import Emulator

TODAY = date(2026, 11, 25)
FAST_RETRY = RetryPolicy(max_attempts=2, initial=0.01, max_backoff=0.02, total_timeout=5)


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


SOURCE = _png((120, 80, 40))
ClientFactory = Callable[..., seedless.AsyncClient]


def _forge_only(emu: Emulator, **changes: Any) -> list[Endpoint]:
    return [e.model_copy(update=changes) if e.name == "forge" else e for e in emu.endpoints()]


async def test_the_same_seed_twice_gives_identical_bytes(client: seedless.AsyncClient) -> None:
    ask = {"model": "forge:checkpoint", "size": "512x768", "options": {"steps": 20}}
    first = (await client.generate("a lighthouse at dusk", seed=1234, **ask)).image
    second = (await client.generate("a lighthouse at dusk", seed=1234, **ask)).image
    other = (await client.generate("a lighthouse at dusk", seed=1235, **ask)).image
    assert first.data == second.data and first.sha256 == second.sha256
    assert other.data != first.data
    assert (first.seed, first.seed_mode, first.cost_usd) == (1234, "seeded", 0.0)
    assert first.host == {
        "checkpoint": "v1-5-pruned-emaonly",
        "checkpoint_hash": "6ce0161689",
        "version": "f2.0.1v1.10.1-previous-669-gdfdcbab6",
    }
    assert first.sent["cfg_scale"] == 7.0  # the server's default, read from info


async def test_without_a_seed_the_server_picks_one_and_the_result_replays(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    made = (await client.generate("a red kite", model="forge:checkpoint")).image
    assert emu.forge.requests[-1].body["seed"] == -1
    assert made.seed is not None and made.seed >= 0 and made.seed_mode == "seeded"
    recipe = Recipe.from_result(made)
    assert recipe.strategy == "seeded" and recipe.seed == made.seed
    again = await replay(client, recipe)
    assert again[0].data == made.data
    assert emu.forge.requests[-1].body["seed"] == made.seed


async def test_a_recipe_warns_on_replay_when_the_checkpoint_hash_changed(
    client: seedless.AsyncClient, emu: Emulator, tmp_path: Path
) -> None:
    made = (await client.generate("a fox", model="forge:checkpoint", seed=7)).image
    path = Recipe.from_result(made).save(tmp_path / "recipe.json")
    emu.forge.checkpoints[emu.forge.loaded] = "0123456789" + "ab" * 27  # new weights, same name
    sent = len(emu.forge.requests)
    with pytest.warns(HostChangedWarning, match="checkpoint_hash: 6ce0161689 -> 0123456789"):
        again = await replay(client, Recipe.load(path))
    asked = [r.path for r in emu.forge.requests[sent:]]
    assert asked == ["/sdapi/v1/options", "/sdapi/v1/txt2img"]  # warned before sending
    assert again[0].data != made.data and again[0].host["checkpoint_hash"] == "0123456789"


async def test_the_server_version_is_compared_after_the_answer(
    client: seedless.AsyncClient, emu: Emulator
) -> None:
    recipe = Recipe.from_result(
        (await client.generate("a fox", model="forge:checkpoint", seed=7)).image
    )
    emu.forge.version = "f2.1.0"  # not in /options: only the answer tells
    with pytest.warns(HostChangedWarning, match="answered from a different stack.*version"):
        await replay(client, recipe)


def test_verify_recipe_warns_before_sending(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    with seedless.Client() as client:
        made = client.generate("a fox", model="forge:checkpoint", seed=7).image
    path = Recipe.from_result(made).save(tmp_path / "recipe.json")
    emu.forge.checkpoints[emu.forge.loaded] = "f" * 64
    code = main(["verify", "--recipe", str(path), "-k", "2", "--today", str(TODAY)])
    err = capsys.readouterr().err
    assert "warning: the server is not the stack the recipe was made on" in err
    assert "checkpoint_hash: 6ce0161689 -> ffffffffff" in err
    assert code == 0  # two trials on the new stack still agree with each other


async def test_a_checkpoint_named_per_request(client: seedless.AsyncClient, emu: Emulator) -> None:
    xl = (
        await client.generate(
            "a fox", model="forge:checkpoint", seed=3, options={"checkpoint": "sd_xl_base_1.0"}
        )
    ).image
    assert emu.forge.requests[-1].body["override_settings"] == {
        "sd_model_checkpoint": "sd_xl_base_1.0"
    }
    assert xl.host["checkpoint_hash"] == "31e35c80fc" and xl.sent["checkpoint"] == "sd_xl_base_1.0"
    provider = client.provider("forge")
    spec = client.resolve("forge:checkpoint")
    request = generate_request(
        "a fox", model="forge:checkpoint", options={"checkpoint": "sd_xl_base_1.0"}
    )
    assert await provider.fingerprint(spec, request) == {  # type: ignore[attr-defined]
        "checkpoint": "sd_xl_base_1.0", "checkpoint_hash": "31e35c80fc"
    }  # fmt: skip
    with pytest.raises(ProviderError, match="has no checkpoint by that name") as caught:
        await client.generate(
            "a fox", model="forge:checkpoint", seed=3, options={"checkpoint": "missing-xl"}
        )
    assert not caught.value.retryable


async def test_img2img_sends_the_source_and_the_denoising_strength(
    client: seedless.AsyncClient, emu: Emulator, pictures: tuple[bytes, bytes, bytes]
) -> None:
    source = pictures[0]
    ask = {"model": "forge:checkpoint", "seed": 9, "options": {"denoising_strength": 0.4}}
    first = (await client.edit(source, "make it moody", **ask)).image
    second = (await client.edit(source, "make it moody", **ask)).image
    got = emu.forge.requests[-1]
    assert got.path == "/sdapi/v1/img2img"
    assert base64.b64decode(got.body["init_images"][0]) == source
    assert got.body["denoising_strength"] == 0.4 and first.data == second.data
    with pytest.raises(UnsupportedCapabilityError):  # one input image: img2img has no references
        client.prepare(edit_request(list(pictures[:2]), "blend", model="forge:checkpoint"))
    with pytest.raises(UnsupportedCapabilityError, match="denoising_strength"):
        client.prepare(
            generate_request("x", model="forge:checkpoint", options={"denoising_strength": 0.5})
        )


def test_sizes_are_multiples_of_eight(client: seedless.AsyncClient) -> None:
    wide = client.prepare(generate_request("x", model="forge:checkpoint", aspect_ratio="16:9"))
    body = wide.calls[0].wire.json
    assert (body["width"], body["height"]) == (1368, 768)
    assert body["width"] % 8 == 0 and body["height"] % 8 == 0
    assert (
        "width"
        not in client.prepare(generate_request("x", model="forge:checkpoint")).calls[0].wire.json
    )
    with pytest.raises(UnsupportedCapabilityError, match="multiples of 8"):
        client.prepare(generate_request("x", model="forge:checkpoint", size="513x512"))


async def test_basic_auth_works_and_never_shows(emu: Emulator, make_client: ClientFactory) -> None:
    emu.forge.auth = ("artist", "hunter2-long-password")
    for endpoint in (
        Endpoint(name="forge", protocol="forge", api_key=SecretStr("artist:hunter2-long-password"),
                 base_url=emu.forge.url),
        Endpoint(name="forge", protocol="forge",
                 base_url=emu.forge.url.replace("://", "://artist:hunter2-long-password@")),
    ):  # fmt: skip
        client = make_client(endpoints=[endpoint])
        prepared = client.prepare(generate_request("x", model="forge:checkpoint", seed=1))
        shown = f"{prepared.calls[0].wire} {prepared!r} {client.provider('forge')!r} {endpoint!r}"
        assert "hunter2" not in shown and "Authorization: Basic [secure]" in shown
        assert (await client.execute(prepared)).image.seed == 1
        assert emu.forge.requests[-1].headers["authorization"] == "Basic [secure]"
    wrong = make_client(
        endpoints=[Endpoint(name="forge", protocol="forge", base_url=emu.forge.url,
                            api_key=SecretStr("artist:wrong-password"))]
    )  # fmt: skip
    with pytest.raises(AuthenticationError, match="SEEDLESS_FORGE_AUTH") as caught:
        await wrong.generate("x", model="forge:checkpoint")
    assert "wrong-password" not in str(caught.value)


@pytest.mark.parametrize("flavour", ["forge", "a1111"])
async def test_error_answers_of_both_flavours(
    flavour: str, emu: Emulator, make_client: ClientFactory
) -> None:
    emu.forge.flavour = flavour  # type: ignore[assignment]
    client = make_client(endpoints=_forge_only(emu, extra_fields={"steps": "many"}))
    with pytest.raises(ProviderError, match="steps: Input should be a valid integer") as caught:
        await client.generate("x", model="forge:checkpoint")
    assert caught.value.status == 422 and not caught.value.retryable
    client = make_client()
    with pytest.raises(ProviderError, match="Init image not found"):
        provider = client.provider("forge")
        spec = client.resolve("forge:checkpoint")
        wire = provider.plan(edit_request([SOURCE], "x", model="forge:checkpoint"), spec)
        await provider.send(type(wire)(**{**wire.__dict__, "json": {"prompt": "x"}}), spec)
    emu.forge.fail_next(503, times=2)
    assert (await client.generate("x", model="forge:checkpoint", seed=2)).image.seed == 2


async def test_a_server_without_api_says_so(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(endpoints=_forge_only(emu, base_url=emu.openai.origin))  # not a Forge
    with pytest.raises(ProviderError, match="started with --api"):
        await client.generate("x", model="forge:checkpoint")
    down = make_client(endpoints=_forge_only(emu, base_url="http://127.0.0.1:9"), retry=FAST_RETRY)
    with pytest.raises(ServerError, match="Is the server running"):
        await down.generate("x", model="forge:checkpoint")


def test_the_environment_configures_the_endpoint(emu: Emulator) -> None:
    client = seedless.Client(environ={"SEEDLESS_FORGE_URL": emu.forge.url,
                                      "SEEDLESS_FORGE_AUTH": "me:secret-pass-123"})  # fmt: skip
    endpoint = client.endpoints["forge"]
    assert endpoint.base_url == emu.forge.url and endpoint.key() == "me:secret-pass-123"
    assert "secret-pass-123" not in repr(endpoint)
    assert seedless.Client().endpoints["forge"].base_url is None  # 127.0.0.1:7860 then
    assert ForgeProvider(Endpoint(name="forge", protocol="forge")).http.root == (
        "http://127.0.0.1:7860"
    )
    client.close()


async def test_models_check_lists_the_checkpoints(emu: Emulator) -> None:
    endpoint = next(e for e in emu.endpoints() if e.name == "forge")
    served = await list_models(endpoint)
    assert served == ["sd_xl_base_1.0", "v1-5-pruned-emaonly"]
    drift = check(seedless.capabilities(), endpoint, served, today=TODAY)
    assert drift.clean and drift.open_ended
    assert "2 checkpoint(s) on the server" in drift.render() and "sd_xl_base_1.0" in drift.render()
    seedless.register_model(
        {"provider": "forge", "id": "juggernaut-xl", "operations": ["generate"], "seed": "seeded"}
    )
    drift = check(seedless.capabilities(), endpoint, served, today=TODAY)
    assert drift.missing == ["juggernaut-xl"] and drift.unknown == []


def test_models_check_cli_skips_servers_without_an_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "check", "--json", "--today", str(TODAY)]) in (0, 1)
    reports = json.loads(capsys.readouterr().out)
    assert not {r["endpoint"] for r in reports} & {"forge", "comfyui"}
