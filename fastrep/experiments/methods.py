"""The method registry: sweep method names -> importable cell functions.

A cell function takes the cell's ``params`` (see :class:`~.spec.Cell`) and returns a dict:

``excess_error``  float, test MSE against the noiseless f* over E[f*^2];
``alignment``     float or None, the subspace alignment of the learned W with U;
``timings``       dict stage -> seconds (``data``, ``fit`` and the learner's own stages, ``evaluate``);
``backend``       str or None: JSON of the fitted learner's ``backend_`` (operation family ->
                  backend that ran), None when the learner does not record it;
``extra``         dict of anything else worth keeping (chosen ridge, n_s, ...); when validation
                  chose an end of the lambda grid, ``ridge_at_grid_edge`` is ``'min'`` or
                  ``'max'`` (the :class:`fastrep.RidgeGridEdgeWarning` is recorded, not raised:
                  noiseless targets end at the minimum in most cells, and the report counts them).
``trajectory``    optional: list of dicts, the rows of the store's ``trajectories`` table (one per
                  recorded step of the first layer; :func:`trajectory_rows`), written in the
                  cell's own transaction.

The registry stores *import paths* (``"module:function"``), never function objects, so a
spawned worker process or a Dask worker imports the same function by name. Register your
own with :func:`register_method`.

Every random draw of a cell derives from its ``seed`` through :func:`derive_seed`:
the target's U (shared by every method and n at the same (d, seed), so curves are
comparable), the training stream (also shared: n = 1000 is a prefix of n = 2000),
the learner's initialization and the test set.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import json
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .._validation import ParameterError
from .presets import TARGET_PRESETS, build_target, derive_seed

__all__ = [
    "METHODS",
    "TARGET_PRESETS",
    "Method",
    "OptionError",
    "build_target",
    "check_options",
    "derive_seed",
    "register_method",
    "resolve_function",
]


@dataclass(frozen=True)
class Method:
    """A registered method.

    ``func``: ``"module:function"`` of the cell function. ``estimator``: ``"module:Class"``
    whose ``__init__`` keywords are the allowed options (checked, with its own parameter
    validation, before a sweep runs; its defaults are filled into every cell), or None to
    accept any options. ``kernel``: a rotation-invariant kernel method (plots draw the
    staircase prediction on its panel). ``cost``: ``"cubic"`` (exact kernel solve),
    ``"network"``, ``"multistep"`` (T first-layer steps) or ``"linear"``: which cost model
    estimates its cells (see :mod:`.plan`).
    ``forbidden``: keywords the sweep sets per cell. ``defaults``: the cell function's own
    defaults where they differ from the estimator's (transfer re-draws the biases).
    """

    name: str
    func: str
    estimator: str | None = None
    kernel: bool = False
    cost: str = "linear"
    forbidden: tuple[str, ...] = ("seed",)
    defaults: dict = field(default_factory=dict)


#: The method registry: the names a sweep's ``method`` key may take -> their ``Method``
#: (cell function, estimator, cost model). Filled with fastrep's seven methods (onestep,
#: multistep, random_features, ntk, nngp, oracle, transfer); add your own with :func:`register_method`.
METHODS: dict[str, Method] = {}

#: learner parameters that change how a fit reports, never what it computes: accepted as
#: options, kept out of a cell's identity (two specs differing only in them share their cells)
#: and not passed to the cells (a sweep shows its own progress bar)
NOT_IDENTITY = ("verbose", "store_kernel")  # neither changes a result's bits

#: the cost models of :mod:`.plan` a method may name
COST_MODELS = ("cubic", "network", "multistep", "linear")


def register_method(
    name: str,
    func: str,
    *,
    estimator: str | None = None,
    kernel: bool = False,
    cost: str = "linear",
    forbidden: tuple[str, ...] = ("seed",),
    defaults: dict | None = None,
    replace: bool = False,
) -> Method:
    """Add a method to :data:`METHODS`, the names a sweep's ``method`` may take.

    Parameters
    ----------
    name : str
        The method's name in a spec (``[methods.<label>] method = "<name>"``), non-empty.
    func : str
        ``"module:function"``, the import path of the cell function (it takes a cell's
        ``params`` and returns its result dict; see ``fastrep.experiments.methods``).
        A path, not a function, so that worker processes import it by name.
    estimator : str or None, default None
        ``"module:Class"`` whose ``__init__`` keywords are the allowed options (checked, with
        its own parameter validation, before a sweep runs; its defaults are filled into every
        cell), or None to accept any options.
    kernel : bool, default False
        Whether it is a rotation-invariant kernel method (the plots draw the staircase
        prediction on its panel).
    cost : {'linear', 'network', 'multistep', 'cubic'}, default 'linear'
        The cost model that estimates its cells (see ``fastrep.experiments.plan``).
    forbidden : tuple of str, default ('seed',)
        Keywords the sweep sets per cell, refused as options.
    defaults : dict or None, default None
        The cell function's own defaults where they differ from the estimator's.
    replace : bool, default False
        Replace a method registered under the same name.

    Returns
    -------
    Method
        The registered entry (also ``METHODS[name]``).

    Raises
    ------
    ValueError
        For an empty ``name``, a ``func`` that is not ``"module:function"``, an unknown
        ``cost``, or a ``name`` already registered without ``replace=True``.

    Examples
    --------
    >>> from fastrep.experiments import METHODS, register_method
    >>> m = register_method("rf_wide", "fastrep.experiments.methods:run_random_features",
    ...                     estimator="fastrep:RandomFeaturesRegressor", cost="network",
    ...                     defaults={"width": 4000})
    >>> METHODS["rf_wide"].defaults
    {'width': 4000}
    >>> del METHODS["rf_wide"]  # leave the registry as it was
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(func, str) or ":" not in func:
        raise ValueError(f"func must be an import path 'module:function' (workers import it); got {func!r}")
    if cost not in COST_MODELS:
        raise ValueError(f"cost must be one of {', '.join(map(repr, COST_MODELS))}; got {cost!r}")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to override it")
    m = Method(name, func, estimator, kernel, cost, tuple(forbidden), dict(defaults or {}))
    METHODS[name] = m
    return m


def resolve_function(path: str):
    """Import ``"module:attr"`` (dotted attributes allowed)."""
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class OptionError(ValueError):
    """A method option the learner refuses; ``option`` names it (None: the options as a whole)."""

    def __init__(self, option: str | None, message: str):
        self.option = option
        super().__init__(message)


def _plain(value, option: str):
    """A learner parameter as JSON-ready data (dtypes by name), or OptionError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (type, np.dtype)):
        try:
            return np.dtype(value).name
        except TypeError:
            pass
    if isinstance(value, (list, tuple)):
        return [_plain(v, option) for v in value]
    raise OptionError(option, f"the default {value!r} cannot be stored in a results store")


def _check_backend(options: dict) -> None:
    from ..backend import BACKENDS, backends

    name = options.get("backend", "auto")
    if name is None or name == "auto":
        return
    if name not in BACKENDS:
        raise OptionError(
            "backend", f"must be 'auto' or one of {', '.join(map(repr, BACKENDS))}; got {name!r}"
        )
    state = backends().get(name, "unknown")
    if state != "available":
        raise OptionError("backend", f"{name!r} cannot run here: {state}")


def check_options(method: str, options: dict, *, target=None, n: int = 1) -> dict:
    """The options of ``method`` with the learner's defaults filled in, checked by the learner.

    Builds the estimator with ``options`` and runs its own parameter validation (nothing
    is fitted). ``target``: a :class:`fastrep.MultiIndexTarget` for learners built on one
    (the oracle); ``n``: the largest training size, for learners that check their memory
    against it. Returns every parameter of the estimator but the per-cell ones, as
    JSON-ready values, so two spellings of one setting give one cell identity; parameters in
    :data:`NOT_IDENTITY` (``verbose``, ``store_kernel``) are accepted and left out. Raises
    :class:`OptionError` naming the option.
    """
    m = METHODS[method]
    for k in options:
        if k in m.forbidden:
            raise OptionError(k, f"is set per cell by the sweep, not by {method} options")
    if m.estimator is None:
        return dict(options)
    try:
        cls = resolve_function(m.estimator)
    except (ImportError, AttributeError) as exc:
        raise OptionError(
            None,
            f"method {method!r} needs {m.estimator.replace(':', '.')}, "
            f"which this fastrep cannot import ({exc})",
        ) from None
    params = inspect.signature(cls.__init__).parameters
    params = {k: v for k, v in params.items() if k != "self"}
    allowed = set(params) - set(m.forbidden)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        for k in options:
            if k not in allowed:
                raise OptionError(
                    k, f"unknown option for {method}; expected one of {', '.join(sorted(allowed))}"
                )
    own = {k: v for k, v in options.items() if k not in m.defaults}
    # built on the target (the oracle: its first argument), not given it as an option (multistep)
    on_target = "target" in m.forbidden and next(iter(params), None) == "target"
    try:
        est = cls(target, **own) if on_target else cls(**own)
        if on_target:  # checked against the target and n
            if target is not None and callable(getattr(est, "check_fit", None)):
                est.check_fit(target.d, n)
        elif callable(getattr(est, "check_params", None)):
            est.check_params()
    except ParameterError as exc:
        raise OptionError(exc.parameter, str(exc)) from None
    except (TypeError, ValueError, MemoryError) as exc:  # beyond the table (d, memory)
        raise OptionError(None, str(exc)) from None
    filled = {k: _plain(v, k) for k, v in est.get_params(deep=False).items()
              if k not in m.forbidden and k not in NOT_IDENTITY}
    for k, v in m.defaults.items():
        if k in options and type(options[k]) is not type(v):
            raise OptionError(k, f"must be a {type(v).__name__} like its default {v!r}; got {options[k]!r}")
        filled[k] = options.get(k, v)
    _check_backend(filled)
    return dict(sorted(filled.items()))


def _backend_json(model) -> str | None:
    """What ran, as the fitted learner records it (``backend_``: operation family -> backend)."""
    used = getattr(model, "backend_", None)
    if used is None:
        return None
    return json.dumps(used, sort_keys=True)


def _data(target, params):
    """(X, y, X_val, y_val): training prefix of length n and the validation split."""
    from ..data import GaussianStream

    stream = GaussianStream(target, seed=derive_seed(params["seed"], "data"))
    X, y = stream.take(params["n"])
    Xv, yv = stream.val().take(params["evaluation"]["n_val"])
    return X, y, Xv, yv


@contextlib.contextmanager
def _grid_edge(extra: dict):
    """Record a :class:`fastrep.RidgeGridEdgeWarning` of the block in ``extra`` instead of raising it.

    Other warnings go through the filters as usual (re-issued after the block).
    """
    from ..ridge import RidgeGridEdgeWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RidgeGridEdgeWarning)
        yield
    for w in caught:
        if isinstance(w.message, RidgeGridEdgeWarning):
            extra["ridge_at_grid_edge"] = w.message.edge
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _finish(model, target, params, timings, *, alignment=True, extra=None) -> dict:
    from ..diagnostics import degree_learning, degree_learning_record
    from ..metrics import excess_error, subspace_alignment

    t0 = time.perf_counter()
    err = excess_error(
        model, target, n_test=params["evaluation"]["n_test"], seed=derive_seed(params["seed"], "test")
    )
    timings["evaluate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    learned = degree_learning(
        model, target, n=params["evaluation"]["n_test"], seed=derive_seed(params["seed"], "test")
    )
    timings["degree_learning"] = time.perf_counter() - t0
    align = None
    if alignment and getattr(model, "W_", None) is not None:
        align = float(subspace_alignment(model.W_, target.U))
    for k, v in (getattr(model, "timings_", None) or {}).items():
        timings.setdefault(f"fit.{k}", float(v))
    out_extra = dict(extra or {})
    if getattr(target, "nondegenerate", True) is False and getattr(model, "W_", None) is not None:
        # what a plain fit_stream warns of (fastrep.DegenerateTargetWarning), kept per cell
        out_extra["degenerate_target"] = True
    # per degree l: [fraction of f*'s degree-l part learned, its standard error] (fastrep.diagnostics)
    out_extra["degree_learning"] = degree_learning_record(learned)
    ran_dtype = getattr(model, "dtype_", None)  # what dtype='auto' (and solver='auto') chose
    if ran_dtype is not None:
        out_extra["dtype"] = np.dtype(ran_dtype).name
    if isinstance(getattr(model, "solver_", None), str):
        out_extra["solver"] = model.solver_
    if getattr(model, "solver_", None) == "nystrom":  # the centres that ran, and the rule's
        out_extra["n_centers"] = int(model.n_centers_)
        out_extra["n_centers_needed"] = int(model.n_centers_needed_)
        out_extra["cg_iterations"] = int(model.n_iter_)
    ridge = getattr(model, "ridge_", None)
    if isinstance(ridge, (int, float, np.floating)):
        out_extra["ridge"] = float(ridge)
    return {
        "excess_error": float(err),
        "alignment": align,
        "timings": timings,
        "backend": _backend_json(model),
        "extra": out_extra,
    }


def _fit_estimator(cls_path: str, params: dict, *, alignment: bool, with_target: bool = False) -> dict:
    timings = {}
    t0 = time.perf_counter()
    target = build_target(params["target"], params["d"], params["seed"])
    X, y, Xv, yv = _data(target, params)
    timings["data"] = time.perf_counter() - t0
    cls = resolve_function(cls_path)
    opts = dict(params["options"])
    if with_target:
        model = cls(target, **opts)
    else:
        model = cls(**opts, seed=derive_seed(params["seed"], "model"))
    t0 = time.perf_counter()
    extra = {}
    with _grid_edge(extra):
        model.fit(X, y, Xv, yv)
    timings["fit"] = time.perf_counter() - t0
    return _finish(model, target, params, timings, alignment=alignment, extra=extra)


# --------------------------------------------------------------------------- the methods


def run_onestep(params: dict) -> dict:
    """Algorithm 1: one large gradient step on W, then validated ridge on the second layer."""
    return _fit_estimator("fastrep:OneStepNetwork", params, alignment=True)


def trajectory_rows(trajectory, T: int) -> list[dict]:
    """A :class:`fastrep.multistep.Trajectory` as the rows of the store's ``trajectories`` table.

    One dict per record t: the loss and lr of step t (None at t = T), the alignment, the row
    norms' mean/min/max, the top three spikes of W_t - W_0 and their alignment (None beyond
    the recorded k), and per direction u_k of U the mean over neurons of (w_j . u_k)^2 / |w_j|^2.
    """

    def num(a, *idx):
        if a is None:
            return None
        try:
            v = float(a[idx])
        except IndexError:
            return None
        return v if np.isfinite(v) else None

    rows = []
    for i, t in enumerate(np.asarray(trajectory.step).tolist()):
        norms = np.asarray(trajectory.row_norms[i], dtype=np.float64)
        row = {
            "t": int(t),
            "loss": num(trajectory.loss, t) if t < T else None,
            "lr": num(trajectory.lr, t) if t < T else None,
            "alignment": num(trajectory.alignment, i),
            "row_norm_mean": float(norms.mean()),
            "row_norm_min": float(norms.min()),
            "row_norm_max": float(norms.max()),
        }
        for k in range(3):
            row[f"spike_{k + 1}"] = num(trajectory.spike_values, i, k)
            row[f"spike_{k + 1}_alignment"] = num(trajectory.spike_alignment, i, k)
        if trajectory.overlaps is not None:
            M = np.asarray(trajectory.overlaps[i], dtype=np.float64)
            live = norms > 0
            with np.errstate(invalid="ignore"):
                cos2 = (M[live] ** 2) / (norms[live, None] ** 2)
            per = cos2.mean(axis=0) if live.any() else np.zeros(M.shape[1])
            row["direction_overlap"] = [float(v) if np.isfinite(v) else None for v in per]
        else:
            row["direction_overlap"] = None
        rows.append(row)
    return rows


def run_multistep(params: dict) -> dict:
    """T first-layer steps (fresh batches, a reused batch or online SGD), then ridge
    (:class:`fastrep.MultiStepNetwork`); its trajectory against the target's U is kept
    (``trajectory``: the rows of the store's ``trajectories`` table)."""
    from ..multistep import MultiStepNetwork

    timings = {}
    t0 = time.perf_counter()
    target = build_target(params["target"], params["d"], params["seed"])
    X, y, Xv, yv = _data(target, params)
    timings["data"] = time.perf_counter() - t0
    model = MultiStepNetwork(**params["options"], target=target, seed=derive_seed(params["seed"], "model"))
    t0 = time.perf_counter()
    extra = {}
    with _grid_edge(extra):
        model.fit(X, y, Xv, yv)
    timings["fit"] = time.perf_counter() - t0
    out = _finish(model, target, params, timings, alignment=True, extra=extra)
    out["trajectory"] = trajectory_rows(model.trajectory_, int(model.steps))
    return out


def run_random_features(params: dict) -> dict:
    """Random-features ridge: the same network with W left at initialization."""
    return _fit_estimator("fastrep:RandomFeaturesRegressor", params, alignment=True)


def run_ntk(params: dict) -> dict:
    """NTK kernel ridge regression on the target's training samples."""
    return _fit_estimator("fastrep:NTKRegressor", params, alignment=False)


def run_nngp(params: dict) -> dict:
    """NNGP (random-features kernel) ridge regression."""
    return _fit_estimator("fastrep:NNGPRegressor", params, alignment=False)


def run_oracle(params: dict) -> dict:
    """Ridge on the Hermite features h_alpha(Ux) with U known: the floor of every curve."""
    return _fit_estimator("fastrep:OracleRegressor", params, alignment=False, with_target=True)


#: source networks of recent transfer cells, keyed by everything their first step depends on;
#: every n_t of one (d, seed) reuses the same W, so a worker learns it once
_SOURCE_CACHE: OrderedDict = OrderedDict()
SOURCE_CACHE_SIZE = 4


def _source_network(key, source, n_s, opts, seed, source_seed, n_val):
    """(a fresh copy of the source-fitted network, its stage timings, whether it was cached)."""
    from ..transfer import fit_source

    hit = key in _SOURCE_CACHE
    if hit:
        _SOURCE_CACHE.move_to_end(key)
        net, src_timings = _SOURCE_CACHE[key]
    else:
        net, src_timings = fit_source(source, n_s, seed=seed, source_seed=source_seed, n_val=n_val, **opts)
        _SOURCE_CACHE[key] = (net, src_timings)
        while len(_SOURCE_CACHE) > SOURCE_CACHE_SIZE:
            _SOURCE_CACHE.popitem(last=False)
    return copy.deepcopy(net), dict(src_timings), hit


def run_transfer(params: dict) -> dict:
    """Transfer: W learned on the source head (n_s samples), frozen; refit on n = n_t target samples.

    Equivalent to :func:`fastrep.fit_transfer` (tested), with the source fit cached per worker:
    the cells of one (d, seed) at different n_t share it.
    """

    timings = {}
    d, seed = params["d"], params["seed"]
    t0 = time.perf_counter()
    target = build_target(params["target"], d, seed)
    source = build_target(params["source"]["target"], d, seed, U=target.U)
    X, y, Xv, yv = _data(target, params)
    timings["data"] = time.perf_counter() - t0
    n_s = params["n_source"]
    opts = dict(params["options"])
    rebias = opts.pop("rebias", True)
    t0 = time.perf_counter()
    key = json.dumps([params["target"], params["source"], d, seed, n_s, opts, params["evaluation"]["n_val"]],
                     sort_keys=True)
    model, src_timings, cached = _source_network(
        key, source, n_s, opts, derive_seed(seed, "model"), derive_seed(seed, "source_data"),
        params["evaluation"]["n_val"],
    )
    extra = {"n_source": n_s}
    with _grid_edge(extra):
        model.refit(X, y, rebias=rebias, X_val=Xv, y_val=yv)
    model.source_timings_ = src_timings
    model.n_source_ = n_s
    timings["fit"] = time.perf_counter() - t0
    if not cached:
        for k, v in src_timings.items():
            timings[f"source.{k}"] = float(v)
    # whether the source fit was cached depends on the worker's history: timings only (the source.*
    # stages appear in the cell that fitted it), never in the results
    return _finish(model, target, params, timings, alignment=True, extra=extra)


register_method(
    "onestep", "fastrep.experiments.methods:run_onestep", estimator="fastrep:OneStepNetwork", cost="network"
)
register_method(
    "multistep",
    "fastrep.experiments.methods:run_multistep",
    estimator="fastrep:MultiStepNetwork",
    cost="multistep",
    forbidden=("seed", "target"),  # the trajectory measures W against the cell's own target's U
)
register_method(
    "random_features",
    "fastrep.experiments.methods:run_random_features",
    estimator="fastrep:RandomFeaturesRegressor",
    kernel=True,
    cost="network",
)
register_method(
    "ntk", "fastrep.experiments.methods:run_ntk", estimator="fastrep:NTKRegressor", kernel=True, cost="cubic"
)
register_method(
    "nngp",
    "fastrep.experiments.methods:run_nngp",
    estimator="fastrep:NNGPRegressor",
    kernel=True,
    cost="cubic",
)
register_method(
    "oracle",
    "fastrep.experiments.methods:run_oracle",
    estimator="fastrep:OracleRegressor",
    forbidden=("seed", "target"),
)
register_method(
    "transfer",
    "fastrep.experiments.methods:run_transfer",
    estimator="fastrep:OneStepNetwork",
    cost="network",
    defaults={"rebias": True},  # fit_transfer re-draws the biases before the refit
)
