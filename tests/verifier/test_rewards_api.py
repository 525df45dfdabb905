"""The API others rely on: Grade, errors, reward functions, module names."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rewards
from rewards import GoldError, Grade, check_gold, grade

TINY_GOLD = " 6-2=4. 4+8=12. 12+7=19.\n#### 19"


def test_grade_is_a_frozen_dataclass():
    g = grade(TINY_GOLD, TINY_GOLD, "gsm8k")
    assert g == Grade(correct=True, extracted="19", reason="match")
    assert dataclasses.is_dataclass(g)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.correct = False  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(g)) == g


def test_reasons():
    assert grade("", TINY_GOLD, "gsm8k").reason == "no_answer"
    assert grade("no digits here", TINY_GOLD, "gsm8k").reason == "no_answer"
    assert grade("#### 18", TINY_GOLD, "gsm8k").reason == "mismatch"
    assert grade("\\boxed{Tuesday}", "\\boxed{3}", "math").reason == "unparseable"
    assert grade(None, TINY_GOLD, "gsm8k").reason == "no_answer"  # type: ignore[arg-type]


def test_unknown_dataset_names_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"'gsm9k'.*gsm8k, math, deepmath"):
        grade("1", "1", "gsm9k")
    with pytest.raises(ValueError, match="gsm9k"):
        rewards.grade_many([("1", "1", "gsm9k")])


@pytest.mark.parametrize(
    ("gold", "dataset"),
    [
        ("She has 3 apples. No answer line.", "gsm8k"),
        ("The answer\n#### three-ish", "gsm8k"),
        ("A long MATH solution that forgot its box, so nothing can be graded against it.", "math"),
        ("$\\boxed{}$", "math"),
        ("   ", "deepmath"),
    ],
)
def test_unreadable_gold_is_an_error_naming_it(gold, dataset):
    with pytest.raises(GoldError) as e:
        grade("#### 3", gold, dataset)
    assert repr(gold.strip()[:20])[1:-1][:10] in str(e.value)
    with pytest.raises(GoldError):
        check_gold(gold, dataset)
    with pytest.raises(GoldError):  # also from the reward functions: never a silent 0
        getattr(rewards, dataset).reward("#### 3", gold)


def test_gold_error_from_grade_many_comes_after_the_batch():
    bad = "A solution that never boxes its answer, so there is nothing to grade against."
    with pytest.raises(GoldError, match="never boxes"):
        rewards.grade_many([("\\boxed{1}", "\\boxed{1}", "math"), ("1", bad, "math")])


@pytest.mark.parametrize("module", [rewards.gsm8k, rewards.math, rewards.deepmath])
def test_reward_functions_are_picklable_top_level_functions(module):
    f = pickle.loads(pickle.dumps(module.reward))
    assert f is module.reward
    assert module.reward.__doc__ and ">>>" in module.__doc__


def test_reward_values():
    assert rewards.gsm8k.reward(TINY_GOLD, TINY_GOLD) == 1.0
    assert rewards.gsm8k.reward("#### 18", TINY_GOLD) == 0.0
    assert rewards.math.reward("\\boxed{0.5}", "so $\\boxed{\\frac12}$") == 1.0
    assert rewards.deepmath.reward("\\boxed{[0,1)}", "[0, 1]") == 0.0


def test_rewards_math_does_not_shadow_stdlib_math():
    import math

    import rewards.math

    assert math.sqrt(16) == 4.0 and math.__name__ == "math"
    assert rewards.math.__name__ == "rewards.math"
    code = "import rewards.math, math, rewards; assert math.pi > 3 and rewards.math.reward('1', '1') == 1.0"
    root = Path(rewards.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_gsm8k_hot_path_is_fast():
    """The RL hot path: the tiny task's completions, thousands per second in-process."""
    golds = [f" 6-2=4. 4+8=12. 12+{k}={12 + k}.\n#### {12 + k}" for k in range(1, 21)]
    comps = [
        f" 6-2=4. 4+8=12. 12+{k}={12 + k}.\n#### {12 + k + (k % 3 == 0)}" for k in range(1, 21)
    ]
    items = [(c, g) for c in comps for g in golds] * 5  # 2,000
    expected = sum(c.rsplit(" ", 1)[1] == g.rsplit(" ", 1)[1] for c, g in items)
    t = time.perf_counter()
    n_right = sum(grade(c, g, "gsm8k").correct for c, g in items)
    elapsed = time.perf_counter() - t
    assert n_right == expected == 100  # 14 right on the diagonal, 6 slips that hit the next gold
    assert elapsed < 2.0, f"{len(items)} grades took {elapsed:.2f} s"


@pytest.mark.skipif(not Path(__file__).parents[1].joinpath("data").is_dir(), reason="no data")
def test_golds_from_the_project_samples_grade_their_own_answers():
    """Each gold in tests/data (GSM8K, MATH, MATH-500, DeepMath rows) grades its own answer."""
    import json

    data = Path(__file__).parents[1] / "data"
    checked = 0
    for path in sorted(data.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "final_answer" in row:
                gold, ds, completion = row["final_answer"], "deepmath", row.get("r1_solution_1", "")
            elif "solution" in row:
                gold, ds, completion = row["solution"], "math", row["solution"]
            elif "answer" in row:
                gold, ds, completion = row["answer"], "gsm8k", row["answer"]
            else:
                continue
            assert grade(completion or f"\\boxed{{{gold}}}", gold, ds).correct, (path.name, row)
            checked += 1
    assert checked > 0
