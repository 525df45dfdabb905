"""LaTeX and plain-text answers to sympy objects, without evaluating model text.

A regex tokenizer and a recursive-descent parser of our own build sympy objects node by node from a
whitelist: numbers, letters, known constants and functions, ``+ - * / ^ !``, ``\\frac``, ``\\sqrt``,
``\\binom``, brackets, sets, intervals, matrices, relations. Nothing of the input reaches ``eval``,
``sympify`` or ``parse_expr``; an unknown token is a :class:`ParseError`. Sizes are bounded: input
length, token count, nesting depth, digits of every rational built (so ``10^{10^{10}}`` is refused
instead of expanded), factorial and binomial arguments.

Decimals become exact rationals (``0.38`` -> ``19/50``) and mark the answer ``approx``; ``\\pm``
becomes a two-element list; ``e`` and ``i`` are Euler's number and the imaginary unit.

This module is longer than the project's 600-line rule (tests/test_house.py) on purpose: it is one
grammar, tokenizer and productions side by side, and a reader follows a production to the next
one on the same page; split in two, every rule would sit away from the rules it calls.

>>> parse(r"\\frac{1}{2} + \\sqrt{8}").value
1/2 + 2*sqrt(2)
>>> parse(r"[1, \\infty)").value
Interval(lo=1, hi=oo, lo_open=False, hi_open=True)
>>> parse("x = 1 \\\\pm 2").value.kind
'list'
>>> parse("10^{10^{10}}")
Traceback (most recent call last):
...
rewards.parse.ParseError: number too large
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from rewards import matrix
from rewards.normalize import normalize
from rewards.values import Interval, Matrix, Parsed, Relation, Seq, Union

MAX_CHARS = 1000  # longer answers are not parsed (compared as text only)
MAX_TOKENS = 400
MAX_DEPTH = 40  # bracket / operator nesting
MAX_BITS = 40_000  # any rational built: numerator and denominator bits (~12k digits)
MAX_LITERAL_DIGITS = 1000
MAX_EXPONENT = 10_000  # |numeric exponent| on a non-rational base
MAX_FACTORIAL = 1000
MAX_BINOMIAL = 5000
MAX_ITEMS = 64  # elements of a list, set, tuple or matrix


class ParseError(ValueError):
    """The string is not an answer this parser reads (or it is too big to build)."""


# ---------------------------------------------------------------------------------------------------
# Tokens.


@dataclass(frozen=True)
class Tok:
    kind: str  # num | cmd | name | id | word | op | end
    text: str


_TOKEN_RE = re.compile(
    r"(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<cmd>\\[a-zA-Z]+|\\[{}|\\])"
    r"|(?P<word>[a-zA-Z]+)"
    r"|(?P<op><=|>=|!=|==|\*\*|[-+*/^_()\[\]{},;|!=<>&:%'])"
    r"|(?P<ws>\s+)"
)

# Plain-text names (also reachable as \name in LaTeX).
_FUNCS = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "cot": sp.cot,
    "sec": sp.sec,
    "csc": sp.csc,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "ln": sp.log,
    "log": sp.log,
    "exp": sp.exp,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
}
_NAMES = {*_FUNCS, "pi", "inf", "infty", "infinity", "oo", "and", "or"}
# Short words that are English, not products of variables ("no" is not n*o).
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "if",
        "in",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "so",
        "the",
        "to",
        "we",
        "yes",
        "odd",
        "all",
        "one",
        "two",
        "six",
        "ten",
        "top",
        "red",
        "odd",
        "new",
        "old",
        "off",
        "own",
        "per",
        "set",
        "sum",
        "its",
        "has",
        "had",
        "him",
        "her",
        "his",
        "who",
        "how",
        "why",
        "way",
        "day",
        "man",
        "men",
        "now",
        "out",
        "see",
        "use",
        "was",
        "may",
        "say",
        "she",
        "too",
        "two",
        "few",
    ]
)
_GREEK = frozenset(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "varepsilon",
        "zeta",
        "eta",
        "theta",
        "vartheta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "rho",
        "varrho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "varphi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Xi",
        "Pi",
        "Sigma",
        "Upsilon",
        "Phi",
        "Psi",
        "Omega",
    ]
)
_RELOPS = {
    "=": "=",
    "==": "=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
    "!=": "!=",
    r"\le": "<=",
    r"\ge": ">=",
    r"\lt": "<",
    r"\gt": ">",
    r"\ne": "!=",
    r"\approx": "~",  # approximately: the exact member before it is the answer
    r"\in": "in",
}
_MATRIX_ENVS = frozenset(
    ["pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix", "array", "psmallmatrix"]
)
# Geometry names: an angle or a segment stands for its measure (``m\\angle D`` is m * that too).
_FIGURES = {"angle": "angle", "measuredangle": "angle", "overline": "segment"}
_PM = sp.Symbol("pm_sign")  # placeholder for \pm; its name cannot come from input (see _symbol)


def tokenize(s: str) -> list[Tok]:
    """Split ``s`` into tokens; any character outside the grammar is a :class:`ParseError`."""
    toks: list[Tok] = []
    pos = 0
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if m is None:
            raise ParseError(f"unexpected character {s[pos]!r}")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(0)
        if kind == "ws":
            continue
        if kind == "word":
            low = text.lower()
            if text in _NAMES or low in ("pi", "inf", "infinity", "and", "or", "sqrt"):
                toks.append(Tok("name", low))
            elif len(text) == 1:
                toks.append(Tok("id", text))
            elif len(text) <= 3 and low not in _STOPWORDS:
                toks.extend(Tok("id", c) for c in text)  # xy is x*y
            else:
                toks.append(Tok("word", text))
        else:
            toks.append(Tok(kind, text))
        if len(toks) > MAX_TOKENS:
            raise ParseError("too many tokens")
    toks.append(Tok("end", ""))
    return toks


# ---------------------------------------------------------------------------------------------------
# Parser.


class _Parser:
    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.pos = 0
        self.depth = 0
        self.abs_depth = 0
        self.approx = False
        self.decimals: dict = {}  # value -> (decimal places, significant digits) of each literal

    # -- token helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Tok:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.toks[self.pos]
        if t.kind != "end":
            self.pos += 1
        return t

    def is_(self, *texts: str) -> bool:
        t = self.tok
        return t.kind != "end" and t.text in texts and t.kind in ("op", "cmd", "name")

    def expect(self, text: str) -> None:
        if not self.is_(text):
            raise ParseError(f"expected {text!r}, got {self.tok.text!r}")
        self.next()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # -- grammar
    def top(self):
        items = [self.relation()]
        while self.is_(",", ";", "and", "or"):
            self.next()
            if self.tok.kind == "end":
                break
            items.append(self.relation())
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")
        if self.tok.kind != "end":
            raise ParseError(f"unexpected {self.tok.text!r}")
        return items[0] if len(items) == 1 else Seq("list", tuple(items))

    def relation(self):
        parts = [self.ratio()]
        ops: list[str] = []
        while self.tok.text in _RELOPS and self.tok.kind in ("op", "cmd"):
            ops.append(_RELOPS[self.next().text])
            parts.append(self.ratio())
            if len(parts) > 8:
                raise ParseError("relation chain too long")
        if not ops:
            return parts[0]
        return Relation(tuple(ops), tuple(parts))

    def ratio(self):
        """``5:12`` (or ``1:2:3``): a ratio, equal to any proportional one."""
        parts = [self.union()]
        while self.is_(":"):
            self.next()
            parts.append(_scalar(self.union()))
            if len(parts) > 8:
                raise ParseError("ratio too long")
        if len(parts) == 1:
            return parts[0]
        return Seq("ratio", (_scalar(parts[0]), *parts[1:]))

    def union(self):
        parts = [self.additive()]
        while self.is_(r"\cup"):
            self.next()
            parts.append(self.additive())
        if len(parts) == 1:
            return parts[0]
        for p in parts:
            if not (isinstance(p, Interval) or (isinstance(p, Seq) and p.kind in ("set", "paren"))):
                raise ParseError("union of non-sets")
        return Union(tuple(_as_interval(p) if isinstance(p, Seq) else p for p in parts))

    def additive(self):
        self.enter()
        try:
            left = self.term()
            while self.is_("+", "-", r"\pm", r"\mp"):
                op = self.next().text
                right = self.term()
                if isinstance(left, Matrix) and op in ("+", "-"):
                    left = _matrix(matrix.add, left, right, 1 if op == "+" else -1)
                    continue
                right, left = _scalar(right), _scalar(left)
                if op == "+":
                    left = _check(left + right)
                elif op == "-":
                    left = _check(left - right)
                elif op == r"\pm":
                    left = left + _PM * right
                else:
                    left = left - _PM * right
            return left
        finally:
            self.depth -= 1

    def term(self):
        left = self.factor()
        while True:
            t = self.tok
            if self.is_("*", r"\cdot", r"\times"):
                self.next()
                left = _product(left, self.factor())
            elif self.is_("/", r"\div"):
                self.next()
                den = _scalar(self.factor())
                if den == 0:
                    raise ParseError("division by zero")
                left = _product(left, 1 / den) if isinstance(left, Matrix) else _check(left / den)
            elif self.starts_atom(t):
                if t.kind == "num" and self.toks[self.pos - 1].kind == "num":
                    raise ParseError("two numbers side by side")
                left = _product(left, self.factor(signed=False))
            else:
                return left

    def starts_atom(self, t: Tok) -> bool:
        if t.kind in ("num", "id", "name"):
            return t.text not in ("and", "or")
        if t.kind == "op":
            return t.text in ("(", "{") or (t.text == "|" and self.abs_depth == 0)
        if t.kind == "cmd":
            name = t.text[1:]
            return (
                name in _FUNCS
                or name in _GREEK
                or name
                in ("frac", "sqrt", "binom", "pi", "infty", "lfloor", "lceil", "begin", "{", "e")
                or name in _FIGURES
            )
        return False

    def factor(self, signed: bool = True):
        self.enter()
        try:
            if signed and self.is_("-"):
                self.next()
                value = self.factor()
                return (
                    _product(sp.Integer(-1), value)
                    if isinstance(value, Matrix)
                    else _check(-_scalar(value))
                )
            if signed and self.is_("+"):
                self.next()
                return self.factor()
            if signed and self.is_(r"\pm", r"\mp"):
                sign = _PM if self.next().text == r"\pm" else -_PM
                return sign * _scalar(self.factor())
            base = self.postfix()
            if self.is_("^", "**"):
                self.next()
                exp = self.exponent()
                base = _pow(_scalar(base), _scalar(exp))
            return base
        finally:
            self.depth -= 1

    def exponent(self):
        """What follows ``^``: a group, a whole number, a signed atom, with ``^`` right-assoc."""
        self.enter()
        try:
            if self.is_("-"):
                self.next()
                return _check(-_scalar(self.exponent()))
            if self.is_("+"):
                self.next()
                return self.exponent()
            base = self.postfix()
            if self.is_("^", "**"):
                self.next()
                base = _pow(_scalar(base), _scalar(self.exponent()))
            return base
        finally:
            self.depth -= 1

    def postfix(self):
        value = self.atom()
        while self.is_("!", "%", "'"):
            op = self.next().text
            if op == "!":
                value = _factorial(_scalar(value))
            elif op == "%":
                value = _check(_scalar(value) / 100)
            else:
                raise ParseError("prime")
        return value

    def atom(self):
        t = self.next()
        if t.kind == "num":
            return self.number(t.text)
        if t.kind == "id":
            return self.symbol(t.text)
        if t.kind == "name":
            return self.named(t.text)
        if t.kind == "op":
            if t.text == "(":
                return self.bracketed("(")
            if t.text == "[":
                return self.bracketed("[")
            if t.text == "{":
                return self.group()
            if t.text == "|":
                self.abs_depth += 1
                inner = _scalar(self.additive())
                self.abs_depth -= 1
                self.expect("|")
                return sp.Abs(inner)
        if t.kind == "cmd":
            return self.command(t.text)
        raise ParseError(f"unexpected {t.text!r}")

    def number(self, text: str):
        if len(text) > MAX_LITERAL_DIGITS:
            raise ParseError("number literal too long")
        if "." in text or "e" in text.lower():
            if self.is_(r"\overline") and "e" not in text.lower():
                self.next()
                return self.repeating(text)
            self.approx = True
            mant, _, exp = text.lower().partition("e")
            if exp and abs(int(exp)) > 400:
                raise ParseError("number too large")
            frac = Fraction(mant if mant != "." else "0") * Fraction(10) ** int(exp or 0)
            value = sp.Rational(frac.numerator, frac.denominator)
            whole, _, fixed = mant.partition(".")
            sig = len((whole + fixed).lstrip("0"))
            old = self.decimals.get(value)
            if old is None or sig < old[1]:  # the same value written twice: the coarser counts
                self.decimals[value] = (len(fixed) - int(exp or 0), sig)
            return value
        return sp.Integer(int(text))

    def repeating(self, text: str):
        """``0.1\\overline{6}`` = 1/6."""
        digits = self.raw_group()
        if not digits.isdigit() or len(digits) > 50:
            raise ParseError("bad repeating decimal")
        whole, _, fixed = text.partition(".")
        if len(fixed) > 50:
            raise ParseError("bad repeating decimal")
        n, m = len(fixed), len(digits)
        frac = Fraction(int(whole or 0)) + Fraction(
            int(fixed + digits) - int(fixed or 0), 10**n * (10**m - 1)
        )
        return sp.Rational(frac.numerator, frac.denominator)

    def symbol(self, name: str):
        if name == "e":
            return sp.E
        if name == "i":
            return sp.I
        if self.is_("_"):
            self.next()
            name = f"{name}_{self.subscript()}"
        elif self.is_("(") and self.peek().kind == "word":
            return self.event(name)
        return sp.Symbol(name)

    def event(self, name: str):
        """``P(blue)``: a quantity of a named event (words in the brackets), as one symbol."""
        self.next()
        words = []
        while not self.is_(")"):
            t = self.next()
            if t.kind not in ("word", "id", "num", "name") or len(words) >= 10:
                raise ParseError("bad event")
            words.append(t.text)
        self.next()
        return sp.Symbol(f"{name}({' '.join(words)})")

    def figure(self, kind: str):
        """``\\angle ABC``, ``\\overline{PQ}``: a named angle or segment, as one symbol."""
        if self.is_("{"):
            label = self.raw_group()
        else:
            label = ""
            while self.tok.kind in ("id", "word") and self.tok.text.isupper() and len(label) < 8:
                label += self.next().text
            if not label and self.tok.kind == "num":
                label = self.next().text
        if not label:
            raise ParseError(f"unnamed {kind}")
        return sp.Symbol(f"{kind} {label}")  # the space keeps it apart from any input name

    def subscript(self) -> str:
        t = self.next()
        if t.kind == "num":
            if len(t.text) > 1 and "." not in t.text:  # x_12 in LaTeX is x_1 2; keep plain meaning
                return t.text
            return t.text
        if t.kind == "id":
            return t.text
        if t.kind == "op" and t.text == "{":
            self.pos -= 1
            return self.raw_group()
        raise ParseError("bad subscript")

    def raw_group(self) -> str:
        """The tokens of a ``{...}`` group (or one token) as text: subscripts, env names."""
        t = self.next()
        if not (t.kind == "op" and t.text == "{"):
            if t.kind in ("num", "id", "word"):
                return t.text
            raise ParseError("expected a group")
        parts = []
        while not self.is_("}"):
            u = self.next()
            if u.kind == "end" or len(parts) > 20:
                raise ParseError("unclosed group")
            if u.kind not in ("num", "id", "word", "name") and u.text not in (",", "-", "+"):
                raise ParseError("bad group")
            parts.append(u.text)
        self.next()
        return "".join(parts)

    def named(self, name: str):
        if name == "pi":
            return sp.pi
        if name in ("inf", "infty", "infinity", "oo"):
            return sp.oo
        if name in _FUNCS:
            return self.function(name)
        raise ParseError(f"unexpected {name!r}")

    def command(self, cmd: str):
        name = cmd[1:]
        if name == "frac":
            num = _scalar(self.argument())
            den = _scalar(self.argument())
            if den == 0:
                raise ParseError("division by zero")
            return _check(num / den)
        if name == "sqrt":
            index = None
            if self.is_("["):
                self.next()
                index = _scalar(self.additive())
                self.expect("]")
            radicand = _scalar(self.argument())
            if index is None:
                return _check(sp.sqrt(radicand))
            return _root(radicand, index)
        if name == "binom":
            return _binomial(_scalar(self.argument()), _scalar(self.argument()))
        if name == "pi":
            return sp.pi
        if name == "infty":
            return sp.oo
        if name == "emptyset":
            return Seq("set", ())
        if name in _FIGURES:
            return self.figure(_FIGURES[name])
        if name in _GREEK:
            return self.symbol(name)
        if name in _FUNCS:
            return self.function(name)
        if name == "{":
            return self.braced_set()
        if name in ("lfloor", "lceil"):
            inner = _scalar(self.additive())
            self.expect(r"\rfloor" if name == "lfloor" else r"\rceil")
            return _check(sp.floor(inner) if name == "lfloor" else sp.ceiling(inner))
        if name == "begin":
            return self.matrix()
        if name == "mathbb":
            letter = self.raw_group()
            if letter == "R":
                return Interval(-sp.oo, sp.oo, True, True)
            raise ParseError("number set")
        if name == "e":
            return sp.E
        raise ParseError(f"unknown command {cmd}")

    def argument(self):
        """A command argument: ``{...}`` or one token (``\\frac12``: one digit)."""
        t = self.tok
        if t.kind == "op" and t.text == "{":
            self.next()
            return self.group()
        if t.kind == "num":
            self.next()
            if len(t.text) > 1 and t.text[1:2].isdigit():
                # split the literal: first digit is the argument, the rest stays in the stream
                self.pos -= 1
                self.toks[self.pos] = Tok("num", t.text[1:])
                return sp.Integer(int(t.text[0]))
            return self.number(t.text)
        if t.kind in ("id", "cmd", "name"):
            return self.atom()
        raise ParseError("expected an argument")

    def items(self, items: list, *separators: str) -> list:
        """More ``separator``-separated relations after the first, at most ``MAX_ITEMS``."""
        while self.is_(*separators):
            self.next()
            items.append(self.relation())
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")
        return items

    def group(self):
        """After ``{``: a braced group; with commas it is a set."""
        self.enter()
        try:
            items = self.items([self.relation()], ",")
            self.expect("}")
            return items[0] if len(items) == 1 else Seq("set", tuple(items))
        finally:
            self.depth -= 1

    def braced_set(self):
        self.enter()
        try:
            if self.is_(r"\}"):
                self.next()
                return Seq("set", ())
            items = self.items([self.relation()], ",", ";")
            self.expect(r"\}")
            return Seq("set", tuple(items))
        finally:
            self.depth -= 1

    def bracketed(self, opener: str):
        self.enter()
        try:
            items = self.items([self.relation()], ",", ";")
            closer = self.next().text
            if closer not in (")", "]"):
                raise ParseError("unclosed bracket")
            if len(items) == 1:
                if (opener, closer) in (("(", ")"), ("[", "]")):
                    return items[0]
                raise ParseError("mismatched brackets")
            if len(items) == 2 and all(_is_scalar(i) for i in items):
                lo, hi = items
                if (opener, closer) == ("(", ")"):
                    return Seq("paren", (lo, hi))
                if _decreasing(lo, hi):
                    if (opener, closer) == ("[", "]"):
                        return Seq("tuple", (lo, hi))
                    raise ParseError("empty interval")
                return Interval(lo, hi, opener == "(" or lo == -sp.oo, closer == ")" or hi == sp.oo)
            if (opener, closer) in (("(", ")"), ("[", "]")):
                return Seq("tuple", tuple(items))
            raise ParseError("mismatched brackets")
        finally:
            self.depth -= 1

    def function(self, name: str):
        fn = _FUNCS[name]
        power = None
        base = None
        if name == "log" and self.is_("_"):
            self.next()
            base = _scalar(self.argument())
        if self.is_("^"):
            self.next()
            power = _scalar(self.exponent())
        if self.is_("("):
            self.next()
            arg = self.bracketed("(")
        elif self.is_("{"):
            self.next()
            arg = self.group()
        else:
            arg = self.factor(signed=False)
            while self.starts_atom(self.tok) and not self._is_function(self.tok):
                arg = _check(_scalar(arg) * _scalar(self.factor(signed=False)))
        arg = _scalar(arg)
        if base is not None:
            if base == 0 or base == 1:
                raise ParseError("bad log base")
            value = sp.log(arg, base)
        else:
            value = fn(arg)
        if power is not None:
            if power == -1 and name in ("sin", "cos", "tan"):
                value = {"sin": sp.asin, "cos": sp.acos, "tan": sp.atan}[name](arg)
            else:
                value = _pow(value, power)
        return _check(value)

    @staticmethod
    def _is_function(t: Tok) -> bool:
        return (t.kind == "name" and t.text in _FUNCS) or (t.kind == "cmd" and t.text[1:] in _FUNCS)

    def matrix(self):
        env = self.raw_group()
        if env not in _MATRIX_ENVS:
            raise ParseError(f"environment {env}")
        if env == "array" and self.is_("{"):
            self.raw_group()  # column spec
        rows: list[list] = [[]]
        while True:
            if self.is_(r"\end"):
                self.next()
                if self.raw_group() != env:
                    raise ParseError("mismatched environment")
                break
            if self.tok.kind == "end":
                raise ParseError("unclosed environment")
            rows[-1].append(_scalar(self.additive()))
            if self.is_("&"):
                self.next()
            elif self.is_("\\\\"):
                self.next()
                rows.append([])
            if sum(len(r) for r in rows) > MAX_ITEMS:
                raise ParseError("matrix too big")
        if rows and not rows[-1]:
            rows.pop()
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return Matrix(tuple(tuple(r) for r in rows))


# ---------------------------------------------------------------------------------------------------
# Bounded builders.


def _is_scalar(v) -> bool:
    return isinstance(v, sp.Basic)


def _matrix(op, *args):
    try:
        return op(*args)
    except matrix.MatrixError as e:
        raise ParseError(str(e)) from e


def _product(a, b):
    """``a * b`` for numbers, or a matrix product / scaling when either side is a matrix."""
    if isinstance(a, Matrix) or isinstance(b, Matrix):
        return _matrix(matrix.mul, a, b)
    return _check(_scalar(a) * _scalar(b))


def _scalar(v):
    if not isinstance(v, sp.Basic):
        raise ParseError("arithmetic on a non-number")
    return v


def _bits(r) -> int:
    return int(r.p).bit_length() + int(r.q).bit_length()


def _check(v):
    """Refuse undefined results and oversized rationals."""
    if v is sp.nan or v is sp.zoo or v.has(sp.zoo, sp.nan):
        raise ParseError("undefined value")
    if v.is_Rational and _bits(v) > MAX_BITS:
        raise ParseError("number too large")
    return v


def _magnitude(x) -> float:
    """|x| as a float (inf when too big or not a number)."""
    try:
        return abs(complex(x.evalf(15)))
    except (TypeError, ValueError, OverflowError):
        return float("inf")


def _pow(base, exp):
    """``base^exp``, refusing results too large to build (``10^{10^{10}}``)."""
    if base.is_number and exp.is_number:
        if base == 0:
            if exp.is_extended_negative:
                raise ParseError("division by zero")
        elif base in (1, -1):
            pass
        elif base.is_Rational and exp.is_Rational:
            if exp.q > 1000 or abs(exp.p) * _bits(base) // exp.q > MAX_BITS:
                raise ParseError("number too large")
        elif _magnitude(exp) * max(1.0, _magnitude(sp.log(abs(base), 2))) > MAX_BITS:
            raise ParseError("number too large")
    elif exp.is_number and _magnitude(exp) > MAX_EXPONENT:
        raise ParseError("exponent too large")
    return _check(sp.Pow(base, exp))


def _root(radicand, index):
    if not (index.is_Integer and 2 <= index <= 1000):
        if index.is_number:
            raise ParseError("bad root index")
        return _check(sp.Pow(radicand, 1 / index))
    if radicand.is_Rational and radicand < 0 and index % 2 == 1:
        return _check(-sp.root(-radicand, index))
    return _check(sp.root(radicand, index))


def _factorial(n):
    if n.is_Integer:
        if n < 0 or n > MAX_FACTORIAL:
            raise ParseError("factorial out of range")
        return sp.factorial(n)
    if n.is_number:
        raise ParseError("factorial of a non-integer")
    return sp.factorial(n)


def _binomial(n, k):
    if n.is_number and not (n.is_Integer and 0 <= n <= MAX_BINOMIAL):
        raise ParseError("binomial out of range")
    if k.is_number and not k.is_Integer:
        raise ParseError("binomial out of range")
    return _check(sp.binomial(n, k))


def _decreasing(lo, hi) -> bool:
    """True when both ends are real numbers and lo > hi (then it is no interval)."""
    try:
        if lo.is_extended_real and hi.is_extended_real and lo.is_number and hi.is_number:
            return bool((lo - hi).evalf(20) > 0) if lo not in (sp.oo, -sp.oo) else lo == sp.oo
    except TypeError:
        return False
    return False


def _as_interval(seq: Seq):
    if seq.kind == "paren":
        lo, hi = seq.items
        return Interval(lo, hi, True, True)
    return seq


# ---------------------------------------------------------------------------------------------------
# \pm expansion.


def _has_pm(v) -> bool:
    if isinstance(v, sp.Basic):
        return v.has(_PM)
    if isinstance(v, Seq):
        return any(_has_pm(i) for i in v.items)
    if isinstance(v, Relation):
        return any(_has_pm(p) for p in v.parts)
    return False


def _sub_pm(v, sign: int):
    if isinstance(v, sp.Basic):
        return _check(v.subs(_PM, sign))
    if isinstance(v, Seq):
        return Seq(v.kind, tuple(_sub_pm(i, sign) for i in v.items))
    if isinstance(v, Relation):
        return Relation(v.ops, tuple(_sub_pm(p, sign) for p in v.parts))
    return v


def _expand_pm(v):
    """``a \\pm b`` -> the list ``a + b, a - b``; inside a set or list each element expands."""
    if not _has_pm(v):
        return v
    if isinstance(v, Seq) and v.kind in ("set", "list"):
        items = []
        for item in v.items:
            e = _expand_pm(item)
            items.extend(
                e.items if isinstance(e, Seq) and e.kind == "list" and _has_pm(item) else [e]
            )
        return Seq(v.kind, tuple(items))
    if isinstance(v, (sp.Basic, Relation)):
        plus, minus = _sub_pm(v, 1), _sub_pm(v, -1)
        return Seq("list", (plus, minus)) if plus != minus else plus
    raise ParseError("\\pm inside an ordered tuple")


# ---------------------------------------------------------------------------------------------------
# Entry point.


def parse(answer: str) -> Parsed:
    """Normalise and parse an extracted answer; :class:`ParseError` if it is not one we read."""
    norm = normalize(answer)
    text = norm.text
    if not text:
        raise ParseError("empty")
    if len(text) > MAX_CHARS:
        raise ParseError("answer too long")
    parser = _Parser(tokenize(text))
    try:
        value = _expand_pm(parser.top())
    except RecursionError as e:  # deep sympy trees; the depth limit should prevent it
        raise ParseError("nested too deeply") from e
    except (TypeError, AttributeError, ZeroDivisionError, OverflowError, MemoryError) as e:
        raise ParseError(f"cannot build: {type(e).__name__}") from e
    decimals = tuple((v, places, sig) for v, (places, sig) in parser.decimals.items())
    return Parsed(value, approx=parser.approx, percent=norm.percent, decimals=decimals)
