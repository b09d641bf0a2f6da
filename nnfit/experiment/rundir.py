"""Run folders: every file written atomically, ``metrics.json`` last.

A file is first written to a temporary name in the same folder and then renamed over
its final name, so a reader (or a killed process) never sees half a file; since
``metrics.json`` is written last, its presence marks a finished run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
from pathlib import Path

import numpy as np
import yaml

from nnfit.engine.network import Network

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


class ResultsError(OSError):
    """A results folder cannot be written or read; the message names the path."""


def atomic_write(path: Path, payload: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _open_temp(path.parent, path.name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ResultsError(f"cannot write {path}: {exc.strerror or exc}") from None


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


def write_json(path: Path, obj) -> None:
    atomic_write(path, json_text(obj).encode())


def write_npz(path: Path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def history_csv(columns: dict[str, list]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    names = list(columns)
    w.writerow(names)
    for row in zip(*(columns[n] for n in names), strict=True):
        w.writerow(["" if isinstance(v, float) and math.isnan(v) else repr(v) for v in row])
    return out.getvalue().encode()


def write_run(record, run_dir: Path) -> None:
    """Write every file of a run (figures from ``record.figures``), metrics.json last."""
    run_dir = Path(run_dir)
    # a stale metrics.json would mark a half-rewritten folder as done
    try:
        (run_dir / "metrics.json").unlink(missing_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot write {run_dir}: {exc.strerror or exc}") from None
    atomic_write(run_dir / "config.yaml", yaml.safe_dump(record.config, sort_keys=False).encode())
    if record.history:
        atomic_write(run_dir / "history.csv", history_csv(record.history))
    if record.model:
        arrays = {k: v for k, v in record.model.items() if k != "meta"}
        arrays["meta"] = np.array(json.dumps(record.model["meta"]))
        write_npz(run_dir / "model.npz", arrays)
    if record.data:
        write_npz(run_dir / "data.npz", record.data)
    for name, payload in (record.figures or {}).items():
        atomic_write(run_dir / name, payload)
    write_json(run_dir / "metrics.json", record.metrics_json())


def read_metrics(run_dir: Path) -> dict | None:
    p = Path(run_dir) / "metrics.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def load_model(run_dir: Path) -> tuple[Network, dict]:
    """The trained network of a run folder and its meta (with the ``scale_y`` parameters)."""
    p = Path(run_dir) / "model.npz"
    if not p.is_file():
        raise ResultsError(f"{run_dir}: no model.npz (not a finished run folder)")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            n = len(meta["sizes"]) - 1
            arrays = [(z[f"W{l}"], z[f"b{l}"]) for l in range(n)]
    except (OSError, KeyError, ValueError) as exc:
        raise ResultsError(f"{p}: cannot read model: {exc}") from None
    return Network.from_arrays(meta, arrays), meta


def predict(net: Network, meta: dict, X: Array) -> Array:
    """g(X) in F's units (the saved ``scale_y`` undone)."""
    s = meta.get("scale_y", {"shift": 0.0, "scale": 1.0})
    return net.predict(X).astype(float)[0, :, 0] * s["scale"] + s["shift"]


def find_runs(root: Path) -> list[Path]:
    """Every folder under ``root`` holding a metrics.json, sorted."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob("metrics.json"))
