"""Relations as answers: what a written equation or inequality says the answer is.

:func:`canonical` rewrites a parsed value before it is compared:

- ``x \\in S`` is ``S``;
- a chain of equalities is its last member (``y = 2+3+3 = 8`` is ``y = 8``), kept with its leading
  name; a chain with ``\\approx`` is cut before it (``y = 2/7 \\approx 0.29`` is ``y = 2/7``), unless
  the approximation is all there is (``x \\approx 0.29``);
- an equation of numbers alone (``2 + 3 = 5``) is its right-hand side;
- inequalities in one unknown are intervals: ``-1 \\le t \\le 4`` is ``[-1, 4]``, ``-t > -2`` is
  ``(-\\infty, 2)``, ``0 < g(t) < 3`` is ``(0, 3)``, ``2 \\le |w| \\le 5`` is ``[-5, -2] \\cup [2, 5]``;
  a list of them on one unknown is their union;
- a one-element set or list is its element.

A *name* is what may stand on the left of an answer: ``x``, ``a_1``, ``f(x)`` (parsed ``f x``),
``|PQ|``, ``(a, b)``, ``M:N``, ``\\frac{NO}{BO}``.
"""

from __future__ import annotations

import sympy as sp

from rewards.values import Interval, Relation, Seq, Union

FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


def is_name(v) -> bool:
    """True for a left-hand side that names what the answer is (see the module docstring)."""
    if isinstance(v, sp.Symbol):
        return True
    if isinstance(v, sp.Abs):
        return is_name(v.args[0])
    if isinstance(v, sp.Mul):
        return all(
            isinstance(a, sp.Symbol) or (isinstance(a, sp.Pow) and isinstance(a.base, sp.Symbol))
            for a in v.args
        )
    if isinstance(v, Seq) and v.kind in ("paren", "tuple", "ratio") and v.items:
        return all(isinstance(i, sp.Basic) and is_name(i) for i in v.items)
    return False


def canonical(v):
    """``v`` in the form it is compared in (see the module docstring)."""
    if isinstance(v, Relation):
        v = _answer_member(v)
        if not isinstance(v, Relation):
            return canonical(v)
        if v.ops == ("in",):
            return canonical(v.parts[1])
        iv = relation_interval(v)
        if iv is not None:
            return iv
        return v
    if isinstance(v, Seq) and v.kind == "list" and v.items:
        union = _union_of(v.items)
        if union is not None:
            return union
    if isinstance(v, Seq) and v.kind in ("set", "list") and len(v.items) == 1:
        return canonical(v.items[0])
    if isinstance(v, Union) and len(v.parts) == 1:
        return canonical(v.parts[0])
    return v


def _closed(v) -> bool:
    return isinstance(v, sp.Basic) and not v.free_symbols


def _answer_member(r: Relation):
    """The member of a chain that is the answer: cut at ``\\approx``, then the last of ``=``s."""
    ops, parts = list(r.ops), list(r.parts)
    while "~" in ops:
        k = ops.index("~")
        if k == 0 and is_name(parts[0]):  # x \approx 0.29: the approximation is the answer
            ops[0] = "="
            continue
        ops, parts = ops[:k], parts[: k + 1]
    if not ops:
        return parts[0]
    if all(op == "=" for op in ops):
        if is_name(parts[0]) and len(parts) > 2:
            return Relation(("=",), (parts[0], parts[-1]))
        if all(_closed(p) for p in parts):  # 2 + 3 = 5: arithmetic shown, then the answer
            return parts[-1]
        if not is_name(parts[0]) and len(parts) > 2 and all(_closed(p) for p in parts[1:]):
            return parts[-1]
    return Relation(tuple(ops), tuple(parts))


def _union_of(items):
    """A list of inequalities on one unknown (``x < -1, x > 2``) as a union; else None."""
    if not all(isinstance(i, Relation) for i in items):
        return None
    ivs, names = [], set()
    for item in items:
        found = _solved(item)
        if found is None:
            return None
        name, iv = found
        names.add(name)
        ivs.extend(iv.parts if isinstance(iv, Union) else [iv])
    return Union(tuple(ivs)) if len(names) == 1 else None


def relation_interval(r: Relation):
    """``1 < x <= 3`` -> ``(1, 3]``; ``x > 2`` -> ``(2, oo)``; None when not of that form."""
    found = _solved(r)
    return None if found is None else found[1]


def _linear(e):
    """``e = a * name + b`` with numbers ``a != 0``, ``b``: ``(a, b, name)``, else None."""
    if is_name(e):
        return sp.Integer(1), sp.Integer(0), e
    b, rest = e.as_coeff_Add()
    a, name = rest.as_coeff_Mul()
    if a == 0 or not is_name(name) or (isinstance(name, sp.Mul) and not name.is_commutative):
        return None
    return a, b, name


def _solved(r: Relation):
    """``(name, interval or union)`` that the inequality chain ``r`` says ``name`` lies in."""
    if not r.ops or any(op not in FLIP for op in r.ops) or len(r.parts) not in (2, 3):
        return None
    if not all(isinstance(p, sp.Basic) for p in r.parts):
        return None
    var = [i for i, p in enumerate(r.parts) if p.free_symbols]
    if len(var) != 1 or (len(r.parts) == 3 and var != [1]):
        return None
    k = var[0]
    if any(not p.is_number or not p.is_extended_real for i, p in enumerate(r.parts) if i != k):
        return None
    found = _linear(r.parts[k])
    if found is None:
        return None
    a, b, name = found
    if not (a.is_extended_real and b.is_extended_real):
        return None
    parts = [name if i == k else (p - b) / a for i, p in enumerate(r.parts)]
    ops = list(r.ops) if a > 0 else [FLIP[o] for o in r.ops]
    iv = _interval(parts, ops, k)
    if iv is None:
        return None
    if isinstance(name, sp.Abs):
        return name.args[0], _abs_preimage(iv)
    return name, iv


def _interval(parts, ops, k):
    if len(parts) == 2:
        if k == 0:  # x op c
            op, c = ops[0], parts[1]
        else:  # c op x  ->  x flip(op) c
            op, c = FLIP[ops[0]], parts[0]
        if op in ("<", "<="):
            return Interval(-sp.oo, c, True, op == "<" or c == sp.oo)
        return Interval(c, sp.oo, op == ">" or c == -sp.oo, True)
    if all(o in ("<", "<=") for o in ops):
        return Interval(parts[0], parts[2], ops[0] == "<", ops[1] == "<")
    if all(o in (">", ">=") for o in ops):
        return Interval(parts[2], parts[0], ops[1] == ">", ops[0] == ">")
    return None


def _abs_preimage(iv: Interval):
    """The values ``u`` with ``|u|`` in ``iv``: one interval around 0, or two mirrored ones."""
    lo, lo_open = iv.lo, iv.lo_open
    if lo.is_extended_negative or (lo == 0 and not lo_open):
        return Interval(-iv.hi, iv.hi, iv.hi_open, iv.hi_open)
    return Union(
        (Interval(-iv.hi, -lo, iv.hi_open, lo_open), Interval(lo, iv.hi, lo_open, iv.hi_open))
    )
