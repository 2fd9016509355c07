"""fastrep: feature learning against kernels at large input dimension.

Public API (re-exported here): the targets and their data streams, the learners (Algorithm 1,
random features, the NTK and NNGP kernels, the oracle), transfer, Hermite features, the
backend layer and the memory budget; ``fastrep.experiments`` runs sweeps. Every public name is
documented in the API reference of fastrep's documentation site, built from ``docs/``
(``python -m sphinx -W -b html docs docs/_build/html``), which also holds the user guide
and a gallery of examples.
"""

from importlib import import_module

from ._include import get_include
from ._memory import kept_bytes, release_memory
from ._version import __version__
from .backend import BackendUnavailableError, backends
from .hermite import hermite, hermite_features, multi_indices

# The learners subclass scikit-learn's BaseEstimator, whose import is slow
# (benchmarks/RESULTS_ONESTEP.md, "Importing scikit-learn"); they (and the rest of the API) load
# on first use, so `import fastrep` and `fastrep backends` stay fast.
_LAZY = {
    "GaussianStream": "data",
    "JitterWarning": "_kernels",
    "NNGPRegressor": "kernel_ridge",
    "NTKRegressor": "kernel_ridge",
    "nngp_kernel": "ntk",
    "ntk_kernel": "ntk",
    "DegenerateTargetWarning": "network",
    "OneStepNetwork": "network",
    "MultiStepNetwork": "multistep",
    "RandomFeaturesRegressor": "network",
    "OracleRegressor": "oracle",
    "RidgeGridEdgeWarning": "ridge",
    "MultiIndexTarget": "targets",
    "fit_transfer": "transfer",
    "shared_source": "transfer",
    "metrics": None,
    "ridge": None,
    "experiments": None,
    "theory": None,
    "diagnostics": None,
}


def __getattr__(name):
    if name in _LAZY:
        mod = _LAZY[name]
        value = import_module(f".{name}", __name__) if mod is None else getattr(
            import_module(f".{mod}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastrep' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BackendUnavailableError",
    "DegenerateTargetWarning",
    "GaussianStream",
    "JitterWarning",
    "NNGPRegressor",
    "NTKRegressor",
    "MultiIndexTarget",
    "MultiStepNetwork",
    "OneStepNetwork",
    "OracleRegressor",
    "RandomFeaturesRegressor",
    "RidgeGridEdgeWarning",
    "metrics",
    "theory",
    "diagnostics",
    "__version__",
    "backends",
    "fit_transfer",
    "get_include",
    "hermite",
    "hermite_features",
    "kept_bytes",
    "multi_indices",
    "nngp_kernel",
    "ntk_kernel",
    "release_memory",
    "shared_source",
]
