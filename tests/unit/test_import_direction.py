"""The package's layers import downwards only, and no module imports itself back.

``config`` is the bottom floor, ``protocol`` (sans-IO) sits on it, ``runtime``
on both, and the command line on top.  Imports inside ``if TYPE_CHECKING:``
count too: a circle that only the type checker sees is still a circle in
the design.  Below ``runtime`` no module uses sockets, waits or processes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pyser2net

PACKAGE = Path(pyser2net.__file__).resolve().parent

#: What each layer may import, besides itself and the package's top module.
ALLOWED = {
    "config": set(),
    "protocol": {"config"},
    "runtime": {"config", "protocol"},
}
TOP = {"cli", "attach_cli", "daemon", "__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Set[str]:
    """Every pyser2net module ``path`` imports (a name imported from a
    package counts as that submodule when there is one)."""
    tree = ast.parse(path.read_text(), str(path))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pyser2net"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level or not node.module.startswith("pyser2net"):
                assert not node.level, f"{path}: relative import"
                continue
            found.add(node.module)
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in MODULES:
                    found.add(sub)
    return found


MODULES: Dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH: Dict[str, Set[str]] = {name: imports_of(path) - {name} for name, path in MODULES.items()}
#: The top floor: the modules beside the packages (cli, daemon, __main__...).
TOP = {
    name.split(".")[1]
    for name, path in MODULES.items()
    if path.parent == PACKAGE and path.name != "__init__.py"
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_not_empty():
    assert "pyser2net.runtime.port" in GRAPH
    assert "pyser2net.protocol.chardelay" in GRAPH["pyser2net.runtime.port"]
    assert {"cli", "daemon", "__main__"} <= TOP


def test_each_layer_imports_only_the_layers_below():
    wrong = []
    for module, deps in GRAPH.items():
        own = layer(module)
        if own not in ALLOWED:
            continue
        for dep in deps:
            target = layer(dep)
            if dep != "pyser2net" and target != own and target not in ALLOWED[own]:
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_nothing_below_the_top_imports_the_command_line():
    wrong = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if layer(d) in TOP and layer(m) not in TOP
    ]
    assert wrong == []


def cycles() -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
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

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles() == []


#: Standard modules for sockets, waiting and processes: the event loop's
#: business (runtime), never that of reading a configuration or of a
#: sans-IO protocol.  A name lookup the config layer needs is handed in.
IO_MODULES = {"socket", "select", "selectors", "asyncio", "subprocess", "threading", "signal"}


def standard_imports_of(path: Path) -> Set[str]:
    """The top-level names of every non-pyser2net module ``path`` imports,
    at any depth (inside functions too)."""
    tree = ast.parse(path.read_text(), str(path))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found - {"pyser2net"}


def test_config_and_protocol_use_no_sockets_waits_or_processes():
    wrong = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if layer(module) in ("config", "protocol")
        for name in sorted(standard_imports_of(path) & IO_MODULES)
    ]
    assert wrong == []
    # The rule sees what it looks for: the runtime does use them.
    assert "socket" in standard_imports_of(MODULES["pyser2net.runtime.listeners"])
