"""Prompt templates: how a dataset's question becomes the exact text the engine is given.

Three templates:

- ``chat``: the question and the dataset's answer instruction as one user message, rendered with the
  tokenizer's own chat template and the assistant turn opened (``add_generation_prompt=True``). The
  default for instruction-tuned models.
- ``plain``: the question and the instruction as plain text, for base models.
- ``raw``: the question unchanged (the source already holds a full prompt).

The instruction tells the model how to state its final answer in the form the grader of that dataset
extracts first: GSM8K's ``#### N`` line, or ``\\boxed{}`` for MATH and DeepMath.
"""

from __future__ import annotations

INSTRUCTED = ("chat", "plain")  # the templates that carry the answer instruction
TEMPLATES = (*INSTRUCTED, "raw")

# The one place the answer-format instruction lives, per rewards grader (rewards.DATASETS): a
# task's grader binding picks it.
INSTRUCTIONS = {
    "gsm8k": "Solve the problem step by step. End with a line '#### N', N being the final answer.",
    "math": "Solve the problem step by step. Put the final answer in \\boxed{}.",
    "deepmath": "Solve the problem step by step. Put the final answer in \\boxed{}.",
}

# `data.answer_example`: the instruction followed by one filled-in final line, so that a start
# pass@1 measured with it tells a model that cannot state the answer's form from one that cannot
# find the answer (an instruct model may otherwise copy '#### N' literally).
EXAMPLES = {
    "gsm8k": "For example, if the answer is 42, the last line is:\n#### 42",
    "math": "For example, if the answer is 42, end with \\boxed{42}.",
    "deepmath": "For example, if the answer is 42, end with \\boxed{42}.",
}


def check_template(template: str, tokenizer=None, dataset: str = "math") -> None:
    """Raise a one-line ``ValueError`` unless ``template`` can be rendered for ``dataset`` with
    ``tokenizer``; lets a loader fail before it reads any data."""
    if template not in TEMPLATES:
        raise ValueError(
            f"data: unknown prompt template {template!r}; known: {', '.join(TEMPLATES)}"
        )
    if dataset not in INSTRUCTIONS:
        raise ValueError(
            f"data: no answer instruction for dataset {dataset!r}; known: {', '.join(INSTRUCTIONS)}"
        )
    if template == "chat":
        if tokenizer is None:
            raise ValueError(
                "data: prompt template 'chat' needs a tokenizer (or use template='plain')"
            )
        if not getattr(tokenizer, "chat_template", None):
            name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            raise ValueError(
                f"data: prompt template 'chat' needs a tokenizer with a chat template; {name!r} "
                "has none (a base model? use template='plain')"
            )


def format_prompt(
    question: str, template: str, tokenizer=None, dataset: str = "math", example: bool = False
) -> str:
    """The prompt for ``question`` under ``template``; ``dataset`` picks the answer instruction,
    and ``example`` adds a filled-in final answer after it (`EXAMPLES`).

    >>> print(format_prompt("What is 2+3?", "plain", dataset="gsm8k"))
    What is 2+3?
    <BLANKLINE>
    Solve the problem step by step. End with a line '#### N', N being the final answer.
    >>> print(format_prompt("What is 2+3?", "plain", dataset="gsm8k", example=True))
    What is 2+3?
    <BLANKLINE>
    Solve the problem step by step. End with a line '#### N', N being the final answer. For example, if the answer is 42, the last line is:
    #### 42
    >>> format_prompt("What is 2+3?", "raw")
    'What is 2+3?'
    """
    check_template(template, tokenizer, dataset)
    if template == "raw":
        return question
    text = f"{question}\n\n{INSTRUCTIONS[dataset]}"
    if example:
        text += f" {EXAMPLES[dataset]}"
    if template == "plain":
        return text
    messages = [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
