"""Where fastrep's C++ headers are: a leaf (it imports nothing of fastrep), so that the CUDA
sources of the kernel layer and the public ``fastrep.get_include`` share one answer."""

from __future__ import annotations

from pathlib import Path


def get_include() -> str:
    """The folder holding fastrep's C++ headers (``#include <fastrep/philox.hpp>``), as
    ``numpy.get_include()`` does: ``fastrep/include`` in an installed package, ``csrc/include``
    in a source checkout (an editable install)."""
    here = Path(__file__).resolve().parent
    for folder in (here / "include", here.parent / "csrc" / "include"):
        if (folder / "fastrep").is_dir():
            return str(folder)
    raise FileNotFoundError(f"fastrep's C++ headers are not installed next to {here}; reinstall fastrep")
