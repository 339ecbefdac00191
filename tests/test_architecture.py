"""The package's shape: no import cycle (imports inside functions count), leaves import
nothing above them, the runner knows no task, the registry of names is TensorFlow-free
and agrees with the implementations."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import kerastag
from kerastag import names

PACKAGE = Path(kerastag.__file__).parent

#: Leaves: modules that must not import the runner, the tasks, predict or the CLI.
LEAVES = ("kerastag.checks", "kerastag.names", "kerastag.families", "kerastag.errors",
          "kerastag.fileio", "kerastag.audio", "kerastag.config", "kerastag.datasets",
          "kerastag.features", "kerastag.mixing", "kerastag.models", "kerastag.metrics",
          "kerastag.formats", "kerastag.reference_results", "kerastag.plots",
          "kerastag.sed_scores", "kerastag.decisions")
ABOVE_LEAVES = ("kerastag.runner", "kerastag.tasks", "kerastag.predict", "kerastag.cli",
                "kerastag.loading", "kerastag.fitting", "kerastag.pipeline", "kerastag.export")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """kerastag modules imported anywhere in ``path`` (top level and inside functions)."""
    found = set()
    this = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = this if path.name == "__init__.py" else this.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != this:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    return {module_name(f): imported_modules(f, known) for f in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of modules (first == last), or None. A package's ``__init__`` importing
    its own submodules is not a dependency of those submodules, so edges from a module to
    the package that contains it are ignored."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if node.startswith(nxt + "."):
                continue  # a submodule importing its parent package's __init__
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_kerastag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_leaves_import_nothing_above_them():
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith(LEAVES):
            above = sorted(i for i in imports if i.startswith(ABOVE_LEAVES))
            assert not above, f"{module} (a leaf) imports {above}"


def test_the_runner_knows_no_task():
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith("kerastag.runner"):
            assert not [i for i in imports if i.startswith("kerastag.tasks")], module


def test_tasks_do_not_import_each_other_except_stacking_on_classification():
    graph = import_graph()
    for module, imports in graph.items():
        if not module.startswith("kerastag.tasks."):
            continue
        own = ".".join(module.split(".")[:3])
        others = {".".join(i.split(".")[:3]) for i in imports if i.startswith("kerastag.tasks.")}
        others -= {own}
        if own == "kerastag.tasks.stacking":
            others -= {"kerastag.tasks.classification"}
        assert not others, f"{module} imports {sorted(others)}"


@pytest.mark.slow
def test_names_config_and_cli_stay_tensorflow_free():
    """As the ``kerastag`` command imports them (the package skips its layer registration)."""
    code = ("import sys; sys.argv[0] = 'kerastag'; "
            "import kerastag.names, kerastag.families, kerastag.config, kerastag.cli, "
            "kerastag.datasets; "
            "kerastag.config.load_config(sys.argv[1]); print('tensorflow' in sys.modules)")
    config = PACKAGE.parent / "experiments" / "demo.yaml"
    result = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_family_registry_stays_tensorflow_and_keras_free():
    """The declarations resolve nothing on import: config validation stays fast."""
    code = ("import sys; sys.argv[0] = 'kerastag'; import kerastag.families; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("table", ["TASKS", "STAGES", "PREDICTORS", "LAYOUTS", "DEMO_LAYOUTS",
                                   "FEATURE_TYPES"])
def test_every_registered_name_resolves(table):
    for name, target in getattr(names, table).items():
        assert names.resolve(target) is not None, f"{table}[{name!r}] -> {target}"


def test_mixing_modes_resolve_and_networks_match_the_registry():
    from kerastag import families
    from kerastag.models.networks import NETWORKS

    for mode in names.MIXING_MODES.values():
        assert mode.mix is None or callable(names.resolve(mode.mix))
    classifiers = families.names_where(lambda f: "classification" in f.tasks)
    assert set(NETWORKS) == set(classifiers)
    for family in families.FAMILIES.values():
        assert callable(family.hook("builder")), family.name
        for hook in ("frame_model", "frame_window_trainer", "pretrain", "fit", "settings"):
            assert getattr(family, hook) is None or family.hook(hook) is not None, (family.name, hook)
        if family.default_input is not None:
            assert family.default_input["type"] in names.FEATURE_TYPES
            assert family.default_input["type"] in family.inputs
