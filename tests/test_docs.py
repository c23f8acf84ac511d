"""The how-tos are executable: each page's ```python blocks, run in order, form one script.

The example on the manual's front page is run the same way. Code fences without the ``python`` tag
(fragments in the concept pages) are not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
HOWTO_DIR = TESTS_DIR.parent / "docs" / "howto"
HOWTOS = sorted(HOWTO_DIR.glob("*.md"))
# Material pages carry short runnable examples too.
PAGES = HOWTOS + sorted((HOWTO_DIR.parent / "materials").glob("*.md")) + [HOWTO_DIR.parent / "index.md"]
# Pages whose examples take a minute or more to compile run with the benchmarks (-m benchmark).
SLOW_PAGES = {"howto/vacancy_formation_energy.md", "howto/custom_energy.md", "howto/borehole.md"}


# An opening fence of exactly ```python at the start of a line, up to the next closing fence.
_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown page, in order."""
    return _PYTHON_BLOCK.findall(text)


def script_of(page: Path) -> str:
    """One page's python blocks joined into a script.

    Everything outside the blocks becomes blank lines, so a traceback's line numbers are those of
    the Markdown page.
    """
    text = page.read_text(encoding="utf-8")
    script, line = [], 1
    for match in _PYTHON_BLOCK.finditer(text):
        start = text.count("\n", 0, match.start(1)) + 1
        script.append("\n" * (start - line) + match.group(1))
        line = start + match.group(1).count("\n")
    return "".join(script)


def test_howtos_exist():
    assert HOWTOS, f"no how-to pages found in {HOWTO_DIR}"


def test_block_extraction():
    page = "text\n```python\na = 1\n```\nmore\n```bash\nls\n```\n```python\nb = a + 1\n```\n"
    assert python_blocks(page) == ["a = 1\n", "b = a + 1\n"]


def test_script_keeps_line_numbers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```python\na = 1\n```\n\nText.\n\n```python\nb = a + 1\n```\n")
    lines = script_of(page).splitlines()
    assert lines[3] == "a = 1" and lines[9] == "b = a + 1"


DOCS_DIR = HOWTO_DIR.parent


@pytest.mark.parametrize("page", [
    pytest.param(p, id=p.relative_to(DOCS_DIR).as_posix(),
                 marks=[pytest.mark.benchmark] if p.relative_to(DOCS_DIR).as_posix() in SLOW_PAGES
                 else []) for p in PAGES])
def test_page_runs(page: Path):
    import jax

    source = script_of(page)
    assert source.strip(), f"{page.name} has no ```python blocks"
    code = compile(source, str(page), "exec")
    x64 = jax.config.jax_enable_x64  # pages switch float64 on; leave the session as it was
    try:
        exec(code, {"__name__": "__main__", "__file__": str(page)})
    finally:
        jax.config.update("jax_enable_x64", x64)
