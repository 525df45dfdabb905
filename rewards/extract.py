"""Find the final answer in a completion or a gold solution: strings in, strings out, no sympy.

Completions are first cut where a base model starts a new problem (``\\nQuestion:``, ``\\nQ:``,
``<|endoftext|>``...), so what it rambles on with after its answer cannot override the answer. Then,
in order:

1. GSM8K only: the last ``#### N`` line (the dataset's own answer format; a later one corrects an
   earlier one);
2. the first ``\\boxed{}`` after the last "final answer" phrase, else the last ``\\boxed{}``/``\\fbox{}``;
   outside GSM8K, boxes joined only by ``and``, commas, ``\\quad`` or ``x =`` form one list of
   answers (``\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}``), while prose between two boxes is a
   changed mind (the box it picked stands alone);
3. the text after the last "final answer is", "the answer is" or "Answer:" (with a display
   ``\\[...\\]`` on the lines after it);
4. the last ``#### N`` line (MATH, DeepMath);
5. the last bold span holding a number or LaTeX (``**19**``);
6. outside GSM8K, the value a closing sentence states (:func:`closing_answer`: "Therefore there are 5
   possible values of $k$.", "So the constant term is 28."), ranked above the last expression of
   the derivation before it;
7. the last inline or display math (``$...$``, ``\\(...\\)``, ``\\[...\\]``, across lines), unless a
   number stated in a later sentence follows it;
8. the last number (outside GSM8K a fraction ``2/3`` counts as one).

Every scan is linear in the text (brace matching by hand; bounded regex windows on the tail).

>>> completion_answer(" 6-2=4. 4+8=12. 12+7=19.\\n#### 19\\nQ: 1+1=?\\nA: 1+1=2.\\n#### 2", "gsm8k")
('19', 'hash')
>>> completion_answer("So $x=\\\\boxed{\\\\frac{1}{2}}$. Check: \\\\boxed{1}", "math")
('1', 'boxed')
>>> completion_answer("The answer is $-3$. Next we ...", "math")
('-3', 'phrase')
>>> gold_answers("... so she has $\\\\boxed{\\\\frac{3}{4}}$ left.", "math")
['\\\\frac{3}{4}']
"""

from __future__ import annotations

import re

MAX_COMPLETION_CHARS = 500_000  # longer completions are cut (a scan stays ~ms)
TAIL_CHARS = 5_000  # fallbacks (bold, inline math, last number) look at the tail only
MAX_SPAN_CHARS = 1_000
MAX_BOXES = 200

_RAMBLE_RE = re.compile(
    r"\n[ \t]*(?:#+\s*)?(?:Q|Question|Problem|Human|User|Instruction|Exercise)\s*\d*\s*[:.：]"
    r"|<\|(?:endoftext|im_end|im_start|eot_id|end_of_text|end|user)\|>|</s>|\[INST\]",
    re.IGNORECASE,
)
_BOX_RE = re.compile(r"\\(?:boxed|fbox|framebox)\s*(\{)?")
_FINAL_RE = re.compile(r"final\s+answer", re.IGNORECASE)
_PHRASE_RE = re.compile(
    r"final\s+answer\s*(?:is|:|=)?"
    r"|(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\s*(?:is|:|=|would\s+be|will\s+be)"
    r"|(?:^|\n)[ \t*#_]*answer[ \t*_]*:",
    re.IGNORECASE,
)
_HASH_RE = re.compile(r"####[ \t]*([^\n]*)")
_CONNECTOR_RE = re.compile(  # what may join boxes that together are one list of answers
    r"(?:\s|\$|\\[()\[\]]|\\q?quad|\\[,;!]|[,;&]|\\\\|\\text\s*\{\s*(?:and|or|,)?\s*\}"
    r"|\b(?:and|or)\b|[a-zA-Z](?:_\{?\w{1,3}\}?)?\s*=)*"
)
MAX_CONNECTOR_CHARS = 60
_LIST_END_RE = re.compile(r"[\s\\\"'*_)]*(?:[.!?;]|\n|$)")
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200})\*\*")
# Inline math may run over lines (not over a blank line); ``\$`` inside it is a dollar sign.
_INLINE_RE = re.compile(
    r"(?<!\\)\$\$([^$]{1,1000})\$\$|(?<!\\)\$((?:\\\$|[^$\n]|\n(?![ \t]*\n)){1,500})(?<!\\)\$"
    r"|\\\(((?:(?!\\\)).){1,500})\\\)|\\\[((?:(?!\\\]).){1,1000})\\\]",
    re.DOTALL,
)
_COPULA_RE = re.compile(r"\s(?:is|are|equals|was|be)\s|=", re.IGNORECASE)
_NEGATION_RE = re.compile(r"\b(?:not|no|never|cannot|isn't|aren't|neither|nor)\b", re.IGNORECASE)
_FRACTION_RE = re.compile(r"(?<![\w/.])-?\d+\s?/\s?\d+(?![\w/]|\.\d)")
_SENTENCE_BREAK_RE = re.compile(r"[.!?](?:\s|$)|\n\s*\n")
_NUMBER_RE = re.compile(
    r"(?:(?<![\w)\]}.])-[ \t]?)?\$?[ \t]?(?<![A-Za-z])"
    r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d.,])|\d+(?:\.\d+)?|\.\d+)"
    r"(?![\d,]\d)(?![A-Za-z]*\d)"
)
_SENTENCE_END_RE = re.compile(
    r"\.(?=\s|$)(?!\d)|\s(?:because|since|which|as\s+(?:it|this|we)|so\s+the)\s|;\s", re.IGNORECASE
)


def cut_ramble(text: str) -> str:
    """The completion up to where a base model starts a new problem."""
    text = text[:MAX_COMPLETION_CHARS]
    m = _RAMBLE_RE.search(text, 1)
    return text[: m.start()] if m else text


def boxed(text: str, start: int = 0) -> list[tuple[int, str]]:
    """``(position, content)`` of each outer ``\\boxed{...}``/``\\fbox{...}`` (also ``\\boxed 5``)."""
    out: list[tuple[int, str]] = []
    pos = start
    while len(out) < MAX_BOXES:
        m = _BOX_RE.search(text, pos)
        if m is None:
            break
        if m.group(1) is None:  # \boxed 5
            mm = re.match(r"[^\s$}\\]{1,50}", text[m.end() : m.end() + 50])
            if mm and m.group(0).endswith((" ", "\t")):
                out.append((m.start(), mm.group(0)))
            pos = m.end()
            continue
        i, depth = m.end(), 1
        n = len(text)
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if depth:  # unbalanced to the end: no more boxes can close either
            break
        out.append((m.start(), text[m.end() : i]))
        pos = i + 1
    return out


def _clean_span(span: str) -> str:
    span = span.strip().strip("*_").strip()
    span = re.sub(r"^[:=\s]+", "", span)
    span = span.strip().rstrip(".,;:").strip().strip("*_").strip()
    if len(span) >= 2 and span[0] == span[-1] == "$":
        span = span.strip("$").strip()
    return span[:MAX_SPAN_CHARS]


def _phrase_span(text: str, start: int) -> str | None:
    """The answer written after a phrase ending at ``start``."""
    rest = text[start : start + 2000]
    rest = re.sub(r"^[ \t*_:=#]*", "", rest)
    if rest.startswith("\n"):  # "**Final Answer**\n\\boxed{5}": allow the next non-empty line
        rest = rest.lstrip()
    lines = rest.split("\n", 2)
    window = "\n".join(lines[:2])
    box = boxed(window)
    if box:
        return box[0][1].strip()
    line = lines[0]
    m = _INLINE_RE.search(rest[:1500])  # "the answer is: \[ ... \]" may run over lines
    if m and m.start() <= 3:
        return _maths_list(rest[:1500], m)
    cut = _SENTENCE_END_RE.search(line)
    if cut:
        line = line[: cut.start()]
    span = _clean_span(line)
    return span or None


def last_number(text: str, fractions: bool = False) -> str | None:
    """The last number in the tail of ``text`` (after cutting a ramble)."""
    found = _last_number(cut_ramble(text), fractions)
    return found[0] if found else None


def _last_number(text: str, fractions: bool = False) -> tuple[str, int] | None:
    """``(number, start in text)``; with ``fractions``, ``2/3`` is one number."""
    offset = max(0, len(text) - TAIL_CHARS)
    tail = text[offset:]
    last = None
    for last in _NUMBER_RE.finditer(tail):  # noqa: B007
        pass
    if last is None:
        return None
    if fractions:
        frac = None
        for frac in _FRACTION_RE.finditer(tail, max(0, last.start() - 30)):  # noqa: B007
            pass
        if frac is not None and frac.end() == last.end():
            return frac.group(0).replace(" ", ""), offset + frac.start()
    return last.group(0).replace("$", "").replace(" ", ""), offset + last.start()


def _last_hash(text: str) -> str | None:
    """The last non-empty ``#### N`` line: a later one is a correction of an earlier one."""
    found = None
    for m in _HASH_RE.finditer(text):
        if m.group(1).strip():
            found = m
    return _clean_span(found.group(1)) if found else None


def _maths_list(text: str, m: re.Match) -> str:
    """The math at ``m`` and those joined to it as a list (``$12$ and $13$`` -> ``12, 13``)."""
    spans = [next(g for g in m.groups() if g is not None).strip()]
    while len(spans) < MAX_BOXES:
        nxt = _INLINE_RE.search(text, m.end())
        if nxt is None or not _connected(text[m.end() : nxt.start()]):
            break
        spans.append(next(g for g in nxt.groups() if g is not None).strip())
        m = nxt
    if not _LIST_END_RE.match(text, m.end()):  # "$5$, and $x$ was ...": a sentence, not a list
        return spans[0]
    return ", ".join(spans)


def _stated_after(text: str, final: re.Match) -> str | None:
    """The answer a "final answer" phrase after the last box states, when it states maths."""
    m = _PHRASE_RE.match(text, final.start())
    span = _phrase_span(text, m.end() if m else final.end())
    return span if span and re.search(r"[\d$\\]", span) else None


def _connected(between: str) -> bool:
    """True when only list punctuation separates two boxes (not a sentence: a changed mind)."""
    return len(between) <= MAX_CONNECTOR_CHARS and _CONNECTOR_RE.fullmatch(between) is not None


def _box_group(text: str, boxes: list[tuple[int, str]], pick: int) -> str:
    """The picked box, joined with the boxes next to it that are connected to it as one list."""
    lo = hi = pick
    while lo > 0 and _connected(text[_box_end(text, boxes[lo - 1]) : boxes[lo][0]]):
        lo -= 1
    while hi + 1 < len(boxes) and _connected(text[_box_end(text, boxes[hi]) : boxes[hi + 1][0]]):
        hi += 1
    return ", ".join(_clean_span(b) for _, b in boxes[lo : hi + 1])


def _box_end(text: str, box: tuple[int, str]) -> int:
    """Where a box found by :func:`boxed` ends (its content is verbatim after the command)."""
    start, content = box
    m = _BOX_RE.match(text, start)
    return m.end() + len(content) + (1 if m.group(1) else 0)


# The closing-sentence rule (step 6). A sentence *states* a value when a number or a maths span
# follows a copula ("is", "are", "=", "a total of", "there are") or opens a concluding sentence
# ("Therefore, $x^3 = 12$."), and only words (or a name like $k$) follow it to the sentence's end.
CLOSING_SENTENCES = 3  # how far back from the end a statement is looked for
_STATED_AFTER_RE = re.compile(
    r"(?:\b(?:is|are|was|were|equals?|be|becomes|gives|yields|get|obtain|total\s+of|there\s+(?:is|are))"
    r"|=)\s*(?:\b(?:approximately|exactly|about|just|simply|then|equal\s+to|therefore)\b\s*)*:?\s*$"
    r"|(?:^\s*|[,;:]\s*)(?:therefore|thus|hence|so|in\s+conclusion|in\s+summary|finally)\s*,?\s*"
    r"(?:we\s+(?:have|get|find|obtain)\s*:?\s*)?$",
    re.IGNORECASE,
)
_CONCLUDES_RE = re.compile(
    r"\s*(?:therefore|thus|hence|so|in\s+conclusion|in\s+summary|finally|consequently)\b",
    re.IGNORECASE,
)
_TRAILING_WORDS_RE = re.compile(r"[\s,]*(?:[A-Za-z'\-]+(?![A-Za-z'\-])[\s,]*){0,12}[.!?:]?\s*")
_REJECTED_RE = re.compile(
    r"\b(?:is|are|was|were|does|do)\s+not\b|\b(?:isn't|aren't)\b", re.IGNORECASE
)
_NAME_MATH_RE = re.compile(r"\s*(?:[A-Za-z](?:_\{?\w{1,3}\}?)?|[A-Z]{2,3})\s*")
_MASK = "\x00"  # stands for each character of a maths span while sentences are read


def closing_answer(text: str) -> tuple[str | None] | None:
    """The value the closing sentences state, as ``(value,)``; ``(None,)`` when the last sentence
    holding a value rejects it ("so $x = 14$ and $y = 15$ is not a solution"); None when they state
    nothing (then the last expression decides).

    The latest statement among the last :data:`CLOSING_SENTENCES` sentences wins; a later sentence
    holding some other value (not a name such as $k$) overrides an earlier plain statement, but not
    an earlier concluding one ("Therefore, ..." then a remark).
    """
    tail = text[max(0, len(text) - TAIL_CHARS) :]
    spans = []  # (start, end, value, is a name)
    masked = list(tail)  # maths masked: its dots break no sentence, its digits are no numbers
    breaks = [m.end() for m in _SENTENCE_BREAK_RE.finditer(tail)]
    for m in _INLINE_RE.finditer(tail):
        inner = next(g for g in m.groups() if g is not None)
        named = bool(_NAME_MATH_RE.fullmatch(inner))
        spans.append((m.start(), m.end(), _clean_span(inner), named))
        masked[m.start() : m.end()] = ("k" if named else _MASK).ljust(m.end() - m.start())
        if inner.rstrip().endswith("."):  # "... is: \\[f(x) = -x + 1.\\] This function ..."
            breaks.append(m.end())
    masked = "".join(masked)
    breaks = sorted(b for b in set(breaks) if b < len(tail.rstrip()))
    bounds = list(zip([0, *breaks], [*breaks, len(tail)]))[-CLOSING_SENTENCES:]
    blocked = False
    for k, (lo, hi) in enumerate(reversed(bounds)):
        values = _sentence_values(masked, spans, lo, hi)
        if k == 0 and values and _REJECTED_RE.search(masked, values[-1][1], hi):
            return (None,)
        stated = _stated(masked, values, lo, hi)
        if stated is not None and (not blocked or _CONCLUDES_RE.match(masked, lo)):
            return (stated,)
        blocked = blocked or any(not named for *_, named in values)
    return None


def _sentence_values(masked: str, spans, lo: int, hi: int) -> list[tuple[int, int, str, bool]]:
    """``(start, end, value, is a name)`` of each maths span and number in ``masked[lo:hi]``."""
    out = [v for v in spans if lo <= v[0] and v[1] <= hi]
    for m in _FRACTION_RE.finditer(masked, lo, hi):
        out.append((m.start(), m.end(), m.group(0).replace(" ", ""), False))
    for m in _NUMBER_RE.finditer(masked, lo, hi):
        if not any(a <= m.start() < b for a, b, *_ in out):
            out.append((m.start(), m.end(), m.group(0).replace("$", "").replace(" ", ""), False))
    return sorted(out)


def _stated(masked: str, values, lo: int, hi: int) -> str | None:
    """The last value the sentence ``masked[lo:hi]`` states (see :func:`closing_answer`)."""
    if _NEGATION_RE.search(masked, lo, hi):
        return None
    for start, end, value, named in reversed(values):
        if named or not _TRAILING_WORDS_RE.fullmatch(masked, end, hi):
            continue
        if _STATED_AFTER_RE.search(masked[max(lo, start - 200) : start]):
            return value
    return None


def _math_or_number(text: str, bare: bool = True) -> tuple[str, str] | None:
    """The last inline/display math, or the last number when a later sentence states one."""
    offset = max(0, len(text) - TAIL_CHARS)
    maths = list(_INLINE_RE.finditer(text[offset:]))
    number = _last_number(text, fractions=True)
    if maths:
        m = maths[-1]
        end = offset + m.end()
        if number is None or number[1] < end or not _SENTENCE_BREAK_RE.search(text, end, number[1]):
            g = next(x for x in m.groups() if x is not None)
            return _clean_span(g), "math"
    whole = text.strip()
    if bare and whole and len(whole) <= 80 and "\n" not in whole:  # a bare answer: "\frac{10}{9}"
        return _clean_span(whole), "whole"
    return (number[0], "number") if number else None


def completion_answer(completion: str, dataset: str) -> tuple[str, str] | None:
    """``(answer span, where it was found)`` or ``None``; ``where`` is one of ``hash boxed phrase
    bold closing math whole number`` (``whole``: a short one-line completion taken as the answer)."""
    text = cut_ramble(completion)
    if dataset == "gsm8k":
        span = _last_hash(text)
        if span:
            return span, "hash"
    boxes = [b for b in boxed(text) if b[1].strip()]  # "put it within \\boxed{}" is no answer
    if boxes:
        pick = len(boxes) - 1
        finals = list(_FINAL_RE.finditer(text))
        if finals:
            after = [i for i, b in enumerate(boxes) if b[0] >= finals[-1].end()]
            pick = after[0] if after else pick
            stated = None if after else _stated_after(text, finals[-1])
            if stated:  # "\boxed{255} ... Final Answer: The final answer is $10,455$."
                return stated, "phrase"
        if dataset == "gsm8k":
            return _clean_span(boxes[pick][1]), "boxed"
        return _box_group(text, boxes, pick), "boxed"
    phrases = list(_PHRASE_RE.finditer(text))
    for m in reversed(phrases[-5:]):
        span = _phrase_span(text, m.end())
        if span:
            return span, "phrase"
    if dataset != "gsm8k":
        span = _last_hash(text)
        if span:
            return span, "hash"
    tail = text[-TAIL_CHARS:]
    bolds = [b.group(1) for b in _BOLD_RE.finditer(tail)]
    for b in reversed(bolds):
        b = b.strip()
        if (re.search(r"\d|\\", b)) and not b.endswith(":"):
            return _clean_span(b), "bold"
    if dataset != "gsm8k":
        closing, last = closing_answer(text), _math_or_number(text)
        if closing is None or (last and closing[0] == last[0]):
            return last
        # (None,): the solution ends by rejecting what it found
        return (closing[0], "closing") if closing[0] else None
    number = _last_number(text)
    return (number[0], "number") if number else None


def prose_answer(span: str) -> str | None:
    """The value a prose answer states: ``the smallest $k$ is 17`` -> ``17`` (after the last "is",
    "are", "equals" or "="; else its last math or number). None when the sentence negates."""
    if _NEGATION_RE.search(span):
        return None
    parts = _COPULA_RE.split(span)
    rest = parts[-1] if len(parts) > 1 else span
    rest = rest.strip()
    if not rest:
        return None
    m = _INLINE_RE.match(rest)
    if m and m.end() >= len(rest.rstrip(" .")) - 1:
        return _clean_span(next(g for g in m.groups() if g is not None))
    found = _math_or_number(rest, bare=False)
    return found[0] if found else None


def gold_answers(gold: str, dataset: str) -> list[str]:
    """The gold answer span(s): GSM8K after ``####``; MATH the last box (and, when there are
    several, all boxes as one list); DeepMath the string itself. Empty list: no answer found."""
    if dataset == "gsm8k":
        hashes = _HASH_RE.findall(gold)
        if hashes:
            return [_clean_span(hashes[-1])] if hashes[-1].strip() else []
        bare = gold.strip()
        return [bare] if bare and "\n" not in bare and len(bare) < 40 else []
    if dataset == "math":
        boxes = [b for b in boxed(gold) if b[1].strip()]
        if not boxes:
            bare = gold.strip().strip("$").strip()
            # a bare answer (MATH-500's `answer` field), not a solution missing its box
            short = bare and "\n" not in bare and len(bare) <= 80 and bare.count(" ") <= 6
            return [bare] if short else []
        return [_box_group(gold, boxes, len(boxes) - 1)]
    bare = gold.strip()
    inner = boxed(bare)
    if inner and len(inner) == 1 and bare.startswith(("\\boxed", "$\\boxed")):
        bare = inner[0][1].strip()
    bare = bare.strip("$").strip()
    return [bare] if bare else []


def first_number(span: str) -> str | None:
    """The first number in an answer span (after its last ``=``), for GSM8K.

    >>> first_number("$1,234.50 per week"), first_number("12+7 = 19 apples")
    ('1,234.50', '19')
    """
    if "=" in span:
        span = span.rsplit("=", 1)[1]
    m = _NUMBER_RE.search(span[:MAX_SPAN_CHARS])
    return m.group(0).replace("$", "").replace(" ", "") if m else None
