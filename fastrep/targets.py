"""Multi-index targets f*(x) = g(Ux) written in the orthonormal Hermite basis (the paper).

Notation, as in the paper:

``d``
    input dimension; inputs x ~ N(0, I_d).
``U``
    (r, d) with orthonormal rows; the target sees x only through z = Ux.
``g(z) = sum_alpha c_alpha h_alpha(z)``
    h_alpha(z) = prod_i He_{alpha_i}(z_i) / sqrt(alpha_i!) (``fastrep.hermite_features``);
    alpha is a multi-index in N^r and |alpha| its degree; ``p`` = ``degree`` = max |alpha|.
``noise``
    the label-noise **variance** sigma^2: labels are y = f*(x) + sigma * eps, eps ~ N(0, 1).
``H = E[grad^2 f*] = U^T M U``
    M_ij = c_{e_i + e_j} (i != j), M_ii = sqrt(2) c_{2 e_i}. The paper's theorem needs
    rank H = r (``nondegenerate``).

Since E[h_alpha h_beta] = delta_alpha,beta, E[f*^2] = sum c_alpha^2 (``variance``) and the
energy in degree k is sum_{|alpha| = k} c_alpha^2 (``energy_by_degree``). Targets are
normalized to E[f*^2] = 1 unless ``normalize=False``.

Random draws (U, and the coefficients of :meth:`MultiIndexTarget.random`) use the same
Philox4x32-10 + Box-Muller generator as :class:`fastrep.GaussianStream`, on stream ids that
the data never uses, through the float64 reference implementation: a target is a pure
function of its arguments on every machine and NumPy version.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
from scipy.special import ndtr

from ._arrays import place, row_dot, row_products
from ._memory import check_allocation
from ._validation import MAX_DEGREE, as_float_array, as_predict, check_finite_output, check_int, check_seed
from .hermite import _features, count_multi_indices, hermite_features, multi_indices

__all__ = ["MultiIndexTarget"]

#: Philox stream ids reserved for drawing targets (the data uses 0..5, see fastrep.data).
U_STREAM = 0xFFFFFFFF
COEF_STREAM = 0xFFFFFFFE

#: Largest deviation of U U^T from I_r accepted for a user-supplied U.
ORTHONORMAL_TOL = 1e-6

#: Most terms a target may have. Terms live in a Python dict (about 200 bytes and a few
#: microseconds each to build, normalize and sort), so 2 million cost seconds; random targets
#: that would need more (r = 3 at degree 300 has 4.6 million) are refused before any is drawn.
MAX_TERMS = 2_000_000


def _philox_normals(seed: int, stream: int, n: int, d: int) -> np.ndarray:
    """(n, d) float64 standard normals from the reference generator (platform-independent)."""
    from ._kernels import reference

    return reference.gaussian_block(seed, stream, 0, n, d, np.float64)



def hermite_projection(X, U, alphas, *, backend: str = "auto", rowwise: bool = False):
    """H[i, a] = h_alpha(U x_i): (n, K) in X's dtype and library, for X (n, d), U (r, d) float64
    on the host and alphas (K, r). With ``rowwise`` each row of H depends on X's row only, bit for
    bit (:func:`fastrep.backend.row_products`); otherwise U x is one BLAS product."""
    Ux = place(X).xp.asarray(U, dtype=X.dtype)
    Z = row_products(X, Ux) if rowwise else X @ Ux.T
    return hermite_features(Z, alphas, backend=backend)


def _random_U(d: int, r: int, seed: int) -> np.ndarray:
    """(r, d) float64 with orthonormal rows, Haar-distributed: the transposed Q factor of a
    Gaussian d x r matrix, with the signs of R's diagonal folded in so that Q is unique."""
    Q, R = np.linalg.qr(_philox_normals(seed, U_STREAM, d, r))
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    return np.ascontiguousarray((Q * signs).T)


def _sort_key(alpha: tuple[int, ...]):
    # the order of fastrep.multi_indices: by degree, then lexicographically descending
    return (sum(alpha), tuple(-a for a in alpha))


def _parse_terms(terms) -> tuple[int, dict[tuple[int, ...], float]]:
    if not isinstance(terms, Mapping):
        raise TypeError(
            "terms must be a mapping {multi-index tuple: coefficient}, e.g. {(2, 0): 1.0, (1, 1): 0.5}; "
            f"got {type(terms).__name__}"
        )
    if len(terms) == 0:
        raise ValueError("terms is empty: the target would be zero")
    parsed: dict[tuple[int, ...], float] = {}
    r = None
    for key, coef in terms.items():
        alpha = (key,) if isinstance(key, numbers.Integral) else key
        if not isinstance(alpha, tuple):
            raise TypeError(f"terms keys must be tuples of non-negative integers; got {key!r}")
        if len(alpha) == 0:
            raise ValueError("terms has an empty multi-index (); every multi-index needs r >= 1 entries")
        for a in alpha:
            if isinstance(a, bool) or not isinstance(a, numbers.Integral):
                raise TypeError(f"terms keys must be tuples of non-negative integers; got {key!r}")
            if a < 0:
                raise ValueError(f"terms has a negative index in multi-index {key!r}; indices must be >= 0")
        alpha = tuple(int(a) for a in alpha)
        if sum(alpha) > MAX_DEGREE:
            raise ValueError(f"terms has the multi-index {key!r} of degree {sum(alpha)} > {MAX_DEGREE}, the "
                             "largest Hermite degree fastrep computes (fastrep._validation.MAX_DEGREE)")
        if r is None:
            r = len(alpha)
        elif len(alpha) != r:
            raise ValueError(
                f"terms has multi-indices of different lengths ({r} and {len(alpha)}, at {key!r}); "
                "all must have length r"
            )
        if isinstance(coef, bool) or not isinstance(coef, numbers.Real):
            raise TypeError(f"terms[{key!r}] must be a real number; got {coef!r}")
        coef = float(coef)
        if math.isnan(coef):
            raise ValueError(f"terms[{key!r}] is NaN")
        if math.isinf(coef):
            raise ValueError(f"terms[{key!r}] is infinite")
        if alpha in parsed:
            raise ValueError(f"terms has the multi-index {alpha} twice")
        parsed[alpha] = coef
    if all(c == 0.0 for c in parsed.values()):
        raise ValueError("terms are all zero: the target would be zero")
    return r, {a: parsed[a] for a in sorted(parsed, key=_sort_key)}


class MultiIndexTarget:
    """A multi-index polynomial target f*(x) = sum_alpha c_alpha h_alpha(Ux).

    Targets pickle (they cross process boundaries) and compare equal by value.

    Parameters
    ----------
    d : int
        Input dimension.
    terms : mapping
        ``{tuple of r non-negative ints: float}``: the coefficients c_alpha on the orthonormal
        Hermite basis h_alpha (an int key k is shorthand for (k,)). Zero coefficients are kept.
    U : array, shape (r, d), or None, default None
        The relevant directions, orthonormal rows. Drawn from ``seed`` (Haar) when None.
    noise : float, default 0.0
        Label-noise **variance** sigma² >= 0 (not the standard deviation):
        ``y = f*(x) + sigma eps``.
    normalize : bool, default True
        Rescale the coefficients so that ``E[f*²] = sum c_alpha² = 1``.
    seed : int, default 0
        Seed of U when U is not given (and of the random coefficients of :meth:`random`).

    Attributes
    ----------
    d, r, degree : int
        Input dimension, number of directions, total degree.
    U : numpy.ndarray
        (r, d) float64, orthonormal rows.
    terms : dict
        ``{alpha tuple: float}``, after normalization, in the order of ``alphas``.
    alphas : numpy.ndarray
        (K, r) int32, ordered by degree, then lexicographically descending (the order of
        :func:`fastrep.multi_indices`).
    coefs : numpy.ndarray
        (K,) float64, aligned with ``alphas``.
    noise : float
        The label-noise variance.
    variance : float
        ``E[f*²] = sum c_alpha²`` (1.0 when normalized).
    seed : int
        The seed.

    Raises
    ------
    ValueError
        For r > d, multi-indices of different lengths, negative indices, a U whose rows are
        not orthonormal (to 1e-6), a zero target and NaN coefficients.
    TypeError
        For a ``terms`` that is not a mapping, or non-integer indices.

    Examples
    --------
    >>> import fastrep
    >>> t = fastrep.MultiIndexTarget(10, {(2, 0): 1.0, (1, 1): 1.0}, seed=0)
    >>> t.r, t.degree, round(t.variance, 6), t.nondegenerate
    (2, 2, 1.0, True)
    """

    def __init__(self, d: int, terms: Mapping, *, U=None, noise: float = 0.0, normalize: bool = True,
                 seed: int = 0):
        self.d = check_int(d, "d", low=1)
        self.seed = check_seed(seed)
        r, parsed = _parse_terms(terms)
        if r > self.d:
            raise ValueError(f"the multi-indices have r = {r} entries but d = {self.d}; need r <= d")
        if U is None:  # U is drawn as a (d, r) float64 Gaussian matrix and its QR factors
            check_allocation(4.0 * self.d * r * 8, what=f"the ({r}, {self.d}) directions U", argument="d")
        self.r = r
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
            raise TypeError(f"noise must be a non-negative number (a variance); got {noise!r}")
        noise = float(noise)
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a finite variance >= 0; got {noise}")
        self.noise = noise
        norm = math.hypot(*parsed.values())  # scaled: no underflow for tiny coefficients
        if normalize:
            parsed = {a: c / norm for a, c in parsed.items()}
        self.terms = parsed
        self.alphas = np.array(list(parsed), dtype=np.int32).reshape(-1, r)
        self.coefs = np.array(list(parsed.values()), dtype=np.float64)
        self.degree = int(self.alphas.sum(axis=1).max())
        self.variance = float(np.sum(self.coefs**2))
        self._norm = math.hypot(*self.coefs)  # sqrt(variance), without underflow
        if U is None:
            self.U = _random_U(self.d, r, self.seed)
        else:
            U = np.array(as_float_array(U, "U", ndim=2, dtype=np.float64, xp=np), dtype=np.float64, order="C")
            if U.shape != (r, self.d):
                raise ValueError(f"U must have shape (r, d) = ({r}, {self.d}); got {U.shape}")
            dev = float(np.max(np.abs(U @ U.T - np.eye(r))))
            if dev > ORTHONORMAL_TOL:
                raise ValueError(
                    f"U's rows are not orthonormal: max |U U^T - I| = {dev:.3g} > {ORTHONORMAL_TOL:g}; "
                    "orthonormalize it first (e.g. np.linalg.qr(U.T)[0].T)"
                )
            self.U = U
        self.U.setflags(write=False)
        self.alphas.setflags(write=False)
        self.coefs.setflags(write=False)

    # ---- presets --------------------------------------------------------------------------

    @classmethod
    def single_index(cls, d: int, kind: str = "he2", **kwargs) -> MultiIndexTarget:
        """The single-index target h_k(u.x) for ``kind`` = "he2", "he3" or "he4" (k = 2, 3, 4), r = 1.

        "he2", ``h_2(u.x) = He_2(u.x) / sqrt(2)``, is the first author's demo target (Damian,
        Lee and Soltanolkotabi's public demo of Algorithm 1; the paper). "he3" and "he4" have
        no degree-2 part, so their expected Hessian is 0 (rank 0 < r = 1): they lie outside
        the paper's theorem and the learners warn about them.

        Parameters
        ----------
        d : int
            Input dimension.
        kind : {'he2', 'he3', 'he4'}, default 'he2'
            The degree.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``, ``seed``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            If ``kind`` is not one of the three.

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.single_index(8, "he3").terms
        {(3,): 1.0}
        """
        kinds = {"he2": 2, "he3": 3, "he4": 4}
        if kind not in kinds:
            raise ValueError(f"kind must be one of {', '.join(map(repr, kinds))}; got {kind!r}")
        return cls(d, {(kinds[kind],): 1.0}, **kwargs)

    @classmethod
    def staircase(cls, d: int, r: int, **kwargs) -> MultiIndexTarget:
        """The staircase z_1 + z_1 z_2 + ... + z_1 z_2 ... z_r, normalized (r terms, degree r).

        From Abbe, Boix-Adsera and Misiakiewicz, "The merged-staircase property: a necessary
        and nearly sufficient condition for SGD learning of sparse functions on two-layer
        neural networks" (COLT 2022). In the Hermite basis every term is h_(1,..,1,0,..,0).
        Its expected Hessian is ``U^T M U`` with only M_12 = M_21 != 0, so rank H = 2: it is
        nondegenerate only for r = 2 (a contrast case for the paper's assumption).

        Parameters
        ----------
        d : int
            Input dimension.
        r : int
            Number of directions and degree, >= 1.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``, ``seed``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            If ``r`` is out of range or above d.

        Examples
        --------
        >>> import fastrep
        >>> list(fastrep.MultiIndexTarget.staircase(8, 3).terms)
        [(1, 0, 0), (1, 1, 0), (1, 1, 1)]
        """
        r = check_int(r, "r", low=1, high=MAX_DEGREE)
        terms = {tuple([1] * k + [0] * (r - k)): 1.0 for k in range(1, r + 1)}
        return cls(d, terms, **kwargs)

    @classmethod
    def sum_of_directions(cls, d: int, r: int, p: int, **kwargs) -> MultiIndexTarget:
        """An additive model: the sum over directions i and degrees k = 2..p of h_k(z_i), normalized.

        The sum-of-ridge-functions family of the paper ("sums like h_2(z_1) + h_2(z_2) + ...
        plus higher-degree terms"): every direction carries the same pure terms of degrees
        2..p, so ``M = sqrt(2) c I`` is full rank (nondegenerate) and the energy is spread
        evenly over degrees 2..p.

        Parameters
        ----------
        d : int
            Input dimension.
        r : int
            Number of directions, >= 1.
        p : int
            Degree, >= 2.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``, ``seed``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            If ``p < 2``, ``r`` is out of range, or the target would have too many terms.

        Examples
        --------
        >>> import fastrep
        >>> len(fastrep.MultiIndexTarget.sum_of_directions(8, 2, 3).terms)
        4
        """
        r = check_int(r, "r", low=1)
        p = check_int(p, "p", low=2, high=MAX_DEGREE)
        if r * (p - 1) > MAX_TERMS:
            raise ValueError(f"r: the target would have r (p - 1) = {r * (p - 1)} terms, "
                             f"more than MAX_TERMS = {MAX_TERMS}")
        terms = {}
        for i in range(r):
            for k in range(2, p + 1):
                alpha = [0] * r
                alpha[i] = k
                terms[tuple(alpha)] = 1.0
        return cls(d, terms, **kwargs)

    @classmethod
    def random(cls, d: int, r: int, p: int, *, seed: int = 0, **kwargs) -> MultiIndexTarget:
        """A random nondegenerate degree-p target whose energy is spread evenly over degrees 2..p.

        fastrep's own construction for the paper's generic case (the paper, "random
        nondegenerate degree-p targets"). Degree 2: ``M = Q diag(lambda) Q^T`` with Q a random
        rotation and each ``abs(lambda_i)`` in [1/2, 1] (random signs), so rank H = r and
        cond(H) <= 2. Degree k = 3..p: i.i.d. Gaussian coefficients on every multi-index of
        degree k. Each degree is scaled to energy 1/(p - 1).

        Parameters
        ----------
        d : int
            Input dimension.
        r : int
            Number of directions, 1 <= r <= d.
        p : int
            Degree, >= 2.
        seed : int, default 0
            Draws the coefficients and U.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            If ``p < 2``, ``r > d``, or the target would have too many terms.

        Examples
        --------
        >>> import fastrep
        >>> t = fastrep.MultiIndexTarget.random(16, 2, 3, seed=1)
        >>> t.nondegenerate, [round(e, 3) for e in t.energy_by_degree().values()]
        (True, [0.0, 0.0, 0.5, 0.5])
        """
        d = check_int(d, "d", low=1)
        r = check_int(r, "r", low=1)
        p = check_int(p, "p", low=2, high=MAX_DEGREE)
        seed = check_seed(seed)
        if r > d:
            raise ValueError(f"r = {r} but d = {d}; need r <= d")
        n_terms = count_multi_indices(r, p) - count_multi_indices(r, 1)
        if n_terms > MAX_TERMS:
            raise ValueError(f"p: a random target with r = {r} and degree p = {p} has {n_terms} terms, more "
                             f"than MAX_TERMS = {MAX_TERMS}; lower p or r")
        # every coefficient, rotation and eigenvalue comes from one reproducible Philox draw
        n_deg = {k: math.comb(r + k - 1, k) for k in range(3, p + 1)}
        draws = _philox_normals(seed, COEF_STREAM, 1, r * r + r + sum(n_deg.values()))[0]
        Q, R = np.linalg.qr(draws[: r * r].reshape(r, r))
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
        u = ndtr(draws[r * r : r * r + r])  # uniform on (0, 1)
        lam = np.where(u < 0.5, -1.0, 1.0) * (0.5 + 0.5 * np.abs(2.0 * u - 1.0))  # |lam| uniform on [1/2, 1)
        M = (Q * lam) @ Q.T
        terms: dict[tuple[int, ...], float] = {}
        for i in range(r):
            for j in range(i, r):
                alpha = [0] * r
                alpha[i] += 1
                alpha[j] += 1
                terms[tuple(alpha)] = M[i, i] / math.sqrt(2.0) if i == j else M[i, j]
        scale = math.sqrt(1.0 / (p - 1) / sum(c * c for c in terms.values()))
        terms = {a: c * scale for a, c in terms.items()}
        pos = r * r + r
        for k in range(3, p + 1):
            block = draws[pos : pos + n_deg[k]]
            pos += n_deg[k]
            block = block * math.sqrt(1.0 / (p - 1) / float(np.sum(block**2)))
            for alpha, c in zip(multi_indices(r, k, exact=True), block, strict=True):
                terms[tuple(int(a) for a in alpha)] = float(c)
        return cls(d, terms, seed=seed, **kwargs)

    @classmethod
    def product(cls, d: int, r: int = 3, **kwargs) -> MultiIndexTarget:
        """f*(x) = z_1 z_2 ... z_r = h_(1,..,1)(Ux): one term of degree r, no staircase.

        The Gaussian analogue of an r-sparse parity, the contrast case of the staircase (Abbe,
        Boix-Adsera, Misiakiewicz): every direction enters in the one degree-r term, so its
        information exponent is r in each direction and its leap is r (a step must find all r
        directions at once). r = 3 (the default) is h_(1,1,1). Its expected Hessian is 0 for
        r >= 3 (rank 0).

        Parameters
        ----------
        d : int
            Input dimension, >= r.
        r : int, default 3
            The number of directions and the degree of the one term, >= 1.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``, ``seed``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            If ``r < 1``, ``r`` is above the largest supported degree, or ``r > d``.
        """
        r = check_int(r, "r", low=1, high=MAX_DEGREE)
        return cls(d, {(1,) * r: 1.0}, **kwargs)

    @classmethod
    def giant_step(cls, d: int, **kwargs) -> MultiIndexTarget:
        """The two-direction teacher [f(theta_1.x) + f(theta_2.x)] / 2 with f = He_1 + He_2/2 + He_4/24.

        The "giant step" teacher of the paper (the example of Dandi, Krzakala, Loureiro, Pesce
        and Stephan, "How two-layer neural networks learn, one (giant) step at a time", 2023).
        theta_1 and theta_2 are the rows of U. In the orthonormal basis He_1 = h_1,
        He_2/2 = h_2/sqrt(2), He_4/24 = h_4/sqrt(24). Normalized to E[f*²] = 1 by default;
        ``normalize=False`` gives the teacher exactly as written (E[f*²] = 37/48).

        Parameters
        ----------
        d : int
            Input dimension, >= 2.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``, ``seed``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            For ``d`` < 2 or an invalid constructor argument (named in the message).
        TypeError
            For a ``d`` that is not an integer.

        Examples
        --------
        >>> import fastrep
        >>> round(fastrep.MultiIndexTarget.giant_step(8, normalize=False).variance, 6) == round(37 / 48, 6)
        True
        """
        f = {1: 1.0, 2: 1.0 / math.sqrt(2.0), 4: 1.0 / math.sqrt(24.0)}
        terms = {}
        for k, c in f.items():
            terms[(k, 0)] = 0.5 * c
            terms[(0, k)] = 0.5 * c
        return cls(d, terms, **kwargs)

    @classmethod
    def separation(cls, d: int, seed: int = 0, **kwargs) -> MultiIndexTarget:
        """The separation experiments' target: r = 2, degree 3, half its energy in degree 3.

        ``g = a [h_(2,0) + h_(0,2) + h_(1,1)] + b [h_(3,0) + h_(0,3) + h_(2,1) + h_(1,2)]``, with
        a and b such that degrees 2 and 3 carry energy 1/2 each (E[f*²] = 1).
        ``M = a [[sqrt 2, 1], [1, sqrt 2]]`` has eigenvalues ``a (sqrt 2 +- 1)``:
        nondegenerate, cond(H) = 5.8. A kernel with n ~ d^(2+delta) samples learns the
        degree-2 half only (excess error ~ 1/2), while Algorithm 1 learns both (the paper).
        fastrep's choice, after the sums "h_2(z_1) + h_2(z_2) + h_(1,1) plus degree-3 terms"
        of the paper.

        Parameters
        ----------
        d : int
            Input dimension, >= 2.
        seed : int, default 0
            Seed of U.
        **kwargs
            Constructor arguments (``U``, ``noise``, ``normalize``).

        Returns
        -------
        MultiIndexTarget
            The target.

        Raises
        ------
        ValueError
            For ``d`` < 2, a negative ``seed`` or an invalid constructor argument (named in the
            message).
        TypeError
            For a ``d`` or ``seed`` that is not an integer.

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.separation(d=100, seed=0)
        MultiIndexTarget(d=100, r=2, degree=3, terms=7, noise=0, nondegenerate=True)
        """
        a = math.sqrt(0.5 / 3.0)
        b = math.sqrt(0.5 / 4.0)
        terms = {(2, 0): a, (0, 2): a, (1, 1): a, (3, 0): b, (0, 3): b, (2, 1): b, (1, 2): b}
        return cls(d, terms, seed=seed, **kwargs)

    # ---- analytic quantities --------------------------------------------------------------

    def energy_by_degree(self) -> dict[int, float]:
        """The target's energy in each degree: the sum of c_alpha² over the multi-indices of degree k.

        Returns
        -------
        dict
            ``{k: energy}`` for every k = 0 .. degree (0.0 where no term).

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.single_index(8, "he2").energy_by_degree()
        {0: 0.0, 1: 0.0, 2: 1.0}
        """
        out = {k: 0.0 for k in range(self.degree + 1)}
        for alpha, c in self.terms.items():
            out[sum(alpha)] += c * c
        return out

    def hessian_core(self) -> np.ndarray:
        """The core M of the expected Hessian H = U^T M U.

        Returns
        -------
        numpy.ndarray
            (r, r) float64: ``M_ij = c_{e_i + e_j}`` (i != j), ``M_ii = sqrt(2) c_{2 e_i}``.

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.single_index(8, "he2").hessian_core().round(4)
        array([[1.4142]])
        """
        M = np.zeros((self.r, self.r))
        for alpha, c in self.terms.items():
            if sum(alpha) != 2:
                continue
            idx = [i for i, a in enumerate(alpha) for _ in range(a)]
            i, j = idx
            if i == j:
                M[i, i] = math.sqrt(2.0) * c
            else:
                M[i, j] = M[j, i] = c
        return M

    def expected_hessian(self) -> np.ndarray:
        """The expected Hessian H = E[grad² f*(x)] = U^T M U (= E[f*(x)(x x^T - I)] by Stein's lemma).

        Returns
        -------
        numpy.ndarray
            (d, d) float64.

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.separation(d=12).expected_hessian().shape
        (12, 12)
        """
        return self.U.T @ self.hessian_core() @ self.U

    def hessian_rank(self, tol: float = 1e-8) -> int:
        """The rank of H: the singular values of M above ``tol`` times sqrt(E[f*²]).

        U has orthonormal rows, so H and M have the same nonzero singular values.

        Parameters
        ----------
        tol : float, default 1e-8
            The relative threshold.

        Returns
        -------
        int
            rank H, between 0 and r.

        Examples
        --------
        >>> import fastrep
        >>> fastrep.MultiIndexTarget.single_index(8, "he3").hessian_rank()
        0
        """
        s = np.linalg.svd(self.hessian_core(), compute_uv=False)
        return int(np.sum(s > tol * self._norm))

    def _support(self, center: bool) -> list[tuple[int, ...]]:
        """The multi-indices with a nonzero coefficient (degree >= 2 with ``center``)."""
        low = 2 if center else 1
        return [a for a, c in self.terms.items() if c != 0.0 and sum(a) >= low]

    def information_exponents(self, *, center: bool = False) -> tuple[int | None, ...]:
        """(r,) the information exponent of each direction u_i of U (in the target's coordinates
        z = Ux): the lowest degree ``|alpha|`` >= 1 of a term with a nonzero coefficient that
        involves z_i (alpha_i > 0); None where no term does.

        For a single-index g = sum_k c_k h_k this is k* = min{k >= 1 : c_k != 0} (He_3: 3), the
        exponent of the online-SGD sample complexities n ~ d^(k* - 1) (Ben Arous, Gheissari,
        Jagannath 2021) and d^(k*/2) (smoothed loss, Damian et al. 2023). ``center=True``
        ignores the degree-0 and degree-1 terms, which the learners remove from the labels
        (``center=True`` of the learners): the exponents that the steps then see.

        Parameters
        ----------
        center : bool, default False
            Ignore the degree-0 and degree-1 terms (the learners' ``center=True``).

        Returns
        -------
        tuple of (int or None)
            The information exponent of each of the r directions, None for a direction that
            no term involves.
        """
        out: list[int | None] = [None] * self.r
        for alpha in self._support(center):
            deg = sum(alpha)
            for i, a in enumerate(alpha):
                if a > 0 and (out[i] is None or deg < out[i]):
                    out[i] = deg
        return tuple(out)

    def leap(self, *, center: bool = False) -> int:
        """The leap of g in the Hermite basis (Abbe, Boix-Adsera, Misiakiewicz, "SGD learning on
        neural networks: leap complexity and saddle-to-saddle dynamics", 2023): the least L such
        that the terms can be ordered so that each adds at most L degrees on directions no earlier
        term involved, i.e. min over orderings of max_i sum_{j new at term i} alpha_j.

        The staircase z_1 + z_1 z_2 + ... has leap 1; h_(1,1,1) (:meth:`product`) leap 3; a
        single-index target its information exponent (He_3: 3); the giant-step teacher 1, and 2
        with ``center=True`` (its degree-1 part removed, as GiantStep's protocol does). A target
        with no term (left) has leap 0. Computed as the least L whose closure (repeatedly take
        every term with at most L new degrees) reaches every term: the closure does not depend on
        the order, so this is the minimum over orderings.

        Parameters
        ----------
        center : bool, default False
            Ignore the degree-0 and degree-1 terms (the learners' ``center=True``).

        Returns
        -------
        int
            The leap, >= 0 (0 for a target with no term left).
        """
        support = self._support(center)
        if not support:
            return 0
        for L in range(1, max(sum(a) for a in support) + 1):
            known: set[int] = set()
            left = list(support)
            grew = True
            while left and grew:
                grew = False
                for alpha in list(left):
                    if sum(a for i, a in enumerate(alpha) if i not in known) <= L:
                        known.update(i for i, a in enumerate(alpha) if a > 0)
                        left.remove(alpha)
                        grew = True
            if not left:
                return L
        return max(sum(a) for a in support)  # not reached: L = the largest degree takes every term

    @property
    def nondegenerate(self) -> bool:
        """Whether rank H = r, the paper's assumption.

        Targets without a full degree-2 part (pure He_3 or He_4, the staircase for r >= 3)
        are outside the theorem; fastrep still runs them.
        """
        return self.hessian_rank() == self.r

    # ---- evaluation and sampling ----------------------------------------------------------

    def f(self, X, *, backend: str = "auto"):
        """The noiseless values f*(X).

        Costs one (n, d) x (d, r) product plus :func:`fastrep.hermite_features` on the (n, r)
        projections, in X's dtype. On the CPU each value depends on its own row only, bit for
        bit (so labels do not change with the chunk size).

        Parameters
        ----------
        X : array, shape (n, d)
            float32 or float64 (NumPy or CuPy); integers and booleans become float64, float16
            float32.
        backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
            The backend of the Hermite features.

        Returns
        -------
        array, shape (n,)
            X's dtype and array library.

        Raises
        ------
        TypeError
            If X is complex or of object dtype.
        ValueError
            If X is not (n, d), or its values overflow X's dtype.

        Examples
        --------
        >>> import numpy as np, fastrep
        >>> t = fastrep.MultiIndexTarget.single_index(3, "he2", U=np.eye(3)[:1])
        >>> t.f(np.array([[2.0, 0.0, 0.0]])).round(4)   # h_2(2) = (4 - 1) / sqrt(2)
        array([2.1213])
        """
        xp = place(X).xp
        X = as_float_array(X, "X", ndim=2, xp=xp)
        if X.shape[1] != self.d:
            raise ValueError(f"X has {X.shape[1]} columns but the target has d = {self.d}")
        Ux = xp.asarray(self.U, dtype=X.dtype)
        # row by row (see row_products): f(X)[i] depends on X[i] only, bit for bit, for any chunking
        with np.errstate(over="ignore", invalid="ignore"):
            Z = row_products(X, Ux)
        check_finite_output(Z, "the projections U x", "X")
        H = _features(Z, self.alphas, backend, None, "X")
        with np.errstate(over="ignore", invalid="ignore"):
            y = row_dot(H, xp.asarray(self.coefs, dtype=X.dtype))
        return check_finite_output(y, "the values f*(X)", "X")

    def sample(self, n: int, seed: int, *, split: str = "train", dtype=np.float32, backend: str = "auto"):
        """The first n rows (X, y) of ``GaussianStream(self, seed, split=split, dtype=dtype)``.

        Parameters
        ----------
        n : int
            Rows, >= 0.
        seed : int
            The stream's seed.
        split : {'train', 'val', 'test'}, default 'train'
            The split (disjoint Philox streams of the same seed).
        dtype : {numpy.float32, numpy.float64}, default numpy.float32
            The rows' dtype.
        backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
            Where the rows are generated.

        Returns
        -------
        X : array, shape (n, d)
            The inputs.
        y : array, shape (n,)
            ``f*(X) + sqrt(noise) eps``.

        Raises
        ------
        ValueError
            For a negative ``n`` or ``seed``, or an unknown ``split`` or ``backend`` (each
            named in the message).
        TypeError
            For an ``n`` or ``seed`` that is not an integer, or a ``dtype`` other than
            float32 and float64.
        BackendUnavailableError
            For a ``backend`` named that cannot run here.

        Examples
        --------
        >>> import fastrep
        >>> X, y = fastrep.MultiIndexTarget.separation(d=8).sample(5, seed=1)
        >>> X.shape, y.dtype
        ((5, 8), dtype('float32'))
        """
        from .data import GaussianStream

        return GaussianStream(self, seed, split=split, dtype=dtype, backend=backend).take(n)

    def hermite_coefficients(self, model_or_fn, n: int, seed: int, *, chunk_size: int | None = None,
                             dtype=np.float64, backend: str = "auto") -> dict[tuple[int, ...], float]:
        """Monte Carlo estimates of E[m(x) h_alpha(Ux)] for every alpha of total degree <= degree.

        The n inputs are the ``test`` split of ``GaussianStream(self, seed)`` (never the
        training rows of the same seed), streamed in chunks. For m = f* the estimates converge
        to ``terms`` (and to 0 off them) at rate 1/sqrt(n).

        Parameters
        ----------
        model_or_fn : estimator or callable
            A callable X -> (n,) values, or an object with ``predict(X)`` (a fitted learner).
        n : int
            Monte Carlo inputs, >= 1.
        seed : int
            The stream's seed.
        chunk_size : int or None, default None
            Rows per block (None: the stream's default).
        dtype : {numpy.float64, numpy.float32}, default numpy.float64
            The inputs' dtype.
        backend : {'auto', 'reference', 'cpp', 'numba', 'cupy'}, default 'auto'
            Where the inputs and features are computed.

        Returns
        -------
        dict
            ``{alpha tuple: float}``, alphas in :func:`fastrep.multi_indices` order.

        Raises
        ------
        TypeError
            If ``model_or_fn`` is neither callable nor has ``predict``.
        ValueError
            If ``n < 1`` or the values are not one per row.

        Examples
        --------
        >>> import fastrep
        >>> t = fastrep.MultiIndexTarget.single_index(4, "he2")
        >>> round(t.hermite_coefficients(t.f, 20_000, seed=0)[(2,)], 1)
        1.0
        """
        from .data import GaussianStream

        fn = as_predict(model_or_fn, "model_or_fn")
        n = check_int(n, "n", low=1)
        alphas = multi_indices(self.r, self.degree)
        acc = np.zeros(len(alphas))
        stream = GaussianStream(self, seed, split="test", dtype=dtype, backend=backend)
        for X, _ in stream.chunks(0, n, chunk_size):
            where = place(X)
            xp = where.xp
            vals = xp.reshape(xp.asarray(fn(X)), (-1,))
            if vals.shape[0] != X.shape[0]:
                raise ValueError(f"model_or_fn returned {vals.shape[0]} values for {X.shape[0]} inputs")
            H = hermite_projection(X, self.U, alphas, backend=backend)
            acc += where.host(xp.astype(vals, xp.float64) @ xp.astype(H, xp.float64))
        acc /= n
        return {tuple(int(a) for a in alpha): float(v) for alpha, v in zip(alphas, acc, strict=True)}

    # ---- housekeeping ---------------------------------------------------------------------

    def __eq__(self, other):
        if not isinstance(other, MultiIndexTarget):
            return NotImplemented
        return (self.d == other.d and self.terms == other.terms and self.noise == other.noise
                and np.array_equal(self.U, other.U))

    __hash__ = None  # compared by value (U, terms), like a NumPy array: not a dict key

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("U", "alphas", "coefs"):
            getattr(self, name).setflags(write=False)

    def __repr__(self):
        return (f"MultiIndexTarget(d={self.d}, r={self.r}, degree={self.degree}, terms={len(self.terms)}, "
                f"noise={self.noise:g}, nondegenerate={self.nondegenerate})")
