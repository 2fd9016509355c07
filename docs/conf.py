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

# numpydoc's validation, on for the public names (run on every object autodoc renders).
# The rule set (numpydoc's check codes, https://numpydoc.readthedocs.io/en/latest/validation.html):
#   GL08  the object has a docstring
#   SS01  there is a one-line summary
#   PR01  every parameter of the signature is documented
#   PR02  no documented parameter is missing from the signature
#   PR06  parameter types use the short names (int, bool, not integer, boolean)
#   RT02  the Returns section names types, not only a variable
#   GL06  section names are numpydoc's (no unknown "Fitted:" section headers)
#   GL07  the sections are in numpydoc's order
# A docstring that fails one of them fails the build (-W).
numpydoc_validation_checks = {"GL08", "SS01", "PR01", "PR02", "PR06", "RT02", "GL06", "GL07"}
# Scoped out for now, named module by module (VERBATIM below): modules whose docstrings are
# not in numpydoc form yet. Their docstrings are shown as they are written (preformatted) and
# not validated; fastrep.theory and fastrep.experiments are being reorganized by other work
# and follow in a later pass. Members fastrep inherits from scikit-learn or the standard
# library are not fastrep's to document.
VERBATIM = [
    "fastrep.theory",
    "fastrep.experiments",
    "fastrep._kernels",  # JitterWarning, and symmetrize_lower (re-exported by fastrep.ridge)
]
#: modules whose classes are converted but whose methods (fit, predict, ...) are not yet:
#: the methods are shown as written and not validated.
VERBATIM_MEMBERS = ["fastrep.network", "fastrep.kernel_ridge"]
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.score$",
    r"\.set_\w+_request$",
    r"\.count$",
    r"\.index$",
}


def _module_of(obj) -> str:
    if isinstance(obj, property):
        obj = obj.fget
    if inspect.ismodule(obj):
        return obj.__name__
    return getattr(obj, "__module__", None) or ""


def _verbatim(module: str, qualname: str = "") -> bool:
    if any(module == m or module.startswith(m + ".") for m in VERBATIM):
        return True
    return module in VERBATIM_MEMBERS and "." in qualname  # a method or property of a class


def _qualname_of(obj) -> str:
    if isinstance(obj, property):
        obj = obj.fget
    return getattr(obj, "__qualname__", "") or ""


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


def public_names(module_name: str) -> list[str]:
    """The public names of a module: its ``__all__``, else its public functions and classes."""
    mod = importlib.import_module(module_name)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v))
                 and getattr(v, "__module__", "").startswith(module_name)]
    return list(names)


def _kind(value) -> str:
    if inspect.ismodule(value):
        return "module"
    if inspect.isclass(value):
        return "class"
    if callable(value):
        return "function"
    return "data"


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
                    lines += [f".. autodata:: {name}", "   :no-value:" if name.startswith("__") else "", ""]
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


def _exclude_verbatim_names() -> None:
    """Add every public name defined in a VERBATIM module (under each path it is shown at)."""
    for _page, _title, module_name, _intro in API_PAGES:
        mod = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(mod, name)
            if _verbatim(_module_of(obj)) or _verbatim(module_name):
                numpydoc_validation_exclude.add("^" + re.escape(f"{module_name}.{name}") + r"(\.|$)")
            elif inspect.isclass(obj) and _module_of(obj) in VERBATIM_MEMBERS:
                numpydoc_validation_exclude.add("^" + re.escape(f"{module_name}.{name}") + r"\.")
    for module in VERBATIM:
        numpydoc_validation_exclude.add("^" + re.escape(module) + r"(\.|$)")


_exclude_verbatim_names()


def _show_verbatim(app, what, name, obj, options, lines):
    """A docstring of a VERBATIM module, shown as it is written (after numpydoc has run)."""
    if not _verbatim(_module_of(obj), _qualname_of(obj)):
        return
    doc = (inspect.getdoc(obj) or "").splitlines()
    if not doc:
        return
    summary = re.sub(r"([\\`*|_])", r"\\\1", doc[0])  # the first line, as plain text
    rest = doc[1:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    lines[:] = [summary, ""] + (["::", ""] + ["    " + ln for ln in rest] + [""] if rest else [])


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


def setup(app):
    app.connect("autodoc-skip-member", _skip_inherited_foreign)
    app.connect("autodoc-process-docstring", _show_verbatim, priority=900)
