"""n*(d), slope fits with bootstrap intervals, and the kernel staircase, against known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from fastrep.experiments import fit_slopes, median_curves, n_star, staircase_prediction
from fastrep.experiments.analysis import n_star_from_curve


def _frame(power, ds, ns, seeds, noise=0.1, rng=None, label="m", method="m"):
    """Synthetic cells with error = d**power / n * exp(noise z): n*(d) = d**power / eps exactly at noise 0."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for d in ds:
        for s in seeds:
            z = rng.standard_normal()
            for n in ns:
                rows.append(
                    {
                        "label": label,
                        "method": method,
                        "d": d,
                        "n": n,
                        "seed": s,
                        "excess_error": d**power / n * math.exp(noise * z),
                    }
                )
    return pd.DataFrame(rows)


def test_n_star_from_curve_interpolates_in_log_log():
    ns = [100, 200, 400, 800]
    errs = [4.0, 2.0, 1.0, 0.5]  # error = 400 / n
    v, status = n_star_from_curve(ns, errs, 0.8)
    assert status == "ok" and v == pytest.approx(500.0)
    assert n_star_from_curve(ns, errs, 2.0) == (200.0, "ok")  # reached exactly at a grid point
    assert n_star_from_curve(ns, errs, 5.0) == (100.0, "below_grid")
    v, status = n_star_from_curve(ns, errs, 0.1)
    assert math.isnan(v) and status == "above_grid"
    # non-monotone curve: the first crossing counts
    v, status = n_star_from_curve([1, 2, 4, 8], [1.0, 0.2, 0.6, 0.1], 0.5)
    assert 1 < v < 2 and status == "ok"


def test_median_curves_and_n_star_exact_power():
    df = _frame(2.0, [4, 8, 16], [2**k for k in range(3, 14)], range(5), noise=0.0)
    cur = median_curves(df)
    assert len(cur) == 3 * 11 and (cur["seeds"] == 5).all()
    assert np.allclose(cur["median"], cur["d"] ** 2 / cur["n"])
    st = n_star(df, 0.25)
    assert (st["status"] == "ok").all()
    assert np.allclose(st["n_star"], st["d"] ** 2 / 0.25)


@pytest.mark.parametrize("power", [1.0, 2.0, 3.0])
def test_slope_recovers_the_power_and_the_interval_covers_it(power):
    rng = np.random.default_rng(int(power * 10))
    df = _frame(power, [6, 8, 12, 16, 24], [2**k for k in range(1, 18)], range(6), noise=0.3, rng=rng)
    sl = fit_slopes(df, 0.5, n_boot=300, seed=1)
    row = sl.iloc[0]
    assert row["d_used"] == 5 and row["boot_used"] == 300
    assert row["low"] <= power <= row["high"]
    assert row["slope"] == pytest.approx(power, abs=0.3)
    assert 0 < row["high"] - row["low"] < 1.0


def test_interval_is_wider_with_more_seed_noise():
    narrow = fit_slopes(
        _frame(2.0, [4, 8, 16], [2**k for k in range(2, 14)], range(8), noise=0.05), 0.5, n_boot=200
    )
    wide = fit_slopes(
        _frame(2.0, [4, 8, 16], [2**k for k in range(2, 14)], range(8), noise=0.6), 0.5, n_boot=200
    )
    assert (wide["high"] - wide["low"]).iloc[0] > 3 * (narrow["high"] - narrow["low"]).iloc[0]


def test_censored_points_are_left_out_of_the_fit():
    # at d = 32 the curve never reaches epsilon inside the grid
    df = _frame(2.0, [4, 8, 32], [2**k for k in range(3, 10)], range(3), noise=0.0)
    st = n_star(df, 0.25).set_index("d")
    assert st.loc[32, "status"] == "above_grid"
    sl = fit_slopes(df, 0.25, n_boot=50).iloc[0]
    assert (sl["d_used"], sl["d_total"]) == (2, 3)
    assert sl["slope"] == pytest.approx(2.0)
    one_d = fit_slopes(_frame(2.0, [4], [8, 16, 32, 64, 128], range(3), noise=0.0), 0.25, n_boot=10).iloc[0]
    assert math.isnan(one_d["slope"])


def test_staircase_prediction():
    e = {0: 0.0, 1: 0.0, 2: 0.5, 3: 0.5}
    d = 10
    n = [5, 9, 10, 99, 100, 999, 1000, 10**5]
    pred = staircase_prediction(e, d, n)
    # n < d: nothing above degree 0 learned; d <= n < d^2: degree 1; d^2 <= n < d^3: degree 2
    assert pred.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0]
    # normalized by the total energy
    assert staircase_prediction({2: 1.0, 3: 3.0}, 4, 16).tolist() == [0.75]
    with pytest.raises(ValueError, match="d must be"):
        staircase_prediction(e, 1, 10)


def test_staircase_against_the_separation_target():
    from fastrep import MultiIndexTarget

    t = MultiIndexTarget.separation(8, seed=0)
    e = t.energy_by_degree()
    assert staircase_prediction(e, 8, 9)[0] == pytest.approx(e[2] + e[3])
    assert staircase_prediction(e, 8, 64)[0] == pytest.approx(e[3])
    assert staircase_prediction(e, 8, 512)[0] == pytest.approx(0.0)


def _plain_frame():
    """A hand-made frame (no params, no arm column): n* = 4d at epsilon = 0.25."""
    rows = []
    for d in (4, 8):
        for n in (8, 16, 32, 64):
            for seed in range(2):
                rows.append(
                    {"label": "m", "method": "m", "d": d, "n": n, "seed": seed, "excess_error": d / n}
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("eps", [math.nan, 0.0, -1.0, math.inf, "0.5", None])
def test_n_star_and_fit_slopes_validate_epsilon(eps):
    df = _plain_frame()
    for f in (n_star, fit_slopes):
        with pytest.raises((ValueError, TypeError), match="epsilon"):
            f(df, eps)


def test_n_star_validates_the_frame():
    df = _plain_frame()
    assert len(n_star(df, 0.25)) == 2
    with pytest.raises(ValueError, match="excess_error"):
        n_star(df.drop(columns="excess_error"), 0.25)
    with pytest.raises(TypeError, match="DataFrame"):
        n_star(df.to_dict(), 0.25)
    with pytest.raises(ValueError, match="n_boot"):
        fit_slopes(df, 0.25, n_boot=0)


@pytest.mark.parametrize("energy, d, n, name", [
    ([0, 1, 1], 16, 1000, "energy_by_degree"),
    ({2: -1.0, 3: 2.0}, 16, 1000, "energy_by_degree"),
    ({2: float("nan"), 3: 1.0}, 16, 1000, "energy_by_degree"),
    ({"a": 1.0}, 16, 1000, "energy_by_degree"),
    ({2: 1.0}, 2.5, 1000, "d"),
    ({2: 1.0}, "16", 1000, "d"),
    ({2: 1.0}, 16, [1000, -5], "n"),
    ({2: 1.0}, 16, [float("inf")], "n"),
])
def test_staircase_prediction_names_a_bad_argument(energy, d, n, name):
    from fastrep.experiments import staircase_prediction

    with pytest.raises((TypeError, ValueError), match=rf"^{name} must"):
        staircase_prediction(energy, d, n)
