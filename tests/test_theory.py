"""fastrep.theory: the spectrum per harmonic degree, the omniscient-risk equation, predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import eval_gegenbauer, roots_jacobi

from fastrep import MultiIndexTarget, NNGPRegressor, NTKRegressor, ntk_kernel
from fastrep import theory as T
from fastrep.theory import energies as TE
from fastrep.theory import spectra as TS


def _sphere(rng, n, d):
    X = rng.standard_normal((n, d))
    return X * (math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True))


# --------------------------------------------------------------------------- spectrum


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
@pytest.mark.parametrize("d", [4, 9, 16, 40])
def test_series_matches_quadrature_where_both_work(kernel, d):
    s = T.kernel_spectrum(d, kernel=kernel, max_degree=6)
    q = T.kernel_spectrum(d, kernel=kernel, max_degree=6, method="quadrature")
    np.testing.assert_allclose(s.eigenvalue, q.eigenvalue, rtol=2e-3)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_asymptotics_approach_the_exact_eigenvalues_as_d_grows(kernel):
    gaps = []
    for d in (50, 500, 5000):
        exact = T.kernel_spectrum(d, kernel=kernel, max_degree=4).eigenvalue
        asym = T.kernel_spectrum(d, kernel=kernel, max_degree=4, method="asymptotic").eigenvalue
        gaps.append(np.max(np.abs(asym / exact - 1.0)))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.01
    # and where quadrature still works, asymptotics and quadrature agree to the same O(1/d)
    quad = T.kernel_spectrum(150, kernel=kernel, max_degree=3, method="quadrature").eigenvalue
    asym = T.kernel_spectrum(150, kernel=kernel, max_degree=3, method="asymptotic").eigenvalue
    np.testing.assert_allclose(asym, quad, rtol=0.05)


def test_quadrature_is_independent_of_the_library_gegenbauer():
    # the check itself: lambda_l = E[k(t) P_l(t)] by a second, higher-order Gauss-Jacobi rule
    d, L = 7, 5
    t, w = roots_jacobi(2000, (d - 3) / 2, (d - 3) / 2)
    w /= w.sum()
    kt = TS._sphere_kernel("ntk", 1.0, t)
    ref = [np.sum(w * kt * eval_gegenbauer(ell, (d - 2) / 2, t) / eval_gegenbauer(ell, (d - 2) / 2, 1.0))
           for ell in range(L + 1)]
    np.testing.assert_allclose(T.kernel_spectrum(d, max_degree=L).eigenvalue, ref, rtol=1e-4)


@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_trace_sum_of_multiplicities_times_eigenvalues_converges_to_k1(kernel):
    k1 = 2.0 if kernel == "ntk" else 1.0  # k(1) = (1 + beta^2) * (1 or 1/2) with beta = 1
    tails = []
    for L in (5, 40, 300):
        s = T.kernel_spectrum(3, kernel=kernel, max_degree=L)
        resolved = float(np.sum(np.exp(s.log_multiplicity) * s.eigenvalue))
        assert resolved + s.tail == pytest.approx(k1, rel=1e-12)
        tails.append(s.tail)
    assert tails[0] > tails[1] > tails[2] >= 0
    assert tails[2] < 0.01 * k1


def test_multiplicities_match_the_formula_and_the_sphere_at_small_d():
    # d = 3: 2l + 1; general d: (2l + d - 2)/l C(l + d - 3, l - 1)
    np.testing.assert_allclose(np.exp(T.log_multiplicity(3, np.arange(6))), [1, 3, 5, 7, 9, 11])
    d = 10
    exact = [1] + [(2 * ell + d - 2) / ell * math.comb(ell + d - 3, ell - 1) for ell in range(1, 8)]
    np.testing.assert_allclose(np.exp(T.log_multiplicity(d, np.arange(8))), exact, rtol=1e-12)
    big = T.log_multiplicity(10**6, np.array([0, 3, 30]))
    assert np.all(np.isfinite(big)) and big[2] > 300  # N(10^6, 30) ~ 10^150: kept in logarithms


@pytest.mark.parametrize("measure", ["sphere", pytest.param("gaussian", marks=pytest.mark.slow)])
def test_eigenvalues_against_a_sample_eigendecomposition(measure, rng):
    # the top eigenvalues of K/n on a sample cluster in groups of N_l around lambda_l
    d, n = 4, 1500
    X = _sphere(rng, n, d) if measure == "sphere" else rng.standard_normal((n, d))
    ev = np.sort(np.linalg.eigvalsh(ntk_kernel(X) / n))[::-1]
    spec = T.kernel_spectrum(d, max_degree=3, measure=measure)
    top = np.sort(spec.eigenvalue)[::-1]
    mult = np.rint(np.exp(spec.log_multiplicity[np.argsort(spec.eigenvalue)[::-1]])).astype(int)
    pos = 0
    for lam, N in zip(top[:4], mult[:4], strict=True):
        block = ev[pos:pos + N]
        assert np.mean(block) == pytest.approx(lam, rel=0.05), (lam, N, block)
        pos += N


def test_no_overflow_or_underflow_at_large_d():
    for d in (1024, 10**5):
        s = T.kernel_spectrum(d, max_degree=12)
        assert np.all(np.isfinite(s.log_eigenvalue))
        assert np.all(np.diff(s.log_eigenvalue) < 0)
        t = MultiIndexTarget.separation(8)
        err = T.kernel_learning_curve(MultiIndexTarget(d, t.terms, normalize=False), [d, d**2, d**3],
                                      ridge=0.0)
        assert np.all(np.isfinite(err)) and np.all(np.diff(err) < 0)


# --------------------------------------------------------------------------- the equation


def test_eigenlearning_against_direct_ridge_with_gaussian_design(rng):
    # linear ridge on z ~ N(0, diag(lam)): the setting where the equation is asymptotically exact
    D = 500
    lam = 1.0 / np.arange(1, D + 1) ** 1.5
    # target energy e_k = beta_k^2 on the eigenfunction z_k / sqrt(lam_k)
    beta = rng.standard_normal(D) * np.sqrt(lam)
    noise, ridge = 0.1, 1e-3
    ns = np.array([100, 250, 500])
    reps = 16
    measured = np.zeros((reps, len(ns)))
    for r in range(reps):
        Z = rng.standard_normal((ns[-1], D)) * np.sqrt(lam)
        y = Z @ (beta / np.sqrt(lam)) + math.sqrt(noise) * rng.standard_normal(ns[-1])
        for i, n in enumerate(ns):
            K = Z[:n] @ Z[:n].T
            a = np.linalg.solve(K + n * ridge * np.eye(n), y[:n])
            w = Z[:n].T @ a  # f(z) = z . w; excess error = sum_k lam_k (w_k - beta_k/sqrt(lam_k))^2
            measured[r, i] = np.sum(lam * (w - beta / np.sqrt(lam)) ** 2)
    pred, L, E0 = T.eigenlearning(ns, np.zeros(D), np.log(lam), beta**2, delta=ns * ridge, noise=noise)
    mean, se = measured.mean(0), measured.std(0) / math.sqrt(reps)
    # within Monte Carlo error, plus 3% for the equation's finite-n corrections
    assert np.all(np.abs(pred - mean) <= 4 * se + 0.03 * pred), (pred, mean, se)
    assert L.shape == (3, D) and np.all(np.diff(L, axis=0) >= 0) and np.all(E0 >= 1)


def test_eigenlearning_interpolation_limit_is_ordinary_least_squares():
    # no ridge, n > D: kappa = 0, every mode learned, error = sigma^2 D / (n - D)
    err, L, E0 = T.eigenlearning(np.array([20.0, 50.0]), np.zeros(10), np.zeros(10), np.ones(10) / 10,
                                 delta=0.0, noise=0.3)
    np.testing.assert_allclose(L, 1.0)
    np.testing.assert_allclose(err, 0.3 * 10 / (np.array([20.0, 50.0]) - 10))


def _measure(cls, target, ns, reps, draw, rng):
    """(reps, len(ns)) test MSE of cls(ridge=1e-8) fitted on prefixes of ``reps`` fresh draws."""
    out = np.zeros((reps, len(ns)))
    for r in range(reps):
        # a fresh test set per draw: the mean square of a cubic over a few thousand inputs is
        # heavy-tailed, and one shared test set would bias every draw the same way
        Xt = draw(rng, 5000, target.d)
        X = draw(rng, ns[-1], target.d)
        y = target.f(X)
        for i, n in enumerate(ns):
            m = cls(ridge=1e-8, solver="cholesky").fit(X[:n], y[:n])
            out[r, i] = np.mean((m.predict(Xt) - target.f(Xt)) ** 2)
    return out


def _agrees(pred, measured, rel=0.05):
    # the error varies ~10% from one training draw to the next: compare the mean over draws,
    # within 3 standard errors plus ``rel`` for the equation itself
    mean = measured.mean(0)
    se = measured.std(0, ddof=1) / math.sqrt(measured.shape[0])
    return bool(np.all(np.abs(pred - mean) <= 3 * se + rel * pred)), (pred, mean, se)


@pytest.mark.parametrize("kernel,cls", [("ntk", NTKRegressor),
                                        pytest.param("nngp", NNGPRegressor, marks=pytest.mark.slow)])
def test_equation_predicts_kernel_ridge_on_sphere_data(kernel, cls, rng):
    # inputs exactly on the sphere of radius sqrt(d): the spectrum is the sphere model's, and the
    # target's energy per harmonic degree is its exact decomposition at radius 1 (not its Hermite
    # energy, which is what the sphere model assumes for Gaussian inputs)
    d = 16
    target = MultiIndexTarget.separation(d, seed=3)
    C, p = TE._harmonic_parts(target.terms, target.r, d)
    spec = T.kernel_spectrum(d, kernel=kernel, max_degree=12)
    energy = np.zeros(13)
    for ell in range(p + 1):
        energy[ell] = C[ell].sum()
    ns = np.array([350, 700])
    measured = _measure(cls, target, ns, 5, _sphere, rng)
    pred, _, _ = T.eigenlearning(ns, spec.log_multiplicity, spec.log_eigenvalue, energy,
                                 delta=ns * 1e-8 + spec.tail)
    ok, info = _agrees(pred, measured)
    assert ok, info


@pytest.mark.parametrize("kernel,cls", [("ntk", NTKRegressor),
                                        pytest.param("nngp", NNGPRegressor, marks=pytest.mark.slow)])
def test_gaussian_model_predicts_kernel_ridge_on_gaussian_data(kernel, cls, rng):
    target = MultiIndexTarget.separation(16, seed=5)
    ns = [350, 700]
    measured = _measure(cls, target, ns, 5, lambda g, n, d: g.standard_normal((n, d)), rng)
    pred = T.kernel_learning_curve(target, ns, kernel=kernel, ridge=1e-8, measure="gaussian")
    ok, info = _agrees(pred, measured)
    assert ok, info


def test_paper_prototype_numbers():
    # an independent prototype of the eigenlearning prediction (sphere model, tail as ridge, ridge 1e-8)
    t = MultiIndexTarget.separation(16)
    ns = [500, 1000, 2000, 4000]
    np.testing.assert_allclose(T.kernel_learning_curve(t, ns, ridge=1e-8, measure="sphere"),
                               [0.545, 0.379, 0.227, 0.105], atol=2e-3)
    np.testing.assert_allclose(T.kernel_learning_curve(t, ns, ridge=1e-8, measure="sphere", tail="drop"),
                               [0.515, 0.327, 0.166, 0.060], atol=2e-3)


# --------------------------------------------------------------------------- the Gaussian model's target


def test_gaussian_energies_sum_to_the_variance():
    for t in (MultiIndexTarget.separation(12), MultiIndexTarget.staircase(12, 3),
              MultiIndexTarget.giant_step(9), MultiIndexTarget.single_index(7, "he4")):
        spec = T.kernel_spectrum(t.d, max_degree=t.degree + 1, measure="gaussian")
        e = T.target_energies(t, spec)
        assert np.all(e > -1e-12)
        assert e.sum() == pytest.approx(t.variance, rel=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_harmonic_parts_of_a_ridge_function_match_funk_hecke(k):
    # single index f(z_1): on the sphere of radius R sqrt(d) its degree-l energy is
    # N_l (E_t[f(R sqrt(d) t) P_l(t)])^2 with t ~ (1 - t^2)^((d-3)/2) (Funk-Hecke)
    d = 7
    t = MultiIndexTarget.single_index(d, f"he{k}")
    C, p = TE._harmonic_parts(t.terms, 1, d)
    tt, w = roots_jacobi(200, (d - 3) / 2, (d - 3) / 2)
    w /= w.sum()
    for R in (0.7, 1.0, 1.3):
        # f depends on U x; put x along U's row so that U x = R sqrt(d) t
        X = np.outer(R * math.sqrt(d) * tt, t.U[0])
        fvals = t.f(X)
        Rv = R ** np.arange(p + 1)
        for ell in range(p + 1):
            P = eval_gegenbauer(ell, (d - 2) / 2, tt) / eval_gegenbauer(ell, (d - 2) / 2, 1.0)
            funk = math.exp(T.log_multiplicity(d, np.array([ell]))[0]) * np.sum(w * fvals * P) ** 2
            assert Rv @ C[ell] @ Rv == pytest.approx(funk, rel=1e-8, abs=1e-12)


def test_hermite_degree_leaks_into_lower_harmonic_degrees():
    # h_3 on N(0, I_d): its degree-1 harmonic part at radius rho is d E_theta[h_3 theta_1] theta_1;
    # with E rho^2 = 1, E rho^4 = (d+2)/d, E rho^6 = (d+2)(d+4)/d^2 its energy is exactly 3/(d + 2)
    for d in (8, 32, 128):
        t = MultiIndexTarget.single_index(d, "he3")
        spec = T.kernel_spectrum(d, max_degree=3, measure="gaussian")
        e = T.target_energies(t, spec)
        assert e[spec.degree == 1].sum() == pytest.approx(3 / (d + 2), rel=1e-9)
        assert e[spec.degree == 3].sum() == pytest.approx(1 - 3 / (d + 2), rel=1e-9)
        assert e[spec.degree % 2 == 0].sum() == pytest.approx(0, abs=1e-12)


# --------------------------------------------------------------------------- predictions


@pytest.mark.parametrize("measure", ["sphere", "gaussian"])
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_monotone_in_n_noise_and_d(measure, kernel):
    t = MultiIndexTarget.separation(20)
    ns = np.geomspace(50, 1e6, 40)
    clean = T.kernel_learning_curve(t, ns, kernel=kernel, ridge=1e-8, measure=measure)
    assert np.all(np.diff(clean) < 0) and np.all(clean > 0)
    noisy = T.kernel_learning_curve(t, ns, kernel=kernel, ridge=1e-8, noise=0.5, measure=measure)
    assert np.all(noisy > clean)
    L = T.kernel_learnability(t, ns, kernel=kernel, ridge=1e-8, measure=measure)
    assert L.shape == (40, 4) and np.all(np.isnan(L[:, :2]))  # no energy in degrees 0, 1
    assert np.all(np.diff(L[:, 2:], axis=0) > 0) and np.all(L[:, 2] > L[:, 3])
    stars = T.kernel_n_star(t, [12, 16, 24, 32], 0.25, kernel=kernel, measure=measure)
    assert np.all(np.diff(stars) > 0)
    # the crossing is where the curve says
    t24 = MultiIndexTarget(24, t.terms, normalize=False)
    at = T.kernel_learning_curve(t24, [stars[2] * 0.99, stars[2] * 1.01], kernel=kernel, ridge=1e-8,
                                 measure=measure)
    assert at[0] > 0.25 >= at[1]


def test_predicted_slope_at_large_d_is_about_three():
    t = MultiIndexTarget.separation(8)
    ds = np.array([128, 256, 512, 1024])
    stars = T.kernel_n_star(t, ds, 0.25, ridge=0.0)
    slope = np.polyfit(np.log(ds), np.log(stars), 1)[0]
    assert 2.8 < slope < 3.1


def test_array_in_array_out_shapes():
    t = MultiIndexTarget.separation(16)
    assert T.kernel_learning_curve(t, 1000, ridge=1e-8).shape == ()
    assert T.kernel_learning_curve(t, np.full((2, 3), 1000.0), ridge=1e-8).shape == (2, 3)
    ns = np.array([500.0, 1000.0])
    np.testing.assert_allclose(T.kernel_learning_curve(t, ns, ridge=1e-5 / ns),
                               [T.kernel_learning_curve(t, n, ridge=1e-5 / n) for n in ns])
    assert T.kernel_n_star(t, 16, 0.25).shape == ()


def test_argument_errors():
    t = MultiIndexTarget.separation(16)
    with pytest.raises(ValueError, match="kernel"):
        T.kernel_learning_curve(t, 100, kernel="rbf", ridge=1e-8)
    with pytest.raises(ValueError, match="ridge"):
        T.kernel_learning_curve(t, 100, ridge=-1.0)
    with pytest.raises(TypeError, match="ridge"):
        T.kernel_learning_curve(t, 100, ridge="small")
    with pytest.raises(ValueError, match="broadcast"):
        T.kernel_learning_curve(t, [100, 200], ridge=[1e-8, 1e-8, 1e-8])
    with pytest.raises(TypeError):
        T.kernel_learning_curve(t, 100)  # ridge is required
    for bad in (0, -5, np.nan, np.inf, [100, 0]):
        with pytest.raises(ValueError, match="n must"):
            T.kernel_learning_curve(t, bad, ridge=1e-8)
    with pytest.raises(TypeError, match="n must"):
        T.kernel_learning_curve(t, "100", ridge=1e-8)
    with pytest.raises(ValueError, match="max_degree"):
        T.kernel_learning_curve(t, 100, ridge=1e-8, max_degree=2)
    with pytest.raises(ValueError, match="measure"):
        T.kernel_learning_curve(t, 100, ridge=1e-8, measure="torus")
    with pytest.raises(ValueError, match="tail"):
        T.kernel_learning_curve(t, 100, ridge=1e-8, tail="keep")
    with pytest.raises(ValueError, match="beta"):
        T.kernel_learning_curve(t, 100, ridge=1e-8, beta=-1.0)
    with pytest.raises(ValueError, match="noise"):
        T.kernel_learning_curve(t, 100, ridge=1e-8, noise=-0.1)
    with pytest.raises(TypeError, match="MultiIndexTarget"):
        T.kernel_learning_curve({2: 1.0}, 100, ridge=1e-8)
    with pytest.raises(ValueError, match="d must"):
        T.kernel_spectrum(2)
    with pytest.raises(ValueError, match="method"):
        T.kernel_spectrum(16, measure="gaussian", method="quadrature")
    with pytest.raises(ValueError, match="r < d"):
        T.kernel_learning_curve(MultiIndexTarget(3, {(1, 1, 1): 1.0}), 100, ridge=1e-8, measure="gaussian")
    with pytest.raises(ValueError, match="epsilon"):
        T.kernel_n_star(t, [16], 0.0)
    with pytest.raises(TypeError, match="d_values"):
        T.kernel_n_star(t, [16.5], 0.25)
    with pytest.raises(ValueError, match="d_values"):
        T.kernel_n_star(t, [2], 0.25)
    with pytest.raises(ValueError, match="same length"):
        T.eigenlearning(10, np.zeros(3), np.zeros(2), np.zeros(3), delta=0.1)
    with pytest.raises(ValueError, match="delta"):
        T.eigenlearning(10, np.zeros(3), np.zeros(3), np.zeros(3), delta=-0.1)


def test_quadrature_refuses_where_it_breaks_down():
    with pytest.raises(ValueError, match="series"):
        T.kernel_spectrum(4096, max_degree=8, method="quadrature")
    assert np.all(np.isfinite(T.kernel_spectrum(4096, max_degree=8).log_eigenvalue))


@pytest.mark.parametrize("measure", ["sphere", "gaussian"])
def test_learnability_per_degree_adds_up_to_the_learned_energy(measure):
    # sum_l F_l E_l = sum_k L_k e_k: the per-degree split (by polarization in the Gaussian model,
    # where one eigenspace holds parts of several Hermite degrees) loses nothing
    t = MultiIndexTarget.giant_step(20)
    ns = np.array([100.0, 1000.0, 10000.0])
    F = T.kernel_learnability(t, ns, ridge=1e-8, measure=measure)
    spec = T.kernel_spectrum(20, max_degree=12, measure=measure)
    e = T.target_energies(t, spec)
    _, L, _ = T.eigenlearning(ns, spec.log_multiplicity, spec.log_eigenvalue, e, delta=ns * 1e-8 + spec.tail)
    energy = t.energy_by_degree()
    total = sum(np.nan_to_num(F[:, ell]) * energy[ell] for ell in energy)
    np.testing.assert_allclose(total, L @ e, rtol=1e-10)


# --------------------------------------------------------------------------- hostile arguments


@pytest.mark.parametrize("field, bad", [
    ("energy", [1.0, -0.5, 0.1]), ("energy", [1.0, np.nan, 0.1]), ("energy", [1.0, np.inf, 0.1]),
    ("log_eigenvalue", [0.0, np.nan, -1.0]), ("log_eigenvalue", [0.0, np.inf, -1.0]),
    ("log_multiplicity", [0.0, np.nan, 1.0]), ("log_multiplicity", [0.0, -np.inf, 1.0]),
])
def test_eigenlearning_refuses_impossible_spectra(field, bad):
    args = {"log_multiplicity": [0.0, 1.0, 2.0], "log_eigenvalue": [0.0, -1.0, -np.inf],
            "energy": [1.0, 0.5, 0.1]}
    T.eigenlearning(100, **args, delta=0.1)  # the valid spectrum (a zero eigenvalue: -inf) passes
    args[field] = bad
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        T.eigenlearning(100, **args, delta=0.1)


def test_target_energies_are_non_negative_and_sum_to_the_variance():
    t = MultiIndexTarget.giant_step(20)
    for measure in ("sphere", "gaussian"):
        e = T.target_energies(t, T.kernel_spectrum(20, max_degree=12, measure=measure))
        assert np.all(e >= 0)
        assert abs(e.sum() - t.variance) < 1e-6 * t.variance


@pytest.mark.parametrize("call, name", [
    (lambda: T.kernel_spectrum(16, max_degree=10**6), "max_degree"),
    (lambda: T.kernel_spectrum(16, max_degree=301), "max_degree"),
    (lambda: T.kernel_spectrum(16, measure="gaussian", radial_nodes=10**5), "radial_nodes"),
    (lambda: T.kernel_spectrum(16, beta=1e200), "beta"),
    (lambda: T.kernel_spectrum(16, beta=1e8), "beta"),
    (lambda: T.kernel_spectrum(10**400), "d"),
    (lambda: T.log_multiplicity(10**400, [1, 2]), "d"),
    (lambda: T.kernel_n_star(MultiIndexTarget.separation(16), [16, 10**18], 0.25), "d_values"),
    (lambda: T.kernel_learning_curve(MultiIndexTarget.separation(16), 100, ridge=1e-8, beta=1e200), "beta"),
    (lambda: T.kernel_learning_curve(MultiIndexTarget.separation(16), 100, ridge=1e-8, max_degree=10**9),
     "max_degree"),
    (lambda: T.kernel_learning_curve(MultiIndexTarget.random(16, 3, 20, seed=0), 100, ridge=1e-8), "measure"),
    (lambda: T.kernel_learning_curve(MultiIndexTarget.separation(16), np.ones(10**7), ridge=1e-8), "n"),
    (lambda: T.kernel_n_star(MultiIndexTarget.separation(16), np.full(10**5, 16), 0.25), "d_values"),
    (lambda: T.eigenlearning(np.ones(10**5), *np.zeros((3, 10**5)), delta=0.0), "n"),
])
def test_theory_sizes_are_bounded_before_work(call, name):
    """Every size is checked before any work: a ValueError (or MemoryError) naming the argument,
    never minutes of work, a raw MemoryError or an OverflowError."""
    with pytest.raises((ValueError, MemoryError), match=rf"^{name}\b"):
        call()
