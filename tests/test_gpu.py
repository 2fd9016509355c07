"""End-to-end on the GPU: the same experiment, the same numbers. Skips cleanly without CuPy
or a CUDA device (the per-kernel CuPy checks live beside each kernel's tests)."""

from __future__ import annotations

import numpy as np
import pytest

import fastrep

STATUS = fastrep.backends()["cupy"]
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(STATUS != "available", reason=STATUS)]


def _fit(backend, precision="highest"):
    target = fastrep.MultiIndexTarget.separation(16, seed=0)
    stream = fastrep.GaussianStream(target, 4, dtype=np.float32, backend=backend)
    net = fastrep.OneStepNetwork(width=256, backend=backend, seed=0, precision=precision)
    net.fit_stream(stream, 4000, n_val=2000)
    return net, target


def test_onestep_network_gpu_matches_cpu():
    import cupy as cp

    cpu, target = _fit("cpp")
    gpu, _ = _fit("cupy")
    e_cpu = fastrep.metrics.excess_error(cpu, target, 5000, seed=1)
    e_gpu = fastrep.metrics.excess_error(gpu, target, 5000, seed=1)
    assert abs(e_cpu - e_gpu) <= 1e-3, (e_cpu, e_gpu)
    X, _ = fastrep.GaussianStream(target, 9, dtype=np.float32, backend="cupy").take(100)
    assert isinstance(gpu.predict(X), cp.ndarray)  # CuPy in, CuPy out
    with pytest.raises(TypeError, match="mix NumPy and CuPy"):
        cpu.fit(X, np.zeros(100, np.float32))


def test_tf32_is_close_to_float32():
    net, target = _fit("cupy")
    net32, _ = _fit("cupy", precision="tf32")
    e = fastrep.metrics.excess_error(net, target, 5000, seed=1)
    e32 = fastrep.metrics.excess_error(net32, target, 5000, seed=1)
    assert abs(e32 - e) <= 0.1 * e + 1e-3


def test_stream_on_device_matches_cpu():
    import cupy as cp

    target = fastrep.MultiIndexTarget.single_index(12, "he2", noise=0.5, seed=0)
    Xc, yc = fastrep.GaussianStream(target, 3, dtype=np.float64).take(1000)
    Xg, yg = fastrep.GaussianStream(target, 3, dtype=np.float64, backend="cupy").take(1000)
    np.testing.assert_allclose(cp.asnumpy(Xg), Xc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cp.asnumpy(yg), yc, rtol=1e-10, atol=1e-10)
