"""`seedless capabilities` fits the terminal and filters by model; the Matrix in a notebook."""

from __future__ import annotations

import pytest

from seedless import capabilities
from seedless.cli import main
from seedless.cli.capabilities import fit_table

TODAY = ["--today", "2026-11-25"]


def test_a_positional_filter_keeps_matching_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities", "imagen", *TODAY]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows and all("imagen" in row.split()[0] for row in rows)
    assert main(["capabilities", "nano-banana-pro", "--json"]) == 0  # an alias matches too
    assert "gemini-3-pro-image" in capsys.readouterr().out


def test_no_match_says_so_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capabilities", "imagen", "--supports", "edit", "--active", *TODAY]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "seedless: no model matches 'imagen' and --supports edit and --active\n"


@pytest.mark.parametrize("width", [60, 80, 100, 120])
def test_the_table_fits_the_terminal(width: int) -> None:
    from datetime import date

    table = fit_table(capabilities(), date(2026, 11, 25), width)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= width
    assert lines[0].startswith("model") and ("status" in lines[0] or lines[0].endswith("…"))
    assert len(lines) == len(capabilities()) + 2


def test_columns_go_before_lines_are_cut(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", "110")
    assert main(["capabilities", *TODAY]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["model", "ops", "seed", "$/image", "status"] and "…" not in out
    monkeypatch.delenv("COLUMNS")
    assert main(["capabilities", *TODAY]) == 0  # piped, no COLUMNS: whole
    assert "successor" in capsys.readouterr().out


def test_the_matrix_is_subscriptable_and_an_html_table() -> None:
    caps = capabilities()
    assert caps["relay:flux-dev"].seed == "seeded"
    assert caps["flux-dev"].key == "relay:flux-dev"
    with pytest.raises(KeyError, match=r"Did you mean 'relay:flux-dev'"):
        caps["relay:flux-devv"]
    html = caps._repr_html_()
    assert html.count("<tr>") == len(caps) + 1 and "&lt;" not in html.split("<tbody>")[0]
