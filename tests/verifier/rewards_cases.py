"""The labelled verifier table: (dataset, gold, completion, correct), one case a line, each with a comment.

Used by ``tests/verifier/test_rewards_table.py`` and ``bench/verifier.py``. Golds are written as each
dataset stores them: GSM8K a worked solution ending ``#### N``; MATH a solution with ``\\boxed{}``;
DeepMath the bare ``final_answer``. About 45 % of the cases are near-miss negatives (a wrong sign, a
missing root, an open end for a closed one, 0.38 for 3/8...): a false positive there teaches the
policy to game the grader.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    dataset: str
    gold: str
    completion: str
    correct: bool


G, M, D = "gsm8k", "math", "deepmath"

# GSM8K golds as the dataset stores them.
NAT = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
BIG = "The house cost 1,000 + 234 = <<1000+234=1234>>1,234 dollars.\n#### 1,234"
TINY = " 6-2=4. 4+8=12. 12+7=19.\n#### 19"
NEG = "The temperature fell 5 - 8 = <<5-8=-3>>-3 degrees.\n#### -3"
DEC = "Each share is 5 / 2 = <<5/2=2.5>>2.5 pounds.\n#### 2.5"
ZERO = "She has 7 - 7 = <<7-7=0>>0 left.\n#### 0"
MONEY = "He earns 18 * 10 = <<18*10=180>>180 dollars.\n#### 180"
SAM = "Two weeks are 2*7 = <<2*7=14>>14 days.\nHe reads 15*14 = <<15*14=210>>210 pages.\n#### 210"
EGGS = "He fills 1200/12 = <<1200/12=100>>100 cartons.\n#### 100"


def _m(answer: str) -> str:
    """A MATH-style gold solution ending in a box."""
    return f"Working through the algebra, we get $\\boxed{{{answer}}}$."


# fmt: off
CASES: list[Case] = [
    # ---------------------------------------------------------------- GSM8K / tiny-arith
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19.\n#### 19", True),  # tiny task: exact format
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=18.\n#### 18", False),  # tiny task: slip carried to the answer
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19.\n#### 19\nQ: 3+5=?\nA: 3+5=8.\n#### 8", True),  # rambles a new problem after
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=20.\n#### 20\nQ: 1+18=?\nA: 1+18=19.\n#### 19", False),  # right number only in the ramble
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19.\n#### 19 apples", True),  # noun after the answer
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19.", True),  # no answer line: last number
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19. 19+1=20.", False),  # last number is a further step
    Case(G, TINY, " 6-2=4. 4+8=12.\n#### 12", False),  # stopped one step early
    Case(G, TINY, "", False),  # empty completion
    Case(G, TINY, " 6-2=4. 4+8=12. 12+7=19.\n####", True),  # empty answer line: fall back to last number
    Case(G, TINY, "####19", True),  # no space after the hashes
    Case(G, TINY, "#### 19.", True),  # trailing period
    Case(G, TINY, "#### 19.0", True),  # decimal form of an integer
    Case(G, TINY, "#### 1.9", False),  # decimal point in the wrong place
    Case(G, TINY, "#### 190", False),  # extra digit
    Case(G, TINY, "#### -19", False),  # wrong sign
    Case(G, TINY, "12+7=19\n#### 19<|endoftext|>#### 7", True),  # special token then junk
    Case(G, TINY, "#### 91", False),  # swapped digits
    Case(G, NAT, "In May she sold 24, so 48 + 24 = 72 clips.\n#### 72", True),  # GSM8K gold with calculator tags
    Case(G, NAT, "She sold 48/2 = 24 in May and 48+24 = 72 in total. The answer is 72.", True),  # "the answer is"
    Case(G, NAT, "The answer is 72. Question: A farmer has 10 cows...", True),  # rambling after the answer
    Case(G, NAT, "The answer is 70.\n\nQuestion: Tom has 72 marbles. How many?", False),  # gold only in the ramble
    Case(G, NAT, "Total clips: $\\boxed{72}$", True),  # boxed
    Case(G, NAT, "Total clips: $\\boxed{24}$", False),  # boxed intermediate result
    Case(G, NAT, "**Answer:** 72", True),  # markdown label
    Case(G, NAT, "So she sold **72** clips altogether.", True),  # bold answer
    Case(G, NAT, "So she sold **70** clips in total.", False),  # bold wrong total
    Case(G, NAT, "She sold seventy-two clips. The answer is seventy-two.", True),  # number words
    Case(G, NAT, "The answer is seventy.", False),  # wrong number word
    Case(G, NAT, "I am not sure.", False),  # no number at all
    Case(G, NAT, "Answer: 72 clips", True),  # answer with unit
    Case(G, NAT, "Answer: 27 clips", False),  # transposed digits
    Case(G, NAT, "The answer is 48 + 24 = 72.", True),  # arithmetic inside the answer phrase
    Case(G, NAT, "The answer is 48 + 24 = 74.", False),  # arithmetic slip in the phrase
    Case(G, BIG, "#### 1234", True),  # gold with thousands separator, answer without
    Case(G, BIG, "#### 1,234", True),  # both with separator
    Case(G, BIG, "The total is $1,234.", True),  # dollars and separator in prose
    Case(G, BIG, "The answer is $1,234.00", True),  # cents
    Case(G, BIG, "#### 1,234.5", False),  # extra decimals
    Case(G, BIG, "#### 123.4", False),  # misplaced decimal point
    Case(G, BIG, "#### 12,340", False),  # extra zero
    Case(G, BIG, "#### 1,243", False),  # swapped digits
    Case(G, NEG, "#### -3", True),  # negative gold
    Case(G, NEG, "The answer is −3.", True),  # unicode minus
    Case(G, NEG, "#### 3", False),  # lost the sign
    Case(G, NEG, "It fell by 3 degrees, to -3.", True),  # last number negative
    Case(G, DEC, "#### 2.5", True),  # decimal gold
    Case(G, DEC, "#### 2.50", True),  # trailing zero
    Case(G, DEC, "The answer is \\boxed{\\frac{5}{2}}", True),  # fraction equals the decimal
    Case(G, DEC, "#### 5/2", True),  # plain fraction
    Case(G, DEC, "#### 2", False),  # truncated
    Case(G, DEC, "#### 25", False),  # dropped the point
    Case(G, DEC, "#### 2.05", False),  # near decimal
    Case(G, ZERO, "#### 0", True),  # zero
    Case(G, ZERO, "Nothing is left, so the answer is 0.", True),  # zero in prose
    Case(G, ZERO, "#### 7", False),  # a number from the question
    Case(G, MONEY, "He earns $180.", True),  # currency symbol
    Case(G, MONEY, "He earns 180 dollars per week.", True),  # unit words after
    Case(G, MONEY, "He earns $18 per hour for 10 hours.", False),  # last number is the hours
    Case(G, MONEY, "#### $180", True),  # dollar sign on the answer line
    Case(G, MONEY, "#### 180%", True),  # stray percent sign
    Case(G, MONEY, "#### 18", False),  # the rate, not the total
    Case(G, MONEY, "#### 1800", False),  # an extra factor of ten
    Case(G, "#### 72", "The answer is 72", True),  # bare gold line
    Case(G, "72", "The answer is 72", True),  # bare number gold
    Case(G, "72", "The answer is 7.2", False),  # bare gold, decimal near miss
    Case(G, "#### 5", "\\boxed{5}\\boxed{6}", False),  # last box is not the gold
    Case(G, "#### 5", "x = 5", True),  # equation with the answer on the right
    Case(G, "#### 5", "5 = 5 + 1 - 1, so 6", False),  # last number
    Case(G, SAM, "He reads 15 pages for 14 days: 15 × 14 = 210 pages.\n#### 210", True),  # unicode times in the work
    Case(G, SAM, "15 * 14 = 210\nThe answer is 210 pages.", True),  # phrase with unit
    Case(G, SAM, "The answer is: 210", True),  # phrase with colon
    Case(G, SAM, "\\boxed{210}", True),  # bare box
    Case(G, SAM, "So, he reads a total of 210 pages in two weeks.", True),  # last number in prose
    Case(G, SAM, "#### 210.00", True),  # decimal zeros
    Case(G, SAM, "He reads 15*7 = 105 pages.\n#### 105", False),  # one week only
    Case(G, SAM, "#### 21", False),  # dropped zero
    Case(G, SAM, "#### 2100", False),  # extra zero
    Case(G, SAM, "The answer is 15.", False),  # a number from the question
    Case(G, SAM, "He reads 210 pages a week, so 420 in two weeks.", False),  # doubled
    Case(G, SAM, "#### -210", False),  # negative
    Case(G, SAM, "**Answer: 201**", False),  # transposed digits in bold
    Case(G, EGGS, "1,200 / 12 = 100 cartons\n#### 100", True),  # thousands separator in the work
    Case(G, EGGS, "1,200 / 12 = 1,000 cartons\n#### 1,000", False),  # a factor of ten
    Case(G, EGGS, "#### 10", False),  # a factor of ten the other way
    # ---------------------------------------------------------------- MATH: numbers and fractions
    Case(M, _m("\\frac{1}{2}"), "The answer is $\\boxed{\\frac{1}{2}}$.", True),  # identical
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\dfrac{1}{2}}$", True),  # dfrac
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\tfrac12}$", True),  # tfrac with digit arguments
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{0.5}$", True),  # decimal equal to the fraction
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{1/2}$", True),  # slash fraction
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\frac{2}{4}}$", True),  # unreduced fraction
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{-\\frac{1}{2}}$", False),  # wrong sign
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{2}$", False),  # reciprocal
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{0.51}$", False),  # near decimal
    Case(M, _m("\\frac{3}{8}"), "$\\boxed{0.375}$", True),  # exact decimal
    Case(M, _m("\\frac{3}{8}"), "$\\boxed{0.38}$", False),  # rounded decimal is not 3/8
    Case(M, _m("\\frac{3}{8}"), "$\\boxed{\\frac{8}{3}}$", False),  # inverted
    Case(M, _m("\\frac{1}{3}"), "$\\boxed{0.\\overline{3}}$", True),  # repeating decimal
    Case(M, _m("\\frac{1}{3}"), "$\\boxed{0.333}$", False),  # truncated decimal of 1/3
    Case(M, _m("\\frac{1}{3}"), "$\\boxed{0.3333333333}$", True),  # 10-digit decimal of 1/3 (tolerance)
    Case(M, _m("\\frac{1}{3}"), "$\\boxed{0.33}$", False),  # two digits only
    Case(M, _m("-\\frac{7}{3}"), "$\\boxed{-2\\frac{1}{3}}$", True),  # negative mixed number
    Case(M, _m("\\frac{7}{3}"), "$\\boxed{2\\frac{1}{3}}$", True),  # mixed number
    Case(M, _m("\\frac{7}{3}"), "$\\boxed{2 1/3}$", True),  # plain mixed number
    Case(M, _m("\\frac{2}{3}"), "$\\boxed{2\\frac{1}{3}}$", False),  # mixed number is not a product
    Case(M, _m("\\frac{7}{3}"), "$\\boxed{\\frac{7}{4}}$", False),  # wrong denominator
    Case(M, _m("12"), "$\\boxed{12}$", True),  # integer
    Case(M, _m("12"), "$\\boxed{12.0}$", True),  # integer as decimal
    Case(M, _m("12"), "$\\boxed{012}$", True),  # leading zero
    Case(M, _m("12"), "$\\boxed{\\text{twelve}}$", True),  # number word
    Case(M, _m("12"), "$\\boxed{13}$", False),  # off by one
    Case(M, _m("12"), "$\\boxed{-12}$", False),  # sign
    Case(M, _m("12"), "$\\boxed{1.2}$", False),  # decimal point
    Case(M, _m("12"), "$\\boxed{12x}$", False),  # stray variable
    Case(M, _m("10000"), "$\\boxed{10{,}000}$", True),  # LaTeX thousands separator
    Case(M, _m("10000"), "$\\boxed{10,000}$", True),  # comma thousands separator
    Case(M, _m("10000"), "$\\boxed{10\\,000}$", True),  # thin-space thousands separator
    Case(M, _m("10000"), "$\\boxed{1000}$", False),  # one zero fewer
    Case(M, _m("10000"), "$\\boxed{10^4}$", True),  # power of ten
    Case(M, _m("10000"), "$\\boxed{1 \\times 10^{4}}$", True),  # scientific notation in LaTeX
    Case(M, _m("10000"), "$\\boxed{1e4}$", True),  # scientific notation, e
    Case(M, _m("10000"), "$\\boxed{1e5}$", False),  # wrong exponent
    Case(M, _m("10000"), "$\\boxed{10^5}$", False),  # wrong power
    Case(M, _m("2.5 \\times 10^{-3}"), "$\\boxed{0.0025}$", True),  # small scientific notation
    Case(M, _m("2.5 \\times 10^{-3}"), "$\\boxed{0.025}$", False),  # off by a factor of ten
    Case(M, _m("0.25"), "$\\boxed{\\frac14}$", True),  # fraction for a decimal gold
    Case(M, _m("0.25"), "$\\boxed{0.2}$", False),  # rounded
    Case(M, _m("-5"), "$\\boxed{−5}$", True),  # unicode minus
    Case(M, _m("-5"), "$\\boxed{5}$", False),  # missing minus
    Case(M, _m("-5"), "$\\boxed{- 5}$", True),  # spaced minus
    # ---------------------------------------------------------------- MATH: radicals, pi, expressions
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{\\sqrt{8}}$", True),  # unsimplified radical
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{2\\sqrt2}$", True),  # brace-less sqrt
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{2√2}$", True),  # unicode root
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{\\sqrt{2}}$", False),  # missing factor
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{2.83}$", False),  # rounded decimal of an irrational
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{2.8284271}$", True),  # 8 significant digits of 2 sqrt 2
    Case(M, _m("2\\sqrt{2}"), "$\\boxed{\\sqrt{6}}$", False),  # different radical
    Case(M, _m("\\frac{\\sqrt{3}}{2}"), "$\\boxed{\\frac{1}{2}\\sqrt{3}}$", True),  # coefficient in front
    Case(M, _m("\\frac{\\sqrt{3}}{2}"), "$\\boxed{\\sqrt{3}/2}$", True),  # slash form
    Case(M, _m("\\frac{\\sqrt{3}}{2}"), "$\\boxed{\\frac{\\sqrt{2}}{2}}$", False),  # neighbouring special value
    Case(M, _m("\\frac{\\sqrt{3}}{2}"), "$\\boxed{\\frac{3}{2}}$", False),  # lost the root
    Case(M, _m("\\frac{\\sqrt{6}}{3}"), "$\\boxed{\\sqrt{\\frac{2}{3}}}$", True),  # rationalised vs not
    Case(M, _m("\\frac{\\sqrt{6}}{3}"), "$\\boxed{\\frac{2}{\\sqrt{6}}}$", True),  # unrationalised
    Case(M, _m("\\frac{\\sqrt{6}}{3}"), "$\\boxed{\\frac{\\sqrt{6}}{2}}$", False),  # wrong denominator
    Case(M, _m("\\sqrt[3]{2}"), "$\\boxed{2^{1/3}}$", True),  # cube root as a power
    Case(M, _m("\\sqrt[3]{2}"), "$\\boxed{\\sqrt{2}}$", False),  # square root instead of cube root
    Case(M, _m("3\\pi"), "$\\boxed{3\\pi}$", True),  # pi
    Case(M, _m("3\\pi"), "$\\boxed{3π}$", True),  # unicode pi
    Case(M, _m("3\\pi"), "$\\boxed{\\pi \\cdot 3}$", True),  # reordered product
    Case(M, _m("3\\pi"), "$\\boxed{3}$", False),  # dropped pi
    Case(M, _m("3\\pi"), "$\\boxed{9.42}$", False),  # rounded value
    Case(M, _m("3\\pi"), "$\\boxed{\\pi^3}$", False),  # power instead of product
    Case(M, _m("\\frac{\\pi}{4}"), "$\\boxed{\\frac14\\pi}$", True),  # coefficient form
    Case(M, _m("45^\\circ"), "$\\boxed{45}$", True),  # degrees sign dropped
    Case(M, _m("45^\\circ"), "$\\boxed{45^{\\circ}}$", True),  # braced degrees
    Case(M, _m("45^\\circ"), "$\\boxed{45°}$", True),  # unicode degree
    Case(M, _m("45^\\circ"), "$\\boxed{135^\\circ}$", False),  # supplement
    Case(M, _m("x^2+2x+1"), "$\\boxed{(x+1)^2}$", True),  # factored polynomial
    Case(M, _m("x^2+2x+1"), "$\\boxed{x^2+2x-1}$", False),  # sign of the constant
    Case(M, _m("x^2+2x+1"), "$\\boxed{1+2x+x^2}$", True),  # reordered terms
    Case(M, _m("x^2+2x+1"), "$\\boxed{(x-1)^2}$", False),  # wrong factor
    Case(M, _m("x^2+2x+1"), "$\\boxed{y^2+2y+1}$", False),  # different variable
    Case(M, _m("\\frac{x+1}{x-1}"), "$\\boxed{\\frac{-x-1}{1-x}}$", True),  # signs moved
    Case(M, _m("\\frac{x+1}{x-1}"), "$\\boxed{\\frac{x-1}{x+1}}$", False),  # inverted
    Case(M, _m("6x^2y"), "$\\boxed{6yx^2}$", True),  # implicit multiplication, reordered
    Case(M, _m("6x^2y"), "$\\boxed{6xy^2}$", False),  # exponent on the wrong variable
    Case(M, _m("2\\sin x\\cos x"), "$\\boxed{\\sin 2x}$", True),  # trig identity
    Case(M, _m("2\\sin x\\cos x"), "$\\boxed{\\sin x}$", False),  # not the same function
    Case(M, _m("\\sin^2 x"), "$\\boxed{1-\\cos^2 x}$", True),  # Pythagorean identity
    Case(M, _m("\\sin^2 x"), "$\\boxed{1+\\cos^2 x}$", False),  # wrong sign
    Case(M, _m("\\log_2 8"), "$\\boxed{3}$", True),  # logarithm value
    Case(M, _m("\\ln 2"), "$\\boxed{\\log 2}$", True),  # natural log spelled log
    Case(M, _m("\\ln 2"), "$\\boxed{\\ln 3}$", False),  # different argument
    Case(M, _m("e^2"), "$\\boxed{e^{2}}$", True),  # braced exponent
    Case(M, _m("e^2"), "$\\boxed{2e}$", False),  # product instead of power
    Case(M, _m("\\binom{5}{2}"), "$\\boxed{10}$", True),  # binomial coefficient evaluated
    Case(M, _m("\\dbinom{6}{3}"), "$\\boxed{20}$", True),  # dbinom
    Case(M, _m("5!"), "$\\boxed{120}$", True),  # factorial
    Case(M, _m("5!"), "$\\boxed{24}$", False),  # 4!
    Case(M, _m("|x-1|"), "$\\boxed{|1-x|}$", True),  # absolute value symmetry
    Case(M, _m("|x-1|"), "$\\boxed{x-1}$", False),  # dropped absolute value
    Case(M, _m("3+4i"), "$\\boxed{4i+3}$", True),  # complex, reordered
    Case(M, _m("3+4i"), "$\\boxed{3-4i}$", False),  # conjugate
    Case(M, _m("\\infty"), "$\\boxed{\\infty}$", True),  # infinity
    Case(M, _m("\\infty"), "$\\boxed{-\\infty}$", False),  # negative infinity
    # ---------------------------------------------------------------- MATH: LaTeX decoration and units
    Case(M, _m("\\left( 3, \\frac{\\pi}{2} \\right)"), "$\\boxed{\\left(3,\\frac{\\pi}{2}\\right)}$", True),  # left/right
    Case(M, _m("\\left( 3, \\frac{\\pi}{2} \\right)"), "$\\boxed{(3, \\pi)}$", False),  # wrong angle
    Case(M, _m("\\left( 3, \\frac{\\pi}{2} \\right)"), "$\\boxed{(\\frac{\\pi}{2}, 3)}$", False),  # swapped coordinates
    Case(M, _m("\\$18.90"), "$\\boxed{18.90}$", True),  # dollar sign in the gold
    Case(M, _m("\\$18.90"), "$\\boxed{\\$18.9}$", True),  # both with dollars
    Case(M, _m("\\$18.90"), "$\\boxed{\\$19.80}$", False),  # swapped digits
    Case(M, _m("5\\text{ cm}^2"), "$\\boxed{5}$", True),  # unit in the gold
    Case(M, _m("5"), "$\\boxed{5\\text{ cm}^2}$", True),  # unit in the answer
    Case(M, _m("5"), "$\\boxed{25\\text{ cm}}$", False),  # wrong number with a unit
    Case(M, _m("5"), "$\\boxed{5\\mathrm{m}}$", True),  # mathrm unit
    Case(M, _m("5"), "The answer is 5 inches.", True),  # unit word, phrase
    Case(M, _m("50\\%"), "$\\boxed{50}$", True),  # percent gold, bare answer
    Case(M, _m("50\\%"), "$\\boxed{50\\%}$", True),  # percent both
    Case(M, _m("50\\%"), "$\\boxed{0.5}$", True),  # fraction for a percent
    Case(M, _m("50\\%"), "$\\boxed{5\\%}$", False),  # wrong percent
    Case(M, _m("50\\%"), "$\\boxed{0.05}$", False),  # wrong fraction
    Case(M, _m("20"), "$\\boxed{20\\%}$", True),  # percent answer, bare gold
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\frac{1}{2}\\!}$", True),  # negative thin space
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\displaystyle\\frac{1}{2}}$", True),  # displaystyle
    Case(M, _m("\\frac{1}{2}"), "$\\boxed{\\frac{1}{2}}$ (and $\\frac{1}{3}$ is wrong)", True),  # remark after the box
    Case(M, _m("\\text{(C)}"), "The answer is $\\boxed{\\text{(C)}}$.", True),  # choice letter
    Case(M, _m("\\text{(C)}"), "$\\boxed{C}$", True),  # bare choice letter
    Case(M, _m("\\text{(C)}"), "$\\boxed{(C)}$", True),  # choice in parentheses
    Case(M, _m("\\text{(C)}"), "The answer is (C) 12.", True),  # choice then its value
    Case(M, _m("\\text{(C)}"), "$\\boxed{\\textbf{(D)}}$", False),  # wrong letter
    Case(M, _m("\\text{(C)}"), "$\\boxed{(B)}$", False),  # wrong letter in parentheses
    Case(M, _m("\\text{Monday}"), "$\\boxed{\\text{Monday}}$", True),  # text answer
    Case(M, _m("\\text{Monday}"), "The answer is monday.", True),  # case-insensitive
    Case(M, _m("\\text{Monday}"), "$\\boxed{\\text{Tuesday}}$", False),  # another day
    Case(M, _m("\\text{odd}"), "$\\boxed{\\text{even}}$", False),  # parity words
    Case(M, _m("\\text{odd}"), "$\\boxed{\\text{Odd}}$", True),  # capitalised
    Case(M, _m("\\text{yes}"), "Final answer: yes", True),  # yes
    Case(M, _m("\\text{yes}"), "Final answer: no", False),  # no
    # ---------------------------------------------------------------- MATH: sets, lists, roots
    Case(M, _m("-2, 3"), "$\\boxed{3, -2}$", True),  # roots in another order
    Case(M, _m("-2, 3"), "$\\boxed{x=-2 \\text{ or } x=3}$", True),  # roots as equations with or
    Case(M, _m("-2, 3"), "$x = \\boxed{-2}$ or $x = \\boxed{3}$", True),  # one box per root
    Case(M, _m("-2, 3"), "$x = \\boxed{-2}$ or $x = \\boxed{2}$", False),  # one box per root, one wrong
    Case(M, _m("-2, 3"), "$\\boxed{\\{-2, 3\\}}$", True),  # roots as a set
    Case(M, _m("-2, 3"), "$\\boxed{3}$", False),  # missing root
    Case(M, _m("-2, 3"), "$\\boxed{2, -3}$", False),  # both signs wrong
    Case(M, _m("-2, 3"), "$\\boxed{-2, 3, 5}$", False),  # extra root
    Case(M, _m("-2, 3"), "$\\boxed{-2, -2, 3}$", False),  # duplicated root
    Case(M, _m("1 \\pm \\sqrt{2}"), "$\\boxed{1+\\sqrt2, 1-\\sqrt2}$", True),  # plus-minus expanded
    Case(M, _m("1 \\pm \\sqrt{2}"), "$\\boxed{1-\\sqrt{2}, 1+\\sqrt{2}}$", True),  # expanded, reordered
    Case(M, _m("1 \\pm \\sqrt{2}"), "$\\boxed{1+\\sqrt2}$", False),  # only one of the two
    Case(M, _m("1 \\pm \\sqrt{2}"), "$\\boxed{-1 \\pm \\sqrt{2}}$", False),  # wrong centre
    Case(M, _m("\\frac{1 \\pm \\sqrt{5}}{2}"), "$\\boxed{\\frac{1+\\sqrt5}{2}, \\frac{1-\\sqrt5}{2}}$", True),  # quadratic formula
    Case(M, _m("\\frac{1 \\pm \\sqrt{5}}{2}"), "$\\boxed{\\frac{-1 \\pm \\sqrt5}{2}}$", False),  # sign of b
    Case(M, _m("\\{1, 2, 3\\}"), "$\\boxed{\\{3, 2, 1\\}}$", True),  # set order
    Case(M, _m("\\{1, 2, 3\\}"), "$\\boxed{\\{1, 2\\}}$", False),  # missing element
    Case(M, _m("\\{1, 2, 3\\}"), "$\\boxed{(1, 2, 3)}$", False),  # tuple is not a set
    Case(M, _m("\\emptyset"), "$\\boxed{\\varnothing}$", True),  # empty set spellings
    Case(M, _m("\\emptyset"), "$\\boxed{\\{0\\}}$", False),  # set holding zero
    # ---------------------------------------------------------------- MATH: intervals and inequalities
    Case(M, _m("[1, 2)"), "$\\boxed{[1,2)}$", True),  # half-open interval
    Case(M, _m("[1, 2)"), "$\\boxed{[1,2]}$", False),  # closed for open
    Case(M, _m("[1, 2)"), "$\\boxed{(1,2)}$", False),  # open for closed
    Case(M, _m("[1, 2)"), "$\\boxed{1 \\le x < 2}$", True),  # as an inequality
    Case(M, _m("[1, 2)"), "$\\boxed{1 < x \\le 2}$", False),  # inequality with the ends swapped
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{(-\\infty,3]}$", True),  # infinite end
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{x \\leq 3}$", True),  # as an inequality
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{x < 3}$", False),  # strict for non-strict
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{x \\ge 3}$", False),  # wrong direction
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{x \\in (-\\infty, 3]}$", True),  # membership
    Case(M, _m("(-\\infty, 3]"), "$\\boxed{(-∞, 3]}$", True),  # unicode infinity
    Case(M, _m("(2, \\infty)"), "$\\boxed{x > 2}$", True),  # open ray
    Case(M, _m("(2, \\infty)"), "$\\boxed{2 < x}$", True),  # reversed inequality
    Case(M, _m("(2, \\infty)"), "$\\boxed{[2, \\infty)}$", False),  # closed end
    Case(M, _m("(-\\infty, -1) \\cup (1, \\infty)"), "$\\boxed{(1,\\infty)\\cup(-\\infty,-1)}$", True),  # union reordered
    Case(M, _m("(-\\infty, -1) \\cup (1, \\infty)"), "$\\boxed{x<-1 \\text{ or } x>1}$", True),  # union as inequalities
    Case(M, _m("(-\\infty, -1) \\cup (1, \\infty)"), "$\\boxed{(-\\infty,-1]\\cup(1,\\infty)}$", False),  # one closed end
    Case(M, _m("(-\\infty, -1) \\cup (1, \\infty)"), "$\\boxed{(-1, 1)}$", False),  # complement
    Case(M, _m("(0, 5)"), "$\\boxed{0 < x < 5}$", True),  # open interval as chain
    Case(M, _m("(0, 5)"), "$\\boxed{0 \\le x < 5}$", False),  # closed left end
    Case(M, _m("[-1, 1]"), "$\\boxed{\\left[-1, 1\\right]}$", True),  # left/right brackets
    Case(M, _m("[-1, 1]"), "$\\boxed{[-1, 1)}$", False),  # open right end
    Case(M, _m("\\mathbb{R}"), "$\\boxed{(-\\infty, \\infty)}$", True),  # all reals
    # ---------------------------------------------------------------- MATH: tuples, points, vectors, matrices
    Case(M, _m("(1, -2)"), "$\\boxed{(1,-2)}$", True),  # point
    Case(M, _m("(1, -2)"), "$\\boxed{(-2, 1)}$", False),  # swapped coordinates
    Case(M, _m("(1, -2)"), "$\\boxed{(1, 2)}$", False),  # sign of a coordinate
    Case(M, _m("(1, -2)"), "$\\boxed{x=1, y=-2}$", True),  # point as equations
    Case(M, _m("(1, -2)"), "$\\boxed{y=-2, x=1}$", True),  # equations in the other order
    Case(M, _m("(1, 2, 3)"), "$\\boxed{(1, 2, 3)}$", True),  # triple
    Case(M, _m("(1, 2, 3)"), "$\\boxed{(1, 3, 2)}$", False),  # triple out of order
    Case(M, _m("(1, 2, 3)"), "$\\boxed{(1, 2)}$", False),  # missing coordinate
    Case(M, _m("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"), "$\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}$", True),  # column vector
    Case(M, _m("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"), "$\\boxed{\\begin{pmatrix}2\\\\1\\end{pmatrix}}$", False),  # entries swapped
    Case(M, _m("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"), "$\\boxed{(1, 2)}$", True),  # vector as a tuple
    Case(M, _m("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"), "$\\boxed{\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}}$", True),  # bmatrix
    Case(M, _m("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"), "$\\boxed{\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}}$", False),  # transpose
    Case(M, _m("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"), "$\\boxed{\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}}$", False),  # one entry off
    Case(M, _m("\\begin{pmatrix} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{pmatrix}"), "$\\boxed{\\begin{pmatrix}0.5&0\\\\0&1\\end{pmatrix}}$", True),  # decimal entry
    # ---------------------------------------------------------------- MATH: equations
    Case(M, _m("3"), "$\\boxed{x = 3}$", True),  # equation for a number
    Case(M, _m("x = 3"), "$\\boxed{3}$", True),  # number for an equation
    Case(M, _m("x = 3"), "$\\boxed{x = -3}$", False),  # sign
    Case(M, _m("3"), "$\\boxed{x + y = 3}$", False),  # not a name on the left
    Case(M, _m("y = 2x + 3"), "$\\boxed{y=3+2x}$", True),  # line, reordered
    Case(M, _m("y = 2x + 3"), "$\\boxed{2x - y + 3 = 0}$", True),  # line in general form
    Case(M, _m("y = 2x + 3"), "$\\boxed{y = 2x - 3}$", False),  # intercept sign
    Case(M, _m("y = 2x + 3"), "$\\boxed{y = 3x + 2}$", False),  # swapped coefficients
    Case(M, _m("x^2 + y^2 = 25"), "$\\boxed{x^2+y^2-25=0}$", True),  # circle moved over
    Case(M, _m("x^2 + y^2 = 25"), "$\\boxed{x^2+y^2=5}$", False),  # radius for radius squared
    Case(M, _m("2x + 4y = 8"), "$\\boxed{x + 2y = 4}$", True),  # scaled equation
    # ---------------------------------------------------------------- MATH: extraction
    Case(M, "First $\\boxed{2}$ then the final answer $\\boxed{5}$.", "$\\boxed{5}$", True),  # gold with several boxes: last
    Case(M, "First $\\boxed{2}$ then the final answer $\\boxed{5}$.", "$\\boxed{2}$", False),  # intermediate box of the gold
    Case(M, "The answer is $\\fbox{7}$.", "$\\boxed{7}$", True),  # fbox in the gold
    Case(M, "Thus $\\boxed{\\frac{a}{\\{b\\}}}$ hmm, no: $\\boxed{\\frac{\\sqrt{2}}{2}}$", "$\\boxed{\\frac{1}{\\sqrt2}}$", True),  # nested braces in the gold
    Case(M, _m("7"), "We get \\boxed 7.", True),  # brace-less box
    Case(M, _m("7"), "The box shows $\\boxed{7}$. Let me double check: $\\boxed{8}$.", False),  # last box wins
    Case(M, _m("7"), "**Final Answer**\n\\[\\boxed{7}\\]", True),  # R1 style final answer
    Case(M, _m("7"), "The final answer is $\\boxed{7}$. I hope it is correct.", True),  # Minerva style
    Case(M, _m("7"), "The final answer is $7$. I hope it is correct.", True),  # Minerva without a box
    Case(M, _m("7"), "Final Answer: The final answer is 7. I hope it is correct.", True),  # Minerva long form
    Case(M, _m("7"), "So the answer is 7.", True),  # plain phrase
    Case(M, _m("7"), "So the answer is 17.", False),  # plain phrase, wrong
    Case(M, _m("7"), "The value is $x = 7$.", True),  # last inline math
    Case(M, _m("7"), "The value is $x = 7$, or rather $x = 6$.", False),  # last inline math corrects itself
    Case(M, _m("7"), "Hence 7.", True),  # last number
    Case(M, _m("7"), "Let's think. Hmm.", False),  # nothing
    Case(M, _m("7"), "The final answer is $\\boxed{7}$.\n\nProblem: Find $3+5$.\nSolution: $\\boxed{8}$", True),  # ramble after a box
    Case(M, _m("7"), "The final answer is \\boxed{6}.\n\nProblem: what is 3+4?\nSolution: \\boxed{7}", False),  # right only in the ramble
    Case(M, _m("7"), "The final answer is \\boxed{7}. Check: \\boxed{7-0=7}", True),  # final answer phrase names the box
    Case(M, _m("7"), "**7**", True),  # bold only
    Case(M, _m("\\frac{3}{4}"), "The answer is: $\\frac{3}{4}$", True),  # phrase with inline math
    Case(M, _m("\\frac{3}{4}"), "The answer is: $\\frac{4}{3}$", False),  # inverted in a phrase
    Case(M, _m("\\frac{3}{4}"), "Answer: 3/4", True),  # label with slash fraction
    Case(M, _m("\\frac{3}{4}"), "\\(\\boxed{\\frac{3}{4}}\\)", True),  # box in \( \)
    Case(M, _m("\\frac{3}{4}"), "#### 3/4", True),  # gsm8k-style line in a math completion
    # ---------------------------------------------------------------- DeepMath: bare final answers
    Case(D, "\\dfrac{1}{2}", "... so the probability is \\boxed{\\frac{1}{2}}.", True),  # dfrac gold
    Case(D, "\\dfrac{1}{2}", "\\boxed{\\frac{1}{3}}", False),  # near fraction
    Case(D, "0", "The limit is \\boxed{0}.", True),  # zero limit
    Case(D, "0", "The limit is \\boxed{1}.", False),  # wrong limit
    Case(D, "0", "The limit is \\boxed{0.0001}.", False),  # small is not zero
    Case(D, "e^{2}", "\\boxed{e^2}", True),  # e power
    Case(D, "e^{2}", "\\boxed{\\exp(2)}", True),  # exp
    Case(D, "e^{2}", "\\boxed{7.389056099}", True),  # 10 significant digits of e^2
    Case(D, "e^{2}", "\\boxed{7.39}", False),  # rounded
    Case(D, "e^{2}", "\\boxed{e^{-2}}", False),  # reciprocal
    Case(D, "\\infty", "\\boxed{\\infty}", True),  # diverges
    Case(D, "\\infty", "\\boxed{+\\infty}", True),  # plus infinity
    Case(D, "\\infty", "\\boxed{0}", False),  # converges
    Case(D, "Yes", "**Final Answer**\n\\boxed{Yes}", True),  # yes/no question
    Case(D, "Yes", "\\boxed{\\text{yes}}", True),  # text yes
    Case(D, "Yes", "\\boxed{No}", False),  # no
    Case(D, "No", "\\boxed{\\text{No}}", True),  # text no
    Case(D, "No", "\\boxed{Yes}", False),  # yes for no
    Case(D, "\\frac{\\pi}{4}", "\\boxed{\\dfrac{\\pi}{4}}", True),  # integral value
    Case(D, "\\frac{\\pi}{4}", "\\boxed{0.785398163}", True),  # 9 digits of pi/4
    Case(D, "\\frac{\\pi}{4}", "\\boxed{0.785}", False),  # 3 digits
    Case(D, "\\frac{\\pi}{4}", "\\boxed{\\frac{\\pi}{2}}", False),  # factor two
    Case(D, "\\frac{\\pi^2}{6}", "\\boxed{\\pi^2/6}", True),  # Basel
    Case(D, "\\frac{\\pi^2}{6}", "\\boxed{\\frac{\\pi}{6}}", False),  # missing square
    Case(D, "2\\sqrt{3}", "\\boxed{\\sqrt{12}}", True),  # radical
    Case(D, "2\\sqrt{3}", "\\boxed{3\\sqrt{2}}", False),  # swapped
    Case(D, "-1", "\\boxed{-1}", True),  # negative integer
    Case(D, "-1", "\\boxed{1}", False),  # sign
    Case(D, "[0, 1]", "\\boxed{[0,1]}", True),  # closed interval
    Case(D, "[0, 1]", "\\boxed{(0,1)}", False),  # open interval
    Case(D, "[0, 1]", "\\boxed{0 \\le x \\le 1}", True),  # interval as inequality
    Case(D, "[0, 1]", "\\boxed{[0, 1)}", False),  # half open
    Case(D, "\\frac{1}{e}", "\\boxed{e^{-1}}", True),  # reciprocal of e
    Case(D, "\\frac{1}{e}", "\\boxed{-e}", False),  # negative e
    Case(D, "\\ln 2", "\\boxed{\\ln(2)}", True),  # parenthesised argument
    Case(D, "\\ln 2", "\\boxed{0.6931471806}", True),  # decimal of ln 2
    Case(D, "\\ln 2", "\\boxed{\\ln(3)}", False),  # different argument
    Case(D, "\\ln 2", "\\boxed{2\\ln 2}", False),  # extra factor
    Case(D, "1", "\\boxed{1}", True),  # one
    Case(D, "1", "\\boxed{\\frac{2}{2}}", True),  # unreduced one
    Case(D, "1", "\\boxed{0.999}", False),  # not one
    Case(D, "1", "\\boxed{11}", False),  # repeated digit
    Case(D, "12", "The answer is 12", True),  # phrase
    Case(D, "12", "The answer is 21", False),  # swapped digits
    Case(D, "x^2 - 1", "\\boxed{(x-1)(x+1)}", True),  # factored
    Case(D, "x^2 - 1", "\\boxed{(x-1)^2}", False),  # wrong factorisation
    Case(D, "\\frac{x}{x^2+1}", "\\boxed{x/(x^2+1)}", True),  # plain fraction with parentheses
    Case(D, "\\frac{x}{x^2+1}", "\\boxed{x/x^2+1}", False),  # missing parentheses change the meaning
    Case(D, "2^{100}", "\\boxed{1267650600228229401496703205376}", True),  # big integer
    Case(D, "2^{100}", "\\boxed{1267650600228229401496703205377}", False),  # big integer off by one
    Case(D, "10^{100}", "\\boxed{1e100}", True),  # googol in e notation
    Case(D, "10^{100}", "\\boxed{10^{99}}", False),  # googol off by ten
    Case(D, "\\sqrt{2}", "\\boxed{\\sqrt 2}", True),  # spaced argument
    Case(D, "\\sqrt{2}", "\\boxed{2^{0.5}}", True),  # decimal exponent
    Case(D, "\\sqrt{2}", "\\boxed{1.414}", False),  # rounded
    Case(D, "\\sqrt{2}", "\\boxed{\\sqrt{3}}", False),  # different root
    Case(D, "4", "\\boxed{\\frac{8}{2}}", True),  # fraction to integer
    Case(D, "4", "\\boxed{4.5}", False),  # half off
    Case(D, "4", "\\boxed{2^2}", True),  # power
    Case(D, "4", "\\boxed{\\sqrt{16}}", True),  # root of a square
    Case(D, "4", "\\boxed{\\sqrt{4}}", False),  # root of the gold itself
    Case(D, "4", "\\boxed{\\sqrt{2}}", False),  # root of the wrong number
    Case(D, "\\{1, 2\\}", "\\boxed{\\{2, 1\\}}", True),  # set
    Case(D, "\\{1, 2\\}", "\\boxed{\\{1\\}}", False),  # missing element
    Case(D, "n(n+1)/2", "\\boxed{\\frac{n^2+n}{2}}", True),  # closed form
    Case(D, "n(n+1)/2", "\\boxed{\\frac{n(n-1)}{2}}", False),  # off by one
    Case(D, "\\frac{3}{2}", "\\boxed{1.5}", True),  # decimal
    Case(D, "\\frac{3}{2}", "\\boxed{1\\frac{1}{2}}", True),  # mixed number
    Case(D, "\\frac{3}{2}", "\\boxed{\\frac{2}{3}}", False),  # inverted
    Case(D, "\\frac{3}{2}", "\\boxed{1.05}", False),  # near decimal
    Case(D, "-\\frac{1}{4}", "\\boxed{-0.25}", True),  # negative decimal
    Case(D, "-\\frac{1}{4}", "\\boxed{\\frac{-1}{4}}", True),  # sign in the numerator
    Case(D, "-\\frac{1}{4}", "\\boxed{\\frac{1}{-4}}", True),  # sign in the denominator
    Case(D, "-\\frac{1}{4}", "\\boxed{\\frac{1}{4}}", False),  # lost sign
    Case(D, "\\pi", "\\boxed{3.14159265}", True),  # 9 digits of pi
    Case(D, "\\pi", "\\boxed{3.14}", False),  # 3 digits of pi
    Case(D, "\\pi", "\\boxed{\\frac{22}{7}}", False),  # rational approximation
    Case(D, "\\pi", "\\boxed{π}", True),  # unicode pi
    Case(D, "C", "\\boxed{C}", True),  # choice letter gold
    Case(D, "C", "The correct option is (C).", True),  # choice in prose
    Case(D, "C", "\\boxed{D}", False),  # wrong choice
    Case(D, "\\text{Alice}", "\\boxed{\\text{Alice}}", True),  # name
    Case(D, "\\text{Alice}", "\\boxed{\\text{Bob}}", False),  # other name
    Case(D, "\\text{Alice}", "The winner is Alice, so the answer is Alice.", True),  # name in a phrase
    Case(D, "1, 2, 3", "\\boxed{3, 2, 1}", True),  # list of values in any order
    Case(D, "1, 2, 3", "\\boxed{1, 2}", False),  # shorter list
    Case(D, "(0, 0)", "\\boxed{(0,0)}", True),  # origin
    Case(D, "(0, 0)", "\\boxed{(0,1)}", False),  # another point
    Case(D, "y = x^2", "\\boxed{y=x^{2}}", True),  # curve
    Case(D, "y = x^2", "\\boxed{y=x^{3}}", False),  # another curve
    Case(D, "f(x) = 2x", "\\boxed{2x}", True),  # function definition for its expression
    Case(D, "f(x) = 2x", "\\boxed{f(x) = x^2}", False),  # another function
    Case(D, "100", "\\boxed{100\\%}", True),  # percent sign, bare gold
    Case(D, "100", "\\boxed{10\\%}", False),  # wrong percent
    Case(D, "3", "\\boxed{3}\n\nHuman: thanks! what about 4?\n\nAssistant: \\boxed{4}", True),  # chat ramble
    Case(D, "3", "The answer is \\boxed{4}<|im_end|>\\boxed{3}", False),  # right only after the end token
    Case(D, "\\frac{1}{2}", "The answer is ½.", True),  # unicode vulgar fraction
    Case(D, "6", "6 ÷ 1 = \\boxed{6}", True),  # division sign before the box
    Case(D, "8", "\\boxed{2×4}", True),  # unicode times
    Case(D, "8", "\\boxed{2·4}", True),  # middle dot
    Case(D, "8", "\\boxed{2+4}", False),  # sum instead of product
    Case(D, "x", "\\boxed{x}", True),  # a variable
    Case(D, "x", "\\boxed{y}", False),  # another variable
    Case(D, "0.5", "\\boxed{50\\%}", True),  # percent for a decimal gold
    Case(D, "0.5", "\\boxed{5\\%}", False),  # wrong percent
    Case(M, _m("\\frac{5}{6}"), "$\\boxed{\\frac{6}{5}}$", False),  # inverted
    Case(M, _m("\\frac{5}{6}"), "$\\boxed{0.83}$", False),  # rounded
    Case(M, _m("\\frac{5}{6}"), "$\\boxed{0.8\\overline{3}}$", True),  # repeating decimal with a fixed digit
    Case(M, _m("4"), "$x = \\boxed{-4}$", False),  # the other root
    Case(M, _m("9"), "$y = \\boxed{3}$", False),  # square root of the answer
    Case(M, _m("(3, -1)"), "$\\boxed{(3, 1)}$", False),  # sign of the second coordinate
    Case(M, _m("\\{-1, 1\\}"), "$\\boxed{\\pm 1}$", True),  # plus-minus for a set
    Case(M, _m("\\{-1, 1\\}"), "$\\boxed{1}$", False),  # half of the set
    Case(M, _m("x^3"), "$\\boxed{3x}$", False),  # power as a product
    Case(M, _m("2^{10}"), "$\\boxed{1024}$", True),  # evaluated power
    Case(M, _m("2^{10}"), "$\\boxed{2048}$", False),  # next power
    Case(M, _m("\\$42"), "$\\boxed{\\$24}$", False),  # swapped digits with dollars
    Case(D, "\\frac{1}{2}", "\\boxed{\\frac{1}{2}x}", False),  # stray variable
    Case(D, "\\sqrt{3}", "\\boxed{3^{1/3}}", False),  # cube root for square root
    Case(D, "0", "\\boxed{\\text{none}}", False),  # word for zero
    Case(D, "2", "\\boxed{2i}", False),  # imaginary
    Case(D, "[1, \\infty)", "\\boxed{(1, \\infty)}", False),  # open end for a closed one
    Case(D, "e", "\\boxed{2.718}", False),  # 4 digits of e
    Case(D, "e", "\\boxed{2.718281828}", True),  # 10 digits of e
    Case(D, "\\frac{10}{9}", "\\frac{10}{9}", True),  # bare LaTeX completion, no delimiters
    Case(D, "\\frac{10}{9}", "\\frac{9}{10}", False),  # bare LaTeX completion, inverted
    Case(D, "2", "Code XK2B opens it.", False),  # a digit inside a word is not a number
    Case(D, "5", "I think it is 5 but I am not sure", True),  # short prose: last number
    Case(D, "5", "maybe 6, or maybe not", False),  # short prose, wrong number
    Case(G, BIG, "The total is 1 234 dollars.", True),  # space as thousands separator
    Case(M, _m("14{,}916"), "The final answer is $14{, }916$.", True),  # spaced LaTeX thousands
]
# fmt: on
