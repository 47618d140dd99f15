"""The package's import graph: no cycles, and the pipelines never import one another.

Every module of ``wagtail_salesforce`` is parsed (not imported) and each import counts, at
module level and inside functions alike; only ``if TYPE_CHECKING:`` blocks are left out, since
they never run. ``from package import name`` is followed to the submodule that defines ``name``
when the package's ``__init__`` only re-exports it, so a package that gathers its parts' names
does not by itself make a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import wagtail_salesforce

PACKAGE = "wagtail_salesforce"
ROOT = Path(wagtail_salesforce.__file__).resolve().parent

# The pipelines: each may use config, client, connection and core, never another pipeline.
PIPELINES = ("forms", "outbox", "sync")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def package_modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = Module(".".join(parts), path)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere, except inside ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _base(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.package.split(".")
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def raw_imports(module: Module, modules: dict[str, Module]) -> Iterator[tuple[str, str | None]]:
    """``(module imported, name taken from it or None)`` for every import of the package."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name, None
            continue
        base = _base(module, node)
        if base.split(".")[0] != PACKAGE:
            continue
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in modules:
                yield submodule, None
            else:
                yield base, alias.name


def re_exports(modules: dict[str, Module]) -> dict[str, dict[str, str]]:
    """For each package ``__init__``: name -> the package's module it imports the name from."""
    exports: dict[str, dict[str, str]] = {}
    for module in modules.values():
        if not module.is_package:
            continue
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        names: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                base = _base(module, node)
                if base in modules and base != module.name:
                    for alias in node.names:
                        names[alias.asname or alias.name] = base
        exports[module.name] = names
    return exports


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    exports = re_exports(modules)

    def resolve(target: str, name: str | None) -> str:
        seen: set[str] = set()
        while name is not None and name in exports.get(target, {}) and target not in seen:
            seen.add(target)
            target = exports[target][name]
        return target

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module in modules.values():
        for target, name in raw_imports(module, modules):
            resolved = resolve(target, name)
            if resolved in modules and resolved != module.name:
                graph[module.name].add(resolved)
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _pipeline(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PIPELINES else None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = [
        sorted(component)
        for component in strongly_connected_components(graph)
        if len(component) > 1
    ]
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_pipelines_never_import_one_another() -> None:
    crossings = sorted(
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if _pipeline(module)
        and _pipeline(target)
        and _pipeline(module) != _pipeline(target)
    )
    assert crossings == []


def test_the_admin_never_imports_the_form_mixin() -> None:
    """Form pages point at the admin's submissions view and editor panel (as Wagtail's
    ``FormMixin`` points at its views), so the admin importing ``forms`` would close a loop."""
    crossings = sorted(
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if module.startswith(f"{PACKAGE}.admin") and _pipeline(target) == "forms"
    )
    assert crossings == []


def test_nothing_below_the_people_package_imports_it() -> None:
    """``people`` (access and erasure requests) is a consumer like the admin: it reads the
    pipelines' models and calls the client, so none of them, nor what they build on, may
    import it back."""
    below = (*PIPELINES, "core", "client", "config", "connection")
    crossings = sorted(
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if module.split(".")[1:2]
        and module.split(".")[1] in below
        and target.startswith(f"{PACKAGE}.people")
    )
    assert crossings == []


def test_the_people_package_never_imports_the_admin() -> None:
    """The admin's screen and the management command both use ``people``; the audit-log entry
    of an export is the admin's to write, so ``people`` stays below it."""
    crossings = sorted(
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if module.startswith(f"{PACKAGE}.people") and target.startswith(f"{PACKAGE}.admin")
    )
    assert crossings == []


def test_the_core_imports_nothing_of_the_plugin_but_conf() -> None:
    graph = import_graph()
    core = {name for name in graph if name.startswith(f"{PACKAGE}.core")}
    outside = {
        (module, target)
        for module in core
        for target in graph[module]
        if target not in core and target != f"{PACKAGE}.conf"
    }
    assert outside == set()


def test_the_graph_sees_function_level_and_re_exported_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle hidden in a function and one through a package's
    re-export are both found; an ``if TYPE_CHECKING:`` import is not an edge."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(c) for c in strongly_connected_components(graph) if len(c) > 1] == [
        ["a", "b", "c"]
    ]

    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from wagtail_salesforce.sync import models\n"
        "def later():\n"
        "    from wagtail_salesforce.outbox.delivery import sweep\n"
        "    from . import checks\n"
        "    from .config import get_config\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = package_modules()
    probe = Module(f"{PACKAGE}.probe", path)
    found = set(raw_imports(probe, modules))
    assert found == {
        (f"{PACKAGE}.outbox.delivery", "sweep"),
        (f"{PACKAGE}.checks", None),
        (f"{PACKAGE}.config", "get_config"),
    }
    assert re_exports(modules)[f"{PACKAGE}.config"]["load_config"] == f"{PACKAGE}.config.loader"
