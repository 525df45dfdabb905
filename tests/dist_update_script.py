"""Run by tests/test_update.py under `accelerate launch --multi_gpu --num_processes 2`: each process
updates on its half of the rows of test_update's batch; rank 0 saves the resulting gradient."""

import sys

import torch
from accelerate import Accelerator
from test_update import advantages, rollouts  # this script runs from tests/

from grpo_lora.config import OptimizerSection
from grpo_lora.policy import load_policy
from grpo_lora.rl.batch import make_batch
from grpo_lora.rl.losses import LossConfig, is_pg
from grpo_lora.rl.update import Objective, Optim, global_totals, update

tiny_path, out = sys.argv[1], sys.argv[2]
accelerator = Accelerator(cpu=True)
rank, world = accelerator.process_index, accelerator.num_processes
torch.manual_seed(0)  # the same initial adapter in both processes
policy = load_policy(tiny_path, rank=1)
optimizer = torch.optim.SGD(policy.trainable_parameters(), lr=0.0)
model, optimizer = accelerator.prepare(policy.model, optimizer)
all_rollouts, adv = rollouts(len(policy.tokenizer)), advantages(8)
half = len(all_rollouts) // world
mine = slice(rank * half, (rank + 1) * half)
batch = make_batch(all_rollouts[mine], adv[mine], 0, global_totals(all_rollouts[mine], accelerator))
settings = OptimizerSection(grad_clip=None, micro_batch_tokens=14 * 2)
update(model, batch, Objective(is_pg, LossConfig(), 1.0), Optim(optimizer, settings, accelerator))
if accelerator.is_main_process:
    grads = [p.grad.detach().clone() for p in policy.trainable_parameters()]
    torch.save({"world": world, "grads": grads}, out)
accelerator.wait_for_everyone()
