"""The package's layers: the engine stands alone, no import circles, no import side effects."""

import ast
import subprocess
import sys
from pathlib import Path

import nnfit

ROOT = Path(nnfit.__file__).parent
LAYERS = ("engine", "experiment", "sweep", "study")


def run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT.parent
    )
    return out.stdout.strip()


def test_the_engine_imports_without_the_outer_layers_libraries():
    code = (
        "import sys\n"
        "import nnfit.engine.train, nnfit.engine.gradcheck, nnfit.engine.tape\n"
        "import nnfit.engine.second_order, nnfit.engine.lstsq\n"
        "heavy = ('pydantic', 'rich', 'matplotlib', 'yaml', 'typer')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "print(sorted(m for m in sys.modules if m.startswith('nnfit.')"
        " and not m.startswith('nnfit.engine')))\n"
    )
    assert run(code).splitlines() == ["[]", "[]"]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """nnfit modules imported anywhere in the file (functions too), except for type
    checking only."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nnfit")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnfit"):
            for a in node.names:  # `from nnfit.x import y` may name the module nnfit.x.y
                sub = f"{node.module}.{a.name}"
                out.add(
                    sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() else node.module
                )
    return out


GRAPH = {_module(p): _imports(p) for p in ROOT.rglob("*.py")}


def test_no_import_circles():
    def visit(node, path):
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == "nnfit":
                continue
            if nxt in path:
                raise AssertionError(" → ".join([*path[path.index(nxt) :], nxt]))
            visit(nxt, [*path, nxt])

    for mod in sorted(GRAPH):
        visit(mod, [mod])


def test_layers_import_only_downwards():
    rank = {"engine": 0, "experiment": 1, "sweep": 2, "study": 3}
    for mod, deps in GRAPH.items():
        parts = mod.split(".")
        if len(parts) < 3 or parts[1] not in rank:
            continue
        for dep in deps:
            dparts = dep.split(".")
            if len(dparts) >= 2 and dparts[1] in rank:
                assert rank[dparts[1]] <= rank[parts[1]], f"{mod} imports {dep}"
            else:
                assert dep == "nnfit", f"{mod} imports the outer layer {dep}"


def test_importing_nnfit_changes_no_process_state():
    code = (
        "import os, matplotlib\n"
        "before = (matplotlib.get_backend(), os.umask(0o027))\n"
        "import nnfit.experiment.plots, nnfit.sweep.plots, nnfit.experiment.rundir\n"
        "import nnfit.experiment.runner, nnfit.cli\n"
        "print(before[0] == matplotlib.get_backend(), oct(os.umask(0o022)))\n"
    )
    assert run(code) == "True 0o27"
