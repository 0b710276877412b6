"""Errors carry the settings that would help as a structured Remedy, named in the reader's words."""

from __future__ import annotations

from datetime import date

import pytest

from seedless import capabilities
from seedless.capabilities import check_lifecycle, validate
from seedless.errors import (
    ModelRetiredError,
    Remedy,
    SeedlessError,
    UnsupportedCapabilityError,
    naming,
)
from seedless.models import GenerateRequest

TODAY = date(2026, 11, 25)


def test_a_remedy_reads_as_keyword_arguments_by_default() -> None:
    remedy = Remedy("Give both: {} and {}.", original="a.jpg", approved="b.jpg")
    assert remedy.render() == "Give both: original='a.jpg' and approved='b.jpg'."
    error = SeedlessError("The anchored path needs the pair.", remedy=remedy)
    assert str(error) == "The anchored path needs the pair. " + remedy.render()
    assert "original='a.jpg'" in repr(remedy)


def test_under_naming_the_same_error_speaks_the_callers_words() -> None:
    error = SeedlessError("Refused.", remedy=Remedy("Pass {}.", allow_retired=True))
    with naming(lambda setting, value: "--" + setting.replace("_", "-")):
        assert str(error) == "Refused. Pass --allow-retired."
    assert str(error) == "Refused. Pass allow_retired=True."  # the naming ends with the block


def test_an_error_without_a_remedy_is_its_message() -> None:
    assert str(SeedlessError("plain")) == "plain"
    assert SeedlessError("plain").remedy is None


def test_the_retired_refusal_carries_allow_retired() -> None:
    matrix = capabilities()
    spec = matrix.resolve("vertex:imagen-4.0-generate-001")
    with pytest.raises(ModelRetiredError) as raised:
        check_lifecycle(spec, matrix, today=TODAY)
    assert raised.value.remedy is not None
    assert raised.value.remedy.settings == {"allow_retired": True}
    assert str(raised.value).endswith("If your project or relay still serves it, pass "
                                      "allow_retired=True.")  # fmt: skip


def test_the_best_effort_seed_refusal_carries_seed_policy() -> None:
    matrix = capabilities()
    spec = matrix.resolve("gemini:gemini-3-pro-image")
    request = GenerateRequest(prompt="a fox", model=spec.key, seed=3)
    with pytest.raises(UnsupportedCapabilityError) as raised:
        validate(request, spec, matrix, today=TODAY)
    assert raised.value.remedy is not None
    assert raised.value.remedy.settings == {"seed_policy": "best_effort"}
    assert "pass seed_policy='best_effort'" in str(raised.value)
