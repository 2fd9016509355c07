"""Argument checks shared by the public API: each error names the argument and what was expected."""

from __future__ import annotations

import contextlib
import math
import numbers
import re
import types

import numpy as np

from ._arrays import array_module, place

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


#: Largest Hermite order (an entry of a multi-index) and total degree fastrep accepts, in
#: multi-indices, ``hermite``, targets and the oracle. Measured against 80-digit Decimal
#: arithmetic (benchmarks/hermite_degree_accuracy.py): the float64 normalized recurrence stays
#: within 1.1e-14 of the envelope max_{j <= k} |h_j(z)| for every k <= 1000 and |z| <= 40, and
#: |h_k(z)| stays below about 1e10 for |z| <= 10 and 1e174 for |z| <= 40 (finite in float64;
#: float32 can overflow past |z| ~ 15, which hermite_features reports as a ValueError). Beyond
#: 1000 nothing was measured, the per-row tables grow with the degree and the numbers of
#: multi-indices explode; no experiment needs more than degree 10.
MAX_DEGREE = 1000


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=None,
                   finite: bool = True, xp=None):
    """Return ``x`` as a float32/float64 array of the allowed ``ndim``, in its own array library.

    The conversions of every public function (``dtype`` not given):

    * float32 and float64 stay as they are (or become ``dtype`` when given);
    * float16 becomes float32 (the smallest dtype the kernels compute in);
    * integer and boolean inputs become float64;
    * complex, object, string and other dtypes raise ``TypeError`` (complex values would
      lose their imaginary part; object arrays may hold anything);
    * lists, memmaps and objects with ``__array__`` (a pandas DataFrame) are read through
      ``asarray``; ragged lists raise ``ValueError``;
    * arrays of another array-API library (e.g. array_api_strict) stay in it.

    With ``dtype`` given (the estimators, which cast every input to their own ``dtype``),
    scikit-learn's convention applies instead, as in ``validate_data``: any real input,
    float16, integers, booleans and object arrays of numbers, becomes ``dtype``; complex
    input raises ``ValueError``; an object array that does not convert raises ``ValueError``.

    NaN or inf raise ``ValueError`` when ``finite``.
    """
    xp = xp or place(x).xp
    try:
        arr = xp.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a (rectangular) array of real numbers; "
                         f"{type(x).__name__} could not be read as one ({exc})") from None
    if not isinstance(arr.dtype, np.dtype):  # another array-API library: its own dtype objects
        return _as_float_array_api(xp, arr, name, ndim, dtype, finite)
    if dtype is not None and arr.dtype.kind == "O":
        # an estimator's input: scikit-learn converts object arrays of numbers
        try:
            arr = arr.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} could not be converted to {np.dtype(dtype)} ({exc})") from None
    elif dtype is not None and arr.dtype.kind == "c":
        raise ValueError(f"{name}: complex data is not supported (a real {np.dtype(dtype)} array is expected)")
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real float array; got dtype {arr.dtype} "
                        "(complex, object and string arrays are refused)")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    return _check_ndim_finite(xp, arr, name, ndim, finite)


def _check_ndim_finite(xp, arr, name, ndim, finite):
    """The shape and finiteness rules of :func:`as_float_array`, for any array namespace."""
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}; got an array of shape {tuple(arr.shape)}")
    if finite and arr.size and not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or inf; fastrep needs finite inputs")
    return arr


def _as_float_array_api(xp, arr, name, ndim, dtype, finite):
    """:func:`as_float_array` for an array-API library with its own dtype objects."""
    if not xp.isdtype(arr.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{name} must be a real float array; got dtype {arr.dtype}")
    if dtype is not None:
        target = getattr(xp, np.dtype(dtype).name)
        if arr.dtype != target:
            arr = xp.astype(arr, target)
    elif arr.dtype not in (xp.float32, xp.float64):
        arr = xp.astype(arr, xp.float32 if arr.dtype == xp.float16 else xp.float64)
    return _check_ndim_finite(xp, arr, name, ndim, finite)


def check_out(out, shape, dtype, *inputs, name: str = "out"):
    """Validate a caller's output array before any kernel writes into it; ``None`` passes through.

    ``out`` must be an array of the inputs' library (NumPy, or CuPy for CuPy inputs) with
    exactly ``shape`` and ``dtype`` (no silent casting), C-contiguous, writeable, and it may
    not share memory with any of ``inputs`` (``None`` entries are skipped). Raises
    ``TypeError`` for a non-array and ``ValueError`` otherwise, naming ``name``.
    """
    if out is None:
        return None
    xp = array_module(*inputs) if inputs else np
    if not isinstance(out, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray (or None); got {type(out).__name__}")
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if tuple(out.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}; got {tuple(out.shape)}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (fastrep does not cast into out); got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; copy it with ascontiguousarray first")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    for arr in inputs:
        if arr is not None and hasattr(arr, "shape") and out.size and xp.may_share_memory(out, arr):
            raise ValueError(f"{name} overlaps an input array; pass a separate output buffer")
    return out


@contextlib.contextmanager
def naming(*names: str):
    """Put the argument names in front of a ValueError/TypeError raised inside (by a
    third-party check such as scikit-learn's ``validate_data``) whose message names none of them."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        cls = ValueError if isinstance(exc, ValueError) else TypeError
        # scikit-learn calls its arguments X and y ("Input X contains NaN", "X has 2 features"):
        # say them as the caller named them (X_val, y_val, ...)
        said = msg
        for theirs, ours in zip(("X", "y")[: len(names)], names[:2], strict=True):
            if ours != theirs:
                said = re.sub(rf"\bInput {theirs}\b|^{theirs}(?=[ ,:])", ours, said)
        if said != msg:
            raise cls(said) from exc
        if any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", msg) for n in names):
            raise
        raise cls(f"{', '.join(names)}: {msg}") from exc


def check_finite_output(arr, what: str, argument: str, hint: str | None = None):
    """Return ``arr``, or raise ValueError when it holds inf or NaN although its inputs were
    finite (an overflow of its dtype): the message names ``argument`` and suggests scaling."""
    xp = place(arr).xp
    if arr.size and not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"{what} overflow {arr.dtype} for this {argument} (finite inputs, non-finite "
                         f"result); {hint or f'scale {argument} down or use float64'}")
    return arr


def model_dtype(model) -> np.dtype:
    """The precision to draw a model's test inputs in: what its fit ran (``dtype_``, e.g. what
    ``dtype='auto'`` chose), else its ``dtype`` parameter, else float64."""
    for name in ("dtype_", "dtype"):
        try:
            dt = np.dtype(getattr(model, name))
        except (TypeError, AttributeError):
            continue
        if dt in FLOAT_DTYPES:
            return dt
    return np.dtype(np.float64)


def as_predict(model, name: str):
    """``model.predict`` for a fitted learner, or ``model`` itself for a callable X -> values."""
    if hasattr(model, "predict"):
        return model.predict
    if callable(model):
        return model
    raise TypeError(f"{name} must be a fitted learner with .predict(X) or a callable X -> values; "
                    f"got {type(model).__name__}")


def check_target(target, name: str = "target"):
    """A MultiIndexTarget-like object: ``d``, ``r``, ``U``, ``degree``, ``noise`` and ``f``
    (else ``TypeError``)."""
    missing = [a for a in ("d", "r", "U", "degree", "noise", "f") if not hasattr(target, a)]
    if missing:
        raise TypeError(f"{name} must be a fastrep.MultiIndexTarget; got {type(target).__name__} "
                        f"(no {', '.join(missing)})")
    return target


def check_dtype(dtype, name: str = "dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}; got {value}")
    return value


#: Largest seed fastrep accepts anywhere (targets, streams, learners, sweep specs): seeds are
#: stored in SQLite's signed 64-bit integers, and every Philox key they feed is 64 bits.
MAX_SEED = 2**63 - 1


def check_seed(seed, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63 - 1], the one rule for every seed in fastrep."""
    return check_int(seed, name, low=0, high=MAX_SEED)


def check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return value


def as_multi_indices(alphas, name: str = "alphas", r: int | None = None,
                     max_degree: int = MAX_DEGREE) -> np.ndarray:
    """A (K, r) int32 array of multi-indices with entries in [0, ``max_degree``] (a host array).

    Integer, boolean and integral float arrays (and lists of them) are accepted; every range
    check runs on the values as given, before the cast to int32, so no value can wrap.
    """
    src = place(alphas).host(alphas) if hasattr(alphas, "__dlpack__") else alphas
    try:
        a = np.asarray(src)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a (K, r) array of non-negative integers; "
                         f"could not read it ({exc})") from None
    if a.ndim == 1 and r is not None and r == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (K, r) array of multi-indices; got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} must hold non-negative integers; got non-integer values")
    elif a.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array; got dtype {a.dtype}")
    if a.size:
        lo, hi = a.min(), a.max()
        if lo < 0:
            raise ValueError(f"{name} must hold non-negative integers; got {lo}")
        if hi > max_degree:
            raise ValueError(f"{name} has an entry {hi} > {max_degree}, the largest Hermite degree fastrep "
                             "computes (fastrep._validation.MAX_DEGREE)")
    if r is not None and a.shape[1] != r:
        raise ValueError(f"{name} has {a.shape[1]} columns but Z has {r}; they must match")
    return np.ascontiguousarray(a, dtype=np.int32)


def public_init(cls):
    """Give ``cls`` its own copy of the ``__init__`` it inherits, so that Python's TypeError for
    a mistyped keyword names the public class (``OneStepNetwork.__init__() got an unexpected
    keyword argument``), not a private base. Signature, defaults and docstring are unchanged
    (scikit-learn reads the parameters from the signature)."""
    init = cls.__init__
    qualname = f"{cls.__qualname__}.__init__"
    new = types.FunctionType(init.__code__.replace(co_qualname=qualname), init.__globals__, "__init__",
                             init.__defaults__, init.__closure__)
    new.__kwdefaults__ = init.__kwdefaults__
    new.__doc__, new.__qualname__, new.__module__ = init.__doc__, qualname, cls.__module__
    cls.__init__ = new
    return cls


# --------------------------------------------------------------------------- parameter rules
#
# The vocabulary of the rule tables (modelled on scikit-learn's ``_parameter_constraints``):
# every learner declares ``_parameter_rules = {name: [rule, ...]}``, a value is valid when one
# rule of its list accepts it, and :func:`validate_params` is the one function that checks a
# table. Theory functions and the sweep runner check their arguments with the same rules.


class ParameterError(Exception):
    """Mixin of the errors :func:`validate_params` raises: ``parameter`` names the argument."""

    parameter: str | None = None


class ParameterValueError(ParameterError, ValueError):
    """A parameter of the right type outside its rules (a bound, an option, a parity)."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


class ParameterTypeError(ParameterError, TypeError):
    """A parameter of a type none of its rules takes."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


class ParameterMemoryError(ParameterError, MemoryError):
    """A parameter whose allocation does not fit the memory budget."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


class Rule:
    """One accepted form of a parameter. ``matches``: the value has the rule's type;
    ``accepts``: it satisfies the rule; ``desc``: the rule in words ("an integer >= 1")."""

    desc = "?"

    def matches(self, value) -> bool:
        return self.accepts(value)

    def accepts(self, value) -> bool:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def problem(self, value) -> str:
        """What to say about a value this rule ``matches`` but does not accept."""
        return self.desc

    def __repr__(self):
        return f"{type(self).__name__}({self.desc})"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class Interval(Rule):
    """Numbers of ``kind`` (``"integer"`` or ``"real"``; a real is finite) between ``left`` and
    ``right`` (None: unbounded), ``closed`` at ``"left"``, ``"right"``, ``"both"`` or ``"neither"``.
    ``multiple_of``: integers must also be a multiple of it (``why`` says why)."""

    def __init__(self, kind, left=None, right=None, *, closed="both", multiple_of=None, why="", desc=None):
        if kind not in ("integer", "real"):
            raise ValueError(f"kind must be 'integer' or 'real'; got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither'; got {closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed
        self.multiple_of, self.why = multiple_of, why
        self.custom, self.desc = desc is not None, desc or self._describe()

    def _describe(self):
        lo_in, hi_in = self.closed in ("left", "both"), self.closed in ("right", "both")
        lo, hi = self.left, self.right
        if self.kind == "integer":
            what = "an even integer" if self.multiple_of == 2 else "an integer"
            if self.multiple_of not in (None, 2):
                what = f"an integer multiple of {self.multiple_of}"
        else:
            if lo == 0 and not lo_in and hi is None:
                return "a positive number"
            what = "a finite number" if hi is None else "a number"
        if lo is not None and hi is not None:
            return f"{what} in {'[' if lo_in else '('}{_num(lo)}, {_num(hi)}{']' if hi_in else ')'}"
        if lo is not None:
            return f"{what} {'>=' if lo_in else '>'} {_num(lo)}"
        if hi is not None:
            return f"{what} {'<=' if hi_in else '<'} {_num(hi)}"
        return what

    def matches(self, value):
        return _is_int(value) if self.kind == "integer" else _is_real(value)

    def _low_ok(self, v):
        return self.left is None or (v >= self.left if self.closed in ("left", "both") else v > self.left)

    def _high_ok(self, v):
        return self.right is None or (v <= self.right if self.closed in ("right", "both") else v < self.right)

    def accepts(self, value):
        if not self.matches(value):
            return False
        if self.kind == "real" and not math.isfinite(float(value)):
            return False
        if self.multiple_of is not None and int(value) % self.multiple_of:
            return False
        return self._low_ok(value) and self._high_ok(value)

    def problem(self, value):
        if self.custom:
            return self.desc
        if self.kind == "integer":  # the bound that failed, as check_int says it
            if not self._low_ok(value):
                return f"{'>=' if self.closed in ('left', 'both') else '>'} {_num(self.left)}"
            if not self._high_ok(value):
                return f"{'<=' if self.closed in ('right', 'both') else '<'} {_num(self.right)}"
            if self.multiple_of == 2:
                return f"even{': ' + self.why if self.why else ''}"
            return f"a multiple of {self.multiple_of}{': ' + self.why if self.why else ''}"
        return self.desc


class Options(Rule):
    """One of the given values (strings, usually), compared with ``==`` on the same type (any
    str subclass for a string)."""

    def __init__(self, *values, desc=None):
        self.values = values
        words = [repr(v) for v in values]
        self.desc = desc or (words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}")

    @staticmethod
    def _same_type(value, option):  # a str subclass (np.str_) is a string; True is no 1
        return isinstance(value, str) if isinstance(option, str) else type(value) is type(option)

    def matches(self, value):
        return any(self._same_type(value, v) for v in self.values)

    def accepts(self, value):
        return any(self._same_type(value, v) and value == v for v in self.values)


class Boolean(Rule):
    """True or False: a Python bool or a NumPy bool_, nothing else (no 0/1, no "false")."""

    desc = "True or False"

    def accepts(self, value):
        return isinstance(value, (bool, np.bool_))


class NoneRule(Rule):
    desc = "None"

    def accepts(self, value):
        return value is None


class Callable(Rule):
    desc = "a callable"

    def accepts(self, value):
        return callable(value)


class FloatDType(Rule):
    """float32 or float64, as anything ``np.dtype`` reads (``auto``: or the string 'auto')."""

    def __init__(self, *, auto=False):
        self.auto = auto
        self.desc = "float32 or float64" + (" (or 'auto')" if auto else "")

    def matches(self, value):
        return False  # any other dtype is a TypeError, as check_dtype says

    def accepts(self, value):
        if self.auto and isinstance(value, str) and value == "auto":
            return True
        try:
            return np.dtype(value) in FLOAT_DTYPES
        except TypeError:
            return False


class HasAttributes(Rule):
    """An object with the given attributes (a duck type, e.g. a MultiIndexTarget)."""

    def __init__(self, *attrs, desc):
        self.attrs, self.desc = attrs, desc

    def matches(self, value):
        return False

    def accepts(self, value):
        return all(hasattr(value, a) for a in self.attrs)


class InstanceOf(Rule):
    """An instance of ``cls`` (``desc``: how the error names it)."""

    def __init__(self, cls, *, desc=None):
        self.cls, self.desc = cls, desc or f"a {cls.__module__}.{cls.__qualname__}"

    def matches(self, value):
        return False

    def accepts(self, value):
        return isinstance(value, self.cls)


#: rule names a table may use instead of rule objects, as scikit-learn's tables do
_NAMED = {"boolean": Boolean(), None: NoneRule(), "callable": Callable()}


def _rules(spec) -> list[Rule]:
    return [_NAMED[r] if not isinstance(r, Rule) else r for r in spec]


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_param(name: str, value, rules):
    """``value`` if one of ``rules`` accepts it; else ParameterValueError (a rule of its type
    refuses it) or ParameterTypeError (no rule takes its type), as "<name> must be ...; got ..."."""
    rules = _rules(rules)
    if any(r.accepts(value) for r in rules):
        return value
    typed = [r for r in rules if r.matches(value)]
    if typed:
        others = [r for r in rules if not isinstance(r, NoneRule)]
        said = typed[0].problem(value) if len(others) == 1 else " or ".join(r.desc for r in others)
        raise ParameterValueError(name, f"{name} must be {said}; got {_shown(value)}")
    said = " or ".join(r.desc for r in rules)
    raise ParameterTypeError(name, f"{name} must be {said}; got {_shown(value)}")


def validate_params(params: dict, table: dict, *, only=None) -> dict:
    """Check every entry of ``params`` that ``table`` has a rule list for (``only``: these names
    alone), in the table's order; returns ``params``. The one checker of parameter tables."""
    for name, rules in table.items():
        if (only is None or name in only) and name in params:
            check_param(name, params[name], rules)
    return params


#: rules every learner shares: one ridge rule ('validate' or a finite number >= 0), one seed
#: rule, one memory budget rule
RIDGE_RULES = [Options("validate"), Interval("real", 0, None)]
SEED_RULES = [Interval("integer", 0, MAX_SEED)]
MEMORY_RULES = [Interval("real", 0, None, closed="neither"), NoneRule()]


class RuleChecked:
    """Mixin of the learners: ``_parameter_rules`` (the class's table) and the public check."""

    _parameter_rules: dict = {}

    def check_params(self):
        """Check the current parameters (``get_params``) against the class's rule table.

        ``fit`` runs the same check first; calling it early finds a bad parameter before any
        data is drawn.

        Returns
        -------
        self
            The estimator, unchanged.

        Raises
        ------
        ValueError
            For a parameter out of its range, as "<name> must be ...; got ..." (the
            exception's ``parameter`` attribute names it).
        TypeError
            For a parameter of the wrong type, named the same way.

        Examples
        --------
        >>> import fastrep
        >>> try:
        ...     fastrep.OneStepNetwork(width=3).check_params()
        ... except ValueError as exc:
        ...     print(exc.parameter)
        width
        """
        validate_params(self.get_params(deep=False), self._parameter_rules)
        return self


def check_array(value, name: str, rule: Interval, *, allow_neg_inf: bool = False,
                max_size: int | None = None):
    """``value`` (a number or an array of any shape) as a float64 NumPy array whose every entry
    ``rule`` (an :class:`Interval`) accepts; ``allow_neg_inf``: -inf entries too (a log of 0).
    ParameterTypeError for a non-numeric value, ParameterValueError for a refused entry or more
    than ``max_size`` entries, as "<name> must be ...; got ..."."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise ParameterTypeError(name, f"{name} must be {rule.desc} or an array of them; got {_shown(value)}")
    if max_size is not None and arr.size > max_size:
        raise ParameterValueError(name, f"{name} must have at most {max_size:,} entries; got {arr.size:,}")
    arr = arr.astype(np.float64)
    flat = arr.reshape(-1)
    ok = np.isfinite(flat) if rule.kind == "real" else np.ones(flat.shape, dtype=bool)
    if rule.kind == "integer":
        ok &= np.isfinite(flat) & (flat == np.round(flat))
    with np.errstate(invalid="ignore"):
        ok &= np.asarray(rule._low_ok(flat)) & np.asarray(rule._high_ok(flat))
    if allow_neg_inf:
        ok |= flat == -np.inf
    if not ok.all():
        bad = flat[np.flatnonzero(~ok)[0]]
        each = " (or -inf)" if allow_neg_inf else ""
        raise ParameterValueError(name, f"{name} must be {rule.desc}{each}, in every entry; "
                                        f"got {float(bad)!r}")
    return arr
