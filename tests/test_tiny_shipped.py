"""The shipped tiny policies (grpo_lora/tiny/shipped.py): one set of bits on every machine, copied into
the cache instead of built; ``grpo-lora tiny --rebuild`` says whether this CPU gives the same bits."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

import grpo_lora.tiny.build
from grpo_lora import models
from grpo_lora.tiny import TinyRecipe, ensure_tiny, shipped

ROOT = Path(__file__).resolve().parents[1]
TAG = TinyRecipe().tag


def study_widths() -> set[int]:
    """128 (``tiny``, the base recipe of every sweep) and each ``tiny-w<N>`` of recipes/study/."""
    text = "".join(p.read_text() for p in (ROOT / "recipes" / "study").glob("*.yaml"))
    return {128} | {int(n) for n in re.findall(r"model\.path:\s*tiny-w(\d+)", text)}


def no_build(*args, **kwargs):
    raise AssertionError("built a tiny policy that ships")


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("GRPO_LORA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(grpo_lora.tiny.build, "build", no_build)
    return tmp_path / "cache"


def test_tiny_and_the_study_widths_ship():
    tags = set(shipped.shipped_tags())
    assert {TinyRecipe(width=w).tag for w in study_widths()} <= tags
    assert TAG in tags


@pytest.mark.parametrize("tag", shipped.shipped_tags())
def test_the_shipped_weights_have_the_sha256_of_their_build_info(tag):
    folder = shipped.SHIPPED_ROOT / tag
    info = shipped.read_info(folder)
    assert shipped.sha256_file(folder / "model.safetensors") == info["weights_sha256"]
    recipe = TinyRecipe(width=info["recipe"]["width"])
    assert info["recipe"] == asdict(recipe) and recipe.tag == tag  # today's recipe, not an old one
    assert {"cpu", "date", "torch", "transformers"} <= set(info["built_on"])
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).is_file()


def test_the_package_data_holds_every_shipped_file():
    """pyproject's package-data: a wheel and `pip install -e .` both carry the weights."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["grpo_lora.tiny"]
    files = [
        p.relative_to(ROOT / "grpo_lora" / "tiny").as_posix()
        for p in shipped.SHIPPED_ROOT.rglob("*")
    ]
    assert files
    for f in files:
        if (ROOT / "grpo_lora" / "tiny" / f).is_file():
            assert any(fnmatch.fnmatch(f, p) for p in patterns), f


def test_tiny_in_an_empty_cache_is_the_shipped_weights_not_a_build(cache):
    want = shipped.read_info(shipped.SHIPPED_ROOT / TAG)["weights_sha256"]
    path = Path(models.resolve_model_path("tiny"))
    assert path == cache / TAG
    assert shipped.sha256_file(path / "model.safetensors") == want
    info = json.loads((path / "build_info.json").read_text())
    assert info["weights_sha256"] == want and "shipped" in info["source"]
    mtime = (path / "build_info.json").stat().st_mtime_ns
    assert models.resolve_model_path("tiny-w128") == str(path)  # copied once
    assert (path / "build_info.json").stat().st_mtime_ns == mtime


def test_the_shipped_folder_loads_in_transformers(cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = ensure_tiny(log=lambda *_: None)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.hidden_size == 128 and not model.config.tie_word_embeddings
    tok = AutoTokenizer.from_pretrained(path)
    probe = "Q: 6-2+8=?\nA: 6-2=4. 4+8=12.\n#### 12"
    assert tok.decode(tok(probe)["input_ids"]) == probe


def test_a_local_build_in_the_cache_gives_way_to_the_shipped_weights(cache):
    """A machine that built its own `tiny` before the weights shipped gets the shipped bits."""
    old = cache / TAG
    old.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"this CPU's own build")
    (old / "build_info.json").write_text(json.dumps({"weights_sha256": "54b922f4c8058f75"}))
    lines: list[str] = []
    path = ensure_tiny(log=lines.append)
    want = shipped.read_info(shipped.SHIPPED_ROOT / TAG)["weights_sha256"]
    assert path == old and shipped.sha256_file(path / "model.safetensors") == want
    assert any("54b922f4c8058f75" in line and "replacing" in line for line in lines)


def test_damaged_shipped_weights_are_an_error_not_a_model(cache, monkeypatch, tmp_path):
    root = tmp_path / "weights"
    shutil.copytree(shipped.SHIPPED_ROOT / TAG, root / TAG)
    (root / TAG / "model.safetensors").write_bytes(b"truncated")
    monkeypatch.setattr(shipped, "SHIPPED_ROOT", root)
    with pytest.raises(RuntimeError, match="damaged install"):
        ensure_tiny(log=lambda *_: None)
    assert not (cache / TAG).exists()


def fake_build(weights: bytes):
    def build(out: Path, recipe, log=print) -> dict:
        shutil.copytree(shipped.SHIPPED_ROOT / recipe.tag, out)
        (out / "model.safetensors").write_bytes(weights)
        return {"weights_sha256": shipped.sha256_file(out / "model.safetensors"), "build_s": 0.0}

    return build


def test_rebuild_says_when_this_cpu_rounds_differently(cache, monkeypatch):
    monkeypatch.setattr(grpo_lora.tiny.build, "build", fake_build(b"other bits"))
    lines: list[str] = []
    path = ensure_tiny(rebuild=True, log=lines.append)
    assert path == cache / f"{TAG}-rebuilt"
    want = shipped.read_info(shipped.SHIPPED_ROOT / TAG)["weights_sha256"]
    got = shipped.sha256_file(path / "model.safetensors")
    (line,) = lines
    assert f"rebuilt: sha256 {got}; the shipped weights are {want}" in line
    assert "this CPU rounds differently" in line and "(built on " in line
    # the named model keeps the shipped bits
    named = Path(models.resolve_model_path("tiny"))
    assert shipped.sha256_file(named / "model.safetensors") == want


def test_rebuild_says_when_it_gives_the_shipped_bits(cache, monkeypatch):
    weights = (shipped.SHIPPED_ROOT / TAG / "model.safetensors").read_bytes()
    monkeypatch.setattr(grpo_lora.tiny.build, "build", fake_build(weights))
    lines: list[str] = []
    ensure_tiny(rebuild=True, log=lines.append)
    assert lines == [
        f"rebuilt: sha256 {shipped.sha256_file(shipped.SHIPPED_ROOT / TAG / 'model.safetensors')}, equal to the shipped bits"
    ]


def test_compare_with_shipped_on_fake_folders(tmp_path):
    built, ship = tmp_path / "built", tmp_path / "shipped"
    for folder, weights in ((built, b"a"), (ship, b"b")):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(weights)
    info = {"weights_sha256": shipped.sha256_file(ship / "model.safetensors")}
    (ship / "build_info.json").write_text(json.dumps({**info, "built_on": {"cpu": "CPU X"}}))
    line = shipped.compare_with_shipped(built, ship)
    assert "(built on CPU X): this CPU rounds differently" in line and str(built) in line
    (built / "model.safetensors").write_bytes(b"b")
    assert shipped.compare_with_shipped(built, ship).endswith("equal to the shipped bits")


def test_a_width_that_does_not_ship_is_still_built(cache, monkeypatch):
    recipe = TinyRecipe(width=32, steps=5, batch=8)
    assert shipped.shipped_folder(recipe.tag) is None
    built = []

    def build(out: Path, recipe, log=print) -> dict:
        built.append(recipe)
        out.mkdir()
        return {}

    monkeypatch.setattr(grpo_lora.tiny.build, "build", build)
    assert ensure_tiny(recipe=recipe) == cache / recipe.tag and built == [recipe]
