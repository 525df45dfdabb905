"""The tiny policy's width knob (grpo_lora/tiny/build.py) and its named models ``tiny-w<N>``."""

from __future__ import annotations

import json

import pytest

import grpo_lora.tiny
from grpo_lora import models
from grpo_lora.tiny import TinyRecipe, ensure_tiny


def test_the_default_keeps_its_recipe_and_tag():
    # the tag names the cache folder: a change would rebuild everyone's `tiny` with other weights
    r = TinyRecipe()
    assert r.tag == "tiny-v2-h128-l2-s800-seed0"
    assert (r.width, r.heads, r.mlp, r.layers, r.steps) == (128, 4, 512, 2, 800)


@pytest.mark.parametrize(("width", "heads", "mlp"), [(32, 1, 128), (64, 2, 256), (256, 8, 1024)])
def test_heads_and_mlp_follow_the_width(width, heads, mlp):
    r = TinyRecipe(width=width)
    assert (r.heads, r.mlp) == (heads, mlp)
    assert f"-h{width}-" in r.tag and r.tag != TinyRecipe().tag


@pytest.fixture
def built_recipes(monkeypatch, tmp_path):
    """Records the recipe each resolve asks for, building nothing."""
    recipes = []

    def ensure(recipe=None, **kwargs):
        recipes.append(recipe)
        return tmp_path / recipe.tag

    monkeypatch.setattr(grpo_lora.tiny, "ensure_tiny", ensure)
    return recipes


@pytest.mark.parametrize("width", [32, 64, 256, 512])
def test_tiny_w_names_a_width(built_recipes, tmp_path, width):
    assert models.resolve_model_path(f"tiny-w{width}") == str(
        tmp_path / f"tiny-v2-h{width}-l2-s800-seed0"
    )
    assert built_recipes == [TinyRecipe(width=width)]


def test_tiny_w128_is_tiny(built_recipes):
    assert models.resolve_model_path("tiny-w128") == models.resolve_model_path("tiny")
    assert built_recipes == [TinyRecipe(), TinyRecipe()]


@pytest.mark.parametrize(
    "name", ["tiny-w48", "tiny-w0", "tiny-w", "tiny-wide", "tiny-w-64", "tiny-w6.4"]
)
def test_a_bad_width_is_a_one_line_error(built_recipes, name):
    with pytest.raises(ValueError, match="positive multiple of 32") as e:
        models.resolve_model_path(name)
    assert f"model.path {name!r}" in str(e.value) and "\n" not in str(e.value)
    assert built_recipes == []


def test_a_small_width_builds_a_model_transformers_loads(monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("GRPO_LORA_CACHE", str(tmp_path))
    recipe = TinyRecipe(width=32, steps=5, batch=8)
    path = ensure_tiny(recipe=recipe, log=lambda *_: None)
    assert path == tmp_path / recipe.tag
    model = AutoModelForCausalLM.from_pretrained(path)
    assert (model.config.hidden_size, model.config.num_attention_heads) == (32, 1)
    assert model.config.intermediate_size == 128
    info = json.loads((path / "build_info.json").read_text())
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["recipe"]["width"] == 32
