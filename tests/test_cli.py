"""`grpo-lora`'s one entry: every verb listed with what it does, each served by its module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from grpo_lora import cli


def test_help_lists_every_verb_with_what_it_does():
    out = subprocess.run(
        [sys.executable, "-m", "grpo_lora", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for verb in ("train", "sft", "eval", "sweep", "report", "lr", "tiny"):
        (line,) = [x for x in out.splitlines() if x.split()[:1] == [verb]]
        assert len(line.split()) > 3, line  # the verb, then a description


def test_every_verb_has_its_module_with_a_main():
    for verb in cli.VERBS:
        assert callable(importlib.import_module(f"grpo_lora.commands.{verb}").main), verb


def test_an_unknown_verb_is_exit_2_naming_it(capsys):
    assert cli.main(["trian"]) == 2
    assert "unknown verb 'trian'" in capsys.readouterr().err


def test_a_verb_passes_its_arguments_on(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["eval", "--help"])
    assert e.value.code == 0
    assert "grpo-lora eval" in capsys.readouterr().out
