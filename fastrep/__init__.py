"""fastrep: feature learning against kernels at large input dimension.

Public API (re-exported here): Hermite features and the backend layer; the targets,
learners, kernels and experiments are documented in the README.
"""

from importlib.metadata import PackageNotFoundError, version

from .backend import BackendUnavailableError, backends
from . import metrics
from .data import GaussianStream
from .hermite import hermite, hermite_features, multi_indices
from .kernel_ridge import JitterWarning, NNGPRegressor, NTKRegressor
from .kernels import nngp_kernel, ntk_kernel
from .network import DegenerateTargetWarning, OneStepNetwork, RandomFeaturesRegressor
from .oracle import OracleRegressor
from .targets import MultiIndexTarget
from .transfer import fit_transfer, shared_source

try:
    __version__ = version("fastrep")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "BackendUnavailableError",
    "DegenerateTargetWarning",
    "GaussianStream",
    "JitterWarning",
    "NNGPRegressor",
    "NTKRegressor",
    "MultiIndexTarget",
    "OneStepNetwork",
    "OracleRegressor",
    "RandomFeaturesRegressor",
    "metrics",
    "__version__",
    "backends",
    "fit_transfer",
    "hermite",
    "hermite_features",
    "multi_indices",
    "nngp_kernel",
    "ntk_kernel",
    "shared_source",
]
