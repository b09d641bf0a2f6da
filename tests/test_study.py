"""make reproduce's report: runs the sweeps it finds and writes their sections."""

from pathlib import Path

from nnfit.study import report as study

DEPTH = """
name: 5-depth
target: {expr: "sin(4*pi*x)"}
data: {n_train: 64, n_val: 16, n_test: 300}
model: {hidden: [10], activation: tanh}
training: {optimizer: {name: lm}, epochs: 5}
sweep:
  grid:
    model.hidden: [[10], [3, 3]]
    training.seed: [0, 1]
"""

STEP = """
name: 3-step
target: {expr: "heaviside(sin(6*pi*x), 0)"}
data: {n_train: 64, n_val: 16, n_test: 300}
model: {hidden: [4], activation: tanh}
training: {optimizer: {name: adam, lr: 0.01}, epochs: 5}
sweep:
  grid:
    model.hidden: [[1], [2], [4]]
    training.seed: [0, 1]
"""


def test_report_sections_figures_and_numbers(tmp_path):
    exps = tmp_path / "exps"
    exps.mkdir()
    (exps / "5-depth.yaml").write_text(DEPTH)
    (exps / "3-step.yaml").write_text(STEP)
    out = tmp_path / "out"
    assert study.main(["--experiments", str(exps), "--out", str(out), "--jobs", "1"]) == 0
    report = (out / "REPORT.md").read_text()
    assert "## 3. A discontinuous target" in report and "## 5. Depth" in report
    assert report.index("## 3.") < report.index("## 5.")
    for line in report.splitlines():
        if line.startswith("!["):
            assert (out / line.split("](")[1].rstrip(")")).exists()
    assert "| [3, 3] | 22 |" in report  # 1-3-3-1: 6 + 12 + 4 parameters
    assert "Wall time of this study" in report and "0 runs failed" in report
    again = (out / "REPORT.md").stat().st_mtime_ns
    assert study.main(["--experiments", str(exps), "--out", str(out)]) == 0  # resumes
    assert Path(out / "REPORT.md").stat().st_mtime_ns >= again
