"""The hub dataset loaders on tiny local fixtures in the datasets' real schemas (tests/data/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grpo_lora.config import load_config
from grpo_lora.data import deepmath, gsm8k, math
from grpo_lora.data.templates import EXAMPLES, INSTRUCTIONS, format_prompt

DATA = Path(__file__).parent / "data"
GSM8K = DATA / "gsm8k"  # train.jsonl + test.jsonl, like openai/gsm8k's main/{train,test}
MATH = (
    DATA / "hendrycks_math"
)  # train.jsonl + test.jsonl, like one EleutherAI/hendrycks_math subject
MATH500 = DATA / "math500.jsonl"  # HuggingFaceH4/MATH-500's test split
DEEPMATH = DATA / "deepmath.jsonl"  # zwhe99/DeepMath-103K's train split (it has no other)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tokenizer():
    from grpo_lora.tiny.tokenizer import build_tokenizer

    return build_tokenizer()


# --- schema mapping -----------------------------------------------------------------------------


def test_gsm8k_maps_question_and_full_answer_and_uses_test_split():
    ps = gsm8k.DATASET.load(str(GSM8K), template="raw")
    train, test = jsonl(GSM8K / "train.jsonl"), jsonl(GSM8K / "test.jsonl")
    assert [p.prompt for p in ps.train] == [r["question"] for r in train]
    assert [p.gold for p in ps.train] == [r["answer"] for r in train]  # whole answer, '#### N' kept
    assert ps.train[0].gold.endswith("#### 36")
    assert [p.gold for p in ps.heldout] == [
        r["answer"] for r in test
    ]  # the test split, not a slice
    assert {p.dataset for p in ps.train + ps.heldout} == {"gsm8k"}
    assert [p.id for p in ps.train] == ["gsm8k-train-0", "gsm8k-train-1", "gsm8k-train-2"]
    assert [p.id for p in ps.heldout] == ["gsm8k-test-0", "gsm8k-test-1"]


def test_math_maps_problem_and_full_solution_and_uses_test_split():
    ps = math.DATASET.load(str(MATH), template="raw")
    train, test = jsonl(MATH / "train.jsonl"), jsonl(MATH / "test.jsonl")
    assert [(p.prompt, p.gold) for p in ps.train] == [(r["problem"], r["solution"]) for r in train]
    assert [(p.prompt, p.gold) for p in ps.heldout] == [(r["problem"], r["solution"]) for r in test]
    assert "\\boxed{\\frac{3}{4}}" in ps.train[1].gold
    assert {p.dataset for p in ps.train + ps.heldout} == {"math"}


def test_math500_as_heldout_source_replaces_the_test_split():
    ps = math.DATASET.load(str(MATH), heldout_source=str(MATH500), template="raw")
    rows = jsonl(MATH500)
    assert [(p.prompt, p.gold) for p in ps.heldout] == [(r["problem"], r["solution"]) for r in rows]
    assert [p.id for p in ps.heldout] == ["math-heldout-0", "math-heldout-1"]
    assert len(ps.train) == 3


def test_deepmath_maps_final_answer_and_slices_a_seeded_heldout_from_train():
    rows = jsonl(DEEPMATH)
    ps = deepmath.DATASET.load(str(DEEPMATH), template="raw", n_heldout=2, seed=0)
    assert len(ps.train) == len(rows) - 2 and len(ps.heldout) == 2
    got = {p.prompt: p.gold for p in ps.train + ps.heldout}
    assert got == {r["question"]: r["final_answer"] for r in rows}  # partition; gold = final_answer
    assert not {p.id for p in ps.train} & {p.id for p in ps.heldout}
    assert {p.dataset for p in ps.train + ps.heldout} == {"deepmath"}
    # held-out problems keep the id of their train row, so one can tell where they came from
    assert all(p.id.startswith("deepmath-train-") for p in ps.heldout)
    again = deepmath.DATASET.load(str(DEEPMATH), template="raw", n_heldout=2, seed=0)
    assert again.heldout == ps.heldout and again.train == ps.train  # pure function of the seed

    def heldout_ids(seed):
        ps = deepmath.DATASET.load(str(DEEPMATH), template="raw", n_heldout=2, seed=seed)
        return tuple(p.id for p in ps.heldout)

    heldouts = {heldout_ids(s) for s in range(6)}
    assert len(heldouts) > 1  # the seed picks the slice


def test_heldout_source_means_no_slice_is_taken_from_train():
    ps = deepmath.DATASET.load(str(DEEPMATH), heldout_source=str(DEEPMATH), template="raw")
    assert len(ps.train) == len(jsonl(DEEPMATH)) == len(ps.heldout)


def test_n_heldout_cuts_a_test_split_and_max_train_trims_deterministically():
    ps = gsm8k.DATASET.load(str(GSM8K), template="raw", n_heldout=1, max_train=2, seed=3)
    full = gsm8k.DATASET.load(str(GSM8K), template="raw")
    assert len(ps.heldout) == 1 and ps.heldout[0] in full.heldout
    assert len(ps.train) == 2
    ids = [p.id for p in ps.train]
    assert ids == sorted(ids, key=[p.id for p in full.train].index)  # source order kept
    again = gsm8k.DATASET.load(str(GSM8K), template="raw", n_heldout=1, max_train=2, seed=3)
    assert again.train == ps.train and again.heldout == ps.heldout
    assert gsm8k.DATASET.load(str(GSM8K), template="raw", max_train=99).train == full.train


def test_parquet_and_json_files_load_like_jsonl(tmp_path):
    import datasets

    rows = jsonl(DEEPMATH)
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "deepmath.parquet"))
    (tmp_path / "deepmath.json").write_text(json.dumps(rows))  # one JSON array
    want = deepmath.DATASET.load(str(DEEPMATH), template="raw", n_heldout=2)
    for name in ("deepmath.parquet", "deepmath.json"):
        got = deepmath.DATASET.load(str(tmp_path / name), template="raw", n_heldout=2)
        assert [(p.prompt, p.gold) for p in got.train] == [(p.prompt, p.gold) for p in want.train]
        assert [(p.prompt, p.gold) for p in got.heldout] == [
            (p.prompt, p.gold) for p in want.heldout
        ]


def test_save_to_disk_folder_loads(tmp_path):
    import datasets

    dd = datasets.DatasetDict(
        {s: datasets.Dataset.from_list(jsonl(GSM8K / f"{s}.jsonl")) for s in ("train", "test")}
    )
    dd.save_to_disk(str(tmp_path / "gsm8k"))
    ps = gsm8k.DATASET.load(str(tmp_path / "gsm8k"), template="raw")
    assert ps.train == gsm8k.DATASET.load(str(GSM8K), template="raw").train
    assert len(ps.heldout) == 2


def test_default_sources_go_through_load_dataset_with_their_hub_ids(monkeypatch):
    """The hub path, offline: `datasets.load_dataset` is replaced by the local fixtures."""
    import datasets

    calls = []
    local = {
        "openai/gsm8k": GSM8K,
        "EleutherAI/hendrycks_math": MATH,
        "HuggingFaceH4/MATH-500": MATH500,
        "zwhe99/DeepMath-103K": DEEPMATH,
    }

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name))
        src = local[path]
        if src.is_dir():
            return datasets.DatasetDict(
                {
                    s: datasets.Dataset.from_list(jsonl(src / f"{s}.jsonl"))
                    for s in ("train", "test")
                }
            )
        split = "test" if path == "HuggingFaceH4/MATH-500" else "train"
        return datasets.DatasetDict({split: datasets.Dataset.from_list(jsonl(src))})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)

    gsm = gsm8k.DATASET.load(template="raw")
    assert calls == [("openai/gsm8k", "main")]
    assert gsm.name == "gsm8k" and len(gsm.heldout) == 2  # openai/gsm8k's test split

    calls.clear()
    math_set = math.DATASET.load(template="raw")
    subjects = [c[1] for c in calls if c[0] == "EleutherAI/hendrycks_math"]
    assert subjects == [
        "algebra",
        "counting_and_probability",
        "geometry",
        "intermediate_algebra",
        "number_theory",
        "prealgebra",
        "precalculus",
    ]
    assert calls[-1] == ("HuggingFaceH4/MATH-500", None)
    assert len(math_set.train) == 7 * 3  # every subject's train split, concatenated
    assert [p.gold for p in math_set.heldout] == [r["solution"] for r in jsonl(MATH500)]  # MATH-500

    calls.clear()
    deep = deepmath.DATASET.load(template="raw", n_heldout=2)
    assert calls == [("zwhe99/DeepMath-103K", None)]
    assert (len(deep.train), len(deep.heldout)) == (4, 2)  # train only: a slice is held out

    calls.clear()
    math.DATASET.load("EleutherAI/hendrycks_math:algebra", template="raw")  # one config by name
    assert calls == [("EleutherAI/hendrycks_math", "algebra")]


# --- templates ----------------------------------------------------------------------------------


def test_plain_template_appends_the_dataset_instruction():
    q = "What is 2+3?"
    assert format_prompt(q, "plain", dataset="gsm8k") == f"{q}\n\n{INSTRUCTIONS['gsm8k']}"
    assert "####" in INSTRUCTIONS["gsm8k"]
    assert "\\boxed{}" in INSTRUCTIONS["math"] and "\\boxed{}" in INSTRUCTIONS["deepmath"]
    assert format_prompt(q, "raw") == q
    ps = math.DATASET.load(str(MATH), template="plain")
    assert (
        ps.train[0].prompt
        == f"{jsonl(MATH / 'train.jsonl')[0]['problem']}\n\n{INSTRUCTIONS['math']}"
    )


def test_answer_example_shows_each_graders_own_form():
    ps = math.DATASET.load(str(MATH), template="plain", example=True)
    problem = jsonl(MATH / "train.jsonl")[0]["problem"]
    assert ps.train[0].prompt == f"{problem}\n\n{INSTRUCTIONS['math']} {EXAMPLES['math']}"
    assert "\\boxed{42}" in EXAMPLES["math"] and "#### 42" in EXAMPLES["gsm8k"]
    assert set(EXAMPLES) == set(INSTRUCTIONS)  # every grader's instruction has its example


def test_chat_template_renders_a_user_turn_and_opens_the_assistant_turn(tokenizer):
    q = "What is 2+3?"
    want = f"<|im_start|>user\n{q}\n\n{INSTRUCTIONS['gsm8k']}<|im_end|>\n<|im_start|>assistant\n"
    assert format_prompt(q, "chat", tokenizer, dataset="gsm8k") == want
    ps = gsm8k.DATASET.load(str(GSM8K), tokenizer=tokenizer)  # chat is the default template
    question = jsonl(GSM8K / "train.jsonl")[0]["question"]
    assert ps.train[0].prompt == format_prompt(question, "chat", tokenizer, dataset="gsm8k")
    assert ps.train[0].prompt.endswith("<|im_start|>assistant\n")


# --- errors -------------------------------------------------------------------------------------


def test_missing_column_names_the_column_the_file_and_the_columns_found(tmp_path):
    bad = tmp_path / "gsm8k.jsonl"
    bad.write_text(json.dumps({"problem": "1+1?", "answer": "#### 2"}) + "\n")
    with pytest.raises(ValueError) as e:
        gsm8k.DATASET.load(str(bad), template="raw", n_heldout=0)
    msg = str(e.value)
    assert "'question'" in msg and str(bad) in msg and "problem, answer" in msg
    assert "\n" not in msg
    renamed = tmp_path / "deepmath.jsonl"  # DeepMath rows with 'answer' for 'final_answer'
    renamed.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    with pytest.raises(ValueError, match="'final_answer'"):
        deepmath.DATASET.load(str(renamed), template="raw", n_heldout=0)


def test_missing_empty_and_unsupported_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        gsm8k.DATASET.load(str(tmp_path / "nope.jsonl"), template="raw")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="empty"):
        gsm8k.DATASET.load(str(tmp_path / "empty.jsonl"), template="raw")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match=r"blank\.jsonl"):
        gsm8k.DATASET.load(str(tmp_path / "blank.jsonl"), template="raw")
    (tmp_path / "rows.csv").write_text("question,answer\n")
    with pytest.raises(ValueError, match=r"unsupported file type '\.csv'"):
        gsm8k.DATASET.load(str(tmp_path / "rows.csv"), template="raw")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="empty"):
        gsm8k.DATASET.load(str(tmp_path / "folder"), template="raw")


def test_too_few_rows_to_slice_a_heldout():
    with pytest.raises(ValueError, match="n_heldout=6"):
        deepmath.DATASET.load(str(DEEPMATH), template="raw", n_heldout=6)


def test_unknown_template_and_dataset_name(tokenizer):
    with pytest.raises(ValueError, match=r"'fancy'.*chat, plain, raw"):
        format_prompt("q", "fancy")
    with pytest.raises(ValueError, match=r"'fancy'.*chat, plain, raw"):
        gsm8k.DATASET.load(str(GSM8K), template="fancy")
    with pytest.raises(ValueError, match=r"'svamp'.*gsm8k, math, deepmath"):
        load_config(None, ["data.name=svamp"])


def test_chat_template_needs_a_tokenizer_with_a_chat_template(tokenizer):
    with pytest.raises(ValueError, match="needs a tokenizer"):
        gsm8k.DATASET.load(str(GSM8K))  # chat by default, no tokenizer given
    tokenizer_no_chat = copy.deepcopy(tokenizer)
    tokenizer_no_chat.chat_template = None
    with pytest.raises(ValueError, match="has none"):
        format_prompt("q", "chat", tokenizer_no_chat)


# --- the gold is what the grader reads ----------------------------------------------------------

STATED = {  # a completion that states the right answer the way each template asks
    "gsm8k": lambda a: f"Working.\n#### {a}",
    "math": lambda a: f"So the answer is $\\boxed{{{a}}}$.",
    "deepmath": lambda a: f"So the answer is $\\boxed{{{a}}}$.",
}
ANSWERS = {  # the answer of each fixture row, by source, in order
    "gsm8k": ["36", "27", "24", "210", "100"],
    "math": ["4", "\\frac{3}{4}", "6", "2", "9"],
    "deepmath": ["3", "1", "5", "2", "8", "\\pi"],
}


def test_every_fixture_gold_is_gradable():
    rewards = pytest.importorskip("rewards", reason="the rewards package does not import yet")
    grade = getattr(rewards, "grade", None)
    if grade is None:  # not exported at the top yet: the module that will hold it
        grade = pytest.importorskip("rewards.grader", reason="no rewards.grade yet").grade
    for dataset, src in (
        (gsm8k.DATASET, GSM8K),
        (math.DATASET, MATH),
        (deepmath.DATASET, DEEPMATH),
    ):
        name = dataset.name
        ps = dataset.load(str(src), template="raw", n_heldout=0 if name == "deepmath" else 256)
        problems = ps.train + ps.heldout  # train then test rows, each in file order
        assert len(problems) == len(ANSWERS[name])
        for p, answer in zip(problems, ANSWERS[name]):
            g = grade(STATED[name](answer), p.gold, name)
            assert g.correct, (p.id, p.gold, g)
    ps = math.DATASET.load(str(MATH), heldout_source=str(MATH500), template="raw")
    for p, row in zip(ps.heldout, jsonl(MATH500)):  # MATH-500's own 'answer' column, stated
        g = grade(STATED["math"](row["answer"]), p.gold, "math")
        assert g.correct, (p.id, p.gold, g)
