"""Normalisation of an extracted answer string before it is parsed.

One pass of string rewriting, no evaluation: LaTeX spelling variants become one spelling
(``\\dfrac`` -> ``\\frac``, ``\\left(`` -> ``(``), spacing and decoration go (``\\!``, ``\\,``,
``^\\circ``, ``\\$``), units and currency after a quantity go, ``\\text{}`` is unwrapped, unicode
math becomes LaTeX, thousands separators and number words become digits, and mixed numbers
(``2\\frac{1}{2}``, ``2 1/2``) become sums. A trailing percent sign is removed and reported, because
whether ``25%`` equals ``0.25`` depends on the other side (see :mod:`rewards.equivalence`).

>>> normalize(r"\\$1{,}234.50").text
'1234.50'
>>> normalize(r"\\left( \\dfrac12, 3 \\right]").text
'(\\\\frac12, 3]'
>>> normalize(r"45^\\circ").text, normalize("25\\\\%").percent
('45', True)
>>> normalize(r"12\\text{ cm}^2").text, normalize("twenty-one").text
('12', '21')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

# Answers longer than this are not normalised further (they are not answers, and every rewrite below
# must stay linear on what reaches it).
MAX_ANSWER_CHARS = 2000


@dataclass(frozen=True)
class Normalized:
    text: str
    percent: bool = False  # a trailing "%" or "percent" was removed


# ---------------------------------------------------------------------------------------------------
# Unicode to LaTeX / ASCII.
_UNICODE = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2012": "-",
    "\ufe63": "-",
    "\uff0d": "-",
    "\u00d7": r"\times ",
    "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ",
    "\u2219": r"\cdot ",
    "\u00f7": "/",
    "\u2044": "/",  # fraction slash
    "\u03c0": r"\pi ",
    "\u221a": r"\sqrt",
    "\u221e": r"\infty ",
    "\u2264": r"\le ",
    "\u2265": r"\ge ",
    "\u2260": r"\ne ",
    "\u222a": r"\cup ",
    "\u2229": r"\cap ",
    "\u2208": r"\in ",
    "\u00b1": r"\pm ",
    "\u2213": r"\mp ",
    "\u00b0": "",  # degree sign
    "\u00bd": "(1/2)",
    "\u00bc": "(1/4)",
    "\u00be": "(3/4)",
    "\u2153": "(1/3)",
    "\u2154": "(2/3)",
    "\u00b2": "^2",
    "\u00b3": "^3",
    "\u2070": "^0",
    "\u00b9": "^1",
    "\u2074": "^4",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u3000": " ",
    "\uff0c": ",",
    "\u20ac": "",  # euro
    "\u00a3": "",  # pound
    "\u00a5": "",  # yen
    "\u20b9": "",  # rupee
    "\u2205": r"\emptyset ",
    "\u2248": r"\approx ",
    "\u2236": ":",  # ratio sign
    "\u211d": r"\mathbb{R}",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

# Commands that are pure decoration or spacing.
_DROP_RE = re.compile(
    r"\\(?:displaystyle|textstyle|scriptstyle|left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|"
    r"bigg|Bigg|limits|nolimits|middle)(?![a-zA-Z])\.?"
)
# ``\quad`` is spacing even when glued to the next letter (``\quadx_2``: datasets strip spaces).
_SPACE_RE = re.compile(
    r"\\q?quad|\\(?:enspace|thinspace|medspace|thickspace)(?![a-zA-Z])|(?<!\\)\\[,;: ]|~"
)
_RENAME = (
    (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\[dt]binom(?![a-zA-Z])"), r"\\binom"),
    (re.compile(r"\\(?:leq|leqslant)(?![a-zA-Z])"), r"\\le"),
    (re.compile(r"\\(?:geq|geqslant)(?![a-zA-Z])"), r"\\ge"),
    (re.compile(r"\\(?:neq)(?![a-zA-Z])"), r"\\ne"),
    (re.compile(r"\\(?:varnothing)(?![a-zA-Z])"), r"\\emptyset"),
    (re.compile(r"\\(?:lvert|rvert|vert)(?![a-zA-Z])"), "|"),
    (re.compile(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])"), r"\\dots "),
    (re.compile(r"\\(?:colon)(?![a-zA-Z])"), ":"),
    (re.compile(r"\\(?:simeq|thickapprox|sim)(?![a-zA-Z])"), r"\\approx"),
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])")
_CURRENCY_RE = re.compile(r"\\\$|\$|\\euro(?![a-zA-Z])|\\pounds(?![a-zA-Z])")
# LaTeX thousands separators: ``17{,}046``, ``4\,508``, ``4,\!508`` (a comma then a thin space).
_THIN_THOUSANDS_RE = re.compile(
    r"(?<=\d)\s?(?:\{\s?,\s?\}|,?\s?\\[,!]|\\ )\s?(?=\d{3}(?!\d))"
    r"|(?<=\d)\s(?=\d{3}(?![\d.,]))"
)
# ``1,234,567``; a leading zero (``0,207``) is a decimal comma, never thousands; right after an
# opening bracket it is a pair (``(2,12) \cup (12,102)``).
_THOUSANDS_RE = re.compile(r"(?<![\d.,(\[])[1-9]\d{0,2}(?:,\d{3})+(?![\d,]|\.\d*,)")
# A number with a scale word: ``3.2 million`` is 3200000 (before "million" is taken for a noun).
_SCALED_RE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:\\text\{\s*)?(hundred|thousand|million|billion|trillion)\b\}?",
    re.IGNORECASE,
)
_LIST_COMMAS_RE = re.compile(r",(?:\s*,)+|,\s*(?:and|or)\s+")
# LaTeX written with doubled backslashes (``\\le``, ``\\frac``) by an escaping slip.
_DOUBLED_CMD_RE = re.compile(r"(?<!\\)\\\\(?=[a-zA-Z]{2})")

# \text-like commands whose argument is unwrapped.
_TEXT_CMDS = (
    "text",
    "textbf",
    "textit",
    "textrm",
    "textup",
    "textnormal",
    "texttt",
    "textsf",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "mathnormal",
    "mbox",
    "hbox",
    "operatorname",
    "boldsymbol",
    "bm",
    "pmb",
    "emph",
    "boxed",
    "fbox",
    "framebox",
)
_UNIT_POWER_RE = re.compile(r"\s*\^\s*(?:\{\s*[23]\s*\}|[23])")
_TEXT_CMD_RE = re.compile(r"\\(" + "|".join(_TEXT_CMDS) + r")\s*\{")

# Units and currencies removed after a quantity (words, lower case).
_UNITS = frozenset(
    [
        "dollar",
        "dollars",
        "cent",
        "cents",
        "usd",
        "eur",
        "euro",
        "euros",
        "pound",
        "pounds",
        "yen",
        "rupee",
        "rupees",
        "mm",
        "cm",
        "km",
        "meter",
        "meters",
        "metre",
        "metres",
        "centimeter",
        "centimeters",
        "centimetre",
        "centimetres",
        "millimeter",
        "millimeters",
        "kilometer",
        "kilometers",
        "kilometre",
        "kilometres",
        "inch",
        "inches",
        "ft",
        "foot",
        "feet",
        "yard",
        "yards",
        "yd",
        "mile",
        "miles",
        "mi",
        "sq",
        "square",
        "cubic",
        "cu",
        "unit",
        "units",
        "second",
        "seconds",
        "sec",
        "secs",
        "minute",
        "minutes",
        "min",
        "mins",
        "hour",
        "hours",
        "hr",
        "hrs",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "yr",
        "yrs",
        "gram",
        "grams",
        "kg",
        "kilogram",
        "kilograms",
        "mg",
        "lb",
        "lbs",
        "ounce",
        "ounces",
        "oz",
        "ton",
        "tons",
        "tonne",
        "tonnes",
        "liter",
        "liters",
        "litre",
        "litres",
        "ml",
        "gallon",
        "gallons",
        "gal",
        "quart",
        "quarts",
        "pint",
        "pints",
        "cup",
        "cups",
        "mph",
        "kph",
        "kmh",
        "degree",
        "degrees",
        "deg",
        "radian",
        "radians",
        "rad",
    ]
)
# Single letters are units only inside \text{}/\mathrm{} (outside they are variables).
_TEXT_ONLY_UNITS = frozenset(["m", "s", "g", "h", "l", "in", "min"])
_UNIT_WORD = r"(?:" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")"
_PER_UNIT = r"(?:" + "|".join(sorted(_UNITS | _TEXT_ONLY_UNITS, key=len, reverse=True)) + r")"
_POWER = r"(?:\s*\^\s*\{?[23]\}?)?"
_UNIT_TAIL_RE = re.compile(
    r"(?<=[\d}).\s])\s*(?:" + _UNIT_WORD + _POWER + r")"
    r"(?:\s*(?:per\s+|/\s*)" + _PER_UNIT + _POWER + r")*\s*\.?\s*$",
    re.IGNORECASE,
)
MAX_UNIT_TAIL = 60  # the unit regex only sees this many trailing characters (it stays cheap)


def _strip_unit_tail(s: str) -> str:
    """``5 cm^2`` -> ``5``, ``12 km/h`` -> ``12``: trailing unit words after a quantity."""
    head, tail = s[:-MAX_UNIT_TAIL], s[-MAX_UNIT_TAIL:]
    # the lookbehind needs the character before the window
    m = _UNIT_TAIL_RE.search(s[-MAX_UNIT_TAIL - 1 :]) if head else _UNIT_TAIL_RE.search(tail)
    if m is None:
        return s
    cut = len(s) - (len(s[-MAX_UNIT_TAIL - 1 :]) if head else len(tail)) + m.start()
    return s[:cut].rstrip()


_PERCENT_RE = re.compile(r"\s*(?:\\?%|\\percent|percent|per\s*cent)\s*\.?\s*$", re.IGNORECASE)
_NUMBER_NOUN_RE = re.compile(r"^\s*(-?\d[\d,]*(?:\.\d+)?)\s+([a-zA-Z][a-zA-Z \-']{2,40})\.?\s*$")
_NOT_NOUNS = frozenset(
    [
        "and",
        "or",
        "pi",
        "sqrt",
        "sin",
        "cos",
        "tan",
        "log",
        "ln",
        "exp",
        "times",
        "cdot",
        "over",
        "plus",
        "minus",
        "inf",
        "infinity",
        "i",
        "e",
    ]
)

_MIXED_LATEX_RE = re.compile(
    r"(?<![\w.}^_)\]|])(\d+)\s*\\frac\s*(?:\{(\d+)\}\s*\{(\d+)\}|(\d)(\d))(?![\w{])"
)
_MIXED_PLAIN_RE = re.compile(r"(?<![\w.^/)])(\d+)\s+(\d+)\s*/\s*(\d+)(?![\w.(])")


def _unwrap_text(s: str) -> str:
    """Unwrap ``\\text{...}``-like commands; drop the ones that hold only a unit after a quantity;
    ``\\text{ and }`` / ``\\text{ or }`` become list commas."""
    out: list[str] = []
    pos = 0
    while True:
        m = _TEXT_CMD_RE.search(s, pos)
        if m is None:
            out.append(s[pos:])
            return "".join(out)
        start, i, depth = m.start(), m.end(), 1
        while i < len(s) and depth:
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                i += 2
                continue
            depth += (c == "{") - (c == "}")
            i += 1
        if depth:  # unbalanced: drop the command name, keep the rest
            out.append(s[pos:start])
            pos = m.end()
            continue
        inner = s[m.end() : i - 1]
        before = "".join(out) + s[pos:start]
        word = inner.strip().lower().rstrip(".")
        words = word.replace("/", " / ").split()
        quantity_before = bool(before.strip()) and before.rstrip()[-1:] not in "(,[{=" + "\\"
        if (
            quantity_before
            and words
            and all(w in _UNITS or w in _TEXT_ONLY_UNITS or w in ("per", "/") for w in words)
        ):
            rep = " "
        elif word in ("and", "or", ",", "or,", "and,"):
            rep = ", "
        elif m.group(1) in ("text", "textrm", "textup", "textnormal", "mbox", "hbox", "mathrm"):
            rep = inner if not inner.strip().isalpha() else f" {inner} "
        else:
            rep = "{" + inner + "}" if m.group(1) not in ("boxed", "fbox", "framebox") else inner
        if rep == " ":  # a unit: its power goes with it (cm^2)
            p = _UNIT_POWER_RE.match(s, i)
            if p:
                i = p.end()
        out.append(s[pos:start])
        out.append(rep)
        pos = i


_NUM_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
_SCALES = {
    "hundred": 100,
    "thousand": 1000,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
}


def words_to_number(s: str) -> int | None:
    """``"twenty-one"`` -> 21, ``"one hundred and five"`` -> 105; ``None`` unless ``s`` is only
    number words.

    >>> words_to_number("Two thousand and twenty-four"), words_to_number("two apples")
    (2024, None)
    """
    tokens = re.split(r"[\s\-]+", s.strip().lower().rstrip("."))
    if not tokens or tokens == [""] or len(tokens) > 12:
        return None
    total = current = 0
    seen = False
    negative = False
    for i, t in enumerate(tokens):
        if t == "and" and seen:
            continue
        if t in ("minus", "negative") and i == 0:
            negative = True
            continue
        if t in _NUM_WORDS:
            current += _NUM_WORDS[t]
        elif t in _TENS:
            current += _TENS[t]
        elif t in _SCALES:
            if t == "hundred":
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * _SCALES[t]
                current = 0
        else:
            return None
        seen = True
    if not seen:
        return None
    return -(total + current) if negative else total + current


def normalize(answer: str) -> Normalized:
    """Rewrite an extracted answer into the one spelling :mod:`rewards.parse` reads."""
    s = answer[:MAX_ANSWER_CHARS]
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    s = s.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    s = s.strip()
    if "\\\\" in s and "\\begin" not in s:  # inside a matrix ``\\`` is a row break
        s = _DOUBLED_CMD_RE.sub(r"\\", s)
    # Math delimiters.
    s = re.sub(r"\\[()\[\]]", " ", s)
    if "\\" in s:  # LaTeX spelling variants (most answers have no command at all)
        s = _DROP_RE.sub("", s)
        for rx, rep in _RENAME:
            s = rx.sub(rep, s)
    s = _THIN_THOUSANDS_RE.sub("", s)
    s = _SPACE_RE.sub(" ", s)
    s = re.sub(r"(?<!\\)\\!", "", s)
    s = _DEGREE_RE.sub("", s)
    s = s.replace(r"\%", "%")
    s = _CURRENCY_RE.sub("", s)
    s = _unwrap_text(s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"(?<=[(\[{])\s+|\s+(?=[)\]},])", "", s)
    if "," in s:  # "3, 5, and 9" is a list of three
        s = _LIST_COMMAS_RE.sub(", ", s)
    # Leading "answer:"-like labels and trailing sentence punctuation.
    s = re.sub(r"^(?:final answer|answer|ans)\s*[:=]\s*", "", s, flags=re.IGNORECASE)
    s = s.strip().rstrip(".;").strip()
    # Percent.
    percent = False
    m = _PERCENT_RE.search(s)
    if m and m.start() > 0:
        s, percent = s[: m.start()].strip(), True
    low = s.lower()
    if "hundred" in low or "thousand" in low or "illion" in low:
        s = _SCALED_RE.sub(_scaled, s)
    # Units after a quantity.
    s = _strip_unit_tail(s)
    m = _NUMBER_NOUN_RE.match(s)
    if m and not set(m.group(2).lower().split()) & _NOT_NOUNS:
        s = m.group(1)
    if not percent:
        m = _PERCENT_RE.search(s)
        if m and m.start() > 0:
            s, percent = s[: m.start()].strip(), True
    s = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), s)
    n = words_to_number(s) if s[:1].isalpha() else None
    if n is not None:
        s = str(n)
    # Mixed numbers: 2\frac{1}{2} and 2 1/2 are 2 + 1/2 (only for proper fractions).
    s = _MIXED_LATEX_RE.sub(_mixed_latex, s)
    s = _MIXED_PLAIN_RE.sub(_mixed_plain, s)
    return Normalized(s, percent)


_DECIMAL_COMMA_RE = re.compile(r"(-?\d+),(\d+)")
_DIGIT_COMMA_RE = re.compile(r"\d,\d")


def decimal_comma(answer: str) -> str | None:
    """``3,85`` -> ``3.85`` when the answer is one number whose comma cannot separate thousands
    (not three digits after it, or a leading ``0,``); else None. ``1,234`` is never a decimal."""
    if not _DIGIT_COMMA_RE.search(answer):  # cheap test first: this runs after every mismatch
        return None
    m = _DECIMAL_COMMA_RE.fullmatch(normalize(answer).text)
    if m is None:
        return None
    whole, frac = m.groups()
    thousands = len(frac) == 3 and whole.lstrip("-")[:1] != "0"
    return None if thousands else f"{whole}.{frac}"


def _scaled(m: re.Match) -> str:
    value = Fraction(m.group(1)) * _SCALES[m.group(2).lower()]
    return str(value.numerator) if value.denominator == 1 else m.group(0)


def _mixed_latex(m: re.Match) -> str:
    whole = m.group(1)
    num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
    if int(num) < int(den):
        return f"({whole}+\\frac{{{num}}}{{{den}}})"
    return m.group(0)


def _mixed_plain(m: re.Match) -> str:
    whole, num, den = m.groups()
    if int(num) < int(den):
        return f"({whole}+{num}/{den})"
    return m.group(0)
