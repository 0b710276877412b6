"""Layers import downward only: errors -> models/capabilities -> providers -> client ->
strategies -> batch -> cli (the emulators in seedless.testing sit on top, beside the CLI).

Every import of a seedless module counts, at module level, inside a function, or under
TYPE_CHECKING: a lower layer that needs a higher one has its code in the wrong place.

Imports sit at the top of their module. One inside a function is allowed only to keep
``import seedless`` light (numpy, httpx, provider SDKs, tqdm ...) or ``seedless --help`` quick
(what a subcommand needs, loaded when it runs), and says so on its line: ``# lazy: <reason>``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Module prefixes and their layer; the longest matching prefix wins.
LAYERS: dict[str, int] = {
    "seedless.errors": 0,
    "seedless._version": 0,
    "seedless._parallel": 0,
    "seedless._progress": 0,
    "seedless._logs": 0,
    "seedless._dirs": 0,
    # models / capabilities: data, the matrix and its rules, configuration, pure helpers
    "seedless.models": 1,
    "seedless.images": 1,
    "seedless.effects": 1,
    "seedless.capabilities": 1,
    "seedless._specs": 1,
    "seedless._matrix": 1,
    "seedless._validate": 1,
    "seedless._requests": 1,
    "seedless._models_toml": 1,
    "seedless._registry": 1,
    "seedless.matrix_doc": 1,
    "seedless.config": 1,
    "seedless.retry": 1,
    "seedless.cache": 1,
    "seedless.providers": 2,
    "seedless.client": 3,
    "seedless._engine": 3,
    "seedless._calls": 3,
    "seedless.drift": 3,
    "seedless.strategies": 4,
    "seedless.batch": 5,
    "seedless.cli": 6,
    "seedless.__main__": 6,
    "seedless.testing": 6,
}
NAMES = ["errors", "models/capabilities", "providers", "client", "strategies", "batch", "cli"]
#: The one upward reference allowed, type-only (under TYPE_CHECKING), and why.
TYPE_ONLY = {
    ("seedless.errors", "seedless.models"): "SeedlessError.partial is typed as ImageResults",
}


def layer_of(module: str) -> int | None:
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_only_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every seedless import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "seedless" or target.startswith("seedless."):
                if target in ("seedless", package) and not node.module:  # from . import x
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                else:
                    found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name)
                for alias in node.names
                if alias.name.startswith("seedless")
            ]
    return found


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports of ``module`` that reach a higher layer, in words."""
    own = layer_of(module)
    assert own is not None, f"{module} has no layer: add it to LAYERS"
    problems = []
    type_only = _type_only_lines(ast.parse(source))
    for line, target in imported_modules(source, module, is_package):
        theirs = layer_of(target)
        if (module, target) in TYPE_ONLY and line in type_only:
            continue
        if theirs is not None and theirs > own:
            problems.append(
                f"{module}:{line} imports {target} ({NAMES[theirs]}) from the lower "
                f"layer {NAMES[own]}"
            )
    return problems


def library_modules() -> list[tuple[Path, str]]:
    return [
        (path, module_name(path))
        for path in sorted((SRC / "seedless").rglob("*.py"))
        if module_name(path) != "seedless"  # the package facade re-exports every layer
    ]


@pytest.mark.parametrize(("path", "module"), library_modules(), ids=lambda v: str(v))
def test_no_module_imports_a_higher_layer(path: Path, module: str) -> None:
    assert layer_of(module) is not None, f"{module} has no layer: add it to LAYERS"
    source = path.read_text(encoding="utf-8")
    assert upward_imports(source, module, path.name == "__init__.py") == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("seedless.models", "from .client import AsyncClient\n"),
        ("seedless.models", "def f():\n    from .strategies.recipe import Recipe\n"),
        ("seedless.providers.openai", "from ..client import Client\n"),
        (
            "seedless.client",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from .batch.runner import BatchReport\n",
        ),
        ("seedless.strategies.best_of", "import seedless.batch.runner\n"),
        ("seedless.capabilities", "from . import client\n"),
    ],
)
def test_an_upward_import_fails_the_check(module: str, source: str) -> None:
    assert upward_imports(source, module) != []


def test_the_type_only_exception_is_type_only() -> None:
    at_run_time = "from .models import ImageResult\n"
    assert upward_imports(at_run_time, "seedless.errors") != []
    typed = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .models import ImageResult\n"
    )
    assert upward_imports(typed, "seedless.errors") == []


def test_downward_imports_pass_the_check() -> None:
    source = "from ..client import AsyncClient\nfrom ..errors import SeedlessError\n"
    assert upward_imports(source, "seedless.strategies.best_of") == []


# ------------------------------------------------------------------ function-level imports

#: ``# lazy:`` followed by the reason, in a comment on the import's (first) line.
LAZY = re.compile(r"#\s*lazy:\s*\w")


def _function_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports anywhere inside a ``def`` (also in a class or function nested in one)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment on that line (comments only, never text in strings)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}


def unexplained_lazy_imports(source: str, name: str) -> list[str]:
    """The imports inside functions of ``source`` that do not say why they wait, in words."""
    comments = _comments(source)
    return [
        f"{name}:{node.lineno}: `{ast.unparse(node)}` inside a function: move it to the top of "
        "the module, or end its line with `# lazy: <reason>` if it must wait"
        for node in _function_level_imports(ast.parse(source))
        if not LAZY.search(comments.get(node.lineno, ""))
    ]


def test_every_function_level_import_says_why_it_waits() -> None:
    problems = []
    for path in sorted((SRC / "seedless").rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        problems += unexplained_lazy_imports(path.read_text(encoding="utf-8"), name)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def f():\n    import numpy as np\n", 2),
        ("async def f():\n    from ..errors import SeedlessError\n", 2),
        ("class C:\n    def m(self):\n        def inner():\n            import httpx\n", 4),
        ("def f():\n    import numpy  # lazy:\n", 2),  # no reason given
        ("def f():\n    import numpy  # fast\n", 2),
        # the comment goes on the first line, not the last
        ("def f():\n    from PIL import (\n        Image,\n    )  # lazy: PIL\n", 2),
        ('def f():\n    import numpy; x = "# lazy: numpy"\n', 2),  # a string, not a comment
    ],
)
def test_an_unexplained_function_level_import_fails_the_check(source: str, line: int) -> None:
    problems = unexplained_lazy_imports(source, "seedless/x.py")
    assert len(problems) == 1 and problems[0].startswith(f"seedless/x.py:{line}: `")


@pytest.mark.parametrize(
    "source",
    [
        "import numpy\n\ndef f():\n    return numpy\n",
        "def f():\n    import numpy as np  # lazy: numpy, kept out of `import seedless`\n",
        "def f():\n    from PIL import (  # lazy: PIL plugins\n        TiffImagePlugin,\n    )\n",
        "class C:\n    import json\n",  # a class body is not a function
    ],
)
def test_top_level_and_explained_imports_pass_the_check(source: str) -> None:
    assert unexplained_lazy_imports(source, "seedless/x.py") == []
