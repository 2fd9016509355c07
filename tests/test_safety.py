"""No input crashes the process: each reproduction of a crash, hang, silent wrong result or
unclear error, run in a child process (tests/_sandbox.py) so that a segfault or an abort
fails the test instead of killing pytest.

Each ``_case_*`` function runs in the worker; the test asserts the verdict: a ValueError,
TypeError or MemoryError whose message names the argument, or a finite result.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import fastrep
from tests._sandbox import Sandbox

#: A case that used to hang or run for minutes must now finish well within this.
FAST = 30.0


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(timeout=FAST)
    yield box
    box.close()


def _check(outcome, exc, *words):
    assert outcome.raised(exc, *words), f"expected {exc.__name__} naming {words}; got {outcome}"


# ---- cases (run in the worker) ---------------------------------------------------------------
def _hf(alphas, backend="auto", Z=None, out=None, dtype=None):
    Z = np.ones((3, 1)) if Z is None else Z
    a = np.array(alphas, dtype=dtype) if dtype is not None else np.array(alphas)
    return fastrep.hermite_features(Z, a, backend=backend, out=out)


def _ext_hf_negative():
    from fastrep import _ext

    out = np.empty((3, 1))
    _ext.hermite_features(np.ones((3, 1)), np.array([[-10**9]], dtype=np.int32), out)
    return out


def _ext_hf_huge_tables():
    # (1, r) with r = 2e6 columns at degree 1000: 16 GB of per-thread tables, over the worker's
    # address space: bad_alloc, which must become MemoryError, not an abort
    from fastrep import _ext

    r = 2_000_000
    out = np.empty((1, 1))
    _ext.hermite_features(np.ones((1, r)), np.full((1, r), 1000, dtype=np.int32), out)
    return out


def _public_hf_huge_tables():
    r = 2_000_000
    return fastrep.hermite_features(np.ones((1, r)), np.full((1, r), 1000, dtype=np.int32))


def _numba_small_out():
    buf = np.zeros(10_000)
    out = buf[:2].reshape(2, 1)
    try:
        fastrep.hermite_features(np.ones((50, 3)), fastrep.multi_indices(3, 3), backend="numba", out=out)
    finally:
        if np.count_nonzero(buf[2:]):
            raise AssertionError(f"out of bounds write: {np.count_nonzero(buf[2:])} values past out's end")
    return out


def _reference_f32_out():
    out = np.empty((3, 1), np.float32)
    return fastrep.hermite_features(np.ones((3, 1)), [[2]], backend="reference", out=out)


def _multi_indices(r, p):
    return fastrep.multi_indices(r, p)


def _oracle_degree():
    t = fastrep.MultiIndexTarget.single_index(5)
    return fastrep.OracleRegressor(t, degree=10**6).fit(np.ones((4, 5)), np.ones(4)).predict(np.ones((2, 5)))


def _oracle_large_degree():  # within the cap, but C(3 + 1000, 1000)^2 moments do not fit
    t = fastrep.MultiIndexTarget.random(5, 3, 3)
    return fastrep.OracleRegressor(t, degree=1000).fit(np.ones((4, 5)), np.ones(4)).predict(np.ones((2, 5)))


def _random_target(p):
    return fastrep.MultiIndexTarget.random(3, 1, p).coefs


def _network_width():
    t = fastrep.MultiIndexTarget.single_index(20)
    X, y = t.sample(64, 0)
    return fastrep.OneStepNetwork(width=10**9).fit(X, y).predict(X)


def _network_width_budget():
    t = fastrep.MultiIndexTarget.single_index(20)
    X, y = t.sample(64, 0)
    return fastrep.OneStepNetwork(width=4000, max_memory=10**6).fit(X, y).predict(X)


def _f32_overflow():
    return fastrep.hermite_features(np.full((2, 1), 1e30, np.float32), [[10]])


def _target_f(scale):
    t = fastrep.MultiIndexTarget.single_index(3)
    return t.f(np.full((2, 3), scale))


def _ntk_regressor(scale):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    model = fastrep.NTKRegressor(ridge=1e-3).fit(X * scale, X[:, 0])
    return model.predict(X * scale)


def _ntk_kernel(scale, beta=1.0):
    return fastrep.ntk_kernel(np.full((2, 2), scale), beta=beta)


def _stream_take(start):
    t = fastrep.MultiIndexTarget.single_index(3)
    return fastrep.GaussianStream(t, 0).take(2, start=start)


def _ext_gaussian(start):
    from fastrep import _ext

    out = np.empty((2, 3))
    _ext.gaussian_block(0, 0, start, out)
    return out


def _out_list():
    return fastrep.hermite_features(np.ones((2, 1)), [[1]], out=[[0.0], [0.0]])


def _oracle_object():
    return fastrep.OracleRegressor(object()).fit(np.ones((4, 5)), np.ones(4))


def _fit_stream_object(kind):
    if kind == "oracle":
        return fastrep.OracleRegressor(fastrep.MultiIndexTarget.single_index(5)).fit_stream(object(), 10)
    return fastrep.OneStepNetwork(width=4).fit_stream(object(), 10)


def _excess_error_object():
    return fastrep.metrics.excess_error(object(), fastrep.MultiIndexTarget.single_index(3), 10)


def _hermite(k, normalized=False):
    return fastrep.hermite(np.linspace(-2, 2, 5), k, normalized=normalized)


def _ntk_regressor_beta():
    return fastrep.NTKRegressor(beta=1e200).fit(np.ones((4, 2)), np.ones(4))


def _target_key(a):
    return fastrep.MultiIndexTarget(3, {(a,): 1.0}).coefs


def _split_list():
    return fastrep.GaussianStream(fastrep.MultiIndexTarget.single_index(3), 0, split=["train"])


def _abort():
    os.abort()


# ---- the reproductions ---------------------------------------------------------------------
@pytest.mark.parametrize("alphas", [[[2**31]], [[1e10]], [[3e9]], [[2**31 - 1]], [[10**9]], [[10**8]]],
                         ids=["2**31", "1e10", "3e9", "2**31-1", "1e9", "1e8"])
@pytest.mark.parametrize("backend", ["auto", "numba"])
def test_huge_degree_is_refused_not_a_crash(sandbox, alphas, backend):
    _check(sandbox.run(_hf, alphas, backend), ValueError, "alphas", "1000")


@pytest.mark.parametrize("value,dtype", [(2**32 + 2, None), (2**63 + 5, np.uint64)], ids=["2**32+2", "uint64"])
def test_degrees_are_range_checked_before_the_int32_cast(sandbox, value, dtype):
    # these used to wrap to h_2 and h_5 silently
    _check(sandbox.run(_hf, [[value]], dtype=dtype), ValueError, "alphas")


def test_binding_refuses_negative_alpha(sandbox):
    _check(sandbox.run(_ext_hf_negative), ValueError, "hermite_features", "alphas")


def test_binding_turns_bad_alloc_into_memory_error(sandbox):
    _check(sandbox.run(_ext_hf_huge_tables, timeout=120), MemoryError, "hermite_features")
    _check(sandbox.run(_public_hf_huge_tables, timeout=120), MemoryError, "alphas")


def test_numba_out_is_checked_before_writing(sandbox):
    _check(sandbox.run(_numba_small_out), ValueError, "out", "shape")


def test_reference_does_not_cast_into_out(sandbox):
    _check(sandbox.run(_reference_f32_out), ValueError, "out", "dtype")


@pytest.mark.parametrize("r,p", [(60, 60), (20, 20)])
def test_multi_indices_are_counted_before_enumerating(sandbox, r, p):
    _check(sandbox.run(_multi_indices, r, p), MemoryError, "p", "multi-indices")


def test_multi_indices_degree_cap(sandbox):
    _check(sandbox.run(_multi_indices, 1, 10**6), ValueError, "p", "1000")


def test_oracle_degree_is_bounded(sandbox):
    _check(sandbox.run(_oracle_degree), ValueError, "degree")
    _check(sandbox.run(_oracle_large_degree), MemoryError, "degree")


def test_random_target_degree_is_bounded(sandbox):
    _check(sandbox.run(_random_target, 10**6), ValueError, "p")


def test_network_width_is_sized_before_allocating(sandbox):
    _check(sandbox.run(_network_width), MemoryError, "width")
    _check(sandbox.run(_network_width_budget), MemoryError, "width", "budget")


def test_float32_feature_overflow_is_an_error(sandbox):
    _check(sandbox.run(_f32_overflow), ValueError, "Z", "scale")


def test_target_values_overflow_is_an_error(sandbox):
    _check(sandbox.run(_target_f, 1e200), ValueError, "X", "scale")


def test_ntk_regressor_on_huge_inputs_is_an_error(sandbox):
    _check(sandbox.run(_ntk_regressor, 1e160), ValueError, "X", "scale")


def test_ntk_kernel_overflow_is_an_error(sandbox):
    _check(sandbox.run(_ntk_kernel, 1e300), ValueError, "X1", "scale")
    out = sandbox.run(_ntk_kernel, 1e150)  # large, but its kernel fits float64
    assert out.status == "returned" and out.value["finite"], str(out)


def test_stream_offsets_past_2_64_are_refused(sandbox):
    _check(sandbox.run(_stream_take, 2**64 - 1), ValueError, "start", "2**64")
    _check(sandbox.run(_ext_gaussian, 2**64 - 1), ValueError, "start")
    _check(sandbox.run(_ext_gaussian, 2**64), ValueError, "start")


def test_out_list_is_a_type_error(sandbox):
    _check(sandbox.run(_out_list), TypeError, "out")


def test_oracle_of_a_non_target(sandbox):
    _check(sandbox.run(_oracle_object), TypeError, "target")


@pytest.mark.parametrize("kind", ["network", "oracle"])
def test_fit_stream_of_a_non_stream(sandbox, kind):
    _check(sandbox.run(_fit_stream_object, kind), TypeError, "stream")


def test_excess_error_of_an_object_without_predict(sandbox):
    _check(sandbox.run(_excess_error_object), TypeError, "model", "predict")


def test_hermite_past_171_has_no_factorial_overflow(sandbox):
    out = sandbox.run(_hermite, 171)
    assert out.status == "returned" and out.value["finite"], str(out)
    _check(sandbox.run(_hermite, 400), ValueError, "normalized=True")
    out = sandbox.run(_hermite, 400, True)
    assert out.status == "returned" and out.value["finite"], str(out)


def test_hermite_171_values():
    z = np.linspace(-2, 2, 5)
    h = fastrep.hermite(z, 171, normalized=True)
    np.testing.assert_allclose(fastrep.hermite(z, 171), h * math.exp(0.5 * math.lgamma(172)), rtol=1e-13)
    assert np.all(np.isfinite(fastrep.hermite(z, 171)))


def test_ntk_beta_overflow_is_a_value_error(sandbox):
    _check(sandbox.run(_ntk_kernel, 1.0, 1e200), ValueError, "beta")
    _check(sandbox.run(_ntk_regressor_beta), ValueError, "beta")


@pytest.mark.parametrize("a", [2**31, 2**40, 1001])
def test_target_keys_are_range_checked(sandbox, a):
    _check(sandbox.run(_target_key, a), ValueError, "terms", "1000")


def test_unhashable_split_names_the_argument(sandbox):
    _check(sandbox.run(_split_list), ValueError, "split")


def test_sandbox_survives_an_abort(sandbox):
    out = sandbox.run(_abort)
    assert out.status == "crashed" and out.returncode != 0
    assert sandbox.run(_hermite, 2).status == "returned"  # a fresh worker took over


# ---- defined conversions (in process: these never crashed) ---------------------------------
@pytest.mark.parametrize("dtype,want", [(np.float16, np.float32), (np.int64, np.float64), (np.int8, np.float64),
                                        (np.uint16, np.float64), (np.bool_, np.float64),
                                        (np.float32, np.float32), (np.float64, np.float64)])
def test_dtype_conversions_are_the_documented_ones(dtype, want):
    Z = np.ones((4, 2), dtype=dtype)
    assert fastrep.hermite_features(Z, [[1, 1]]).dtype == want
    assert fastrep.hermite(np.ones(3, dtype=dtype), 2).dtype == want
    assert fastrep.ntk_kernel(Z).dtype == want
    t = fastrep.MultiIndexTarget.single_index(2)
    assert t.f(Z).dtype == want


@pytest.mark.parametrize("bad", [np.ones((2, 1), complex), np.array([[object()]]), np.array([["a"]])],
                         ids=["complex", "object", "str"])
def test_complex_object_string_are_refused(bad):
    with pytest.raises(TypeError, match="Z"):
        fastrep.hermite_features(bad, [[1]])
    with pytest.raises(TypeError, match="X1"):
        fastrep.ntk_kernel(bad)


def test_estimators_cast_to_their_dtype():
    # scikit-learn's convention: integers and booleans become the estimator's float dtype
    t = fastrep.MultiIndexTarget.single_index(3)
    X = np.random.default_rng(0).integers(-2, 3, size=(40, 3))
    y = t.f(X)
    for model in (fastrep.OneStepNetwork(width=8, ridge=1e-3), fastrep.NTKRegressor(ridge=1e-3),
                  fastrep.OracleRegressor(t, ridge=1e-3)):
        pred = model.fit(X.astype(bool) if isinstance(model, fastrep.NTKRegressor) else X, y).predict(X)
        assert pred.dtype in (np.float32, np.float64) and np.all(np.isfinite(pred))
    with pytest.raises((TypeError, ValueError)):
        fastrep.OneStepNetwork(width=8).fit(X.astype(complex), y)


def test_check_out_rules():
    from fastrep._validation import check_out

    Z = np.ones((3, 2))
    assert check_out(None, (3, 2), np.float64, Z) is None
    good = np.empty((3, 2))
    assert check_out(good, (3, 2), np.float64, Z) is good
    with pytest.raises(TypeError, match="res"):
        check_out([[0.0]], (1, 1), np.float64, Z, name="res")
    with pytest.raises(ValueError, match="shape"):
        check_out(np.empty((2, 3)), (3, 2), np.float64, Z)
    with pytest.raises(ValueError, match="dtype"):
        check_out(np.empty((3, 2), np.float32), (3, 2), np.float64, Z)
    with pytest.raises(ValueError, match="C-contiguous"):
        check_out(np.empty((2, 3)).T, (3, 2), np.float64, Z)
    ro = np.empty((3, 2))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        check_out(ro, (3, 2), np.float64, Z)
    with pytest.raises(ValueError, match="overlaps"):
        check_out(Z, (3, 2), np.float64, Z)
    buf = np.empty(12)
    with pytest.raises(ValueError, match="overlaps"):
        check_out(buf[:6].reshape(3, 2), (3, 2), np.float64, buf[3:9].reshape(3, 2))


def test_out_overlapping_z_is_refused_on_every_backend():
    for backend in ("reference", "cpp", "numba"):
        Z = np.ones((4, 1))
        with pytest.raises(ValueError, match="overlaps"):
            fastrep.hermite_features(Z, [[0]], backend=backend, out=Z)


def test_multi_indices_order_is_unchanged():
    from itertools import combinations_with_replacement

    from fastrep.hermite import count_multi_indices

    for r, p in [(1, 4), (2, 3), (3, 4), (5, 2)]:
        rows = []
        for deg in range(p + 1):
            block = []
            for combo in combinations_with_replacement(range(r), deg):
                alpha = [0] * r
                for j in combo:
                    alpha[j] += 1
                block.append(alpha)
            rows.extend(sorted(block, reverse=True))
        np.testing.assert_array_equal(fastrep.multi_indices(r, p), np.array(rows, dtype=np.int32))
        assert len(fastrep.multi_indices(r, p)) == count_multi_indices(r, p)
        exact = fastrep.multi_indices(r, p, exact=True)
        assert np.all(exact.sum(axis=1) == p) and len(exact) == math.comb(r + p - 1, p)
