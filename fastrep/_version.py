"""fastrep's version, from the installed package's metadata: a leaf, so that the modules that
record it (the results store, the runner) need not import the package's ``__init__``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    #: The installed fastrep's version (PEP 440), as its package metadata records it.
    __version__ = version("fastrep")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
