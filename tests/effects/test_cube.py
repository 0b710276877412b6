"""Reading and writing .cube files: every dialect, order, domains, precision, encodings, and
errors with line numbers and short excerpts."""

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
    parse_cube_file,
    read_cube,
    read_cube_file,
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


# ------------------------------------------------------------------------------ dialects


def test_adobe_1d_with_a_domain() -> None:
    cube = parse_cube_file(
        'TITLE "curve"\nLUT_1D_SIZE 3\nDOMAIN_MIN 0 0.1 0\nDOMAIN_MAX 1 0.9 2\n'
        "0 0 0\n0.5 0.4 0.3\n1 1 1.5\n"
    )
    assert cube.lut3d is None and cube.lut1d is not None
    assert cube.lut1d.shape == (3, 3) and cube.lut1d.dtype == np.float32
    assert cube.lut1d[2].tolist() == [1.0, 1.0, 1.5]
    assert (cube.lut1d_min, cube.lut1d_max) == ((0.0, 0.1, 0.0), (1.0, 0.9, 2.0))


def test_resolve_shaper_then_cube_with_input_ranges() -> None:
    text = (
        "LUT_1D_SIZE 2\nLUT_1D_INPUT_RANGE -0.1 1.2\nLUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 0 1.1\n"
        "0 0 0\n1 1 1\n" + "0.5 0.5 0.5\n" * 8
    )
    cube = parse_cube_file(text)
    assert cube.lut1d is not None and cube.lut3d is not None
    assert cube.lut1d.tolist() == [[0, 0, 0], [1, 1, 1]] and cube.lut3d.shape == (2, 2, 2, 3)
    assert cube.lut1d_min == (-0.1,) * 3 and cube.lut1d_max == (1.2,) * 3
    assert cube.lut3d_min == (0.0,) * 3 and cube.lut3d_max == (1.1,) * 3


def test_a_range_for_a_table_the_file_lacks_is_ignored_as_resolve_does() -> None:
    three = parse_cube_file("LUT_1D_INPUT_RANGE 0 4\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 8)
    assert three.lut1d is None and three.lut3d_max == (1.0, 1.0, 1.0)
    one = parse_cube_file("LUT_1D_SIZE 2\nLUT_3D_INPUT_RANGE 0 4\n0 0 0\n1 1 1\n")
    assert one.lut3d is None and one.lut1d_max == (1.0, 1.0, 1.0)


def test_lowercase_keywords_crlf_tabs_exponents_and_comments_among_the_data() -> None:
    text = 'title "x"\r\nlut_3d_size 2\r\ndomain_max 2 2 2\r\n' + "1e-1\t2E-1 .3\r\n# note\r\n" * 8
    cube = parse_cube_file(text)
    assert cube.title == "x" and cube.lut3d_max == (2.0, 2.0, 2.0)
    assert cube.lut3d is not None and np.allclose(cube.lut3d[1, 1, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xef\xbb\xbfLUT_3D_SIZE 2\n" + b"0 0 0\n" * 8, "UTF-8 with a byte-order mark"),
        (("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8).encode("utf-16"), "UTF-16 with a byte-order mark"),
        (b"LUT_3D_SIZE 2\r" + b"0 0 0\r" * 8, "CR line ends"),
        (('TITLE "caf\xe9"\nLUT_3D_SIZE 2\n' + "0 0 0\n" * 8).encode("latin-1"), "a Latin-1 title"),
    ],
)
def test_encodings_and_line_ends(tmp_path: Path, data: bytes, what: str) -> None:
    path = tmp_path / "x.cube"
    path.write_bytes(data)
    cube = read_cube_file(path)
    assert cube.lut3d is not None and cube.lut3d.shape == (2, 2, 2, 3), what
    assert cube.title in ("", "café")


def test_utf16_without_a_byte_order_mark_gets_a_message_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "x.cube"
    path.write_bytes(("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8).encode("utf-16-le"))
    with pytest.raises(ConfigurationError, match="UTF-16 without a byte-order mark"):
        read_cube_file(path)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("LUT_3D_SIZE 2\nLUT_IN_VIDEO_RANGE\n", 2, "video-range .16-235. input"),
        ("LUT_OUT_VIDEO_RANGE\nLUT_3D_SIZE 2\n", 1, "video-range .16-235. output"),
        ("LUT_2D_SIZE 4\n", 1, "2D LUTs"),
        ("LUT_3D_SIZE \u00b2\n", 1, "one whole number"),
        ("LUT_1D_SIZE 65537\n", 1, "2..65536"),
        ("LUT_1D_SIZE 2\nLUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\n", 3, "ambiguous"),
        ("LUT_3D_SIZE 2\nDOMAIN_MAX 2 2 2\nLUT_3D_INPUT_RANGE 0 2\n", 3, "keep one"),
        ("LUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 1 0\n", 2, "min 1 must be below max 0"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 3 + "1_0 0 0\n" + "0 0 0\n" * 4, 5, "needs 3 numbers"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 3 + "0x1 0 0\n" + "0 0 0\n" * 4, 5, "needs 3 numbers"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 inf 0\n", 9, "finite"),
        ("LUT_3D_SIZE 2\n" + "0 0 0 0\n" * 8, 2, "needs 3 numbers"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 2 + "# c\n\nTITLE x\n" + "0 0 0\n" * 6, 6, "TITLE after"),
        ("LUT_1D_SIZE 2\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 8, 3, "need 10 table lines, found 8"),
        ("DOMAIN_MIN 0 0\nLUT_3D_SIZE 2\n", 1, "DOMAIN_MIN needs 3 numbers"),
    ],
)
def test_more_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words) as info:
        parse_cube_file(text, source="bad.cube")
    assert f"bad.cube, line {line}:" in str(info.value)


def test_an_error_quotes_a_short_excerpt_of_a_huge_line() -> None:
    huge = "0.5 " * 2_500_000  # a 10 MB line
    for text in ("LUT_3D_SIZE 2\n" + huge + "\n", "LUT_3D_SIZE " + huge + "\n", huge + "\n"):
        with pytest.raises(ConfigurationError) as info:
            parse_cube_file(text, source="bad.cube")
        assert len(str(info.value)) < 300
        assert " characters)" in str(info.value)


def test_read_cube_keeps_to_3d_files_and_names_the_way_to_the_others() -> None:
    with pytest.raises(
        ConfigurationError, match=r"holds a 1D LUT; read it with seedless\.load_effect"
    ):
        parse_cube("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    with pytest.raises(ConfigurationError, match="a 1D shaper and a 3D LUT"):
        parse_cube("LUT_1D_SIZE 2\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 10)


def test_written_lines_keep_to_the_specification_limit() -> None:
    text = format_cube(identity_table(2), title="a very long title " * 40)
    assert max(len(line.encode()) for line in text.splitlines()) <= 250
    title = next(line for line in text.splitlines() if line.startswith("TITLE"))
    assert title.startswith('TITLE "a very long title') and title.endswith('"')
    assert parse_cube_file(text).title == title[7:-1]
