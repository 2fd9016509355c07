"""Targets of a sweep and the seeds of a cell: the pieces both the spec and the methods need.

* :data:`TARGET_PRESETS`: the preset names a spec may use, read from the preset
  constructors (classmethods) of :class:`fastrep.MultiIndexTarget`, so a new preset is
  usable in specs as soon as it exists.
* :func:`derive_seed`: every random draw of a cell derives from its seed and a purpose.
* :func:`build_target`: the :class:`~fastrep.MultiIndexTarget` of a canonical target table.
* :func:`resolve_target`: what a target *is* at (d, seed): its terms, noise and U seed,
  the part of a cell's identity that a change of a preset's definition changes.

This module imports neither :mod:`.spec` nor :mod:`.methods`; both import it.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._validation import check_seed

__all__ = [
    "RESULTS_VERSION",
    "TARGET_PRESETS",
    "build_target",
    "derive_seed",
    "preset_parameters",
    "resolve_target",
]

#: Changes whenever the bits a cell computes change for the same setting: the seed derivation,
#: the data or target generators, or a learner's arithmetic. A store holds one results version;
#: cells of two versions are never pooled (resuming an older store is refused). 3: the transfer
#: refit estimates no d-dimensional label part. 4: one BLAS thread per cell on every executor by
#: default, and steps after the first share MultiStepNetwork's fused gradient (last bits).
RESULTS_VERSION = 4

_PURPOSES = {"target": 1, "data": 2, "model": 3, "test": 4, "source_data": 5}


def _presets() -> dict:
    from ..targets import MultiIndexTarget

    return {
        name: getattr(MultiIndexTarget, name)
        for name, attr in vars(MultiIndexTarget).items()
        if isinstance(attr, classmethod) and not name.startswith("_")
    }


#: Target presets a spec may name: the preset constructors of fastrep.MultiIndexTarget.
TARGET_PRESETS = frozenset(_presets())


def preset_parameters(preset: str) -> tuple[set[str], bool]:
    """(keyword names the preset constructor takes besides ``d``, whether it takes **kwargs)."""
    params = inspect.signature(_presets()[preset]).parameters
    any_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    names = {k for k, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD and k != "d"}
    return names, any_kw


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one ``purpose`` of a cell, a pure function of (seed, purpose)."""
    seed = check_seed(seed)
    ss = np.random.SeedSequence(int(seed), spawn_key=(_PURPOSES[purpose],))
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1, 2**32], np.uint64)) >> 1


#: Keywords of MultiIndexTarget's constructor that a preset may pass on (besides seed and U).
_CONSTRUCTOR_KEYWORDS = {"noise", "normalize"}


def build_target(tspec: dict, d: int, seed: int, *, U=None):
    """The :class:`fastrep.MultiIndexTarget` of a canonical target table at dimension ``d``.

    ``seed`` is the cell's seed (U is drawn from ``derive_seed(seed, 'target')``); a given
    ``U`` replaces the drawn one (transfer: the source head shares the target's U).
    Raises ``ValueError``/``TypeError`` from the target's own checks (r > d, a bad preset
    argument, ...).
    """
    from ..targets import MultiIndexTarget

    tseed = derive_seed(seed, "target")
    noise = float(tspec.get("noise", 0.0))
    if "preset" in tspec:
        fn = _presets()[tspec["preset"]]
        names, any_kw = preset_parameters(tspec["preset"])
        args = {k: v for k, v in tspec.items() if k not in ("preset", "noise")}
        unknown = set(args) - names - (_CONSTRUCTOR_KEYWORDS if any_kw else set())
        if unknown:
            allowed = sorted((names | (_CONSTRUCTOR_KEYWORDS if any_kw else set())) - {"seed", "U", "noise"})
            raise TypeError(
                f"preset {tspec['preset']!r} takes no argument {sorted(unknown)[0]!r}; "
                f"its arguments: {', '.join(allowed) or 'none'}"
            )
        takes_noise = "noise" in names or any_kw
        args["seed"] = tseed
        if takes_noise:
            args["noise"] = noise
        t = fn(d, **args)
        if U is not None or not takes_noise:
            t = MultiIndexTarget(d, dict(t.terms), U=t.U if U is None else U, noise=noise, normalize=False)
        return t
    terms = {tuple(alpha): coef for alpha, coef in tspec["terms"]}
    return MultiIndexTarget(d, terms, U=U, noise=noise, normalize=tspec.get("normalize", True), seed=tseed)


def resolve_target(tspec: dict, d: int, seed: int) -> dict:
    """``{"terms": [[alpha, coef], ...] (sorted), "noise", "U_seed"}``: the target a cell learns.

    Two cells whose targets resolve alike learn the same function from the same draws.
    """
    t = build_target(tspec, d, seed)
    terms = sorted([[int(a) for a in alpha], float(c)] for alpha, c in t.terms.items())
    return {"terms": terms, "noise": float(t.noise), "U_seed": derive_seed(seed, "target")}
