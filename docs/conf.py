"""Sphinx configuration of fastrep's documentation site.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    python -m sphinx -W -b html docs docs/_build/html

Choices, with their reasons:

- pydata-sphinx-theme, numpydoc, sphinx-gallery and MyST: what numpy, scikit-learn and POT use,
  so a reader of those sites finds the same layout; the guide pages are Markdown (MyST) so
  that they read like the README they came from.
- The API reference is generated at build time from the public names (``fastrep.__all__``,
  ``fastrep.experiments.__all__`` and the public functions of ``fastrep.metrics``,
  ``fastrep.theory``, ``fastrep.diagnostics`` and ``fastrep.ridge``): ``write_api_pages``
  below writes one autosummary page per namespace into ``docs/api/`` before Sphinx reads
  the sources. Every name is documented under its public import path, so moving a module
  inside the package changes nothing here.
- Nitpicky mode on fastrep's own names: a cross-reference to ``fastrep.*`` that does not
  resolve fails the build; references to other libraries (numpy, scikit-learn, ...) are not
  checked, since the build runs offline (no intersphinx).
- The gallery runs at build time at sizes that take seconds per example on 2 cores; each
  example states the size that reproduces the paper-scale result. ``FASTREP_DOCS_GALLERY=0``
  skips running it (for quick edits of the prose; CI always runs it).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the source tree's fastrep (an editable install gives the same)

import fastrep  # noqa: E402

sys.path.insert(0, str(HERE))
import docstring_rules  # noqa: E402  (docs/docstring_rules.py)
from api_names import public_names  # noqa: E402  (docs/api_names.py)
from sphinx.util import logging as _sphinx_logging  # noqa: E402

_logger = _sphinx_logging.getLogger("fastrep.docstring_rules")

project = "fastrep"
author = "the fastrep developers"
copyright = "the fastrep developers, BSD-3-Clause"  # noqa: A001
release = fastrep.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "api/generated/*.md"]
templates_path = ["_templates"]

# -- MyST ---------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# The benchmark reports (benchmarks/RESULTS*.md) are written for a terminal: their heading
# levels jump (## to ####). They are shown as they are.
suppress_warnings = ["myst.header"]

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastrep {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"changelog": [], "contributing": []}
html_context = {"default_mode": "auto"}  # light or dark as the reader's system says
html_favicon = "_static/favicon.svg"  # else the browser asks for /favicon.ico (a 404 in its log)
html_static_path: list[str] = []
html_show_sourcelink = False

# -- autodoc / autosummary / numpydoc -----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections carry the types; signatures stay short
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# numpydoc's validation, on for every public name: every object autodoc renders (the public
# names of fastrep, fastrep.experiments and its listed submodules, metrics, theory,
# diagnostics and ridge, and the methods and properties of fastrep's classes). The rule set
# (numpydoc's check codes, https://numpydoc.readthedocs.io/en/latest/validation.html):
#   GL08  the object has a docstring
#   SS01  there is a one-line summary
#   GL06  section names are numpydoc's (no unknown "Fitted:" section headers)
#   GL07  the sections are in numpydoc's order
#   GL09  Deprecation warnings come right after the summary
#   GL10  reST directives end with a double colon
#   PR01  every parameter of the signature is documented
#   PR02  no documented parameter is missing from the signature
#   PR03  the parameters are documented in the signature's order
#   PR04  every parameter has a type
#   PR05  a parameter's type does not end with a period
#   PR06  parameter types use the short names (int, bool, not integer, boolean)
#   PR07  every parameter has a description
#   PR09  a parameter's description ends with a period
#   PR10  "name : type", with a space before the colon
#   RT01  a callable that returns a value has a Returns section
#   RT02  the Returns section names types, not only a variable
#   RT03  every returned value has a description
#   YD01  a generator has a Yields section
# and two rules numpydoc has no check for (docs/docstring_rules.py, hooked in below and run
# by tests/test_docstring_rules.py):
#   Raises    a public callable whose own code raises has a Raises section
#   Examples  a public function or class has an Examples section (methods: their class's)
# A docstring that fails one of them fails the build (-W). Not checked, by choice: PR08/RT04
# (a description starting with a capital: "n*(d)", "log N_k" are not sentences), SS05 (the
# summary's verb form), SA01 (See Also everywhere), ES01 (an extended summary everywhere).
# The examples themselves run in tests/test_docstring_examples.py.
numpydoc_validation_checks = {
    "GL08", "SS01", "GL06", "GL07", "GL09", "GL10",
    "PR01", "PR02", "PR03", "PR04", "PR05", "PR06", "PR07", "PR09", "PR10",
    "RT01", "RT02", "RT03", "YD01",
}
# Members fastrep inherits from scikit-learn are not fastrep's to document.
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.score$",
    r"\.set_\w+_request$",
}


# -- nitpicky on fastrep's own names ------------------------------------------------------------
nitpicky = True
nitpick_ignore_regex = [
    # everything that is not fastrep's: builtins, numpy, scipy, scikit-learn, pandas, ...
    (r"py:.*", r"^(?!fastrep(\.|$)).*"),
]

# -- sphinx-gallery -----------------------------------------------------------------------------
_run_gallery = os.environ.get("FASTREP_DOCS_GALLERY", "1") != "0"
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_" if _run_gallery else r"^$",
    "plot_gallery": "True" if _run_gallery else "False",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "reference_url": {"fastrep": None},
    "min_reported_time": 1,
}

# Worker processes of the examples' sweeps inherit this; the examples run one at a time.
os.environ.setdefault("FASTREP_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- the API reference, written from the public names at build time -----------------------------

#: (page, title, module, intro). The names of each page are read from the module at build time.
API_PAGES = [
    ("fastrep", "fastrep", "fastrep",
     "The top-level namespace: targets, data, the learners, the kernels, transfer and memory."),
    ("experiments", "fastrep.experiments", "fastrep.experiments",
     "Sweeps: the spec format, the runner (local processes or Dask), the results store, "
     "n*(d), slopes and the report."),
    ("metrics", "fastrep.metrics", "fastrep.metrics",
     "What a fitted model has learned: excess error, subspace alignment, principal angles."),
    ("theory", "fastrep.theory", "fastrep.theory",
     "The kernel's learning curve at any d: spectra per harmonic degree and eigenlearning."),
    ("diagnostics", "fastrep.diagnostics", "fastrep.diagnostics",
     "The fraction of each degree of the target a fitted model has learned."),
    ("ridge", "fastrep.ridge", "fastrep.ridge",
     "The one ridge rule of every learner: the lambda grid, its validation path, the solver."),
]


def _kind(value) -> str:
    if inspect.ismodule(value):
        return "module"
    if inspect.isclass(value):
        return "class"
    if callable(value):
        return "function"
    return "data"


def data_doc(namespace, name: str) -> list[str]:
    """The ``#:`` comment documenting the constant ``name`` of ``namespace``, read from the
    module that assigns it (a constant's ``__doc__`` is its type's: int's, dict's)."""
    from sphinx.pycode import ModuleAnalyzer

    value = getattr(namespace, name)
    prefix = namespace.__name__.split(".")[0]
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith(prefix) or getattr(module, name, _MISSING) is not value:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # noqa: BLE001  (a compiled or source-less module)
            continue
        if ("", name) in docs:
            return [line for line in docs["", name] if line is not None]
    raise RuntimeError(f"{namespace.__name__}.{name} has no #: doc comment where it is assigned")


_MISSING = object()


def _data_entry(mod, name: str) -> list[str]:
    """A constant's entry: ``.. data::`` with its value (when short) and its doc comment."""
    value = getattr(mod, name)
    lines = [f".. data:: {name}"]
    shown = repr(value)
    if not name.startswith("__") and len(shown) <= 60:
        lines.append(f"   :value: {shown}")
    else:
        lines.append(f"   :type: {type(value).__name__}")
    lines.append("")
    lines += [f"   {line}" if line.strip() else "" for line in data_doc(mod, name)]
    return lines + [""]


def write_api_pages(app=None) -> None:
    """Write docs/api/<page>.rst for each namespace of API_PAGES (only when its text changes)."""
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    for page, title, module_name, intro in API_PAGES:
        mod = importlib.import_module(module_name)
        groups: dict[str, list[str]] = {"class": [], "function": [], "data": [], "module": []}
        for name in public_names(module_name):
            groups[_kind(getattr(mod, name))].append(name)
        lines = [
            ".. This file is written by docs/conf.py at build time from the module's public names;",
            "   do not edit it.",
            "",
            title,
            "=" * len(title),
            "",
            f".. automodule:: {module_name}",
            "   :no-members:",
            "",
            intro,
            "",
            f".. currentmodule:: {module_name}",
            "",
        ]
        headings = {"class": "Classes", "function": "Functions", "data": "Constants",
                    "module": "Submodules"}
        for kind in ("class", "function", "data", "module"):
            names = groups[kind]
            if not names:
                continue
            heading = headings[kind]
            lines += [heading, "-" * len(heading), ""]
            if kind == "module":
                for name in names:
                    full = f"{module_name}.{name}"
                    own = [p for p in API_PAGES if p[2] == full]
                    if own:
                        lines.append(f"- :mod:`{full}`: :doc:`{own[0][0]}`")
                    else:
                        lines.append(f"- :mod:`{full}`")
                lines.append("")
                for name in names:
                    full = f"{module_name}.{name}"
                    if not any(p[2] == full for p in API_PAGES):
                        lines += [f".. automodule:: {full}", "   :members:", ""]
                continue
            if kind == "data":
                for name in names:
                    lines += _data_entry(mod, name)
                continue
            template = "autosummary/class.rst" if kind == "class" else "autosummary/function.rst"
            lines += [".. autosummary::", "   :toctree: generated", f"   :template: {template}",
                      "   :nosignatures:", ""]
            lines += [f"   {name}" for name in names]
            lines.append("")
        text = "\n".join(lines) + "\n"
        path = out / f"{page}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


write_api_pages()


#: the public functions and classes (the Examples rule's scope), by the path they are shown at
_TOP_LEVEL = {path for path, _obj, top in docstring_rules.public_objects() if top}


def _check_docstring_rules(app, what, name, obj, options, lines):
    """The Raises and Examples rules (docs/docstring_rules.py) on each public object rendered."""
    if what not in ("function", "method", "class", "property", "exception"):
        return
    if not name.startswith("fastrep") or any(re.search(e, name) for e in numpydoc_validation_exclude):
        return
    for problem in docstring_rules.problems(name, obj, name in _TOP_LEVEL):
        _logger.warning(problem, location=name)


def _skip_inherited_foreign(app, what, name, obj, skip, options):
    """Document fastrep's own members; leave out what scikit-learn or ``object`` define."""
    if skip:
        return skip
    module = getattr(obj, "__module__", None) or ""
    qual = getattr(obj, "__qualname__", "")
    if what == "class" and callable(obj) and module and not module.startswith("fastrep"):
        return True
    if what == "class" and qual.startswith(("BaseEstimator.", "RegressorMixin.", "tuple.", "BaseException.",
                                            "object.")):
        return True
    return None


def _internal_module(app, env, node, contnode):
    """A ``:mod:`` reference to one of fastrep's internal modules (``fastrep.theory.spectra``,
    ``fastrep._validation``): it exists but has no page, so it is shown as code, unlinked. A
    reference to a module that does not exist still fails the build (nitpicky)."""
    import importlib.util

    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or node.get("reftype") != "mod" or not target.startswith("fastrep."):
        return None
    try:
        found = importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        found = False
    return contnode if found else None


def setup(app):
    app.connect("missing-reference", _internal_module)
    app.connect("autodoc-skip-member", _skip_inherited_foreign)
    app.connect("autodoc-process-docstring", _check_docstring_rules)
