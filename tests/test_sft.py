"""`grpo-lora sft`: the loss against a hand computation, the completion-only mask, the
demonstrations (GRPO's order, correct answers), real steps on the tiny policy (LoRA rank 1 and
FullFT), exact resume, bad data, and the run directory the sweep and the report read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from grpo_lora.commands.sft import main as sft_main
from grpo_lora.config import ConfigError, load_config
from grpo_lora.metrics import read_metrics
from grpo_lora.rl import supervised
from grpo_lora.rl.supervised import (
    Demonstration,
    check_data,
    completion_nll,
    demonstration_tensors,
    load_demonstrations,
    read_demonstrations,
    sft,
)
from grpo_lora.rl.trainer import RunError
from grpo_lora.study.runs import load_runs, read_run, status_of

ROOT = Path(__file__).parent.parent
RECIPE = ROOT / "recipes" / "tiny_sft.yaml"
# small and quick: 32 demonstrations a step, 32 held-out problems
FAST = [
    "sft.batch_size=32",
    "data.heldout_size=32",
    "logging.progress=false",
    "logging.tensorboard=false",
]
TIMING = ("time/",)


def config(run_dir, *overrides):
    return load_config(RECIPE, [f"run_dir={run_dir}", *FAST, *overrides])


def untimed(rows):
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in rows]


def test_completion_nll_against_a_hand_computation():
    # vocabulary of 3; row 0 scores its tokens 1 and 2 (position 0 predicts token 1, ...), row 1
    # is all prompt and padding; softmax(0, 0, ln 2) = (1/4, 1/4, 1/2), softmax(ln 3, 0, 0) =
    # (3/5, 1/5, 1/5)
    logits = torch.zeros(2, 4, 3)
    logits[0, 0] = torch.tensor([0.0, 0.0, math.log(2)])  # predicts label 2: -log 1/2
    logits[0, 1] = torch.tensor([math.log(3), 0.0, 0.0])  # predicts label 0: -log 3/5
    logits[0, 2] = torch.tensor([5.0, -1.0, 2.0])  # predicts a -100: not scored
    logits[1] = torch.randn(4, 3)
    labels = torch.tensor([[-100, 2, 0, -100], [-100, -100, -100, -100]])
    s, m = completion_nll(logits, labels)
    assert int(m) == 2
    assert float(s) == pytest.approx(math.log(2) + math.log(5 / 3), rel=1e-6)
    # the per-token mean is transformers' causal-LM loss on the same labels
    hf = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 3), labels[:, 1:].flatten())
    assert float(s / m) == pytest.approx(float(hf), rel=1e-6)


def test_the_mask_covers_the_completion_and_its_eos_only(tiny_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_path)
    demos = [Demonstration("Q: 1+2=?\nA:", " 1+2=3.\n#### 3"), Demonstration("Q: 9=?\nA:", " 9")]
    ids, labels = demonstration_tensors(demos, tok)
    for n, d in enumerate(demos):
        p = len(tok(d.prompt)["input_ids"])
        c = len(tok(d.completion)["input_ids"]) + 1  # + EOS
        scored = (labels[n] != -100).nonzero().flatten().tolist()
        assert scored == list(range(p, p + c))
        assert labels[n, p : p + c].tolist() == ids[n, p : p + c].tolist()
        assert ids[n, p + c - 1] == tok.eos_token_id
        assert (
            tok.decode(ids[n, :p]) == d.prompt and tok.decode(ids[n, p : p + c - 1]) == d.completion
        )
        assert (ids[n, p + c :] == tok.pad_token_id).all()  # right padding


def test_tiny_arith_demonstrations_are_grpo_prompts_with_correct_answers(tiny_path):
    from transformers import AutoTokenizer

    from grpo_lora.data import load_problems
    from grpo_lora.data.problems import seeded_batch
    from grpo_lora.tiny.task import train_stream

    cfg = config("unused", "seed=3")
    tok = AutoTokenizer.from_pretrained(tiny_path)
    demos = load_demonstrations(cfg.data, tok)
    stream = train_stream(0)
    for d in demos.train[:50]:
        p = next(stream)
        assert (d.prompt, d.completion) == (p.prompt, p.solution())
    # step k's demonstrations are the prompts GRPO draws at step k for the seed
    problems = load_problems(cfg.data, tok)
    for step in (0, 7):
        ours = seeded_batch(demos.train, cfg.seed, step, 16)
        assert [d.prompt for d in ours] == [p.prompt for p in problems.batch(cfg.seed, step, 16)]
    assert [d.prompt for d in demos.heldout] == [p.prompt for p in problems.heldout]
    assert len(demos.heldout) == 32


def test_lora_rank1_run_lowers_the_heldout_logloss_base_frozen_and_resumes_exactly(
    tmp_path, tiny_path, monkeypatch, capsys
):
    """Through the command (-v keeps the terminal as pytest has it): 6 steps of rank-1 LoRA; then
    the same run stopped in step 5 and resumed from its step-3 checkpoint writes the same rows."""
    captured = {}
    real_load = supervised.load_run_policy

    def spy(cfg):
        path, policy = real_load(cfg)
        captured["base"] = {
            n: p.detach().clone() for n, p in policy.model.named_parameters() if "lora_" not in n
        }
        captured["policy"] = policy
        return path, policy

    monkeypatch.setattr(supervised, "load_run_policy", spy)
    steps = ["schedule.steps=6", "checkpoint.every=3", "logging.eval_every=3"]
    a = tmp_path / "a"
    assert sft_main([str(RECIPE), f"run_dir={a}", *FAST, *steps, "-v"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert out[-2].startswith("SFT-trained 6 steps") and "held-out log-loss" in out[-2]

    # the summary, and the run directory as the sweep and the report read it
    assert summary == json.loads((a / "summary.json").read_text())
    assert summary["command"] == "sft" and summary["steps"] == 6
    assert summary["trainable_params"] == 5888 and summary["run_dir"] == str(a)
    assert summary["wall_s"] > 0
    assert summary["eval_logloss_end"] < 0.9 * summary["eval_logloss_start"]
    assert status_of(a) == "finished"
    run = read_run(a)
    assert run.rank == 1 and run.train_steps == [1, 2, 3, 4, 5, 6]
    finished, unfinished, unreadable = load_runs(tmp_path)
    assert [r.path for r in finished] == [a] and not unfinished and not unreadable

    rows = read_metrics(a)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in rows if "eval/logloss" in r] == [0, 3, 6]
    for r in rows[1:]:
        assert {"sft/loss", "sft/tokens", "sft/episodes", "lr", "time/step_s"} <= set(r)
        assert r["sft/episodes"] == 32 * r["step"] and r["sft/tokens"] > 32 and r["lr"] == run.lr
    # LoRA trains the adapter only: the base weights are the ones loaded
    model = captured["policy"].model
    base = {n: p for n, p in model.named_parameters() if "lora_" not in n}
    assert base.keys() == captured["base"].keys()
    assert all(torch.equal(base[n], captured["base"][n]) for n in base)
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)

    # the same run, stopped in step 5 (step 4's row is written, its last checkpoint is step 3)
    monkeypatch.setattr(supervised, "load_run_policy", real_load)
    real_step, calls = supervised.train_step, []

    def failing_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("injected failure")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(supervised, "train_step", failing_step)
    b = tmp_path / "b"
    with pytest.raises(
        RunError,
        match="step 5 failed: RuntimeError: injected failure; --resume continues from step_000003",
    ):
        sft(config(b, *steps), log=lambda *a: None)
    assert [r["step"] for r in read_metrics(b)] == [0, 1, 2, 3, 4]
    assert status_of(b) == "crashed"
    monkeypatch.setattr(supervised, "train_step", real_step)
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        sft(config(b, *steps), log=lambda *a: None)
    said = []
    sft(config(b, *steps), resume=True, log=said.append)
    assert any("resuming from" in s and "step 3" in s for s in said)
    assert untimed(read_metrics(b)) == untimed(rows)  # step 4 dropped and redone: the same bits


def test_resume_without_a_checkpoint_starts_over(tmp_path, tiny_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # a run that died in step 1: its start row is written, no checkpoint yet
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 0, "eval/logloss": 9.0}) + "\n")
    said = []
    sft(config(run_dir, "schedule.steps=2", "sft.batch_size=8"), resume=True, log=said.append)
    assert said[0] == f"no checkpoint in {run_dir}: starting from step 0"
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2] and rows[0]["eval/logloss"] != 9.0


def test_fullft_run_lowers_the_heldout_logloss(tmp_path, tiny_path):
    summary = sft(
        config(tmp_path / "full", "lora.rank=full", "optimizer.lr=3e-4", "schedule.steps=6"),
        log=lambda *a: None,
    )
    assert summary["trainable_params"] > 500_000
    assert summary["eval_logloss_end"] < 0.9 * summary["eval_logloss_start"]


def test_jsonl_demonstrations(tmp_path, tiny_path):
    train, heldout = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    rows = [
        {"prompt": f"Q: {i}+1=?\nA:", "completion": f" {i}+1={i + 1}.\n#### {i + 1}"}
        for i in range(1, 9)
    ]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    heldout.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    summary = sft(
        config(
            tmp_path / "run",
            "data.name=jsonl",
            f"data.source={train}",
            f"data.heldout_source={heldout}",
            "sft.batch_size=4",
            "schedule.steps=2",
        ),
        log=lambda *a: None,
    )
    assert summary["eval_logloss_start"] is not None and summary["steps"] == 2

    # a row without a string "completion": one line naming the file, the line and the field
    train.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps({"prompt": "Q: 1=?\nA:"}) + "\n")
    with pytest.raises(ValueError, match=rf"data: {train}:3 has no string field 'completion'$"):
        read_demonstrations(train, "train")
    cfg = config(tmp_path / "bad", "data.name=jsonl", f"data.source={train}")
    with pytest.raises(ConfigError, match=r":3 has no string field 'completion'"):
        sft(cfg, log=lambda *a: None)


def test_other_data_is_refused_with_one_line(tmp_path, capsys):
    with pytest.raises(
        ConfigError, match=r"data\.name: sft supports tiny-arith and jsonl, not gsm8k"
    ):
        check_data(load_config(None, ["data.name=gsm8k"]).data)
    with pytest.raises(ConfigError, match=r"data\.source: sft on jsonl needs"):
        check_data(load_config(None, ["data.name=jsonl"]).data)
    assert sft_main([str(RECIPE), "data.name=math", f"run_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sft supports tiny-arith and jsonl" in err
    assert sft_main([str(RECIPE), "sft.batch_size=0"]) == 2
    assert "sft.batch_size" in capsys.readouterr().err


def test_dry_run(capsys):
    assert sft_main([str(RECIPE), "lora.rank=full", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recipe OK: SFT of FullFT on tiny") and "demonstrations a step" in out


def test_the_logged_lr_is_the_one_each_update_used(tmp_path, tiny_path):
    lr = load_config(RECIPE).optimizer.lr
    sft(config(tmp_path / "run", "schedule.steps=3", "schedule.warmup_steps=4", "sft.batch_size=8"))
    rows = read_metrics(tmp_path / "run")[1:]
    # linear warmup (step + 1) / 4: the first update runs at lr / 4 (`optim.lr_factor`)
    assert [r["lr"] for r in rows] == pytest.approx([lr / 4, lr / 2, 3 * lr / 4])


def test_the_validation_split_is_never_trained_on(tiny_path):
    from transformers import AutoTokenizer

    cfg = config("unused", "data.heldout_size=64")
    demos = load_demonstrations(cfg.data, AutoTokenizer.from_pretrained(tiny_path))
    assert len(demos.val) == 64 and len(demos.heldout) == 64
    train = {(d.prompt, d.completion) for d in demos.train}
    assert not train & {(d.prompt, d.completion) for d in demos.val}
    assert not {d.prompt for d in demos.heldout} & {d.prompt for d in demos.val}
