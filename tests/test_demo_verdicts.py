"""The separation checks judge only what their grid can decide: on a grid smaller than the full
demo's, a check whose bootstrap intervals reach both sides of its threshold is "not judged (grid
too small: ...)" instead of FAIL (or PASS); on the full grid the verdicts are the fitted slopes'."""

import numpy as np
import pandas as pd
import pytest

from fastrep.experiments.report import FULL_GRID, separation_checks


def _slopes(rows):
    return pd.DataFrame([
        {"label": m, "method": m, "slope": s, "low": lo, "high": hi, "d_used": 3, "d_total": 3,
         "boot_used": 100}
        for m, s, lo, hi in rows
    ])


def _stars(methods, ds, seeds):
    return pd.DataFrame([
        {"label": m, "method": m, "d": d, "n_star": 100.0 * d, "status": "ok", "seeds": seeds}
        for m in methods for d in ds
    ])


# The full demo's slopes (README, fastrep/experiments/examples/demo/report.md) and the quick demo's.
FULL = [("onestep", 1.52, 1.15, 1.84), ("ntk", 2.61, 2.30, 2.95), ("transfer", 0.25, -0.17, 0.97)]
QUICK = [("onestep", 1.21, 0.36, 2.92), ("ntk", 2.07, -0.30, 3.76), ("transfer", 0.45, -1.04, 1.94)]
METHODS = ("onestep", "ntk", "transfer")


def _verdicts(checks):
    return [ok for _, ok, _ in checks]


def test_full_grid_verdicts_are_unchanged():
    full_grid = _stars(METHODS, [12, 16, 20, 24], 8)
    for rows in (FULL, QUICK, [("onestep", 2.9, 2.8, 3.0), ("transfer", 0.9, 0.6, 1.2)],
                 [("onestep", 2.0, 1.5, 2.6), ("ntk", 2.8, 2.4, 3.3)]):
        assert separation_checks(_slopes(rows), full_grid) == separation_checks(_slopes(rows))
    assert _verdicts(separation_checks(_slopes(FULL), full_grid)) == [True, True, True]
    # what made the quick demo print FAIL twice: the unconditional verdicts
    assert _verdicts(separation_checks(_slopes(QUICK))) == [False, False, True]


def test_quick_grid_is_not_judged_where_its_intervals_cannot_decide():
    quick_grid = _stars(METHODS, [6, 8, 10], 2)
    checks = separation_checks(_slopes(QUICK), quick_grid)
    assert _verdicts(checks) == [None, None, None]
    for _, _, detail in checks:
        assert detail.startswith("grid too small: "), detail
        assert "d = 6, 8, 10 and 2 seeds" in detail
    assert "[0.36, 2.92]" in checks[0][2]


@pytest.mark.parametrize(
    "rows, expected",
    [
        # intervals inside / outside the network's window decide even on a small grid
        ([("onestep", 2.0, 1.8, 2.2)], [True]),
        ([("onestep", 2.9, 2.7, 3.1)], [False]),
        # disjoint intervals and a large gap: a pass; a gap below 0.7 even between the far ends: a fail
        ([("onestep", 2.0, 1.8, 2.2), ("ntk", 3.6, 3.5, 3.7)], [True, True]),
        ([("onestep", 2.0, 1.8, 2.2), ("ntk", 2.0, 1.9, 2.1)], [True, False]),
        # transfer: decided when both intervals sit on one side of 0.5
        ([("ntk", 3.0, 2.8, 3.2), ("transfer", 0.1, 0.0, 0.3)], [True]),
        ([("ntk", 3.0, 2.8, 3.2), ("transfer", 1.0, 0.8, 1.2)], [False]),
        ([("ntk", 3.0, 2.8, 3.2), ("transfer", 0.3, 0.0, 0.9)], [None]),
    ],
)
def test_small_grid_judges_what_its_intervals_decide(rows, expected):
    quick_grid = _stars(METHODS, [6, 8, 10], 2)
    assert _verdicts(separation_checks(_slopes(rows), quick_grid)) == expected


@pytest.mark.parametrize("ds, seeds", [([12, 16, 20], 8), ([12, 14, 16, 20], 8), ([12, 16, 20, 24], 4)])
def test_each_grid_shortfall_counts_as_small(ds, seeds):
    full = FULL_GRID
    assert len(ds) < full["d_values"] or max(ds) < full["d_ratio"] * min(ds) or seeds < full["seeds"]
    checks = separation_checks(_slopes(QUICK), _stars(METHODS, ds, seeds))
    assert all(ok is None and d.startswith("grid too small") for _, ok, d in checks)


def test_a_missing_interval_on_a_small_grid_is_not_judged():
    checks = separation_checks(_slopes([("onestep", 1.2, np.nan, np.nan)]), _stars(METHODS, [6, 8, 10], 2))
    assert _verdicts(checks) == [None]


def test_not_judged_reason_says_disjoint_intervals_are_disjoint():
    """The large study's NTK check: NTK 2.43 [2.31, 2.78] against the network's 1.82 [1.77, 1.90]
    on a small grid is not judged because the gap (0.62) is below 0.7 while the intervals' far
    ends allow more; the intervals are disjoint, and the reason must not say they overlap."""
    small_grid = _stars(("onestep", "ntk"), [12, 16, 20], 3)
    rows = [("onestep", 1.82, 1.77, 1.90), ("ntk", 2.43, 2.31, 2.78)]
    _, ok, detail = separation_checks(_slopes(rows), small_grid)[1]
    assert ok is None and detail.startswith("grid too small: ")
    assert "overlap" not in detail, detail
    assert "disjoint" in detail and "gap 0.61" in detail, detail
    # overlapping intervals are still called so
    rows = [("onestep", 1.82, 1.50, 2.40), ("ntk", 2.43, 2.00, 3.20)]
    detail = separation_checks(_slopes(rows), small_grid)[1][2]
    assert "intervals overlap" in detail, detail
