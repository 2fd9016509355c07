"""Warnings that point at the user's line: the stacklevel of the first frame outside fastrep."""

from __future__ import annotations

import importlib
import os
import sys

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_IMPORTLIB = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep


def _inside(filename: str) -> bool:
    # fastrep's own modules, and the import machinery (a warning at import time)
    return filename.startswith((_PACKAGE, _IMPORTLIB, "<frozen importlib"))


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function that attributes the
    warning to the first frame outside fastrep (the user's call), however deep fastrep's own
    calls are."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _inside(frame.f_code.co_filename):
        frame = frame.f_back
        if frame is not None and not _uncounted(frame.f_code.co_filename):
            level += 1
    return level


def _uncounted(filename: str) -> bool:
    # warnings.warn steps over the import machinery's bootstrap frames without counting them
    return "importlib" in filename and "_bootstrap" in filename
