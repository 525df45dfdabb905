"""Is a parsed answer equivalent to a parsed gold?

Scalars: exact rational comparison first (``0.38`` is not ``3/8``); a decimal against a value with
no finite decimal form by the precision policy of :mod:`rewards.precision`; exact expressions by
structure, then by numeric evaluation at 30 digits (:data:`EXACT_RTOL`); expressions with free
symbols by probing them at fixed, irregular points (no unbounded ``simplify``).

Containers: sets and bare lists (roots) in any order, as multisets; tuples, points and matrices in
order; intervals with their open/closed ends; ratios up to a common factor (``5:12`` = ``10:24`` =
``5/12``). Relations (:mod:`rewards.relations`): ``x = 3``, ``(a, b) = (4, 1)``, ``|PQ| = 2`` against
their value, and an answer ``y^2 = 20`` or ``\\sin \\angle ABC = 3/5`` (one term in unknowns on the
left, a value on the right) by its right side; a chain ``y = 2+3+3 = 8`` as its last member;
``y = 2/7 \\approx 0.29`` as its exact member; equations up to a constant factor; inequalities in one
unknown as intervals (``-t > -2`` is ``t < 2``; ``2 \\le |w| \\le 5`` is a union); ``x \\in S`` as
``S``. A percent on one side only is tried both as written and scaled by 100.

>>> from rewards.parse import parse
>>> equivalent(parse(r"\\frac{\\sqrt{6}}{2}"), parse(r"\\sqrt{\\frac32}"))
True
>>> equivalent(parse("3/8"), parse("0.38"))
False
>>> equivalent(parse("(-\\\\infty, 2]"), parse("x \\\\le 2")), equivalent(parse("[1, 2]"), parse("[1, 2)"))
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp

from rewards import precision
from rewards.relations import FLIP, canonical, is_name
from rewards.values import Interval, Matrix, Parsed, Relation, Seq, Text, Union

EXACT_RTOL = 1e-12  # two exact forms of the same number (evaluated at 30 digits)
APPROX_RTOL = precision.COMPUTED_RTOL  # a computed decimal against a value with no finite form
ZERO_ATOL = 1e-28  # both sides below this (at 30 digits) count as zero
N_PROBES = 5

# Irregular probe values (mixed signs, away from 0, +-1 and simple rationals).
_PROBE_VALUES = [
    sp.Float(v, 30)
    for v in (
        "0.5377052",
        "1.8338903",
        "-2.2588469",
        "0.8621733",
        "0.3187652",
        "-1.3076880",
        "-0.4335920",
        "2.3426286",
        "3.5783969",
        "2.7694370",
        "-1.3498869",
    )
]


@dataclass(frozen=True)
class _Tol:
    """How close is equal: ``rtol`` for computed values; ``decimals`` maps each decimal literal of
    either side to ``(places, significant digits)`` for :func:`rewards.precision.matches`."""

    rtol: float
    approx: bool
    decimals: dict = field(default_factory=dict)


def equivalent(gold: Parsed, answer: Parsed) -> bool:
    """True when ``answer`` is the same mathematical answer as ``gold``."""
    approx = gold.approx or answer.approx
    decimals = {v: (places, sig) for v, places, sig in (*gold.decimals, *answer.decimals)}
    tol = _Tol(APPROX_RTOL if approx else EXACT_RTOL, approx, decimals)
    candidates = [answer.value]
    if answer.percent != gold.percent and _is_scalar(answer.value):
        scale = sp.Rational(1, 100) if answer.percent else sp.Integer(100)
        candidates.append(answer.value * scale)
    return any(_eq(gold.value, a, tol) for a in candidates)


# ---------------------------------------------------------------------------------------------------


def _is_scalar(v) -> bool:
    return isinstance(v, sp.Basic)


def _eq(g, a, tol: _Tol) -> bool:
    g, a = canonical(g), canonical(a)
    if isinstance(g, Text) or isinstance(a, Text):
        return isinstance(g, Text) and isinstance(a, Text) and g.text == a.text
    if isinstance(g, Relation) or isinstance(a, Relation):
        return _eq_relation(g, a, tol)
    if _is_scalar(g) and _is_scalar(a):
        return _eq_scalar(g, a, tol)
    if _is_ratio(g) or _is_ratio(a):
        return _eq_ratio(g, a, tol)
    if isinstance(g, Matrix) or isinstance(a, Matrix):
        return _eq_matrix(g, a, tol)
    if isinstance(g, (Interval, Union)) or isinstance(a, (Interval, Union)):
        return _eq_sets(g, a, tol)
    if isinstance(g, Seq) or isinstance(a, Seq):
        return _eq_seq(g, a, tol)
    return False


def _eq_relation(g, a, tol) -> bool:
    if isinstance(g, Relation) and isinstance(a, Relation):
        if g.ops == a.ops == ("=",):
            return _eq_equation(g, a, tol)
        if len(g.parts) == len(a.parts):
            if g.ops == a.ops and all(_eq(x, y, tol) for x, y in zip(g.parts, a.parts)):
                return True
            flipped = tuple(FLIP.get(o, o) for o in reversed(a.ops))
            if g.ops == flipped and all(_eq(x, y, tol) for x, y in zip(g.parts, reversed(a.parts))):
                return True
        return False
    rel, other = (g, a) if isinstance(g, Relation) else (a, g)
    if rel.ops == ("=",) and is_name(rel.parts[0]):
        return _eq(rel.parts[1], other, tol) if rel is g else _eq(other, rel.parts[1], tol)
    if rel is a and _states_value(a):  # y^2 = 20, \sin \angle ABC = 3/5 against a value
        return _eq(g, a.parts[1], tol)
    return False


def _states_value(r: Relation) -> bool:
    """``quantity = value``: one term in unknowns (a power, a function value, an angle's sine) on the
    left and a closed value on the right, as an answer states what it found. A sum on the left
    (``x + y = 3``) is an equation still to solve, not a quantity."""
    if r.ops != ("=",):
        return False
    left, right = r.parts
    return (
        _is_scalar(left)
        and _is_scalar(right)
        and bool(left.free_symbols)
        and not isinstance(left, sp.Add)
        and not right.free_symbols
    )


def _eq_equation(g: Relation, a: Relation, tol) -> bool:
    (gl, gr), (al, ar) = g.parts, a.parts
    if not all(_is_scalar(p) for p in (gl, gr, al, ar)):
        return bool(_eq(gl, al, tol) and _eq(gr, ar, tol))
    if is_name(gl) and is_name(al) and gl == al:
        return _eq(gr, ar, tol)
    if is_name(gl) and is_name(ar) and gl == ar:
        return _eq(gr, al, tol)
    dg, da = gl - gr, al - ar
    free = dg.free_symbols | da.free_symbols
    if not free:
        return (_eq_scalar(gl, al, tol) and _eq_scalar(gr, ar, tol)) or (
            _eq_scalar(gl, ar, tol) and _eq_scalar(gr, al, tol)
        )
    return _proportional(dg, da, free, tol.rtol)


def _eq_scalar(g, a, tol) -> bool:
    if g == a:
        return True
    if g.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or a.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return False
    free = g.free_symbols | a.free_symbols
    if free:
        return _probe_equal(g, a, free, tol.rtol)
    if tol.approx:
        written = _decimal_literal(g, a, tol)
        if written is not None:
            return written
    if g.is_Rational and a.is_Rational:  # exact, unless a computed decimal meets a 1/3
        return (
            tol.approx
            and (_non_terminating(g) or _non_terminating(a))
            and _close(_value(g, {}), _value(a, {}), tol.rtol)
        )
    return _close(_value(g, {}), _value(a, {}), tol.rtol)


def _decimal_literal(g, a, tol) -> bool | None:
    """The precision policy when one side is a decimal as written; None when neither side is."""
    for dec, exact in ((a, g), (g, a)):
        info = tol.decimals.get(dec) if dec.is_Rational else None
        if info is None:
            continue
        if exact.is_Rational and not _non_terminating(exact):
            return False  # a value with a finite decimal form is written exactly or not at all
        value = _value(exact, {})
        return value is not None and precision.matches(value, dec, *info)
    return None


def _non_terminating(r) -> bool:
    q = int(r.q)
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q != 1


def _probes(free):
    names = sorted(free, key=lambda s: s.name)
    n = len(_PROBE_VALUES)
    for k in range(N_PROBES):
        yield {
            s: _PROBE_VALUES[(3 * k + 7 * j) % n] * (1 + sp.Rational(j, 10))
            for j, s in enumerate(names)
        }


def _probe_equal(g, a, free, rtol) -> bool:
    agree = 0
    for subs in _probes(free):
        vg, va = _value(g, subs), _value(a, subs)
        if vg is None or va is None:
            if (vg is None) != (va is None):
                return False
            continue
        if not _close(vg, va, rtol):
            return False
        agree += 1
    return agree >= 2


def _proportional(dg, da, free, rtol) -> bool:
    """``dg = c * da`` for a constant ``c != 0`` at every probe (same equation)."""
    ratio = None
    agree = 0
    for subs in _probes(free):
        vg, va = _value(dg, subs), _value(da, subs)
        if vg is None or va is None:
            continue
        with mpmath.workdps(40):
            zg, za = abs(vg) < ZERO_ATOL, abs(va) < ZERO_ATOL
            if zg or za:
                if zg != za:
                    return False
                continue
            r = vg / va
        if ratio is None:
            ratio = r
        elif not _close(ratio, r, rtol):
            return False
        agree += 1
    return agree >= 2


def _value(expr, subs):
    """``expr`` at ``subs`` as an ``mpmath.mpc`` (30 digits), or None if undefined/not numeric."""
    try:
        v = expr.evalf(30, subs=subs) if subs else expr.evalf(30)
        if v.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            return None
        re_, im_ = v.as_real_imag()
        if not (re_.is_Number and im_.is_Number):
            return None
        with mpmath.workdps(40):
            return mpmath.mpc(_mpf(re_), _mpf(im_))
    except (
        TypeError,
        ValueError,
        ZeroDivisionError,
        OverflowError,
        AttributeError,
        RecursionError,
    ):
        return None


def _mpf(x):
    if isinstance(x, sp.Float):
        return mpmath.mpf(x._mpf_)
    return mpmath.mpf(int(x.p)) / int(x.q)


def _close(x, y, rtol) -> bool:
    if x is None or y is None:
        return False
    with mpmath.workdps(40):
        if abs(x) < ZERO_ATOL and abs(y) < ZERO_ATOL:
            return True
        return abs(x - y) <= rtol * max(abs(x), abs(y))


def _eq_matrix(g, a, tol) -> bool:
    def cells(v):
        if isinstance(v, Matrix):
            return v.rows
        if isinstance(v, Seq) and v.kind in ("tuple", "paren", "list"):
            return None if not all(_is_scalar(i) for i in v.items) else (tuple(v.items),)
        return None

    cg, ca = cells(g), cells(a)
    if cg is None or ca is None:
        return False
    if isinstance(g, Matrix) != isinstance(a, Matrix):  # a vector written as a tuple
        cg, ca = _flat_vector(cg), _flat_vector(ca)
        if cg is None or ca is None:
            return False
    if len(cg) != len(ca) or any(len(r) != len(s) for r, s in zip(cg, ca)):
        return False
    return all(_eq_scalar(x, y, tol) for r, s in zip(cg, ca) for x, y in zip(r, s))


def _flat_vector(rows):
    if len(rows) == 1:
        return (tuple(rows[0]),)
    if all(len(r) == 1 for r in rows):
        return (tuple(r[0] for r in rows),)
    return None


def _interval_of(v):
    if isinstance(v, Interval):
        return v
    if isinstance(v, Seq) and v.kind == "paren":
        lo, hi = v.items
        return Interval(lo, hi, True, True)
    return None


def _eq_sets(g, a, tol) -> bool:
    gi, ai = _interval_of(g), _interval_of(a)
    if gi is not None and ai is not None:
        return (
            gi.lo_open == ai.lo_open
            and gi.hi_open == ai.hi_open
            and _eq_end(gi.lo, ai.lo, tol)
            and _eq_end(gi.hi, ai.hi, tol)
        )
    if isinstance(g, Union) and isinstance(a, Union):
        return _multiset_eq(g.parts, a.parts, tol)
    return False


def _is_ratio(v) -> bool:
    return isinstance(v, Seq) and v.kind == "ratio"


def _eq_ratio(g, a, tol) -> bool:
    """``5:12`` = ``10:24`` = ``5/12``: each term over the first, compared as numbers."""

    def terms(v):
        if _is_ratio(v):
            return v.items
        return (v, sp.Integer(1)) if _is_scalar(v) else None

    tg, ta = terms(g), terms(a)
    if tg is None or ta is None or len(tg) != len(ta) or tg[0] == 0 or ta[0] == 0:
        return False
    return all(_eq_scalar(x / tg[0], y / ta[0], tol) for x, y in zip(tg[1:], ta[1:]))


def _eq_end(x, y, tol) -> bool:
    if x in (sp.oo, -sp.oo) or y in (sp.oo, -sp.oo):
        return x == y
    return _eq(x, y, tol)


def _eq_seq(g, a, tol) -> bool:
    if not (isinstance(g, Seq) and isinstance(a, Seq)):
        return False
    if len(g.items) != len(a.items):
        return False
    kinds = {g.kind, a.kind}
    if kinds <= {"set", "list"}:
        return _multiset_eq(g.items, a.items, tol)
    if "set" in kinds:  # a set is not an ordered tuple
        return False
    gi, ai = _ordered(g.items), _ordered(a.items)
    return all(_eq(x, y, tol) for x, y in zip(gi, ai))


def _ordered(items):
    """``y = 2, x = 1`` is the point ``(1, 2)``: equations on distinct names sort by name."""
    if all(
        isinstance(i, Relation) and i.ops == ("=",) and isinstance(i.parts[0], sp.Symbol)
        for i in items
    ):
        names = [i.parts[0].name for i in items]
        if len(set(names)) == len(names):
            return sorted(items, key=lambda i: i.parts[0].name)
    return list(items)


def _multiset_eq(gs, as_, tol) -> bool:
    if len(gs) != len(as_):
        return False
    used = [False] * len(as_)
    for x in gs:
        for j, y in enumerate(as_):
            if not used[j] and _eq(x, y, tol):
                used[j] = True
                break
        else:
            return False
    return True
