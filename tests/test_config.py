"""Recipes load and validate; malformed ones stop with one line naming the field (exit code 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from grpo_lora.commands.train import main as train_main
from grpo_lora.config import ConfigError, load_config, parse_overrides

ROOT = Path(__file__).parent.parent
# every training or sweep recipe, GPU ones included (accelerate's own config files aside)
RECIPES = sorted(p for p in ROOT.joinpath("recipes").rglob("*.yaml") if "accelerate" not in p.name)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_validates(path):
    data = yaml.safe_load(path.read_text())
    if data.get("kind") == "sweep":
        from grpo_lora.study.sweep_file import load_sweep

        load_sweep(path)
    else:
        cfg = load_config(path)
        assert (
            cfg.derived()["completions_per_step"] == cfg.data.prompts_per_step * cfg.data.group_size
        )


@pytest.mark.parametrize("path", [p for p in RECIPES if "gpu" in p.parts], ids=lambda p: p.name)
def test_gpu_recipes_dry_run(path, capsys):
    """A GPU recipe checks out here without loading a model or data (no hub access needed)."""
    assert train_main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recipe OK:") and "completions_per_step" in out


def test_recipe_headers_give_the_launch_line():
    for path in RECIPES:
        head = path.read_text().splitlines()[:6]
        assert any(("grpo-lora" in line or "accelerate launch" in line) for line in head), path.name


MALFORMED = [
    # (recipe body, overrides, field the message must name)
    ("lora: {rank: 0}", [], "lora.rank"),
    ("lora: {rank: two}", [], "lora.rank"),
    ("lora: {targets: everything}", [], "lora.targets"),
    ("lora: {alpha: -1}", [], "lora.alpha"),
    ("optimizer: {lr: fast}", [], "optimizer.lr"),
    ("optimizer: {learning_rate: 0.1}", [], "optimizer.learning_rate"),
    ("data: {group_size: 1}", [], "data.group_size"),
    ("data: {name: imagenet}", [], "data.name"),
    ("engine: {kind: tgi}", [], "engine.kind"),
    ("engine: {temperature: 0}", [], "engine.temperature"),
    ("algorithm: {advantage: ppo}", [], "algorithm.advantage"),
    ("algorithm: {loss: {kind: reinforce}}", [], "algorithm.loss.kind"),
    ("schedule: {steps: -3}", [], "schedule.steps"),
    ("schedule: {decay: linear}", [], "schedule.decay"),
    ("modle: {path: tiny}", [], "modle"),
    ("seed: 0", ["lora.rnk=2"], "lora.rnk"),
    ("seed: 0", ["engine.max_lora_rank=1", "lora.rank=4"], "engine.max_lora_rank"),
    ("seed: 0", ["lora.rank"], "lora.rank"),
    ("- just\n- a list", [], "mapping"),
    ("lora: {rank: [1", [], "not valid YAML"),
    # past the 512 problems that every training draw excludes, evaluation would see training ones
    ("seed: 0", ["data.heldout_size=513"], "data.heldout_size"),
    ("seed: 0", ["algorithm.async_rollouts=1", "lora.dropout=0.1"], "lora.dropout"),
]


@pytest.mark.parametrize(("body", "overrides", "field"), MALFORMED)
def test_malformed_recipe_names_the_field(tmp_path, capsys, body, overrides, field):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(body)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(recipe, overrides)
    assert train_main([str(recipe), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err


@pytest.mark.parametrize(
    ("overrides", "suggestion"),
    [
        (["lora.rnk=2"], "did you mean 'lora.rank'?"),
        (["schedul.steps=3"], "did you mean 'schedule'?"),
        (["algorithm.loss.knd=dapo"], "did you mean 'algorithm.loss.kind'?"),
    ],
)
def test_an_unknown_key_names_the_closest_known_one(capsys, overrides, suggestion):
    with pytest.raises(ConfigError, match=re.escape(suggestion)):
        load_config(None, overrides)
    assert train_main(["recipes/tiny_lora_r1.yaml", *overrides]) == 2
    assert suggestion in capsys.readouterr().err


def test_an_unknown_key_far_from_any_names_none():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["optimizer.xyzzy=1"])
    assert str(e.value) == "optimizer.xyzzy: unknown key"


def test_missing_recipe_is_exit_2(capsys, tmp_path):
    assert train_main([str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_overrides_parse_types_and_nesting():
    assert parse_overrides(
        ["lora.rank=full", "optimizer.lr=0.5", "lora.targets=[q_proj, v_proj]"]
    ) == {
        "lora": {"rank": "full", "targets": ["q_proj", "v_proj"]},
        "optimizer": {"lr": 0.5},
    }
    cfg = load_config(None, ["optimizer.lr=3e-4", "lora.rank=4"])
    assert cfg.optimizer.lr == 3e-4 and cfg.lora.rank == 4


def test_derived_quantities_and_divisibility():
    cfg = load_config(None, ["data.prompts_per_step=6", "data.group_size=4", "schedule.steps=10"])
    assert cfg.derived(1) == {
        "completions_per_step": 24,
        "prompts_per_process": 6,
        "max_completion_tokens_per_step": 24 * cfg.engine.max_tokens,
        "episodes_total": 240,
    }
    assert cfg.derived(2)["prompts_per_process"] == 3
    with pytest.raises(ConfigError, match="not divisible by the number of processes 4"):
        cfg.derived(4)
