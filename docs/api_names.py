"""The API reference's namespaces and their public names, in one place.

Read by ``docs/conf.py`` (the reference's pages), ``docs/docstring_rules.py`` (the rules' scope)
and ``docs/check_site.py`` (every name must have its entry). Standard library only, so the site
check and the tests load it without Sphinx.
"""

from __future__ import annotations

import importlib
import inspect

#: the namespaces of the API reference, in the order of docs/conf.py's API_PAGES
NAMESPACES = (
    "fastrep",
    "fastrep.experiments",
    "fastrep.metrics",
    "fastrep.theory",
    "fastrep.diagnostics",
    "fastrep.ridge",
)


def public_names(module_name: str) -> list[str]:
    """A module's public names: its ``__all__``, else its own public functions and classes."""
    mod = importlib.import_module(module_name)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v))
                 and getattr(v, "__module__", "").startswith(module_name)]
    return list(names)
