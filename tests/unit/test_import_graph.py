"""The engine's import graph, read with ast (docs/architecture.md, "Layers"):

* no import cycle among engine's modules, and no first-party import inside a function (a lazy import is how a
  cycle hides);
* data flows one way: a service (engine/services/*) never imports another service, and nothing below the
  services imports one (engine/demo.py is a client of the services, like the CLI);
* the engine never imports Flask or the web layer;
* one module writes the task list's index (task_candidates): engine/task_index.py.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "engine"
CLIENTS = {"engine.demo"}  # above the services: it seeds a demo center through them


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str):
    """(node, imported module names, inside a function) for every import statement; TYPE_CHECKING blocks are
    skipped. `from a import b` counts as importing a.b when that is a module, else a."""
    out = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                out.append((child, [alias.name for alias in child.names], in_function))
            elif isinstance(child, ast.ImportFrom):
                module = resolve(child)
                names = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in child.names]
                out.append((child, names, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return out


def _first_party(name: str) -> bool:
    return name.split(".")[0] in {"engine", "webui", "jiefen_cli", "config"}


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    graph: dict[str, set[str]] = {}
    lazy: list[str] = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node, targets, in_function in _imports(tree, package + ".x" if path.name == "__init__.py" else name):
            for target in targets:
                if not _first_party(target):
                    continue
                if in_function:
                    lazy.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {target} inside a function")
                elif target in MODULES and target != name:
                    edges.add(target)
    return graph, lazy


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def _package_edge(source: str, target: str) -> bool:
    """A package's __init__ re-exporting its own submodules (engine.specs -> engine.specs.facts) and the
    submodules importing each other through it are one unit, not a cycle between layers."""
    return target.startswith(source + ".") or source.startswith(target + ".")


def test_the_engine_has_no_import_cycle():
    graph, _lazy = _graph()
    graph = {v: {w for w in ws if not _package_edge(v, w)} for v, ws in graph.items()}
    assert _cycles(graph) == []


def test_no_first_party_import_inside_a_function():
    _graph_, lazy = _graph()
    assert lazy == []


def test_services_never_import_each_other_and_nothing_below_imports_them():
    graph, _lazy = _graph()
    wrong = []
    for source, targets in graph.items():
        for target in targets:
            if not target.startswith("engine.services.") or source in CLIENTS:
                continue
            if source.startswith("engine.services.") or not source.startswith("engine.services"):
                wrong.append(f"{source} -> {target}")
    assert wrong == []


def test_the_engine_never_imports_flask_or_the_web_layer():
    wrong = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, targets, _in_function in _imports(tree, name):
            wrong += [f"{name}:{node.lineno} {t}" for t in targets if t.split(".")[0] in {"flask", "webui"}]
    assert wrong == []


def _writes_candidates(tree: ast.AST) -> list[int]:
    """Lines that write task_candidates: insert/update/delete of it, a TaskCandidateModel built, or a task's
    .candidates assigned."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "TaskCandidateModel":
                lines.append(node.lineno)
            elif name in {"insert", "update", "delete"} and node.args:
                text = ast.unparse(node.args[0])
                if "Candidate" in text or "CANDIDATES" in text:
                    lines.append(node.lineno)
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Attribute) and t.attr == "candidates" for t in node.targets):
                lines.append(node.lineno)
    return lines


def test_only_the_task_index_writes_task_candidates():
    writers = {}
    for name, path in MODULES.items():
        lines = _writes_candidates(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if lines:
            writers[name] = lines
    assert set(writers) == {"engine.task_index"}, writers


def test_the_checks_see_what_they_look_for(tmp_path):
    """The scans are not vacuous: a cycle, a lazy import and a candidates write are each found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    tree = ast.parse("def f():\n    from engine import casework\n")
    [(_node, targets, in_function)] = _imports(tree, "engine.x")
    assert targets == ["engine.casework"] and in_function
    tree = ast.parse("from sqlalchemy import update\nupdate(TaskCandidateModel).values(x=1)\n"
                     "task.candidates = []\n")
    assert sorted(_writes_candidates(tree)) == [2, 3]
    assert _graph()[0]["engine.casework"] >= {"engine.task_index", "engine.chain"}
