"""Every learner's errors name the argument the user gave, as the user knows it (issue 28):
bad validation rows are ``X_val``/``y_val``, never ``X``; an overflowing step size is ``eta1``,
not the inputs. Table-driven: each (learner, bad argument) pair must name that argument."""

import re
import warnings

import numpy as np
import pytest

import fastrep

T = fastrep.MultiIndexTarget.single_index(3)
X, Y = T.sample(40, 0, dtype=np.float64)
XV, YV = T.sample(10, 1, dtype=np.float64)

LEARNERS = {
    "OneStepNetwork": lambda: fastrep.OneStepNetwork(width=8, dtype=np.float64),
    "RandomFeaturesRegressor": lambda: fastrep.RandomFeaturesRegressor(width=8, dtype=np.float64),
    "NTKRegressor": lambda: fastrep.NTKRegressor(),
    "NNGPRegressor-nystrom": lambda: fastrep.NNGPRegressor(solver="nystrom", n_centers=10),
    "OracleRegressor": lambda: fastrep.OracleRegressor(T),
}


def _with(a, i, v):
    a = a.copy()
    a.flat[i] = v
    return a


#: (bad X_val, bad y_val) and the argument the message must name
BAD_VAL = {
    "X_val of the wrong width": ((XV[:, :2], YV), "X_val"),
    "X_val with NaN": ((_with(XV, 0, np.nan), YV), "X_val"),
    "X_val with inf": ((_with(XV, 4, np.inf), YV), "X_val"),
    "X_val 1-D": ((XV[:, 0], YV), "X_val"),
    "X_val strings": (("abc", YV), "X_val"),
    "y_val with inf": ((XV, _with(YV, 0, np.inf)), "y_val"),
    "y_val short": ((XV, YV[:5]), "y_val"),
}


def _names(message, name):
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


@pytest.mark.parametrize("case", list(BAD_VAL))
@pytest.mark.parametrize("learner", list(LEARNERS))
def test_bad_validation_rows_are_named_as_given(learner, case):
    (xv, yv), name = BAD_VAL[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError)) as info:
            LEARNERS[learner]().fit(X, Y, xv, yv)
    msg = str(info.value)
    assert _names(msg, name), msg
    assert not re.search(r"\bInput [Xy]\b|^X has|^X:", msg), msg  # not the training rows' names
