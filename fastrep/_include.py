"""Where fastrep's C++ headers are: a leaf (it imports nothing of fastrep), so that the CUDA
sources of the kernel layer and the public ``fastrep.get_include`` share one answer."""

from __future__ import annotations

from pathlib import Path


def get_include() -> str:
    """The folder holding fastrep's C++ headers (``#include <fastrep/philox.hpp>``).

    As ``numpy.get_include()`` does for NumPy: ``fastrep/include`` in an installed package,
    ``csrc/include`` in a source checkout (an editable install).

    Returns
    -------
    str
        The absolute path of the folder, to pass to a compiler as ``-I``.

    Raises
    ------
    FileNotFoundError
        When the headers are neither installed next to the package nor in a source checkout.

    Examples
    --------
    >>> import os, fastrep
    >>> os.path.isfile(os.path.join(fastrep.get_include(), "fastrep", "philox.hpp"))
    True
    """
    here = Path(__file__).resolve().parent
    for folder in (here / "include", here.parent / "csrc" / "include"):
        if (folder / "fastrep").is_dir():
            return str(folder)
    raise FileNotFoundError(f"fastrep's C++ headers are not installed next to {here}; reinstall fastrep")
