"""Every Python block of the README and of the site's pages runs verbatim and prints what they show.

The pages: README.md, the documentation's first page (docs/index.md, whose tour must stay
within 15 lines), Getting started and every page of the user guide (docs/guide/*.md), where
the README's long sections moved.

Each ```python block is written to a file in an empty folder outside the repository and run as
a script there with this interpreter (so `fastrep` is the installed package, and a block that
starts processes needs its ``if __name__ == "__main__":`` guard, as a user's script would).
When the block is followed directly by an output block (a plain ``` fence), the printed output
must match it: text exactly (whitespace aside), numbers at the precision printed (one unit of
the last printed digit, so a value on a rounding boundary may round either way), except
timings (a number followed by s, ms, µs or min), which are not compared.

A block preceded by ``<!-- readme: slow -->`` (one that takes over a minute) runs with
``-m slow``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, DOCS / "index.md", DOCS / "getting-started.md", *sorted((DOCS / "guide").glob("*.md"))]

_FENCE = re.compile(r"^```(\w*)\s*$")
# 1,234.5 (thousands separators only in groups of three, so a tuple "(2,0)" is two numbers)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TIMING = re.compile(r"\s*(?:s|ms|µs|us|min|seconds?|minutes?)\b")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    output: str | None
    slow: bool


def readme_blocks(text: str) -> list[Block]:
    """The Python blocks of ``text`` with the output block that follows each (if any)."""
    lines = text.splitlines()
    fences = []  # (start, end, lang, marker line before)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            before = lines[k].strip() if k >= 0 else ""
            fences.append((i, j, m.group(1), before))
            i = j + 1
        else:
            i += 1
    blocks = []
    for idx, (start, end, lang, before) in enumerate(fences):
        if lang != "python":
            continue
        code = "\n".join(lines[start + 1 : end]) + "\n"
        output = None
        if idx + 1 < len(fences):
            nstart, nend, nlang, _ = fences[idx + 1]
            between = lines[end + 1 : nstart]
            if nlang in ("", "text") and all(not b.strip() for b in between):
                output = "\n".join(lines[nstart + 1 : nend]) + "\n"
        blocks.append(Block(start + 1, code, output, before == "<!-- readme: slow -->"))
    return blocks


def _split(text: str):
    """(text without numbers and whitespace, [(number text, is a timing)])."""
    numbers, rest, pos = [], [], 0
    for m in _NUMBER.finditer(text):
        if not any(c.isdigit() for c in m.group()):
            continue
        rest.append(text[pos : m.start()])
        numbers.append((m.group(), bool(_TIMING.match(text, m.end()))))
        pos = m.end()
    rest.append(text[pos:])
    return re.sub(r"\s+", "", "".join(rest)), numbers


def _unit(printed: str) -> float:
    """One unit of the last printed digit of ``printed`` ("0.377" -> 1e-3, "8.9e-05" -> 1e-6)."""
    mant, _, exp = printed.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (-decimals + (int(exp) if exp else 0))


def compare(expected: str, actual: str) -> list[str]:
    """What differs between the README's output and the block's, as readable lines."""
    e_text, e_nums = _split(expected)
    a_text, a_nums = _split(actual)
    problems = []
    if e_text != a_text:
        problems.append(f"text differs:\n--- README\n{expected}\n--- printed\n{actual}")
        return problems
    if len(e_nums) != len(a_nums):
        return [f"{len(e_nums)} numbers in the README, {len(a_nums)} printed:\n{actual}"]
    for (e, timing), (a, _) in zip(e_nums, a_nums, strict=True):
        if timing:
            continue
        ev, av = float(e.replace(",", "")), float(a.replace(",", ""))
        if abs(ev - av) > _unit(e.replace(",", "")) * 1.000001:
            problems.append(f"README prints {e}, the block printed {a}")
    return problems


BLOCKS = readme_blocks(README.read_text())
PAGE_BLOCKS = [(page.relative_to(ROOT).as_posix(), b)
               for page in PAGES for b in readme_blocks(page.read_text())]


def test_the_readme_has_python_blocks_with_outputs():
    assert len(BLOCKS) >= 1
    assert any(b.output for b in BLOCKS)


def test_the_home_page_tour_fits_15_lines_and_getting_started_repeats_it():
    tour = readme_blocks((DOCS / "index.md").read_text())
    assert len(tour) == 1 and tour[0].output, "docs/index.md holds one tour with its printed output"
    assert len(tour[0].code.strip().splitlines()) <= 15
    assert "OneStepNetwork" in tour[0].code and "OracleRegressor" in tour[0].code
    assert "NTKRegressor" in tour[0].code
    again = readme_blocks((DOCS / "getting-started.md").read_text())
    assert [(b.code, b.output) for b in again] == [(tour[0].code, tour[0].output)]


def test_compare_works_at_the_printed_precision():
    assert compare("x = 0.377 [1.0e-10] 27\n", "x = 0.3772 [1.04e-10] 28\n") == []
    assert compare("took 3.2 s, 12 ms\n", "took 9.9 s, 1 ms\n") == []  # timings are not compared
    assert compare("0.377\n", "0.380\n")  # 3 units off
    assert compare("a 1\n", "b 1\n")  # text
    assert compare("1 2\n", "1\n")  # count
    assert compare("{(2, 0): 0.418}\n", "{(2,0):0.4185}\n") == []


@pytest.mark.parametrize(
    "page, block",
    [pytest.param(page, b, id=f"{page}:{b.line}", marks=[pytest.mark.slow] if b.slow else [])
     for page, b in PAGE_BLOCKS],
)
def test_readme_block(page, block, tmp_path_factory):
    where = tmp_path_factory.mktemp("readme")  # empty, outside the repository
    assert ROOT not in where.parents
    script = where / "block.py"
    script.write_text(block.code)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["PYTHONWARNINGS"] = "error::DeprecationWarning"  # what a user sees must not be deprecated
    res = subprocess.run([sys.executable, str(script)], cwd=where, capture_output=True, text=True, env=env,
                         timeout=1800)
    assert res.returncode == 0, f"{page}:{block.line} failed:\n{res.stderr[-4000:]}"
    if block.output is not None:
        problems = compare(block.output, res.stdout)
        assert not problems, f"{page}:{block.line}:\n" + "\n".join(problems)


def test_modules_the_readme_names_load_on_first_use():
    """`fastrep.ridge.lambda_grid()` and `fastrep.metrics.excess_error` work after a bare `import fastrep`."""
    code = "import fastrep; print(len(fastrep.ridge.lambda_grid()), callable(fastrep.metrics.excess_error))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["100", "True"]
