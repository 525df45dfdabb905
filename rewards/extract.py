"""Find the final answer in a completion or a gold solution: strings in, strings out, no sympy.

Completions are first cut where a base model starts a new problem (``\\nQuestion:``, ``\\nQ:``,
``<|endoftext|>``...), so what it rambles on with after its answer cannot override the answer. Then,
in order:

1. GSM8K only: the first ``#### N`` line (the dataset's own answer format);
2. the first ``\\boxed{}`` after the last "final answer" phrase, else the last ``\\boxed{}``/``\\fbox{}``;
3. the text after the last "final answer is", "the answer is" or "Answer:";
4. the first ``#### N`` line (MATH, DeepMath);
5. the last bold span holding a number or LaTeX (``**19**``);
6. the last inline math (``$...$``, ``\\(...\\)``, ``\\[...\\]``);
7. the last number.

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
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_INLINE_RE = re.compile(
    r"\$\$([^$]{1,1000})\$\$|\$([^$\n]{1,500})\$|\\\(((?:(?!\\\)).){1,500})\\\)"
    r"|\\\[((?:(?!\\\]).){1,1000})\\\]",
    re.DOTALL,
)
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
    m = _INLINE_RE.search(line)
    if m and m.start() <= 3:
        return next(g for g in m.groups() if g is not None).strip()
    cut = _SENTENCE_END_RE.search(line)
    if cut:
        line = line[: cut.start()]
    span = _clean_span(line)
    return span or None


def last_number(text: str) -> str | None:
    """The last number in the tail of ``text`` (after cutting a ramble)."""
    return _last_number(cut_ramble(text))


def _last_number(text: str) -> str | None:
    tail = text[-TAIL_CHARS:]
    last = None
    for last in _NUMBER_RE.finditer(tail):  # noqa: B007
        pass
    return last.group(0).replace("$", "").replace(" ", "") if last else None


def completion_answer(completion: str, dataset: str) -> tuple[str, str] | None:
    """``(answer span, where it was found)`` or ``None``; ``where`` is one of ``hash boxed phrase
    bold math whole number`` (``whole``: a short one-line completion taken as the answer)."""
    text = cut_ramble(completion)
    if dataset == "gsm8k":
        m = _HASH_RE.search(text)
        if m and m.group(1).strip():
            return _clean_span(m.group(1)), "hash"
    boxes = boxed(text)
    if boxes:
        finals = list(_FINAL_RE.finditer(text))
        if finals:
            after = [b for b in boxes if b[0] >= finals[-1].end()]
            if after:
                return _clean_span(after[0][1]), "boxed"
        return _clean_span(boxes[-1][1]), "boxed"
    phrases = list(_PHRASE_RE.finditer(text))
    for m in reversed(phrases[-5:]):
        span = _phrase_span(text, m.end())
        if span:
            return span, "phrase"
    if dataset != "gsm8k":
        m = _HASH_RE.search(text)
        if m and m.group(1).strip():
            return _clean_span(m.group(1)), "hash"
    tail = text[-TAIL_CHARS:]
    bolds = [b.group(1) for b in _BOLD_RE.finditer(tail)]
    for b in reversed(bolds):
        b = b.strip()
        if (re.search(r"\d|\\", b)) and not b.endswith(":"):
            return _clean_span(b), "bold"
    if dataset != "gsm8k":
        maths = list(_INLINE_RE.finditer(tail))
        if maths:
            g = next(x for x in maths[-1].groups() if x is not None)
            return _clean_span(g), "math"
    if dataset != "gsm8k":
        whole = text.strip()
        if whole and len(whole) <= 80 and "\n" not in whole:  # a bare answer: "\frac{10}{9}"
            return _clean_span(whole), "whole"
    number = _last_number(text)
    return (number, "number") if number else None


def all_boxes(completion: str) -> str | None:
    """All boxes of a completion as one list (``x = \\boxed{-2}`` or ``x = \\boxed{3}``), when
    it has several; the grader tries it only against a gold that is itself a list."""
    boxes = boxed(cut_ramble(completion))
    if len(boxes) < 2:
        return None
    return ", ".join(_clean_span(b) for _, b in boxes)


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
        boxes = [b for _, b in boxed(gold) if b.strip()]
        if not boxes:
            bare = gold.strip().strip("$").strip()
            # a bare answer (MATH-500's `answer` field), not a solution missing its box
            short = bare and "\n" not in bare and len(bare) <= 80 and bare.count(" ") <= 6
            return [bare] if short else []
        spans = [boxes[-1].strip()]
        if len(boxes) > 1:
            spans.append(", ".join(b.strip() for b in boxes))
        return spans
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
