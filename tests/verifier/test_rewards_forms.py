"""Answer forms real models write, class by class (the verifier-robustness issue): each class has
positives and near-miss negatives. One case a line: (dataset, gold, completion, correct)."""

from __future__ import annotations

import pytest

from rewards import grade

G, M, D = "gsm8k", "math", "deepmath"


def _m(answer: str) -> str:
    """A MATH-style gold solution ending in a box."""
    return f"Working through the algebra, we get $\\boxed{{{answer}}}$."


# fmt: off
NO_BOX = [  # 1. no box: the last displayed or inline maths, a stated answer, maths over lines
    (M, _m("17"), "Trying k = 16 fails.\nFinal Answer: the smallest $k$ is 17.", True),  # prose after "Final Answer:"
    (M, _m("17"), "Trying k = 16 fails.\nFinal Answer: the smallest $k$ is 16.", False),  # prose, wrong value
    (M, _m("17"), "Final Answer: the smallest $k$ is not 17, I think.", False),  # negated statement
    (M, _m("\\frac{3}{4}"), "So the answer is:\n\\[\n\\frac{3}{4}\n\\]\nas required.", True),  # display after "answer is:"
    (M, _m("\\frac{3}{4}"), "So the answer is:\n\\[\n\\frac{4}{3}\n\\]\nas required.", False),  # display, inverted
    (M, _m("120"), "The volume is $5 \\times 6 \\times 4 = 120$.", True),  # last inline maths, chain
    (M, _m("120"), "The volume is $5 \\times 6 \\times 4 = 121$.", False),  # last inline maths, slip
    (M, _m("2"), "We need $x$ such that\n\\[ x^2 = 4 \\]\nand x > 0, hence \\(x =\n2\\)", True),  # \( spanning lines
    (M, _m("2"), "We need $x$ such that\n\\[ x^2 = 4 \\]\nand x > 0, hence \\(x =\n-2\\)", False),  # \( spanning lines, sign
    (M, _m("12"), "Let $d = \\frac{90}{n}$. Therefore there are 12 sequences.", True),  # number stated after the maths
    (M, _m("12"), "Let $d = \\frac{90}{n}$. Therefore there are 13 sequences.", False),  # later number, wrong
    (M, _m("10455"), "So $\\boxed{255}$ interest.\nFinal Answer: The final answer is $10,455$.", True),  # stated after a box
    (M, _m("255"), "So $\\boxed{255}$ interest.\nFinal Answer: The final answer is $10,455$.", False),  # the box was not final
    (M, _m("\\frac{10}{9}"), "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", True),  # escaped dollar inside maths
    (M, _m("\\frac{2}{3}"), "So P(A) = (1/2) * (4/3), and P(A) = 2/3", True),  # plain fraction as last number
    (M, _m("\\frac{2}{3}"), "So P(A) = (1/2) * (4/3), and P(A) = 1/3", False),  # plain fraction, wrong
]

RELATIONS = [  # 2. relations on either side, chains, approximations, inequalities as intervals
    (D, "y = 8", "\\boxed{8}", True),  # named gold, bare answer
    (D, "y = 8", "\\boxed{-8}", False),  # named gold, sign
    (D, "8", "\\boxed{y = 8}", True),  # named answer
    (D, "8", "\\boxed{y = 9}", False),  # named answer, wrong
    (D, "(a,b)=(4,1)", "\\boxed{(4, 1)}", True),  # tuple of names
    (D, "(a,b)=(4,1)", "\\boxed{(1, 4)}", False),  # tuple order matters
    (D, "|PQ| = 2", "\\boxed{2}", True),  # absolute value names a length
    (D, "|PQ| = 2", "\\boxed{\\sqrt{2}}", False),  # length, wrong
    (D, "M:N = 3", "\\boxed{3}", True),  # a ratio names the value
    (D, "M:N = 3", "\\boxed{\\frac13}", False),  # ratio inverted
    (D, "8", "\\boxed{y = 2+3+3 = 8}", True),  # chain: last member
    (D, "8", "\\boxed{y = 2+3+3 = 9}", False),  # chain: last member wrong
    (D, "y = 8", "\\boxed{y = 2+3+3 = 8}", True),  # chain against a named gold
    (D, "\\frac{2}{7}", "\\boxed{y = \\frac{2}{7} \\approx 0.29}", True),  # exact member before \approx
    (D, "0.29", "\\boxed{y = \\frac{2}{7} \\approx 0.29}", False),  # the rounding is not the answer
    (D, "\\frac{2}{7}", "\\boxed{y = \\frac{3}{7} \\approx 0.29}", False),  # wrong exact member
    (D, "t \\in [-1, 4]", "\\boxed{-1 \\le t \\le 4}", True),  # inequality = closed interval
    (D, "t \\in [-1, 4]", "\\boxed{-1 < t \\le 4}", False),  # one end open
    (D, "[-5,-2] \\cup [2,5]", "\\boxed{2 \\le |w| \\le 5}", True),  # |w| between bounds = a union
    (D, "[-5,-2] \\cup [2,5]", "\\boxed{2 < |w| \\le 5}", False),  # |w| with an open inner end
    (D, "[-5, 5]", "\\boxed{|w| \\le 5}", True),  # |w| below a bound = one interval
    (D, "(0, 3)", "\\boxed{0 < g(t) < 3}", True),  # function value between bounds
    (D, "(0, 3)", "\\boxed{0 < g(t) \\le 3}", False),  # closed end
    (D, "t < 2", "\\boxed{-t > -2}", True),  # negated inequality
    (D, "t < 2", "\\boxed{-t < -2}", False),  # negated without the flip
    (D, "x \\ge 1", "\\boxed{2x + 1 \\ge 3}", True),  # linear in one unknown
    (D, "x \\ge 1", "\\boxed{2x + 1 \\ge 4}", False),  # linear, wrong bound
    (D, "S_{MBCN}:S = 7:32", "\\boxed{7:32}", True),  # named ratio against a ratio
]

NUMBERS = [  # 3. ratios, number words with a scale, LaTeX thousands, decimal commas
    (D, "5:12", "\\boxed{5:12}", True),  # ratio
    (D, "5:12", "\\boxed{12:5}", False),  # ratio reversed
    (D, "9:40", "\\boxed{18:80}", True),  # proportional ratio
    (D, "\\frac{9}{40}", "\\boxed{9:40}", True),  # ratio against its quotient
    (D, "\\frac{9}{40}", "\\boxed{9:41}", False),  # ratio, wrong term
    (D, "3200000", "The population is \\boxed{3.2 \\text{ million}}", True),  # decimal with a scale word
    (D, "3.2", "The population is \\boxed{3.2 \\text{ million}}", False),  # scale word is not a unit
    (G, "#### 400", "She saved four hundred dollars. The answer is four hundred.", True),  # number words
    (G, "#### 400", "The answer is four hundred and one.", False),  # number words, off by one
    (D, "4508200", "\\boxed{4,\\! 508,\\! 200}", True),  # comma plus thin space
    (D, "17046", "\\boxed{17{,}046}", True),  # braced comma
    (D, "17046", "\\boxed{17{,}064}", False),  # braced comma, swapped digits
    (D, "4508", "\\boxed{4\\,508}", True),  # thin space
    (D, "3.85", "The total is \\boxed{3,85 €}", True),  # decimal comma with a currency
    (D, "0.207", "\\boxed{0,207}", True),  # leading zero: a decimal comma
    (D, "1.234", "\\boxed{1,234}", False),  # thousands separator, not a decimal comma
    (D, "2.6", "\\boxed{2,5}", False),  # decimal comma, wrong digit
    (D, "2, 5", "\\boxed{2,5}", True),  # against a list, a comma separates answers
]

SEVERAL = [  # 4. several answers as one set; a changed mind is not a set
    (M, _m("1, -2"), "\\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}. \\]", True),  # boxes joined by "and"
    (M, _m("1, -2"), "\\[ \\boxed{-2} \\quad \\text{and} \\quad \\boxed{2}. \\]", False),  # one box wrong
    (M, _m("5"), "$x = \\boxed{3}$ or $x = \\boxed{5}$", False),  # hedging two answers for one
    (M, _m("5"), "First I get $\\boxed{3}$. Wait, I dropped a term, so it is $\\boxed{5}$.", True),  # changed mind: last box
    (M, _m("3, 5"), "First I get $\\boxed{3}$. Wait, I dropped a term, so it is $\\boxed{5}$.", False),  # changed mind is not a set
    (M, "\\boxed{1} no, redo: \\boxed{2}", "$\\boxed{1,2}$", False),  # gold with a changed mind: its last box
    (M, _m("3, 5, 9"), "The values are $\\boxed{3, 5, \\text{and } 9}$.", True),  # "and" inside a box
    (M, _m("3, 5, 9"), "The values are $\\boxed{3, 5, \\text{and } 8}$.", False),  # "and" inside a box, wrong
    (D, "(2,5,7), (5,2,7)", "\\boxed{(5, 2, 7), (2, 5, 7)}", True),  # tuples in any order
    (D, "(2,5,7), (5,2,7)", "\\boxed{(5, 2, 7), (2, 7, 5)}", False),  # a tuple permuted inside
    (D, "(5, 8), (8, 5)", "\\boxed{(x, y) = (5, 8) \\quad \\text{and} \\quad (8, 5)}", True),  # named first tuple
    (D, "x_1 = 2, x_2 = -3", "\\boxed{-3, 2}", True),  # named roots against values
    (D, "\\{-3, 2\\}", "\\boxed{x_1 = 2, \\quad x_2 = -3}", True),  # named roots against a set
    (D, "\\{-3, 2\\}", "\\boxed{x_1 = 2, \\quad x_2 = 3}", False),  # named roots, one wrong
    (D, "x_{1}=1,\\quadx_{2}=4", "\\boxed{1} \\quad \\text{and} \\quad \\boxed{4}", True),  # gold with glued \quadx
    (M, _m("12, 13"), "The final answer is $12$ and $13$.", True),  # stated maths joined by "and"
    (M, _m("5"), "The answer is $5$, and $x$ was the unknown.", True),  # prose after one stated answer
]

CORRECTION = [  # 5. self-correction: the last final-answer marker; the exact part of a box
    (G, "#### 52", "4*12 = 48\n#### 48\nWait, that step was wrong: 4*13 = 52\n#### 52", True),  # last marker
    (G, "#### 48", "4*12 = 48\n#### 48\nWait, that step was wrong: 4*13 = 52\n#### 52", False),  # the corrected one
    (G, "#### 19", "12+7=19\n#### 19\nQuestion: what is 3+4?\n#### 7", True),  # a new problem is not a correction
    (D, "\\frac{2}{7}", "\\boxed{\\frac{2}{7} \\approx 0.286}", True),  # approximation inside the box
    (D, "\\frac{2}{7}", "\\boxed{\\frac{2}{9} \\approx 0.286}", False),  # approximation, wrong exact part
    (D, "0.286", "\\boxed{x \\approx 0.286}", True),  # only an approximation: it is the answer
]

MATRICES = [  # 6. matrices and vectors in prose, as sums, and with decimals
    (M, _m("\\begin{pmatrix} 6 & 8 \\\\ 10 & 12 \\end{pmatrix}"), "The sum is $\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$.", True),  # sum evaluated
    (M, _m("\\begin{pmatrix} 6 & 8 \\\\ 10 & 13 \\end{pmatrix}"), "The sum is $\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$.", False),  # sum, one cell off
    (M, _m("\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"), "Multiplying, $\\begin{pmatrix}1 & 1 \\\\ 0 & 1\\end{pmatrix} \\begin{pmatrix}1 \\\\ 1\\end{pmatrix}$ is the vector.", True),  # product evaluated
    (M, _m("\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"), "Multiplying, $\\begin{pmatrix}1 & 1 \\\\ 0 & 1\\end{pmatrix} \\begin{pmatrix}1 \\\\ 2\\end{pmatrix}$ is the vector.", False),  # product, wrong vector
    (M, _m("\\begin{pmatrix} -1 \\\\ 4 \\end{pmatrix}"), "Thus the vector is $\\mathbf{v} = \\begin{pmatrix} -1 \\\\ 4 \\end{pmatrix}$, as claimed.", True),  # named vector in prose
    (M, _m("\\begin{pmatrix} -1 \\\\ 4 \\end{pmatrix}"), "Thus the vector is $\\mathbf{v} = \\begin{pmatrix} 1 \\\\ 4 \\end{pmatrix}$, as claimed.", False),  # named vector, sign
    (M, _m("\\begin{pmatrix} 3 \\\\ 6 \\end{pmatrix}"), "So $3\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}$.", True),  # scalar times a vector
    (D, "\\begin{pmatrix}\\frac{2}{3}\\\\ \\frac{1}{4}\\end{pmatrix}", "\\boxed{\\begin{pmatrix}0.666667\\\\0.25\\end{pmatrix}}", True),  # decimals within the policy
    (D, "\\begin{pmatrix}\\frac{2}{3}\\\\ \\frac{1}{4}\\end{pmatrix}", "\\boxed{\\begin{pmatrix}0.67\\\\0.25\\end{pmatrix}}", False),  # 0.67: too few digits
]

PRECISION = [  # 7. the precision policy (rewards/precision.py), the same in every container
    (D, "\\frac{3}{8}", "\\boxed{0.375}", True),  # finite decimal form, exact
    (D, "\\frac{3}{8}", "\\boxed{0.38}", False),  # finite decimal form, rounded
    (D, "\\frac{1}{3}", "\\boxed{0.333333}", True),  # six digits, truncated
    (D, "\\frac{2}{3}", "\\boxed{0.666667}", True),  # six digits, rounded
    (D, "\\frac{2}{3}", "\\boxed{0.66667}", False),  # five digits
    (D, "\\frac{1}{3}", "\\boxed{0.333335}", False),  # six digits, off by two units
    (D, "\\sqrt{2}", "\\boxed{1.414214}", True),  # irrational, six digits
    (D, "\\sqrt{2}", "\\boxed{1.41421}", True),  # irrational, six digits truncated
    (D, "\\sqrt{2}", "\\boxed{1.4142}", False),  # irrational, five digits
    (D, "(\\frac{3}{5}, \\frac{8}{3}]", "\\boxed{(0.6, 2.666667]}", True),  # interval ends
    (D, "(\\frac{3}{5}, \\frac{8}{3}]", "\\boxed{(0.6, 2.6667]}", False),  # interval end, five digits
    (D, "(\\frac{1}{3}, 2)", "\\boxed{(0.333333, 2)}", True),  # tuple item
    (D, "(\\frac{1}{3}, 2)", "\\boxed{(0.33, 2)}", False),  # tuple item, two digits
    (D, "0.333333", "\\boxed{\\frac{1}{3}}", True),  # the decimal on the gold side
    (G, "#### 2.5", "#### 2.50", True),  # GSM8K: exact decimals
]
CLOSING = [  # 8. unboxed solutions: the closing sentence's value over the derivation's last expression
    (M, _m("15"), "Multiplying, the degrees add:\n\\[ 8 + 5 + 2 = 15 \\]\n\nTherefore, the degree of the polynomial \\((ax^6+bx^8+d)(x^5+f)(x^2+h)\\) is 15.", True),  # last expression a product of polynomials
    (M, _m("15"), "Multiplying, the degrees add:\n\\[ 8 + 5 + 2 = 15 \\]\n\nTherefore, the degree of the polynomial \\((ax^6+bx^8+d)(x^5+f)(x^2+h)\\) is 16.", False),  # closing value wrong
    (M, _m("1 - x"), "Thus the function \\(f(x)\\) that meets the conditions is: \\[f(x) = -x + 1.\\] This function is injective since its slope \\(-1\\) is never zero, as \\(g(t)\\) needs.", True),  # function name g(t) after the conclusion
    (M, _m("1 - x"), "Thus the function \\(f(x)\\) that meets the conditions is: \\[f(x) = x + 1.\\] This function is injective since its slope \\(1\\) is never zero, as \\(g(t)\\) needs.", False),  # conclusion, wrong function
    (M, _m("\\frac{1}{3}"), "Each sum is equally likely.\n\nThe probability that the number is divisible by 6 is approximately \\(1/3\\). This estimate holds for any fixed digits \\(A\\) and \\(B\\).", True),  # choice letter B mentioned in passing
    (M, _m("\\frac{1}{3}"), "Each sum is equally likely.\n\nThe probability that the number is divisible by 6 is approximately \\(1/4\\). This estimate holds for any fixed digits \\(A\\) and \\(B\\).", False),  # stated value wrong
    (M, _m("3"), "For \\(n = 6\\) there is no solution.\n\nIn summary, the values of \\(k\\) are \\(2\\) and \\(4\\), giving a total of \\(2 + 1 = 3\\) possible values for \\(n\\).", True),  # variable name n last
    (M, _m("3"), "For \\(n = 6\\) there is no solution.\n\nIn summary, the values of \\(k\\) are \\(2\\) and \\(4\\), giving a total of \\(2 + 2 = 4\\) possible values for \\(n\\).", False),  # total wrong
    (M, _m("5"), "Each \\(k\\) in the interval \\([1, 5]\\) works.\nTherefore there are 5 possible values of \\(k\\).", True),  # interval from an earlier step
    (M, _m("5"), "Each \\(k\\) in the interval \\([1, 5]\\) works.\nTherefore there are 4 possible values of \\(k\\).", False),  # count wrong
    (M, _m("15"), "If \\(x = 14\\), then \\(y = 15\\), and \\(6y - 2x = 62\\).\nSo, \\(x = 14\\) and \\(y = 15\\) is not a solution.", False),  # the closing sentence rejects it
    (M, _m("15"), "If \\(x = 14\\), then \\(y = 15\\), and \\(6y - 2x = -12\\).\nSo, \\(x = 14\\) and \\(y = 15\\) is the solution.", True),  # the closing sentence accepts it
    (M, _m("6"), "Since \\(2^6 = 64\\), putting the final answer within \\boxed{}, we get: \\[\\boxed{6}\\]", True),  # an empty \boxed{} in the instruction
    (M, _m("6"), "Since \\(2^5 = 32\\), putting the final answer within \\boxed{}, we get: \\[\\boxed{5}\\]", False),  # empty \boxed{}, wrong box
]

QUANTITIES = [  # 9. a relation with a quantity on the left: its right side against a value gold
    (M, _m("12"), "Since \\(x = 2/k\\), we get \\(x^3 = 8/(2/3)\\).\n\nTherefore, \\(x^3 = 12\\).", True),  # a power on the left
    (D, "20", "\\boxed{y^2 = 20}", True),  # the question asks for y^2
    (D, "2\\sqrt{5}", "\\boxed{y^2 = 20}", False),  # the value of y is not y^2
    (D, "5", "\\boxed{f(2) = 5}", True),  # a function value
    (D, "2", "\\boxed{f(2) = 5}", False),  # the argument is not the value
    (D, "\\frac{3}{5}", "\\boxed{\\sin \\angle ABC = \\frac{3}{5}}", True),  # an angle on the left
    (D, "\\frac{4}{5}", "\\boxed{\\sin \\angle ABC = \\frac{3}{5}}", False),  # angle, wrong value
    (D, "-\\frac{24}{25}", "\\boxed{\\cos \\angle RPS = -\\frac{24}{25}}", True),  # cosine of an angle
    (D, "7", "\\boxed{\\overline{PQ} = 7}", True),  # a segment
    (D, "7", "\\boxed{\\overline{PQ} = 8}", False),  # segment, wrong length
    (D, "35", "\\boxed{m\\angle D = 35^\\circ}", True),  # a measure of an angle
    (D, "145", "\\boxed{m\\angle D = 35^\\circ}", False),  # the supplement
    (D, "\\frac{3}{7}", "\\boxed{P(\\text{blue}) = \\frac{3}{7}}", True),  # a probability of an event
    (D, "\\frac{4}{7}", "\\boxed{P(\\text{blue}) = \\frac{3}{7}}", False),  # probability, wrong
    (D, "\\sin \\angle ABC = \\frac35", "\\boxed{\\sin \\angle ABC = \\frac{3}{5}}", True),  # relation against a relation: both sides
    (D, "\\sin \\angle ABC = \\frac35", "\\boxed{\\cos \\angle ABC = \\frac{3}{5}}", False),  # relation, other left side
    (D, "3", "\\boxed{x + y = 3}", False),  # a sum on the left is an equation, not a quantity
]

# (dataset, gold, completion, correct by default, correct with strict=True)
STRICT = [  # 10. strict=True: MATH's official scoring wants the gold's form
    (M, _m("\\frac34"), "\\boxed{\\frac{6}{8}}", True, False),  # unreduced fraction
    (M, _m("\\frac34"), "\\boxed{\\frac{3}{4}}", True, True),  # lowest terms
    (D, "\\frac{6}{8}", "\\boxed{\\frac{6}{8}}", True, True),  # the gold itself unreduced
    (M, _m("\\frac34"), "\\boxed{x = \\frac{6}{8}}", True, False),  # unreduced after a name
    (M, _m("\\frac52\\sqrt2"), "\\boxed{2.5\\sqrt2}", True, False),  # decimal for a common fraction
    (M, _m("\\frac34"), "\\boxed{0.75}", True, False),  # decimal for a common fraction
    (M, _m("2.5"), "\\boxed{2.5}", True, True),  # the gold is a decimal
    (M, _m("2:3"), "\\boxed{\\frac23}", True, False),  # a fraction for a ratio
    (M, _m("2:3"), "\\boxed{2:3}", True, True),  # the ratio as a:b
    (M, _m("\\sin x"), "\\boxed{\\frac{\\sin 2x}{2\\cos x}}", True, False),  # unsimplified expression
    (M, _m("\\sin x"), "\\boxed{\\sin(x)}", True, True),  # the same term
    (M, _m("2xy"), "\\boxed{y \\cdot 2x}", True, True),  # the same term, factors reordered
    (M, _m("x^2 + 2x + 1"), "\\boxed{(x+1)^2}", True, True),  # a sum gold: equal values
    (M, _m("\\frac34"), "\\boxed{\\frac{6}{9}}", False, False),  # a wrong value stays wrong
]
# fmt: on

CLASSES = {
    "no_box": NO_BOX,
    "relations": RELATIONS,
    "numbers": NUMBERS,
    "several": SEVERAL,
    "correction": CORRECTION,
    "matrices": MATRICES,
    "precision": PRECISION,
    "closing": CLOSING,
    "quantities": QUANTITIES,
}
CASES = [(name, *case) for name, table in CLASSES.items() for case in table]


@pytest.mark.parametrize(
    ("cls", "dataset", "gold", "completion", "correct"),
    CASES,
    ids=[f"{c[0]}-{i:02d}-{'pos' if c[4] else 'neg'}" for i, c in enumerate(CASES)],
)
def test_form(cls, dataset, gold, completion, correct):
    g = grade(completion, gold, dataset)
    assert g.correct is correct, g


@pytest.mark.parametrize("name", list(CLASSES))
def test_every_class_has_positives_and_negatives(name):
    kinds = {case[3] for case in CLASSES[name]}
    assert kinds == {True, False}


@pytest.mark.parametrize(
    ("dataset", "gold", "completion", "default", "strict"),
    STRICT,
    ids=[f"strict-{i:02d}-{'pos' if c[4] else 'neg'}" for i, c in enumerate(STRICT)],
)
def test_strict_form(dataset, gold, completion, default, strict):
    assert grade(completion, gold, dataset).correct is default
    g = grade(completion, gold, dataset, strict=True)
    assert g.correct is strict, g
    assert g.reason == ("match" if strict else "form" if default else "mismatch"), g


def test_strict_has_rejections_and_acceptances():
    assert {(c[3], c[4]) for c in STRICT} == {(True, True), (True, False), (False, False)}
