"""The large-d study's predictions: fastrep.theory applied to a sweep's cells.

* :func:`predicted_curves`: the predicted kernel learning curve at every d of a store.
* :func:`predicted_n_star`: the predicted kernel n*(d) at any list of d (to d = 1024 and beyond).
* :func:`predicted_learnability`: the predicted fraction L_l of each degree a kernel has learned.
* :func:`plateau_levels`: the staircase's plateaus (the share of E[f*^2] above each degree).

Predictions use the target of the sweep's spec (``build_target``), the kernel's ``ridge`` option
(fixed ridges only: a validated ridge has no single value to predict with) and the Gaussian
model of :mod:`fastrep.theory` unless told otherwise. The target's coefficients do not depend on
d or, for the fixed presets, on the seed; a preset with random coefficients (``random``) is
predicted for each stored seed and averaged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plateau_levels", "predicted_curves", "predicted_learnability", "predicted_n_star"]

#: the kernels fastrep.theory predicts, by method name
THEORY_KERNELS = {"ntk": "ntk", "nngp": "nngp"}


def _targets(target_spec: dict, d: int, seeds) -> list:
    from .methods import build_target

    return [build_target(target_spec, int(d), int(s)) for s in seeds]


def _kernel_labels(df: pd.DataFrame, ridges: dict) -> dict[str, tuple[str, float]]:
    """label -> (kernel, ridge) for the labels of df whose method theory can predict."""
    out = {}
    for label, g in df.groupby("label"):
        method = g["method"].iloc[0]
        if method in THEORY_KERNELS and label in ridges and ridges[label] is not None:
            out[label] = (THEORY_KERNELS[method], float(ridges[label]))
    return out


def predicted_curves(df: pd.DataFrame, target_spec: dict, ridges: dict, *, measure: str = "gaussian",
                     points: int = 120, extend: float = 1.5) -> pd.DataFrame:
    """The predicted excess error of every kernel label of ``df`` at each of its d.

    ``df``: stored cells (``label, method, d, n, seed``). ``ridges``: label -> the fixed ridge of
    that method's options (labels without one are skipped). The curve spans the measured n at
    that d, widened by ``extend`` on both sides. Columns ``label, d, n, prediction``.
    """
    from ..theory import kernel_learning_curve

    rows = []
    for label, (kernel, ridge) in _kernel_labels(df, ridges).items():
        sub = df[df["label"] == label]
        for d, g in sub.groupby("d"):
            ns = np.geomspace(g["n"].min() / extend, g["n"].max() * extend, points)
            seeds = sorted(g["seed"].unique())[:4]
            preds = [kernel_learning_curve(t, ns, kernel=kernel, ridge=ridge, measure=measure)
                     for t in _targets(target_spec, d, seeds)]
            for n, p in zip(ns, np.mean(preds, axis=0), strict=True):
                rows.append({"label": label, "d": int(d), "n": float(n), "prediction": float(p)})
    return pd.DataFrame(rows, columns=["label", "d", "n", "prediction"])


def predicted_n_star(target_spec: dict, d_values, epsilon: float, *, label: str, kernel: str = "ntk",
                     ridge: float = 1e-8, measure: str = "gaussian", seed: int = 0) -> pd.DataFrame:
    """The predicted n*(d) of a kernel at every d of ``d_values``: columns ``label, d, n_star``.

    At large d a fixed ridge stops being small (the degree-3 eigenvalue falls like d^-3 and
    meets ridge = 1e-8 near d = 300): pass ``ridge=0.0`` for the ridgeless limit, whose only
    regularization is the kernel's own tail.
    """
    from ..theory import kernel_n_star

    ds = [int(d) for d in d_values]
    t = _targets(target_spec, min(ds), [seed])[0]
    stars = kernel_n_star(t, np.array(ds), epsilon, kernel=kernel, ridge=ridge, measure=measure)
    return pd.DataFrame({"label": label, "d": ds, "n_star": stars})


def predicted_learnability(df: pd.DataFrame, target_spec: dict, ridges: dict, *, measure: str = "gaussian",
                           points: int = 60) -> pd.DataFrame:
    """The predicted fraction of each degree learned, for every kernel label and d of ``df``.

    Columns ``label, d, n, degree, learnability`` (degrees with energy only).
    """
    from ..theory import kernel_learnability

    rows = []
    for label, (kernel, ridge) in _kernel_labels(df, ridges).items():
        sub = df[df["label"] == label]
        for d, g in sub.groupby("d"):
            ns = np.geomspace(g["n"].min(), g["n"].max(), points)
            t = _targets(target_spec, d, [sorted(g["seed"].unique())[0]])[0]
            L = kernel_learnability(t, ns, kernel=kernel, ridge=ridge, measure=measure)
            for ell in range(L.shape[1]):
                if np.all(np.isnan(L[:, ell])):
                    continue
                rows.extend({"label": label, "d": int(d), "n": float(n), "degree": ell,
                             "learnability": float(v)} for n, v in zip(ns, L[:, ell], strict=True))
    return pd.DataFrame(rows, columns=["label", "d", "n", "degree", "learnability"])


def plateau_levels(target_spec: dict, d: int, seed: int = 0) -> list[float]:
    """The staircase's plateau levels: the share of E[f*^2] above degree l, l = 0..p-1, descending."""
    e = _targets(target_spec, d, [seed])[0].energy_by_degree()
    total = sum(e.values())
    levels = [sum(v for k, v in e.items() if k > ell) / total for ell in range(max(e))]
    return sorted({round(v, 12) for v in levels if v > 0}, reverse=True)
