"""The README's two set-up commands: exactly two, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = setup_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    assert "seedless apply examples/photos" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup_commands()[1] in ci


def test_capabilities_page_is_in_sync() -> None:
    import seedless
    from seedless.matrix_doc import render_markdown

    page = (ROOT / "docs" / "capabilities.md").read_text()
    assert page == render_markdown(seedless.capabilities()), (
        "docs/capabilities.md is stale: "
        "run `seedless capabilities --markdown > docs/capabilities.md`"
    )


def test_readme_links_work_on_the_package_index() -> None:
    """PyPI shows the README without the repository around it: links must be absolute."""
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert links
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert relative == []
    prefix = "https://github.com/seedless-dev/seedless/"
    for link in links:
        if link.startswith(prefix):
            path = link[len(prefix) :].split("/", 2)[2]  # after blob/main or tree/main
            assert (ROOT / path).exists(), link
