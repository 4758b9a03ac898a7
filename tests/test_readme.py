"""Every example in README.md runs, and prints what the README says it prints.

Which fenced blocks are run (new README sections are picked up by the same rule):

* ```` ```python ```` blocks. A block of ``>>>`` lines is checked like a doctest (``...`` in the
  expected text matches anything; an expected ``SomeError: message`` means that exception).
  Any other Python block is executed as a script (its comments are not checked).
* Blocks whose lines start with ``$ ``: each ``$ cnnzoo ...`` command runs through
  :func:`cnnzoo.cli.main` with stdout and stderr captured, and its output must equal the
  lines that follow it in the README, byte for byte; where the README elides lines with a
  ``...`` line, the parts around it must appear in order. Commands in ``SKIPPED`` (timings,
  trainings) and other programs (``$ make ...``) are reported as skipped with the reason.
* Other blocks (plain command lists, layouts) only illustrate and are not run.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnnzoo.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

SKIPPED = {
    "bench": "measures speed on this machine: its figures differ on every run",
    "train": "a training run on real data (tens of seconds to minutes)",
    "demo": "trains LeNet-5 for 30 epochs and prints timings",
    "evaluate": "needs a trained run folder",
    "predict": "needs a trained run folder",
    "finetune": "fine-tunes a trained run on real data",
    "neighbors": "needs a trained run folder and real data",
    "visualize": "needs a trained run folder and real data",
    "compress": "trains through the Deep Compression pipeline (minutes)",
    "export": "needs a compressed run folder",
    "experiment": "trains the experiment's runs (minutes)",
    "lm": "trains language models",
    "sweep": "trains the sweep's trials",
}


@dataclass
class Block:
    line: int
    lang: str
    text: str


@dataclass
class Command:
    line: int
    argv: list[str]
    expected: list[str]


def blocks(text: str) -> list[Block]:
    found, current, start, lang = [], None, 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if current is None:
                current, start, lang = [], number, line[3:].strip()
            else:
                found.append(Block(start, lang, "\n".join(current)))
                current = None
        elif current is not None:
            current.append(line)
    return found


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    for offset, line in enumerate(block.text.splitlines(), 1):
        if line.startswith("$ "):
            found.append(Command(block.line + offset, shlex.split(line[2:]), []))
        elif found:
            found[-1].expected.append(line)
    return found


def readme_examples() -> list[pytest.param]:  # type: ignore[valid-type]
    params = []
    for block in blocks(README.read_text()):
        if block.lang == "python":
            params.append(pytest.param(block, id=f"python-line{block.line}"))
            continue
        for command in commands(block):
            label = "-".join(command.argv[:2])
            params.append(pytest.param(command, id=f"{label}-line{command.line}"))
    return params


def matches(expected: list[str], actual: list[str]) -> bool:
    """Equal, or, where ``expected`` has ``...`` lines, its parts found in order."""
    if "..." not in [line.strip() for line in expected]:
        return expected == actual
    parts: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == "...":
            parts.append([])
        else:
            parts[-1].append(line)
    position = 0
    for part in parts:
        while (
            position + len(part) <= len(actual) and actual[position : position + len(part)] != part
        ):
            position += 1
        if position + len(part) > len(actual):
            return False
        position += len(part)
    return True


def run_cli(argv: list[str], tmp_path: Path) -> list[str]:
    if "--plot" in argv:  # write the chart to a temporary file, not over docs/
        argv = [str(tmp_path / "plot.png") if a.endswith(".png") else a for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(argv)
    return (out.getvalue() + err.getvalue()).splitlines()


def run_doctest(block: Block) -> None:
    namespace: dict[str, object] = {}
    checker = doctest.OutputChecker()
    for example in doctest.DocTestParser().get_examples(block.text):
        where = f"README.md line {block.line + example.lineno + 1}: {example.source.strip()}"
        error = re.match(r"(\w+(?:Error|Exception)): ", example.want)
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code = compile(example.source, "README.md", "single")
                exec(code, namespace)
        except Exception as raised:
            got = f"{type(raised).__name__}: {raised}\n"
            assert error, f"{where} raised {got}"
            assert checker.check_output(example.want, got, doctest.ELLIPSIS), f"{where}: {got}"
            continue
        assert not error, f"{where} did not raise {error.group(1) if error else ''}"
        got = out.getvalue()
        assert checker.check_output(example.want, got, doctest.ELLIPSIS), (
            f"{where}: expected {example.want!r}, got {got!r}"
        )


@pytest.mark.parametrize("example", readme_examples())
def test_readme_example(example: Block | Command, tmp_path: Path) -> None:
    if isinstance(example, Block):
        if ">>>" in example.text:
            run_doctest(example)
        else:
            exec(compile(example.text, f"README.md line {example.line}", "exec"), {})
        return
    program, *argv = example.argv
    if program != "cnnzoo":
        pytest.skip(f"`{program}` is not run by the tests (the README's set-up command)")
    if argv and argv[0] in SKIPPED:
        pytest.skip(f"`cnnzoo {argv[0]}`: {SKIPPED[argv[0]]}")
    expected = [
        line.replace("docs/efficiency.png", str(tmp_path / "plot.png")) for line in example.expected
    ]
    actual = run_cli(argv, tmp_path)
    assert matches(expected, actual), "\n".join(
        [
            f"README.md line {example.line}: output differs",
            "--- README",
            *expected,
            "--- actual",
            *actual,
        ]
    )


def test_the_runner_finds_and_checks_examples() -> None:
    # The rule itself: commands are found with their output, and "..." elides lines.
    text = "x\n```\n$ cnnzoo list 'a*'\nA\nB\n$ make demo\n```\n```python\n>>> 1 + 1\n2\n```\n"
    found = blocks(text)
    assert [b.lang for b in found] == ["", "python"]
    cmds = commands(found[0])
    assert [(c.line, c.argv, c.expected) for c in cmds] == [
        (3, ["cnnzoo", "list", "a*"], ["A", "B"]),
        (6, ["make", "demo"], []),
    ]
    assert matches(["A", "...", "D"], ["A", "B", "C", "D"])
    assert not matches(["A", "...", "E"], ["A", "B", "C", "D"])
    assert not matches(["A", "B"], ["A", "B", "C"])
    run_doctest(found[1])
    with pytest.raises(AssertionError):
        run_doctest(Block(1, "python", ">>> 1 + 1\n3\n"))
