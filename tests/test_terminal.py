"""The terminal can never cost a run, and Ctrl-C during the final write loses nothing.

A closed pipe, a full stdout or an encoding without the characters end the display, not
the work; commands whose output is their product say so in one line and exit 2. A rerun
that is interrupted (twice, with stdout closed or full) leaves the earlier finished
folder byte for byte as it was; a third Ctrl-C may abort a write, and the folder then
says interrupted.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY

from nnfit.experiment import config, shield
from nnfit.experiment import rundir as results
from nnfit.experiment import runner as experiment

ROOT = Path(__file__).resolve().parents[1]
# no figures in these subprocesses (see nofigures/sitecustomize.py): they cost seconds
NOFIGURES = ROOT / "tests" / "nofigures"
ENV = {**os.environ, "PYTHONPATH": f"{NOFIGURES}{os.pathsep}{ROOT}", "COLUMNS": "100"}
# about a second of training: long enough to interrupt it at its start
SLOW = TINY.replace("epochs: 20", "epochs: 3000, early_stopping: null").replace(
    "name: tiny", "name: slow"
)


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def nnfit(*args, stdout=subprocess.PIPE, env=ENV, sigint_ignored=False):
    return subprocess.Popen(
        [sys.executable, "-m", "nnfit", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out or "", err


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones included) with its bytes."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def whole(root: Path) -> list:
    """Every run under root agrees with itself; returns their metrics."""
    runs = results.find_runs(root)
    for run in runs:
        assert results.check_run(run) is None, run
    assert not [p for p in root.rglob(".*")], "no hidden leftovers"
    return [results.load_metrics(run) for run in runs]


def no_traceback(err: str):
    assert "Traceback" not in err and "Exception ignored" not in err, err


# ----------------------------------------------------------------- output that fails


def test_run_with_stdout_closed_mid_run_finishes_and_writes_everything(write, tmp_path):
    out = tmp_path / "res"
    proc = nnfit("run", write(SLOW), "--out", out)
    assert "slow: epoch" in proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    code, _, err = finish(proc)
    assert code == 0, err
    no_traceback(err)
    assert err == ""  # a reader that went away is not worth a word
    (m,) = whole(out)
    assert m["status"] == "ok" and m["epochs"] == 3000


def test_run_into_a_full_stdout_is_recorded_ok_with_one_note(write, tmp_path):
    out = tmp_path / "res"
    with open("/dev/full", "w") as full:
        code, _, err = finish(nnfit("run", write(TINY), "--out", out, stdout=full))
    assert code == 0, err
    no_traceback(err)
    assert err.splitlines() == [
        "note: cannot write to stdout (No space left on device); progress is no longer "
        "shown, the work goes on",
        "note: the output could not be written (No space left on device); the results are saved",
    ]
    (m,) = whole(out)
    assert m["status"] == "ok"


def closed(*args, streams: str, env=ENV, cwd=None):
    """Run nnfit with the standard streams named in ``streams`` closed (``>&-``)."""
    fds = {"stdin": 0, "stdout": 1, "stderr": 2}
    argv = " ".join(f"'{a}'" for a in map(str, args))
    shut = " ".join(f"{fds[s]}>&-" if s != "stdin" else "0<&-" for s in streams.split())
    cmd = f"exec '{sys.executable}' -m nnfit {argv} {shut}"
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=env, cwd=cwd)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("streams", ["stdout", "stdout stderr", "stdin stdout stderr"])
def test_run_started_with_its_streams_closed_trains_and_saves(streams, write, tmp_path):
    out = tmp_path / "res"
    code, err = closed("run", write(TINY), "--out", out, streams=streams)
    assert code == 0, err
    no_traceback(err)
    if "stderr" not in streams:
        assert err.splitlines() == [
            "note: the output could not be written (stdout is closed); the results are saved"
        ]
    (m,) = whole(out)
    assert m["status"] == "ok" and m["epochs"] == 20
    # nothing meant for the terminal went into a result file opened on descriptor 1
    for path in out.rglob("*.json"):
        json.loads(path.read_text())


def test_predict_with_stdout_closed_is_exit_2_in_one_line(made_run):
    code, err = closed("predict", made_run, "--x", "0.5", streams="stdout")
    assert code == 2
    assert err.splitlines() == ["error: cannot write the output: stdout is closed"]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["run", "--help"]])
def test_help_and_version_with_stdout_closed_are_exit_2_in_one_line(args):
    # click drops what it writes to a closed stdout without a word: exit 0, nothing shown
    code, err = closed(*args, streams="stdout")
    assert code == 2
    assert err.splitlines() == ["error: cannot write the output: stdout is closed"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["run", "nothing.yaml"], "error: nothing.yaml: no such file"),
        (["report", "nothing"], "error: nothing: no such folder"),
        ([], "error: cannot write the output: stdout is closed"),
    ],
)
def test_bad_input_with_stdout_closed_is_one_line(args, line, tmp_path):
    # a second line followed: "note: … the results are saved" where nothing was, or
    # "cannot write the output" after the error; plain `nnfit` said nothing at all
    code, err = closed(*args, streams="stdout", cwd=tmp_path)
    assert code == 2
    assert err.splitlines() == [line]


def test_version_is_the_package_version():
    import tomllib

    meta = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "nnfit", "--version"], capture_output=True, text=True, env=ENV
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"nnfit {meta['project']['version']}\n"


def test_predict_from_a_closed_stdin_says_so(made_run):
    # said "/dev/stdin: no points in the file"
    code, err = closed("predict", made_run, "--csv", "-", streams="stdin")
    assert code == 2
    assert err.splitlines() == [
        "error: --csv -: stdin is closed; pipe the points in, or give a file"
    ]


def test_predict_into_a_file_with_stdout_closed_keeps_exit_0(made_run, tmp_path):
    # the file is the product: it was written, and exit 2 said it was not
    out = tmp_path / "p.csv"
    code, err = closed("predict", made_run, "--x", "0.5", "--out", out, streams="stdout")
    assert code == 0, err
    assert err.splitlines() == [
        "note: the output could not be written (stdout is closed); the results are saved"
    ]
    assert out.read_text().splitlines()[1].startswith("0.5,")


SWEEP = """
name: sw
target: {name: sine}
data: {n_train: 32, n_val: 8, n_test: 100}
model: {hidden: [2], activation: tanh}
training: {epochs: 10, batch_size: 8, optimizer: {name: adam, lr: 0.01}}
sweep:
  grid:
    model.hidden: [[1], [2], [3]]
"""


def test_sweep_piped_into_head_keeps_every_run_and_the_summary(write, tmp_path):
    out = tmp_path / "res"
    proc = nnfit("sweep", write(SWEEP), "--out", out, "--jobs", "1")
    assert proc.stdout.readline().startswith("sweep: 3 points")
    proc.stdout.close()
    code, _, err = finish(proc)
    assert code == 0, err
    no_traceback(err)
    assert len(whole(out)) == 3
    assert len(list(out.glob("sw/sweep-*/summary.json"))) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["schema"],
        ["targets"],
        ["validate", "{file}"],
        ["report", "{out}"],
        ["predict", "{run}"],
        ["--help"],  # written by the command line itself, before any command runs
        ["run", "--help"],
    ],
)
def test_a_command_whose_output_is_its_product_exits_2_on_a_full_stdout(
    args, write, tmp_path, made_run
):
    subs = {"{file}": write(TINY), "{out}": made_run.parents[1], "{run}": made_run}
    argv = [subs.get(a, a) for a in args] + (["--x", "0.5"] if args[0] == "predict" else [])
    with open("/dev/full", "w") as full:
        code, _, err = finish(nnfit(*argv, stdout=full))
    assert code == 2
    no_traceback(err)
    assert err.splitlines() == ["error: cannot write the output: No space left on device"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"], ["schema"]])
def test_output_into_a_pipe_nobody_reads_is_exit_2_unsaid(args):
    # the help and --version said exit 1 there (rich's and click's own), the commands 2;
    # a pipe whose reader went away (`| head`) goes unremarked, as the commands do
    read, write_end = os.pipe()
    os.close(read)
    try:
        code, _, err = finish(nnfit(*args, stdout=write_end))
    finally:
        os.close(write_end)
    assert code == 2
    assert err == ""


def test_an_ascii_terminal_gets_ascii_not_a_traceback(write, tmp_path):
    env = {**ENV, "PYTHONIOENCODING": "ascii"}
    code, out, err = finish(nnfit("targets", env=env))
    assert code == 0 and "franke" in out
    no_traceback(err)
    bad = write(TINY.replace("lr: 0.01}", "lr: 0.01, beta2: 1.5}"))
    code, _, err = finish(nnfit("run", bad, "--out", tmp_path, env=env))
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "beta2 must satisfy 0 ? beta2 < 1" in line


# ----------------------------------------------------------------- interrupts


def interrupt(proc, times: int, gap: float = 0.05):
    for _ in range(times):
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)


def test_a_finished_result_survives_reruns_interrupted_with_stdout_closed_or_full(write, tmp_path):
    p, out = write(SLOW), tmp_path / "res"
    code, _, err = finish(nnfit("run", p, "--out", out, "--quiet"))
    assert code == 0, err
    before = snapshot(out)
    (m,) = whole(out)
    assert m["status"] == "ok"

    # stdout closed after the first line, then Ctrl-C twice
    proc = nnfit("run", p, "--out", out)
    assert "slow: epoch" in proc.stdout.readline()
    proc.stdout.close()
    interrupt(proc, 2)
    code, _, err = finish(proc)
    assert code == 130, err
    no_traceback(err)
    assert snapshot(out) == before

    # stdout full: the note on stderr says training has started
    with open("/dev/full", "w") as full:
        proc = nnfit("run", p, "--out", out, stdout=full)
        assert proc.stderr.readline().startswith("note: cannot write to stdout")
        interrupt(proc, 2)
        code, _, err = finish(proc)
    assert code == 130, err
    no_traceback(err)
    assert snapshot(out) == before

    # a plain pipe, Ctrl-C twice
    proc = nnfit("run", p, "--out", out)
    assert "slow: epoch" in proc.stdout.readline()
    interrupt(proc, 2)
    code, shown, err = finish(proc)
    assert code == 130, err
    assert "is kept as it was" in err
    # the table's numbers are not those of the folder it named with "→"
    assert "; not written (not those of" in " ".join(shown.split()) and "→" not in shown
    assert snapshot(out) == before


@pytest.mark.parametrize("times", [1, 2, 3])
def test_an_interrupted_first_run_leaves_a_folder_that_says_so(write, tmp_path, times):
    out = tmp_path / "res"
    proc = nnfit("run", write(SLOW), "--out", out)
    assert "slow: epoch" in proc.stdout.readline()
    interrupt(proc, times, gap=0.01)
    code, _, err = finish(proc)
    assert code == 130, err
    no_traceback(err)
    (m,) = whole(out)
    assert m["status"] == "interrupted" and m["epochs"] < 3000


# ----------------------------------------------------------------- the shield itself


def test_the_shield_counts_signals(monkeypatch):
    notes = []
    with shield.Shield(note=notes.append) as sh:
        with pytest.raises(KeyboardInterrupt):  # the first, outside a write
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGINT)  # the second waits
        time.sleep(0.05)
        assert sh.count == 2 and len(notes) == 1
        with pytest.raises(KeyboardInterrupt), shield.writing():  # the third aborts
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    with shield.Shield() as sh:
        with pytest.raises(KeyboardInterrupt), shield.writing():  # held to the end
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            finished = True
        assert finished and sh.count == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_signal_says_whether_results_are_being_written():
    # it said "the results are being written" while nothing was (a sweep stopping)
    notes = []
    with shield.Shield(note=notes.append) as sh:
        sh.count = 1  # the first came, and is being handled
        sh._handle(signal.SIGINT, None)
        sh.count = 1
        with shield.writing():
            sh._handle(signal.SIGINT, None)
    assert notes[0] == "interrupted: stopping; interrupt once more to abort"
    assert notes[1].startswith("interrupted: the results are being written;")


def test_a_signal_the_process_ignores_stays_ignored():
    # a script's `nnfit sweep … &` starts with SIGINT ignored: the shield took it over,
    # so the Ctrl-C meant for the script's foreground command ended the background sweep
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with shield.Shield() as sh:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert sh.count == 0
            assert signal.getsignal(signal.SIGTERM) == sh._handle  # not ignored: shielded
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_run_started_with_sigint_ignored_trains_to_the_end(write, tmp_path):
    out = tmp_path / "res"
    proc = nnfit("run", write(SLOW), "--out", out, sigint_ignored=True)
    assert "slow: epoch" in proc.stdout.readline()
    interrupt(proc, 3)
    code, _, err = finish(proc)
    assert code == 0, err
    (m,) = whole(out)
    assert m["status"] == "ok" and m["epochs"] == 3000


def exp_of(run_dir):
    return config.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))


def test_a_failed_or_interrupted_rerun_keeps_the_finished_run(made_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(made_run, run_dir)
    before = snapshot(run_dir)
    exp = exp_of(run_dir)
    for status in ("failed", "interrupted"):
        rec = experiment.failed_record(exp, RuntimeError("disk"))
        rec.status = status
        assert results.write_run(rec, run_dir) is False
        assert snapshot(run_dir) == before
    rec = experiment.execute(exp, plots=False)
    assert results.write_run(rec, run_dir) is True  # a finished rerun does replace it
    assert results.check_run(run_dir) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("earlier", [True, False])
def test_an_aborted_write_keeps_the_earlier_run_or_says_interrupted(
    made_run, tmp_path, monkeypatch, earlier
):
    run_dir = tmp_path / "run"
    exp = exp_of(made_run)
    if earlier:
        shutil.copytree(made_run, run_dir)
    before = snapshot(tmp_path)
    rec = experiment.execute(exp, plots=False)
    real, calls = results.json_bytes, []

    def abort(obj):  # the third Ctrl-C lands while metrics.json is being made
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(obj)

    monkeypatch.setattr(results, "json_bytes", abort)
    with pytest.raises(KeyboardInterrupt):
        results.write_run(rec, run_dir)
    monkeypatch.undo()
    if earlier:
        assert snapshot(tmp_path) == before
    else:
        m = results.load_metrics(run_dir)
        assert m["status"] == "interrupted" and results.check_run(run_dir) is None
        # one line: it warned first of "the weights it kept", which it has none of
        code, _, err = finish(nnfit("predict", run_dir, "--x", "0.5"))
        assert code == 2
        assert len(err.splitlines()) == 1 and "no model.npz" in err, err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_without_an_atomic_exchange_the_swap_still_keeps_one_whole_folder(
    made_run, tmp_path, monkeypatch
):
    monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    run_dir = tmp_path / "run"
    shutil.copytree(made_run, run_dir)
    rec = experiment.execute(exp_of(made_run), plots=False)
    assert results.write_run(rec, run_dir)
    assert results.check_run(run_dir) is None
    # killed between the two renames: the earlier folder waits under a hidden name, and
    # the next write (or resume) puts it back before anything else
    aside = tmp_path / ".run.old-999999999-0000"
    run_dir.rename(aside)
    (tmp_path / ".run.new-999999999-0001").mkdir()  # a dead writer's half folder
    results._tidy(run_dir)
    assert results.check_run(run_dir) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert results.find_runs(tmp_path) == [run_dir]


def test_ctrl_c_while_the_command_line_is_imported_ends_with_one_line():
    # a SIGINT that landed while typer and the commands were imported printed a
    # KeyboardInterrupt traceback from inside an import; then it ended with no word
    probe = """
import signal, sys
import nnfit.entry
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "nnfit.cli":
            print("during:", signal.getsignal(signal.SIGINT).__name__,
                  signal.getsignal(signal.SIGTERM).__name__)
        return None
sys.meta_path.insert(0, Spy())
sys.argv = ["nnfit", "targets"]
try:
    nnfit.entry.main()
except SystemExit as exc:
    print("after:", signal.getsignal(signal.SIGTERM).name)  # SIG_IGN, an enum member
    print("exit:", exc.code)
"""
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV)
    lines = p.stdout.splitlines()
    assert lines[0] == "during: _said_and_gone _said_and_gone", p.stderr
    assert lines[-1] == "exit: 0"  # and the command ran, under its own Ctrl-C rules
    assert lines[-2] == "after: SIG_IGN"  # the command's shield: the process is ending


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("during", ["nnfit.cli", "nnfit.experiment.formulas"])
def test_a_signal_before_the_command_runs_is_one_line_and_exit_130(sig, during):
    # SIGTERM before the command's shield killed the process (exit -15, no word), and a
    # second Ctrl-C while the first was reported ended it by the signal (exit -2)
    probe = f"""
import os, signal, sys
import nnfit.entry
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == {during!r}:
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, Spy())
sys.argv = ["nnfit", "validate", "nowhere.yaml"]
try:
    nnfit.entry.main()
except SystemExit as exc:  # as the process ends, a second signal is ignored
    print(signal.getsignal(signal.SIGINT).name, signal.getsignal(signal.SIGTERM).name)
    sys.exit(exc.code)
"""
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV)
    assert p.returncode == 130, (p.returncode, p.stderr)
    assert p.stderr.strip() == "interrupted" and "Traceback" not in p.stderr
    if during != "nnfit.cli":  # (before it the process ends at once, by os._exit)
        assert p.stdout.split() == ["SIG_IGN", "SIG_IGN"]


def test_threads_that_die_after_an_interrupt_print_no_traceback(monkeypatch):
    # a third Ctrl-C tore down a sweep's worker pool under its feeder thread, which
    # printed "OSError: [Errno 9] Bad file descriptor" with its traceback
    import threading

    from nnfit.experiment import shield

    def die():
        raise OSError(9, "Bad file descriptor")

    seen = []
    monkeypatch.setattr(threading, "excepthook", seen.append)  # the hook before the shield
    for interrupted in (False, True):
        with shield.Shield() as sh:
            sh.count = int(interrupted)
            t = threading.Thread(target=die)
            t.start()
            t.join()
    assert [type(a.exc_value) for a in seen] == [OSError]  # the one before any interrupt
    assert threading.excepthook == seen.append  # given back


def test_a_ctrl_c_raised_in_a_callback_after_an_interrupt_prints_nothing(monkeypatch):
    # a third Ctrl-C in concurrent.futures' weakref callback printed "Exception ignored
    # in: <function … weakref_cb>" and a KeyboardInterrupt traceback
    from types import SimpleNamespace

    from nnfit.experiment import shield

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    with shield.Shield() as sh:
        sys.unraisablehook(SimpleNamespace(exc_value=KeyboardInterrupt()))  # not yet
        sh.count = 3
        sys.unraisablehook(SimpleNamespace(exc_value=KeyboardInterrupt()))  # dropped
        sys.unraisablehook(SimpleNamespace(exc_value=ValueError("a bug")))  # shown
    assert [type(a.exc_value) for a in seen] == [KeyboardInterrupt, ValueError]
    assert sys.unraisablehook == seen.append
