"""Prototypes behind the beyond study's two unreproduced claims (docs/guide/multistep.md).

``smoothed``: Damian, Nichani, Ge, Lee (NeurIPS 2023, arXiv:2305.10633), their algorithm in
NumPy: one spherical neuron w, the He3 link known, the correlation loss -y h3(w.x) with
h3(t) = (t^3 - 3t)/sqrt(6), online SGD at batch 1, a spherical step and renormalisation.
``--draws 0``: the smoothed loss averaged over z (uniform on w's orthogonal unit sphere)
exactly: E_z h3((s + lam z.x)/c), c = sqrt(1 + lam^2), is a cubic in s = w.x with
E[(z.x)^2] = (|x|^2 - s^2)/(d - 1). ``--draws K``: K draws of z per step, each held fixed
and the gradient at w~ = (w + lam z)/|w + lam z| pulled back (K = 1 is the estimate
fastrep.MultiStepNetwork(loss='smoothed') uses). ``--lam 0`` is plain SGD. n* = the samples
seen when (w.u)^2 first reaches 0.2 (checked every 64 steps); median over the seeds.

    python benchmarks/beyond_prototypes.py smoothed --d 64 --lam 1 --c 16           # exact
    python benchmarks/beyond_prototypes.py smoothed --d 64 --lam 1 --c 4 --draws 1  # one draw
    python benchmarks/beyond_prototypes.py smoothed --d 64 --lam 0 --c 4            # plain

lr = c d^-1.5 lam^2 (lam = lam_factor d^(1/4); c d^-1.5 for plain).

``smoothed --link relu``: the same neuron as relu(w.x + bias) (the network's student), smoothed
exactly by fastrep.multistep's closed form (``smoothing_draws=0``'s): the gain goes. ``noise``:
one sample's gradient noise E|g|^2 at overlap d^-1/2, plain and smoothed, for both neurons (at
d = 64 the He3 link's falls 392x, the ReLU's 11x = 1 + lam^2: the ReLU's degree-0 and -1 parts
in w.x are scaled by kappa only). ``--threshold 0.5``: n* at (w.u)^2 >= 0.5, which a large
lr's random walk on the sphere does not reach by chance.

    python benchmarks/beyond_prototypes.py smoothed --d 64 --lam 1 --c 4 --link relu --threshold 0.5
    python benchmarks/beyond_prototypes.py noise --d 64 256

``staircase``: fastrep.MultiStepNetwork on z1 + z1 z2 + z1 z2 z3 with fresh giant steps
(the study's settings unless given: biases, unit rows, lr 64m, 4m, 256m, 256m, 64 d samples per
step); prints the median per-direction overlap x d per step, then, for the first seed, the
neurons after step 2 (how many carry u1 and u2 above 5x chance) and their u3 after step 3 by
b/|w| (u3 enters a step through E[z1 z2 1{w.x + b > 0}] = w1 w2 (-beta phi(beta)), beta = b/|w|).
``--population`` prints that coefficient's share of the population gradient instead.

    python benchmarks/beyond_prototypes.py staircase --d 128
    python benchmarks/beyond_prototypes.py staircase --d 64 --no-bias --no-spherical --lr 512 --per 16
    python benchmarks/beyond_prototypes.py staircase --population
"""
import argparse
import time

import numpy as np

SQ6 = np.sqrt(6.0)


def _spherical_step(W, g, eta, hit, t, threshold) -> bool:
    """W += eta (g projected on each row's tangent space), rows renormalised, in place; every 64
    steps the seeds whose (w.u)^2 first reaches ``threshold`` get hit = t. True when all have."""
    g = g - np.einsum("sd,sd->s", W, g)[:, None] * W
    W += eta * g
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    if t % 64:
        return False
    new = np.isnan(hit) & (W[:, 0] ** 2 >= threshold)
    hit[new] = t
    return not np.isnan(hit).any()


def smoothed_sgd(d, lam, eta, nmax, seeds, draws=0, seed=1, chunk=1024, link="he3", bias=1.0, threshold=0.2):
    if link == "relu":
        return relu_sgd(d, lam, eta, nmax, seeds, seed, chunk, bias, threshold)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((seeds, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)   # u = e_1
    c = np.sqrt(1.0 + lam**2)
    hit = np.full(seeds, np.nan)
    t = 0
    while t < nmax:
        X = rng.standard_normal((chunk, seeds, d))
        for x in X:
            y = (x[:, 0] ** 3 - 3 * x[:, 0]) / SQ6
            if draws == 0 or lam == 0:
                s = np.einsum("sd,sd->s", W, x)
                nx2 = np.einsum("sd,sd->s", x, x)
                dg = (3 * s * s + 3 * lam**2 * (nx2 - 3 * s * s) / (d - 1)) / c**3 - 3 / c
                g = (y * dg / SQ6)[:, None] * x
            else:
                g = 0.0
                for _ in range(draws):
                    xi = rng.standard_normal((seeds, d))
                    z = xi - np.einsum("sd,sd->s", xi, W)[:, None] * W
                    z /= np.linalg.norm(z, axis=1, keepdims=True)
                    v = W + lam * z
                    nv = np.linalg.norm(v, axis=1, keepdims=True)
                    uu = v / nv
                    s = np.einsum("sd,sd->s", uu, x)
                    gk = (y * (3 * s * s - 3) / SQ6)[:, None] * x
                    g = g + (gk - np.einsum("sd,sd->s", uu, gk)[:, None] * uu) / nv / draws
            t += 1
            if _spherical_step(W, g, eta, hit, t, threshold) or t >= nmax:
                return hit
    return hit


def relu_sgd(d, lam, eta, nmax, seeds, seed, chunk, bias, threshold):
    """The same algorithm with a ReLU neuron relu(w.x + bias) in place of the He3 link (the
    student of fastrep's network): the correlation loss -y relu(.), smoothed exactly by
    fastrep.multistep's closed form (lam > 0) or plain (lam = 0)."""
    from fastrep.multistep import _smoothed_terms

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((seeds, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    hit = np.full(seeds, np.nan)
    one, b = np.ones(1), np.full(1, bias)
    t = 0
    while t < nmax:
        X = rng.standard_normal((chunk, seeds, d))
        for x in X:
            y = (x[:, 0] ** 3 - 3 * x[:, 0]) / SQ6
            s = np.einsum("sd,sd->s", W, x)
            if lam == 0:
                g = (y * (s + bias > 0))[:, None] * x
            else:  # seeds as rows, one neuron: grad_w E_z relu = A x + B w_hat
                _, A, B = _smoothed_terms(s[:, None], np.einsum("sd,sd->s", x, x), one, b, lam, d)
                g = (y * A[:, 0])[:, None] * x + (y * B[:, 0])[:, None] * W
            t += 1
            if _spherical_step(W, g, eta, hit, t, threshold) or t >= nmax:
                return hit
    return hit


def gradient_noise(d, link, lam, n=400_000, bias=1.0, seed=0):
    """E|g|^2 of one sample's tangential gradient of the correlation loss at overlap
    w.u = d^-1/2 (the start of the search), for the He3 link or relu(w.x + bias), plain (lam = 0)
    or smoothed exactly (the average over z)."""
    from fastrep.multistep import _smoothed_terms

    rng = np.random.default_rng(seed)
    m = 1 / np.sqrt(d)
    w = np.zeros(d)
    w[0], w[1] = m, np.sqrt(1 - m * m)
    total, count = 0.0, 0
    for _ in range(n // 20_000):
        X = rng.standard_normal((20_000, d))
        y = (X[:, 0] ** 3 - 3 * X[:, 0]) / SQ6
        s, nx2 = X @ w, np.sum(X * X, axis=1)
        if link == "he3":
            c = np.sqrt(1.0 + lam**2)
            dg = (3 * s * s + 3 * lam**2 * (nx2 - 3 * s * s) / (d - 1)) / c**3 - 3 / c
            G = (y * dg / SQ6)[:, None] * X
        elif lam == 0:
            G = (y * (s + bias > 0))[:, None] * X
        else:
            _, A, B = _smoothed_terms(s[:, None], nx2, np.ones(1), np.full(1, bias), lam, d)
            G = (y * A[:, 0])[:, None] * X + (y * B[:, 0])[:, None] * w
        G -= (G @ w)[:, None] * w
        total += float(np.sum(G * G))
        count += len(G)
    return total / count


def staircase(d, steps, lr, per, seeds, bias, width=256, spherical=True):
    import warnings

    from fastrep import GaussianStream, MultiIndexTarget, MultiStepNetwork
    warnings.simplefilter("ignore")
    res, first = [], None
    for seed in range(seeds):
        tgt = MultiIndexTarget.staircase(d, 3, seed=seed)
        net = MultiStepNetwork(width=width, steps=steps, protocol="fresh", readout="gaussian",
                               bias=bias, weight_decay=0.0, lr=lr, ridge=1e-3, center=False,
                               spherical=spherical, seed=seed, record_every=1)
        net.fit_stream(GaussianStream(tgt, seed + 100), per * d * steps, n_val=500)
        tr = net.trajectory_
        cos2 = tr.overlaps**2 / tr.row_norms[..., None] ** 2
        res.append(cos2.mean(axis=1))
        if first is None:
            first = (cos2, tr.row_norms, net.b_)
    med = np.median(np.array(res), axis=0)
    print(f"d={d} T={steps} lr={lr} {per}d per step bias={bias} spherical={spherical} seeds={seeds}: "
          "overlap x d (chance 1)")
    for t, row in zip(tr.step, med, strict=True):
        print(f"  t={t}: " + "  ".join(f"{v * d:6.2f}" for v in row))
    if steps < 3:
        return
    cos2, norms, b = first
    thr = 5.0 / d
    both = (cos2[2, :, 0] > thr) & (cos2[2, :, 1] > thr)
    u3 = cos2[3, :, 2] * d
    print(f"seed 0, after step 2: {np.mean(cos2[2, :, 0] > thr):.0%} of neurons carry u1, "
          f"{np.mean(cos2[2, :, 1] > thr):.0%} u2, {both.mean():.0%} both (each > 5x chance)")
    others = u3[~both].mean() if (~both).any() else np.nan
    print(f"  u3 x d after step 3: {u3[both].mean():.2f} in those, {others:.2f} in the others")
    beta = b / norms[2]
    for lo, hi in ((-np.inf, -0.5), (-0.5, 0.5), (0.5, np.inf)):
        sel = (beta > lo) & (beta <= hi)
        if sel.any():
            print(f"  b/|w| in ({lo:g}, {hi:g}]: {sel.sum():4d} neurons, u3 x d {u3[sel].mean():6.2f}, "
                  f"{np.mean(u3[sel] > 5):.0%} above 5")


def staircase_population(samples=2_000_000, seed=0):
    """The normalized staircase's population gradient E[y 1{w.x + b > 0} x] for one neuron on
    w = (u1 + u2)/sqrt 2 (f ignored): u3's share of its squared norm, per b."""
    Z = np.random.default_rng(seed).standard_normal((samples, 3))
    z1, z2, z3 = Z.T
    y = (z1 + z1 * z2 + z1 * z2 * z3) / np.sqrt(3.0)
    w = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
    print("b      g1      g2      g3   g3 closed form   g3^2/|g|^2")
    for b in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0):
        act = Z @ w + b > 0
        g = (y[:, None] * act[:, None] * Z).mean(axis=0)
        closed = -b * np.exp(-b * b / 2) / np.sqrt(2 * np.pi) / 2 / np.sqrt(3.0)
        share = g[2] ** 2 / np.sum(g**2)
        print(f"{b:+.1f}  {g[0]:6.3f}  {g[1]:6.3f}  {g[2]:6.3f}  {closed:14.3f}   {share:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("smoothed")
    a.add_argument("--d", type=int, required=True)
    a.add_argument("--lam", type=float, default=1.0, help="lambda / d^(1/4); 0 = plain SGD")
    a.add_argument("--c", type=float, required=True)
    a.add_argument("--draws", type=int, default=0)
    a.add_argument("--nfac", type=float, default=16.0, help="samples = nfac d^2")
    a.add_argument("--seeds", type=int, default=8)
    a.add_argument("--link", choices=("he3", "relu"), default="he3",
                   help="the neuron: the He3 link (the paper's) or relu(w.x + bias) (the network's)")
    a.add_argument("--bias", type=float, default=1.0, help="the ReLU's bias (--link relu)")
    a.add_argument("--threshold", type=float, default=0.2,
                   help="n* at (w.u)^2 >= this; above 0.2 a large lr's random walk rarely crosses it")
    c = sub.add_parser("noise", help="a sample's gradient noise E|g|^2, plain and smoothed (lam = d^1/4)")
    c.add_argument("--d", type=int, nargs="+", default=[64, 256])
    b = sub.add_parser("staircase")
    b.add_argument("--d", type=int, default=64)
    b.add_argument("--steps", type=int, default=4)
    b.add_argument("--width", type=int, default=256)
    b.add_argument("--lr", default="64m,4m,256m,256m",
                   help="a number or a comma list of T numbers; a trailing m multiplies by the width")
    b.add_argument("--per", type=int, default=64, help="samples per step / d")
    b.add_argument("--seeds", type=int, default=2)
    b.add_argument("--no-bias", dest="bias", action="store_false")
    b.add_argument("--no-spherical", dest="spherical", action="store_false")
    b.add_argument("--population", action="store_true", help="the population gradient's u3 share only")
    args = ap.parse_args()
    if args.what == "noise":
        for d in args.d:
            for link in ("he3", "relu"):
                plain, smooth = gradient_noise(d, link, 0.0), gradient_noise(d, link, d**0.25)
                print(f"d={d} {link}: E|g|^2 plain {plain:.3g}, smoothed {smooth:.3g} "
                      f"({plain / smooth:.0f}x smaller; 1 + lam^2 = {1 + d**0.5:.0f})", flush=True)
        return
    if args.what == "staircase":
        if args.population:
            staircase_population()
            return
        lr = [float(v[:-1]) * args.width if v.endswith("m") else float(v) for v in args.lr.split(",")]
        staircase(args.d, args.steps, lr[0] if len(lr) == 1 else lr, args.per, args.seeds, args.bias,
                  width=args.width, spherical=args.spherical)
        return
    d = args.d
    lam = args.lam * d**0.25
    eta = args.c * d**-1.5 * (lam**2 if lam > 0 else 1.0)
    t0 = time.time()
    hit = smoothed_sgd(d, lam, eta, int(args.nfac * d * d), args.seeds, args.draws, link=args.link,
                       bias=args.bias, threshold=args.threshold)
    med = np.median(np.where(np.isnan(hit), np.inf, hit))
    print(f"d={d} {args.link} lam={lam:.2f} draws={args.draws} lr={eta:.3g} (c={args.c}): "
          f"{np.sum(~np.isnan(hit))}/{args.seeds} reach {args.threshold:g}, median n*={med:.0f} "
          f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
