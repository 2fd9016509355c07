"""The Examples sections of the public docstrings run and print what they show.

The modules listed are those whose docstrings are in numpydoc form (the documentation's API
reference renders them, and its build validates them; see docs/conf.py). Each docstring's
``>>>`` lines run as a doctest; NumPy prints in its legacy-free repr.
"""

import doctest
import importlib
import warnings

import pytest

MODULES = [
    "fastrep.hermite",
    "fastrep.metrics",
    "fastrep.diagnostics",
    "fastrep.transfer",
    "fastrep.ntk",
    "fastrep._memory",
    "fastrep.ridge",
    "fastrep.targets",
    "fastrep.data",
    "fastrep.oracle",
    "fastrep.network",
    "fastrep.multistep",
    "fastrep.kernel_ridge",
    "fastrep.backend",
    "fastrep._include",
    "fastrep._kernels",
    "fastrep._validation",
    "fastrep.theory.spectra",
    "fastrep.theory.energies",
    "fastrep.theory.curves",
    "fastrep.theory.network_curves",
    "fastrep.theory.network_representation",
    "fastrep.theory.proportional",
    "fastrep.experiments.analysis",
    "fastrep.experiments.demo",
    "fastrep.experiments.methods",
    "fastrep.experiments.spec.checks",
    "fastrep.experiments.spec.parse",
    "fastrep.experiments.spec.model",
    "fastrep.experiments.runner",
    "fastrep.experiments.store.read",
    "fastrep.experiments.store.schema",
    "fastrep.experiments.store.writer",
    "fastrep.experiments.report",
    "fastrep.experiments.plan",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a RidgeGridEdgeWarning of a noiseless toy target
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                 verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see above)"
