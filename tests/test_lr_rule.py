"""grpo_lora.study.lr_rule and `grpo-lora lr`: the published rule, worked by hand on local config.json files."""

from __future__ import annotations

import json

import pytest

from grpo_lora import models
from grpo_lora.commands import lr
from grpo_lora.study import lr_rule


def _model(tmp_path, **cfg):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.mark.parametrize(
    ("cfg", "is_lora", "steps", "expected"),
    [
        # hidden 2000 is the reference width: FullFT 5e-5 whatever the family
        ({"hidden_size": 2000, "model_type": "qwen2"}, False, None, 5e-5),
        ({"hidden_size": 2000, "model_type": "qwen2"}, True, None, 5e-4),  # LoRA = 10x
        ({"hidden_size": 2000, "model_type": "qwen2"}, True, 50, 7.5e-4),  # < 100 steps: 15x
        # llama, hidden 4000: 5e-5 * 0.5 ** 0.781
        ({"hidden_size": 4000, "model_type": "llama"}, False, None, 5e-5 * 0.5**0.781),
        # qwen3 at 128 (the tiny policy's width): 5e-5 * (2000/128) ** 0.0775 * 10
        ({"hidden_size": 128, "model_type": "qwen3"}, True, None, 5e-4 * (2000 / 128) ** 0.0775),
        # hidden size nested under text_config (VL / MoE configs)
        ({"text_config": {"hidden_size": 2000, "model_type": "qwen3_moe"}}, True, None, 5e-4),
        # uncalibrated family: no width correction
        ({"hidden_size": 4096, "model_type": "gpt2"}, False, None, 5e-5),
    ],
)
def test_rule_on_local_config(tmp_path, cfg, is_lora, steps, expected):
    info = lr_rule.model_info(str(_model(tmp_path, **cfg)))
    assert lr_rule.suggest(info, is_lora, steps).lr == pytest.approx(expected, rel=1e-12)


def test_cli_says_what_it_is_based_on(tmp_path, capsys):
    d = _model(tmp_path, hidden_size=896, model_type="qwen2")
    assert lr.main(["--model", str(d), "--lora"]) == 0
    out = capsys.readouterr().out
    value = 10 * 5e-5 * (2000 / 896) ** 0.0775
    assert f"suggested learning rate for LoRA of {d}: {value:.3g}" in out
    assert "hidden_size 896" in out and "tinker-cookbook" in out and "LoRA Without Regret" in out
    assert "outside the calibrated range" in out  # 896 < 2048


def test_known_hub_name_needs_no_network():
    info = lr_rule.model_info("meta-llama/Llama-3.1-8B")
    assert (info.hidden_size, info.model_type) == (4096, "llama")
    assert lr_rule.suggest(info, False).lr == pytest.approx(5e-5 * (2000 / 4096) ** 0.781)


@pytest.mark.parametrize(("model", "hidden"), [("tiny", 128), ("tiny-w256", 256)])
def test_tiny_reads_the_built_model(tmp_path, monkeypatch, model, hidden):
    folders = {model: _model(tmp_path, hidden_size=hidden, model_type="qwen2")}
    # no build in a unit test: the named model's folder is given
    monkeypatch.setattr(models, "resolve_model_path", lambda name: str(folders[name]))
    info = lr_rule.model_info(model)
    assert info.hidden_size == hidden and "embedded tiny policy" in info.source


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no/such-model", "unknown model 'no/such-model'"),
        ("{dir_without_config}", "holds no config.json"),
        ("{dir_bad_hidden}", "no positive integer `hidden_size`"),
    ],
)
def test_clear_errors(tmp_path, capsys, model, message):
    (tmp_path / "empty").mkdir()
    _model(tmp_path, model_type="qwen2", hidden_size="wide")
    model = model.format(dir_without_config=tmp_path / "empty", dir_bad_hidden=tmp_path / "model")
    assert lr.main(["--model", model]) == 2
    assert message in capsys.readouterr().err
