"""Model text is never executed: payloads leave no side effect, and no eval path exists."""

from __future__ import annotations

import builtins
import contextlib
import re
from pathlib import Path

import pytest

import rewards
from rewards import grade, grade_many

PAYLOADS = [
    "__import__('os').system('touch {s}')",
    "__import__('pathlib').Path('{s}').touch()",
    "open('{s}', 'w').write('x')",
    "(lambda: __import__('os').system('touch {s}'))()",
    "eval(\"__import__('os').system('touch {s}')\")",
    "exec(\"open('{s}','w')\")",
    "().__class__.__base__.__subclasses__()[0].__init__.__globals__['os'].system('touch {s}')",
    "getattr(__builtins__, 'exec')(\"open('{s}','w')\")",
    "Symbol('x').__class__.__mro__[-1].__subclasses__()",
    "sympify(\"__import__('os').system('touch {s}')\")",
    "parse_expr(\"__import__('os').system('touch {s}')\")",
    "Function('system')(\"touch {s}\")",
    "x; import os; os.system('touch {s}')",
    "__import__('subprocess').run(['touch', '{s}'])",
]
WRAPPERS = [
    "{p}",
    "The answer is {p}.",
    "$\\boxed{{{p}}}$",
    "#### {p}",
    "**{p}**",
    "$x = {p}$",
    "\\boxed{{\\text{{{p}}}}}",
]
GOLDS = [("#### 19", "gsm8k"), ("$\\boxed{x+1}$", "math"), ("\\frac{1}{2}", "deepmath")]


def _completions(sentinel: Path):
    for payload in PAYLOADS:
        p = payload.format(s=sentinel)
        for w in WRAPPERS:
            yield w.format(p=p)


@pytest.fixture
def no_eval(monkeypatch):
    """Fail loudly if anything calls eval/exec while grading."""
    calls = []

    def trap(name):
        def f(*args, **kwargs):
            calls.append((name, str(args[0])[:100] if args else ""))
            raise AssertionError(f"{name} called while grading")

        return f

    monkeypatch.setattr(builtins, "eval", trap("eval"))
    monkeypatch.setattr(builtins, "exec", trap("exec"))
    return calls


def test_payloads_never_run_in_process(tmp_path, no_eval):
    sentinel = tmp_path / "sentinel"
    for completion in _completions(sentinel):
        for gold, ds in GOLDS:
            g = grade(completion, gold, ds)
            assert not g.correct
    assert not sentinel.exists()
    assert no_eval == []


def test_payloads_never_run_as_golds(tmp_path, no_eval):
    sentinel = tmp_path / "sentinel"
    for text in _completions(sentinel):
        for ds in ("math", "deepmath"):
            with contextlib.suppress(rewards.GoldError):
                grade("\\boxed{1}", text, ds)
    assert not sentinel.exists()
    assert no_eval == []


def test_payloads_never_run_in_workers(tmp_path):
    sentinel = tmp_path / "sentinel"
    items = [(c, gold, ds) for c in _completions(sentinel) for gold, ds in GOLDS]
    grades = grade_many(items, timeout=2.0)
    assert not any(g.correct for g in grades)
    assert not sentinel.exists()


def test_no_eval_path_in_the_source():
    """No eval/exec/sympify/parse_expr/lambdify anywhere in the package."""
    banned = re.compile(
        r"(?<!\w)(?:eval|exec|sympify|parse_expr|lambdify)\s*\(|\bsp\.S\(|__import__"
        r"|import\s+pickle|(?<![\w.])compile\("
    )
    root = Path(rewards.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if banned.search(code) and not code.strip().startswith((">>>", '"', "'")):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []
