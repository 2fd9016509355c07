"""The Hermite benchmarks run and time right answers: compare_hermite.py at a tiny size, its
SciPy baseline against the reference, and the asv class's methods called directly."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastrep
from benchmarks import bench_hermite, compare_hermite
from fastrep._kernels import reference


def test_scipy_baseline_is_the_same_function(rng):
    # the "x SciPy" column compares like with like only if the loop computes h_alpha
    Z = rng.standard_normal((300, 3))
    alphas = fastrep.multi_indices(3, 5)
    got = compare_hermite.scipy_loop(Z, alphas, np.empty((300, len(alphas))))
    np.testing.assert_allclose(got, reference.hermite_features(Z, alphas), rtol=1e-12, atol=1e-12)


def test_compare_script_prints_a_checked_table(capsys):
    assert compare_hermite.main(["--n", "3000", "--dtype", "float32", "--repeats", "5"]) == 0
    text = capsys.readouterr().out
    assert "OPENBLAS_CORETYPE:" in text
    rows = re.findall(r"^\| (cpp|numba|reference|cupy) \|(.*)\|$", text, flags=re.M)
    assert {name for name, _ in rows} >= {"reference"}
    for name, cells in rows:
        err = float(cells.split("|")[-1])
        assert err <= 1e-5, f"{name}: max err {err}"
    assert "np.copyto, same size" in text
    if fastrep.backends()["cpp"] == "available":
        assert re.search(r"goal cpp >= 3x the SciPy loop: [\d.]+x, (met|MISSED)", text)


def test_max_scaled_error_sees_a_wrong_entry():
    want = np.ones((5, 4), dtype=np.float32)
    got = want.copy()
    got[3, 2] = 1.5
    assert compare_hermite.max_scaled_error(got, want, chunk=2) == pytest.approx(0.5)


@pytest.mark.parametrize("backend", ["cpp", "numba", "reference", "cupy"])
def test_asv_class_methods_run(backend):
    bench = bench_hermite.HermiteFeatures()
    try:
        bench.setup(1000, 2, 3, backend)
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    bench.time_hermite_features(1000, 2, 3, backend)
    bench.time_hermite_features_alloc(1000, 2, 3, backend)
    bench.peakmem_hermite_features(1000, 2, 3, backend)
    bench.peakmem_reference(1000, 2, 3, backend)
    out = bench.out.get() if hasattr(bench.out, "get") else bench.out
    Z = bench.Z.get() if hasattr(bench.Z, "get") else bench.Z
    want = reference.hermite_features(Z.astype(np.float64), bench.alphas)
    assert np.max(np.abs(out - want) / np.maximum(1.0, np.abs(want))) <= 1e-5


def test_asv_grid_skips_outputs_too_large():
    bench = bench_hermite.HermiteFeatures()
    with pytest.raises(NotImplementedError, match="larger than"):
        bench.setup(1_000_000, 8, 6, "cpp" if fastrep.backends()["cpp"] == "available" else "reference")


@pytest.mark.slow
def test_numba_first_call_is_tracked():
    if fastrep.backends()["numba"] != "available":
        pytest.skip(fastrep.backends()["numba"])
    bench = bench_hermite.HermiteNumbaCompile()
    bench.setup("float32")
    compile_s = bench.track_numba_compile_s("float32")
    cached_s = bench.track_numba_cached_first_call_s("float32")
    assert 0 < cached_s < compile_s
