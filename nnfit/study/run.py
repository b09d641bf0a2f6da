"""``nnfit study``: run the sweeps of the chosen sections, then write REPORT.md.

The sections are a fixed list (:data:`nnfit.study.sections.SECTIONS`), each naming the
files it reads from the experiments folder; a missing file is an error before anything
runs, never a silently missing section. Every file is validated (all its grid points)
before the first run starts. Finished runs of the same config are reused, so an
interrupted study continues where it stopped. Runs are written without their per-run
figures, which would take most of the study's time.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nnfit.experiment.rundir import write_json
from nnfit.study import report
from nnfit.study.view import Sweep
from nnfit.sweep import grid as sweep


class StudyError(ValueError):
    """A study that cannot run as asked: a missing file, an unknown section."""


@dataclass
class StudyResult:
    out: Path
    jobs: int
    sections: list[int]
    every_section: bool = True  # False when --only chose some
    kept: list[int] = field(default_factory=list)  # other sections, read from runs here
    left: list[str] = field(default_factory=list)  # why each other section with runs is not
    report: Path | None = None
    figures: list[Path] = field(default_factory=list)
    n_runs: int = 0
    n_reused: int = 0
    n_failed: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    report_s: float = 0.0
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    load: list[float] = field(default_factory=list)  # 1-minute load average after each sweep
    interrupted: bool = False


def parse_only(text: str | Sequence[int] | None) -> list[int] | None:
    """'1,4' → [1, 4]; None → None (every section). Every part a number, none twice."""
    from nnfit.study.sections import SECTIONS

    if text is None:
        return None
    from nnfit.experiment.points import cut, whole_numbers

    nums = whole_numbers(text) if isinstance(text, str) else list(text)
    if nums is None:
        raise StudyError(
            f"--only {cut(text)!r}: expected section numbers separated by commas, e.g. 1,4"
        )
    text = cut(text) if isinstance(text, str) else text
    known = [s.number for s in SECTIONS]
    twice = sorted({n for n in nums if nums.count(n) > 1})
    if twice:
        raise StudyError(f"--only {text}: section {twice[0]} is given twice")
    bad = [n for n in nums if n not in known]
    if bad or not nums:
        raise StudyError(
            f"--only {text}: no section {', '.join(map(str, bad)) or 'given'} "
            f"(sections: {', '.join(map(str, known))})"
        )
    return nums


def plan(experiments: Path, only: list[int] | None = None):
    """The sections to write and the files they need, in order; missing files are errors."""
    from nnfit.study.sections import SECTIONS

    chosen = [s for s in SECTIONS if only is None or s.number in only]
    folder = Path(experiments)
    if not folder.is_dir():  # not "FILE/1-adam.yaml and 3 more files missing"
        state = "not a folder" if folder.exists() else "no such folder"
        raise StudyError(
            f"--experiments {folder}: {state}; give the folder of the study's files "
            "(experiments/reproduce)"
        )
    files: dict[str, Path] = {}
    missing: dict[Path, list[int]] = {}
    for sec in chosen:
        for stem in sec.files:
            path = Path(experiments) / f"{stem}.yaml"
            if not path.is_file():
                missing.setdefault(path, []).append(sec.number)
            files.setdefault(stem, path)
    if missing:
        first, sections = next(iter(missing.items()))
        more = f" and {len(missing) - 1} more files" if len(missing) > 1 else ""
        raise StudyError(
            f"{first}{more} missing (needed by section {', '.join(map(str, sections))}): "
            "the study's files are listed in nnfit/study/sections.py"
        )
    return chosen, files


def _finished(experiments: Path, out: Path, others, sweeps: dict[str, Sweep]):
    """The sections of ``others`` whose every run is finished in ``out`` (their sweeps,
    read without training, go into ``sweeps``), and a line for each of the others that
    says why it is not: ``--only`` rewrites REPORT.md, which then still holds them."""
    kept, left = [], []
    for sec in others:
        try:
            why = _unfinished(experiments, out, sec, sweeps)
        except Exception as exc:  # a section not read is said, never fatal
            why = " ".join(str(exc).split()) or type(exc).__name__
            if not all((Path(experiments) / f"{s}.yaml").exists() for s in sec.files):
                why = ""  # not among the experiments given: nothing of it to read
        if why is None:
            kept.append(sec)
        elif why:
            left.append(f"section {sec.number} ({sec.title}): {why}")
    return kept, left


def _unfinished(experiments: Path, out: Path, sec, sweeps: dict[str, Sweep]) -> str | None:
    """Why section ``sec`` cannot be read from the runs in ``out`` ('' when none of it is
    there: nothing to keep), or None after reading its sweeps into ``sweeps``."""
    todo = {}
    for stem in sec.files:
        path = Path(experiments) / f"{stem}.yaml"
        if stem not in sweeps:
            todo[stem] = sweep.expand(path, out_root=out)
    points = [p for _, _, pts in todo.values() for p in pts]
    done = sum(sweep.is_done(p) for p in points)
    if not done and points and not any(f.exists() for f, _, _ in todo.values()):
        return ""
    if done < len(points):
        return (
            f"{len(points) - done:,} of its {len(points):,} runs are not in {out} as finished "
            "runs of its files as they stand"
        )
    for stem, (folder, grid, pts) in todo.items():
        r = sweep.run(folder, grid, pts, jobs=1, resume=True, plots=False)
        sweeps[stem] = Sweep(stem, folder, r.summary, pts, 0.0, 0.0)
    return None


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers (user + system)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(
    experiments: Path = Path("experiments/reproduce"),
    out: Path = Path("results/reproduce"),
    jobs: int = 2,
    only: list[int] | None = None,
    on_sweep: Callable[[str, Path, int], Callable | None] | None = None,
    on_swept: Callable[[Sweep], None] | None = None,
) -> StudyResult:
    """Run the chosen sections' sweeps and write ``<out>/REPORT.md``.

    ``on_sweep(stem, folder, n_points)`` is called before each sweep and may return an
    ``on_done(point, metrics, skipped)`` callback for its runs; ``on_swept(sweep)`` after.
    Raises :class:`StudyError` for a missing file and ``ConfigError`` for an invalid one.
    """
    from nnfit.study.sections import SECTIONS

    t0, c0 = time.perf_counter(), _cpu()
    out = Path(out)
    chosen, files = plan(experiments, only)
    expanded = {stem: sweep.expand(path, out_root=out) for stem, path in files.items()}
    for _, _, points in expanded.values():
        sweep.check_resources(points, jobs)
    every = len(chosen) == len(SECTIONS)
    res = StudyResult(out, jobs, [s.number for s in chosen], every_section=every)
    sweeps: dict[str, Sweep] = {}
    for stem, (folder, grid, points) in expanded.items():
        done = on_sweep(stem, folder, len(points)) if on_sweep else None
        t, c = time.perf_counter(), _cpu()
        r = sweep.run(folder, grid, points, jobs=jobs, resume=True, plots=False, on_done=done)
        s = Sweep(stem, folder, r.summary, points, time.perf_counter() - t, _cpu() - c)
        sweeps[stem] = s
        res.n_runs += len(points)
        res.n_reused += r.summary["n_reused"]
        res.n_failed += r.n_failed
        res.load.append(os.getloadavg()[0])
        if on_swept:
            on_swept(s)
        if r.interrupted:
            res.interrupted = True
            return res
    if only is not None:  # REPORT.md keeps the sections whose runs are all here already
        others = [s for s in SECTIONS if s not in chosen]
        kept, res.left = _finished(experiments, out, others, sweeps)
        chosen = sorted([*chosen, *kept], key=lambda sec: sec.number)
        res.kept = [s.number for s in kept]
    t_report = time.perf_counter()
    ctx = report.Context(sweeps, out)
    parts = [(sec, sec.write(ctx)) for sec in chosen]
    res.report_s = time.perf_counter() - t_report
    res.wall_s, res.cpu_s = time.perf_counter() - t0, _cpu() - c0
    res.figures = ctx.written
    intro = (
        "# The universal approximation theorem, by experiment\n\n"
        "Written by `nnfit study` (`make reproduce`). Every number below is read from the "
        "runs in this folder or computed from them; each section says what the theory "
        "predicts, what was measured, and the gap. Medians and bands are over seeds.\n"
    )
    note = report.closing_note(parts, sweeps, res)
    res.report = report.write(out, intro, parts, note)
    write_json(
        out / "study.json",
        {
            "sections": res.sections,
            "kept_sections": res.kept,
            "wall_s": res.wall_s,
            "cpu_s": res.cpu_s,
            "jobs": jobs,
            "n_runs": res.n_runs,
            "n_reused": res.n_reused,
            "n_failed": res.n_failed,
            "load_average": res.load,
            "sweeps": {
                k: {"folder": str(s.folder), "wall_s": s.wall_s, "cpu_s": s.cpu_s}
                for k, s in sweeps.items()
            },
            "headlines": {str(sec.number): part.headline for sec, part in parts},
        },
    )
    return res
