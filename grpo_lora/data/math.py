"""MATH (Hendrycks et al. 2021): competition problems in seven subjects, held out on MATH-500.

Source ``EleutherAI/hendrycks_math``, one config per subject, all loaded and concatenated:
``problem``, and ``solution``, the worked solution with the answer in ``\\boxed{}``, kept whole as
the gold. Held out, with the default source: MATH-500 (Lightman et al. 2023), 500 problems of
MATH's test split, so disjoint from train. Graded by rewards' math grader (the last ``\\boxed{}``).
"""

from __future__ import annotations

from grpo_lora.data.hub import HubDataset

SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)

DATASET = HubDataset(
    name="math",
    grader="math",
    hub_id="EleutherAI/hendrycks_math",
    question="problem",
    gold="solution",
    configs={"EleutherAI/hendrycks_math": SUBJECTS},
    default_heldout="HuggingFaceH4/MATH-500",
)
TASK = DATASET.task()
