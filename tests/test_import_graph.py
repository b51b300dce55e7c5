"""The layers hold: kernels run with no widget library installed, and the import graph points one way.

The graph is read from the source (the AST of every module of the package), counting imports inside functions
too, so that a lazy import cannot hide a dependency. The exceptions are listed in ``ALLOWED`` with their reason.
"""

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "xwidgets"

#: The packages of kernels and their plumbing: they must run headless.
KERNEL_PACKAGES = ("core", "data", "metrics", "heatmaps", "sag", "concepts", "summaries", "text", "similarity", "runs")
#: The packages of methods, the toy world and the dataset runs: ``views`` knows none of them.
METHOD_PACKAGES = ("metrics", "heatmaps", "sag", "concepts", "summaries", "text", "similarity", "toy", "data", "runs")
WIDGET_LIBRARIES = ("ipywidgets", "anywidget", "bqplot", "traitlets")


@dataclass(frozen=True)
class Import:
    """One imported name: ``importer`` imports ``name`` (None for ``import module``) from ``module``, resolved to
    the module that defines it (``target``), at module level or inside the function ``function``."""

    importer: str
    module: str
    name: str | None
    target: str
    function: str | None
    line: int

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{self.importer}:{self.line}{where}: {what}"


def module_name(path: Path) -> str:
    parts = ("xwidgets",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = modules()


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def absolute(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a (relative) ``from ... import``."""
    if not node.level:
        return node.module
    base = importer.split(".") if is_package(importer) else importer.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _walk(tree: ast.AST, function: str | None = None):
    """(node, enclosing function name) for every import statement."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, function
        inner = node.name if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
        yield from _walk(node, inner)


def _reexports(package: str) -> dict[str, str]:
    """Names a package's ``__init__`` imports at module level, and the module each comes from."""
    found = {}
    for node in ast.parse(MODULES[package].read_text()).body:
        if isinstance(node, ast.ImportFrom):
            source = absolute(package, node)
            for alias in node.names:
                found[alias.asname or alias.name] = source
    return found


def resolve(module: str, name: str) -> str:
    """The module that defines ``module.name``: a submodule, or the origin of a package's re-export."""
    seen = set()
    while True:
        if f"{module}.{name}" in MODULES:
            return f"{module}.{name}"
        if not is_package(module) or (module, name) in seen:
            return module
        seen.add((module, name))
        origin = _reexports(module).get(name)
        if origin is None or not origin.startswith("xwidgets"):
            return module
        module = origin


def imports() -> list[Import]:
    found = []
    for importer, path in MODULES.items():
        for node, function in _walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [Import(importer, a.name, None, a.name, function, node.lineno) for a in node.names]
                continue
            source = absolute(importer, node)
            for alias in node.names:
                target = resolve(source, alias.name) if source.startswith("xwidgets") else source
                found.append(Import(importer, source, alias.name, target, function, node.lineno))
    return found


IMPORTS = imports()


def package_of(module: str) -> str:
    """``"core"`` for ``xwidgets.core.layers``; ``""`` for the root package and top-level modules' own names."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "xwidgets" else ""


def is_kernel(module: str) -> bool:
    return package_of(module) in KERNEL_PACKAGES and not module.endswith(".explorer")


def internal(imp: Import) -> bool:
    return imp.target.split(".")[0] == "xwidgets"


def explorer_export(imp: Import) -> bool:
    """A package's own explorer, exported lazily by its ``__getattr__`` (the issue wants explorers exported from
    their packages; importing the package still imports no widget library, as the subprocess test checks)."""
    return is_package(imp.importer) and imp.function == "__getattr__" and imp.target == f"{imp.importer}.explorer"


#: Imports the rules allow, each with its reason. Each entry is (importer, imported name).
ALLOWED = {
    # The root package is every module's parent: Python has imported it before any of its modules runs, and it
    # defines __version__ before its first import, so reading the version adds no dependency and no ordering risk.
    ("xwidgets.core.results", "__version__"): "the library's version, in a result's metadata",
}


def allowed(imp: Import) -> bool:
    return (imp.importer, imp.name) in ALLOWED or explorer_export(imp)


def violations(rule) -> list[str]:
    return sorted(str(imp) for imp in IMPORTS if not allowed(imp) and rule(imp))


def test_the_graph_reads_every_module_and_resolves_re_exports():
    assert {"xwidgets.core.sources", "xwidgets.heatmaps.baselines", "xwidgets.views.explorer"} <= set(MODULES)
    rise = [i for i in IMPORTS if i.importer == "xwidgets.toy.attributes" and i.name == "rise"]
    assert rise and rise[0].target == "xwidgets.heatmaps.baselines"
    lazy = [i for i in IMPORTS if i.function is not None and internal(i)]
    assert lazy, "imports inside functions are read too"


#: Kernel packages that may import the toy world: ``data`` turns it into an image source (``xw.data.toy``), as the
#: toy world adapts itself to the methods' terms; no method package imports it.
TOY_ADAPTERS = ("data",)


def test_kernel_packages_import_no_view_explorer_widget_library_or_toy():
    def breaks(imp: Import) -> bool:
        if not is_kernel(imp.importer):
            return False
        top = imp.target.split(".")[0]
        toy = package_of(imp.target) == "toy" and package_of(imp.importer) not in TOY_ADAPTERS
        return top in WIDGET_LIBRARIES or package_of(imp.target) == "views" or toy or imp.target.endswith(".explorer")

    assert violations(breaks) == []


def test_core_imports_nothing_above_core():
    def breaks(imp: Import) -> bool:
        return package_of(imp.importer) == "core" and internal(imp) and package_of(imp.target) != "core"

    assert violations(breaks) == []


def test_figure_modules_import_the_kit_and_their_kernel_only():
    def breaks(imp: Import) -> bool:
        if not imp.importer.endswith(".figure") or not internal(imp):
            return False
        own = package_of(imp.importer)
        return not (
            imp.target == "xwidgets.figures"
            or package_of(imp.target) == "core"
            or (package_of(imp.target) == own and not imp.target.endswith(".explorer"))
        )

    assert violations(breaks) == []


def test_no_module_imports_a_private_name_from_another_package():
    def private(imp: Import) -> bool:
        names = imp.target.split(".") + ([imp.name] if imp.name else [])
        return any(n.startswith("_") and not (n.startswith("__") and n.endswith("__")) for n in names)

    def breaks(imp: Import) -> bool:
        return internal(imp) and private(imp) and package_of(imp.target) != package_of(imp.importer)

    assert violations(breaks) == []


def test_views_import_no_method_package():
    def breaks(imp: Import) -> bool:
        return package_of(imp.importer) == "views" and package_of(imp.target) in METHOD_PACKAGES

    assert violations(breaks) == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (module level and inside functions), the allowed imports left out.

    An edge from a module to its own package's ``__init__`` is counted like any other; the root package
    ``xwidgets`` (the facade that imports every package for ``import xwidgets``) is a node too."""
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if internal(imp) and not allowed(imp) and imp.target != imp.importer:
            edges.setdefault(imp.importer, set()).add(imp.target)
    return edges


def test_there_is_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: Top-level modules that compose explorers and views into one widget (widgets by design, like the explorers).
COMPOSITIONS = ("xwidgets.classroom",)


def kernel_modules() -> list[str]:
    """Every module of the package but the explorers, the views and the top-level compositions."""
    return [
        name
        for name in MODULES
        if not name.endswith(".explorer") and package_of(name) != "views" and name not in COMPOSITIONS
    ]


HEADLESS = """
import importlib, importlib.abc, sys

class NoWidgets(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not installed here")
        return None

sys.meta_path.insert(0, NoWidgets())
import xwidgets as xw
for name in {modules!r}:
    importlib.import_module(name)
result = xw.explain(xw.toy.classifier(), xw.toy.dataset(2, seed=5).images(), method="gradcam", progress=False)
assert tuple(result.saliency.shape) == (2, 1, 112, 112), result.saliency.shape
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
assert not loaded, loaded
print("headless ok", len({modules!r}))
"""


def test_every_kernel_module_imports_and_runs_without_widget_libraries():
    names = kernel_modules()
    assert "xwidgets.core.sources" in names and "xwidgets.heatmaps.explorer" not in names
    script = textwrap.dedent(HEADLESS).format(blocked=WIDGET_LIBRARIES, modules=names)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=280, cwd=PACKAGE.parent
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"headless ok {len(names)}" in done.stdout


def test_the_headless_check_catches_a_widget_import(tmp_path):
    script = textwrap.dedent(HEADLESS).format(blocked=WIDGET_LIBRARIES, modules=["xwidgets.heatmaps.explorer"])
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=280, cwd=PACKAGE.parent
    )
    assert done.returncode != 0 and "is not installed here" in done.stderr
