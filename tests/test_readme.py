"""README's "nnfit from Python" section: every python block runs and prints exactly the
text block shown under it, and writes nothing."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## nnfit from Python"


def examples() -> list[tuple[str, str, str]]:
    """(title, code, expected output) for each python block of the section, in order."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else None]
    out = []
    pattern = r"### (.+?)\n(?:(?!### ).)*?```python\n(.*?)```\n\s*```text\n(.*?)```"
    for title, code, expected in re.findall(pattern, section, flags=re.S):
        out.append((title, code, expected))
    return out


def run_block(code: str) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    return buf.getvalue()


def test_the_section_has_its_four_examples():
    titles = [t for t, _, _ in examples()]
    assert titles == [
        "Fit a target, read the metrics, draw the figure",
        "A scikit-learn estimator",
        "Backpropagation is reverse-mode automatic differentiation",
        "The engine alone",
    ]
    text = README.read_text()
    section = text[text.index(SECTION) :]
    # every python block of the section is one of them
    assert section.split("\n## ")[0].count("```python") == 4


@pytest.mark.parametrize("title,code,expected", examples(), ids=lambda v: str(v)[:20])
def test_the_example_prints_what_readme_shows(title, code, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_block(code) == expected
    assert list(tmp_path.iterdir()) == []


def test_the_printed_derivatives_are_the_hand_formulas():
    # the tape's column and the hand formula's agree in every printed digit
    title, _, out = examples()[2]
    assert title.startswith("Backpropagation")
    rows = re.findall(r"tape ([-+.\d]+)\s+by hand ([-+.\d]+)", out)
    assert len(rows) == 4 and all(a == b for a, b in rows)
