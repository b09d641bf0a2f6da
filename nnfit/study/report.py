"""The report writer: markdown tables, the figures' files, REPORT.md with its closing note.

A section writer gets a :class:`Context` (the sweeps by file stem, the output folder)
and returns a :class:`Part`: markdown blocks and a one-line headline for the closing
note. Figures go to ``<out>/figures/`` and are linked relative to REPORT.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nnfit.experiment.canvas import png
from nnfit.experiment.rundir import atomic_write
from nnfit.study.view import Sweep, fmt

FIGURES = "figures"


@dataclass
class Part:
    """A section's markdown blocks and its headline (one sentence of numbers)."""

    blocks: list[str]
    headline: str


@dataclass
class Context:
    sweeps: dict[str, Sweep]
    out: Path
    written: list[Path] = field(default_factory=list)

    def figure(self, name: str, fig, alt: str) -> str:
        """Write ``fig`` as ``figures/<name>.png``; the markdown line that shows it."""
        path = self.out / FIGURES / f"{name}.png"
        atomic_write(path, png(fig))
        self.written.append(path)
        return f"![{alt}]({FIGURES}/{name}.png)"


@dataclass(frozen=True)
class Section:
    """One section of the report: its number, title, the study files it reads (stems of
    ``<experiments>/<stem>.yaml``) and its writer."""

    number: int
    title: str
    files: tuple[str, ...]
    write: Callable[[Context], Part]


def table(header: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """A markdown table; numbers are formatted with :func:`fmt`, text is kept."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    gaps = False
    for row in rows:
        cells = [c if isinstance(c, str) else fmt(c) for c in row]
        gaps = gaps or any(c is None for c in row)
        lines.append("| " + " | ".join(cells) + " |")
    if gaps:  # say what a missing number means
        lines.append("\n— : not run at that setting (its grid stops earlier), or no run finished.")
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def closing_note(sections: list[tuple[Section, Part]], sweeps: dict[str, Sweep], study) -> str:
    """Time, runs and failures per section, the whole study's wall and CPU time, and each
    section's headline."""
    rows, counted = [], set()
    for sec, _ in sections:
        mine = [sweeps[s] for s in sec.files if s not in counted]
        counted.update(sec.files)
        runs = sum(s.summary["n_points"] for s in mine)
        rows.append(
            [
                f"{sec.number}. {sec.title}",
                runs if mine else "(runs of section 1)",
                sum(s.summary["n_reused"] for s in mine),
                sum(s.summary["n_failed"] for s in mine),
                f"{sum(s.wall_s for s in mine):.0f} s",
                f"{sum(s.cpu_s for s in mine):.0f} s",
            ]
        )
    head = ["section", "runs", "reused", "failed", "wall", "CPU (user + sys)"]
    out = [
        "## How this report was made\n",
        f"`nnfit study --jobs {study.jobs}{_only(study)}` ran {study.n_runs:,} runs "
        f"({study.n_reused:,} of them reused from an earlier run) in "
        f"{minutes(study.wall_s)} wall time, "
        f"{minutes(study.cpu_s)} of CPU time, on {study.cores} cores{_load(study)}; "
        f"{study.n_failed} runs failed. Drawing the figures and writing this report took "
        f"{study.report_s:.0f} s of it. Runs are written without their per-run figures "
        "(`nnfit run` on a run's config.yaml trains it again, to the same weights, and "
        "draws them in a folder of its own); every other result file is there.\n",
        table(head, rows, "lrrrrr") + "\n",
        *_kept(study),
        "Headlines:\n",
        *[f"- **{sec.number}.** {part.headline}" for sec, part in sections],
        "",
    ]
    return "\n".join(out)


def _kept(study) -> list[str]:
    """What ``--only`` left standing: the other sections read from the folder's runs."""
    out = []
    if study.kept:
        which = ", ".join(map(str, study.kept))
        one = len(study.kept) == 1
        out.append(
            f"Section{'' if one else 's'} {which} {'was' if one else 'were'} not run by this "
            "study: every run of them was already in this folder, and is read as it stands.\n"
        )
    if study.left:
        out.append("Not in this report: " + "; ".join(study.left) + ".\n")
    return out


def _only(study) -> str:
    """The --only of a study that wrote some sections, not all."""
    if study.every_section:
        return ""
    return " --only " + ",".join(map(str, study.sections))


def _load(study) -> str:
    """The machine's load beside the wall time: other processes slow a shared machine."""
    if not study.load:
        return ""
    mean = sum(study.load) / len(study.load)
    return f" (1-minute load average {mean:.1f} on average, {max(study.load):.1f} at most)"


def write(out: Path, intro: str, sections: list[tuple[Section, Part]], note: str) -> Path:
    parts = [intro]
    for sec, part in sections:
        parts.append(f"## {sec.number}. {sec.title}\n")
        parts += part.blocks
    parts.append(note)
    path = out / "REPORT.md"
    atomic_write(path, "\n".join(parts).encode())
    return path
