"""measure_reproducibility: k runs of one request, their spread, and the matrix's verdict."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from strategy_helpers import Truth, png, seeded_handler, small_photo

import seedless
from seedless import ProviderReply, RawImage
from seedless.client import edit_request, generate_request
from seedless.strategies import measure_reproducibility
from seedless.strategies._pixels import rgb_array, ssim


def test_local_is_exact_and_agrees(make_client: Callable[..., seedless.Client]) -> None:
    request = edit_request(small_photo("cat.jpg"), effect=seedless.Adjust(saturation=1.4))
    report = measure_reproducibility(make_client(), request, trials=3)
    assert report.expected == "exact" and report.identical_pixels and report.agrees
    assert report.unique_outputs == 1 and report.pixel_max == 0 == report.structural_max
    assert "agrees with the matrix" in report.summary()


def test_seeded_with_a_seed_agrees(make_client: Callable[..., seedless.Client]) -> None:
    request = generate_request("a kite", model="fake:seeded", seed=3)
    report = measure_reproducibility(make_client(seeded_handler), request, trials=4)
    assert report.expected == "seeded" and report.seeded_request and report.agrees
    assert report.cost_usd == 4 * 0.03


def test_seeded_without_a_seed_gives_no_verdict(
    make_client: Callable[..., seedless.Client],
) -> None:
    request = generate_request("a kite", model="fake:seeded")
    report = measure_reproducibility(make_client(seeded_handler), request, trials=2)
    assert report.agrees is None and "pass one" in report.summary()


def test_no_seed_model_varies_and_distances_are_measured(
    make_client: Callable[..., seedless.Client], truth: Truth
) -> None:
    request = edit_request(small_photo("rocket.jpg"), "darker", model="fake:nano")
    report = measure_reproducibility(make_client(), request, trials=3)
    assert report.expected == "none" and report.observed == "varies" and report.agrees
    assert report.unique_outputs == 3
    assert 0 < report.pixel_mean <= report.pixel_max < 60
    assert 0 <= report.structural_mean <= report.structural_max < 0.2  # tone, not structure


def test_a_seeded_backend_that_does_not_replay_is_caught(
    make_client: Callable[..., seedless.Client],
) -> None:
    def noisy(request: Any, spec: Any) -> ProviderReply:
        colour = tuple(random.randrange(256) for _ in range(3))
        return ProviderReply(
            images=[RawImage(png(Image.new("RGB", (16, 16), colour)), "image/png")]
        )

    request = generate_request("a kite", model="fake:seeded", seed=3)
    report = measure_reproducibility(make_client(noisy), request, trials=3)
    assert report.agrees is False and "DISAGREES" in report.summary()
    assert "does not replay seeds exactly" in report.summary()


def test_cached_results_are_not_measurements(
    make_client: Callable[..., seedless.Client],
) -> None:
    class Memory:
        def __init__(self) -> None:
            self.store: dict[str, list[seedless.ImageResult]] = {}

        def get(self, key: str) -> list[seedless.ImageResult] | None:
            return self.store.get(key)

        def put(self, key: str, results: Any) -> None:
            self.store[key] = list(results)

    client = make_client(seeded_handler, cache=Memory())
    request = generate_request("a kite", model="fake:seeded", seed=3)
    client.run(request)  # fills the cache
    report = measure_reproducibility(client, request, trials=2)
    assert report.cached == 2 and report.agrees is None and "cache" in report.summary()


async def test_async_client_gives_an_awaitable(
    make_client: Callable[..., seedless.Client],
) -> None:
    request = generate_request("a kite", model="fake:seeded", seed=9)
    report = await measure_reproducibility(make_client(seeded_handler).aio, request, trials=2)
    assert report.agrees and report.trials == 2


def test_ssim_of_an_image_with_itself_is_one() -> None:
    image = Image.open(io.BytesIO(small_photo("cat.jpg")))
    array = rgb_array(image.convert("RGB"), image.size)
    assert abs(ssim(array, array) - 1.0) < 1e-9
    assert ssim(array, 1.0 - array) < 0.5


def test_a_failed_trial_keeps_the_images_the_others_delivered(
    make_client: Callable[..., seedless.Client],
) -> None:
    from seedless.errors import ProviderError

    answered: list[bytes] = []

    def handler(request: Any, spec: Any) -> ProviderReply:
        if len(answered) == 1:  # the second call the host sees
            answered.append(b"")
            raise ProviderError("the host refused", provider="fake", status=400)
        reply = seeded_handler(request, spec)
        answered.append(reply.images[0].data)
        return reply

    request = generate_request("a kite", model="fake:seeded", seed=5)
    with pytest.raises(ProviderError, match="refused") as info:
        measure_reproducibility(make_client(handler), request, trials=3)
    assert len(answered) == 3  # every trial ran to its end
    assert sorted(i.data for i in info.value.partial) == sorted(d for d in answered if d)
