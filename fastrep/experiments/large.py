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

__all__ = [
    "degree_table",
    "kernel_predictions",
    "plateau_levels",
    "predicted_curves",
    "predicted_learnability",
    "predicted_n_star",
    "theory_section",
]

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


# --------------------------------------------------------------------------- the report section


def degree_table(df: pd.DataFrame) -> pd.DataFrame:
    """The per-degree learning stored in the cells' ``extra``: columns ``label, method, d, n, seed,
    degree, fraction, stderr`` (cells without it contribute nothing)."""
    rows = []
    for _, r in df.iterrows():
        rec = (r.get("extra") or {}).get("degree_learning") if isinstance(r.get("extra"), dict) else None
        for ell, (frac, se) in (rec or {}).items():
            rows.append({"label": r["label"], "method": r["method"], "d": int(r["d"]), "n": int(r["n"]),
                         "seed": int(r["seed"]), "degree": int(ell), "fraction": float(frac),
                         "stderr": float(se)})
    return pd.DataFrame(rows, columns=["label", "method", "d", "n", "seed", "degree", "fraction", "stderr"])


def _ridges(df: pd.DataFrame) -> dict:
    out = {}
    for label, g in df.groupby("label"):
        ridge = g["params"].iloc[0].get("options", {}).get("ridge") if "params" in g else None
        out[label] = float(ridge) if isinstance(ridge, (int, float)) and not isinstance(ridge, bool) else None
    return out


def _slope_row(slopes, label):
    s = slopes[slopes["label"] == label]
    return s.iloc[0] if len(s) and np.isfinite(s["slope"].iloc[0]) else None


def _fmt(r) -> str:
    if r is None:
        return "n/a"
    iv = f" [{r['low']:.2f}, {r['high']:.2f}]" if np.isfinite(r["low"]) else " (no interval)"
    return f"{r['slope']:.2f}{iv}"


def _predicted_local_slope(target_spec: dict, eps: float, kernel_ridge: tuple[str, float], span, goal: float,
                           *, d_max: int = 4096) -> str:
    """What the theory says of a measured slope's goal: its predicted slope over ``span`` (at the
    kernel's ridge) and the smallest d where the predicted local slope reaches ``goal``."""
    kernel, ridge = kernel_ridge
    lo, hi = span
    try:
        at = predicted_n_star(target_spec, [lo, hi], eps, label="", kernel=kernel, ridge=ridge)["n_star"]
        ds = np.unique(np.geomspace(lo, d_max, 25).astype(int))
        far = predicted_n_star(target_spec, ds, eps, label="", kernel=kernel, ridge=0.0)["n_star"].to_numpy()
    except (ValueError, KeyError):
        return ""
    mid_slope = float(np.log(at.iloc[1] / at.iloc[0]) / np.log(hi / lo))
    local = np.diff(np.log(far)) / np.diff(np.log(ds))
    reach = next((f"{ds[i]}-{ds[i + 1]}" for i in np.flatnonzero(local >= goal)[:1]), f"beyond {d_max}")
    return (f"; theory: {mid_slope:.2f} over d = {lo} .. {hi} at this ridge, and the predicted local slope "
            f"(ridgeless) first reaches {goal} at d = {reach}")


def kernel_predictions(sub: pd.DataFrame, target_spec: dict) -> dict:
    """``{"predicted": ..., "plateaus": ...}`` for :func:`~.plots.plot_error_curves` (empty when no
    kernel of ``sub`` has a fixed ridge, or its target cannot be rebuilt): the kernels' predicted
    curves replace the step-function staircase, whose plateau levels stay as guides."""
    try:
        ridges = _ridges(sub)
        if not _kernel_labels(sub, ridges):
            return {}
        return {"predicted": predicted_curves(sub, target_spec, ridges),
                "plateaus": plateau_levels(target_spec, int(sub["d"].min()))}
    except (ValueError, TypeError, KeyError):  # a target this build cannot rebuild or predict
        return {}


def theory_section(sub: pd.DataFrame, target_spec: dict, eps: float, out_dir, slug: str, *,
                   n_boot: int = 1000, predict_to: int = 1024, goals: bool = False) -> list[str]:
    """Markdown lines (and figures in ``out_dir``) comparing the sweep's kernels with fastrep.theory.

    Empty when no kernel label has a fixed ridge. Figures: ``{slug}-kernel_theory.png`` (measured
    kernel curves with the predicted ones and the staircase plateaus), ``{slug}-n_star_theory.png``
    (n*(d): measured points, the predicted kernel line to ``predict_to``, d^2 and d^3 guides) and
    ``{slug}-degree_learning.png`` (per-degree learning with the kernels' L_l). ``goals``: add the
    large-d study's goal lines (only that study's report sets it).
    """
    from pathlib import Path

    from .analysis import fit_slopes, n_star

    ridges = _ridges(sub)
    kernels = _kernel_labels(sub, ridges)
    if not kernels:
        return []
    out_dir = Path(out_dir)
    stars = n_star(sub, eps)
    slopes = fit_slopes(sub, eps, n_boot=n_boot)
    lines = ["### The kernels against fastrep.theory", "",
             "Predicted: the omniscient-risk equation with the kernel's eigenvalues per harmonic degree "
             "and the exact Gaussian-input decomposition (`fastrep.theory`, `measure='gaussian'`), at the "
             "kernel's own fixed ridge; at large d, ridgeless (the kernel's tail is its only ridge).", ""]
    # measured against predicted n* at every measured d
    rows = ["| kernel | d | measured n* | predicted n* | predicted / measured |", "|---|---|---|---|---|"]
    pred_frames, ratios = [], {}
    measured_ds = sorted(int(d) for d in sub["d"].unique())
    big = sorted({*measured_ds, 64, 128, 256, 512, predict_to})
    big = [d for d in big if d <= predict_to]
    for label, (kernel, ridge) in kernels.items():
        kd = sorted(int(d) for d in sub.loc[sub["label"] == label, "d"].unique())
        at = predicted_n_star(target_spec, kd, eps, label=label, kernel=kernel, ridge=ridge)
        for _, p in at.iterrows():
            m = stars[(stars["label"] == label) & (stars["d"] == p["d"])]
            if len(m) and m["status"].iloc[0] == "ok":
                ratio = p["n_star"] / m["n_star"].iloc[0]
                ratios[(label, int(p["d"]))] = ratio
                rows.append(f"| {label} | {p['d']} | {m['n_star'].iloc[0]:,.0f} | {p['n_star']:,.0f} "
                            f"| {ratio:.2f} |")
            else:
                status = m["status"].iloc[0] if len(m) else "no cells"
                rows.append(f"| {label} | {p['d']} | {status} | {p['n_star']:,.0f} | |")
        pred_frames.append(predicted_n_star(target_spec, big, eps, label=label, kernel=kernel, ridge=0.0))
    lines += rows + [""]
    predicted = pd.concat(pred_frames, ignore_index=True)
    lines += [f"Predicted n* (ridgeless) to d = {predict_to}:", "",
              "| kernel | " + " | ".join(f"d = {d}" for d in big) + " |",
              "|---|" + "---|" * len(big)]
    for label, g in predicted.groupby("label"):
        lines.append(f"| {label} | " + " | ".join(f"{v:.3g}" for v in g["n_star"]) + " |")
    lines.append("")

    lines += _goal_lines(sub, target_spec, eps, kernels, predicted, stars, slopes, ratios, n_boot,
                         predict_to) if goals else []
    return lines + _theory_figures(sub, target_spec, eps, out_dir, slug, kernels, predicted, stars,
                                   slopes, predict_to)


def _goal_lines(sub, target_spec, eps, kernels, predicted, stars, slopes, ratios, n_boot,
                predict_to) -> list[str]:
    """The large-d study's goals, judged on its cells."""
    from .analysis import fit_slopes

    lines = []
    goals = []
    net = "onestep" if "onestep" in set(sub["label"]) else None
    if net:
        hi = fit_slopes(sub[(sub["label"] == net) & (sub["d"] >= 128)], eps, n_boot=n_boot)
        r = _slope_row(hi, net)
        ok = (r is not None and 1.8 <= r["slope"] <= 2.3 and np.isfinite(r["low"])
              and r["high"] - r["low"] <= 0.5)
        goals.append(("network slope over d >= 128 in [1.8, 2.3], interval width <= 0.5",
                      None if r is None else ok, _fmt(r)))
        goals.append(("network slope over every d (for reference)", "info", _fmt(_slope_row(slopes, net))))
    if "ntk" in kernels:
        mid = sub[(sub["label"] == "ntk") & sub["d"].between(16, 32)]
        r = _slope_row(fit_slopes(mid, eps, n_boot=n_boot), "ntk")
        goals.append(("NTK measured slope over d = 16 .. 32 >= 2.6", None if r is None else r["slope"] >= 2.6,
                      _fmt(r) + _predicted_local_slope(target_spec, eps, kernels["ntk"], (16, 32), 2.6)))
        p = predicted[(predicted["label"] == "ntk") & predicted["d"].between(128, predict_to)]
        if len(p) >= 2:
            ps = float(np.polyfit(np.log(p["d"]), np.log(p["n_star"]), 1)[0])
            goals.append((f"NTK predicted slope over d = 128 .. {predict_to} >= 2.9", ps >= 2.9, f"{ps:.2f}"))
        if net:
            both = stars[stars["status"] == "ok"].pivot(index="d", columns="label", values="n_star")
            if {"ntk", net} <= set(both.columns):
                rat = (both["ntk"] / both[net]).dropna()
                rat = rat[(rat.index >= 16) & (rat.index <= 32)]
                if len(rat):
                    # "the ratio grows" needs two d: with one, only the 3x part can be judged
                    ok = bool((rat >= 3).all() and np.all(np.diff(rat.to_numpy()) > 0)) if len(rat) >= 2 \
                        else None
                    goals.append(("NTK n* >= 3x the network's at every d in 16 .. 32, the ratio growing", ok,
                                  ", ".join(f"d = {d}: {v:.1f}x" for d, v in rat.items())))
    if ratios:
        sel = {k: v for k, v in ratios.items() if k[1] >= 16}
        if sel:
            ok = all(1 / 1.25 <= v <= 1.25 for v in sel.values())
            goals.append(("predicted and measured kernel n* within 1.25x at every measured d >= 16", ok,
                          ", ".join(f"{lb} d = {d}: {v:.2f}" for (lb, d), v in sorted(sel.items()))))
    if "transfer" in set(sub["label"]):
        t = sub[(sub["label"] == "transfer") & sub["d"].between(64, 256)]
        r = _slope_row(fit_slopes(t, eps, n_boot=n_boot), "transfer") if len(t) else None
        ok = None if r is None else r["slope"] <= 0.5
        per_d = stars[(stars["label"] == "transfer") & stars["d"].between(64, 256)]
        at = ", ".join(f"d = {int(q['d'])}: {q['n_star']:,.0f}" if q["status"] == "ok"
                       else f"d = {int(q['d'])}: {q['status']}" for _, q in per_d.iterrows())
        goals.append(("transfer n*_t slope over d = 64 .. 256 <= 0.5", ok, _fmt(r) + (f" (n*_t {at})" if at else "")))
    if goals:
        lines += ["Goals of the large-d study:", ""]
        for text, passed, detail in goals:
            if passed is None or passed == "info":
                mark = "n/a" if passed is None else "info"
            else:
                mark = "PASS" if passed else "FAIL"
            lines.append(f"- **{mark}** {text}: {detail}")
        lines.append("")
    return lines


def _theory_figures(sub, target_spec, eps, out_dir, slug, kernels, predicted, stars, slopes,
                    predict_to) -> list[str]:
    """The theory figures of :func:`theory_section` and their markdown lines."""
    from pathlib import Path

    from .plots import plot_degree_learning, plot_kernel_prediction, plot_n_star_prediction

    lines = []
    ridges = _ridges(sub)
    out_dir = Path(out_dir)

    def drawn(path, fig):  # the PNG's path, or None when the plot had nothing to draw
        return path if fig is not None else None

    curves = predicted_curves(sub, target_spec, ridges)
    p = {k: out_dir / f"{slug}-{k}.png" for k in ("kernel_theory", "n_star_theory", "degree_learning")}
    figs = [
        (drawn(p["kernel_theory"], plot_kernel_prediction(
            sub, curves, p["kernel_theory"], epsilon=eps,
            plateaus=plateau_levels(target_spec, int(sub["d"].min())))),
         "Kernel error against n with the predicted curve"),
        (drawn(p["n_star_theory"], plot_n_star_prediction(stars, predicted, p["n_star_theory"], epsilon=eps,
                                                          slopes=slopes)), "n*(d): measured and predicted"),
    ]
    deg = degree_table(sub)
    if not deg.empty:
        L = predicted_learnability(sub, target_spec, ridges)
        figs.append((drawn(p["degree_learning"], plot_degree_learning(deg, p["degree_learning"], predicted=L)),
                     "Per-degree learning against n"))
    for path, caption in figs:
        if path is not None:
            lines += [f"![{caption}]({Path(path).name})", ""]
    return lines
