"""Reading a run folder back: one validating reader per file, and whether a run is done.

Nothing read from disk is trusted. ``metrics.json`` and ``summary.json`` are checked
against pydantic models; ``model.npz`` is checked from its ``.npy`` headers (names,
shapes, dtypes, sizes against its ``meta``, and a bound on the parameter count) before
a single array is read. A run is *done* when ``metrics.json`` lists every other file of
the run with its size and SHA-256 and each file still matches. Every problem is a
:class:`ResultsError` whose message starts with the file, e.g. ``RUN/model.npz: …``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from nnfit.engine.network import ActivationSpec, Network
from nnfit.experiment.yamlfile import MAX_FILE_BYTES, kind, load_yaml, missing, short_path

MAX_JSON_BYTES = 64 * 2**20
MAX_META_CHARS = 1_000_000
MAX_MODEL_PARAMS = 20_000_000  # as config.MAX_PARAMS: no run writes a larger model
MAX_LAYERS = 1001
MESSAGE = 300


class ResultsError(OSError):
    """A results folder cannot be written or read; the message names the path."""


def _cut(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ JSON files


def _whole(v):
    """A count written as a float (20.0, as some tools rewrite it) is that count."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


# strict: a number is a JSON number, not true or "20" (which a lax reader took as 1 and
# 20, and a table then failed to format)
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Count = Annotated[int, BeforeValidator(_whole), Field(ge=0, strict=True)]
_JSON = ConfigDict(extra="allow", strict=True)


class _File(BaseModel):
    model_config = _JSON


class FileRecord(BaseModel):
    """Size and checksum of one file of a run, as recorded in its metrics.json."""

    model_config = ConfigDict(extra="forbid", strict=True)
    bytes: Count
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Errors(_File):
    mse: Finite | None = None
    rmse: Finite | None = None
    mae: Finite | None = None
    max_abs: Finite | None = None
    rel_l2: Finite | None = None
    r2: Finite | None = None


class BaselineErrors(BaseModel):
    """One baseline of metrics.json: its size and test errors (null where not finite)."""

    model_config = _JSON
    n_params: Count | None = None
    rmse: Finite | None = None
    max_abs: Finite | None = None
    rel_l2: Finite | None = None


class Metrics(_File):
    """metrics.json (DESIGN.md, result files); keys added later are kept as they are."""

    name: str
    run_id: str
    status: Literal["ok", "diverged", "failed", "interrupted"]
    stop_reason: str
    epochs: Count
    best_epoch: Count = 0
    steps: Count = 0
    wall_s: Finite | None = None
    n_params: Count
    train: Errors | None = None
    val: Errors | None = None
    test: Errors | None = None
    weights: dict[str, Finite | None] | None = None
    baselines: dict[str, BaselineErrors] | None = None
    epsilon: Finite | None = None
    epsilon_reached_epoch: Count | None = None
    config_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    seed: Count
    versions: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    files: dict[str, FileRecord] | None = None  # None: written before files were recorded
    # the checksum of the file's other keys (:func:`own_digest`); None: written before
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class Summary(_File):
    """summary.json of a sweep: what ``nnfit report`` reads of it."""

    name: str
    sweep_id: str | None = None
    n_ok: Count = 0
    n_failed: Count = 0
    n_missing: Count = 0
    wall_s: Finite | None = None
    interrupted: bool = False
    groups: list[dict[str, Any]] = Field(default_factory=list)
    #: summary.csv's and the figures' records; None: written before they were recorded
    files: dict[str, FileRecord] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


#: pydantic's "input should be a valid integer" as the file's reader says it
_NUMBER_TYPES = {"int_type": "a whole number", "float_type": "a number"}


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(map(str, e["loc"])) or "(top level)"
    try:  # as the file spells it: true, null, "text"
        got = json.dumps(e.get("input"), ensure_ascii=False)
    except (TypeError, ValueError):
        got = repr(e.get("input"))
    got = _cut(got, 60)
    if e["type"] in ("model_type", "dict_type"):  # pydantic's text names its own class
        return f"{where}: must be an object of keys (got {got})"
    if e["type"] in _NUMBER_TYPES:
        return f"{where}: must be {_NUMBER_TYPES[e['type']]} (got {got})"
    return f"{where}: {e['msg'][0].lower()}{e['msg'][1:]} (got {got})"


def open_regular(path: Path):
    """``path`` opened for reading in binary, if it is a regular file; else OSError
    "not a regular file". A named pipe in a results folder would block its reader for
    ever, a device never end: opened without blocking, either is refused."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _no_repeats(pairs: list) -> dict:
    """A JSON object, refused when a key is given twice (readers differ on which wins)."""
    out = dict(pairs)
    if len(out) < len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {_cut(twice, 40)!r} given twice")
    return out


def _load_json(path: Path, model: type[BaseModel]) -> dict:
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        if path.is_symlink():  # it was said to be missing, with the link in plain sight
            gone = os.readlink(path)
            raise ResultsError(f"{path}: a link to {gone}, which does not exist") from None
        raise ResultsError(f"{path}: missing") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_JSON_BYTES:
        raise ResultsError(f"{path}: larger than {MAX_JSON_BYTES // 2**20} MiB, not nnfit's")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_repeats)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({_cut(exc, 80)})") from None
    except RecursionError:
        raise ResultsError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        got = kind(data, json=True)
        raise ResultsError(f"{path}: expected a JSON object of nnfit's keys, got {got}")
    try:
        valid = model.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(f"{path}: {_first_error(exc)}") from None
    # the keys as validated (a count written 20.0 is 20), those the file does not give
    # left out, as before: a reader tells an old file's absent key from a default
    return valid.model_dump(exclude_unset=True)


def load_metrics(run_dir: Path) -> dict:
    """A run's metrics.json, validated; ResultsError if missing or not nnfit's."""
    return _load_json(Path(run_dir) / "metrics.json", Metrics)


def read_metrics(run_dir: Path) -> dict | None:
    """A run's metrics.json if it is there and valid, else None."""
    try:
        return load_metrics(run_dir)
    except ResultsError:
        return None


def read_config(run_dir: Path) -> dict | None:
    """A run's config.yaml as plain data if it is there and readable, else None."""
    try:
        with open_regular(Path(run_dir) / "config.yaml") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return None
        data = load_yaml(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def load_summary(folder: Path) -> dict:
    """A sweep's summary.json, validated."""
    return _load_json(Path(folder) / "summary.json", Summary)


def seal_summary(summary: dict, csv: bytes, figures: dict | None = None) -> dict:
    """summary.json's keys as written: the summary, the size and checksum of its
    summary.csv and of the figures the sweep wrote (``figures``: name → record), and
    its own checksum (as a run's metrics.json has, :func:`own_digest`)."""
    out = {k: v for k, v in summary.items() if k not in ("files", "sha256")}
    out["files"] = {"summary.csv": digest(csv), **(figures or {})}
    out["sha256"] = own_digest(out)
    return out


def _vouched(folder: Path) -> dict | None:
    """The record of files of a sweep folder's summary.json, if it reads and is as the
    sweep wrote it; else None."""
    try:
        s = load_summary(folder)
    except ResultsError:
        return None
    files = s.get("files")
    if s.get("sha256") is None or files is None or own_digest(s) != s["sha256"]:
        return None
    return files


def figure_changed(folder: Path, name: str) -> str | None:
    """Why a sweep figure ``name`` in ``folder`` is not the one the sweep wrote (a
    user's annotated copy, a folder put in its place), or None if it is or is not
    there. A figure no summary.json as written records counts as changed: an earlier
    nnfit recorded none, and nothing tells its figure from a user's file."""
    path = Path(folder) / name
    if not os.path.lexists(path):
        return None
    rec = (_vouched(folder) or {}).get(name)
    if rec is None:
        return "not recorded by a summary.json as the sweep wrote it"
    return _unlike(path, rec)


def _unlike(path: Path, rec: dict) -> str | None:
    """Why the file at ``path`` is not the one ``rec`` records, or None if it is. A link
    put in its place is the user's, even to a copy of the same bytes."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return "changed since the sweep wrote it (a link or folder in its place)"
        got = file_digest(path, rec["bytes"])
    except OSError as exc:
        got = {"error": exc}
    return None if got == rec else "changed since the sweep wrote it (checksum differs)"


def summary_changes(folder: Path) -> list[str]:
    """What of a sweep folder's summary.json and summary.csv changed since the sweep
    wrote them, each as "name: why"; [] if neither did or neither is there. A summary
    of an nnfit that recorded neither checksum is taken as written; a summary.csv that
    no readable summary.json vouches for is taken as changed."""
    folder = Path(folder)
    path, csv = folder / "summary.json", folder / "summary.csv"
    out, rec, untrusted = [], None, "no readable summary.json records it"
    if os.path.islink(path) or (os.path.lexists(path) and not path.is_file()):
        # as summary.csv says it: a link read through gave "not valid JSON"
        out.append("summary.json: changed since the sweep wrote it (a link or folder in its place)")
        untrusted = "the summary.json that records it changed"
    elif os.path.lexists(path):
        try:
            s = load_summary(folder)
        except ResultsError as exc:
            out.append(f"summary.json: {str(exc).removeprefix(f'{path}: ')}")
        else:
            sealed, files = s.get("sha256") is not None, s.get("files")
            if not sealed and files is None:
                return out  # an earlier nnfit's: nothing to check against
            if sealed and own_digest(s) == s["sha256"] and files is not None:
                rec = files.get("summary.csv")  # only a record as written vouches
                if rec is not None and not os.path.lexists(csv):
                    out.append("summary.csv: missing")
            else:
                why = "checksum differs" if sealed and files is not None else "a checksum is gone"
                out.append(f"summary.json: changed since the sweep wrote it ({why})")
                untrusted = "the summary.json that records it changed"
    if os.path.lexists(csv):
        if rec is None:
            out.append(f"summary.csv: {untrusted}")
        elif why := _unlike(csv, rec):
            out.append(f"summary.csv: {why}")
    return out


# ------------------------------------------------------------------ model.npz


class ScaleY(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["standard", "minmax", "none"]
    shift: Finite
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]


Width = Annotated[int, Field(ge=1, le=MAX_MODEL_PARAMS)]
Spec = str | dict[str, Any]


class Meta(BaseModel):
    """model.npz's ``meta``: what rebuilds the network besides its arrays."""

    model_config = ConfigDict(extra="allow")
    sizes: Annotated[list[Width], Field(min_length=2, max_length=MAX_LAYERS + 1)]
    activations: list[Spec]
    output: Spec
    dtype: Literal["float64", "float32"]
    scale_y: ScaleY = ScaleY(kind="none", shift=0.0, scale=1.0)


def _headers(zf: zipfile.ZipFile) -> dict[str, tuple[tuple, np.dtype, int]]:
    """Array name → (shape, dtype, bytes) from each member's .npy header, no data read."""
    out = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or "/" in name:
            raise ValueError(f"unexpected member {_cut(name, 40)!r}")
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"{name}: unknown .npy version {version}")
            header = fh.tell()
        if dtype.hasobject:
            raise ValueError(f"{name[:-4]} holds Python objects, not numbers")
        count = int(np.prod(shape, dtype=object))
        if info.file_size != header + count * dtype.itemsize:
            raise ValueError(f"{name[:-4]}: {info.file_size} bytes do not match its header")
        out[name[:-4]] = (tuple(shape), dtype, count * dtype.itemsize)
    return out


def _check_specs(meta: Meta) -> None:
    if len(meta.activations) != len(meta.sizes) - 2:
        raise ValueError(
            f"meta lists {len(meta.activations)} activations for "
            f"{len(meta.sizes) - 2} hidden layers"
        )
    for spec in [*meta.activations, meta.output]:
        try:
            ActivationSpec.parse(spec).activation()
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"meta: {_cut(exc.args[0] if exc.args else exc, 160)}") from None


def _check_arrays(meta: Meta, heads: dict) -> None:
    if meta.sizes[-1] != 1:  # consistent arrays of two: predict printed the first alone
        raise ValueError(f"meta sizes end in {meta.sizes[-1]:,} outputs; a run's network has 1")
    n_layers = len(meta.sizes) - 1
    n_params = sum((a + 1) * b for a, b in zip(meta.sizes, meta.sizes[1:], strict=False))
    if n_params > MAX_MODEL_PARAMS:
        raise ValueError(
            f"meta sizes {_cut(meta.sizes, 60)} give {n_params:,} parameters "
            f"(at most {MAX_MODEL_PARAMS:,})"
        )
    want = {}
    for l in range(n_layers):
        want[f"W{l}"] = (meta.sizes[l], meta.sizes[l + 1])
        want[f"b{l}"] = (meta.sizes[l + 1],)
    extra = sorted(set(heads) - set(want) - {"meta"})
    if extra:
        raise ValueError(f"unexpected array {_cut(extra[0], 40)!r}")
    dtype = np.dtype(meta.dtype)
    for name, shape in want.items():
        if name not in heads:
            raise ValueError(f"array {name} is missing")
        got, dt, _ = heads[name]
        if got != shape:
            raise ValueError(f"{name} has shape {got}, meta sizes say {shape}")
        if dt != dtype:
            raise ValueError(f"{name} is {dt}, meta says {dtype}")


def load_model(run_dir: Path) -> tuple[Network, dict]:
    """The trained network of a run folder and its meta (with the ``scale_y`` parameters).

    Every array is checked against ``meta`` from the headers before it is read.
    """
    p = Path(run_dir) / "model.npz"
    if not p.is_file():
        raise ResultsError(f"{run_dir}: no model.npz (not a finished run folder)")
    try:
        with zipfile.ZipFile(p) as zf:
            heads = _headers(zf)
            if "meta" not in heads:
                raise ValueError("no meta")
            shape, dt, size = heads["meta"]
            if shape != () or dt.kind != "U" or size > 4 * MAX_META_CHARS:
                raise ValueError(f"meta is not one string (shape {shape}, dtype {dt})")
            with np.load(p, allow_pickle=False) as z:
                meta_obj = json.loads(str(z["meta"]))
                if not isinstance(meta_obj, dict):
                    raise ValueError("meta is not a JSON object")
                meta = Meta.model_validate(meta_obj)
                _check_arrays(meta, heads)
                _check_specs(meta)
                arrays = [(z[f"W{l}"], z[f"b{l}"]) for l in range(len(meta.sizes) - 1)]
    except ValidationError as exc:
        raise ResultsError(f"{p}: meta: {_first_error(exc)}") from None
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as exc:
        text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc
        raise ResultsError(f"{p}: not a readable model: {_cut(text, 200)}") from None
    for l, (W, b) in enumerate(arrays):
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ResultsError(f"{p}: layer {l} holds values that are not finite")
    meta_dict = meta.model_dump(mode="json")
    return Network.from_arrays(meta_dict, arrays), meta_dict


# ------------------------------------------------------------------ done or not


def _canonical(v):
    """Every number as a float (JSON tools write 0.0 as 0), the rest as it is."""
    if isinstance(v, dict):
        return {k: _canonical(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_canonical(x) for x in v]
    if isinstance(v, int | float) and not isinstance(v, bool):
        try:
            return float(v)
        except OverflowError:  # an integer past float's range: kept as written
            return v
    return v


def own_digest(metrics: dict) -> str:
    """The SHA-256 of a metrics.json's keys but its own ``sha256``, as canonical JSON
    (keys sorted, no spaces, numbers as floats): an edit of any value shows, whatever
    the file's layout or the tool that rewrote it (``jq`` writes 0.0 as 0)."""
    rest = _canonical({k: v for k, v in metrics.items() if k != "sha256"})
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def digest(payload: bytes) -> dict:
    """The record of one file: its size and SHA-256."""
    return {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def file_digest(path: Path, limit: int) -> dict:
    h, n = hashlib.sha256(), 0
    with open_regular(path) as fh:
        while chunk := fh.read(1 << 20):
            n += len(chunk)
            if n > limit:
                break
            h.update(chunk)
    return {"bytes": n, "sha256": h.hexdigest()}


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# what a finished run always writes beside metrics.json (a failed one: its config)
_WRITTEN = ("config.yaml", "model.npz", "history.csv", "data.npz")
REQUIRED = {"ok": _WRITTEN, "diverged": _WRITTEN}


#: a file of a run replaced by a link (to the same bytes, or not)
LINKED = "a link in place of the file the run wrote"


def check_run(run_dir: Path, config_hash: str | None = None) -> str | None:
    """Why ``run_dir`` is not a done run (of ``config_hash``, if given), or None.

    Done: metrics.json is valid, was made by this config, and every file it records is
    present with the recorded size and checksum (a metrics.json without checksums is
    not done: an edited model or config would pass unseen).
    """
    run_dir = Path(run_dir)
    try:
        m = load_metrics(run_dir)
    except ResultsError as exc:
        return str(exc)
    if (run_dir / "metrics.json").is_symlink():  # the run wrote files, and no links
        return f"{run_dir}/metrics.json: {LINKED}"
    if m.get("sha256") is None:  # the numbers of a run are only trusted as written
        return f"{run_dir}/metrics.json: records no checksum of its own"
    if own_digest(m) != m["sha256"]:
        return f"{run_dir}/metrics.json: changed since the run was written (checksum differs)"
    if config_hash is not None and m["config_hash"] != config_hash:
        return f"{run_dir}/metrics.json: made by another config"
    files = m.get("files")
    if files is None:  # nothing to check the files against: nothing in them is trusted
        return f"{run_dir}/metrics.json: records no checksums of the run's files"
    for name in REQUIRED.get(m["status"], ("config.yaml",)):
        if name not in files:
            return f"{run_dir}/metrics.json: does not record {name}"
        if not (run_dir / name).is_file():
            state = "not a regular file" if (run_dir / name).exists() else "missing"
            return f"{run_dir}/{name}: {state}"
    for name, rec in files.items():
        if not _PLAIN.match(name) or name == "metrics.json":
            return f"{run_dir}/metrics.json: {_cut(name, 40)!r} is not a file of the run"
        size = rec.get("bytes") if isinstance(rec, dict) else None
        if type(size) is not int or size < 0 or not isinstance(rec.get("sha256"), str):
            return f"{run_dir}/metrics.json: files.{name}: not a size and a checksum"
        p = run_dir / name
        if p.is_symlink():
            return f"{p}: {LINKED}"
        try:
            got = file_digest(p, rec["bytes"])
        except FileNotFoundError:
            return f"{p}: missing"
        except OSError as exc:
            return f"{p}: cannot read: {exc.strerror or exc}"
        if got != rec:
            return f"{p}: changed since the run was written (size or checksum differ)"
    return None


def _runs_below(folder: Path, shown: int = 2) -> str:
    """'; the run folders in it: a, b, … (5 in all)', for an experiment's or a sweep's
    folder given where a run's goes; '' if none is found."""

    def runs_in(where: Path) -> list[str]:  # a look, not a search: at most 2,000 entries
        entries = itertools.islice(where.iterdir(), 2000)
        return sorted(p.name for p in entries if (p / "metrics.json").is_file())

    try:
        where, runs = folder, runs_in(folder)
        if not runs:  # an experiment's folder holds sweeps: name the first one's runs
            entries = itertools.islice(folder.iterdir(), 2000)
            for sweep in sorted(p for p in entries if p.name.startswith("sweep-")):
                with contextlib.suppress(OSError):
                    where, runs = sweep, runs_in(sweep)
                if runs:
                    break
    except OSError:
        return ""
    if not runs:
        return ""
    names = ", ".join(short_path(where / r) for r in runs[:shown])
    if len(names) > 150:  # long names: one, so that the count still fits the line
        shown, names = 1, short_path(where / runs[0])
    more = f", … ({len(runs)} in all)" if len(runs) > shown else ""
    return f"; run folders in it: {names}{more}"


def require_done(run_dir: Path) -> dict:
    """metrics.json of a done run; ResultsError naming the first file at fault."""
    run_dir = Path(run_dir)
    try:
        here = (run_dir / "metrics.json").exists() or (run_dir / "model.npz").exists()
    except OSError as exc:  # a name too long, a folder that is a file …
        raise ResultsError(f"{short_path(run_dir)}: {exc.strerror}") from None
    if not here:
        why = missing(run_dir, "folder")
        if why:
            raise ResultsError(f"{short_path(run_dir)}: {why}")
        raise ResultsError(
            f"{run_dir}: not a run folder (no metrics.json or model.npz){_runs_below(run_dir)}"
        )
    problem = check_run(run_dir)
    if problem:
        raise ResultsError(problem)
    return load_metrics(run_dir)
