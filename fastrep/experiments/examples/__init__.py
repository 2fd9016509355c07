"""The example sweep specs that ship with fastrep, by name.

Each ``NAME.toml`` in this folder is a sweep spec (format: :mod:`fastrep.experiments.spec`)
whose first comment line says what it runs. ``fastrep examples`` lists them,
``fastrep examples NAME`` prints one to copy and edit, and ``experiments.run("NAME")`` or
``fastrep sweep NAME`` runs one as it is.

>>> from fastrep.experiments import examples
>>> examples.names()
['large_d_dask', 'separation']
>>> examples.path("separation").name
'separation.toml'

``embed/embed.cpp`` (:func:`embed_source`) is a C++ program that builds against the installed
headers (``fastrep.get_include()``) and reproduces ``GaussianStream`` rows and an NTK block.

The ``demo/`` folder beside them (the report and figures of one real ``fastrep demo`` run,
shown in the README) stays in the source repository; it is not part of the wheel.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["describe", "embed_source", "names", "path", "resolve", "text"]


def _folder():
    return resources.files(__name__)


def names() -> list[str]:
    """The packaged example names, sorted (the file names without ``.toml``)."""
    return sorted(p.name[: -len(".toml")] for p in _folder().iterdir() if p.name.endswith(".toml"))


def path(name: str) -> Path:
    """The packaged spec file of example ``name`` (``"separation"`` or ``"separation.toml"``).

    Raises ``ValueError`` naming the known examples when there is no such example.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    known = names()
    if stem not in known:
        raise ValueError(f"no packaged example {name!r}; known: {', '.join(known)}")
    return Path(str(_folder().joinpath(f"{stem}.toml")))


def text(name: str) -> str:
    """The TOML text of example ``name``, comments included (what ``fastrep examples NAME`` prints)."""
    return path(name).read_text()


def describe(name: str) -> str:
    """One line about example ``name``: its first comment line, without the ``#``."""
    for line in text(name).splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip().rstrip(":;")
    return ""


def embed_source() -> Path:
    """The shipped C++ embedding example, ``embed/embed.cpp`` (see the README's embedding section)."""
    return Path(str(_folder().joinpath("embed", "embed.cpp")))


def resolve(spec):
    """``spec`` itself, or the packaged example's path when ``spec`` is a bare example name.

    A name is taken as an example only when it has no folder part and no file of that name
    exists, so a local ``separation.toml`` (or a folder called ``separation``) always wins.
    Anything else (a dict, a SweepSpec, TOML text, another path) is returned unchanged.
    """
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s and "\n" not in s and os.sep not in s and "/" not in s and not os.path.exists(s):
            stem = s[: -len(".toml")] if s.endswith(".toml") else s
            if stem in names():
                return path(stem)
    return spec
