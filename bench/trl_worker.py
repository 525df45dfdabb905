"""The TRL side of bench/vs_trl.py: one TRL GRPO run in its own process, timed per step and phase.

    python bench/trl_worker.py SPEC.json    (vs_trl.py writes the spec and launches this)

Writes per-step times and phases to OUT/trl_result.json."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class PhaseTimer:
    """Seconds per named block within the current step; closed into a row at each on_step_end."""

    def __init__(self):
        self.current: dict[str, float] = {}
        self.steps: list[dict] = []
        self.last_end: float | None = None
        self.last_micro_end = 0.0

    def add(self, name: str, seconds: float) -> None:
        self.current[name] = self.current.get(name, 0.0) + seconds

    def close_step(self, now: float) -> None:
        c, step = self.current, now - self.last_end
        generate = c.get("transformers.generate", 0.0)
        reward = c.get("_calculate_rewards", 0.0)
        optimizer = c.get("optimizer", 0.0)
        # training_step = _prepare_inputs (generate, score, advantages) + loss forward + backward
        train = c.get("training_step", 0.0) - c.get("_prepare_inputs", 0.0) + optimizer
        phases = {
            "generate": generate,
            "reward": reward,
            "train": train,
            "optimizer": optimizer,
            "sync": None,  # transformers generate runs on the training weights: nothing to sync
            "other": step - generate - reward - train,
        }
        self.steps.append({"step_s": step, "phases": phases, "completion_len": float("nan")})
        self.current, self.last_end = {}, now


def step_times(timer: PhaseTimer, base):
    """The TrainerCallback that times steps (between on_step_end calls; the first from its begin)
    and the optimizer (end of the last micro-batch's training_step to on_optimizer_step: clip + step)."""

    class StepTimes(base):
        def on_step_begin(self, args, state, control, **kw):
            if timer.last_end is None:
                timer.last_end = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kw):
            timer.add("optimizer", time.perf_counter() - timer.last_micro_end)

        def on_step_end(self, args, state, control, **kw):
            timer.close_step(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            # logging_steps=1: this is the log of the step just closed
            if logs and "completions/mean_length" in logs and timer.steps:
                timer.steps[-1]["completion_len"] = logs["completions/mean_length"]

    return StepTimes()


def lora_config(spec: dict, model):
    """peft's LoraConfig for the spec's LoRA (None for FullFT), on the layers grpo-lora adapts."""
    if spec["lora"] is None:
        return None
    from peft import LoraConfig

    from grpo_lora.policy import target_modules

    lora = spec["lora"]
    return LoraConfig(
        r=lora["rank"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=target_modules(model, lora["targets"]),  # the layers grpo-lora adapts
        task_type="CAUSAL_LM",
    )


def grpo_config(spec: dict):
    """TRL's GRPOConfig doing grpo-lora's step: one generation of P x G, no KL, token-mean loss."""
    import torch
    from trl import GRPOConfig

    n = spec["prompts_per_step"] * spec["group"]
    return GRPOConfig(
        output_dir=str(Path(spec["out"]) / "trl_out"),
        max_steps=spec["steps"],
        num_generations=spec["group"],
        per_device_train_batch_size=spec["micro_batch_seqs"],
        gradient_accumulation_steps=n // spec["micro_batch_seqs"],  # one generation of P x G a step
        max_completion_length=spec["tokens"],
        generation_kwargs={"min_new_tokens": spec["tokens"]} if spec["fixed_length"] else None,
        temperature=spec["temperature"],
        top_p=spec["top_p"],
        learning_rate=spec["lr"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        adam_beta1=spec["betas"][0],
        adam_beta2=spec["betas"][1],
        adam_epsilon=spec["eps"],
        weight_decay=spec["weight_decay"],
        max_grad_norm=spec["grad_clip"] or 0.0,
        beta=0.0,  # no KL, so no reference model (grpo-lora's default)
        loss_type="dapo",  # token-mean aggregation, like grpo-lora's default
        scale_rewards="none",  # mean-centred advantages, like grpo-lora's default
        num_iterations=1,
        shuffle_dataset=False,  # step k sees grpo-lora's step-k prompts
        use_cpu=not torch.cuda.is_available(),
        # TRL's own mixed precision: autocast in the compute dtype, as grpo-lora's model.dtype
        bf16=spec["dtype"] == "bfloat16",
        fp16=spec["dtype"] == "float16",
        gradient_checkpointing=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=spec["seed"],
    )


def trl_worker(spec_path: str) -> None:
    """One TRL GRPO run, in its own process; writes per-step times and phases to trl_result.json."""
    spec = json.loads(Path(spec_path).read_text())
    import torch
    import trl.extras.profiling as profiling
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOTrainer

    import rewards

    timer = PhaseTimer()
    # TRL times its own blocks (generate, rewards, prepare_inputs, ...) but only sends them to wandb/
    # mlflow/trackio; catch them on the way out instead.
    log_metrics = profiling.ProfilingContext._log_metrics

    def record(self, duration: float) -> None:
        timer.add(self.name.split(".", 1)[1], duration)  # drop the class-name prefix
        log_metrics(self, duration)

    profiling.ProfilingContext._log_metrics = record

    class TimedGRPOTrainer(GRPOTrainer):
        def training_step(self, *args, **kwargs):
            t0 = time.perf_counter()
            out = super().training_step(*args, **kwargs)
            timer.last_micro_end = time.perf_counter()
            timer.add("training_step", timer.last_micro_end - t0)
            return out

    def reward(completions, gold, **_):
        return [float(rewards.grade(c, g, "gsm8k").correct) for c, g in zip(completions, gold)]

    # as grpo-lora loads it (grpo_lora/policy.py): a LoRA base in the compute dtype, FullFT's
    # weights in fp32 (a bf16 weight cannot hold an update 1e-4 of its size)
    dtype = getattr(torch, spec["dtype"]) if spec["lora"] else torch.float32
    torch.manual_seed(spec["seed"])
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"], padding_side="left")
    peft_config = lora_config(spec, model)
    args = grpo_config(spec)
    dataset = Dataset.from_dict({"prompt": spec["prompts"], "gold": spec["golds"]})
    trainer = TimedGRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[step_times(timer, TrainerCallback)],
    )
    trainer.train()
    result = {"steps": timer.steps, "torch_threads": torch.get_num_threads()}
    (Path(spec["out"]) / "trl_result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    trl_worker(sys.argv[1])
