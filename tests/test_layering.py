"""The package's layers, checked on every import statement (function-local ones included).

    layers, data -> registry -> models -> analysis -> train -> tools -> cli

A module imports only from its own level or below; every subpackage not named below is a
tool (compress, transfer, visualize, experiments, seq, ...). Function-local imports are
allowed only for a measured start-up cost, with a comment containing "start-up" on the line
of the import or the line before it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cnnzoo"

LEVELS = {"layers": 0, "data": 0, "registry": 1, "models": 2, "analysis": 3, "train": 4, "cli": 6}
TOOLS = 5
RULE = "layers, data -> registry -> models -> analysis -> train -> tools -> cli"

# Known upward imports, (importing file, imported module): none are left; the set stays so that
# an owner who must add one says so here, and the test fails once it is gone.
KNOWN_UPWARD: set[tuple[str, str]] = set()

# Function-local imports that have no start-up comment yet, (importing file, imported module):
# none are left. The test fails on a stale entry, so the list can only shrink.
KNOWN_LOCAL: set[tuple[str, str]] = set()


def level(module: str) -> int:
    """Layer of a ``cnnzoo...`` module name."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        # The package itself is the public facade: it re-exports the registry and plugs the
        # transfer package's pretrained loader into create_model, so it sits with the CLI and
        # nothing below may import it.
        return LEVELS["cli"]
    return LEVELS.get(parts[1], TOOLS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        return [node.module or ""]
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return [".".join([*base, node.module] if node.module else base)]


def imports(path: Path, text: str | None = None) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import statement of a file."""
    tree = ast.parse(path.read_text() if text is None else text)
    local: set[int] = set()
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(
                id(n) for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))
            )
    importer = module_name(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for module in imported_modules(node, importer, path.name == "__init__.py"):
                found.append((node.lineno, module, id(node) in local))
    return sorted(found)


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def upward_imports() -> tuple[list[str], set[tuple[str, str]]]:
    problems, known_seen = [], set()
    for path in sources():
        importer = module_name(path)
        relative = path.relative_to(PACKAGE).as_posix()
        for line, module, _ in imports(path):
            if not module.startswith("cnnzoo") or level(module) <= level(importer):
                continue
            if (relative, module) in KNOWN_UPWARD:
                known_seen.add((relative, module))
                continue
            problems.append(
                f"{importer} (line {line}) imports {module}, a higher layer; the rule is {RULE}"
            )
    return problems, known_seen


def explanation(lines: list[str], line: int) -> str:
    """The import's own line and the comment block right above it."""
    text = [lines[line - 1]]
    above = line - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        text.append(lines[above])
        above -= 1
    return "\n".join(text)


def unexplained_local_imports() -> tuple[list[str], set[tuple[str, str]]]:
    problems, known_seen = [], set()
    for path in sources():
        lines = path.read_text().splitlines()
        relative = path.relative_to(PACKAGE).as_posix()
        for line, module, local in imports(path):
            if not local or "start-up" in explanation(lines, line):
                continue
            if (relative, module) in KNOWN_LOCAL:
                known_seen.add((relative, module))
                continue
            problems.append(
                f"{module_name(path)} (line {line}) imports {module} inside a function; import "
                "it at the top, or say on or above that line which measured start-up cost it saves"
            )
    return problems, known_seen


def test_no_module_imports_from_a_higher_layer() -> None:
    problems, known_seen = upward_imports()
    assert problems == []
    assert KNOWN_UPWARD - known_seen == set(), "stale KNOWN_UPWARD entries: delete them"


def test_function_local_imports_say_which_start_up_cost_they_save() -> None:
    problems, known_seen = unexplained_local_imports()
    assert problems == []
    assert KNOWN_LOCAL - known_seen == set(), "stale KNOWN_LOCAL entries: delete them"


@pytest.mark.parametrize(
    ("module", "expected"),
    [("cnnzoo.layers", 0), ("cnnzoo.models.vgg", 2), ("cnnzoo.compress.separable", 5),
     ("cnnzoo.cli.zoo", 6), ("cnnzoo", 6), ("cnnzoo.__main__", 6)],
)  # fmt: skip
def test_levels(module: str, expected: int) -> None:
    assert level(module) == expected


def test_the_walk_sees_function_local_and_relative_imports() -> None:
    # The checker itself: a function-local upward import is found, with or without comment.
    path = PACKAGE / "analysis" / "example.py"
    source = "def f():\n    # start-up: x\n    # more\n    from cnnzoo.train import fit\n"
    assert imports(path, source) == [(4, "cnnzoo.train", True)]
    assert "start-up" in explanation(source.splitlines(), 4)
    assert "start-up" not in explanation(["# start-up", "x = 1", "import torch"], 3)
    relative = ast.parse("from ..train import fit").body[0]
    assert isinstance(relative, ast.ImportFrom)
    assert imported_modules(relative, "cnnzoo.analysis.example", False) == ["cnnzoo.train"]
