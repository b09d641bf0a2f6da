"""Run folders: written whole beside the old one, then swapped in; read back verified.

Every file is first written to a temporary name and renamed over its final name, so a
reader (or a killed process) never sees half a file. A run is written into a hidden
sibling folder (``.NAME.new-PID-…``), ``metrics.json`` last with the size and SHA-256
of every other file, and only then exchanged with the run folder in one rename. So a
rerun that fails, is interrupted or dies leaves the earlier result byte for byte as it
was; a rerun that failed or was interrupted does not even replace a finished one.
Readers are in :mod:`nnfit.experiment.runfiles`.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from pathlib import Path

import numpy as np

from nnfit.engine.network import Network
from nnfit.experiment import shield
from nnfit.experiment.runfiles import (  # noqa: F401  (the readers, where callers look for them)
    ResultsError,
    check_run,
    digest,
    file_digest,
    load_metrics,
    load_model,
    own_digest,
    read_config,
    read_metrics,
    require_done,
)
from nnfit.experiment.yamlfile import dump_yaml

Array = np.ndarray


def _open_temp(folder: Path, name: str) -> tuple[int, str]:
    """A new file beside ``name``, opened like an ordinary ``open()`` would (mode 0o666
    less the umask, which the kernel applies; mkstemp would give 0600)."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {folder / name}")


def _oserror(path, exc: OSError) -> ResultsError:
    if isinstance(exc, FileExistsError | NotADirectoryError):  # mkdir over a file
        return ResultsError(f"cannot write {path}: a folder on its path is a file")
    return ResultsError(f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_open(path: Path, follow: bool = True):
    """A binary file that appears at ``path`` whole when the block ends, or not at all.

    For a path the user named (``follow``): a device, a pipe or a socket (``/dev/null``,
    a FIFO) is written in place, and a process's open file (``/dev/stdout``,
    ``/dev/fd/1``) appended to, since a file renamed over either would replace the
    device or the link itself; a symbolic link to a file has the file replaced, the link
    kept. For nnfit's own files (``follow=False``) whatever stands at ``path`` is
    replaced by the new file: a link planted in a results folder is never followed out
    of it.
    """
    path = Path(path)
    if follow and _names_open_file(path):
        with _open_special(path, os.O_APPEND) as fh:
            yield fh
        return
    if follow and path.is_symlink():
        path = Path(os.path.realpath(path))
    if follow and _is_special(path):
        with _open_special(path) as fh:
            yield fh
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temp(path.parent, path.name)
    except OSError as exc:
        raise _oserror(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _oserror(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_special(path: Path) -> bool:
    """Whether ``path`` is a device, a pipe or a socket (neither a file nor a folder)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _names_open_file(path: Path) -> bool:
    """Whether ``path`` is one of /proc's links to a process's open files."""
    try:
        link = os.readlink(path) if path.is_symlink() else ""
    except OSError:
        return False
    parent = os.path.realpath(path.parent)
    return link.startswith("/proc/") or parent == "/proc" or parent.startswith("/proc/")


@contextlib.contextmanager
def _open_special(path: Path, flags: int = 0):
    """A device, pipe or open file written in place; a FIFO with no reader is an error,
    not a wait."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | flags)
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "wb")
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise ResultsError(f"cannot write {path}: a pipe with no reader") from None
        raise _oserror(path, exc) from None
    try:
        with fh:
            yield fh
            fh.flush()
    except OSError as exc:
        raise _oserror(path, exc) from None


def atomic_write(path: Path, payload: bytes) -> None:
    """Write one of nnfit's own files whole (see :func:`atomic_open`, ``follow=False``)."""
    with atomic_open(path, follow=False) as fh:
        fh.write(payload)


def _clean(obj):
    """JSON has no NaN or inf: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def json_text(obj) -> str:
    """``obj`` as the JSON text of a result file (NaN and inf as null)."""
    return json.dumps(_clean(obj), indent=2) + "\n"


def json_bytes(obj) -> bytes:
    return json_text(obj).encode()


def write_json(path: Path, obj) -> None:
    atomic_write(path, json_bytes(obj))


def npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def write_npz(path: Path, arrays: dict) -> None:
    atomic_write(path, npz_bytes(arrays))


def history_csv(columns: dict[str, list]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(columns)
    w.writerow(names)
    for row in zip(*(columns[n] for n in names), strict=True):
        w.writerow(["" if isinstance(v, float) and math.isnan(v) else repr(v) for v in row])
    return out.getvalue().encode()


# ------------------------------------------------------------------ folders


def inside(root: Path, *parts: str) -> Path:
    """``root/parts…``, refused unless it resolves to a folder inside ``root``.

    Checked after resolution: ``.``, ``..`` and a link that leads elsewhere are errors.
    """
    root = Path(root)
    for part in parts:
        if part in ("", ".", "..") or "/" in part or os.sep in part or "\x00" in part:
            raise ResultsError(f"{root}: {part!r} is not a folder name inside it")
    path = root.joinpath(*parts)
    try:
        top, where = root.resolve(), path.resolve()
    except RuntimeError:  # Python 3.11's resolve on a link that leads back to itself
        raise ResultsError(f"{path}: a symbolic link in it leads back to itself") from None
    if where == top or not where.is_relative_to(top):
        raise ResultsError(
            f"{path}: resolves to {where}, which is not inside the results folder {top}"
        )
    if os.path.exists(top) and not os.path.isdir(top):
        raise ResultsError(f"{root}: is not a folder; give a folder for the results")
    for folder in (path, *path.parents):  # found now, not when the finished run is written
        if os.path.islink(folder) and not os.path.exists(folder):
            raise ResultsError(f"{folder}: a symbolic link to nothing; give a folder")
        if folder != path and os.path.exists(folder) and not os.path.isdir(folder):
            raise ResultsError(f"cannot write {path}: a folder on its path is a file ({folder})")
        if os.path.isdir(folder) and folder != path:
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ResultsError(f"cannot write {path}: {folder} is not writable")
            _probe(folder, path)
            break  # the rest of the path is made when the run is written
    for folder in (top, *top.parents):
        if (folder / "metrics.json").is_file():
            what = "a run folder" if folder == top else f"inside the run folder {folder}"
            raise ResultsError(
                f"{root}: is {what}; give a results folder outside run folders, so that "
                "no run holds another"
            )
    return path


def _probe(folder: Path, path: Path) -> None:
    """Make and remove a folder in ``folder``: os.access says yes to root everywhere,
    /proc and /sys included, where a run was refused only once it had trained."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".nnfit-probe-", dir=folder))
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        text = f"cannot write {path}: no folder can be made in {folder} ({why})"
        raise ResultsError(text) from None


def natural(path: Path) -> list:
    """A sort key reading the numbers in a path's names as numbers: w2 before w16."""
    return [
        [int(t) if i % 2 else t for i, t in enumerate(re.split(r"(\d+)", part))]
        for part in path.parts
    ]


def folders_holding(root: Path, name: str) -> list[Path]:
    """Every folder under ``root`` (itself included) holding a file ``name``, sorted
    (numbers in names as numbers, :func:`natural`).
    Hidden folders are not entered: they are runs being written, renamed into place when
    complete, so one may vanish while the tree is walked (a sweep writing beside a
    reader); a folder that vanishes is passed over, as ``os.walk`` does."""
    found = []
    for where, folders, files in os.walk(root):
        # a folder in the file's place counts too (its reader says it is no file): a
        # run whose metrics.json was a folder was left out of the report unsaid
        if name in files or name in folders:
            found.append(Path(where))
        folders[:] = [f for f in folders if not f.startswith(".") and f != name]
    return sorted(found, key=natural)


def links_under(root: Path) -> list[Path]:
    """The links to folders (or to nothing) under ``root``, which the walks above do not
    follow (a link may lead back up the tree, or to a run listed already), sorted."""
    found = []
    for where, folders, files in os.walk(root):
        for f in folders + files:
            path = Path(where) / f
            if not f.startswith(".") and path.is_symlink() and not path.is_file():
                found.append(path)
        folders[:] = [f for f in folders if not f.startswith(".")]
    return sorted(found, key=natural)


def find_runs(root: Path) -> list[Path]:
    """Every folder under ``root`` holding a metrics.json, sorted (hidden ones skipped:
    they are folders being written)."""
    return folders_holding(Path(root), "metrics.json")


def _sibling(run_dir: Path, kind: str) -> Path:
    return run_dir.parent / f".{run_dir.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _siblings(run_dir: Path, kind: str) -> list[Path]:
    return sorted(run_dir.parent.glob(f".{run_dir.name}.{kind}-*"), key=_mtime)


def _mtime(p: Path) -> float:
    try:
        return p.lstat().st_mtime
    except OSError:
        return 0.0


def _alive(p: Path) -> bool:
    """Whether the process that made a sibling folder is still running."""
    try:
        pid = int(p.name.rsplit("-", 2)[-2])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _tidy(run_dir: Path) -> None:
    """Put back an earlier run a killed swap left aside; drop folders of dead writers."""
    if not os.path.lexists(run_dir):
        olds = _siblings(run_dir, "old")
        if olds:
            with contextlib.suppress(OSError):
                os.rename(olds[-1], run_dir)
    for p in [*_siblings(run_dir, "new"), *_siblings(run_dir, "old")]:
        if not _alive(p):
            _remove(p)


def _remove(p: Path) -> None:
    """Remove a folder of nnfit's, or a link that stood in its place (the link only:
    where it leads is not the run's)."""
    if os.path.islink(p):
        with contextlib.suppress(OSError):
            os.unlink(p)
    else:
        shutil.rmtree(p, ignore_errors=True)


_libc = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2); False where that is not possible."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    fn = getattr(_libc, "renameat2", None) if _libc else None
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


# what a run folder holds besides the files its metrics.json records
_OWN = {"metrics.json", "config.yaml", "history.csv", "model.npz", "data.npz"}


def _carry_over(old: Path, run_dir: Path) -> list[str] | None:
    """Move what nnfit did not write (a user's notes, a folder of their own) from the
    earlier folder ``old`` into the new ``run_dir``; the names that could not be moved
    (one of the new run's own names, say), and ``old`` must then stay, or None if the
    folder could not be listed."""
    m = read_metrics(old) or {}
    files = m.get("files")
    files = files if isinstance(files, dict) else None
    own = _OWN | set(files or ())
    try:
        names = os.listdir(old)
    except OSError:
        return None
    left = []
    # a metrics.json edited since it was written (its checksum differs or is gone, or
    # it no longer reads as one) is the user's now, as any other file of the run would be
    edited = m.get("sha256") is None or own_digest(m) != m["sha256"]
    for name in sorted(names):
        # a file of the run edited since it was written is the user's now; with no
        # record of the files (metrics.json unreadable, or its record taken out) none
        # of them can be told from a user's edit, and every one is kept
        if name == "metrics.json":
            if not edited:
                continue
        elif (
            name in own
            and files is not None
            and (name not in files or _as_written(old / name, files[name]))
        ):
            continue
        try:
            if os.path.lexists(run_dir / name):
                raise FileExistsError(name)
            os.rename(old / name, run_dir / name)
        except OSError:
            left.append(name)
    return left


def _as_written(path: Path, recorded) -> bool:
    """Whether a run's file still has the size and checksum its metrics.json records."""
    try:
        return file_digest(path, recorded["bytes"]) == recorded
    except (OSError, KeyError, TypeError):
        return False


def _drop_old(old: Path, run_dir: Path) -> str | None:
    """Remove the earlier folder once what was not nnfit's is carried over; a folder
    from which something could not be moved stays as a hidden sibling, and what the
    user is told about it is returned. Ctrl-C waits until the moves are done: the
    earlier folder is removed after an interrupt."""
    if os.path.islink(old):  # a link planted at the run's name: replaced, never entered
        _remove(old)
        return None
    with _signals_blocked():
        left = _carry_over(old, run_dir)
    if left == []:
        shutil.rmtree(old, ignore_errors=True)
        return None
    kept = _sibling(run_dir, "kept")  # not a name that a later write tidies away
    try:
        os.rename(old, kept)
    except OSError:
        kept = old
    if left:
        what = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        what = f"{what} of the earlier folder"
    else:  # not a folder that can be listed (a file of the user's at the run's name)
        what = "what stood at the run folder's name"
    return f"{what} kept in {kept} (not moved into the new run folder)"


def _swap(new: Path, run_dir: Path) -> str | None:
    """Put folder ``new`` at ``run_dir``; the earlier folder there is removed after,
    what nnfit did not write in it moved into the new one first. Returns a note on
    what of the earlier folder was kept aside, if anything was."""
    for _ in range(10):
        if _exchange(new, run_dir):  # ``new`` now holds the earlier folder
            return _drop_old(new, run_dir)
        old = None
        if os.path.lexists(run_dir):
            old = _sibling(run_dir, "old")
            os.rename(run_dir, old)
        placed = False
        try:
            os.rename(new, run_dir)
            placed = True
        except OSError as exc:
            if old is not None and not os.path.lexists(run_dir):
                os.rename(old, run_dir)
                old = None
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another writer put its folder there meanwhile: swap with that one
        finally:
            note = _drop_old(old, run_dir) if old is not None and os.path.lexists(old) else None
        if placed:
            return note
    raise OSError(errno.EBUSY, "other writers keep replacing it", str(run_dir))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def run_files(record) -> dict[str, bytes]:
    """Every file of a run but metrics.json, as bytes."""
    files = {"config.yaml": dump_yaml(record.config).encode()}
    if record.history:
        files["history.csv"] = history_csv(record.history)
    if record.model:
        arrays = {k: v for k, v in record.model.items() if k != "meta"}
        arrays["meta"] = np.array(json.dumps(record.model["meta"]))
        files["model.npz"] = npz_bytes(arrays)
    if record.data:
        files["data.npz"] = npz_bytes(record.data)
    files.update(record.figures or {})
    return files


def _write_folder(folder: Path, files: dict[str, bytes], metrics: dict) -> None:
    """Write ``files`` and then metrics.json, recording each file's size and checksum."""
    folder.mkdir()
    record = {name: digest(payload) for name, payload in files.items()}
    # as read back (NaN as null, tuples as lists), then with its own checksum
    data = json.loads(json_text({**metrics, "files": record}))
    data["sha256"] = own_digest(data)
    # no temporary names inside: the folder is hidden until it is swapped in whole
    for name, payload in [*files.items(), ("metrics.json", json_bytes(data))]:
        with open(folder / name, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
    _fsync_dir(folder)


def finished(run_dir: Path) -> bool:
    """A done run (ok or diverged) is there, which a failed or interrupted one must not
    replace."""
    if check_run(run_dir) is not None:
        return False
    m = read_metrics(run_dir)
    return m is not None and m["status"] in ("ok", "diverged")


def write_run(record, run_dir: Path) -> bool:
    """Write every file of a run (figures from ``record.figures``), metrics.json last.

    Returns True when the new run is in place, False when a run that failed or was
    interrupted found a finished run of its folder there and left it as it was.
    A KeyboardInterrupt during the write (a third Ctrl-C, see :mod:`shield`) drops the
    new folder; if no finished run was there, the folder then says ``interrupted``.
    """
    run_dir = Path(run_dir)
    with shield.writing():
        try:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            _tidy(run_dir)
        except OSError as exc:
            raise _oserror(run_dir, exc) from None
        new = _sibling(run_dir, "new")
        try:
            _write_folder(new, run_files(record), record.metrics_json())
            if record.status in ("failed", "interrupted") and finished(run_dir):
                shutil.rmtree(new, ignore_errors=True)
                return False
            kept = _swap(new, run_dir)
            _fsync_dir(run_dir.parent)
            if kept:
                record.warnings.append(kept)
        except KeyboardInterrupt:
            shutil.rmtree(new, ignore_errors=True)
            if not finished(run_dir):
                _mark_interrupted(record, run_dir)
            raise
        except OSError as exc:
            shutil.rmtree(new, ignore_errors=True)
            if isinstance(exc, ResultsError):
                raise
            raise _oserror(run_dir, exc) from None
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
    return True


def copy_run(src: Path, run_dir: Path, config_hash: str) -> bool:
    """Copy the whole, finished ok run of ``config_hash`` in ``src`` to the empty place
    ``run_dir`` (through a hidden folder renamed into place); False where there is none
    to copy or it cannot be copied, and nothing is left behind.

    Only what the run recorded is copied (metrics.json and the files it lists with their
    checksums), each a regular file: not what else lies in the folder (a link may lead
    anywhere, a file of one's own be of any size). A folder written before checksums were
    recorded is reused where it is, never copied.
    """
    if os.path.lexists(run_dir) or src.is_symlink() or check_run(src, config_hash):
        return False
    m = read_metrics(src) or {}
    if m.get("status") != "ok" or not isinstance(m.get("files"), dict):
        return False
    names = ["metrics.json", *m["files"]]
    try:
        if not all(stat.S_ISREG(os.lstat(src / name).st_mode) for name in names):
            return False
    except OSError:
        return False
    new = _sibling(run_dir, "new")
    try:
        with shield.writing():
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            new.mkdir()
            for name in names:
                shutil.copyfile(src / name, new / name, follow_symlinks=False)
            if check_run(new, config_hash) is not None:  # changed while it was copied
                raise OSError(errno.EAGAIN, "changed while copied", str(src))
            os.rename(new, run_dir)
    except OSError:
        return False
    finally:
        shutil.rmtree(new, ignore_errors=True)  # gone once renamed: a no-op then
    return True


def mark_interrupted(record, run_dir: Path) -> None:
    """After an interrupt that cut a run short before its results were written: unless
    a finished run is there, or one that already says it was interrupted, leave a
    folder that says so (``record`` gives the config and names)."""
    run_dir = Path(run_dir)
    if finished(run_dir):
        return
    m = read_metrics(run_dir)
    if m and m["status"] == "interrupted" and m["config_hash"] == record.config_hash:
        return
    with contextlib.suppress(OSError):
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        _mark_interrupted(record, run_dir)


def _mark_interrupted(record, run_dir: Path) -> None:
    """The smallest whole folder that says the run was interrupted while being written:
    its config and a metrics.json; written with signals held off (it takes milliseconds)."""
    metrics = {
        **record.metrics_json(),
        "status": "interrupted",
        "stop_reason": "interrupted",
        "error": "interrupted while its files were written; run it again",
    }
    files = {"config.yaml": dump_yaml(record.config).encode()}
    new = _sibling(run_dir, "new")
    with _signals_blocked():
        try:
            _write_folder(new, files, metrics)
            _swap(new, run_dir)
        except OSError:
            shutil.rmtree(new, ignore_errors=True)


@contextlib.contextmanager
def _signals_blocked():
    sigs = {signal.SIGINT, signal.SIGTERM}
    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def predict(net: Network, meta: dict, X: Array) -> Array:
    """g(X) in F's units (the saved ``scale_y`` undone)."""
    s = meta.get("scale_y", {"shift": 0.0, "scale": 1.0})
    with np.errstate(over="ignore", invalid="ignore"):  # a model that overflows gives inf
        return net.predict(X).astype(float)[0, :, 0] * s["scale"] + s["shift"]
