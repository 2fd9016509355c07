"""Deprecated alias of :mod:`fastrep.ntk` (the NTK/NNGP formulas), kept for one release.

``fastrep/_kernels/`` is the compute layer; the formulas live in ``fastrep.ntk``.
"""

import warnings

from ._warnings import user_stacklevel
from .ntk import check_beta, nngp_kernel, ntk_kernel  # noqa: F401

warnings.warn(
    "fastrep.kernels is renamed fastrep.ntk; import ntk_kernel and nngp_kernel from fastrep or "
    "fastrep.ntk (fastrep.kernels will be removed in the next release)",
    DeprecationWarning,
    stacklevel=user_stacklevel(),
)

__all__ = ["ntk_kernel", "nngp_kernel"]
