"""Adobe .cube 1.0 reading and writing: order, domain, precision, and errors with line numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from seedless.effects.cube import (
    Cube,
    format_cube,
    identity_table,
    parse_cube,
    read_cube,
    write_cube,
)
from seedless.errors import ConfigurationError

# A hand-written size-2 LUT that swaps red and blue. Lines are in .cube order: red changes
# fastest, then green, then blue; each line is the output R G B for that input corner.
SWAP_RB = """# swap red and blue
TITLE "swap r b"
LUT_3D_SIZE 2

0 0 0
0 0 1
0 1 0
0 1 1
1 0 0
1 0 1
1 1 0
1 1 1
"""


def test_hand_written_size_2_file_reads_in_red_fastest_order(tmp_path: Path) -> None:
    path = tmp_path / "swap.cube"
    path.write_text(SWAP_RB)
    table, domain_min, domain_max, title = read_cube(path)
    assert title == "swap r b"
    assert domain_min == (0.0, 0.0, 0.0) and domain_max == (1.0, 1.0, 1.0)
    assert table.shape == (2, 2, 2, 3)
    # table[b][g][r]: input red=1, green=0, blue=0 -> output (0, 0, 1)
    assert table[0, 0, 1].tolist() == [0.0, 0.0, 1.0]
    assert table[1, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert table[0, 1, 0].tolist() == [0.0, 1.0, 0.0]


def test_channel_swap_applied_by_pillow_to_a_known_pixel() -> None:
    table = parse_cube(SWAP_RB).table
    lut = ImageFilter.Color3DLUT(2, table.astype(np.float32))
    pixel = Image.new("RGB", (1, 1), (200, 100, 30)).filter(lut).getpixel((0, 0))
    assert pixel == (30, 100, 200)


def test_identity_table_is_red_fastest() -> None:
    flat = identity_table(3).reshape(-1, 3)
    assert flat[1].tolist() == [0.5, 0.0, 0.0]  # second line: red moved
    assert flat[3].tolist() == [0.0, 0.5, 0.0]  # fourth line: green moved
    assert flat[9].tolist() == [0.0, 0.0, 0.5]  # tenth line: blue moved


def test_write_then_read_round_trip_exact_to_printed_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    table = rng.random((5, 5, 5, 3))
    path = write_cube(tmp_path / "look.cube", table, title='my "look"')
    back = read_cube(path)
    assert isinstance(back, Cube)
    assert back.title == "my 'look'"
    assert np.array_equal(back.table, np.round(table, 6))
    assert np.abs(back.table - table).max() <= 0.5e-6


def test_written_header_puts_size_before_domain_for_ffmpeg(tmp_path: Path) -> None:
    text = format_cube(identity_table(2), title="t")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:4] == [
        'TITLE "t"',
        "LUT_3D_SIZE 2",
        "DOMAIN_MIN 0.000000 0.000000 0.000000",
        "DOMAIN_MAX 1.000000 1.000000 1.000000",
    ]
    assert lines[4:6] == ["0.000000 0.000000 0.000000", "1.000000 0.000000 0.000000"]
    assert len(lines) == 4 + 8


def test_domain_keywords_in_any_order_and_resolve_input_range() -> None:
    text = "DOMAIN_MAX 2 2 4\nLUT_3D_SIZE 2\nDOMAIN_MIN -1 0 0\n" + "0 0 0\n" * 8
    cube = parse_cube(text)
    assert cube.domain_min == (-1.0, 0.0, 0.0)
    assert cube.domain_max == (2.0, 2.0, 4.0)
    resolve = parse_cube("LUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 0 4\n" + "0 0 0\n" * 8)
    assert resolve.domain_max == (4.0, 4.0, 4.0)


def test_comments_blank_lines_and_unknown_keywords_are_skipped() -> None:
    text = "# a\n\nLUT_3D_SIZE 2\nVENDOR_THING 1\n# inside\n" + "0.5 0.5 0.5\n\n" * 8
    assert parse_cube(text).table.shape == (2, 2, 2, 3)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("LUT_1D_SIZE 4\n0 0 0\n", 2, "needs 4 table lines, found 1"),
        ('TITLE "x"\nLUT_3D_SIZE 1\n', 2, "2..256"),
        ("LUT_3D_SIZE 257\n", 1, "2..256"),
        ("0 0 0\nLUT_3D_SIZE 2\n", 1, "before LUT_3D_SIZE"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 3 + "0 0\n" + "0 0 0\n" * 4, 5, "needs 3 numbers"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 2 + "0 nan 0\n" + "0 0 0\n" * 5, 4, "finite"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8 + "0 0 0\n", 10, "more than"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 4 + "DOMAIN_MIN 0 0 0\n", 6, "after the table"),
        ("LUT_3D_SIZE 2\nLUT_3D_SIZE 2\n", 2, "twice"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=words) as info:
        read_cube(path)
    assert f"{path}, line {line}:" in str(info.value)


def test_too_few_lines_and_bad_domain_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="LUT_3D_SIZE 2 needs 8 table lines, found 3"):
        parse_cube("LUT_3D_SIZE 2\n" + "0 0 0\n" * 3, source="short.cube")
    with pytest.raises(ConfigurationError, match="DOMAIN_MIN"):
        parse_cube("LUT_3D_SIZE 2\nDOMAIN_MIN 1 0 0\n" + "0 0 0\n" * 8)
    with pytest.raises(ConfigurationError, match="no LUT_3D_SIZE or LUT_1D_SIZE"):
        parse_cube("# nothing\n")


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_cube(tmp_path / "absent.cube")


def test_write_refuses_bad_tables(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        write_cube(tmp_path / "x.cube", np.zeros((2, 3, 2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        write_cube(tmp_path / "x.cube", np.full((2, 2, 2, 3), np.nan))
