"""``report.md`` and the figures, from a results store alone (nothing is rerun).

The store is read without being modified (see :func:`~.store.read_store`): not its bytes,
and no file is created beside it. Every table and figure is per *arm* (a label and its
full setting), so two settings stored under one label are shown side by side, never pooled.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import fit_slopes, median_curves, n_star
from .large import kernel_predictions
from .plots import (
    display_name,
    plot_alignment,
    plot_error_curves,
    plot_n_star,
    plot_trajectory,
    plot_transfer,
)
from .store import read_store, tidy
from .store.read import trajectories_frame

__all__ = ["FULL_GRID", "KERNEL_JOIN_OPTIONS", "KERNEL_STUDY", "ReportOutputError", "grid_edge_lines",
           "merge_kernel_study", "separation_checks", "solver_comparison", "write_report"]


#: the one study whose report carries the large-d goals (`fastrep demo --large`); the goals are
#: its own, so any other sweep (the small demos included) prints none
GOALS_STUDY = "separation-large"


#: the opt-in kernel study (issue 26): its NTK cells, in the same store or in a store given with
#: ``with_stores`` (``fastrep report STORE --with STORE2``), extend the large study's NTK arm
KERNEL_STUDY = "separation-large-kernels"


#: options of the kernel study's NTK cells that must equal the large study's NTK arm's for the
#: cells to join it: what the estimator estimates (the ridge, the kernel's beta). The others
#: (solver, n_centers, dtype, max_memory, tol, ...) change how it is computed and may differ:
#: each d then holds one solver's cells, never two.
KERNEL_JOIN_OPTIONS = ("ridge", "beta")


#: a kernel study whose errors exceed the large study's by more than this share where both ran
#: gets a caution line: its n* at the added d is then an upper bound
SOLVER_TOLERANCE = 0.05


def _solver_of(frame: pd.DataFrame) -> str:
    """The solvers that ran in ``frame`` (``extra.solver``, else the ``solver`` option)."""
    got = set()
    for e, p in zip(frame["extra"], frame["params"], strict=True):
        ran = e.get("solver") if isinstance(e, dict) else None
        got.add(str(ran or p.get("options", {}).get("solver", "?")))
    return ", ".join(sorted(got))


def _centres_of(frame: pd.DataFrame) -> str:
    """The centres the Nystrom cells used (``extra.n_centers`` where recorded), else ''."""
    ms = sorted({int(e["n_centers"]) for e in frame["extra"] if isinstance(e, dict) and e.get("n_centers")})
    if not ms:
        return ""
    return f"; M = {ms[0]:,}" if len(ms) == 1 else f"; M = {ms[0]:,} .. {ms[-1]:,}"


def solver_comparison(own: pd.DataFrame, other: pd.DataFrame, epsilon: float) -> pd.DataFrame:
    """The large study's NTK cells (``own``) against the kernel study's (``other``) at the d both
    hold: never pooled, compared side by side on the (n, seed) pairs both ran.

    Parameters
    ----------
    own, other : pandas.DataFrame
        Cells of one NTK setting each (columns ``d, n, seed, excess_error, extra, params``).
    epsilon : float
        The error threshold of n*.

    Returns
    -------
    pandas.DataFrame
        One row per shared (d, n): ``d, n, seeds`` (the seeds both ran), ``own_error`` and
        ``other_error`` (medians over those seeds), ``ratio`` (other / own), and per d the
        n* of each (``own_n_star``, ``other_n_star``: from each one's own cells, NaN when the
        grid does not reach epsilon).
    """
    rows = []
    for d in sorted(set(own["d"]) & set(other["d"])):
        a, b = own[own["d"] == d], other[other["d"] == d]
        stars = []
        for frame in (a, b):
            st = n_star(frame.assign(label="ntk", arm="ntk", method="ntk"), epsilon)
            stars.append(float(st["n_star"].iloc[0]) if len(st) else float("nan"))
        for n in sorted(set(a["n"]) & set(b["n"])):
            ea = a[a["n"] == n].set_index("seed")["excess_error"]
            eb = b[b["n"] == n].set_index("seed")["excess_error"]
            seeds = sorted(set(ea.index) & set(eb.index))
            if not seeds:
                continue
            ma, mb = float(np.median(ea.loc[seeds])), float(np.median(eb.loc[seeds]))
            rows.append({"d": int(d), "n": int(n), "seeds": len(seeds), "own_error": ma, "other_error": mb,
                         "ratio": mb / ma if ma > 0 else float("nan"), "own_n_star": stars[0],
                         "other_n_star": stars[1]})
    cols = ["d", "n", "seeds", "own_error", "other_error", "ratio", "own_n_star", "other_n_star"]
    return pd.DataFrame(rows, columns=cols)


def _comparison_lines(table: pd.DataFrame, own_solver: str, other_solver: str) -> list[str]:
    if table.empty:
        return []
    out = ["", f"Where both ran (the same d, n and seeds), the two solvers side by side, never pooled: "
           f"the median excess error of the large study's NTK ({own_solver}) and of the kernel study's "
           f"({other_solver}), and each one's own n*:", "",
           f"| d | n | seeds | large study ({own_solver}) | kernel study ({other_solver}) | kernel / large | "
           f"n* large study | n* kernel study |",
           "|---|---|---|---|---|---|---|---|"]

    def star(v):
        return f"{v:,.0f}" if np.isfinite(v) else "not reached"

    for r in table.itertuples():
        out.append(f"| {r.d} | {r.n:,} | {r.seeds} | {r.own_error:.4f} | {r.other_error:.4f} | "
                   f"{r.ratio:.3f} | {star(r.own_n_star)} | {star(r.other_n_star)} |")
    return out


def _largest_arm(g: pd.DataFrame) -> pd.DataFrame:
    """The cells of ``g``'s arm with the most cells (one setting, where several share a d)."""
    return g[g["arm"] == g.groupby("arm").size().sort_values(ascending=False).index[0]]


def merge_kernel_study(df: pd.DataFrame, others=(), epsilon: float = 0.25) -> tuple[pd.DataFrame, list[str]]:
    """The large study's cells (``df``, sweep :data:`GOALS_STUDY`) with the NTK cells of the
    kernel study added to its NTK arm, and the report's lines saying what was added.

    Read: the cells of sweep :data:`KERNEL_STUDY` in ``df`` itself, and the NTK cells of every
    sweep in ``others`` (``[(store path, tidy frame)]``). The join is by method and setting:
    method 'ntk', the large study's target, and the options of :data:`KERNEL_JOIN_OPTIONS`
    equal to the large NTK arm's (so the theory's tables, which read that arm's ridge, stay
    right); the solver may differ. Added: only cells at a d the large study's NTK arm has no
    cells at, so each d of the extended arm holds one solver's cells and no median mixes two
    (with several settings at one new d, the one with the most cells). They join the arm
    labelled 'ntk' (the separation check, the slopes, n* and the theory's tables all use them).
    At a d both hold, the kernel study's cells stay out of the arm and the lines compare the two
    solvers there (:func:`solver_comparison`). Nothing changes when the large study has no NTK
    arm or nothing qualifies.
    """
    large = df[df["sweep"] == GOALS_STUDY]
    arm = large.loc[large["method"] == "ntk", "label"]
    if large.empty or arm.empty:
        return df, []
    label = "ntk" if "ntk" in set(arm) else sorted(set(arm))[0]
    own = large[large["label"] == label]
    target = json.dumps(large["params"].iloc[0]["target"], sort_keys=True)
    join = {k: own["params"].iloc[0].get("options", {}).get(k) for k in KERNEL_JOIN_OPTIONS}
    have = set(own["d"])
    own_solver = _solver_of(own)
    sources = [(None, df[df["sweep"] == KERNEL_STUDY])] + [(path, frame) for path, frame in others]
    picked, lines, compared = [], [], []
    for path, frame in sources:
        where = "this store" if path is None else f"`{path}`"
        c = frame[frame["method"] == "ntk"]
        c = c[np.array([json.dumps(p["target"], sort_keys=True) == target for p in c["params"]], dtype=bool)]
        same = np.array([all(p.get("options", {}).get(k) == v for k, v in join.items()) for p in c["params"]],
                        dtype=bool)
        if not same.all():
            off = c[~same]
            opts = off["params"].iloc[0].get("options", {})
            lines.append(f"- {len(off)} NTK cells of {where} not added: "
                         + ", ".join(f"{k} = {opts.get(k)!r}" for k in KERNEL_JOIN_OPTIONS)
                         + " where the large study's NTK arm has "
                         + ", ".join(f"{k} = {v!r}" for k, v in join.items()))
        c = c[same]
        if c.empty:
            continue
        shared = c[c["d"].isin(have)]
        compared += [_largest_arm(g) for _, g in shared.groupby("d")]  # one setting per d, as below
        c = c[~c["d"].isin(have)]
        if c.empty:
            continue
        kept = []
        for d, g in c.groupby("d"):  # one setting per d: the arm with the most cells
            kept.append(_largest_arm(g).drop_duplicates(["n", "seed"]))
            have.add(d)
        c = pd.concat(kept, ignore_index=True)
        picked.append(c)
        sweeps = ", ".join(f"`{n}`" for n in sorted(set(c["sweep"])))
        lines.append(f"- NTK cells at d = {', '.join(str(int(d)) for d in sorted(set(c['d'])))} "
                     f"({len(c)} cells, seeds {sorted(set(int(x) for x in c['seed']))}; solver "
                     f"{_solver_of(c)}{_centres_of(c)}) from sweep {sweeps} of {where}, added to the NTK arm")
    if picked:
        own_ds = ", ".join(str(int(d)) for d in sorted(set(own["d"])))
        lines.append(f"- the NTK arm is then: d = {own_ds} solved by {own_solver} (the large study's), "
                     + "; ".join(f"d = {', '.join(str(int(d)) for d in sorted(set(c['d'])))} by "
                                 f"{_solver_of(c)}" for c in picked)
                     + " (one solver per d: no median mixes two)")
    if compared:
        other = pd.concat(compared, ignore_index=True)
        table = solver_comparison(own, other, epsilon)
        lines += _comparison_lines(table, own_solver, _solver_of(other))
        ratio = float(np.median(table["ratio"])) if len(table) else float("nan")
        if picked and ratio > 1 + SOLVER_TOLERANCE:
            lines += ["", f"Caution: where both ran, the kernel study's errors are {ratio:.2f}x the large "
                      f"study's (median over the shared n): at the added d its n* is then an upper bound "
                      f"on the large study's solver's, and the NTK slope over them mixes the two (when the "
                      f"centres, not n, limit the error, a larger M closes the gap)."]
    while lines and not lines[0]:  # no added-cells line before the comparison's opening blank
        lines.pop(0)
    if not picked:
        return df, lines
    add = pd.concat(picked, ignore_index=True).assign(sweep=GOALS_STUDY, label=label, arm=label)
    return pd.concat([df, add], ignore_index=True), lines


class ReportOutputError(ValueError):
    """The report's output folder cannot be used (a file, not writable, ...)."""


def _fmt_n(value: float, status: str, n_max) -> str:
    """An n* for the table; ``n_max``: the largest n of the grid at that d."""
    if status == "above_grid":
        return f"> {int(n_max)}"
    if status == "below_grid":
        return f"≤ {int(value)}"
    return f"{value:,.0f}"


def _fmt_slope(row) -> str:
    if not np.isfinite(row["slope"]):
        return f"n/a ({row['d_used']} of {row['d_total']} d with an n* inside the grid)"
    if np.isfinite(row["low"]):
        return f"{row['slope']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
    return f"{row['slope']:.2f} (no interval)"


def _table(df: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.to_list()) + " |")
    return "\n".join(lines)


# The checks are calibrated for the full demo's grid: its d span a factor 2 in 4 steps, with
# at least 8 seeds per method. A smaller grid (the quick demo's) gives slopes whose bootstrap
# intervals are too wide to tell d^2 from d^3, so there a check is judged only when its
# intervals decide it either way.
FULL_GRID = {"d_values": 4, "d_ratio": 2.0, "seeds": 8}


def _grid_facts(stars: pd.DataFrame | None, method: str) -> str | None:
    """None when ``method``'s grid is as large as FULL_GRID (or unknown), else what it has."""
    if stars is None:
        return None
    g = stars[stars["method"] == method]
    if g.empty:
        return None
    ds = sorted(int(d) for d in g["d"].unique())
    seeds = int(g["seeds"].min())
    full = FULL_GRID
    if len(ds) >= full["d_values"] and ds[-1] >= full["d_ratio"] * ds[0] and seeds >= full["seeds"]:
        return None
    return f"d = {', '.join(map(str, ds))} and {seeds} seed{'s' if seeds != 1 else ''}"


def separation_checks(
    slopes: pd.DataFrame, stars: pd.DataFrame | None = None
) -> list[tuple[str, bool | None, str]]:
    """The issue's acceptance checks on fitted slopes: ``[(check, passed or None, detail)]``.

    * the one-step network's slope lies in [1.4, 2.6];
    * NTK ridge's slope is at least 0.7 higher, with non-overlapping bootstrap intervals;
    * transfer's slope (n*_t against d) is at most 0.5 while NTK's rises.

    None means the check was not judged: a method or an n* is missing, or (given ``stars``,
    the :func:`~fastrep.experiments.n_star` table, for its d and seeds) a method's grid is
    smaller than :data:`FULL_GRID` and the bootstrap intervals reach both sides of the
    check's threshold; the detail then starts with ``grid too small:``. On a full-size grid
    (or without ``stars``) the verdicts rest on the fitted slopes, as they always have.
    """
    # one arm per method: the only one, else the one labelled by the method's name (other arms
    # of the same method, e.g. `onestep (width=50)`, are reported in the tables, not checked)
    by = {}
    for method, g in slopes.groupby("method", sort=False):
        named = g[g["label"] == method]
        if len(g) == 1 or len(named) == 1:
            by[method] = (g if len(g) == 1 else named).iloc[0]
    out = []

    def finite(r):
        return r is not None and np.isfinite(r["slope"])

    def small(*methods):
        """What the grids of ``methods`` have, when one of them is smaller than FULL_GRID."""
        facts = {}
        for m in methods:
            f = _grid_facts(stars, m)
            if f:
                facts.setdefault(f, []).append(m)
        return "; ".join(f"{' and '.join(display_name(m) for m in ms)} {'have' if len(ms) > 1 else 'has'} {f}"
                         for f, ms in facts.items()) or None

    def interval(r):
        return (r["low"], r["high"]) if np.isfinite(r["low"]) else (-np.inf, np.inf)

    def undecided(facts, why):
        return f"grid too small: {facts}, and {why}"

    one, ntk, tr = by.get("onestep"), by.get("ntk"), by.get("transfer")
    if one is not None:
        text = "one-step network: slope of log n* against log d in [1.4, 2.6]"
        if not finite(one):
            out.append((text, None, _fmt_slope(one)))
        else:
            ok = bool(1.4 <= one["slope"] <= 2.6)
            lo, hi = interval(one)
            facts = small("onestep")
            if facts and not (1.4 <= lo and hi <= 2.6) and not (hi < 1.4 or lo > 2.6):
                why = f"its interval {_fmt_slope(one)} reaches into and out of [1.4, 2.6]"
                out.append((text, None, undecided(facts, why)))
            else:
                out.append((text, ok, _fmt_slope(one)))
    if one is not None and ntk is not None:
        text = "NTK ridge: slope at least 0.7 above the network's, bootstrap intervals disjoint"
        if finite(one) and finite(ntk):
            gap = ntk["slope"] - one["slope"]
            disjoint = np.isfinite(ntk["low"]) and np.isfinite(one["high"]) and ntk["low"] > one["high"]
            ok = bool(gap >= 0.7 and disjoint)
            detail = f"NTK {_fmt_slope(ntk)} vs network {_fmt_slope(one)}: gap {gap:.2f}"
            facts = small("onestep", "ntk")
            # on a small grid only a pass, or a gap below 0.7 even between the intervals' far ends, decides
            if facts and not ok and not interval(ntk)[1] - interval(one)[0] < 0.7:
                why = ("the intervals overlap" if not disjoint else
                       "the intervals are disjoint but the gap is below 0.7, and their far ends allow 0.7")
                out.append((text, None, undecided(facts, f"{why} ({detail})")))
            else:
                out.append((text, ok, detail))
        else:
            out.append((text, None, "a slope is missing"))
    if tr is not None:
        text = "transfer: n*_t flat in d (slope ≤ 0.5) while NTK's rises"
        if finite(tr):
            rises = finite(ntk) and ntk["slope"] > 0.5 if ntk is not None else None
            ok = bool(tr["slope"] <= 0.5 and bool(rises))
            detail = f"transfer {_fmt_slope(tr)}" + (f", NTK {_fmt_slope(ntk)}" if ntk is not None else "")
            facts = small("transfer", "ntk") if finite(ntk) else None
            if facts:
                (t_lo, t_hi), (k_lo, k_hi) = interval(tr), interval(ntk)
                if (t_hi <= 0.5 and k_lo > 0.5) or t_lo > 0.5 or k_hi <= 0.5:
                    ok = bool(t_hi <= 0.5 and k_lo > 0.5)
                else:
                    ok, detail = None, undecided(facts, f"an interval reaches both sides of 0.5 ({detail})")
            out.append((text, ok, detail))
        else:
            out.append((text, None, _fmt_slope(tr)))
    return out


def degenerate_target_lines(df: pd.DataFrame) -> list[str]:
    """One line when cells of ``df`` recorded a target with a degenerate expected Hessian (what a
    plain fit warns of with :class:`fastrep.DegenerateTargetWarning`)."""
    hit = df[[isinstance(e, dict) and bool(e.get("degenerate_target")) for e in df["extra"]]]
    if hit.empty:
        return []
    arms = ", ".join(sorted({display_name(lb, m) for lb, m in zip(hit["label"], hit["method"], strict=True)}))
    return [f"- the target's expected Hessian has rank < r (no degree-2 part in some direction) in "
            f"{len(hit)} of {len(df)} cells ({arms}): Algorithm 1's guarantee does not cover it "
            "(`fastrep.DegenerateTargetWarning`)"]


def grid_edge_lines(df: pd.DataFrame) -> list[str]:
    """One line per arm whose validation chose an end of the lambda grid in some cell.

    ``df``: cells with ``label, method, extra``; the cell functions store the end as
    ``extra["ridge_at_grid_edge"]`` (``'min'`` or ``'max'``) instead of warning in every cell.
    """
    out = []
    ends = {"min": "lower", "max": "upper"}
    for label, g in df.groupby("label", sort=True):
        edges = [e.get("ridge_at_grid_edge") if isinstance(e, dict) else None for e in g["extra"]]
        for edge, word in ends.items():
            k = sum(e == edge for e in edges)
            if k:
                out.append(f"- {display_name(label, g['method'].iloc[0])}: validation chose λ at the grid's "
                           f"{word} end in {k} of {len(g)} cells")
    return out


def _duration(runs: pd.DataFrame) -> tuple[float, int]:
    """(seconds summed over the runs that finished, runs that did not: killed or still running).

    ``finished`` is NULL for a run that never ended; pandas reads it as None or NaN.
    """
    total, unfinished = 0.0, 0
    for started, finished in zip(runs["started"], runs["finished"], strict=True):
        if not isinstance(finished, str) or not isinstance(started, str):
            unfinished += 1
            continue
        try:
            total += (
                _dt.datetime.fromisoformat(finished) - _dt.datetime.fromisoformat(started)
            ).total_seconds()
        except ValueError:
            unfinished += 1
    return total, unfinished


def _output_dir(out_dir, store: Path) -> Path:
    """The folder the report goes to, created if needed and checked writable before any work."""
    default = out_dir is None
    out = store.parent if default else Path(out_dir)
    where = f"the store's folder {out} (the default report folder)" if default else f"{out}"
    if out.exists() and not out.is_dir():
        raise ReportOutputError(f"{where} is an existing file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fastrep-write-test-"):
            pass
    except OSError as exc:
        raise ReportOutputError(f"{where} is not writable ({exc.strerror or exc})") from None
    return out


#: the last line of a report.md (invisible in rendered markdown): the store it was made from
_SOURCE_MARK = "<!-- fastrep report of the store "


def _report_source(path: Path) -> str | None:
    """The store a report file was made from (None: no such file); "" for a file that does not
    say (another program's, or an older fastrep's report)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    lines = text.rstrip().splitlines()
    for line in reversed(lines[-3:]):
        if line.startswith(_SOURCE_MARK) and line.endswith(" -->"):
            return line[len(_SOURCE_MARK):-4]
    # an older fastrep's report names its store only as given: "Generated ... from `PATH` (..."
    m = re.match(r"Generated \S+ from `(.+)` \(", lines[2] if len(lines) > 2 else "")
    return f"legacy:{m.group(1)}" if m else ""


def _report_path(out_dir: Path, store: Path) -> Path:
    """``report.md``, unless it is another store's report: then ``<store name>-report.md`` (a
    second sweep reported into the same folder never replaces the first one's report)."""
    own = str(store.resolve())

    def ours(source):
        if source is None or source == own:
            return True
        if source.startswith("legacy:"):  # the same file name: the same store, as far as it tells
            return Path(source[len("legacy:"):]).name == store.name
        return False

    first = out_dir / "report.md"
    if ours(_report_source(first)):
        return first
    second = out_dir / f"{_slug(store.stem)}-report.md"
    if ours(_report_source(second)):
        return second
    raise ReportOutputError(
        f"{out_dir} holds report.md and {second.name} of other stores; give another folder (--out, or "
        "--report for a sweep)"
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "sweep"


def write_report(
    store,
    out_dir=None,
    *,
    title: str = "fastrep report",
    total_time_s: float | None = None,
    n_boot: int = 1000,
    with_stores=(),
) -> Path:
    """Write the figures and ``report.md`` for every sweep in ``store``.

    Per sweep: the error curves and n*(d) figures (PNG), the n* and slope tables with their
    bootstrap intervals, the staircase and the checks the paper's separation implies; for a
    sweep whose cells recorded first-layer trajectories (the ``multistep`` method), their
    alignment and loss against the step t (``<sweep>-trajectory.png``). The store is only read.

    Parameters
    ----------
    store : str or os.PathLike
        The results store.
    out_dir : str, os.PathLike or None, default None
        The folder written (created if missing); None is the store's folder.
    title : str, default 'fastrep report'
        The report's first heading.
    total_time_s : float or None, default None
        The compute time shown; None sums the store's run records (the demo passes its own
        wall-clock time).
    n_boot : int, default 1000
        Bootstrap replicates of the slopes' intervals, 1 to 100000.
    with_stores : sequence of str or os.PathLike, default ()
        Further stores whose NTK cells extend the large study's NTK arm (e.g. the kernel
        study's, :data:`KERNEL_STUDY`; see :func:`merge_kernel_study`); only read.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    StoreError
        For a file that is not a readable fastrep store.
    FileNotFoundError
        When there is no store at ``store``.
    ValueError
        For an invalid ``n_boot``, or an ``out_dir`` that is a file or not writable (a
        ``ReportOutputError``, checked before any work).

    Examples
    --------
    >>> import os, tempfile
    >>> from fastrep.experiments import load_spec, run
    >>> spec = load_spec({"name": "tiny", "epsilon": 0.25, "seeds": [0, 1],
    ...                   "target": {"preset": "separation"}, "grid": {"d": [6], "n": [64, 128]},
    ...                   "methods": {"oracle": {"method": "oracle"}}})
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = os.path.join(tmp.name, "tiny.sqlite")
    >>> summary = run(spec, store, executor="serial", progress=False)
    >>> from fastrep.experiments import write_report
    >>> path = write_report(store, n_boot=10)
    >>> path.name, sorted(p.suffix for p in path.parent.iterdir())
    ('report.md', ['.md', '.png', '.png', '.sqlite'])
    >>> tmp.cleanup()
    """
    store = Path(store)
    snap = read_store(store)
    out_dir = _output_dir(out_dir, store)
    df = tidy(snap.cells, store)
    df["label"] = df["arm"]  # every table and figure below is per arm
    n_cells = len(df)
    others = []
    for extra in with_stores:
        other = tidy(read_store(Path(extra)).cells, Path(extra))
        others.append((Path(extra), other.assign(label=other["arm"])))
    df, merged = merge_kernel_study(df, others, float(snap.sweeps.get(GOALS_STUDY, {}).get("epsilon", 0.25)))
    sweeps, runs, failures = snap.sweeps, snap.runs, snap.failures
    traj = trajectories_frame(snap)
    arm_of = dict(zip(df["cell_id"], df["arm"], strict=True))
    lines = [
        f"# {title}",
        "",
        f"Generated {_dt.datetime.now().isoformat(timespec='seconds')} from `{store}` "
        f"({n_cells} finished cells; {len(failures)} failed).",
        "",
    ]
    if df.empty:
        lines += ["The store holds no finished cells yet.", ""]
    else:  # the beyond-one-step study's own section (fastrep demo --beyond), when its sweeps are here
        from .beyond import beyond_section

        lines += beyond_section(df, traj, out_dir, n_boot=n_boot)  # it maps cells to arms itself
    for name in sorted(set(df["sweep"]) if not df.empty else []):
        sub = df[df["sweep"] == name]
        spec = sweeps.get(name, {})
        eps = float(spec.get("epsilon", 0.25))
        targets = {json.dumps(p["target"], sort_keys=True) for p in sub["params"]}
        target_spec = json.loads(sorted(targets)[0]) if len(targets) == 1 else spec.get("target")
        target_spec = target_spec or sub["params"].iloc[0]["target"]
        slug = _slug(name)
        stars = n_star(sub, eps)
        slopes = fit_slopes(sub, eps, n_boot=n_boot)
        lines += [
            f"## Sweep `{name}`",
            "",
            (
                f"Target: `{json.dumps(target_spec)}`; "
                if len(targets) == 1
                else f"Targets ({len(targets)}, one per arm): "
                + "; ".join(f"`{t}`" for t in sorted(targets))
                + "; "
            )
            + f"ε = {eps:g}; seeds: {sorted(sub['seed'].unique().tolist())}.",
            "",
        ]
        try:
            from .presets import build_target

            t = build_target(target_spec, int(sub["d"].min()), int(sub["seed"].min()))
            energy = ", ".join(f"degree {k}: {v:.3f}" for k, v in sorted(t.energy_by_degree().items()))
            lines += [
                f"r = {t.r}, degree p = {t.degree}; energy by degree (of E[f*²] = "
                f"{sum(t.energy_by_degree().values()):.3f}): {energy}.",
                "",
            ]
        except Exception as exc:  # a report must not die on a target this build cannot rebuild
            lines += [f"(target details unavailable: {exc})", ""]
        if name == GOALS_STUDY and merged:
            lines += ["The kernel study's cells:", "", *merged, ""]

        checks = separation_checks(slopes, stars)
        if checks:
            lines += ["### Separation checks", ""]
            for text, passed, detail in checks:
                mark = "PASS" if passed else ("not judged" if passed is None else "FAIL")
                lines.append(f"- **{mark}** {text}: {detail}")
            if any(d.startswith("grid too small") for _, _, d in checks):
                lines += [
                    "",
                    f"The checks are calibrated for a grid of at least {FULL_GRID['d_values']} values of d "
                    f"spanning a factor {FULL_GRID['d_ratio']:g}, with {FULL_GRID['seeds']} seeds per method "
                    "(`fastrep demo`); on a smaller grid a check is judged only where its bootstrap "
                    "intervals decide it.",
                ]
            lines.append("")

        lines += [
            "### Fitted slopes of log n* against log d",
            "",
            "Least squares over the d whose n* lies inside the n grid; 95% percentile bootstrap "
            "interval from resampling seeds at each d.",
            "",
        ]
        names = {lb: display_name(lb, m) for lb, m in zip(sub["label"], sub["method"], strict=True)}
        tab = pd.DataFrame(
            {
                "method": slopes["label"].map(names),
                "slope [95% interval]": slopes.apply(_fmt_slope, axis=1),
                "d used": slopes["d_used"].astype(str) + " / " + slopes["d_total"].astype(str),
            }
        )
        lines += [_table(tab), ""]

        lines += [f"### n*(d): samples to reach median excess error ≤ {eps:g}", ""]
        if not stars.empty:
            stars = stars.assign(
                text=[_fmt_n(r["n_star"], r["status"], r["n_max"]) for _, r in stars.iterrows()]
            )
            piv = stars.pivot(index="label", columns="d", values="text").fillna("")
            piv.index = piv.index.map(names)
            piv.columns = [f"d = {c}" for c in piv.columns]
            lines += [_table(piv.reset_index().rename(columns={"label": "method"})), ""]

        degenerate = degenerate_target_lines(sub)
        if degenerate:
            lines += ["### Warnings", "", *degenerate, ""]

        edges = grid_edge_lines(sub)
        if edges:
            lines += [
                "### Ridge λ at an end of its validation grid",
                "",
                "Usual for noiseless targets at the lower end (any tiny λ interpolates as well); the best "
                "λ may lie beyond the grid (`fastrep.RidgeGridEdgeWarning`).",
                "",
                *edges,
                "",
            ]

        def drawn(path, fig):  # the PNG's path, or None when the plot had nothing to draw
            return path if fig is not None else None

        p = {k: out_dir / f"{slug}-{k}.png" for k in ("error_vs_n", "n_star", "alignment", "transfer")}
        n_max = sub.groupby("label")["n"].max().to_dict()
        figs = [
            (drawn(p["error_vs_n"],
                   plot_error_curves(sub, p["error_vs_n"], epsilon=eps, target_spec=target_spec,
                                     **kernel_predictions(sub, target_spec))),
             "Excess error against n"),
            (drawn(p["n_star"], plot_n_star(stars, slopes, p["n_star"], epsilon=eps, n_max=n_max)), "n*(d)"),
            (drawn(p["alignment"], plot_alignment(sub, p["alignment"], target_spec=target_spec)),
             "Alignment of W with U against n/d²"),
            (drawn(p["transfer"], plot_transfer(sub, p["transfer"], epsilon=eps)),
             "Transfer: target error against n_t"),
        ]
        if not traj.empty:  # multi-step cells: the first layer's path against the step t
            path_t = out_dir / f"{slug}-trajectory.png"
            traj_sub = traj[traj["sweep"] == name].copy()
            traj_sub["label"] = traj_sub["cell_id"].map(arm_of)
            figs.append((drawn(path_t, plot_trajectory(traj_sub, path_t)),
                         "First-layer trajectory: alignment of W_t with U and training loss against "
                         "the step t (median over seeds, at each d's largest n)"))
        lines += ["### Figures", ""]
        for path, caption in figs:
            if path is not None:
                lines += [f"![{caption}]({Path(path).name})", ""]

        from .large import theory_section

        lines += theory_section(sub, target_spec, eps, out_dir, slug, n_boot=n_boot,
                                goals=name == GOALS_STUDY, network=name == GOALS_STUDY)

        lines += ["### Median excess error (over seeds)", ""]
        curves = median_curves(sub)
        for label, g in curves.groupby("label"):
            piv = g.pivot(index="d", columns="n", values="median")
            piv = piv.map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
            piv.columns = [str(c) for c in piv.columns]
            lines += [f"**{names[label]}** (rows d, columns n)", "", _table(piv.reset_index()), ""]

    # where and how it ran
    lines += ["## Machine and time", ""]
    if not runs.empty:
        m = runs.iloc[-1]["machine"]
        mem = f"{m['memory_bytes'] / 2**30:.1f} GiB" if m.get("memory_bytes") else "unknown"
        lines += [
            f"- machine: {m.get('host')}, {m.get('cpu')}, {m.get('cores')} cores, {mem} memory; "
            f"{m.get('os')}; Python {m.get('python')}, NumPy {m.get('numpy')}, fastrep {m.get('fastrep')}",
            "- executors: "
            + ", ".join(
                f"{r['executor']} ({r['workers']} workers x {r['threads']} threads)"
                for _, r in runs.drop_duplicates(["executor", "workers", "threads"]).iterrows()
            ),
            "- backends available: " + ", ".join(f"{k}: {v}" for k, v in m.get("backends", {}).items()),
        ]
    if not df.empty:
        used = df.groupby("label")["backend"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
        lines.append("- backend used per method: " + "; ".join(f"{k}: {v}" for k, v in used.items()))
        peak = df["peak_rss_bytes"].dropna()
        if len(peak):
            lines.append(f"- largest peak memory of a cell: {peak.max() / 2**20:,.0f} MiB")
        lines.append(f"- compute time summed over cells: {df['wall_s'].sum():,.1f} s")
    total, unfinished = _duration(runs) if not runs.empty else (0.0, 0)
    if total_time_s is not None:
        total = total_time_s
    if total:
        lines.append(f"- total time: {total:,.1f} s ({total / 60:.1f} min)")
    if unfinished and total_time_s is None:
        lines.append(
            f"- {unfinished} run(s) did not finish (killed, or still running); their time is not in the total"
        )
    if len(failures):
        lines += [
            "",
            f"{len(failures)} cells failed; the next run retries them. First error:",
            "",
            "```",
            str(failures.iloc[0]["error"]).strip()[-2000:],
            "```",
        ]
    lines.append("")
    path = _report_path(out_dir, store)
    lines.append(f"{_SOURCE_MARK}{store.resolve()} -->")
    path.write_text("\n".join(lines) + "\n")
    return path
