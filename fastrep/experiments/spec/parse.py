"""Reading a sweep spec: TOML, a dict or a packaged example's name into a :class:`~.model.SweepSpec`.

:func:`load_spec` finds and reads the spec; ``_parse`` checks every table of it in turn (top
keys, target, epsilon, seeds, grids, evaluation sizes, and each method's grids, limits,
source and options, the last by the learner's own validation) and builds the validated
model. Nothing is run or written.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path

from ..methods import METHODS, OptionError, check_options
from .checks import LIMITS, SpecError, _check_keys, _int, _is_real, _jsonable, check_name
from .grids import _parse_d_law, _parse_seeds, d_law, geometric_grid
from .model import MethodSpec, SweepSpec
from .targets import _check_target, _normalize_target

_TOP_KEYS = {"name", "epsilon", "seeds", "target", "grid", "evaluation", "methods", "description"}
_EVAL_DEFAULTS = {"n_val": 2000, "n_test": 5000}


def _parse_source(src, key: str) -> dict:
    if not isinstance(src, dict):
        raise SpecError(key, "must be a table with `target` and `n`")
    _check_keys(src, {"target", "n"}, f"{key}.")
    if "target" not in src:
        raise SpecError(f"{key}.target", "missing (the source head; it shares U with the sweep's target)")
    st = _normalize_target(src["target"], f"{key}.target")
    if "n" not in src:
        raise SpecError(f"{key}.n", "missing (an integer, or {factor = c, power = k} for n_s = ceil(c d^k))")
    return {"target": st, "n": _parse_d_law(src["n"], f"{key}.n", default_power=2, high=LIMITS["samples"])}


def _parse(raw: dict) -> SweepSpec:
    if not isinstance(raw, dict):
        raise SpecError("", f"a sweep spec must be a table; got {type(raw).__name__}")
    _check_keys(raw, _TOP_KEYS, "")

    name = check_name(raw.get("name", "sweep"))
    if "target" not in raw:
        raise SpecError(
            "target", 'missing; name a preset (target.preset = "separation") or give target.terms'
        )
    target = _normalize_target(raw["target"])

    eps = raw.get("epsilon", 0.25)
    if not _is_real(eps) or not (0 < eps < math.inf):
        raise SpecError("epsilon", f"must be a positive number; got {eps!r}")

    seeds = _parse_seeds(raw.get("seeds", 3), "seeds")

    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        raise SpecError("grid", "must be a table with `d` and `n`")
    _check_keys(grid, {"d", "n"}, "grid.")
    for k in ("d", "n"):
        if k not in grid:
            raise SpecError(f"grid.{k}", "missing")
    d_grid = geometric_grid(grid["d"], "grid.d", high=LIMITS["d"])
    n_grid = geometric_grid(grid["n"], "grid.n")

    ev = raw.get("evaluation", {})
    if not isinstance(ev, dict):
        raise SpecError("evaluation", "must be a table")
    _check_keys(ev, set(_EVAL_DEFAULTS), "evaluation.")
    evaluation = {
        k: _int(ev.get(k, v), f"evaluation.{k}", high=LIMITS["evaluation"]) for k, v in _EVAL_DEFAULTS.items()
    }

    methods_raw = raw.get("methods")
    if not isinstance(methods_raw, dict) or not methods_raw:
        raise SpecError("methods", f"missing or empty; give at least one of {', '.join(sorted(METHODS))}")
    methods = []
    for label, table in methods_raw.items():
        key = f"methods.{label}"
        if table is None:
            table = {}
        if not isinstance(table, dict):
            raise SpecError(key, "must be a table of options")
        table = dict(table)
        method = table.pop("method", label)
        if not isinstance(method, str) or method not in METHODS:
            raise SpecError(
                key if "method" not in methods_raw[label] else f"{key}.method",
                f"unknown method {method!r}; known: {', '.join(sorted(METHODS))}",
            )
        d_m = geometric_grid(table.pop("d"), f"{key}.d", high=LIMITS["d"]) if "d" in table else d_grid
        n_m = geometric_grid(table.pop("n"), f"{key}.n") if "n" in table else n_grid
        limits = {
            k: _parse_d_law(table.pop(k), f"{key}.{k}", default_power=1) if k in table else None
            for k in ("n_min", "n_max")
        }
        m_seeds = _parse_seeds(table.pop("seeds"), f"{key}.seeds") if "seeds" in table else None
        source = None
        if "source" in table:
            if method != "transfer":
                raise SpecError(f"{key}.source", "only the transfer method takes a source")
            source = _parse_source(table.pop("source"), f"{key}.source")
        elif method == "transfer":
            raise SpecError(f"{key}.source", "missing (transfer needs a source head and n_s)")
        first_seed = (m_seeds or seeds)[0]
        t_small = _check_target(target, "target", d_m, first_seed)
        if source is not None:
            _check_target(source["target"], f"{key}.source.target", d_m, first_seed, U_of=target)
            for d in d_m:
                if d_law(source["n"], d) > LIMITS["samples"]:
                    raise SpecError(f"{key}.source.n", f"gives n_s > {LIMITS['samples']:,} at d = {d}")
        options = _jsonable(table, key)
        try:
            options = check_options(method, options, target=t_small, n=max(n_m))
        except OptionError as exc:
            raise SpecError(f"{key}.{exc.option}" if exc.option else key, str(exc)) from None
        m = MethodSpec(
            label=label, method=method, options=options, d=d_m, n=n_m, source=source, seeds=m_seeds, **limits
        )
        for d in m.d:
            if not m.n_at(d):
                raise SpecError(
                    f"{key}.n_max" if m.n_max is not None else f"{key}.n_min",
                    f"leaves no n of the grid at d = {d}",
                )
        methods.append(m)

    return SweepSpec(
        name=name,
        epsilon=float(eps),
        seeds=seeds,
        target=target,
        d=d_grid,
        n=n_grid,
        methods=tuple(methods),
        evaluation=evaluation,
        raw=raw,
    )


def load_spec(spec) -> SweepSpec:
    """A validated :class:`SweepSpec` from TOML, a dict, a path or a packaged example's name.

    Nothing is run or written.

    Parameters
    ----------
    spec : SweepSpec, dict, str or os.PathLike
        A ``SweepSpec`` (returned as it is), the spec as a dict (TOML's tables), TOML text,
        the path of a TOML file, or the name of a packaged example (``"separation"``: see
        ``fastrep examples``).

    Returns
    -------
    SweepSpec
        The validated sweep, every option filled in.

    Raises
    ------
    SpecError
        For an invalid spec or invalid TOML; the message (and ``key``) names the offending
        key.
    FileNotFoundError
        For a path that does not exist (the message lists the packaged examples).
    IsADirectoryError
        For a path that is a folder.
    TypeError
        For a ``spec`` of another type.

    Examples
    --------
    >>> from fastrep.experiments import load_spec
    >>> spec = load_spec('''
    ... name = "tiny"
    ... epsilon = 0.25
    ... seeds = [0]
    ... [target]
    ... preset = "separation"
    ... [grid]
    ... d = [8]
    ... n = [256, 512]
    ... [methods.rf]
    ... method = "random_features"
    ... width = 100
    ... ''')
    >>> spec.count(), spec.methods[0].options["width"]
    (2, 100)
    """
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return _parse(spec)
    if isinstance(spec, (str, os.PathLike)):
        from ..examples import names, resolve  # a packaged example's name -> its file

        spec = resolve(spec)
        text = str(spec)
        if isinstance(spec, os.PathLike) or (
            not text.lstrip().startswith(("[", "#")) and "\n" not in text and "=" not in text
        ):
            path = Path(spec)
            if path.is_dir():
                raise IsADirectoryError(f"spec must be a TOML file; {path} is a folder")
            if not path.is_file():
                known = ", ".join(names())
                raise FileNotFoundError(f"spec file not found: {path} (packaged examples: {known})")
            text = path.read_text()
            where = str(path)
        else:
            where = "spec"
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("", f"{where} is not valid TOML: {exc}") from None
        return _parse(raw)
    raise TypeError(f"spec must be a SweepSpec, a dict, or a TOML path/text; got {type(spec).__name__}")
