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
    "X_val overflowing": ((XV * 1e300, YV), "X_val"),
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


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eta1", [1e20, 1e30, 1e38, 1e100, 1e300])
def test_an_overflowing_eta1_is_named_not_the_inputs(eta1, dtype, steps):
    Xs, ys = T.sample(100, 0, dtype=dtype)
    net = fastrep.OneStepNetwork(width=8, eta1=eta1, dtype=dtype, steps=steps)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the ridge grid's edge, an overflow on the way
            net.fit(Xs, ys)
    except ValueError as exc:
        msg = str(exc)
        assert _names(msg, "eta1") and "step" in msg, msg
        assert "inputs" not in msg and "check X" not in msg, msg
    else:  # a step that fits must predict finite values
        assert np.all(np.isfinite(net.predict(Xs)))


def test_overflowing_inputs_are_still_blamed_on_the_inputs():
    Xs, ys = T.sample(100, 0, dtype=np.float32)
    for net in (fastrep.OneStepNetwork(width=8), fastrep.RandomFeaturesRegressor(width=8)):
        with pytest.raises(ValueError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(Xs * np.float32(1e18), ys)
        msg = str(info.value)
        assert _names(msg, "X") and not _names(msg, "eta1"), msg


STREAM_LEARNERS = {
    "OneStepNetwork": lambda: fastrep.OneStepNetwork(width=8),
    "RandomFeaturesRegressor": lambda: fastrep.RandomFeaturesRegressor(width=8),
    "OracleRegressor": lambda: fastrep.OracleRegressor(T, dtype=np.float32),
}
_S = fastrep.GaussianStream(T, 0)
#: fit_stream's arguments: (args, kwargs) and the name the message must carry
BAD_STREAM_ARGS = {
    "stream": (("rows.csv", 10), {}, "stream"),
    "n": ((_S, -1), {}, "n"),
    "n too large for chunks": ((list(_S.chunks(0, 20, 10)), 30), {}, "n"),
    "n_val": ((_S, 50), {"n_val": 0}, "n_val"),
    "cache": ((_S, 50), {"cache": "sometimes"}, "cache"),
}


# the oracle reads its single pass once: it has no cache argument
STREAM_ARG_CASES = [(learner, case) for learner in STREAM_LEARNERS for case in BAD_STREAM_ARGS
                    if not (learner == "OracleRegressor" and case == "cache")]


@pytest.mark.parametrize("learner, case", STREAM_ARG_CASES)
def test_bad_fit_stream_arguments_are_named(learner, case):
    args, kwargs, name = BAD_STREAM_ARGS[case]
    with pytest.raises((ValueError, TypeError)) as info:
        STREAM_LEARNERS[learner]().fit_stream(*args, **kwargs)
    assert _names(str(info.value), name), str(info.value)
