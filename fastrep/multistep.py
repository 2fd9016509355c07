"""Beyond one step: T gradient steps on the first layer (several protocols), then ridge.

:class:`MultiStepNetwork` trains the first layer W of the two-layer ReLU network

    f(x) = s sum_{j=1}^m a_j relu(w_j . x + b_j)

by T gradient steps on the squared loss L(W) = (1/n_t) sum_i (f(x_i) - y_hat_i)^2 (or its
smoothed version, below) of the centred labels y_hat, then fits the second layer by the same
ridge path as :class:`fastrep.OneStepNetwork` (it is Algorithm 1 with stage 1 replaced; it shares
the label centring, the ridge head, the stream handling, ``refit`` and the Context). Each step is

    W_{t+1} = W_t - eta_t (grad L_t(W_t) + lam_t W_t)     (``weight_decay='inverse'``: lam_t = 1/eta_t,
                                                           so W_{t+1} = -eta_t grad L_t(W_t))

optionally followed by w_j <- w_j / |w_j| (``spherical``). The gradient of a neuron is
grad_{w_j} L = -(2/n_t) s a_j sum_i r_i 1[w_j . x_i + b_j > 0] x_i with r_i = y_hat_i - f(x_i):
the sum is the Ops contract's ``onestep_gradient`` at the current W, so every backend runs it.

Protocols (which samples step t sees; the n stage-1 samples are all n, or the first half with
``split``):

``'fresh'``
    T consecutive fresh batches of about n/T samples: ``OneStepNetwork(steps=T)``'s protocol
    (bit for bit), and the giant steps of Dandi et al. 2023 (GiantStep).
``'reuse'``
    all n samples at every step (Dandi et al., ICML 2024; "Repetita iuvant" 2024).
``'online'``
    minibatch SGD: step t sees rows t B .. t B + B - 1 (``batch_size`` B >= 1; T B <= n); each
    sample is used once (Ben Arous, Gheissari, Jagannath 2021). On the host (a given lr, the
    squared loss) the steps run in ``fastrep._kernels.sgd`` (``backend_['sgd'] = 'numba'``):
    B <= 64 in one compiled loop, larger B as two BLAS products and two compiled passes.

Initialisations (``readout``):

``'symmetric'`` (Algorithm 1)
    w_j ~ N(0, I/d), b_j ~ N(0, 1), a_j = +-1, neurons m/2..m-1 copying 0..m/2-1 with a
    negated, s = 1: f = 0 at initialisation (``width`` even).
``'gaussian'`` (GiantStep's notebooks)
    independent w_j ~ N(0, I/d), a_j ~ N(0, 1/m), s = 1/sqrt(m): f != 0 at initialisation.
``'rademacher'`` (GiantStep's ``multiple_steps.ipynb``, its "hypercube" second layer)
    independent w_j ~ N(0, I/d), a_j = +-1/sqrt(m) with independent fair signs, s = 1/sqrt(m).
``'auto'`` (the default)
    ``'symmetric'`` for ``steps=1`` (Algorithm 1), ``'gaussian'`` for ``steps > 1``: with
    s = 1 and a normalised step (row norm 1) the symmetric network's output grows like m after
    the first step, and later steps fit that instead of the target (the training loss grew from
    about 1 to m^2 / 10 in the session-6 defaults); the 1/m scale of the Gaussian readout keeps f
    of order one, so the loss falls step by step.

``bias=False`` gives bias-free neurons (b = 0); ``rebias`` re-draws b ~ N(0, 1) before the head.

**The smoothed loss** (``loss='smoothed'``, Damian, Nichani, Ge, Lee, NeurIPS 2023), written for
the width-m network: with smoothing radius lambda (``smoothing``),

    L_lambda(W) = E_Z [ L(W~) ],   w~_j = |w_j| (w_j + lambda z_j) / |w_j + lambda z_j|,

z_1..z_m independent, z_j uniform on the unit sphere of w_j's orthogonal complement. Each
neuron sees the loss averaged over a cap of directions around its own (radius lambda; the
paper takes lambda ~ d^(1/4) for unit w, where the smoothing lifts the information exponent
k* to the correlational-query rate n ~ d^(k*/2)). A step estimates L_lambda's gradient by K =
``smoothing_draws`` independent draws Z_1..Z_K (in order from one stream of ``seed``; default
K = 1) and the mean over k of the gradient of L(W~(W, Z_k)) with Z_k held fixed: the gradient at
W~ pulled back through the normalisation, (w_j/|w_j|)(u_j . g_j) + (|w_j| / |v_j|)(I - u_j
u_j^T) g_j with v_j = w_j + lambda z_j, u_j = v_j / |v_j|, g_j = grad_{w~_j} L (the step's
loss is the mean of the K losses). One draw's noise is of order 1/lambda, where the exact
average's O(1/lambda) terms cancel: its variance is about sqrt(d) times the exact average's at
lambda = d^(1/4), which loses the rate's gain; K draws divide it by K (K of order sqrt(d)
matches the exact average), at K forward and gradient products per step.

**The average over Z in closed form** (``smoothing_draws=0``). Write w_j = rho w_hat (rho =
|w_j|) and v = w_j + lambda z_j; then |v|^2 = rho^2 + lambda^2 and w~_j = kappa (w_j + lambda z_j),
kappa = rho / sqrt(rho^2 + lambda^2), so the preactivation is p = kappa w_j . x + b_j + kappa
lambda zeta with zeta = z_j . x. Given x, zeta has mean 0 and variance q = (|x|^2 - (w_hat .
x)^2) / (d - 1) and is Gaussian to O(1/d) (a coordinate of a uniform point of a (d - 2)-sphere),
so with mu = kappa w_j . x + b_j, tau = kappa lambda sqrt(q), t = mu / tau,

    E_z relu(p) = g(mu, tau) = mu Phi(t) + tau phi(t)      (Phi, phi: the standard normal's
                                                          distribution and density).

A step then descends the squared loss of the Z-averaged network fbar(x) = sum_j c_j g(mu_j,
tau_j), (1/n_t) sum_i (fbar(x_i) - y_hat_i)^2. Its correlation part -2 y_hat fbar is E_Z of the
smoothed loss's exactly; E_Z L(W~) = L(fbar) + (1/n_t) sum_i sum_j c_j^2 Var_z relu(p_ij), so
the dropped term is the readout's squares times the draws' variance, O(c_j^2) (it would pull
each neuron toward smaller variance, not toward the target; zero for one neuron in the
correlation loss of Damian et al.). With dg/dmu = Phi(t), dg/dtau = phi(t), kappa' = d kappa /
d rho = lambda^2 / (rho^2 + lambda^2)^(3/2), s = w_hat . x, grad_w s = (x - s w_hat) / rho and
grad_w q = -2 s (x - s w_hat) / (rho (d - 1)), the gradient of neuron j is

    grad_{w_j} L = -(2/n_t) c_j [ sum_i r_i A_ij x_i + (sum_i r_i B_ij) w_hat_j ],
    A = kappa Phi - phi e,   B = Phi rho s kappa' + phi (lambda kappa' sqrt(q) + e s),
    e = lambda kappa s / (rho (d - 1) sqrt(q)),

r_i = y_hat_i - fbar(x_i) (the first terms are d mu = kappa x + rho s kappa' w_hat, the rest d
tau). Per chunk of rows that is one product X W^T (its rows' |x|^2 beside it) and one (A * r)^T
X, in the products' dtype and ctx's namespace, like the plain step; the (rows, m) elementwise
part (Phi by ``scipy.special.ndtr``, A, B, fbar) runs in float64 on the host, and the per-neuron
sums in float64. No draw of z is made (the step is deterministic); d >= 2. As lambda -> 0 it is
the squared loss's gradient (kappa -> 1, Phi(t) -> 1[mu > 0], phi(t) -> 0). The elementwise part
makes a step about 3x a squared-loss step at d = 256, m = 512 (session 8, load 12).

The trajectory (``trajectory_``, a :class:`Trajectory`): every ``record_every`` steps the
weight-space summaries of the papers above (overlaps, alignment, row norms, spikes of
W_t - W_0, training loss); the directions U come from ``target=`` or, in ``fit_stream``, from
the stream's target.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from ._progress import Progress
from ._validation import (
    MEMORY_RULES,
    RIDGE_RULES,
    SEED_RULES,
    Boolean,
    Callable,
    FloatDType,
    HasAttributes,
    InstanceOf,
    Interval,
    NoneRule,
    Options,
    as_float_array,
    check_dtype,
    check_int,
)
from .backend import FAMILIES
from .metrics import subspace_alignment
from .network import _residual_gradient, _TwoLayerBase

__all__ = ["MultiStepNetwork", "Trajectory"]

#: Batches at most this large run online SGD in the compiled loop on the host.
FUSED_MAX_BATCH = 64


# --------------------------------------------------------------------------- the trajectory
@dataclass
class Trajectory:
    """The first layer's path, recorded at steps ``step`` (K of them, 0 and T included).

    step : (K,) int, the t of each record (W_t after t steps).
    loss : (T,) float64, the training loss of step t's batch at W_t (before the step; for
        ``loss='smoothed'`` the mean over the step's draws of the loss at W~_t, or with
        ``smoothing_draws=0`` the squared loss of the Z-averaged network).
    lr : (T,) float64, the learning rate eta_t used (for ``lr='normalized'`` the one chosen).
    row_norms : (K, m) float64, |w_j| at each record.
    spike_values : (K, k) float64, the top k singular values of W_t - W_0 (k = min(m, d, r + 3),
        r = 3 without U), descending; zeros at t = 0.
    overlaps : (K, m, r) float64, M = W_t U^T (None without U).
    alignment : (K,) float64, ``fastrep.metrics.subspace_alignment(W_t, U)`` (None without U).
    spike_alignment : (K, k) float64, |U v_i|^2 for the right singular vector v_i of each spike
        (1: the spike lies in span(U); r/d: a random direction; None without U).
    """

    step: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    row_norms: np.ndarray
    spike_values: np.ndarray
    overlaps: np.ndarray | None = None
    alignment: np.ndarray | None = None
    spike_alignment: np.ndarray | None = None

    def to_dict(self) -> dict[str, np.ndarray | None]:
        """{field: array}: the arrays themselves (no copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Recorder:
    def __init__(self, W0, U, T):
        self.W0, self.U = W0, U
        m, d = W0.shape
        self.k = min(m, d, (U.shape[0] if U is not None else 0) + 3)
        self.rows: list[tuple] = []
        self.seconds = 0.0

    def record(self, t, W):
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging W is reported by the step
            self._record(t, W)
        self.seconds += time.perf_counter() - t0

    def _record(self, t, W):
        D = W - self.W0
        m, d = D.shape
        gram = D.T @ D if m >= d else D @ D.T
        if not np.all(np.isfinite(gram)):  # W overflowed: the step reports it; NaN here
            k, r = self.k, (self.U.shape[0] if self.U is not None else 0)
            nan = np.full(k, np.nan)
            self.rows.append((t, np.sqrt(np.sum(W**2, axis=1)), nan,
                              *((np.full((m, r), np.nan), np.nan, nan) if self.U is not None
                                else (None,) * 3)))
            return
        if m >= d:  # right singular vectors from the (d, d) Gram
            s2, V = np.linalg.eigh(gram)
            order = np.argsort(s2)[::-1][: self.k]
            s, V = np.sqrt(np.maximum(s2[order], 0.0)), V[:, order]
        else:
            s2, Q = np.linalg.eigh(gram)
            order = np.argsort(s2)[::-1][: self.k]
            s = np.sqrt(np.maximum(s2[order], 0.0))
            V = D.T @ Q[:, order]
            V /= np.where(s > 0, s, 1.0)
        norms = np.sqrt(np.sum(W**2, axis=1))
        if self.U is not None:
            M = W @ self.U.T
            align = subspace_alignment(W, self.U) if np.any(norms > 0) else 0.0
            spike_align = np.where(s > 0, np.sum((self.U @ V) ** 2, axis=0), 0.0)
        else:
            M = align = spike_align = None
        self.rows.append((t, norms, s, M, align, spike_align))

    def result(self, loss, lr):
        cols = list(zip(*self.rows, strict=True))
        has_u = self.U is not None
        return Trajectory(
            step=np.array(cols[0], dtype=np.int64), loss=loss, lr=lr,
            row_norms=np.stack(cols[1]), spike_values=np.stack(cols[2]),
            overlaps=np.stack(cols[3]) if has_u else None,
            alignment=np.array(cols[4], dtype=np.float64) if has_u else None,
            spike_alignment=np.stack(cols[5]) if has_u else None,
        )


# --------------------------------------------------------------------------- the estimator
_SCHEDULE = InstanceOf((list, tuple, np.ndarray), desc="a sequence of one value per step")


class _Diverged(ArithmeticError):
    """A step's loss or gradient is not finite (reported with the step and lr by the caller)."""


class MultiStepNetwork(_TwoLayerBase):
    """T gradient steps on the first layer (fresh batches, one reused batch, or online SGD),
    then ridge on the second layer. See the module docstring for the model, the protocols and
    the smoothed loss.

    Parameters
    ----------
    width : int (default 1000)
        m, the number of neurons (even with ``readout='symmetric'``).
    steps : int >= 1 (default 1)
        T, the number of first-layer steps.
    protocol : 'fresh' (default), 'reuse' or 'online'
        Which samples each step sees (module docstring).
    batch_size : int >= 1 or None
        B of ``protocol='online'`` (required there, unused otherwise).
    lr : 'normalized' (default), float > 0, a sequence of T floats, or a callable t -> float
        eta_t, t = 0..T-1. 'normalized' chooses eta_t so that the step eta_t grad has mean
        squared row norm 1 (Algorithm 1's default, the first author's code).
    weight_decay : 'auto' (default), 'inverse', float >= 0, a sequence of T floats, or a
        callable lam_t. 'inverse' is Algorithm 1's lam_t = 1/eta_t, which cancels W_t exactly
        (W_{t+1} = -eta_t grad); 0 is no decay (W_{t+1} = W_t - eta_t grad, GiantStep's steps);
        'auto' is 'inverse' for ``steps=1`` and 0 for ``steps > 1`` (a decay that cancels W_t
        throws away what the earlier steps learned).
    loss : 'squared' (default) or 'smoothed'
        The smoothed loss of Damian et al. 2023 (module docstring), radius ``smoothing``.
    smoothing : float > 0 or None
        lambda of ``loss='smoothed'``.
    smoothing_draws : int in 0..1024 (default 1)
        K, the draws of Z that each step of ``loss='smoothed'`` averages its gradient (and its
        loss) over: K independent draws, in order from one stream (module docstring). One
        draw's gradient noise is about 1/lambda per neuron, sqrt(d) times the exact average's
        variance at lambda = d^(1/4); K draws divide that variance by K, at K times a step's
        products. 0: the average over Z in closed form, no draws (the squared loss of the
        Z-averaged network; module docstring), at one step's products. Must be 1 with
        ``loss='squared'``.
    spherical : bool (default False)
        Project each row of W to the unit sphere after every step.
    readout : 'auto' (default), 'symmetric', 'gaussian' or 'rademacher'
        The initialisation of the second layer during the steps (module docstring); 'auto' is
        'symmetric' for ``steps=1`` and 'gaussian' for ``steps > 1``.
    bias : bool (default True)
        Neurons with biases b_j ~ N(0, 1); False gives b = 0 (bias-free neurons).
    rebias : bool, default False
        Re-draw b ~ N(0, 1) after the steps, as for :class:`fastrep.OneStepNetwork`.
    split : bool, default False
        Use the first n/2 samples for the steps and the rest for the ridge, as for
        :class:`fastrep.OneStepNetwork`.
    ridge : 'validate' or float, default 'validate'
        lambda of the second stage, >= 0, as for :class:`fastrep.OneStepNetwork`.
    center : bool, default True
        Remove the degree-0 and degree-1 label components first, as for
        :class:`fastrep.OneStepNetwork`.
    target : MultiIndexTarget, an (r, d) array with orthonormal rows, or None, default None
        The directions U that the trajectory measures overlaps against (``fit_stream`` takes
        the stream's target when this is None).
    record_every : int >= 1 or None, default None
        Record the trajectory every this many steps (and at T); None: every step for T <= 20,
        else about 20 records. A record costs a symmetric eigendecomposition of order min(m, d)
        (the spikes), about 0.1 s at m = 1024, d = 512: record rarely in long online runs.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        Arithmetic of the products, as for :class:`fastrep.OneStepNetwork`.
    backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
        The compute backend; ``backend_`` records what ran per operation family.
    seed : int, default 0
        Seed of the initialization (and of the re-drawn biases).
    chunk_size : int or None, default None
        Rows per chunk, as for :class:`fastrep.OneStepNetwork`.
    precision : {'highest', 'tf32'}, default 'highest'
        'tf32' lets cuBLAS run the float32 products on TF32 tensor cores, as for
        :class:`fastrep.OneStepNetwork`.
    max_memory : int or None, default None
        The fit's memory budget in bytes, as for :class:`fastrep.OneStepNetwork`.
    verbose : bool, default False
        Progress on stderr, as for :class:`fastrep.OneStepNetwork`.

    Attributes
    ----------
    W_, b_, a_, ridge_, label_mean_, label_linear_, ridge_path_, backend_, stream_cache_
        As for :class:`fastrep.OneStepNetwork`.
    lr_ : ndarray of shape (T,)
        The learning rates used (for ``lr='normalized'`` the ones chosen).
    weight_decay_ : ndarray of shape (T,)
        The weight decays used.
    readout_ : str
        The readout that ran ('auto' resolved).
    first_layer_a_ : ndarray of shape (m,)
        The readout a_j times its scale s used during the steps.
    trajectory_ : Trajectory
        The first layer's path, a ``fastrep.multistep.Trajectory`` (its ``step``, ``loss``,
        ``overlaps``, ``alignment``, ... arrays; ``docs/guide/multistep.md``).
    timings_ : dict
        Seconds per stage: 'labels', 'steps', 'trajectory' (the records, timed apart from the
        steps), 'features', 'ridge'.

    Notes
    -----
    A step whose W is not finite raises ``ValueError`` naming the step and ``lr``. With
    ``steps=1`` and the defaults it is :class:`fastrep.OneStepNetwork` bit for bit, and with
    ``protocol='fresh', readout='symmetric', weight_decay='inverse'``
    ``OneStepNetwork(steps=T)`` (which stays: it is Algorithm 1's documented generalisation,
    fresh batches with the paper's decay; this class is the general trainer). For ``steps > 1``
    the defaults are a Gaussian readout without decay (``readout='auto'``,
    ``weight_decay='auto'``): Algorithm 1's symmetric readout of scale 1 with its cancelling
    decay makes f of order m after the first step, and the training loss then grows.

    Examples
    --------
    >>> import fastrep
    >>> target = fastrep.MultiIndexTarget.single_index(16, "he2")
    >>> net = fastrep.MultiStepNetwork(width=32, steps=2, protocol="reuse", lr=0.3,
    ...                                weight_decay=0.0, ridge=1e-3)
    >>> net = net.fit_stream(fastrep.GaussianStream(target, seed=0), 2000)
    >>> net.trajectory_.step.tolist(), net.trajectory_.overlaps.shape
    ([0, 1, 2], (3, 32, 1))
    """

    _parameter_rules = {
        "width": [Interval("integer", 2, None)],
        "steps": [Interval("integer", 1, None)],
        "protocol": [Options("fresh", "reuse", "online")],
        "batch_size": [Interval("integer", 1, None), NoneRule()],
        "lr": [Options("normalized"), Interval("real", 0, None, closed="neither"), _SCHEDULE, Callable()],
        "weight_decay": [Options("auto", "inverse"), Interval("real", 0, None), _SCHEDULE, Callable()],
        "loss": [Options("squared", "smoothed")],
        "smoothing": [Interval("real", 0, None, closed="neither"), NoneRule()],
        "smoothing_draws": [Interval("integer", 0, 1024)],
        "spherical": [Boolean()],
        "readout": [Options("auto", "symmetric", "gaussian", "rademacher")],
        "bias": [Boolean()],
        "rebias": [Boolean()],
        "split": [Boolean()],
        "ridge": RIDGE_RULES,
        "center": [Boolean()],
        "target": [NoneRule(), HasAttributes("U", desc="a MultiIndexTarget"),
                   InstanceOf(np.ndarray, desc="an (r, d) array of directions")],
        "record_every": [Interval("integer", 1, None), NoneRule()],
        "dtype": [FloatDType()],
        "seed": SEED_RULES,
        "chunk_size": [Interval("integer", 1, None), NoneRule()],
        "precision": [Options("highest", "tf32")],
        "max_memory": MEMORY_RULES,
        "verbose": [Boolean()],
    }

    def __init__(self, width=1000, *, steps=1, protocol="fresh", batch_size=None, lr="normalized",
                 weight_decay="auto", loss="squared", smoothing=None, smoothing_draws=1,
                 spherical=False,
                 readout="auto", bias=True, rebias=False, split=False, ridge="validate", center=True,
                 target=None, record_every=None, dtype=np.float32, backend="auto", seed=0, chunk_size=None,
                 precision="highest", max_memory=None, verbose=False):
        self.width = width
        self.steps = steps
        self.protocol = protocol
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.smoothing = smoothing
        self.smoothing_draws = smoothing_draws
        self.spherical = spherical
        self.readout = readout
        self.bias = bias
        self.rebias = rebias
        self.split = split
        self.ridge = ridge
        self.center = center
        self.target = target
        self.record_every = record_every
        self.dtype = dtype
        self.backend = backend
        self.seed = seed
        self.chunk_size = chunk_size
        self.precision = precision
        self.max_memory = max_memory
        self.verbose = verbose

    # ----------------------------------------------------------------- parameters
    def _check_params(self):
        self.check_params()  # the rule table, by fastrep's one checker
        if self._readout() == "symmetric" and self.width % 2:
            raise ValueError("width must be even: the symmetric initialization pairs neuron j with "
                             f"j + width/2; got {self.width}")
        if self.protocol == "online" and self.batch_size is None:
            raise ValueError("batch_size must be an integer >= 1 with protocol='online'; got None")
        if self.loss == "smoothed" and self.smoothing is None:
            raise ValueError("smoothing must be a number > 0 with loss='smoothed'; got None")
        if self.loss != "smoothed" and self.smoothing_draws != 1:
            raise ValueError("smoothing_draws must be 1 unless loss='smoothed' (it counts the smoothed "
                             f"loss's draws of Z per step); got {self.smoothing_draws!r}")
        self._schedule("lr", self.lr)
        self._schedule("weight_decay", self._decay())
        return int(self.width), check_dtype(self.dtype)

    def _readout(self):
        """The readout that runs: 'auto' resolved by the number of steps."""
        if self.readout == "auto":
            return "symmetric" if int(self.steps) == 1 else "gaussian"
        return self.readout

    def _decay(self):
        """The weight decay that runs: 'auto' resolved by the number of steps."""
        if isinstance(self.weight_decay, str) and self.weight_decay == "auto":
            return "inverse" if int(self.steps) == 1 else 0.0
        return self.weight_decay

    def _schedule(self, name, value):
        """(T,) float64 of a schedule, NaN where it is a string ('normalized'/'inverse')."""
        T = int(self.steps)
        if isinstance(value, str):
            return np.full(T, np.nan)
        if callable(value):
            vals = [value(t) for t in range(T)]
        elif isinstance(value, (Sequence, np.ndarray)):
            vals = list(np.asarray(value, dtype=np.float64).reshape(-1))
            if len(vals) != T:
                raise ValueError(f"{name} must have one value per step (steps = {T}); got {len(vals)}")
        else:
            vals = [value] * T
        out = np.array(vals, dtype=np.float64)
        low_ok = out > 0 if name == "lr" else out >= 0
        if not np.all(np.isfinite(out) & low_ok):
            bad = int(np.flatnonzero(~(np.isfinite(out) & low_ok))[0])
            what = "> 0" if name == "lr" else ">= 0"
            raise ValueError(f"{name} must be finite and {what} at every step; "
                             f"got {out[bad]!r} at step {bad}")
        return out

    def _families(self):
        return {k: v for k, v in FAMILIES["OneStepNetwork"].items() if k != "stream"}

    def _directions(self, d):
        target = self.target if self.target is not None else getattr(self, "_stream_target", None)
        if target is None:
            return None
        U = getattr(target, "U", target)
        U = np.asarray(as_float_array(U, "target", ndim=2, dtype=np.float64, xp=np), dtype=np.float64)
        if U.shape[1] != d:
            raise ValueError(f"target has directions of dimension {U.shape[1]} but the data has d = {d}")
        return U

    # ----------------------------------------------------------------- public API
    def fit_stream(self, stream, n=None, **kwargs):
        """Fit on ``n`` rows of a stream, as :meth:`fastrep.OneStepNetwork.fit_stream` does.

        The trajectory's U is the stream's target's when ``target`` is None.

        Parameters
        ----------
        stream : GaussianStream, stream object or iterable of (X, y) chunks
            The training rows, as for :meth:`fastrep.OneStepNetwork.fit_stream`; its dtype
            must be the model's ``dtype``.
        n : int or None, default None
            The number of training rows, >= 1; None takes all the rows of an iterable of
            chunks (a stream object needs n).
        **kwargs
            ``n_val``, ``val`` and ``cache``, as for :meth:`fastrep.OneStepNetwork.fit_stream`.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            For an invalid parameter, ``n`` or keyword (named in the message), a stream whose
            dtype is not the model's ``dtype``, a step whose W is not finite, or a ``target``
            whose dimension is not the data's.
        TypeError
            For a ``stream`` that is neither a stream object nor an iterable of chunks.
        """
        self._stream_target = getattr(stream, "target", None)
        try:
            return super().fit_stream(stream, n, **kwargs)
        finally:
            self._stream_target = None

    def initialization(self, d, rng=None):
        """The network before training, float64 NumPy: {'W': (m, d), 'b': (m,), 'a': (m,)}, where
        'a' is the readout times its scale (the coefficient c_j of f = sum_j c_j relu(.)).

        'symmetric': Algorithm 1's draws, in its order (so the fits agree bit for bit);
        'gaussian': w_j ~ N(0, I/d), b_j ~ N(0, 1), a_j ~ N(0, 1/m), c_j = a_j / sqrt(m);
        'rademacher': the same with a_j = +-1/sqrt(m) (fair signs); 'auto' is resolved by
        ``steps`` (the class docstring). ``bias=False`` sets b = 0 (the draws of b are still
        made, so W does not change).

        Parameters
        ----------
        d : int
            The input dimension, >= 1.
        rng : numpy.random.Generator or None, default None
            The generator to draw from; None draws from ``seed``.

        Returns
        -------
        dict
            ``{'W': (m, d), 'b': (m,), 'a': (m,)}``, float64 NumPy arrays ('a' is the readout
            times its scale).

        Raises
        ------
        ValueError
            For ``d`` < 1 or an invalid ``width`` (named in the message).
        TypeError
            For a ``d`` that is not an integer.
        """
        d = check_int(d, "d", low=1)
        width = int(self.width)
        rng = np.random.default_rng(self.seed) if rng is None else rng
        readout = self._readout()
        if readout == "symmetric":
            init = super().initialization(d, rng)
        else:
            W = rng.standard_normal((width, d)) / math.sqrt(d)
            b = rng.standard_normal(width)
            if readout == "gaussian":
                a = rng.standard_normal(width) / math.sqrt(width)
            else:  # 'rademacher': fair signs
                a = np.where(rng.random(width) < 0.5, -1.0, 1.0) / math.sqrt(width)
            init = {"W": W, "b": b, "a": a / math.sqrt(width)}
        if not self.bias:
            init["b"] = np.zeros(width)
        return init

    # ----------------------------------------------------------------- the algorithm
    def _fit(self, ctx, src, n, val):
        """Initialization, label statistics, T steps, ridge head."""
        rng = np.random.default_rng(self.seed)
        self._ctx, self.timings_ = ctx, {}
        self._progress = Progress(self.verbose, type(self).__name__)
        with ctx.precision(self.precision), ctx.workspace(self.max_memory):
            d = self.n_features_in_
            init = self.initialization(d, rng)
            U = self._directions(d)
            stage1, stage2 = self._stages(n)
            with self._stage("labels", "label statistics"):
                data = self._label_stats(ctx, src, n)
            with self._stage("steps", f"{self.steps} first-layer steps ({self.protocol})"):
                W, paired, sgd = self._steps(ctx, data, stage1, init, U)
            # the trajectory's records are timed apart from the steps they interleave with
            self.timings_["trajectory"] = self._record_seconds
            self.timings_["steps"] -= self._record_seconds
            b = rng.standard_normal(W.shape[0]) if self.rebias else init["b"]
            self.W_, self.first_layer_a_, self.n_samples_, self.b_ = W, init["a"], n, b
            self.readout_ = self._readout()
            self._paired = paired
            self._W_features = W[: W.shape[0] // 2] if paired else W
            self._ridge_head(ctx, data, stage2, val)
        self.backend_ = {**ctx.backend_, **({"sgd": sgd} if sgd else {})}
        return self

    def _batches(self, rows):
        """[(lo, hi)] of each step."""
        T, (lo, hi) = int(self.steps), rows
        if self.protocol == "reuse":
            if hi - lo < 1:
                raise ValueError("protocol='reuse' needs at least 1 stage-1 sample")
            return [(lo, hi)] * T
        if self.protocol == "fresh":
            bounds = np.linspace(lo, hi, T + 1).astype(int)
            if np.any(np.diff(bounds) < 1):
                raise ValueError(f"steps={T} needs at least {T} stage-1 samples; got {hi - lo}")
            return [(int(bounds[t]), int(bounds[t + 1])) for t in range(T)]
        B = int(self.batch_size)
        if T * B > hi - lo:
            raise ValueError(f"steps * batch_size = {T * B} stage-1 samples are needed with "
                             "protocol='online'; "
                             f"got {hi - lo} (steps={T}, batch_size={B})")
        return [(lo + t * B, lo + (t + 1) * B) for t in range(T)]

    def _record_steps(self):
        T = int(self.steps)
        every = self.record_every or (1 if T <= 20 else max(1, T // 20))
        return every

    def _use_fused(self, ctx):
        """Whether online SGD runs in ``fastrep._kernels.sgd`` (the compiled loop for B <= 64,
        BLAS products with compiled passes above): on the host, squared loss, a given lr, and a
        compiled backend chosen for the step (the reference backend keeps the generic step)."""
        if not (self.protocol == "online" and ctx.on_host
                and self.loss == "squared" and not isinstance(self.lr, str)
                and ctx["onestep"].name in ("cpp", "numba")):
            return False
        try:
            from ._kernels import sgd  # noqa: F401
        except ImportError:
            return False
        return True

    def _steps(self, ctx, data, rows, init, U):
        """W after T steps (float64, host), whether it is paired, and the fused loop's name."""
        T = int(self.steps)
        batches = self._batches(rows)
        eta = self._schedule("lr", self.lr)
        decay = self._decay()
        lam = self._schedule("weight_decay", decay)
        inverse = isinstance(decay, str)
        symmetric = self._readout() == "symmetric"
        W, coef = init["W"].copy(), init["a"]
        loss = np.full(T, np.nan)
        rec = _Recorder(W.copy(), U, T)
        every = self._record_steps()
        rec.record(0, W)
        if self._use_fused(ctx):
            W = self._fused_online(ctx, data, batches, W.copy(), init, eta, lam, inverse, loss, rec, every)
            self.lr_, self.weight_decay_ = eta, (1.0 / eta if inverse else lam)
            self.trajectory_ = rec.result(loss, eta.copy())
            self._record_seconds = rec.seconds
            return W, False, "numba"
        b_dev, c_dev = ctx.asarray(init["b"]), ctx.asarray(coef)
        z_rng = np.random.default_rng([int(self.seed), 1])  # the smoothing's draws; init's stay as they are
        lr_used = np.empty(T)
        for t, (lo, hi) in enumerate(batches):
            chunks = self._rows(data.chunks(lo, hi, ctx.chunk), hi - lo, f"step {t + 1} of {T}")
            # f = 0 at the symmetric init: the second half's gradient is minus the first's
            half_only = t == 0 and symmetric and self.loss == "squared"
            try:
                W, loss[t], lr_used[t] = self._step(ctx, chunks, hi - lo, W, t, eta, lam, coef, b_dev, c_dev,
                                                    z_rng, half_only)
            except _Diverged as exc:
                j = int(np.argmax(lr_used[:t])) if t else 0
                raise ValueError(f"step {t + 1} of {T}: {exc}; the largest lr so far is lr at step {j} = "
                                 f"{lr_used[j] if t else eta[0]:.4g}: lower lr") from None
            if (t + 1) % every == 0 or t + 1 == T:
                rec.record(t + 1, W)
        self.lr_ = lr_used
        self.weight_decay_ = 1.0 / lr_used if inverse else lam
        self.trajectory_ = rec.result(loss, lr_used.copy())
        self._record_seconds = rec.seconds
        paired = T == 1 and symmetric and inverse and self.loss == "squared"
        return W, paired, None

    def _step(self, ctx, chunks, n_t, W, t, eta, lam, coef, b_dev, c_dev, z_rng, half_only=False):
        """One step from W (float64 host) over ``chunks`` of (X, y_hat): (W_{t+1}, loss_t, eta_t)."""
        T = int(self.steps)
        ops = ctx["onestep"]
        h = W.shape[0] // 2
        draws = int(self.smoothing_draws) if self.loss == "smoothed" else 1
        closed = draws == 0  # the average over Z in closed form
        W_eval, pull = W, None
        Wd = bd = part = None  # K = 0 or K > 1 draws of Z: in their own functions below
        if draws == 1:
            if self.loss == "smoothed":
                W_eval, pull = _smoothed_point(W, float(self.smoothing), z_rng)
            if half_only:
                Wd, bd, part = ctx.asarray(W_eval[:h]), b_dev[:h], slice(0, h)
            else:
                Wd, bd, part = ctx.asarray(W_eval), b_dev, slice(None)
        Gacc, sq = None, 0.0
        normalized = isinstance(self.lr, str)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, by name
            if closed:
                Gs, sq = _closed_form_smoothed_gradient(ctx, chunks, W, float(self.smoothing), b_dev, coef)
            elif draws > 1:
                Gs, sq = _averaged_smoothed_gradient(ctx, chunks, W, float(self.smoothing), draws, z_rng,
                                                     b_dev, c_dev, coef)
            elif half_only:  # f = 0: Algorithm 1's first step, on the first half of the neurons
                for Xc, r in chunks:
                    sq += float(ctx.xp.sum(ctx.xp.astype(r, ctx.xp.float64) ** 2))
                    Gacc = ops.onestep_gradient(Xc, Wd, bd, r, acc=Gacc)
            else:
                Gacc, sq = _residual_gradient(ctx, chunks, Wd, bd, c_dev)
            if Gacc is not None:
                # -(n_t / 2) grad, and for a given lr the step itself, eta_t (2 / n_t) c_j sum_i ...:
                # one float64 pass (with c_j = +-1 the same bits as scaling twice, Algorithm 1's order)
                scale_rows = (coef[part] if normalized or pull is not None
                              else float(eta[t]) * (2.0 / n_t) * coef[part])
                Gs = np.multiply(ctx.host(Gacc), scale_rows[:, None], dtype=np.float64)
                if half_only:
                    Gs = np.concatenate([Gs, -Gs])
                if pull is not None:
                    Gs = pull(Gs)
        if not math.isfinite(sq):
            raise _Diverged(f"the loss at W_{t} is not finite (W grew until the products overflowed)")
        with np.errstate(over="ignore", invalid="ignore"):
            if normalized:  # the step has mean squared row norm 1
                scale = math.sqrt(float(np.mean(np.sum(Gs**2, axis=1))))
                if scale == 0.0:
                    raise ValueError(f"step {t + 1} of {T}: the gradient is zero (the residuals carry no "
                                     "signal: too few samples, or no degree >= 2 part in the target); "
                                     "lr='normalized' cannot scale it")
                step = Gs / scale
                eta_t = n_t / (2.0 * scale)
            else:
                eta_t = float(eta[t])
                step = Gs
                if self.loss == "smoothed":  # pulled back unscaled: the lr here
                    step *= eta_t * (2.0 / n_t)
            if isinstance(self._decay(), str):  # 'inverse': the decay cancels W_t
                W = step
            else:  # in place: W is this fit's own array (a fresh (m, d) a step costs page faults)
                if lam[t] != 0.0:
                    W *= 1.0 - eta_t * lam[t]
                W += step
            if self.spherical:
                norms = np.sqrt(np.einsum("ij,ij->i", W, W))[:, None]
                W /= np.where(norms > 0, norms, 1.0)
                ww = float(np.sum(norms))
            else:
                ww = float(np.vdot(W, W))
        if not math.isfinite(ww):
            raise ValueError(f"step {t + 1} of {T} made W non-finite (overflow): lr is too large there "
                             f"(lr at step {t} = {eta_t:.4g}); lower lr")
        return W, sq / n_t, eta_t

    def gradient_step(self, X, y, W, t=0):
        """One step of this trainer's rule from ``W`` on the batch (X, y).

        b and the readout are the initialization's (from ``seed``); the arithmetic, backend
        and dtype are the fit's (the products in ``dtype``, the update in float64), so a fit's
        step t from W_t is this call.

        Parameters
        ----------
        X : array of shape (n, d)
            The batch's inputs.
        y : array of shape (n,)
            Its labels as the step sees them (already centred).
        W : array of shape (width, d)
            The current first layer (not modified).
        t : int, default 0
            The step's index in the ``lr`` and ``weight_decay`` schedules.

        Returns
        -------
        W_next : ndarray of shape (width, d)
            float64.
        loss : float
            The batch's mean squared residual at W (at the smoothed point for
            ``loss='smoothed'``, the mean over ``smoothing_draws`` draws from ``seed``; with
            ``smoothing_draws=0`` the residual of the Z-averaged network).

        Raises
        ------
        ValueError
            For a W of another shape, a t outside the schedules, or a step that is not finite.

        Examples
        --------
        >>> import numpy as np, fastrep
        >>> X, y = fastrep.MultiIndexTarget.single_index(8, "he2").sample(100, 0)
        >>> net = fastrep.MultiStepNetwork(width=4, lr=0.1, weight_decay=0.0)
        >>> W1, loss = net.gradient_step(X, y, net.initialization(8)["W"])
        >>> W1.shape
        (4, 8)
        """
        _, dtype = self._check_params()
        X, y = self._validate_xy(X, y, "X", "y", reset=False, d=np.shape(X)[1] if np.ndim(X) == 2 else None)
        d = X.shape[1]
        W = np.array(as_float_array(W, "W", ndim=2, dtype=np.float64, xp=np), dtype=np.float64)
        if W.shape != (int(self.width), d):
            raise ValueError(f"W must have shape (width, d) = ({self.width}, {d}); got {W.shape}")
        t = check_int(t, "t", low=0, high=int(self.steps) - 1)
        ctx = self._context(dtype, d, X.shape[0], X, y)
        init = self.initialization(d)
        eta = self._schedule("lr", self.lr)
        lam = self._schedule("weight_decay", self._decay())
        z_rng = np.random.default_rng([int(self.seed), 1, t])
        with ctx.precision(self.precision):
            try:
                W_next, loss, _ = self._step(ctx, [(X, y)], X.shape[0], W, t, eta, lam, init["a"],
                                             ctx.asarray(init["b"]), ctx.asarray(init["a"]), z_rng)
            except _Diverged as exc:
                raise ValueError(f"W: {exc}; W is too large (an earlier lr too large)") from None
        return W_next, loss

    def _fused_online(self, ctx, data, batches, W, init, eta, lam, inverse, loss, rec, every):
        """Online SGD in ``fastrep._kernels.sgd``, chunk by chunk; rows that end a chunk mid-batch
        are carried to the next one. Records after each segment of ``every`` steps. B <= 64: the
        compiled loop in float64; larger B: ``BatchSGD`` (BLAS products in the data's dtype,
        the float64 update fused with its cast)."""
        from ._kernels.sgd import BatchSGD, online_sgd

        B, T = int(self.batch_size), int(self.steps)
        lo, hi = batches[0][0], batches[-1][1]
        b, c = np.ascontiguousarray(init["b"]), np.ascontiguousarray(init["a"])
        spherical = bool(self.spherical)
        if B <= FUSED_MAX_BATCH:
            work = np.float64

            def run(X, y, t):
                return online_sgd(X, y, W, b, c, eta, lam, t, B, inverse, spherical, loss)
        else:
            work = ctx.dtype
            runner = BatchSGD(W, b, c, B, ctx.dtype)

            def run(X, y, t):
                return runner.run(X, y, eta, lam, t, inverse, spherical, loss)
        chunk = max(B, (ctx.chunk // B) * B)
        carry_X = carry_y = None
        t = 0
        for Xc, yc in self._rows(data.chunks(lo, hi, chunk), hi - lo, "online SGD"):
            Xw = np.asarray(ctx.host(Xc), dtype=work)
            yw = np.asarray(ctx.host(yc), dtype=work)
            if carry_X is not None:
                Xw, yw = np.concatenate([carry_X, Xw]), np.concatenate([carry_y, yw])
            usable = (Xw.shape[0] // B) * B
            pos = 0
            while pos < usable:
                # run to the next record point
                nxt = min(((t // every) + 1) * every, T)
                nb = min((usable - pos) // B, nxt - t)
                bad = run(Xw[pos:pos + nb * B], yw[pos:pos + nb * B], t)
                if bad >= 0:
                    raise ValueError(f"step {bad + 1} of {T} made W non-finite (overflow): lr is too large "
                                     f"there (lr at step {bad} = {eta[bad]:.4g}); lower lr")
                t += nb
                pos += nb * B
                if t % every == 0 or t == T:
                    rec.record(t, W.copy())
            carry_X, carry_y = Xw[usable:], yw[usable:]
            if carry_X.shape[0] == 0:
                carry_X = carry_y = None
        return W


def _averaged_smoothed_gradient(ctx, chunks, W, lam, K, z_rng, b_dev, c_dev, coef):
    """(mean_k pull_k(c_j G_k), mean_k sum_i r_ki^2) at K smoothed points of W (the K draws of
    :func:`_smoothed_point` in order, one fill of ``z_rng``). One pass over ``chunks``; per chunk
    the K points' products are stacked, draws in groups of at most max(1, 4096 // m) so a
    chunk's (rows, group * m) products stay small: X W~^T for all of them, the K residuals
    r_k = y - relu(X W~_k^T + b) c, and one (mask * r)^T X. G_k summed over chunks in float64."""
    xp = ctx.xp
    m, d = W.shape
    W_eval, pull = _smoothed_point(W, lam, z_rng, draws=K)
    group = max(1, min(K, 4096 // m))
    parts = []
    for k0 in range(0, K, group):
        kg = min(group, K - k0)
        parts.append((k0, kg, ctx.asarray(W_eval[k0:k0 + kg].reshape(kg * m, d)),
                      xp.concat([b_dev] * kg)))
    G = np.zeros((K, m, d))
    sq = np.zeros(K)
    zero = None
    for Xc, yc in chunks:
        n = Xc.shape[0]
        for k0, kg, Wg, bg in parts:
            P = Xc @ Wg.T + bg
            if zero is None:
                zero = xp.zeros((), dtype=P.dtype)
            R = yc[:, None] - xp.reshape(xp.maximum(P, zero), (n, kg, m)) @ c_dev  # (n, kg)
            R_cols = xp.reshape(xp.broadcast_to(R[:, :, None], (n, kg, m)), (n, kg * m))
            mask_r = xp.where(P > 0, R_cols, zero)
            G[k0:k0 + kg] += np.asarray(ctx.host(mask_r.T @ Xc), dtype=np.float64).reshape(kg, m, d)
            sq[k0:k0 + kg] += np.asarray(ctx.host(xp.sum(xp.astype(R, xp.float64) ** 2, axis=0)))
    Gs = pull(np.multiply(G, coef[:, None], dtype=np.float64))
    return np.mean(Gs, axis=0), float(np.mean(sq))


def _smoothed_point(W, lam, rng, draws=None):
    """(W~, pullback) of the smoothed loss: one draw z_j per neuron, uniform on the unit sphere
    of w_j's orthogonal complement; pullback maps the gradient at W~ to W (z held fixed).
    ``draws=K``: K points at once, W~ of shape (K, m, d) and a pullback of (K, m, d) gradients,
    the same numbers as K calls in order (one fill of ``rng``)."""
    xi = rng.standard_normal(W.shape if draws is None else (int(draws), *W.shape))
    rho = np.sqrt(np.sum(W**2, axis=-1, keepdims=True))
    safe = np.where(rho > 0, rho, 1.0)
    w_hat = W / safe
    z = xi - np.sum(xi * w_hat, axis=-1, keepdims=True) * w_hat
    z /= np.sqrt(np.sum(z**2, axis=-1, keepdims=True))
    v = W + lam * z
    nv = np.sqrt(np.sum(v**2, axis=-1, keepdims=True))
    u = v / nv
    W_eval = rho * u

    def pull(g):
        ug = np.sum(u * g, axis=-1, keepdims=True)
        return w_hat * ug + (rho / nv) * (g - u * ug)

    return W_eval, pull


#: q = |P x|^2 / (d - 1) and tau are clipped below here (an x along w_hat; a zero row)
_Q_FLOOR = 1e-300

#: The closed form's elementwise part runs on blocks of about this many (row, neuron) entries, so
#: its float64 temporaries stay in cache instead of being fresh (rows, m) arrays per operation.
_BLOCK_ENTRIES = 1 << 14

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _smoothed_terms(wx, nx2, rho, b, lam, d):
    """The closed form of the average over z of one neuron's ReLU, host float64, per (row, neuron).

    ``wx`` (n, m): w_j . x_i; ``nx2`` (n,): |x_i|^2; ``rho`` (m,): |w_j|; ``b`` (m,); the radius
    ``lam``; the dimension ``d`` >= 2. With kappa = rho / sqrt(rho^2 + lam^2), s = w_hat . x,
    q = (|x|^2 - s^2) / (d - 1), mu = kappa w . x + b, tau = kappa lam sqrt(q), t = mu / tau:
    returns (g, A, B) with g = E_z relu(.) = mu Phi(t) + tau phi(t) and the gradient
    grad_w g = A x + B w_hat (module docstring, "the average over Z in closed form")."""
    from scipy.special import ndtr

    rho = np.asarray(rho, dtype=np.float64)
    safe = np.where(rho > 0, rho, 1.0)
    h2 = rho**2 + lam**2
    kappa = rho / np.sqrt(h2)
    dkappa = lam**2 / h2**1.5  # d kappa / d rho
    s = wx * (1.0 / safe)
    sqrt_q = s * s  # in place from here: q, then sqrt(q)
    np.subtract(nx2[:, None], sqrt_q, out=sqrt_q)
    sqrt_q *= 1.0 / (d - 1)
    np.maximum(sqrt_q, _Q_FLOOR, out=sqrt_q)
    np.sqrt(sqrt_q, out=sqrt_q)
    mu = wx * kappa
    mu += b
    tau = sqrt_q * (kappa * lam)
    np.maximum(tau, _Q_FLOOR, out=tau)  # a zero row (kappa = 0): relu(b), not 0/0
    t = mu / tau
    Phi = ndtr(t)
    phi = np.multiply(t, t, out=t)
    phi *= -0.5
    with np.errstate(under="ignore"):
        np.exp(phi, out=phi)
    phi *= _INV_SQRT_2PI
    g = mu * Phi
    g += tau * phi
    # d tau along x: -lam kappa s / (rho (d - 1) sqrt q) = -e (through q); along w_hat:
    # lam kappa' sqrt q + e s; d mu = kappa x + rho s kappa' w_hat
    e = s / sqrt_q
    e *= lam * kappa / (safe * (d - 1))
    A = Phi * kappa
    A -= phi * e
    e *= s
    sqrt_q *= lam * dkappa
    sqrt_q += e
    sqrt_q *= phi
    B = np.multiply(Phi, s, out=Phi)
    B *= rho * dkappa
    B += sqrt_q
    return g, A, B


def _closed_form_smoothed_gradient(ctx, chunks, W, lam, b_dev, coef):
    """(c_j [sum_i r_i A_ij x_i + (sum_i r_i B_ij) w_hat_j], sum_i r_i^2), float64 host, for the
    squared loss of the Z-averaged network fbar (``smoothing_draws=0``; module docstring); r is
    the residual y - fbar. Per chunk one product X W^T and one (A * r)^T X in ctx's dtype and
    namespace; the (rows, m) elementwise part in float64 on the host (:func:`_smoothed_terms`),
    in blocks of rows of about :data:`_BLOCK_ENTRIES` entries."""
    xp = ctx.xp
    m, d = W.shape
    if d < 2:
        raise ValueError("smoothing_draws=0 needs d >= 2 (z lives in w's orthogonal complement); "
                         f"got d = {d}")
    rho = np.sqrt(np.einsum("ij,ij->i", W, W))
    w_hat = W / np.where(rho > 0, rho, 1.0)[:, None]
    b = np.asarray(ctx.host(b_dev), dtype=np.float64)
    Wd = ctx.asarray(W)
    Gx = np.zeros((m, d))
    Gw = np.zeros(m)
    sq = 0.0
    rows = max(1, _BLOCK_ENTRIES // m)
    for Xc, yc in chunks:
        P = ctx.host(Xc @ Wd.T)
        nx2 = np.asarray(ctx.host(xp.sum(Xc * Xc, axis=1)), dtype=np.float64)
        y = np.asarray(ctx.host(yc), dtype=np.float64)
        Ar = np.empty(P.shape, dtype=P.dtype)  # A_ij r_i, in the products' dtype
        for lo in range(0, P.shape[0], rows):
            hi = min(lo + rows, P.shape[0])
            g, A, B = _smoothed_terms(np.asarray(P[lo:hi], dtype=np.float64), nx2[lo:hi], rho, b, lam, d)
            r = y[lo:hi] - g @ coef
            sq += float(r @ r)
            Gw += r @ B
            np.multiply(A, r[:, None], out=Ar[lo:hi], casting="same_kind")
        Gx += np.asarray(ctx.host(ctx.asarray(Ar).T @ Xc), dtype=np.float64)
    return coef[:, None] * (Gx + Gw[:, None] * w_hat), sq
