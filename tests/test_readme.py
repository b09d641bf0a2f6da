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


def test_the_worked_example_says_what_make_run_gives():
    # the figures and the folder README quotes for experiments/quick.yaml, measured again
    import nnfit
    from nnfit.api import experiment

    text = README.read_text()
    part = text[text.index("## A worked example") : text.index("## Commands")]
    exp = experiment(README.parent / "experiments" / "quick.yaml")
    assert f"results/quick-sine/{exp.run_id()}" in part
    assert part.count("w64-tanh-adam-s0-") == part.count(exp.run_id())
    said = re.search(
        r"after about ([\d,]+) epochs \(([\d.]+) s of training\), its weights those\s+of "
        r"epoch ([\d,]+) \(the best validation loss; the table's caption says so\), with a "
        r"test RMS\s+error of ([\d.e-]+) and a sup-norm error of ([\d.e-]+)",
        part,
    )
    assert said, "the worked example's sentence of figures"
    m = nnfit.run(README.parent / "experiments" / "quick.yaml").metrics
    epochs, _, best, rmse, sup = said.groups()
    assert abs(m["epochs"] - int(epochs.replace(",", ""))) <= 0.1 * m["epochs"]
    assert abs(m["best_epoch"] - int(best.replace(",", ""))) <= 0.1 * m["epochs"]
    assert float(rmse) == pytest.approx(m["test"]["rmse"], rel=0.06)
    assert float(sup) == pytest.approx(m["test"]["max_abs"], rel=0.06)
