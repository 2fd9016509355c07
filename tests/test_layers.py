"""The import layers of the fastrep package, read from the source with ``ast``.

:data:`LAYERS` is the one place the layering is written down, lowest first. A module may import
modules of its own layer or of a lower one, never of a higher one, and no two modules may
import each other, directly or around a circle. Every import counts: at module level and
inside functions, absolute and relative, and ``importlib.import_module("...")`` with a string
literal. ``from pkg import x`` is an import of the submodule ``pkg.x`` when ``x`` is a module,
else of ``pkg`` (its ``__init__``); importing a submodule is not counted as importing its
package's ``__init__``.

``python -m pytest -k layers`` runs these tests.
"""

from __future__ import annotations

import ast
import importlib.machinery
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "fastrep"

#: The layers of fastrep, lowest first: {layer: module patterns}. A pattern names a module
#: ("fastrep.backend"), or a package and everything in it ("fastrep.experiments.*" matches
#: fastrep.experiments and its submodules). Modules of one layer may import each other
#: (without cycles); an arrow only points down.
LAYERS: dict[str, tuple[str, ...]] = {
    # leaves: array handling, the C++ headers' folder, the version, the compiled core
    "leaves": ("fastrep._arrays", "fastrep._include", "fastrep._version", "fastrep._warnings", "fastrep._ext"),
    # argument rules, the memory budget and its pools, progress reporting
    "foundation": ("fastrep._validation", "fastrep._memory", "fastrep._progress"),
    # one module per backend (the Ops contract) and their shared drivers
    "kernels": ("fastrep._kernels.*",),
    # registry, resolution, the execution Context
    "backend": ("fastrep.backend",),
    # the data layer: features, kernels, targets, streams, ridge solvers
    "data": ("fastrep.hermite", "fastrep.ntk", "fastrep.kernels", "fastrep.targets", "fastrep.data",
             "fastrep.ridge", "fastrep._streams", "fastrep._stream_cache"),
    # learners, what measures them, and the predictions of the theory
    "learners": ("fastrep.network", "fastrep.kernel_ridge", "fastrep.nystrom", "fastrep.oracle",
                 "fastrep.transfer", "fastrep.multistep", "fastrep.diagnostics", "fastrep.metrics", "fastrep.theory.*"),
    # sweeps: specs, runner, store, analysis, plots, reports
    "experiments": ("fastrep.experiments.*",),
    # the public API (``fastrep/__init__.py``: a few eager names, the rest loaded on first use)
    "api": ("fastrep",),
    # the `fastrep` command: a client of the public API (``fastrep.backends``, ``__version__``)
    "cli": ("fastrep.cli",),
}

EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


# --- the checker -------------------------------------------------------------------------


def modules(root: Path) -> dict[str, Path]:
    """{dotted name: file} of every module of the package in ``root`` (packages by their
    ``__init__.py``; compiled extensions by their shared library)."""
    out = {}
    pkg = root.name
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        parts = [pkg, *rel.parts[:-1]]
        if path.name == "__init__.py":
            out[".".join(parts)] = path
        elif path.suffix == ".py":
            out[".".join(parts + [path.stem])] = path
        elif path.name.endswith(EXTENSION_SUFFIXES):
            stem = next(path.name[: -len(s)] for s in EXTENSION_SUFFIXES if path.name.endswith(s))
            out.setdefault(".".join(parts + [stem]), path)
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of a relative import ``from <level dots><name> import ...``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _string_imports(node: ast.Call) -> str | None:
    """The module named by ``import_module("...")`` / ``importlib.import_module("...")``."""
    func = node.func
    fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if fname != "import_module" or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def imports(root: Path) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, every import counted (see the docstring)."""
    mods = modules(root)
    pkg = root.name
    graph: dict[str, set[str]] = {m: set() for m in mods}

    def target(name: str) -> str | None:
        # the module itself, else its closest enclosing module of the package
        while name:
            if name in mods:
                return name
            name = name.rpartition(".")[0]
        return None

    for mod, path in mods.items():
        if path.suffix != ".py":
            continue
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(mod, is_package, node.level, node.module)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    names.append(sub if sub in mods else base)
            elif isinstance(node, ast.Call):
                lit = _string_imports(node)
                if lit is not None:
                    if lit.startswith("."):
                        level = len(lit) - len(lit.lstrip("."))
                        lit = _absolute(mod, is_package, level, lit.lstrip(".") or None)
                    names = [lit]
            for name in names:
                if name == pkg or name.startswith(pkg + "."):
                    t = target(name)
                    if t is not None and t != mod:
                        graph[mod].add(t)
    return graph


def layer_of(module: str, layers: dict[str, tuple[str, ...]]) -> int | None:
    """The index of the module's layer in ``layers`` (the most specific pattern wins)."""
    best = None
    for i, patterns in enumerate(layers.values()):
        for pat in patterns:
            if pat.endswith(".*"):
                pkg = pat[:-2]
                hit = module == pkg or module.startswith(pkg + ".")
                spec = len(pkg)
            else:
                hit = module == pat
                spec = len(pat) + 1
            if hit and (best is None or spec > best[0]):
                best = (spec, i)
    return None if best is None else best[1]


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one module (Tarjan's
    algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import cycle [a, b, ..., a] through each group of modules that import each other
    around a circle (a shortest one from the group's first module, by breadth-first search)."""
    out = []
    for comp in _components(graph):
        members, start = set(comp), comp[0]
        parent: dict[str, str] = {}
        queue, seen = [start], {start}
        while queue:
            node = queue.pop(0)
            if start in graph[node]:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                out.append(path[::-1] + [start])
                break
            for nxt in sorted(graph[node] & members):
                if nxt not in seen:
                    seen.add(nxt)
                    parent[nxt] = node
                    queue.append(nxt)
    return out


def check(root: Path, layers: dict[str, tuple[str, ...]]) -> list[str]:
    """Every breach of ``layers`` in the package at ``root``: unassigned modules, a cycle through
    each group of modules that import each other, and every import from a lower layer into a
    higher one."""
    graph = imports(root)
    names = list(layers)
    problems = [f"{m} is in no layer; add it to LAYERS" for m in sorted(graph) if layer_of(m, layers) is None]
    problems += ["import cycle: " + " -> ".join(c) for c in cycles(graph)]
    for mod in sorted(graph):
        low = layer_of(mod, layers)
        for dep in sorted(graph[mod]):
            high = layer_of(dep, layers)
            if low is not None and high is not None and high > low:
                problems.append(f"{mod} (layer {names[low]!r}) imports {dep} (higher layer {names[high]!r})")
    return problems


# --- fastrep -----------------------------------------------------------------------------


def test_layers_fastrep():
    problems = check(ROOT, LAYERS)
    assert not problems, "\n".join(problems)


def test_layers_graph_sees_the_known_edges():
    """The graph is read, not empty: a few imports fastrep must have are found."""
    graph = imports(ROOT)
    assert "fastrep._arrays" in graph["fastrep._validation"]
    assert "fastrep._kernels.cupy" in graph["fastrep.backend"]  # import_module("fastrep._kernels.cupy")
    assert "fastrep._ext" in graph["fastrep._kernels.cpp"]  # from .. import _ext
    assert "fastrep._include" in graph["fastrep._kernels._cuda"]
    assert graph["fastrep._arrays"] == set()


# --- the checker catches what it should: a planted package --------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


TOY_LAYERS = {"low": ("pkg.low", "pkg.sub.*"), "mid": ("pkg.mid",), "top": ("pkg",)}


def test_layers_checker_passes_a_clean_package(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .mid import f\n",
        "low.py": "X = 1\n",
        "mid.py": "from .low import X\nfrom .sub import leaf\n\ndef f():\n    from . import low\n",
        "sub/__init__.py": "",
        "sub/leaf.py": "from .. import low\n",
    })
    assert check(root, TOY_LAYERS) == []
    g = imports(root)
    assert g["pkg.mid"] == {"pkg.low", "pkg.sub.leaf"}
    assert g["pkg.sub.leaf"] == {"pkg.low"}


def test_layers_checker_catches_a_planted_cycle(tmp_path):
    # the cycle hides in a function, as the deferred imports did
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def g():\n    from .sub import leaf\n",
        "mid.py": "",
        "sub/__init__.py": "",
        "sub/leaf.py": "import pkg.low\n",
    })
    problems = check(root, TOY_LAYERS)
    assert problems == ["import cycle: pkg.low -> pkg.sub.leaf -> pkg.low"]


def test_layers_checker_catches_a_planted_upward_import(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "import importlib\n\ndef g():\n    return importlib.import_module('pkg.mid')\n",
        "mid.py": "",
        "sub/__init__.py": "",
        "sub/leaf.py": "from .. import VERSION\n",  # an attribute of the package: its __init__
    })
    problems = check(root, TOY_LAYERS)
    assert problems == [
        "pkg.low (layer 'low') imports pkg.mid (higher layer 'mid')",
        "pkg.sub.leaf (layer 'low') imports pkg (higher layer 'top')",
    ]


def test_layers_checker_names_unassigned_modules(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "low.py": "", "mid.py": "", "stray.py": ""})
    assert check(root, TOY_LAYERS) == ["pkg.stray is in no layer; add it to LAYERS"]


@pytest.mark.parametrize("source, expected", [
    ("from . import low", {"pkg.low"}),
    ("from .low import X", {"pkg.low"}),
    ("import pkg.low as l", {"pkg.low"}),
    ("from pkg import low, mid", {"pkg.low", "pkg.mid"}),
    ("from importlib import import_module\nimport_module('.low', 'pkg')", {"pkg.low"}),
    ("import numpy", set()),
])
def test_layers_checker_reads_each_form_of_import(tmp_path, source, expected):
    root = _package(tmp_path, {"__init__.py": "", "low.py": "", "mid.py": "", "top.py": source + "\n"})
    assert imports(root)["pkg.top"] == expected


# --- the context owns the moves ------------------------------------------------------------

#: The names of the array leaf that only it, backend.py and the kernel layer call; above them a
#: fit asks its Context (ctx.xp, ctx.on_host, ctx.host) and a function without a fit asks
#: fastrep._arrays.place(*arrays) (the same three names).
MOVES = ("to_host", "on_host", "namespace")
MOVES_ALLOWED = ("fastrep._arrays", "fastrep.backend", "fastrep._kernels.*")


def move_calls(root: Path, allowed=MOVES_ALLOWED) -> list[str]:
    """Every call of a name in :data:`MOVES` (``to_host(a)``, ``ops.namespace()``, ...) outside
    the ``allowed`` modules, as 'module:line: name'."""
    hits = []
    for mod, path in modules(root).items():
        if path.suffix != ".py" or layer_of(mod, {"allowed": allowed}) is not None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if name in MOVES:
                    hits.append(f"{mod}:{node.lineno}: {name}")
    return sorted(hits)


def test_layers_only_the_context_moves_arrays():
    hits = move_calls(ROOT)
    assert not hits, ("call the Context (ctx.xp, ctx.on_host, ctx.host) or _arrays.place instead:\n"
                      + "\n".join(hits))


def test_layers_move_check_catches_a_call(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def to_host(a):\n    return a\n",
        "mid.py": "from .low import to_host\n\ndef f(a, ops):\n    ops.namespace()\n    return to_host(a)\n",
    })
    assert move_calls(root, allowed=("pkg.low",)) == ["pkg.mid:4: namespace", "pkg.mid:5: to_host"]
