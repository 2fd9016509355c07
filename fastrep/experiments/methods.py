"""The method registry: sweep method names -> importable cell functions.

A cell function takes the cell's ``params`` (see :class:`~.spec.Cell`) and returns a dict:

``excess_error``  float, test MSE against the noiseless f* over E[f*^2];
``alignment``     float or None, the subspace alignment of the learned W with U;
``timings``       dict stage -> seconds (``data``, ``fit`` and the learner's own stages, ``evaluate``);
``backend``       str, the kernel backend that ran;
``extra``         dict of anything else worth keeping (chosen ridge, n_s, ...).

The registry stores *import paths* (``"module:function"``), never function objects, so a
spawned worker process or a Dask worker imports the same function by name. Register your
own with :func:`register_method`.

Every random draw of a cell derives from its ``seed`` through :func:`derive_seed`:
the target's U (shared by every method and n at the same (d, seed), so curves are
comparable), the training stream (also shared: n = 1000 is a prefix of n = 2000),
the learner's initialization and the test set.
"""

from __future__ import annotations

import importlib
import inspect
import json
import time
from dataclasses import dataclass

import numpy as np

from .spec import SpecError

__all__ = [
    "METHODS",
    "TARGET_PRESETS",
    "Method",
    "build_target",
    "derive_seed",
    "register_method",
    "resolve_function",
]

#: Target presets a spec may name (classmethods of fastrep.MultiIndexTarget).
TARGET_PRESETS = {"separation", "single_index", "random", "giant_step", "staircase", "sum_of_directions"}

_PURPOSES = {"target": 1, "data": 2, "model": 3, "test": 4, "source_data": 5}


@dataclass(frozen=True)
class Method:
    """A registered method.

    ``func``: ``"module:function"`` of the cell function. ``estimator``: ``"module:Class"``
    whose ``__init__`` keywords are the allowed options (checked before a sweep runs), or
    None to accept any options. ``kernel``: a rotation-invariant kernel method (plots draw
    the staircase prediction on its panel). ``cost``: ``"cubic"`` (exact kernel solve),
    ``"network"`` or ``"linear"``, used only to start expensive cells first.
    """

    name: str
    func: str
    estimator: str | None = None
    kernel: bool = False
    cost: str = "linear"
    forbidden: tuple[str, ...] = ("seed",)


METHODS: dict[str, Method] = {}


def register_method(
    name: str,
    func: str,
    *,
    estimator: str | None = None,
    kernel: bool = False,
    cost: str = "linear",
    forbidden: tuple[str, ...] = ("seed",),
    replace: bool = False,
) -> Method:
    """Add a method to :data:`METHODS` (``func`` and ``estimator`` as ``"module:attr"`` strings)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(func, str) or ":" not in func:
        raise ValueError(f"func must be an import path 'module:function' (workers import it); got {func!r}")
    if cost not in ("cubic", "network", "linear"):
        raise ValueError(f"cost must be 'cubic', 'network' or 'linear'; got {cost!r}")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to override it")
    m = Method(name, func, estimator, kernel, cost, tuple(forbidden))
    METHODS[name] = m
    return m


def resolve_function(path: str):
    """Import ``"module:attr"`` (dotted attributes allowed)."""
    module, _, attr = path.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def validate_options(method: str, options: dict, key: str) -> None:
    """Raise :class:`SpecError` for options the method's estimator does not take."""
    m = METHODS[method]
    for k in options:
        if k in m.forbidden:
            raise SpecError(f"{key}.{k}", f"is set per cell by the sweep, not by {method} options")
    if m.estimator is None:
        return
    try:
        cls = resolve_function(m.estimator)
    except (ImportError, AttributeError) as exc:
        raise SpecError(
            key,
            f"method {method!r} needs {m.estimator.replace(':', '.')}, "
            f"which this fastrep cannot import ({exc})",
        ) from None
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = {p for p in params if p != "self"} - set(m.forbidden)
    for k in options:
        if k not in allowed:
            raise SpecError(
                f"{key}.{k}", f"unknown option for {method}; expected one of {', '.join(sorted(allowed))}"
            )


def cost_estimate(method: str, params: dict) -> float:
    """A rough relative cost, only to start the most expensive cells first."""
    m = METHODS.get(method)
    n, d = params["n"], params["d"]
    kind = m.cost if m else "linear"
    if kind == "cubic":
        return n**3 / 3e3 + n * n * d
    if kind == "network":
        width = params.get("options", {}).get("width", 1000)
        n_s = 0
        if "source" in params:
            from .spec import source_n

            n_s = source_n(params["source"], d)
        return (n + n_s + params["evaluation"]["n_val"]) * width * (d + 10) + width**3
    return float(n * d)


# --------------------------------------------------------------------------- seeds and targets


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one ``purpose`` of a cell, a pure function of (seed, purpose)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(_PURPOSES[purpose],))
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1, 2**32], np.uint64)) >> 1


def build_target(tspec: dict, d: int, seed: int, *, U=None):
    """The :class:`fastrep.MultiIndexTarget` of a canonical target table at dimension ``d``.

    ``seed`` is the cell's seed (U is drawn from ``derive_seed(seed, 'target')``); a given
    ``U`` replaces the drawn one (transfer: the source head shares the target's U).
    """
    from .. import MultiIndexTarget

    tseed = derive_seed(seed, "target")
    noise = float(tspec.get("noise", 0.0))
    if "preset" in tspec:
        fn = getattr(MultiIndexTarget, tspec["preset"])
        args = {k: v for k, v in tspec.items() if k not in ("preset", "noise")}
        params = inspect.signature(fn).parameters
        any_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        args["seed"] = tseed
        if "noise" in params or any_kw:
            args["noise"] = noise
        t = fn(d, **args)
        if U is not None or not ("noise" in params or any_kw):
            t = MultiIndexTarget(d, dict(t.terms), U=t.U if U is None else U, noise=noise, normalize=False)
        return t
    terms = {tuple(alpha): coef for alpha, coef in tspec["terms"]}
    return MultiIndexTarget(d, terms, U=U, noise=noise, normalize=tspec.get("normalize", True), seed=tseed)


def _data(target, params):
    """(X, y, X_val, y_val): training prefix of length n and the validation split."""
    from .. import GaussianStream

    stream = GaussianStream(target, seed=derive_seed(params["seed"], "data"))
    X, y = stream.take(params["n"])
    Xv, yv = stream.val().take(params["evaluation"]["n_val"])
    return X, y, Xv, yv


def _finish(model, target, params, timings, *, alignment=True, extra=None) -> dict:
    from ..metrics import excess_error, subspace_alignment

    t0 = time.perf_counter()
    err = excess_error(
        model, target, n_test=params["evaluation"]["n_test"], seed=derive_seed(params["seed"], "test")
    )
    timings["evaluate"] = time.perf_counter() - t0
    align = None
    if alignment and getattr(model, "W_", None) is not None:
        align = float(subspace_alignment(model.W_, target.U))
    for k, v in (getattr(model, "timings_", None) or {}).items():
        timings.setdefault(f"fit.{k}", float(v))
    out_extra = dict(extra or {})
    ridge = getattr(model, "ridge_", None)
    if isinstance(ridge, (int, float, np.floating)):
        out_extra["ridge"] = float(ridge)
    return {
        "excess_error": float(err),
        "alignment": align,
        "timings": timings,
        "backend": json.dumps(model.backend_, sort_keys=True),  # what really ran, per family
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
    model.fit(X, y, Xv, yv)
    timings["fit"] = time.perf_counter() - t0
    return _finish(model, target, params, timings, alignment=alignment)


# --------------------------------------------------------------------------- the methods


def run_onestep(params: dict) -> dict:
    """Algorithm 1: one large gradient step on W, then validated ridge on the second layer."""
    return _fit_estimator("fastrep:OneStepNetwork", params, alignment=True)


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


def run_transfer(params: dict) -> dict:
    """Transfer: W learned on the source head (n_s samples), frozen; refit on n = n_t target samples."""
    from ..transfer import fit_transfer
    from .spec import source_n

    timings = {}
    d, seed = params["d"], params["seed"]
    t0 = time.perf_counter()
    target = build_target(params["target"], d, seed)
    source = build_target(params["source"]["target"], d, seed, U=target.U)
    X, y, Xv, yv = _data(target, params)
    timings["data"] = time.perf_counter() - t0
    n_s = source_n(params["source"], d)
    opts = dict(params["options"])
    t0 = time.perf_counter()
    model = fit_transfer(
        source,
        X,
        y,
        n_source=n_s,
        X_val=Xv,
        y_val=yv,
        seed=derive_seed(seed, "model"),
        source_seed=derive_seed(seed, "source_data"),
        n_val=params["evaluation"]["n_val"],
        **opts,
    )
    timings["fit"] = time.perf_counter() - t0
    for k, v in getattr(model, "source_timings_", {}).items():
        timings[f"source.{k}"] = float(v)
    return _finish(model, target, params, timings, alignment=True, extra={"n_source": n_s})


register_method(
    "onestep", "fastrep.experiments.methods:run_onestep", estimator="fastrep:OneStepNetwork", cost="network"
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
    "transfer", "fastrep.experiments.methods:run_transfer", estimator="fastrep:OneStepNetwork", cost="network"
)
