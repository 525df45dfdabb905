"""Problem sets: deterministic, resumable batches; jsonl loading with clear errors; gold checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grpo_lora.config import load_config
from grpo_lora.data import load_problems
from grpo_lora.data.jsonl import jsonl
from grpo_lora.data.problems import Problem, ProblemSet, grade
from grpo_lora.data.tiny_arith import tiny_arith
from grpo_lora.tiny.task import heldout

ROOT = Path(__file__).parent.parent


def toy(n=10):
    return ProblemSet("toy", [Problem(str(i), f"q{i}", f"#### {i}", "gsm8k") for i in range(n)], [])


def test_batches_are_a_pure_function_of_seed_and_step():
    ps = toy()
    assert ps.batch(0, 3, 4) == toy().batch(0, 3, 4)
    assert ps.batch(0, 3, 4) != ps.batch(1, 3, 4)
    # resuming at step 2 gives exactly what the uninterrupted stream gives there
    stream = ps.batches(seed=5, size=4)
    straight = [next(stream) for _ in range(5)]
    resumed = ps.batches(seed=5, size=4, start=2)
    assert [next(resumed) for _ in range(3)] == straight[2:]


def test_each_epoch_is_a_permutation_of_the_training_set():
    ps = toy(10)
    first_epoch = [p.id for step in range(5) for p in ps.batch(0, step, 2)]
    assert sorted(first_epoch, key=int) == [str(i) for i in range(10)]
    second_epoch = [p.id for step in range(5, 10) for p in ps.batch(0, step, 2)]
    assert sorted(second_epoch, key=int) == [str(i) for i in range(10)]
    assert first_epoch != second_epoch


def test_tiny_arith_heldout_is_fixed_and_disjoint_from_training():
    ps = tiny_arith(n_train=2000, n_heldout=64)
    assert [p.prompt for p in ps.heldout] == [p.prompt for p in heldout(64)]
    assert not {p.prompt for p in ps.train} & {p.prompt for p in ps.heldout}
    assert all(p.gold.splitlines()[-1].startswith("#### ") for p in ps.train[:50])


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_round_trip(tmp_path):
    train = write(
        tmp_path / "t.jsonl", [{"prompt": "Q: 1+1", "gold": "#### 2", "dataset": "gsm8k"}]
    )
    held = write(
        tmp_path / "h.jsonl", [{"id": "h0", "prompt": "x", "gold": "\\boxed{1}", "dataset": "math"}]
    )
    ps = jsonl(train, held)
    assert ps.train == [Problem("train-1", "Q: 1+1", "#### 2", "gsm8k")]
    assert ps.heldout[0].id == "h0"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"prompt": "x", "gold": "#### 1"}', "no string field 'dataset'"),
        ('{"prompt": "x", "gold": "#### 1", "dataset": "aime"}', "dataset 'aime' is not one of"),
        ("{not json", "is not valid JSON"),
        ('{"prompt": 3, "gold": "#### 1", "dataset": "gsm8k"}', "no string field 'prompt'"),
    ],
)
def test_jsonl_errors_name_the_line_and_field(tmp_path, row, message):
    path = write(tmp_path / "bad.jsonl", [row])
    with pytest.raises(ValueError, match=message) as err:
        jsonl(path, None)
    assert "bad.jsonl:1" in str(err.value)


def test_missing_jsonl_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        jsonl(tmp_path / "nope.jsonl", None)


def test_an_ungradable_gold_stops_loading_and_names_the_problem(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        [
            {"prompt": "Q: 1+1", "gold": "1+1=2\n#### 2", "dataset": "gsm8k"},
            {"prompt": "Q: ?", "gold": "no answer line", "dataset": "gsm8k"},
        ],
    )
    cfg = load_config(None, ["data.name=jsonl", f"data.source={path}"])
    with pytest.raises(ValueError, match="problem train-2"):
        load_problems(cfg.data)


# --- tiny-arith for chat models: data.template and the difficulty knobs -------------------------


@pytest.fixture(scope="module")
def chat_tokenizer():
    from grpo_lora.tiny.tokenizer import build_tokenizer

    return build_tokenizer()  # has a chat template, like an instruction-tuned model's


def test_tiny_arith_keeps_its_own_prompts_by_default():
    cfg = load_config(ROOT / "recipes" / "tiny_lora_r1.yaml")
    assert cfg.data.template == "tiny"  # resolved at load, so the saved config records it
    assert load_config(None, ["data.name=gsm8k"]).data.template == "chat"
    ps = load_problems(cfg.data)
    assert [p.prompt for p in ps.heldout] == [p.prompt for p in heldout(cfg.data.heldout_size)]
    assert ps.heldout[0].prompt.startswith("Q: ") and ps.heldout[0].prompt.endswith("\nA:")
    # an explicit "tiny" and a dumped-and-reloaded config load the same problems
    assert load_problems(load_config(None, ["data.template=tiny"]).data).train[:50] == ps.train[:50]


@pytest.mark.parametrize("template", ["chat", "plain", "raw"])
def test_tiny_arith_renders_its_questions_with_a_template(chat_tokenizer, template):
    from grpo_lora.data.templates import format_prompt

    cfg = load_config(None, [f"data.template={template}", "data.heldout_size=16"])
    ps = load_problems(cfg.data, chat_tokenizer)
    tiny = load_problems(load_config(None, ["data.heldout_size=16"]).data)
    for got, base, q in zip(ps.heldout, tiny.heldout, heldout(16)):
        assert got.prompt == format_prompt(q.question, template, chat_tokenizer, "gsm8k")
        assert (got.id, got.gold, got.dataset) == (base.id, base.gold, base.dataset)
    if template != "raw":
        assert "#### N" in ps.heldout[0].prompt  # GSM8K's answer instruction


def test_answer_example_shows_a_filled_in_final_line():
    cfg = load_config(None, ["data.template=plain", "data.heldout_size=8"])
    shown = load_config(
        None, ["data.template=plain", "data.heldout_size=8", "data.answer_example=1"]
    )
    plain, example = load_problems(cfg.data), load_problems(shown.data)
    for a, b in zip(plain.heldout, example.heldout):
        assert (
            b.prompt == a.prompt + " For example, if the answer is 42, the last line is:\n#### 42"
        )
        assert (a.id, a.gold) == (b.id, b.gold)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.answer_example=1"], "'tiny' template has no answer instruction"),
        (["data.answer_example=1", "data.template=raw"], "'raw' template has no answer"),
        (["data.answer_example=1", "data.name=jsonl", "data.source=x.jsonl"], "whole prompts"),
    ],
)
def test_answer_example_needs_an_instruction(overrides, message):
    from grpo_lora.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_a_spent_difficulty_says_so_rather_than_hanging():
    # two numbers up to 10 and no word problems: 155 distinct questions, fewer than the 512 that
    # every training draw keeps out of its way
    cfg = load_config(
        None,
        ["data.max_terms=2", "data.max_operand=10", "data.word_fraction=0", "data.heldout_size=8"],
    )
    with pytest.raises(
        ValueError, match=r"512 held-out problems: no new question .* beyond the 155"
    ):
        load_problems(cfg.data)
    # with word problems the same numbers have room: SmolLM2's recipes use them
    cfg = load_config(None, ["data.max_terms=2", "data.max_operand=10", "data.heldout_size=8"])
    assert len(load_problems(cfg.data).heldout) == 8


def test_tiny_arith_chat_needs_a_tokenizer():
    cfg = load_config(None, ["data.template=chat"])
    with pytest.raises(ValueError, match="needs a tokenizer"):
        load_problems(cfg.data)


def test_tiny_arith_difficulty_knobs():
    from grpo_lora.tiny.task import Difficulty

    cfg = load_config(None, ["data.max_terms=2", "data.max_operand=9", "data.heldout_size=64"])
    assert cfg.data.difficulty() == Difficulty(max_terms=2, max_operand=9)
    assert load_config(None, []).data.difficulty() == Difficulty()  # unset = the tiny policy's
    ps = load_problems(cfg.data)
    assert [p.prompt for p in ps.heldout] == [p.prompt for p in heldout(64, Difficulty(2, 2, 9))]
    assert not {p.prompt for p in ps.train} & {p.prompt for p in ps.heldout}
    for p in ps.heldout + ps.train[:200]:
        (a, _, b), *rest = re.findall(r"(\d+)([+-])(\d+)=", p.gold)
        assert not rest and int(a) <= 9 and int(b) <= 9, p  # two terms, each in 1..9


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.min_terms=3", "data.max_terms=2"], "min_terms: 3 is above max_terms 2"),
        (["data.name=gsm8k", "data.max_terms=2"], "max_terms: only tiny-arith"),
        (["data.name=math", "data.template=tiny"], "'tiny' is tiny-arith's own format"),
        (["data.max_operand=0"], "data.max_operand"),
    ],
)
def test_bad_tiny_arith_settings_name_the_field(overrides, message):
    from grpo_lora.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_a_completion_cut_before_its_answer_earns_nothing():
    """At the token budget, a GSM8K-style completion's last number is a step of its derivation:
    it counts only with its `#### N` (or boxed) answer."""
    problem = Problem("p", "Q: 6-2+8+7=?\nA:", " 6-2=4. 4+8=12. 12+7=19.\n#### 19", "gsm8k")
    cut = " 6-2=4. 4+8=12. 12+7=19"  # the budget ran out before the answer line
    done = cut + ".\n#### 19"
    assert grade([cut, cut], [problem, problem], [False, True]) == [True, False]
    assert grade([done, done], [problem, problem], [False, True]) == [True, True]
    boxed = Problem("m", "x?", "\\boxed{19}", "math")
    assert grade(["so x = 19", "so x = \\boxed{19}"], [boxed, boxed], [True, True]) == [False, True]


def test_strict_answers_grade_the_form_too(tmp_path):
    rows = [{"prompt": "Simplify 6/8.", "gold": "\\boxed{\\frac34}", "dataset": "math"}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    overrides = ["data.name=jsonl", f"data.source={tmp_path / 't.jsonl'}"]
    answer = ["So it is \\boxed{\\frac{6}{8}}."]
    for strict, want in ((False, [True]), (True, [False])):
        cfg = load_config(
            ROOT / "recipes" / "tiny_lora_r1.yaml", [*overrides, f"data.strict_answers={strict}"]
        )
        problems = load_problems(cfg.data).train
        assert grade(answer, problems) == want
