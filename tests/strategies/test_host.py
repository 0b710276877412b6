"""Host fingerprints: recorded in results and recipes; a replay warns before sending when the
server's changed, and after, when its answers name another stack. Any provider can report one:
here a fake provider does; tests/providers/test_forge.py shows Forge through its emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from strategy_helpers import TODAY, seeded_handler

import seedless
from seedless import FunctionProvider, HostChangedWarning, ProviderReply
from seedless.strategies import Recipe, replay
from seedless.strategies.replay import check_host


class HostedProvider(FunctionProvider):
    """A seeded fake whose server has a fingerprint: ``stack`` (asked before sending) and
    ``answers`` (what its replies report, default the same)."""

    def __init__(self) -> None:
        super().__init__(self._handle)
        self.stack: dict[str, Any] = {"checkpoint_hash": "aaaa000001", "device": "gpu-a"}
        self.answers: dict[str, Any] | None = None
        self.asked = 0
        self.picked_seed = 424242

    def _handle(self, request: Any, spec: Any) -> ProviderReply:
        reply = seeded_handler(
            request if request.seed is not None else request.model_copy(
                update={"seed": self.picked_seed}
            ),
            spec,
        )  # fmt: skip
        reply.host = dict(self.answers if self.answers is not None else self.stack)
        reply.host["version"] = "1.0"
        reply.seed = request.seed if request.seed is not None else self.picked_seed
        return reply

    async def fingerprint(self, spec: Any, request: Any = None) -> dict[str, Any]:
        self.asked += 1
        return dict(self.stack)


@pytest.fixture
def hosted() -> Iterator[tuple[seedless.Client, HostedProvider]]:
    seedless.register_model(
        {"provider": "box", "id": "sd", "operations": ["generate", "edit"], "seed": "seeded",
         "host_exact": True, "max_reference_images": 1, "prices": {"*": 0.0}}
    )  # fmt: skip
    provider = HostedProvider()
    client = seedless.Client(providers={"box": provider}, clock=lambda: TODAY)
    yield client, provider
    client.close()


def test_results_and_recipes_record_the_host_and_the_seed_the_server_picked(
    hosted: tuple[seedless.Client, HostedProvider],
) -> None:
    client, provider = hosted
    result = client.generate("a red kite", model="box:sd").image  # no seed: the server picks
    assert result.seed == provider.picked_seed and result.seed_mode == "seeded"
    assert result.host == {"checkpoint_hash": "aaaa000001", "device": "gpu-a", "version": "1.0"}
    recipe = Recipe.from_result(result)
    assert (recipe.strategy, recipe.seed, recipe.host) == ("seeded", 424242, result.host)
    assert "the same bytes on an unchanged host" in recipe.reproducibility
    assert "host: {" in recipe.describe()
    again = client._run(replay(client.aio, recipe))  # same stack: no warning (errors here)
    assert again[0].data == result.data and provider.asked == 1
    assert client.resolve("box:sd").seed_level == "seeded (exact on the same host)"


def test_a_replay_warns_before_sending_when_the_server_changed(
    hosted: tuple[seedless.Client, HostedProvider],
) -> None:
    client, provider = hosted
    recipe = Recipe.from_result(client.generate("a kite", model="box:sd", seed=5).image)
    provider.stack = {"checkpoint_hash": "bbbb000002", "device": "gpu-a"}
    sent = len(provider.calls)
    with pytest.warns(HostChangedWarning, match="checkpoint_hash: aaaa000001 -> bbbb000002"):
        client._run(replay(client.aio, recipe))
    assert len(provider.calls) == sent + 1  # warned, and still replayed
    assert client._run(check_host(client, recipe, warn=False)) == [
        "checkpoint_hash: aaaa000001 -> bbbb000002"
    ]


def test_a_replay_warns_after_when_only_the_answers_name_another_stack(
    hosted: tuple[seedless.Client, HostedProvider],
) -> None:
    client, provider = hosted
    recipe = Recipe.from_result(client.generate("a kite", model="box:sd", seed=5).image)
    provider.answers = {"checkpoint_hash": "aaaa000001", "device": "gpu-b"}  # not asked before
    with pytest.warns(HostChangedWarning, match="answered from a different stack.*device"):
        client._run(replay(client.aio, recipe))


def test_recipes_without_a_host_are_not_checked(
    hosted: tuple[seedless.Client, HostedProvider], tmp_path: Any
) -> None:
    client, provider = hosted
    recipe = Recipe.from_result(client.generate("a kite", model="box:sd", seed=5).image)
    bare = recipe.model_copy(update={"host": None})
    assert "host" not in bare.to_json()  # old readers still read it
    assert Recipe.load(recipe.save(tmp_path / "r.json")).host == recipe.host
    client._run(replay(client.aio, bare))
    assert provider.asked == 0
    assert bare.host_changes({"device": "x"}) == []


def test_a_seeded_plan_from_a_recipe_warns_too(
    hosted: tuple[seedless.Client, HostedProvider],
) -> None:
    client, provider = hosted
    photo = Image.new("RGB", (32, 24), (120, 80, 40))
    made = client.edit(photo, "golden light", model="box:sd", seed=9).image
    recipe = Recipe.from_result(made)
    provider.stack = {"checkpoint_hash": "cccc000003", "device": "gpu-a"}
    chosen = seedless.plan(images=[photo], recipe=recipe, client=client)
    assert chosen.path == "seeded"
    with pytest.warns(HostChangedWarning, match="aaaa000001 -> cccc000003"):
        chosen.run()
