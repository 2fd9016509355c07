"""The docstring rules numpydoc's validation has no check for, shared by the docs build and a test.

numpydoc's checks (``numpydoc_validation_checks`` in docs/conf.py) cover the sections that
mirror the signature (Parameters, Returns). Two rules of fastrep's public API are not among
them, so they are checked here:

- **Raises**: a public callable whose own code raises (a ``raise`` statement with an
  exception, in its body or in a function nested in it; for a class, in its ``__init__``,
  ``__post_init__`` or ``__new__``) has a ``Raises`` section. What a callee raises is not
  seen; write it down anyway where the caller's arguments cause it.
- **Examples**: a public function or class (a name of a namespace's ``__all__``, or of a
  submodule the reference lists) has an ``Examples`` section. Methods and properties are
  exempt: their class's example shows them.

The scope is the API reference's: the public names of ``fastrep``, ``fastrep.experiments``
(and the members of its submodules listed there), ``fastrep.metrics``, ``fastrep.theory``,
``fastrep.diagnostics`` and ``fastrep.ridge``, and the methods and properties fastrep's own
classes define (not those inherited from scikit-learn or the standard library).
``docs/conf.py`` reports a violation as a build warning (an error under ``-W``);
``tests/test_docstring_rules.py`` runs the same rules without Sphinx.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

from numpydoc.docscrape import NumpyDocString

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_names import NAMESPACES, public_names  # noqa: E402  (docs/api_names.py)

#: members fastrep's classes inherit and do not document (scikit-learn's, the standard library's)
EXCLUDE = (r"\.get_params$", r"\.set_params$", r"\.score$", r"\.set_\w+_request$")


def _own(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("fastrep")


def members(cls) -> list[tuple[str, object]]:
    """The public methods and properties a fastrep class defines or inherits from fastrep code."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        func = value.fget if isinstance(value, property) else value
        if (callable(value) or isinstance(value, property)) and _own(func):
            out.append((name, value))
    return out


def public_objects():
    """Yield ``(path, object, top_level)`` for every object the API reference renders."""
    seen = set()

    def walk(module_name):
        mod = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                if obj.__name__ not in NAMESPACES:
                    yield from walk(obj.__name__)
                continue
            if not (inspect.isclass(obj) or callable(obj)) or not _own(obj):
                continue
            path = f"{module_name}.{name}"
            if any(re.search(e, path) for e in EXCLUDE):
                continue
            if id(obj) not in seen or inspect.isclass(obj):
                yield path, obj, True
            seen.add(id(obj))
            if inspect.isclass(obj):
                for member, value in members(obj):
                    mpath = f"{path}.{member}"
                    if not any(re.search(e, mpath) for e in EXCLUDE):
                        yield mpath, value, False

    for namespace in NAMESPACES:
        yield from walk(namespace)


def _function_node(func):
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def raises(obj) -> bool:
    """Whether ``obj``'s own code has a ``raise`` of an exception (a bare re-raise does not count)."""
    if isinstance(obj, property):
        obj = obj.fget
    if inspect.isclass(obj):
        funcs = [obj.__dict__[k] for k in ("__init__", "__post_init__", "__new__") if k in obj.__dict__]
        return any(raises(f) for f in funcs if callable(f))
    obj = inspect.unwrap(obj)
    if not inspect.isfunction(obj):
        return False
    node = _function_node(obj)
    return node is not None and any(isinstance(n, ast.Raise) and n.exc is not None for n in ast.walk(node))


def sections(obj) -> NumpyDocString:
    if isinstance(obj, property):
        obj = obj.fget
    return NumpyDocString(inspect.getdoc(obj) or "")


def problems(path: str, obj, top_level: bool) -> list[str]:
    """What ``obj``'s docstring lacks under the two rules, as messages naming ``path``."""
    doc = sections(obj)
    out = []
    if raises(obj) and not doc["Raises"]:
        out.append(f"{path}: raises, but its docstring has no Raises section")
    if top_level and not doc["Examples"]:
        out.append(f"{path}: a public function or class without an Examples section")
    return out


def all_problems() -> list[str]:
    """Every violation in the API reference's scope."""
    return [p for path, obj, top in public_objects() for p in problems(path, obj, top)]
