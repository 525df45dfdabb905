"""Studies: the sets of comparable GRPO runs (one model, one batch size, one horizon, every other
setting equal), each with its arms and the numbers every verdict, section and figure reads."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from grpo_lora.study.arms import Arm, group_arms, sweep_margin
from grpo_lora.study.curves import smooth_window
from grpo_lora.study.runs import LORA_FORM, Run, setting_groups
from grpo_lora.study.stats import MARGIN


@dataclass
class Study:
    """The numbers of one set of comparable runs (one prompts_per_step), which every verdict,
    section and figure reads; `suffix` and `heading` tell the sets apart in file names and titles
    when the report has more than one."""

    runs: list[Run]
    arms: dict[tuple, Arm]  # (rank, targets) -> arm, LoRA ranks ascending, FullFT last
    window: int  # trailing moving average of reward curves, in steps
    n_steps: int  # the longest run's last step
    main_targets: str | None  # the targets ranks are compared at: "all", else the most run
    suffix: str = ""
    heading: str = ""

    @cached_property
    def margin(self) -> float:
        """The equivalence margin its verdicts are judged against (`sweep_margin`)."""
        return sweep_margin(self.runs)

    @property
    def setup(self) -> tuple[str, int, int]:
        """(model, prompts per step, episodes a run)."""
        r = self.runs[0]
        return r.model, r.pps, r.config.data.group_size * r.pps * self.n_steps

    @property
    def full(self) -> Arm | None:
        """FullFT, when it has a best LR (the reference every gap and ratio needs)."""
        full = self.arms.get(("full", None))
        return full if full is not None and full.best is not None else None

    def arm(self, rank, targets: str | None = None) -> Arm | None:
        """The arm of `rank` and `targets` (a LoRA rank without targets: at the main targets), when
        it has a best LR."""
        a = self.arms.get((rank, targets if rank != "full" else None))
        if a is None and rank != "full" and targets is None:
            a = self.arms.get((rank, self.main_targets))
        return a if a is not None and a.best is not None else None

    @property
    def main_arms(self) -> list[Arm]:
        """FullFT and each LoRA rank at the main targets: the rank comparison."""
        return [a for a in self.arms.values() if a.rank == "full" or a.targets == self.main_targets]

    @property
    def lora_main(self) -> list[Arm]:
        return [a for a in self.main_arms if a.rank != "full"]

    @property
    def multi_target(self) -> dict[int, list[Arm]]:
        """rank -> its arms, for each LoRA rank run with more than one set of targets."""
        by_rank: dict = defaultdict(list)
        for a in self.arms.values():
            if a.rank != "full":
                by_rank[a.rank].append(a)
        return {r: v for r, v in by_rank.items() if len(v) > 1}

    def figure(self, stem: str) -> str:
        """A figure's file name, suffixed when the report holds more than one study."""
        return f"{stem}{self.suffix}.png"


def study_of(runs: list[Run], suffix: str = "", heading: str = "") -> Study:
    arms = group_arms(runs)
    targets = [a.targets for a in arms.values() if a.rank != "full"]
    main = "all" if "all" in targets else max(sorted(set(targets)), key=targets.count, default=None)
    n_steps = max((r.train_steps[-1] for r in runs if r.train_steps), default=0)
    return Study(runs, arms, smooth_window(runs), n_steps, main, suffix, heading)


def common_margin(group) -> float:
    """The margin of claims across studies: the smallest of theirs (`Study.margin`)."""
    return min((s.margin for s in group), default=MARGIN)


# how a study is named by a setting that tells it apart: (file-name part, heading part)
STUDY_NAMES = {
    "model.path": lambda v: (str(v), str(v)),
    "data.prompts_per_step": lambda v: (f"p{v}", f"prompts_per_step = {v}"),
    "schedule.steps": lambda v: (f"s{v}", f"{v} steps"),
}


def studies(runs: list[Run]) -> list[Study]:
    """One study per setting of the GRPO runs (`runs.setting_groups`): runs are only compared on
    one model, at one batch size, over one horizon, with every other setting equal. (`grpo-lora
    sft` runs are `claims`'s.)"""
    groups = setting_groups([r for r in runs if r.command == "train"])
    if len(groups) <= 1:
        return [study_of(g) for g in groups]
    # name a study by the settings that tell it apart (a LoRA run's, with LoRA's form)
    shared = [next((r for r in g if r.rank != "full"), g[0]).settings for g in groups]
    keys = {k for s in shared for k in s}
    varies = [k for k in STUDY_NAMES if _varies(k, shared)]
    varies += sorted(k for k in keys - set(STUDY_NAMES) if _varies(k, shared))

    def named(s: dict) -> tuple[str, str]:
        parts = [
            STUDY_NAMES[k](s.get(k)) if k in STUDY_NAMES else _setting_name(k, s.get(k))
            for k in varies
        ]
        return "".join("_" + a for a, _ in parts), " (" + ", ".join(b for _, b in parts) + ")"

    return [study_of(g, *named(s)) for g, s in zip(groups, shared)]


def _varies(key: str, settings: list[dict]) -> bool:
    """Groups differ on ``key`` (a FullFT-only group has no LoRA form, which tells nothing)."""
    values = {json.dumps(s[key]) for s in settings if key in s}
    return len(values) > 1 or (key not in LORA_FORM and any(key not in s for s in settings))


def _setting_name(key: str, value) -> tuple[str, str]:
    leaf = key.rsplit(".", 1)[-1]
    return "".join(
        c if c.isalnum() or c in ".-" else "-" for c in f"{leaf}{value}"
    ), f"{key} = {value}"
