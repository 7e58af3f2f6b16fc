"""The package's shape, as tests: every module imports, dermaseg's internal import graph (module-level and
function-level imports alike) has no cycle, no ``_private`` module is imported from another package, own
modules are imported at the top of files, and ``dermaseg --help`` does not import torch."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dermaseg

SRC = Path(dermaseg.__file__).resolve().parent
#: the front end imports each command's module inside the command: those modules import torch
LAZY_OK = {"dermaseg.cli", "dermaseg.serve.workspace_cli"}  # command lines: heavy modules inside commands


def _module_files() -> dict[str, Path]:
    out = {}
    for p in sorted(SRC.rglob("*.py")):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _module_files()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``name``)."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if _is_package(name) else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _deepest_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            return ".".join(parts[:i])
    return None


def _imports(name: str) -> list[tuple[str, int, bool]]:
    """(imported dermaseg module, line, at module level?) for every import statement in ``name``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for t in targets:
            mod = _deepest_module(t) if t.startswith("dermaseg") else None
            if mod is not None and mod != name:
                out.append((mod, node.lineno, id(node) in top))
    return out


GRAPH = {name: {m for m, _, _ in _imports(name)} for name in MODULES}


def test_every_module_imports():
    skipped = []
    for info in pkgutil.walk_packages(dermaseg.__path__, "dermaseg."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:  # an optional dependency (e.g. the web app's) is not installed
            if e.name and e.name.split(".")[0] == "dermaseg":
                raise
            skipped.append(info.name)
    assert set(MODULES) - set(skipped) <= set(sys.modules)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def private_imports(graph: dict[str, set[str]], packages: set[str]) -> list[str]:
    """Edges into a module named ``_x`` from outside the package that holds it."""
    def parent(m: str) -> str:
        return m if m in packages else m.rsplit(".", 1)[0]

    return [f"{src} imports {dst}" for src, dsts in graph.items() for dst in sorted(dsts)
            if dst.rsplit(".", 1)[-1].startswith("_") and dst.rsplit(".", 1)[0] != parent(src)]


PACKAGES = {m for m in MODULES if _is_package(m)}


def test_import_graph_is_acyclic():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    assert sum(len(v) for v in GRAPH.values()) > 100  # the graph was really read
    assert "dermaseg.inference.predictor" in GRAPH["dermaseg.evaluation.evaluate"]
    assert "dermaseg.training.run" in GRAPH["dermaseg.training.cv"]
    assert "dermaseg.training.cv" not in GRAPH["dermaseg.training.run"]


def test_no_private_module_is_imported_from_another_package():
    bad = private_imports(GRAPH, PACKAGES)
    assert not bad, bad
    assert {m for m in MODULES if m.rsplit(".", 1)[-1].startswith("_")} <= {"dermaseg.__main__"}


def test_own_modules_are_imported_at_the_top_of_files():
    lazy = [f"{name}:{line} imports {mod}" for name in MODULES if name not in LAZY_OK
            for mod, line, at_top in _imports(name) if not at_top]
    assert not lazy, lazy


def test_the_checks_catch_what_they_look_for():
    # the functions above are not vacuous: the graph as it was before this layout had both faults
    old = {"dermaseg.training.run": {"dermaseg.training.cv"}, "dermaseg.training.cv": {"dermaseg.training.run"},
           "dermaseg.inference.segment": {"dermaseg.inference._engine"},
           "dermaseg.models.test_fast_inference": {"dermaseg.inference._engine"}}
    assert find_cycle(old) == ["dermaseg.training.cv", "dermaseg.training.run", "dermaseg.training.cv"]
    assert private_imports(old, set()) == ["dermaseg.models.test_fast_inference imports dermaseg.inference._engine"]


def _fresh_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["segment", "--help"], ["data", "check", "--help"],
                                  ["measure", "--help"], ["compare", "--help"]])
def test_help_does_not_import_torch(argv):
    out = _fresh_python(
        "import sys\n"
        "from dermaseg.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('TORCH', 'torch' in sys.modules)\n")
    assert "Usage" in out and out.strip().endswith("TORCH False")


def test_import_dermaseg_is_light_and_its_api_lazy():
    out = _fresh_python(
        "import sys, dermaseg\n"
        "print(dermaseg.__version__, 'torch' in sys.modules)\n"
        "p = dermaseg.Prompt(box=(1, 2, 3, 4))\n"
        "print(p.describe(), 'torch' in sys.modules)\n"
        "print(dermaseg.load_predictor.__module__, 'torch' in sys.modules)\n")
    assert out.splitlines() == [f"{dermaseg.__version__} False", "box 1,2,3,4 False",
                                "dermaseg.inference.predictor True"]
    assert set(dermaseg.__all__) >= {"load_predictor", "Predictor", "Prediction", "segment_files", "evaluate",
                                     "create_model", "list_models", "load_dataset", "Prompt", "DermasegError",
                                     "measure"}
    for name in dermaseg.__all__:
        assert getattr(dermaseg, name) is not None
    with pytest.raises(AttributeError):
        dermaseg.no_such_name  # noqa: B018


#: docs/ARCHITECTURE.md's import layers, lowest first: a module imports only its own layer or lower ones
LAYERS = (
    ("dermaseg.errors", "dermaseg.io", "dermaseg.devices", "dermaseg.overlays", "dermaseg.ray_cluster",
     "dermaseg.dicom"),  # dicom: reading DICOM images (beside io) and writing DICOM SEG
    ("dermaseg.data",),
    ("dermaseg.measure",),
    ("dermaseg.workspace",),  # reads and writes workspace folders: data, measure, overlays; no model
    ("dermaseg.models",),
    ("dermaseg.inference", "dermaseg.export"),  # the onnxruntime backend beside the torch one
    ("dermaseg.evaluation.metrics",),  # the scores and THE metric table: what reports and CV list
    ("dermaseg.report",),  # renders saved runs: never imports the evaluator that writes them
    ("dermaseg.evaluation", "dermaseg.compare"),  # compare: Predictor + measure
    ("dermaseg.training",),
    ("dermaseg.cli", "dermaseg.__main__", "dermaseg.serve"),
)


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_imports_go_down_the_layers():
    up = [f"{src} ({_layer(src)}) imports {dst} ({_layer(dst)})" for src, dsts in GRAPH.items() for dst in dsts
          if src != "dermaseg" and dst != "dermaseg" and _layer(dst) > _layer(src)]
    assert not up, up
    assert all(_layer(m) is not None for m in MODULES if m != "dermaseg")


#: a rule's value -> the one module that may spell it (every other module imports the name)
ONE_HOME = {0.65: "dermaseg.inference.postprocess"}


def test_each_rule_value_is_written_in_one_module():
    spelt = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_tuples = {id(e) for t in ast.walk(tree) if isinstance(t, ast.Tuple) for e in t.elts}  # colours
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and type(node.value) is float and node.value in ONE_HOME
                    and id(node) not in in_tuples):
                spelt.setdefault(node.value, set()).add(name)
    assert spelt == {v: {home} for v, home in ONE_HOME.items()}, spelt
