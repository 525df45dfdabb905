"""Losses on hand-worked (N=2, T=3) tensors: each value and its gradient w.r.t. logp.

Common batch (float64 so that the hand values hold to 1e-12):

    logp            = [[-1.0, -2.0, -3.0],
                       [-0.5, -1.5,  pad]]
    rho = p/p_smp   = [[ 1.5,  1.0,  0.5],
                       [ 2.0,  0.9,  pad]]      sampler_logp = logp - log(rho)
    mask            = [[1, 1, 1], [1, 1, 0]]    5 real tokens
    adv             = [1.0, -2.0]

The padded slot holds garbage: sampler_logp = -inf and logp = NaN.
"""

import math
import typing

import pytest
import torch
from pydantic import ValidationError

from grpo_lora.rl.losses import (
    LOSSES,
    LossConfig,
    Totals,
    aggregate,
    cispo,
    gspo,
    is_pg,
    kl_k3,
    ppo,
)

F64 = torch.float64
NAN, INF = float("nan"), float("inf")


def batch(pad_logp=NAN, pad_sampler=-INF):
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, pad_logp]], dtype=F64)
    rho = torch.tensor([[1.5, 1.0, 0.5], [2.0, 0.9, 1.0]], dtype=F64)
    sampler = logp - rho.log()
    sampler[1, 2] = pad_sampler
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=F64)
    adv = torch.tensor([1.0, -2.0], dtype=F64)
    return logp.requires_grad_(True), sampler, adv, mask


def run(fn, cfg, **batch_kw):
    logp, sampler, adv, mask = batch(**batch_kw)
    loss, stats = fn(logp, sampler, adv, mask, cfg)
    loss.backward()
    return loss.detach(), logp.grad, stats


def close(actual, expected):
    torch.testing.assert_close(
        torch.as_tensor(actual, dtype=F64), torch.as_tensor(expected, dtype=F64), rtol=0, atol=1e-12
    )


# ---------------------------------------------------------------------------- is_pg

# Per-token -rho*A:  row 0 (A=1): -1.5, -1.0, -0.5        (sum -3.0, mean -1.0 over 3)
#                    row 1 (A=-2): 4.0,  1.8               (sum  5.8, mean  2.9 over 2)
# Per-token gradient before normalising: -rho*A (same numbers).
IS_PG_CASES = [
    # aggregation, constant_norm, loss, gradient
    ("token", None, 2.8 / 5, [[-1.5 / 5, -1 / 5, -0.5 / 5], [4 / 5, 1.8 / 5, 0]]),
    ("sequence", None, (-1.0 + 2.9) / 2, [[-1.5 / 6, -1 / 6, -0.5 / 6], [4 / 4, 1.8 / 4, 0]]),
    ("constant", 4, 2.8 / (2 * 4), [[-1.5 / 8, -1 / 8, -0.5 / 8], [4 / 8, 1.8 / 8, 0]]),
]


@pytest.mark.parametrize("how, norm, loss_val, grad", IS_PG_CASES)
def test_is_pg_value_and_gradient(how, norm, loss_val, grad):
    loss, g, stats = run(is_pg, LossConfig(aggregation=how, constant_norm=norm))
    close(loss, loss_val)
    close(g, grad)
    # ratio stats over the 5 real tokens: mean 5.9/5, max 2, min 0.5; nothing truncated
    assert stats == pytest.approx(
        {
            "loss/pg": loss_val,
            "is/ratio_mean": 1.18,
            "is/ratio_max": 2.0,
            "is/ratio_min": 0.5,
            "is/clip_frac": 0.0,
        }
    )
    assert all(type(v) is float for v in stats.values())


def test_is_pg_truncated_is_cap():
    # C = 1.2: w = min(rho, C) = [[1.2, 1.0, 0.5], [1.2, 0.9]]
    # -w*A = [[-1.2, -1.0, -0.5], [2.4, 1.8]], sum 1.5, token mean 0.3
    loss, g, stats = run(is_pg, LossConfig(is_cap=1.2))
    close(loss, 1.5 / 5)
    close(g, [[-1.2 / 5, -1.0 / 5, -0.5 / 5], [2.4 / 5, 1.8 / 5, 0]])
    assert stats["is/clip_frac"] == pytest.approx(2 / 5)  # rho 1.5 and 2.0 truncated
    # only the tokens above the cap changed; the ones below kept the uncapped gradient
    _, g_uncapped, _ = run(is_pg, LossConfig())
    below = torch.tensor([[False, True, True], [False, True, False]])
    assert torch.equal(g[below], g_uncapped[below])
    assert (g[~below][:2] - g_uncapped[~below][:2]).abs().min() > 0.05


@pytest.mark.parametrize("how, norm", [("token", None), ("sequence", None), ("constant", 7)])
def test_is_pg_on_policy_is_reinforce(how, norm):
    # logp == sampler_logp -> rho = 1, gradient = that of the plain REINFORCE loss -A*logp
    logp, _, adv, mask = batch(pad_logp=0.0)
    cfg = LossConfig(aggregation=how, constant_norm=norm)
    loss, _ = is_pg(logp, logp.detach().clone(), adv, mask, cfg)
    (g_is,) = torch.autograd.grad(loss, logp)
    reinforce = aggregate(-adv[:, None] * logp, mask, how, norm)
    (g_rf,) = torch.autograd.grad(reinforce, logp)
    close(g_is, g_rf)
    # token mean: -A/5 on each real token
    if how == "token":
        close(g_is, [[-0.2, -0.2, -0.2], [0.4, 0.4, 0.0]])


# ---------------------------------------------------------------------------- ppo


def test_ppo_value_and_gradient_token():
    # eps 0.2/0.2: clip to [0.8, 1.2]
    # row 0, A=+1: rho 1.5 -> clipped, min(1.5, 1.2) = 1.2, term -1.2, grad 0
    #              rho 1.0 -> term -1.0, grad -1.0
    #              rho 0.5 -> min(0.5, 0.8) = 0.5 (unclipped branch), term -0.5, grad -0.5
    # row 1, A=-2: rho 2.0 -> min(-4, -2.4) = -4 (unclipped), term 4, grad 4
    #              rho 0.9 -> term 1.8, grad 1.8
    # sum = -1.2 - 1 - 0.5 + 4 + 1.8 = 3.1, token mean 0.62
    loss, g, stats = run(ppo, LossConfig(kind="ppo"))
    close(loss, 3.1 / 5)
    close(g, [[0.0, -1.0 / 5, -0.5 / 5], [4.0 / 5, 1.8 / 5, 0.0]])
    assert stats["is/clip_frac"] == pytest.approx(1 / 5)
    assert stats["is/ratio_max"] == pytest.approx(2.0)


def test_ppo_sequence_and_constant_aggregation():
    # per-token terms as above: row 0 [-1.2, -1.0, -0.5] mean -0.9; row 1 [4, 1.8] mean 2.9
    loss, g, _ = run(ppo, LossConfig(kind="ppo", aggregation="sequence"))
    close(loss, (-0.9 + 2.9) / 2)
    close(g, [[0.0, -1 / 6, -0.5 / 6], [4 / 4, 1.8 / 4, 0.0]])
    loss, g, _ = run(ppo, LossConfig(kind="ppo", aggregation="constant", constant_norm=10))
    close(loss, 3.1 / 20)
    close(g, [[0.0, -1 / 20, -0.5 / 20], [4 / 20, 1.8 / 20, 0.0]])


# One token per sequence; clip range [0.8, 1.2]. Term -min(rho*A, clip(rho)*A), grad d/dlogp.
PPO_BOUNDARY = [
    # rho,  A,   term,  grad (before /6)       why
    (1.19, 1.0, -1.19, -1.19),  # just inside the upper bound: gradient flows
    (1.21, 1.0, -1.20, 0.0),  # just outside, A > 0: clipped, no gradient
    (1.21, -1.0, 1.21, 1.21),  # just outside, A < 0: pessimistic branch is unclipped
    (0.81, -1.0, 0.81, 0.81),  # just inside the lower bound
    (0.79, -1.0, 0.80, 0.0),  # just outside, A < 0: clipped
    (0.79, 1.0, -0.79, -0.79),  # just outside, A > 0: unclipped
]


def boundary_batch(rows):
    rho = torch.tensor([[r[0]] for r in rows], dtype=F64)
    logp = torch.full_like(rho, -1.0).requires_grad_(True)
    adv = torch.tensor([r[1] for r in rows], dtype=F64)
    return logp, logp.detach() - rho.log(), adv, torch.ones_like(rho)


def test_ppo_clip_boundaries():
    logp, sampler, adv, mask = boundary_batch(PPO_BOUNDARY)
    loss, stats = ppo(logp, sampler, adv, mask, LossConfig(kind="ppo"))
    loss.backward()
    close(loss, sum(r[2] for r in PPO_BOUNDARY) / 6)  # = -0.36 / 6
    close(logp.grad[:, 0], [r[3] / 6 for r in PPO_BOUNDARY])
    assert stats["is/clip_frac"] == pytest.approx(2 / 6)


def test_dapo_clip_higher_is_ppo_with_clip_high():
    # DAPO eps_high = 0.28: rho 1.21 with A > 0 is now inside, so its gradient flows;
    # the lower side is unchanged.
    logp, sampler, adv, mask = boundary_batch(PPO_BOUNDARY)
    loss, stats = ppo(logp, sampler, adv, mask, LossConfig(kind="ppo", clip_high=0.28))
    loss.backward()
    close(logp.grad[:, 0], [-1.19 / 6, -1.21 / 6, 1.21 / 6, 0.81 / 6, 0.0, -0.79 / 6])
    assert stats["is/clip_frac"] == pytest.approx(1 / 6)


# ---------------------------------------------------------------------------- gspo


def gspo_batch(adv1):
    # per-token log ratios: row 0 [0.3, -0.3, 0.0] -> mean 0 -> s_0 = 1
    #                       row 1 [ln 2, 0, pad]   -> mean ln2/2 -> s_1 = sqrt(2)
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, NAN]], dtype=F64)
    log_ratio = torch.tensor([[0.3, -0.3, 0.0], [math.log(2), 0.0, 0.0]], dtype=F64)
    sampler = logp - log_ratio
    sampler[1, 2] = -INF
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=F64)
    return logp.requires_grad_(True), sampler, torch.tensor([1.0, adv1], dtype=F64), mask


def test_gspo_sequence_clipped():
    # A = [1, 2], clip [1 - 3e-4, 1 + 4e-4]
    # seq 0: s = 1 inside -> -1 * 1 = -1; ds/dlogp_t = s/|y| = 1/3 -> grad -A*s/3/N = -1/6
    # seq 1: s = sqrt(2) > 1.0004 with A > 0 -> min(2 sqrt2, 2 * 1.0004) = 2.0008, clipped, grad 0
    logp, sampler, adv, mask = gspo_batch(2.0)
    loss, stats = gspo(logp, sampler, adv, mask, LossConfig(kind="gspo"))
    loss.backward()
    close(loss, (-1.0 - 2.0008) / 2)
    close(logp.grad, [[-1 / 6, -1 / 6, -1 / 6], [0.0, 0.0, 0.0]])
    assert stats["is/clip_frac"] == pytest.approx(2 / 5)  # the 2 tokens of sequence 1
    assert stats["is/seq_ratio_max"] == pytest.approx(math.sqrt(2))
    assert stats["is/seq_ratio_min"] == pytest.approx(1.0)
    assert stats["is/ratio_max"] == pytest.approx(2.0)  # token ratios, like every loss


def test_gspo_sequence_unclipped_negative_advantage():
    # seq 1 with A = -2: min(-2 sqrt2, -2 * 1.0004) = -2 sqrt2 (unclipped), term 2 sqrt2
    # grad per real token: -A * s / |y| / N = 2 * sqrt2 / 2 / 2 = sqrt2 / 2
    logp, sampler, adv, mask = gspo_batch(-2.0)
    loss, stats = gspo(logp, sampler, adv, mask, LossConfig(kind="gspo"))
    loss.backward()
    r = math.sqrt(2)
    close(loss, (-1.0 + 2 * r) / 2)
    close(logp.grad, [[-1 / 6, -1 / 6, -1 / 6], [r / 2, r / 2, 0.0]])
    assert stats["is/clip_frac"] == 0.0


def test_gspo_always_averages_per_sequence():
    # A = [1, -2], s = [1, sqrt2]: seq 1 has A < 0 and s > 1 (not clipped below): -(-2) sqrt2
    # per-sequence mean: (-1 + 2 sqrt2) / 2; a token mean would give (3 * -1 + 2 * 2 sqrt2) / 5
    logp, sampler, adv, mask = gspo_batch(-2.0)
    per_sequence = (-1.0 + 2 * math.sqrt(2)) / 2
    for cfg in (
        LossConfig(kind="gspo"),  # aggregation left at its default, "token"
        LossConfig.model_construct(
            **{**LossConfig(kind="gspo").model_dump(), "aggregation": "token"}
        ),
    ):
        loss, _ = gspo(logp, sampler, adv, mask, cfg)
        close(loss.detach(), per_sequence)
    with pytest.raises(ValidationError, match="aggregation"):
        LossConfig(kind="gspo", aggregation="token")


# ---------------------------------------------------------------------------- cispo


def test_cispo_value_and_gradient():
    # eps_high = 0.2: w = min(rho, 1.2) = [[1.2, 1.0, 0.5], [1.2, 0.9]], no lower bound
    # term -w*A*logp: row 0 (A=1, logp -1,-2,-3):    1.2, 2.0, 1.5
    #                 row 1 (A=-2, logp -0.5,-1.5): -1.2, -2.7      sum 0.8, token mean 0.16
    # grad -w*A / 5: [[-0.24, -0.2, -0.1], [0.48, 0.36, 0]]
    cfg = LossConfig(kind="cispo", cispo_clip_high=0.2)
    loss, g, stats = run(cispo, cfg)
    close(loss, 0.8 / 5)
    close(g, [[-0.24, -0.2, -0.1], [0.48, 0.36, 0.0]])
    assert stats["is/clip_frac"] == pytest.approx(2 / 5)
    # rho = 0.5 stays 0.5 (no lower clip), and no token's gradient is zeroed
    assert (g[mask_bool()] != 0).all()
    # same gradient as truncated IS with cap 1 + eps_high
    _, g_tis, _ = run(is_pg, LossConfig(is_cap=1.2))
    close(g, g_tis)


def test_cispo_default_cap_is_four():
    # default eps_high 3.0 -> cap 4.0 > every rho here: gradient = uncapped is_pg gradient
    _, g, stats = run(cispo, LossConfig(kind="cispo"))
    _, g_is, _ = run(is_pg, LossConfig())
    close(g, g_is)
    assert stats["is/clip_frac"] == 0.0


def mask_bool():
    return torch.tensor([[True, True, True], [True, True, False]])


# ---------------------------------------------------------------------------- kl_k3


def test_kl_k3_zero_when_equal():
    logp, _, _, mask = batch(pad_logp=-1.0)
    loss, stats = kl_k3(logp, logp.detach().clone(), mask, LossConfig(kl_beta=0.1))
    (g,) = torch.autograd.grad(loss, logp)
    close(loss.detach(), 0.0)
    close(g, torch.zeros(2, 3))
    assert stats == {"loss/kl": 0.0, "loss/kl_k3": 0.0}


def test_kl_k3_hand_value():
    # d = ref - logp = [ln 2, -ln 2, 0]
    # k3 = e^d - d - 1 = [1 - ln2, ln2 - 1/2, 0], sum = 1/2, token mean 1/6; beta 0.1 -> 1/60
    # grad wrt logp: beta * (1 - e^d) / 3 = [0.1 * -1/3, 0.1 * 0.5/3, 0] = [-1/30, 1/60, 0]
    logp = torch.tensor([[-1.0, -2.0, -3.0]], dtype=F64, requires_grad=True)
    ref = logp.detach() + torch.tensor([[math.log(2), -math.log(2), 0.0]], dtype=F64)
    loss, stats = kl_k3(logp, ref, torch.ones(1, 3), LossConfig(kl_beta=0.1))
    loss.backward()
    close(loss.detach(), 1 / 60)
    close(logp.grad, [[-1 / 30, 1 / 60, 0.0]])
    assert stats["loss/kl"] == pytest.approx(1 / 60)
    assert stats["loss/kl_k3"] == pytest.approx(1 / 6)


def test_kl_k3_sequence_aggregation_and_padding():
    # second sequence: one real token with d = ln 2 (k3 = 1 - ln2), garbage after it
    logp = torch.tensor([[-1.0, -2.0], [-1.0, NAN]], dtype=F64, requires_grad=True)
    ref = torch.tensor([[-1.0, -2.0], [-1.0 + math.log(2), -INF]], dtype=F64)
    mask = torch.tensor([[1, 1], [1, 0]])
    loss, _ = kl_k3(logp, ref, mask, LossConfig(kl_beta=1.0, aggregation="sequence"))
    loss.backward()
    close(loss.detach(), (0.0 + (1 - math.log(2))) / 2)
    close(logp.grad, [[0.0, 0.0], [(1 - 2) / 2, 0.0]])


# ---------------------------------------------------------------------------- padding garbage

ALL_KINDS = [
    (is_pg, LossConfig()),
    (is_pg, LossConfig(is_cap=1.2)),
    (ppo, LossConfig(kind="ppo")),
    (gspo, LossConfig(kind="gspo")),
    (cispo, LossConfig(kind="cispo", cispo_clip_high=0.2)),
]


@pytest.mark.parametrize("fn, cfg", ALL_KINDS)
@pytest.mark.parametrize(
    "pad_logp, pad_sampler", [(NAN, -INF), (INF, NAN), (-INF, INF), (0.0, -1e30)]
)
def test_padding_garbage_contributes_nothing(fn, cfg, pad_logp, pad_sampler):
    clean_loss, clean_g, clean_stats = run(fn, cfg, pad_logp=-1.0, pad_sampler=-1.0)
    loss, g, stats = run(fn, cfg, pad_logp=pad_logp, pad_sampler=pad_sampler)
    assert torch.isfinite(loss) and torch.isfinite(g).all()
    close(loss, clean_loss)
    close(g, clean_g)
    assert g[1, 2] == 0.0
    assert stats == pytest.approx(clean_stats)


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, F64], ids=["bool", "int", "float"])
def test_masks_of_any_dtype_give_the_hand_value(dtype):
    # the is_pg token case above: 2.8 / 5 over the 5 real tokens, whatever the mask's dtype
    logp, sampler, adv, mask = batch()
    loss, _ = is_pg(logp, sampler, adv, mask.to(dtype), LossConfig())
    close(loss.detach(), 2.8 / 5)


def test_fractional_mask_is_refused():
    logp, sampler, adv, mask = batch()
    with pytest.raises(ValueError, match="0 and 1"):
        is_pg(logp, sampler, adv, mask * 0.5, LossConfig())


def test_totals_make_shares_that_add_up():
    # row 0 alone with the step's totals (5 tokens) is its share of the token mean: -3.0 / 5
    logp, sampler, adv, mask = batch()
    share, _ = is_pg(logp[:1], sampler[:1], adv[:1], mask[:1], LossConfig(), Totals(2, 5))
    rest, _ = is_pg(logp[1:], sampler[1:], adv[1:], mask[1:], LossConfig(), Totals(2, 5))
    close(share.detach(), -3.0 / 5)
    close((share + rest).detach(), 2.8 / 5)


# ---------------------------------------------------------------------------- aggregate


def test_aggregate_hand_values():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, NAN]], dtype=F64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    close(aggregate(values, mask, "token"), 15 / 5)
    close(aggregate(values, mask, "sequence"), (2.0 + 4.5) / 2)
    close(aggregate(values, mask, "constant", 5), 15 / (2 * 5))
    with pytest.raises(ValueError, match="constant_norm"):
        aggregate(values, mask, "constant")
    # no real token at all: 0, not NaN
    close(aggregate(values, torch.zeros_like(mask), "token"), 0.0)
    close(aggregate(values, torch.zeros_like(mask), "sequence"), 0.0)


def test_constant_norm_none_raises_in_loss():
    with pytest.raises(ValueError, match="constant_norm"):
        run(is_pg, LossConfig(aggregation="constant"))


# ---------------------------------------------------------------------------- shapes, config


@pytest.mark.parametrize("fn", list(LOSSES.values()))
def test_shape_errors(fn):
    logp, sampler, adv, mask = batch()
    cfg = LossConfig()
    with pytest.raises(ValueError, match="adv_N"):
        fn(logp, sampler, adv[:1], mask, cfg)
    with pytest.raises(ValueError, match="sampler_logp_NT"):
        fn(logp, sampler[:, :2], adv, mask, cfg)
    with pytest.raises(ValueError, match="mask_NT"):
        fn(logp, sampler, adv, mask[0], cfg)
    with pytest.raises(ValueError, match="2-D"):
        fn(logp[0], sampler[0], adv, mask[0], cfg)


def test_losses_registry_matches_config_literal():
    kinds = typing.get_args(LossConfig.model_fields["kind"].annotation)
    assert set(LOSSES) == set(kinds)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"bogus": 1}, "bogus"),  # unknown key
        ({"kind": "reinforce"}, "kind"),  # bad literal
        ({"aggregation": "mean"}, "aggregation"),
        ({"clip_low": -0.1}, "clip_low"),
        ({"clip_high": "wide"}, "clip_high"),
        ({"is_cap": 0.0}, "is_cap"),
        ({"constant_norm": 0}, "constant_norm"),
        ({"kl_beta": -1.0}, "kl_beta"),
        ({"kind": "ppo", "is_cap": 2.0}, "is_cap"),  # truncation is for is_pg only
    ],
)
def test_loss_config_rejects(kwargs, field):
    with pytest.raises(ValidationError) as err:
        LossConfig(**kwargs)
    assert field in str(err.value)


def test_loss_config_defaults_are_the_studys():
    cfg = LossConfig()
    assert (cfg.kind, cfg.aggregation, cfg.is_cap, cfg.kl_beta) == ("is_pg", "token", None, 0.0)
    assert (cfg.gspo_clip_low, cfg.gspo_clip_high) == (3e-4, 4e-4)
    for name, field in LossConfig.model_fields.items():
        assert field.description, f"{name} has no description"
