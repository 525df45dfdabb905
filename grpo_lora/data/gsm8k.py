"""GSM8K (Cobbe et al. 2021): grade-school word problems, with a 1.3k-problem test split.

Source ``openai/gsm8k``, config ``main``: ``question``, and ``answer``, the worked solution ending
``#### N``, kept whole as the gold. Held out: the source's ``test`` split. Graded by rewards'
gsm8k grader (the number after ``####``), so the answer instruction asks for a final ``#### N``.
"""

from __future__ import annotations

from grpo_lora.data.hub import HubDataset

DATASET = HubDataset(
    name="gsm8k",
    grader="gsm8k",
    hub_id="openai/gsm8k",
    question="question",
    gold="answer",
    configs={"openai/gsm8k": ("main",), "gsm8k": ("main",)},  # and under its old, unprefixed id
)
TASK = DATASET.task()
