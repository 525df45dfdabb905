"""DeepMath-103K (He et al. 2025): hard, decontaminated problems with verifiable final answers.

Source ``zwhe99/DeepMath-103K``, which has a train split only: ``question``, and ``final_answer``
as the gold. Held out: a seeded slice of ``data.heldout_size`` problems removed from train.
Graded by rewards' deepmath grader, so the answer instruction asks for ``\\boxed{}``.
"""

from __future__ import annotations

from grpo_lora.data.hub import HubDataset

DATASET = HubDataset(
    name="deepmath",
    grader="deepmath",
    hub_id="zwhe99/DeepMath-103K",
    question="question",
    gold="final_answer",
)
TASK = DATASET.task()
