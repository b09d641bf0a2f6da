"""Where sweep points run: in this process, in local worker processes, or on Dask.

Tasks are lists of points: one point, or points that differ only in their seed (trained
as one stacked ensemble). Workers pin BLAS to one thread, catch every error of a run,
and send records back; only the driver writes files.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING

from nnfit.engine.network import param_count
from nnfit.experiment import config

if TYPE_CHECKING:
    from nnfit.sweep.grid import Point


def run_point(cfg: dict, plots: bool = True):
    """Train one point (in a worker): BLAS pinned to one thread, every error caught."""
    from threadpoolctl import threadpool_limits

    from nnfit.experiment.runner import execute, failed_record

    exp = config.from_dict(cfg)
    with threadpool_limits(limits=1):
        try:
            return execute(exp, plots=plots)
        except Exception as exc:  # e.g. a target not finite at some point of this data set
            return failed_record(exp, exc)


def run_task(cfgs: list[dict], plots: bool = True) -> list:
    """Train a task: one point, or several that differ only in their seed, as a stack.

    ``plots=False`` leaves the figures out of the records (they take most of a small
    run's time).
    """
    if len(cfgs) == 1:
        return [run_point(cfgs[0], plots)]
    from threadpoolctl import threadpool_limits

    from nnfit.experiment.runner import execute_stack

    exps = [config.from_dict(c) for c in cfgs]
    with threadpool_limits(limits=1):
        return execute_stack(exps, plots=plots)


def run_task_without_figures(cfgs: list[dict]) -> list:
    """:func:`run_task` with ``plots=False`` (a module-level function: it is pickled)."""
    return run_task(cfgs, plots=False)


def _seedless(p: Point) -> str:
    cfg = p.exp.run_config()
    cfg["training"] = {k: v for k, v in cfg["training"].items() if k != "seed"}
    return json.dumps(cfg, sort_keys=True)


def plan(points: list[Point], jobs: int, stack: bool = True) -> list[list[Point]]:
    """Tasks for the workers: points that differ only in training.seed go together (one
    stacked ensemble, much cheaper per model), split again while there are fewer tasks
    than workers."""
    from nnfit.experiment.runner import stackable

    if not stack:
        return [[p] for p in points]
    groups: dict[str, list[Point]] = {}
    tasks: list[list[Point]] = []
    for p in points:
        if stackable(p.exp):
            groups.setdefault(_seedless(p), []).append(p)
        else:
            tasks.append([p])
    tasks += list(groups.values())
    while len(tasks) < jobs and any(len(t) > 1 for t in tasks):
        big = max(tasks, key=len)
        tasks.remove(big)
        half = len(big) // 2
        tasks += [big[:half], big[half:]]
    # longest first, so that no worker is left with a big task while the others idle
    return sorted(tasks, key=lambda t: -sum(_cost(p) for p in t))


def _cost(p: Point) -> float:
    """A rough guess of a point's training time: parameters × points × epochs."""
    e = p.exp
    n_params = param_count(e.sizes())
    return float(n_params) * e.data.n_train * max(e.training.epochs, 1)


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the driver is gone (kill -9 leaves no orphans training on)."""
    import os
    import threading

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _cfgs(task: list[Point]) -> list[dict]:
    return [p.exp.run_config() for p in task]


#: the exit code of a worker whose start ran the caller's script up to an nnfit call
NO_MAIN_GUARD = 86
NO_MAIN_GUARD_TEXT = (
    "jobs={jobs}: the worker processes could not start: a script that calls nnfit with "
    'jobs > 1 must do so under `if __name__ == "__main__":` (each worker imports the '
    "script again, and would run it), or use jobs=1"
)


def starting_worker() -> bool:
    """Whether this process is a worker still importing the caller's script (spawn runs
    it as ``__mp_main__``): an nnfit call at its top level, unguarded, is here again."""
    import multiprocessing.process as mpp

    return bool(getattr(mpp.current_process(), "_inheriting", False))


def leave_if_starting_worker() -> None:
    """In a worker that is importing an unguarded script: exit quietly, with the code by
    which the driver knows why (multiprocessing's own traceback, 70 lines a worker, and
    a sweep whose every point failed were all the user saw)."""
    if starting_worker():
        import os

        os._exit(NO_MAIN_GUARD)


def _no_main_guard(pool, jobs: int) -> None:
    """Raise the one-line error when a worker of ``pool`` left by
    :func:`leave_if_starting_worker`."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.join(timeout=2)
    if any(proc.exitcode == NO_MAIN_GUARD for proc in procs):
        raise config.ConfigError([NO_MAIN_GUARD_TEXT.format(jobs=jobs)]) from None


@contextlib.contextmanager
def _main_file_if_readable():
    """While the workers start: a ``__main__`` whose file is not there to import again
    (``python - < script.py`` names it ``<stdin>``) passes for one without a file, as
    ``python -c`` does; spawn's workers tried to open ``<stdin>`` and died, and every
    point of the sweep failed."""
    import os

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or os.path.isfile(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def local(tasks: list[list[Point]], jobs: int, plots: bool = True):
    """Yield (point, record) as tasks finish, on ``jobs`` worker processes."""
    fn = run_task if plots else run_task_without_figures
    if jobs <= 1:
        for task in tasks:
            yield from zip(task, fn(_cfgs(task)), strict=True)
        return
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: the driver runs rich's refresh thread, and forking a threaded
    # process can deadlock the child
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=ctx,
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )
    try:
        with _main_file_if_readable(), _workers_ignore_ctrl_c():
            futures = {pool.submit(fn, _cfgs(t)): t for t in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                yield from zip(task, fut.result(), strict=True)
            except Exception as exc:  # a worker that died (memory, signal)
                if type(exc).__name__ == "BrokenProcessPool":
                    _no_main_guard(pool, jobs)
                for p in task:
                    yield p, _failed(p, exc)
    finally:
        _shutdown(pool)


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with Ctrl-C ignored: a terminal's Ctrl-C reaches the whole
    process group, and a worker still starting Python printed a traceback from its site
    import ("Fatal Python error: init_import_site"). The driver stops them on its own
    Ctrl-C. An ignored signal is inherited through the spawn; the driver's main thread
    holds its own meanwhile (blocked, delivered after). For the milliseconds of the
    spawn a Ctrl-C can still be lost: another thread of the driver (the live display's)
    that does not block it may take it, while it is ignored."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers are the main thread's to set
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _shutdown(pool) -> None:
    """Cancel what has not started and stop what has (runs in flight are lost, by design)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)


PROBE_TIMEOUT = 5.0  # seconds to connect to a scheduler and hear its greeting
_ADDRESS = re.compile(r"^(?:tcp://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})/?$")


NO_DASK = "--dask needs the optional extra: pip install 'nnfit[dask]'"


def check_address(address: str) -> None:
    """Refuse, in bounded time, a ``--dask`` value that is not a reachable scheduler.

    ``local`` starts a cluster here. Otherwise the value must read ``[tcp://]HOST:PORT``,
    something must listen there, and it must greet like a Dask scheduler: on connect, a
    scheduler sends its handshake, framed by an 8-byte length; a web server (or anything
    else) sends nothing or text, which Dask's client would wait on, or read as a length
    of petabytes. Either way the optional extra must be installed: said before the
    sweep starts, not once its folder is announced.
    """
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise config.ConfigError([NO_DASK])
    if address == "local":
        return
    shown = address if len(address) <= 80 else address[:79] + "…"
    m = _ADDRESS.match(address.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise config.ConfigError(
            [
                f"--dask {shown!r}: expected 'local' or a scheduler address such as "
                "tcp://127.0.0.1:8786"
            ]
        )
    host, port = m.group(1).strip("[]"), int(m.group(2))
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            sock.settimeout(PROBE_TIMEOUT)
            head = b""
            while len(head) < 8:
                got = sock.recv(8 - len(head))
                if not got:
                    break
                head += got
    except TimeoutError:
        head = None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise config.ConfigError([f"--dask {shown}: cannot connect: {why}"]) from None
    if head is None or len(head) < 8 or not 0 < struct.unpack("<Q", head)[0] < 2**20:
        said = "no greeting" if not head else f"it says {head[:8]!r}"
        raise config.ConfigError(
            [f"--dask {shown}: not a Dask scheduler ({said} within {PROBE_TIMEOUT:g} s)"]
        )


def dask(tasks: list[list[Point]], address: str, jobs: int, plots: bool = True):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise config.ConfigError([NO_DASK]) from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=max(1, jobs), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise config.ConfigError([f"--dask {address}: cannot connect: {exc}"]) from None
    try:
        fn = run_task if plots else run_task_without_figures
        futures = {client.submit(fn, _cfgs(t), pure=False): t for t in tasks}
        for fut in as_completed(list(futures)):
            task = futures[fut]
            try:
                yield from zip(task, fut.result(), strict=True)
            except Exception as exc:
                for p in task:
                    yield p, _failed(p, exc)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _failed(p: Point, exc: BaseException):
    from nnfit.experiment.runner import failed_record

    return failed_record(p.exp, exc)
