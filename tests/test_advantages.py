"""Advantages on hand-worked (P=2, G=3) rewards: exact values, not just shapes."""

import doctest
import math

import pytest
import torch

from grpo_lora.rl import advantages
from grpo_lora.rl.advantages import (
    ADVANTAGES,
    dr_grpo,
    grpo,
    mean_centred,
    rloo,
    zero_signal,
)

# Row 0: one success out of three. Row 1: rewards 2, 4, 6.
REWARDS_PG = torch.tensor([[1.0, 0.0, 0.0], [2.0, 4.0, 6.0]], dtype=torch.float64)


def test_mean_centred_hand_values():
    # row 0: mean 1/3 -> [2/3, -1/3, -1/3]; row 1: mean 4 -> [-2, 0, 2]
    expected = torch.tensor([[2 / 3, -1 / 3, -1 / 3], [-2.0, 0.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(mean_centred(REWARDS_PG), expected, rtol=0, atol=1e-12)


def test_grpo_hand_values_population_std():
    # row 0: population std = sqrt(((2/3)^2 + 2 (1/3)^2) / 3) = sqrt(2)/3
    #        A = (2/3) / (sqrt(2)/3) = sqrt(2); (-1/3) / (sqrt(2)/3) = -1/sqrt(2)
    # row 1: population std = sqrt((4 + 0 + 4) / 3) = sqrt(8/3); A = +-2 / sqrt(8/3) = +-sqrt(3/2)
    s2, s32 = math.sqrt(2), math.sqrt(1.5)
    expected = torch.tensor([[s2, -1 / s2, -1 / s2], [-s32, 0.0, s32]], dtype=torch.float64)
    torch.testing.assert_close(grpo(REWARDS_PG, eps=0.0), expected, rtol=0, atol=1e-12)
    # the default eps=1e-6 only perturbs at the 1e-6 relative level
    torch.testing.assert_close(grpo(REWARDS_PG), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("fn", sorted(ADVANTAGES))
@pytest.mark.parametrize("value", [0.7, 0.1, 1 / 3, 2.3e-3])
def test_equal_rewards_give_exactly_zero(fn, value):
    # 0.7 is not exact in binary: 7 x 0.7 in float32 has a mean an ulp off, which std-normalising
    # used to blow up to |A| = 0.056
    rewards = torch.full((2, 7), value, dtype=torch.float32)
    out = ADVANTAGES[fn](rewards)
    assert torch.equal(out, torch.zeros(2, 7)), out


def test_grpo_bessel_matches_trl():
    # TRL: (r - mean) / (torch.std(r) + eps), torch.std Bessel-corrected (G - 1 = 3)
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    sd = math.sqrt(4 * 0.25 / 3)
    expected = torch.tensor([[0.5, -0.5, -0.5, 0.5]], dtype=torch.float64) / (sd + 1e-6)
    torch.testing.assert_close(ADVANTAGES["grpo_bessel"](rewards), expected, rtol=0, atol=1e-12)


def test_rloo_hand_values():
    # row 0: A_0 = 1 - mean(0, 0) = 1; A_1 = 0 - mean(1, 0) = -0.5; A_2 = -0.5
    # row 1: A = 2 - 5 = -3, 4 - 4 = 0, 6 - 3 = 3   (= G/(G-1) * mean_centred = 1.5 * [-2, 0, 2])
    expected = torch.tensor([[1.0, -0.5, -0.5], [-3.0, 0.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(rloo(REWARDS_PG), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(rloo(REWARDS_PG), 1.5 * mean_centred(REWARDS_PG))


def test_rloo_needs_two_completions():
    with pytest.raises(ValueError, match="G >= 2"):
        rloo(torch.tensor([[1.0], [0.0]]))


def test_dr_grpo_is_mean_centring():
    torch.testing.assert_close(dr_grpo(REWARDS_PG), mean_centred(REWARDS_PG), rtol=0, atol=0)


def test_zero_signal():
    rewards_PG = torch.tensor(
        [
            [1.0, 1.0, 1.0],  # all right -> no signal
            [0.0, 1.0, 0.0],  # mixed -> signal
            [0.0, 0.0, 0.0],  # all wrong -> no signal
            [0.3, 0.3, 0.30001],  # almost equal is still signal (exact comparison)
        ]
    )
    assert zero_signal(rewards_PG).tolist() == [True, False, True, False]
    assert zero_signal(rewards_PG).dtype == torch.bool
    # and every advantage is exactly 0 on the zero-signal rows
    for name, fn in ADVANTAGES.items():
        out = fn(rewards_PG)
        assert torch.equal(out[[0, 2]], torch.zeros(2, 3)), name


def test_integer_and_bool_rewards_become_float():
    out = mean_centred(torch.tensor([[1, 0], [1, 1]]))
    assert out.is_floating_point()
    torch.testing.assert_close(out, torch.tensor([[0.5, -0.5], [0.0, 0.0]]))
    assert zero_signal(torch.tensor([[True, True], [True, False]])).tolist() == [True, False]


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
@pytest.mark.parametrize("shape", [(6,), (2, 3, 1), ()])
def test_shape_errors(name, shape):
    with pytest.raises(ValueError, match="2-D"):
        ADVANTAGES[name](torch.zeros(shape))


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_non_finite_rewards_rejected(name):
    with pytest.raises(ValueError, match="non-finite"):
        ADVANTAGES[name](torch.tensor([[1.0, float("nan")]]))


def test_registry():
    assert set(ADVANTAGES) == {"mean_centred", "grpo", "grpo_bessel", "rloo", "dr_grpo"}
    assert ADVANTAGES["mean_centred"] is mean_centred
    out = ADVANTAGES["grpo"](REWARDS_PG)
    assert out.shape == REWARDS_PG.shape


def test_doctests():
    failures, attempted = doctest.testmod(advantages, verbose=False)
    assert failures == 0
    assert attempted >= 4  # mean_centred, grpo, rloo, zero_signal each show one


def test_advantages_registry_matches_config_literal():
    from typing import get_args

    from grpo_lora.config import AlgorithmSection

    names = get_args(AlgorithmSection.model_fields["advantage"].annotation)
    assert set(advantages.ADVANTAGES) == set(names)
