"""The kernel study (`fastrep demo --large-kernels`, issue 26 item 4): its sweep, its plan (each
cell's centres, memory and time, checked against what the estimator does), the command's dry
run and its refusal on a machine too small; and a string dtype reaching the kernel estimators
(the study's TOML says dtype = "float32")."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from fastrep import NNGPRegressor, NTKRegressor
from fastrep.backend import resolve
from fastrep.cli import main
from fastrep.experiments import demo_spec, load_spec
from fastrep.experiments import kernel_study as K
from fastrep.experiments import plan as P
from fastrep.nystrom import centers_needed, preconditioner_bytes

RATES = {"float32": 1e11, "float64": 5e10, "bytes": 1e10}


def test_the_study_is_the_large_studys_ntk_setting_with_the_nystrom_solver():
    spec, large = demo_spec("large_kernels"), demo_spec("large")
    assert spec.name == "separation-large-kernels"
    assert (spec.target, spec.evaluation, spec.epsilon) == (large.target, large.evaluation, large.epsilon)
    (m,), lk = spec.methods, next(m for m in large.methods if m.method == "ntk")
    assert m.method == "ntk" and m.d == (32, 48, 64)
    o = m.options
    assert (o["solver"], o["dtype"], o["n_centers"]) == ("nystrom", "float32", None)
    assert o["max_memory"] == 16 * 10**9
    assert o["ridge"] == lk.options["ridge"] == 1e-8 and o["beta"] == lk.options["beta"]
    assert len(spec.seeds) in (2, 3)
    for d in m.d:  # the large study's grid: 16 sqrt(2)^k
        k = [2 * math.log2(n / 16) for n in m.n_at(d)]
        assert all(abs(x - round(x)) < 1e-3 for x in k) and np.all(np.diff(np.round(k)) == 1)
    # d = 32 overlaps the large study's exact cells, so the two solvers are compared where both ran
    assert len(set(m.n_at(32)) & set(lk.n_at(32))) >= 3
    # the predicted n* (4.1e4 at d = 48, 9.5e4 at d = 64) has grid points on both sides
    for d, star in ((48, 4.1e4), (64, 9.5e4)):
        ns = np.array(m.n_at(d))
        assert (ns < star).sum() >= 2 and (ns > star).sum() >= 1


def test_the_plan_counts_what_the_estimator_does():
    p = K.kernel_study_plan(demo_spec("large_kernels"), rates=RATES)
    assert sum(c.seeds for c in p.cells) == demo_spec("large_kernels").count()
    for c in p.cells:
        assert (c.M, c.degree) == centers_needed(c.n, c.d)
        assert not c.limited
        assert c.pc_dtype == "float32"  # the data's dtype (Falkon's rule, the estimator's since session 8)
        # K_nM kept where its n x M float32 entries fit beside the preconditioner
        assert c.stored == (c.preconditioner_bytes + 4.0 * c.n * c.M + 8 * c.M <= 16e9)
        flops = K.KERNEL_PASS_GEMMS * 2 * c.M**2 * c.d + K.FACTORIZATION_OVERHEAD * c.M**3
        assert c.factor_s == pytest.approx(flops / RATES[c.pc_dtype])
    big = [c for c in p.cells if c.d == 64 and c.n >= 65536]
    assert big and all(c.M == 47840 and c.pc_dtype == "float32" for c in big)
    la = resolve("auto", "cholesky", np.empty((1, 1), dtype=np.float32))  # the fit's 'ridge' family
    for c in p.cells:  # the estimator's own count (one packed buffer on the CPU: 9.2 GB at M = 47,840)
        want = preconditioner_bytes({"ridge": la}, c.M, c.d, np.dtype(c.pc_dtype).itemsize)
        assert c.preconditioner_bytes == want
    assert p.peak_cell_bytes < 16e9 and p.time_s == pytest.approx(p.cell_seconds)
    # twice the GEMM rate halves the factorizations
    q = K.kernel_study_plan(demo_spec("large_kernels"), rates={k: 2 * v for k, v in RATES.items()})
    assert q.cells[-1].factor_s == pytest.approx(p.cells[-1].factor_s / 2)
    text = "\n".join(p.lines())
    assert "47,840" in text and "float32" in text and "estimated time:" in text


@pytest.mark.parametrize("max_memory", [2**30, 60 * 2**20])
def test_the_plans_centres_are_the_estimators(max_memory):
    """At a size that runs here: the plan's M and preconditioner dtype equal the fitted
    estimator's, with the centre rule's M when it fits and a lowered one when it does not."""
    opts = {"ridge": 1e-8, "solver": "nystrom", "dtype": "float32", "max_memory": max_memory}
    small = load_spec({"name": "k", "epsilon": 0.25, "seeds": 1, "target": {"preset": "separation"},
                       "grid": {"d": [16], "n": [5793]}, "evaluation": {"n_val": 100, "n_test": 100},
                       "methods": {"ntk": opts}})
    (c,) = K.kernel_study_plan(small, rates=RATES).cells
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5793, 16)).astype(np.float32)
    y = X[:, 0] * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lowered M's warning, and CG stopped at max_iter
        m = NTKRegressor(**opts, max_iter=2).fit(X, y)
    assert (c.M, c.pc_dtype, c.limited) == (m.n_centers_, m.preconditioner_dtype_.name, m.centers_limited_)
    assert c.stored == m.kernel_stored_
    assert c.limited == (max_memory < 2**30)


def test_a_string_dtype_is_the_dtype_that_runs():
    """dtype='float32' (as a TOML spec writes it) ran float64: every string was read as 'auto'."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((120, 6)), rng.standard_normal(120)
    for cls in (NTKRegressor, NNGPRegressor):
        assert cls(ridge=1e-6, dtype="float32").fit(X, y).dtype_ == np.float32
        assert cls(ridge=1e-6, dtype="float64").fit(X.astype(np.float32), y).dtype_ == np.float64
        assert cls(ridge=1e-6, dtype="auto").fit(X, y).dtype_ == np.float64


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(K, "machine_rates", lambda threads=1, seconds=1.0: RATES)
    assert main(["demo", "--large-kernels", "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sweep 'separation-large-kernels': 42 NTK cells" in out
    assert "47,840" in out and "estimated time:" in out
    assert f"fastrep report {tmp_path / 'separation-large' / 'results.sqlite'} --with" in out
    assert not any(tmp_path.iterdir())


def test_the_study_is_exclusive_and_refused_on_a_small_machine(tmp_path, capsys, monkeypatch):
    assert main(["demo", "--large-kernels", "--large", "--out", str(tmp_path)]) == 2
    assert "are different grids" in capsys.readouterr().err
    monkeypatch.setattr(K, "machine_rates", lambda threads=1, seconds=1.0: RATES)
    monkeypatch.setattr(P, "_machine_memory", lambda: 4 * 2**30)
    assert main(["demo", "--large-kernels", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "max_memory = 16 GB" in err and "this machine has 4.0 GiB" in err
    assert not any(tmp_path.iterdir())  # refused before any cell or store


def test_the_command_runs_the_study_into_its_store(tmp_path, capsys, monkeypatch):
    """The run path on a tiny stand-in for the study (d = 12, three n, one seed): its store, its
    report, and the line pointing at the large study's report."""
    from fastrep import experiments
    from fastrep.experiments import load

    real = experiments.demo_spec
    tiny = load_spec({"name": "separation-large-kernels", "epsilon": 0.25, "seeds": 1,
                      "target": {"preset": "separation", "noise": 0.0},
                      "grid": {"d": [12], "n": [512, 1024, 2048]},
                      "evaluation": {"n_val": 200, "n_test": 400},
                      "methods": {"ntk": {"ridge": 1e-8, "solver": "nystrom", "dtype": "float32",
                                          "max_memory": 2**30}}})
    monkeypatch.setattr(experiments, "demo_spec",
                        lambda grid="full": tiny if grid == "large_kernels" else real(grid))
    (tmp_path / "separation-large").mkdir()
    (tmp_path / "separation-large" / "results.sqlite").write_bytes(b"")  # the large study's store is there
    assert main(["demo", "--large-kernels", "--out", str(tmp_path), "--serial", "--no-progress"]) == 0
    out = capsys.readouterr().out
    store = tmp_path / "separation-large-kernels" / "results.sqlite"
    df = load(store)
    assert sorted(df["n"]) == [512, 1024, 2048] and set(df["sweep"]) == {"separation-large-kernels"}
    assert all(e["solver"] == "nystrom" and e["dtype"] == "float32" for e in df["extra"])
    assert (store.parent / "report.md").is_file()
    assert f"fastrep report {tmp_path / 'separation-large' / 'results.sqlite'} --with {store}" in out
