"""Every size a user gives the learners is bounded before work starts (issue 28): a size that
cannot fit is refused naming it, and one larger than it needs to be (a chunk longer than the
data) is not refused at all."""

import numpy as np
import pytest

import fastrep
from fastrep.transfer import fit_transfer, shared_source

T = fastrep.MultiIndexTarget.single_index(3)
X, Y = T.sample(50, 0)
NETS = [fastrep.OneStepNetwork, fastrep.RandomFeaturesRegressor]


@pytest.mark.parametrize("cls", NETS)
def test_a_chunk_longer_than_the_data_is_the_data(cls):
    ref = cls(width=8, ridge=1e-3).fit(X, Y)
    for chunk in (50, 10**12, 2**63 - 1):
        got = cls(width=8, ridge=1e-3, chunk_size=chunk).fit(X, Y)
        np.testing.assert_allclose(got.predict(X), ref.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", NETS)
def test_a_chunk_that_does_not_fit_is_named(cls):
    net = cls(width=8, ridge=1e-3, chunk_size=10**6, max_memory=2**20)
    with pytest.raises(MemoryError, match="^chunk_size: "):
        net.fit_stream(fastrep.GaussianStream(T, 0), 10**6)
    with pytest.raises(MemoryError, match="^width: "):  # the weights are most of it: width
        cls(width=2000, ridge=1e-3, chunk_size=64, max_memory=2**20).fit(X, Y)


@pytest.mark.parametrize("steps", [51, 10**12, 2**63 - 1])
def test_more_steps_than_samples_is_refused_before_any_work(steps):
    with pytest.raises(ValueError, match=f"steps={steps} needs at least {steps} stage-1 samples; got 50"):
        fastrep.OneStepNetwork(width=8, steps=steps).fit(X, Y)


@pytest.mark.parametrize("n_val", [10**12, 2**63 - 1])
def test_validation_rows_beyond_the_budget_are_named_n_val(n_val):
    s = fastrep.GaussianStream(T, 0)
    for make in (lambda: fastrep.OneStepNetwork(width=8), lambda: fastrep.OracleRegressor(T)):
        with pytest.raises(MemoryError, match="^n_val: "):
            make().fit_stream(s, 100, n_val=n_val)
    with pytest.raises(MemoryError, match="^n_val: "):
        fit_transfer(shared_source(T, {(2,): 1.0}), X, Y, n_source=100, n_val=n_val, width=8)
