"""Fresh-batch giant steps on the staircase z1 + z1 z2 + z1 z2 z3 (docs/guide/multistep.md, "The
staircase"): the directions come one per step, and the third one's gradient needs biases."""
import math
import warnings

import numpy as np
import pytest

from fastrep import GaussianStream, MultiIndexTarget, MultiStepNetwork
from fastrep.experiments.beyond import LEARNED_FACTOR


def _overlaps_x_d(net, d):
    """(T + 1, r): the mean over neurons of (w . u_k)^2 / |w|^2 after each step, times d."""
    tr = net.trajectory_
    return (tr.overlaps**2 / tr.row_norms[..., None] ** 2).mean(axis=1) * d


def _staircase_net(m, bias, seed):
    # the study's protocol ([beyond_staircase] in defaults.toml), lr in units of the width
    return MultiStepNetwork(width=m, steps=3, protocol="fresh", readout="gaussian", bias=bias,
                            spherical=True, weight_decay=0.0, lr=[64.0 * m, 4.0 * m, 256.0 * m],
                            ridge=1e-3, center=False, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_fresh_batches_climb_the_first_two_steps_in_order(seed, bias):
    d, m = 32, 64
    target = MultiIndexTarget.staircase(d, 3, seed=seed)
    net = _staircase_net(m, bias, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the staircase's degenerate Hessian (rank 2 < r = 3)
        net.fit_stream(GaussianStream(target, seed + 100), 3 * 64 * d, n_val=100)
    ov = _overlaps_x_d(net, d)  # chance: about 1
    assert np.all(ov[0] < 2.5), ov[0]
    # step 1: u1 only (the linear term); u2 and u3 stay at chance
    assert ov[1, 0] >= LEARNED_FACTOR and ov[1, 1] < 2.5 and ov[1, 2] < 2.5, ov[1]
    # step 2: u2 joins (z1 z2 is linear in z2 for neurons that carry u1); u3 still at chance
    assert ov[2, 1] >= LEARNED_FACTOR and ov[2, 2] < 2.5, ov[2]
    assert ov[2, 0] >= LEARNED_FACTOR, ov[2]


@pytest.mark.parametrize("bias", [True, False])
def test_the_third_direction_enters_a_step_only_through_the_bias(bias):
    """Every neuron on w = (u1 + u2)/sqrt(2): the step's u3 component is, per neuron j,
    lr * 2 c_j E[y 1{w.x + b_j > 0} z3] = lr * 2 c_j (1/sqrt 3) (1/2) (-b_j phi(b_j)) (the
    network's own output depends on w.x alone, so it adds nothing along u3). Zero for a
    bias-free ReLU: sigma' = 1{t > 0} has no second Hermite coefficient."""
    d, m, n, lr = 4, 32, 400_000, 1.0
    target = MultiIndexTarget.staircase(d, 3, seed=0)
    U = target.U
    X, y = target.sample(n, 1)
    net = MultiStepNetwork(width=m, steps=1, readout="gaussian", bias=bias, weight_decay=0.0, lr=lr,
                           center=False, seed=3, dtype=np.float64)
    init = net.initialization(d)
    W = np.tile((U[0] + U[1]) / math.sqrt(2.0), (m, 1))
    W1, _ = net.gradient_step(X, y, W)
    got = (W1 - W) @ U[2]
    b, c = init["b"], init["a"]
    phi = np.exp(-b**2 / 2) / math.sqrt(2 * math.pi)
    want = lr * 2 * c * (1 / math.sqrt(3)) * 0.5 * (-b * phi)
    # Monte Carlo: the per-sample term r 1{...} z3 has standard deviation about sqrt(E[y^2 z3^2]) =
    # sqrt(5/3) < 1.3, so 8 / sqrt(n) (over 6 standard errors) per unit of lr * 2 |c_j|
    tol = 8 / math.sqrt(n) * lr * 2 * np.abs(c)
    np.testing.assert_array_less(np.abs(got - want), tol)
    if bias:
        assert np.mean(np.abs(want) > 3 * tol) > 0.5  # the signal is resolved, not only bounded
    else:
        assert np.all(want == 0.0)


# ---------------------------------------------------------------- the study's judgement
def _steps(first, d=64):
    import pandas as pd

    return pd.DataFrame([{"label": "s", "d": d, "direction": k + 1, "first_step": f,
                          "final_overlap": 0.2, "T": 4} for k, f in enumerate(first)])


def test_a_direction_reached_late_but_in_order_is_partly_and_early_is_fail():
    from fastrep.experiments import beyond as B

    assert B.staircase_verdict(_steps([1, 2, 4]))[0] == "partly"
    assert B.staircase_verdict(_steps([1, 2, 2]))[0] is False   # u3 with u2: early
    assert B.staircase_verdict(_steps([2, 1, 3]))[0] is False   # out of order
    assert B.staircase_verdict(_steps([1, math.nan, math.nan]))[0] is False  # one direction only


def _trajectories(overlap_at_own_step, ds=(64, 128, 256), seeds=3):
    """Trajectory rows whose u_k overlap at t = k is overlap_at_own_step(d, k, seed)."""
    import pandas as pd

    rows = []
    for d in ds:
        for seed in range(seeds):
            for t in range(4):
                ov = [overlap_at_own_step(d, k, seed) if t >= k else 1.0 / d for k in (1, 2, 3)]
                rows.append({"label": "s", "d": d, "seed": seed, "t": t, "direction_overlap": ov})
    return pd.DataFrame(rows)


def test_staircase_slopes_tell_an_order_one_overlap_from_chance():
    from fastrep.experiments import beyond as B

    flat = _trajectories(lambda d, k, s: 0.02 * (1 + 0.05 * s))
    sl = B.staircase_slopes(flat, n_boot=200)
    assert sl["direction"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(sl["slope"], 0.0, atol=1e-9)
    assert B.staircase_slope_verdict(sl)[0] is True
    chance = _trajectories(lambda d, k, s: (1 + 0.05 * s) / d if k == 3 else 0.3)  # u3 at chance
    sl = B.staircase_slopes(chance, n_boot=200)
    assert sl.loc[sl["direction"] == 3, "slope"].item() == pytest.approx(-1.0)
    ok, detail = B.staircase_slope_verdict(sl)
    assert ok is False and "u3 at t = 3: -1.00" in detail


def test_the_bias_free_contrast_is_judged_on_its_last_direction():
    from fastrep.experiments import beyond as B

    assert B.staircase_contrast_verdict(_steps([1, 2, math.nan]))[0] is True
    assert B.staircase_contrast_verdict(_steps([1, 2, 3]))[0] is False
