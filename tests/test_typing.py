"""A user's script, built from the README's calls, passes mypy --strict (without the pydantic
plugin: users do not have it) and pyright in strict mode; and both catch a user's mistakes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Calls a user makes beyond the README's tour, each as it is documented.
EXTRA = '''
endpoint = seedless.Endpoint(name="relay", protocol="openai", api_key="sk-test-key")
request = seedless.EditRequest(images=["examples/photos/coffee.jpg"], effect=look)
flux: seedless.ModelSpec = seedless.capabilities()["openai:flux-dev"]
'''

#: Mistakes both checkers must report: one a line, each marked with its line's comment.
MISTAKES = '''
import seedless

seedless.Adjust(brightnes=0.85)  # a typo in a field
seedless.EditRequest(images=[1])  # not an image
seedless.Endpoint(name="x", protocol="openai", api_key=3)  # not a key
seedless.Client().generate("a fox", model="openai:flux-dev", sede=7)  # a typo in a keyword
'''


def tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A tour", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_readme_calls_pass_mypy_and_pyright_and_mistakes_are_caught(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    pytest.importorskip("pyright")
    (tmp_path / "user.py").write_text(tour() + EXTRA)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # not the project's: no pydantic plugin
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    files = ["user.py", "mistakes.py"]
    cache = ROOT / ".mypy_cache" / "user-script"  # warm after the first run
    checks = {
        "mypy": [sys.executable, "-m", "mypy", "--strict", "--config-file", "mypy.ini",
                 "--cache-dir", str(cache), *files],
        "pyright": [sys.executable, "-m", "pyright", "--pythonpath", sys.executable, *files],
    }  # fmt: skip
    running = {
        name: subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for name, argv in checks.items()
    }  # both at once: pyright spends most of its time starting node
    for name, process in running.items():
        out, _ = process.communicate(timeout=300)
        user = [line for line in out.splitlines() if "user.py" in line and "error" in line]
        assert user == [], f"{name} rejects the README's calls:\n{out}"
        flagged = {int(n) for n in re.findall(r"mistakes\.py:(\d+)", out)}
        assert flagged >= {4, 5, 6, 7}, f"{name} missed a mistake:\n{out}"


@pytest.mark.parametrize("name", ["Endpoint", "EditRequest"])
def test_the_static_signatures_name_every_field(name: str) -> None:
    """Endpoint and EditRequest spell out their __init__ for type checkers (a key as a str,
    images as paths); it must list exactly the model's fields."""
    import ast
    import inspect

    import seedless

    cls = getattr(seedless, name)
    tree = ast.parse(inspect.getsource(cls))
    init = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    params = {arg.arg for arg in init.args.kwonlyargs}
    assert params == set(cls.model_fields)
