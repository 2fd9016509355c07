"""Validate fastrep.theory's one-step network predictions against OneStepNetwork fits.

``python benchmarks/validate_network_theory.py measure --out net_runs.jsonl [--max-d 128]``
    For each cell (target preset, label noise, width, d, n, seed) of the grid below: fits
    ``OneStepNetwork(width, seed=seed)`` (the learner's defaults: normalized step, split=False,
    centring, ridge validated on 2000 fresh samples) on ``target.sample(n, seed)``, and records
    ``subspace_alignment(W_, U)`` and ``excess_error`` on 4000 test inputs. Rows are appended to
    a JSON-lines file; finished cells are skipped on a rerun. Cheap cells (small d) first.
``python benchmarks/validate_network_theory.py predict --runs net_runs.jsonl --out net_pred.jsonl``
    The predictions (``network_alignment``, ``network_learning_curve``) at every measured
    (preset, noise, width, d, n).
``python benchmarks/validate_network_theory.py recheck [--d 64 128 256] [--head equivalent] --out f.md``
    Without refitting: the measured 4-seed means published in ``RESULTS_THEORY.md`` ("Every
    measured cell") against the current code's ``network_learning_curve`` (``--head``), on a
    reduced grid (the d values given, every n of the table); the previous prediction
    (the realized head, published beside them) in its own column, and n*(0.25) from each.
``python benchmarks/validate_network_theory.py speed``
    Both sides' predicted n*(d) (``separation``) at ten d from 16 to 4096 (separation target,
    epsilon 0.25, width 500) with one BLAS thread, timed; prints the ISA and BLAS.
``python benchmarks/validate_network_theory.py table --runs net_runs.jsonl --pred net_pred.jsonl``
    Markdown: predicted against measured (means over seeds) alignment and excess error, and
    n*(0.25) read from both curves by the same log-log interpolation on the same n grid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

EPSILON = 0.25
N_VAL = 2000
N_TEST = 4000
SEEDS = 4
#: n = d^2 * these: around the network's n*(0.25) (about d^2 on the separation target)
N_FACTORS = (0.35, 0.5, 0.71, 1.0, 1.41, 2.0, 2.83)
#: further out for the harder targets (random, label noise), d <= 128
N_FACTORS_FAR = (4.0, 5.66, 8.0)


def presets():
    from fastrep import MultiIndexTarget as M

    return {
        "separation": lambda d, noise: M.separation(d, noise=noise),
        "random_r2_p3": lambda d, noise: M.random(d, 2, 3, noise=noise),
        "giant_step": lambda d, noise: M.giant_step(d, noise=noise),
    }


def grid(max_d: int):
    """(preset, noise, width, d) groups, cheapest first."""
    cells = []
    for d in (32, 64, 128, 256):
        if d > max_d:
            continue
        for preset in presets():
            for noise in (0.0, 0.5):
                for width in (250, 1000):
                    if d == 256 and preset != "separation":
                        continue
                    cells.append((preset, noise, width, d))
    return cells


def _key(row):
    return (row["preset"], row["noise"], row["width"], row["d"], row["n"], row.get("seed", -1))


def _load(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def measure(args):
    from fastrep import OneStepNetwork
    from fastrep.metrics import excess_error, subspace_alignment

    done = {_key(r) for r in _load(args.out)}
    with open(args.out, "a") as fh:
        for preset, noise, width, d in grid(args.max_d):
            for factor in N_FACTORS + (N_FACTORS_FAR if d <= 128 else ()):
                n = int(round(factor * d * d))
                for seed in range(SEEDS):
                    row = {"preset": preset, "noise": noise, "width": width, "d": d, "n": n, "seed": seed}
                    if _key(row) in done:
                        continue
                    t = presets()[preset](d, noise)
                    X, y = t.sample(n, seed)
                    Xv, yv = t.sample(N_VAL, seed, split="val")
                    t0 = time.perf_counter()
                    m = OneStepNetwork(width, seed=seed).fit(X, y, Xv, yv)
                    row["seconds"] = time.perf_counter() - t0
                    row["alignment"] = subspace_alignment(m.W_, t.U)
                    row["error"] = excess_error(m, t, N_TEST, seed)
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                    print(json.dumps(row), flush=True)


def _groups(rows):
    out = {}
    for r in rows:
        out.setdefault((r["preset"], r["noise"], r["width"], r["d"], r["n"]), []).append(r)
    return out


def predict(args):
    from fastrep.theory import network_alignment, network_learning_curve

    done = {_key(r) for r in _load(args.out)}
    with open(args.out, "a") as fh:
        for k, (preset, noise, width, d, n) in enumerate(sorted(_groups(_load(args.runs)))):
            if k % args.parts != args.part:
                continue
            row = {"preset": preset, "noise": noise, "width": width, "d": d, "n": n}
            if _key(row) in done:
                continue
            t = presets()[preset](d, noise)
            t0 = time.perf_counter()
            row["alignment"] = float(network_alignment(t, n, width=width))
            row["alignment_realized"] = float(network_alignment(t, n, width=width, method="realized",
                                                                realizations=2))
            row["error"] = float(network_learning_curve(t, n, width=width, realizations=args.realizations))
            row["seconds"] = time.perf_counter() - t0
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(json.dumps(row), flush=True)


def n_star(ns, errs, eps=EPSILON):
    """First crossing of eps, linear in (log n, log error); nan if not crossed inside the grid."""
    ns, errs = np.asarray(ns, float), np.asarray(errs, float)
    below = np.flatnonzero(errs <= eps)
    if below.size == 0 or below[0] == 0:
        return math.nan
    k = int(below[0])
    e0, e1 = math.log(errs[k - 1]), math.log(max(errs[k], 1e-300))
    w = (math.log(eps) - e0) / (e1 - e0) if e1 != e0 else 1.0
    return math.exp(math.log(ns[k - 1]) + w * (math.log(ns[k]) - math.log(ns[k - 1])))


def _fmt(v):
    return "outside grid" if v != v else f"{v:,.0f}"


def table(args):
    runs = _groups(_load(args.runs))
    pred = {(r["preset"], r["noise"], r["width"], r["d"], r["n"]): r for r in _load(args.pred)}
    lines = []
    curves = {}
    stats = {"align": [], "align_realized": [], "err": [], "nstar": []}
    lines.append("| target | noise | width | d | n/d^2 | seeds | alignment measured | predicted (neurons) | "
                 "predicted (realized) | excess error measured | predicted | ratio |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(runs):
        preset, noise, width, d, n = key
        rs = runs[key]
        if len(rs) < SEEDS or key not in pred:
            continue
        am = float(np.mean([r["alignment"] for r in rs]))
        em = float(np.mean([r["error"] for r in rs]))
        p = pred[key]
        ratio = p["error"] / em
        curves.setdefault(key[:4], []).append((n, em, p["error"]))
        ok_a = abs(p["alignment"] - am) <= max(0.1 * am, 0.01)
        stats["align"].append(ok_a)
        ar = p.get("alignment_realized", math.nan)
        ok_e = em < 0.05 or 1 / 1.5 <= ratio <= 1.5
        ok_r = abs(ar - am) <= max(0.1 * am, 0.01)
        stats["align_realized"].append(ok_r)
        if em >= 0.05:
            stats["err"].append(1 / 1.5 <= ratio <= 1.5)
        lines.append(f"| {preset} | {noise:g} | {width} | {d} | {n / d / d:.2f} | {len(rs)} | {am:.3f} | "
                     f"{p['alignment']:.3f}{'' if ok_a else ' (!)'} | {ar:.3f}{'' if ok_r else ' (!)'} | "
                     f"{em:.3f} | {p['error']:.3f} | {ratio:.2f}{'' if ok_e else ' (!)'} |")
    lines.append("")
    lines.append("n*(0.25), read from the measured means and from the predictions at the same n "
                 "(log-log interpolation between grid points):")
    lines.append("")
    lines.append("| target | noise | width | d | n* measured | n* predicted | predicted / measured |")
    lines.append("|---|---|---|---|---|---|---|")
    for key, pts in sorted(curves.items()):
        pts.sort()
        ns = [q[0] for q in pts]
        nm, npred = n_star(ns, [q[1] for q in pts]), n_star(ns, [q[2] for q in pts])
        ratio = npred / nm if (nm == nm and npred == npred) else math.nan
        if ratio == ratio:
            stats["nstar"].append(1 / 1.25 <= ratio <= 1.25)
        lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | {key[3]} | {_fmt(nm)} | {_fmt(npred)} | "
                     f"{'' if ratio != ratio else f'{ratio:.2f}'} |")
    lines.append("")
    for k, v in stats.items():
        lines.append(f"- {k}: {sum(v)} of {len(v)} within the goal")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    sys.stdout.write(text)


def _published_cells(path):
    """(preset, noise, width, d, n) -> (measured alignment, measured error, published predicted error)
    from the "Every measured cell" table of RESULTS_THEORY.md."""
    factors = N_FACTORS + N_FACTORS_FAR
    out = {}
    with open(path) as fh:
        for line in fh:
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            if len(parts) != 12 or parts[0] not in presets():
                continue
            d = int(parts[3])
            f = min(factors, key=lambda x: abs(x - float(parts[4])))
            n = int(round(f * d * d))
            out[(parts[0], float(parts[1]), int(parts[2]), d, n)] = (float(parts[6]), float(parts[9]),
                                                                    float(parts[10]))
    return out


def recheck(args):
    from fastrep.theory import network_learning_curve

    cells = {k: v for k, v in _published_cells(args.results).items() if k[3] in args.d}
    lines = ["| target | noise | width | d | n/d^2 | error measured | published (realized) | ratio | "
             f"now ({args.head}) | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    stats = {"published": [], "now": []}
    curves = {}
    t_all = time.perf_counter()
    for key in sorted(cells):
        preset, noise, width, d, n = key
        _, em, old = cells[key]
        t = presets()[preset](d, noise)
        new = float(network_learning_curve(t, n, width=width, head=args.head))
        curves.setdefault(key[:4], []).append((n, em, old, new))
        ok_o, ok_n = 1 / 1.5 <= old / em <= 1.5, 1 / 1.5 <= new / em <= 1.5
        if em >= 0.05:
            stats["published"].append(ok_o)
            stats["now"].append(ok_n)
        lines.append(f"| {preset} | {noise:g} | {width} | {d} | {n / d / d:.2f} | {em:.3f} | {old:.3f} | "
                     f"{old / em:.2f}{'' if ok_o or em < 0.05 else ' (!)'} | {new:.3f} | "
                     f"{new / em:.2f}{'' if ok_n or em < 0.05 else ' (!)'} |")
        print(lines[-1], flush=True)
    lines += ["", "| target | noise | width | d | n* measured | published / measured | now / measured |",
              "|---|---|---|---|---|---|---|"]
    ns_stats = {"published": [], "now": []}
    for key, pts in sorted(curves.items()):
        pts.sort()
        ns = [q[0] for q in pts]
        nm = n_star(ns, [q[1] for q in pts])
        no, nn = n_star(ns, [q[2] for q in pts]), n_star(ns, [q[3] for q in pts])
        ro = no / nm if nm == nm and no == no else math.nan
        rn = nn / nm if nm == nm and nn == nn else math.nan
        if ro == ro:
            ns_stats["published"].append(1 / 1.25 <= ro <= 1.25)
        if rn == rn:
            ns_stats["now"].append(1 / 1.25 <= rn <= 1.25)
        lines.append(f"| {key[0]} | {key[1]:g} | {key[2]} | {key[3]} | {_fmt(nm)} | {ro:.2f} | {rn:.2f} |")
    lines.append("")
    for k in stats:
        lines.append(f"- excess error within 1.5x where >= 0.05, {k}: {sum(stats[k])} of {len(stats[k])}; "
                     f"n* within 1.25x: {sum(ns_stats[k])} of {len(ns_stats[k])}")
    lines.append(f"- {len(cells)} cells predicted in {time.perf_counter() - t_all:.1f} s")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    sys.stdout.write(text)


def speed(args):
    from threadpoolctl import threadpool_limits

    from fastrep import MultiIndexTarget
    from fastrep.theory import separation

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from _common import blas_setting, cpu_name

    ds = np.unique(np.round(np.geomspace(16, 4096, 10)).astype(int))
    t = MultiIndexTarget.separation(16)
    from numpy._core._multiarray_umath import __cpu_features__ as feats

    isa = [k for k in ("AVX512F", "AVX512_SPR", "AVX2", "FMA3") if feats.get(k)]
    print(f"machine: {cpu_name()}; ISA (NumPy's dispatch): {', '.join(isa)}; NumPy {np.__version__}")
    with threadpool_limits(1):
        print(blas_setting())
        separation(t, ds[:1], EPSILON, width=args.width, head=args.head)  # imports and caches
        rows = []
        for rep in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            out = separation(t, ds, EPSILON, width=args.width, head=args.head)
            rows.append((time.perf_counter() - t0, time.process_time() - c0))
        from fastrep.theory import kernel_n_star, network_n_star

        c0, t0 = time.process_time(), time.perf_counter()
        network_n_star(t, ds, EPSILON, width=args.width, head=args.head)
        c1, t1 = time.process_time(), time.perf_counter()
        kernel_n_star(t, ds, EPSILON, ridge=0.0)
        c2, t2 = time.process_time(), time.perf_counter()
    print(f"separation(separation target, d = {', '.join(map(str, ds))}, epsilon {EPSILON}, "
          f"width {args.width}, "
          f"head {args.head!r}), one BLAS thread, wall (CPU) seconds: "
          f"{', '.join(f'{w:.2f} ({c:.2f})' for w, c in rows)}; network side {t1 - t0:.2f} ({c1 - c0:.2f}), "
          f"kernel side {t2 - t1:.2f} ({c2 - c1:.2f}); "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for d, a, b in zip(out["d"], out["network"], out["kernel"], strict=True):
        print(f"  d = {d:5d}: network n* {a:12.4g}  kernel n* {b:12.4g}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", required=True)
    m.add_argument("--max-d", type=int, default=128)
    p = sub.add_parser("predict")
    p.add_argument("--runs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--realizations", type=int, default=1)
    p.add_argument("--part", type=int, default=0,
                   help="this process's share: groups k with k %% parts == part")
    p.add_argument("--parts", type=int, default=1)
    c = sub.add_parser("recheck")
    c.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "RESULTS_THEORY.md"))
    c.add_argument("--d", type=int, nargs="+", default=[64, 128, 256])
    c.add_argument("--head", default="equivalent")
    c.add_argument("--out")
    s_ = sub.add_parser("speed")
    s_.add_argument("--width", type=int, default=500)
    s_.add_argument("--head", default="equivalent")
    s_.add_argument("--repeats", type=int, default=3)
    t = sub.add_parser("table")
    t.add_argument("--runs", required=True)
    t.add_argument("--pred", required=True)
    t.add_argument("--out")
    args = ap.parse_args(argv)
    {"measure": measure, "predict": predict, "table": table, "recheck": recheck,
     "speed": speed}[args.cmd](args)


if __name__ == "__main__":
    main()
