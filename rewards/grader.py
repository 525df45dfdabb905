"""``grade(completion, gold, dataset) -> Grade``: extraction, parsing and equivalence in one call.

In-process and without a time limit (sizes are bounded, so it is fast, but a pathological input can
still take seconds): callers that need a hard limit use :func:`rewards.pool.grade_many`.

GSM8K has a fast path for its hot case (integers and decimals compared as exact fractions, no
sympy); anything else goes through :mod:`rewards.parse` and :mod:`rewards.equivalence`. A gold that
yields no answer raises :class:`GoldError` naming it; golds are parsed once and cached.

>>> grade(" 6-2=4. 4+8=12. 12+7=19.\\n#### 19", " 6-2=4. 4+8=12. 12+7=19.\\n#### 19", "gsm8k")
Grade(correct=True, extracted='19', reason='match')
>>> grade("So the answer is $\\\\frac{2}{4}$.", "... $\\\\boxed{\\\\frac12}$", "math").correct
True
>>> grade("\\\\boxed{-1, 3}", "3, -1", "deepmath").correct, grade("\\\\boxed{3}", "3, -1", "deepmath").reason
(True, 'mismatch')

Equal values are the default. ``strict=True`` (MATH's official scoring) also wants the gold's form:
a fraction in lowest terms when the gold's is, no decimal for a common-fraction gold (unless the gold
is a decimal), ``a:b`` for a ratio gold, and for a gold that is one simplified term with unknowns
(``\\sin x``) the same expression up to the order of its factors; an equal value in another form
is ``Grade(False, ..., "form")``.

>>> grade("\\\\boxed{\\\\frac{6}{8}}", "\\\\boxed{\\\\frac34}", "math", strict=True).reason
'form'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import sympy as sp

from rewards.equivalence import equivalent
from rewards.extract import (
    completion_answer,
    first_number,
    gold_answers,
    last_number,
    prose_answer,
)
from rewards.normalize import decimal_comma, normalize
from rewards.parse import ParseError, parse
from rewards.relations import canonical
from rewards.values import Choice, Parsed, Relation, Seq, Text

DATASETS = ("gsm8k", "math", "deepmath")
MAX_EXTRACTED_CHARS = 200  # how much of the answer a Grade carries


@dataclass(frozen=True)
class Grade:
    """The verdict on one completion. ``reason`` is one of: ``match``, ``mismatch``, ``no_answer``
    (nothing answer-like found), ``unparseable`` (an answer that is neither maths we read nor the
    gold's text), ``form`` (with ``strict=True``: the gold's value in another form), ``timeout``
    (from :func:`rewards.grade_many`), ``error`` (a bug: please report)."""

    correct: bool
    extracted: str | None
    reason: str


class GoldError(ValueError):
    """The gold answer cannot be read: no ``####`` line, no ``\\boxed{}``, or an empty answer."""


def check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known datasets: {', '.join(DATASETS)}")


# ---------------------------------------------------------------------------------------------------
# Gold answers.


@dataclass(frozen=True)
class _Gold:
    text: str  # the gold answer span
    number: Fraction | None = None  # GSM8K fast path
    value: Parsed | Choice | Text | None = None


_PLAIN_NUMBER_RE = re.compile(r"^\s*(-?)\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d+)?(\.\d+)?\s*\.?\s*$")


def _plain_number(s: str) -> Fraction | None:
    """``"1,234"``, ``"-5"``, ``"$18.00"``, ``".5"`` -> Fraction; anything else -> None."""
    m = _PLAIN_NUMBER_RE.match(s)
    if not m or (m.group(2) is None and m.group(3) is None):
        return None
    whole = (m.group(2) or "0").replace(",", "")
    if len(whole) > 200:
        return None
    f = Fraction(whole + (m.group(3) or ""))
    return -f if m.group(1) else f


_CHOICE_RE = re.compile(r"^\(?\s*([A-E])\s*\)?$")
_CHOICE_IN_ANSWER_RE = re.compile(
    r"^(?:(?:option|choice|answer)\s*)?(?:\(\s*([A-Ea-e])\s*\)|([A-E])(?:[).:]|\s|$))"
)


def _choice_of(span: str) -> str | None:
    text = normalize(span).text.strip().strip("{}").strip()
    m = _CHOICE_IN_ANSWER_RE.match(text)
    if not m:
        return None
    return (m.group(1) or m.group(2)).upper()


def _text_key(span: str) -> str:
    """Words compared as words: case, braces, punctuation and articles do not matter."""
    s = normalize(span).text.lower()
    s = re.sub(r"\\([a-z]+)", r" \1 ", s)
    s = re.sub(r"[{}$*_\"'`.!?]", " ", s)
    s = re.sub(r"\b(?:the|a|an)\b", " ", s)
    parts = [" ".join(p.split()) for p in s.split(",")]
    parts = [p for p in parts if p]
    if len(parts) > 1:
        parts.sort()
    return ",".join(parts)


def _compact(span: str) -> str:
    return re.sub(r"\s+", "", normalize(span).text)


def _gold_value(span: str) -> Parsed | Choice | Text:
    text = normalize(span).text.strip()
    m = _CHOICE_RE.match(text.strip("{}"))
    if m:
        return Choice(m.group(1))
    try:
        return parse(span)
    except ParseError:
        key = _text_key(span)
        if not key:
            raise
        return Text(key)


@lru_cache(maxsize=4096)
def gold_answer(gold: str, dataset: str) -> tuple[_Gold, ...]:
    """The gold's answer(s), parsed; :class:`GoldError` if there is none."""
    check_dataset(dataset)
    if not isinstance(gold, str):
        raise GoldError(f"gold must be a string, got {type(gold).__name__}: {gold!r:.200}")
    spans = gold_answers(gold, dataset)
    if not spans:
        what = {"gsm8k": "no '#### N' answer line", "math": "no \\boxed{} answer"}
        raise GoldError(f"{dataset} gold has {what.get(dataset, 'no answer')}: {gold!r:.300}")
    out = []
    for span in spans:
        if dataset == "gsm8k":
            number = _plain_number(span)
            if number is None and "####" in gold:
                n = first_number(span)
                number = _plain_number(n) if n else None
            if number is None:
                if "####" not in gold:
                    raise GoldError(f"gsm8k gold has no '#### N' answer line: {gold!r:.300}")
                raise GoldError(
                    f"gsm8k gold answer is not a number: {span!r:.100} in {gold!r:.300}"
                )
            out.append(_Gold(span, number=number))
            continue
        try:
            out.append(_Gold(span, value=_gold_value(span)))
        except ParseError as e:
            raise GoldError(
                f"{dataset} gold {gold!r:.300}: its answer {span!r:.200} cannot be read ({e})"
            ) from e
    return tuple(out)


def check_gold(gold: str, dataset: str) -> None:
    """Raise :class:`GoldError` now if ``gold`` cannot be graded against (validate a dataset)."""
    gold_answer(gold, dataset)


# ---------------------------------------------------------------------------------------------------
# Grading.


def grade(completion: str, gold: str, dataset: str, *, strict: bool = False) -> Grade:
    """Grade one completion against its gold answer (see the module docstring); ``strict``: the
    answer must also be in the gold's form (MATH's official scoring; GSM8K golds are plain numbers)."""
    check_dataset(dataset)
    if not isinstance(gold, str):
        raise GoldError(f"gold must be a string, got {type(gold).__name__}: {gold!r:.200}")
    golds = gold_answer(gold, dataset)
    if not isinstance(completion, str):
        return Grade(False, None, "no_answer")
    found = completion_answer(completion, dataset)
    if found is None or not found[0].strip():
        return Grade(False, None, "no_answer")
    span = found[0]
    extracted = span[:MAX_EXTRACTED_CHARS]
    try:
        if dataset == "gsm8k":
            correct, reason = _compare_gsm8k(golds[0], span)
        else:
            correct, reason, matched = False, "mismatch", golds[0]
            for matched in golds:
                correct, reason = _compare(matched, span)
                if correct:
                    break
            if reason == "unparseable" and found[1] in ("whole", "phrase"):
                # prose after all: "Final Answer: the smallest $k$ is 17."
                if found[1] == "phrase":  # a negated statement gives nothing
                    value = prose_answer(span)
                else:
                    value = last_number(completion, fractions=True)
                if value is not None:
                    span, extracted = value, value[:MAX_EXTRACTED_CHARS]
                    matched = golds[0]
                    correct, reason = _compare(matched, value)
            if correct and strict and not _in_gold_form(matched, span):
                correct, reason = False, "form"
    except (RecursionError, MemoryError, ParseError, ArithmeticError, TypeError, ValueError):
        return Grade(False, extracted, "error")
    return Grade(correct, extracted, reason)


def _compare_gsm8k(gold: _Gold, span: str) -> tuple[bool, str]:
    number = _plain_number(span)
    if number is None and "=" in span:
        number = _plain_number(span.rsplit("=", 1)[1])
    if number is not None:  # the hot path: exact fractions, no sympy
        return (number == gold.number, "match" if number == gold.number else "mismatch")
    try:
        parsed = parse(span)
        value = parsed.value
        if isinstance(value, sp.Basic) and value.is_Rational:
            ok = Fraction(int(value.p), int(value.q)) == gold.number
            return ok, "match" if ok else "mismatch"
    except ParseError:
        pass
    n = first_number(span)
    if n is None:
        return False, "unparseable"
    number = _plain_number(n)
    ok = number is not None and number == gold.number
    return ok, "match" if ok else "mismatch"


def _compare(gold: _Gold, span: str) -> tuple[bool, str]:
    value = gold.value
    if isinstance(value, Choice):
        letter = _choice_of(span)
        if letter is None:
            return False, "mismatch"
        return letter == value.letter, "match" if letter == value.letter else "mismatch"
    if isinstance(value, Text):
        ok = bool(value.text) and _text_key(span) == value.text
        return ok, "match" if ok else "mismatch"
    try:
        answer = parse(span)
    except ParseError:
        # Same string after normalisation (and not empty), or it is not this answer.
        a, g = _compact(span), _compact(gold.text)
        ok = bool(a) and a == g
        return ok, "match" if ok else "unparseable"
    ok = equivalent(value, answer) or _decimal_comma_match(gold, span, answer)
    return ok, "match" if ok else "mismatch"


# ---------------------------------------------------------------------------------------------------
# strict=True: the gold's form.

_INT_FRACTION_RE = re.compile(
    r"\\frac\s*(?:\{\s*(\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))|(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])"
)
_COMMON_FRACTION_RE = re.compile(r"\\frac|/")


def _unreduced(span: str) -> bool:
    """True when ``span`` writes a fraction of whole numbers not in lowest terms (``\\frac{6}{8}``)."""
    for m in _INT_FRACTION_RE.finditer(normalize(span).text):
        num, den = (int(x) for x in m.groups() if x is not None)
        if math.gcd(num, den) > 1:
            return True
    return False


def _in_gold_form(gold: _Gold, span: str) -> bool:
    """The strict rules of :func:`grade` for an answer whose value equals the gold's."""
    if not isinstance(gold.value, Parsed):
        return True  # a choice letter or words: compared as written already
    try:
        answer = parse(span)
    except ParseError:
        return True  # the same string as the gold's
    if _unreduced(span) and not _unreduced(gold.text):
        return False
    fraction_gold = _COMMON_FRACTION_RE.search(normalize(gold.text).text)
    if answer.approx and not gold.value.approx and fraction_gold:
        return False
    g, a = gold.value.value, _stated_value(answer.value)
    if isinstance(g, Seq) and g.kind == "ratio":
        return isinstance(a, Seq) and a.kind == "ratio"
    if isinstance(g, sp.Basic) and g.free_symbols and not isinstance(g, sp.Add):
        return a == g  # sympy's own canonical order: structure up to the order of terms
    return True


def _stated_value(v):
    """What an answer states: ``x = 3`` states ``3``."""
    v = canonical(v)
    if isinstance(v, Relation) and v.ops == ("=",):
        return v.parts[1]
    return v


def _decimal_comma_match(gold: _Gold, span: str, answer: Parsed) -> bool:
    """``3,85`` against ``3.85`` (either side): a comma that cannot separate thousands, read as a
    decimal comma only against a single number (against a list, ``2,3`` stays two answers)."""
    alt = decimal_comma(span)
    if alt is not None and _is_number(gold.value):
        return equivalent(gold.value, parse(alt))
    alt = decimal_comma(gold.text)
    if alt is not None and _is_number(answer):
        return equivalent(parse(alt), answer)
    return False


def _is_number(v) -> bool:
    return isinstance(v, Parsed) and isinstance(v.value, sp.Basic) and v.value.is_number
