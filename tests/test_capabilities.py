"""The capability matrix: loading, resolution, queries, validation and lifecycle policy."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path

import pytest

import seedless
from seedless.capabilities import (
    Matrix,
    ModelSpec,
    _reset_registry_for_tests,
    check_lifecycle,
    validate,
)
from seedless.errors import (
    ConfigurationError,
    ModelRetiredError,
    SeedlessDeprecationWarning,
    UnsupportedCapabilityError,
)
from seedless.models import EditRequest, GenerateRequest, ImageInput

TODAY = date(2026, 11, 25)
PNG = ImageInput(data=b"\x89PNG\r\n\x1a\n", mime_type="image/png")


def test_matrix_has_the_required_rows() -> None:
    matrix = seedless.capabilities()
    required = [
        "gemini:gemini-3-pro-image-preview",
        "vertex:gemini-3-pro-image-preview",
        "gemini:gemini-2.5-flash-image",
        "vertex:gemini-2.5-flash-image",
        "gemini:gemini-nano-banana-2.1",
        "vertex:gemini-nano-banana-2.1",
        "gemini:gemini-3-pro-image",
        "gemini:gemini-3.1-flash-lite-image",
        "gemini:gemini-3.1-flash-image",
        "vertex:imagen-3.0-generate-002",
        "vertex:imagen-4.0-generate-001",
        "vertex:imagen-4.0-fast-generate-001",
        "vertex:imagen-4.0-ultra-generate-001",
        "relay:flux-dev",
        "relay:flux-schnell",
        "relay:flux-pro-1.1",
        "relay:flux-kontext-pro",
        "relay:flux-2-pro",
        "together:flux-dev",
        "together:flux-kontext-pro",
        "together:flux-2-pro",
        "deepinfra:flux-schnell",
        "openai:gpt-image-2",
        "openai:dall-e-3",
        "openai:gpt-image-1",
        "local:pillow",
    ]
    missing = [key for key in required if key not in matrix]
    assert not missing


def test_every_row_is_sourced_and_successors_exist() -> None:
    matrix = seedless.capabilities()
    for row in matrix:
        if row.provider == "local":
            continue
        assert row.lifecycle.sources, f"{row.key} has no lifecycle source"
        assert any(row.sources.values()), f"{row.key} cites no source for its facts"
        if row.lifecycle.successor:
            assert f"{row.provider}:{row.lifecycle.successor}" in matrix


def test_reproducibility_is_derived_from_seed_support() -> None:
    matrix = seedless.capabilities()
    assert matrix.get("local:pillow").reproducibility == "exact"  # type: ignore[union-attr]
    assert matrix.get("relay:flux-dev").reproducibility == "seeded"  # type: ignore[union-attr]
    assert matrix.get("gemini:gemini-3-pro-image").reproducibility == "none"  # type: ignore[union-attr]
    assert matrix.get("openai:gpt-image-2").seed == "none"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("nano-banana-pro", "gemini:gemini-3-pro-image"),
        ("nano-banana-2", "gemini:gemini-3.1-flash-image"),
        ("nano-banana-2.1", "gemini:gemini-nano-banana-2.1"),
        ("vertex:nano-banana-pro", "vertex:gemini-3-pro-image"),
        ("imagen-3", "vertex:imagen-3.0-generate-002"),
        ("flux-dev", "relay:flux-dev"),
        ("together:flux-1-dev", "together:flux-dev"),
        ("gemini:gemini-3-pro-image", "gemini:gemini-3-pro-image"),
        ("local:pillow", "local:pillow"),
    ],
)
def test_resolve_names_and_aliases(name: str, key: str) -> None:
    assert seedless.capabilities().resolve(name).key == key


def test_resolve_through_an_endpoint_profile() -> None:
    matrix = seedless.capabilities()
    spec = matrix.resolve("myrelay:flux-dev", profiles={"myrelay": ("myrelay", "relay")})
    assert spec.key == "myrelay:flux-dev"
    assert spec.seed == "seeded" and spec.fields["guidance"] == "guidance_scale"
    spec = matrix.resolve("mine:flux-dev", profiles={"mine": ("mine", "together")})
    assert spec.wire_id == "black-forest-labs/FLUX.1-dev" and spec.response_formats[0] == "base64"


def test_a_model_the_endpoint_does_not_serve_names_those_that_do() -> None:
    """OpenAI itself serves no Flux: openai:flux-dev on it names the profiles that do."""
    with pytest.raises(ConfigurationError) as info:
        seedless.capabilities().resolve("openai:flux-1-dev", profiles={"openai": ("openai",)})
    message = str(info.value)
    assert "endpoint 'openai' does not serve flux-dev" in message
    for key in ("together:flux-dev", "deepinfra:flux-dev", "relay:flux-dev"):
        assert key in message
    assert "profile='relay'" in message


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ConfigurationError, match="Did you mean 'gemini:gemini-3-pro-image'"):
        seedless.capabilities().resolve("gemini:gemini-3-pro-imag")


def test_supports_filters_rows() -> None:
    seeded = seedless.capabilities().supports("seed")
    keys = {row.key for row in seeded}
    assert "relay:flux-dev" in keys and "local:pillow" in keys
    assert "deepinfra:flux-dev" not in keys  # DeepInfra's OpenAI-style API takes no seed
    assert not any(key.startswith("gemini:") for key in keys)
    assert "openai:gpt-image-2" not in keys


def test_table_renders_lifecycle() -> None:
    table = seedless.capabilities().table(today=TODAY)
    assert "vertex:imagen-4.0-generate-001" in table
    assert "retired" in table and "shut down 2026-08-17" in table


# ----------------------------------------------------------------------------- validation


def _spec(key: str) -> ModelSpec:
    spec = seedless.capabilities().get(key)
    assert spec is not None
    return spec


def test_seed_on_best_effort_model_is_refused_naming_alternatives() -> None:
    matrix = seedless.capabilities()
    request = GenerateRequest(prompt="a fox", seed=42)
    with pytest.raises(UnsupportedCapabilityError) as info:
        validate(request, _spec("gemini:gemini-3-pro-image"), matrix, today=TODAY)
    err = info.value
    assert err.capability == "seed" and err.model == "gemini:gemini-3-pro-image"
    assert "seed" in str(err) and "gemini:gemini-3-pro-image" in str(err)
    assert err.alternatives and all(
        matrix.get(a).seed in ("seeded", "deterministic") for a in err.alternatives
    )  # type: ignore[union-attr]
    assert not any("imagen" in a for a in err.alternatives), "retired models are no alternative"
    validate(
        request, _spec("gemini:gemini-3-pro-image"), matrix, seed_policy="best_effort", today=TODAY
    )


def test_seed_on_no_seed_model_is_always_refused() -> None:
    request = GenerateRequest(prompt="a fox", seed=1)
    for policy in ("strict", "best_effort"):
        with pytest.raises(UnsupportedCapabilityError, match="takes no seed"):
            validate(
                request, _spec("openai:gpt-image-2"), seedless.capabilities(), seed_policy=policy
            )  # type: ignore[arg-type]


def test_seed_range_watermark_ratio_size_and_references() -> None:
    matrix = seedless.capabilities()
    imagen = _spec("vertex:imagen-4.0-generate-001")
    with pytest.raises(UnsupportedCapabilityError, match="seeds from"):
        validate(GenerateRequest(prompt="x", seed=0), imagen, matrix)
    with pytest.raises(UnsupportedCapabilityError, match="watermark") as info:
        validate(GenerateRequest(prompt="x", seed=5, add_watermark=True), imagen, matrix)
    assert info.value.capability == "watermark"
    validate(GenerateRequest(prompt="x", seed=5), imagen, matrix)
    pro = _spec("gemini:gemini-3-pro-image")
    with pytest.raises(UnsupportedCapabilityError, match="aspect ratio '7:3'"):
        validate(GenerateRequest(prompt="x", aspect_ratio="7:3"), pro, matrix)
    with pytest.raises(UnsupportedCapabilityError, match="size '8K'"):
        validate(GenerateRequest(prompt="x", size="8K"), pro, matrix)
    lite = _spec("gemini:gemini-3.1-flash-lite-image")
    with pytest.raises(UnsupportedCapabilityError, match="size '4K'"):
        validate(GenerateRequest(prompt="x", size="4K"), lite, matrix)
    many = EditRequest(images=(PNG,) * 15, prompt="x")
    with pytest.raises(UnsupportedCapabilityError, match="at most 14"):
        validate(many, pro, matrix)
    with pytest.raises(UnsupportedCapabilityError, match="cannot generate"):
        validate(GenerateRequest(prompt="x"), _spec("local:pillow"), matrix)


# ----------------------------------------------------------------------------- lifecycle


def test_retired_model_raises_with_successor_and_source() -> None:
    matrix = seedless.capabilities()
    spec = _spec("vertex:imagen-4.0-generate-001")
    with pytest.raises(ModelRetiredError) as info:
        check_lifecycle(spec, matrix, today=TODAY)
    err = info.value
    assert err.shutdown == "2026-08-17"
    assert err.successor == f"vertex:{spec.lifecycle.successor}"
    assert err.sources and err.sources[0] in str(err)
    assert "allow_retired=True" in str(err)
    check_lifecycle(spec, matrix, today=TODAY, allow_retired=True)
    with pytest.warns(SeedlessDeprecationWarning, match="shuts down on 2026-08-17"):
        check_lifecycle(spec, matrix, today=date(2026, 1, 1))  # before its shutdown: a warning


def test_retired_chain_ends_at_an_active_model() -> None:
    matrix = seedless.capabilities()
    chain = matrix.successors(_spec("vertex:imagen-3.0-generate-002"), TODAY)
    assert chain and matrix.get(chain[-1]).status(TODAY) != "retired"  # type: ignore[union-attr]


def test_deprecation_warns_once_per_model() -> None:
    matrix = seedless.capabilities()
    spec = _spec("gemini:gemini-3.1-flash-image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_lifecycle(spec, matrix, today=TODAY)
        check_lifecycle(spec, matrix, today=TODAY)
    notes = [w for w in caught if issubclass(w.category, SeedlessDeprecationWarning)]
    assert len(notes) == 1
    text = str(notes[0].message)
    assert "2026-10-06" in text and "gemini-nano-banana-2.1" in text and "https://" in text


# ----------------------------------------------------------------------------- user rows


RELAY_TOML = """
schema = 1

[[model]]
id = "nb-pro-cheap"
providers = ["myrelay"]
aliases = ["cheap-banana"]
operations = ["generate", "edit"]
seed = "best_effort"
max_reference_images = 14
prices = { "*" = 0.05 }

[model.lifecycle.myrelay]
stage = "ga"

[[model]]
id = "gemini-3-pro-image"
providers = ["gemini"]
prices = { "1K" = 0.1 }

[[endpoint]]
name = "myrelay"
protocol = "gemini"
base_url = "http://127.0.0.1:9/"
api_key_env = "MYRELAY_KEY"
"""


def test_toml_file_adds_and_overrides_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models.toml"
    path.write_text(RELAY_TOML)
    monkeypatch.setenv("SEEDLESS_MODELS", str(path))
    monkeypatch.setenv("MYRELAY_KEY", "relay-secret-123")
    _reset_registry_for_tests()
    matrix = seedless.capabilities()
    row = matrix.resolve("cheap-banana")
    assert row.key == "myrelay:nb-pro-cheap" and row.price_for() == 0.05
    assert matrix.get("gemini:gemini-3-pro-image").prices["1K"] == 0.1  # type: ignore[union-attr]
    assert matrix.get("gemini:gemini-3-pro-image").prices["4K"] == 0.24  # type: ignore[union-attr]
    client = seedless.AsyncClient()
    endpoint = client.endpoints["myrelay"]
    assert endpoint.protocol == "gemini" and endpoint.key() == "relay-secret-123"
    assert "relay-secret-123" not in repr(endpoint)


def test_invalid_toml_names_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        'schema = 1\n\n[[model]]\nid = "x"\nproviders = ["openai"]\noperations = ["paint"]\n'
    )
    monkeypatch.setenv("SEEDLESS_MODELS", str(path))
    _reset_registry_for_tests()
    with pytest.raises(ConfigurationError) as info:
        seedless.capabilities()
    message = str(info.value)
    assert f"{path}:6" in message and "operations" in message
    # a comment after the table header, as in docs/models.md, still finds the line
    path.write_text(
        'schema = 1\n\n[[model]]  # mine\nid = "x"\nproviders = ["openai"]\n'
        'operations = ["paint"]\n'
    )
    _reset_registry_for_tests()
    with pytest.raises(ConfigurationError, match=f"{path}:6: field model.0.operations"):
        seedless.capabilities()


def test_register_model_is_usable_at_once() -> None:
    spec = seedless.register_model(
        ModelSpec(
            provider="openai",
            id="flux-relay-special",
            operations=frozenset({"generate"}),
            seed="seeded",
            prices={"*": 0.011},
        )
    )
    assert seedless.capabilities().resolve("openai:flux-relay-special") == spec
    override = seedless.register_model(
        {"provider": "relay", "id": "flux-dev", "prices": {"*": 0.001}}
    )
    assert override.price_for("1K") == 0.001 and override.seed == "seeded"


def test_matrix_is_a_value() -> None:
    rows = [ModelSpec(provider="x", id="m", operations=frozenset({"edit"}))]
    matrix = Matrix(rows)
    assert len(matrix) == 1 and "x:m" in matrix and matrix.resolve("m").key == "x:m"


def test_free_size_rules_are_matrix_data() -> None:
    spec = _spec("openai:gpt-image-2")
    assert spec.size_rule is not None and spec.sizes is None
    matrix = seedless.capabilities()
    validate(GenerateRequest(prompt="x", size="1536x1024"), spec, matrix)
    with pytest.raises(UnsupportedCapabilityError, match="multiples of 16") as info:
        validate(GenerateRequest(prompt="x", size="1000x1000"), spec, matrix)
    assert info.value.capability == "size"
    with pytest.raises(UnsupportedCapabilityError, match="ratio of at most 3:1"):
        validate(GenerateRequest(prompt="x", size="3840x1024"), spec, matrix)


def test_a_zero_edge_is_refused_not_a_crash() -> None:
    spec = _spec("openai:gpt-image-2")
    for size in ("0x0", "0x1024", "1024x0"):
        with pytest.raises(UnsupportedCapabilityError, match="positive") as info:
            validate(GenerateRequest(prompt="x", size=size), spec, seedless.capabilities())
        assert info.value.capability == "size"


def test_too_many_references_names_models_that_take_that_many() -> None:
    matrix = seedless.capabilities()
    with pytest.raises(UnsupportedCapabilityError) as info:
        validate(
            EditRequest(images=(PNG,) * 15, prompt="x"),
            _spec("gemini:gemini-3-pro-image"),
            matrix,
            today=TODAY,
        )
    err = info.value
    assert err.alternatives, "gpt-image-2 takes 16 input images"
    for key in err.alternatives:
        assert matrix.get(key).max_reference_images >= 15  # type: ignore[union-attr]
        assert key in str(err)


def test_watermark_refusal_names_models_that_can_turn_it_off() -> None:
    matrix = seedless.capabilities()
    with pytest.raises(UnsupportedCapabilityError) as info:
        validate(
            GenerateRequest(prompt="x", add_watermark=False),
            _spec("gemini:gemini-3-pro-image"),
            matrix,
            today=TODAY,
        )
    err = info.value
    assert err.capability == "watermark" and err.alternatives
    for key in err.alternatives:
        assert matrix.get(key).watermark != "always"  # type: ignore[union-attr]
        assert key in str(err)


def test_register_model_with_a_full_spec_replaces_the_row() -> None:
    old = _spec("relay:flux-2-pro")
    assert "1K" in old.prices and "width" in old.fields
    new = old.model_copy(update={"prices": {"*": 0.05}, "fields": {"seed": "seed"}})
    got = seedless.register_model(new)
    assert got.prices == {"*": 0.05} and got.price_for("1K") == 0.05
    assert got.fields == {"seed": "seed"}


def test_openai_ids_named_in_the_landscape_get_a_clear_answer() -> None:
    # chatgpt-image-latest is served until 2026-12-01 (deprecated, not unknown); dall-e-2 was
    # shut down with dall-e-3 on 2026-05-12 (retired, not unknown).
    matrix = seedless.capabilities()
    latest = matrix.resolve("openai:chatgpt-image-latest")
    assert latest.status(TODAY) == "deprecated" and str(latest.lifecycle.shutdown) == "2026-12-01"
    assert latest.seed == "none"
    with pytest.raises(ModelRetiredError, match="2026-05-12") as info:
        check_lifecycle(matrix.resolve("dall-e-2"), matrix, today=TODAY)
    assert info.value.successor == "openai:gpt-image-2"


def test_a_user_row_declares_an_extra_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A models.toml adds an option to a built-in row (merged with its own), and a new row
    takes a built-in option set; both are checked before anything is sent."""
    path = tmp_path / "models.toml"
    path.write_text(
        """
[[model]]
id = "flux-dev"
providers = ["relay"]
[model.options.lora_scale]
type = "number"
minimum = 0
maximum = 2

[[model]]
id = "my-gpt"
providers = ["openai"]
operations = ["generate", "edit"]
wire = "images"
option_sets = ["openai_images", "gpt_image"]
response_formats = []
prices = { "*" = 0.01 }
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("SEEDLESS_MODELS", str(path))
    monkeypatch.setenv("SEEDLESS_RELAY_URL", "https://relay.example/v1")
    _reset_registry_for_tests()
    client = seedless.Client(clock=lambda: TODAY)
    request = GenerateRequest(prompt="a fox", model="relay:flux-dev", options={"lora_scale": 0.8})
    wire = client.prepare(request).calls[0].wire
    assert wire.json["lora_scale"] == 0.8 and "steps" in client.resolve("flux-dev").options
    with pytest.raises(UnsupportedCapabilityError, match="at most 2"):
        client.prepare(request.model_copy(update={"options": {"lora_scale": 5}}))
    mine = client.resolve("openai:my-gpt")
    assert {"quality", "moderation", "input_fidelity"} <= set(mine.options)
    with pytest.raises(UnsupportedCapabilityError, match="edit requests only"):
        client.prepare(
            GenerateRequest(prompt="x", model="openai:my-gpt", options={"input_fidelity": "high"})
        )


def test_an_unknown_option_set_names_the_file_and_the_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[[model]]\nid = "x"\nproviders = ["openai"]\noperations = ["generate"]\n'
        'option_sets = ["gpt_imaeg"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SEEDLESS_MODELS", str(path))
    _reset_registry_for_tests()
    with pytest.raises(ConfigurationError, match=r"models.toml:1: .*'gpt_imaeg'.*gpt_image"):
        seedless.capabilities()
