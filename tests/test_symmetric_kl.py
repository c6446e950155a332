"""xTune's example consistency R1 (pipeline_steps/losses/symmetric_kl.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.symmetric_kl import first_subword_mask, symmetric_kl

# Logits = log-probabilities, so softmax gives the probabilities back exactly.
P = [[1 / 2, 1 / 4, 1 / 4], [0.2, 0.3, 0.5]]
Q = [[1 / 4, 1 / 2, 1 / 4], [0.5, 0.3, 0.2]]
# Position 1: KL(P||Q) = 1/2 ln 2 + 1/4 ln 1/2 + 0 = 1/4 ln 2
#             KL(Q||P) = 1/4 ln 1/2 + 1/2 ln 2 + 0 = 1/4 ln 2
# Position 2: KL(P||Q) = 0.2 ln 0.4 + 0 + 0.5 ln 2.5 = 0.3 ln 2.5
#             KL(Q||P) = 0.5 ln 2.5 + 0 + 0.2 ln 0.4 = 0.3 ln 2.5
TOTAL = 0.5 * math.log(2) + 0.6 * math.log(2.5)  # 0.346574 + 0.549774 = 0.896348


def _logits(probs: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_toy_example_matches_hand_computation_for_both_reductions():
    p, q = _logits(P), _logits(Q)
    mean = symmetric_kl(p, q, reduction="mean")
    batchmean = symmetric_kl(p, q, reduction="batchmean")
    assert math.isclose(TOTAL, 0.8963480, abs_tol=1e-7)
    assert mean.item() == pytest.approx(TOTAL / 6, rel=1e-12)  # N x C = 2 x 3 elements
    assert batchmean.item() == pytest.approx(TOTAL / 2, rel=1e-12)  # N = 2 positions
    assert (batchmean / mean).item() == pytest.approx(3.0, rel=1e-12)


def test_reductions_differ_by_the_class_count_on_random_logits():
    p, q = _random(4, 7, 5, seed=0), _random(4, 7, 5, seed=1)
    ratio = symmetric_kl(p, q, reduction="batchmean") / symmetric_kl(p, q, reduction="mean")
    assert ratio.item() == pytest.approx(5.0, rel=1e-12)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_mean_equals_the_official_f_kl_div_formula():
    p, q = _random(6, 5, seed=18), _random(6, 5, seed=19)
    # KL(noised, original.detach()) + KL(original, noised.detach()),
    # KL(a, b) = kl_div(log_softmax(a), softmax(b)) with its default reduction 'mean'
    official = F.kl_div(F.log_softmax(q, -1), F.softmax(p, -1)) + F.kl_div(
        F.log_softmax(p, -1), F.softmax(q, -1)
    )
    assert symmetric_kl(p, q, reduction="mean").item() == pytest.approx(official.item(), rel=1e-12)


def test_symmetric_in_its_arguments():
    p, q = _random(3, 4, seed=2), _random(3, 4, seed=3)
    assert symmetric_kl(p, q).item() == pytest.approx(symmetric_kl(q, p).item(), rel=1e-12)


def test_zero_for_identical_distributions():
    p = _random(3, 6, 4, seed=4)
    assert symmetric_kl(p, p.clone()).item() == pytest.approx(0.0, abs=1e-12)
    shifted = p + _random(3, 6, 1, seed=5)  # per-position shift: same softmax, different logits
    assert symmetric_kl(p, shifted, reduction="batchmean").item() == pytest.approx(0.0, abs=1e-12)
    assert symmetric_kl(p, _random(3, 6, 4, seed=6)).item() > 1e-3


def _sg_q_term(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(sg(Q) || P) alone, 'mean' reduction, written out independently."""
    q = torch.softmax(q_logits, dim=-1).detach()
    return (q * (q.log() - torch.log_softmax(p_logits, dim=-1))).sum() / q.numel()


def _grads(loss_fn, p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, q = p.clone().requires_grad_(), q.clone().requires_grad_()
    loss_fn(p, q).backward()
    return p.grad, q.grad


def test_stop_gradient_leaves_p_only_the_kl_sg_q_p_term():
    p, q = _random(5, 4, seed=7), _random(5, 4, seed=8)
    gp, gq = _grads(symmetric_kl, p, q)
    term_gp, _ = _grads(_sg_q_term, p, q)
    _, mirror_gq = _grads(lambda a, b: _sg_q_term(b, a), p, q)  # KL(sg(P) || Q) for Q
    torch.testing.assert_close(gp, term_gp, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gq, mirror_gq, rtol=1e-10, atol=1e-12)


def test_without_stop_gradient_both_terms_reach_p():
    p, q = _random(5, 4, seed=7), _random(5, 4, seed=8)
    gp, _ = _grads(lambda a, b: symmetric_kl(a, b, stop_gradient=False), p, q)
    term_gp, _ = _grads(_sg_q_term, p, q)
    assert not torch.allclose(gp, term_gp, rtol=1e-3, atol=1e-6)
    sg_value = symmetric_kl(p, q).item()
    assert symmetric_kl(p, q, stop_gradient=False).item() == pytest.approx(sg_value, rel=1e-12)


def test_mask_excludes_positions():
    p, q = _random(2, 3, 4, seed=9), _random(2, 3, 4, seed=10)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    loss = symmetric_kl(p, q, mask)
    p2, q2 = p.clone(), q.clone()
    p2[0, 1] += _random(4, seed=11) * 5
    q2[1, 0] -= _random(4, seed=12) * 5
    assert symmetric_kl(p2, q2, mask).item() == pytest.approx(loss.item(), rel=1e-12)
    assert symmetric_kl(p2, q2).item() != pytest.approx(symmetric_kl(p, q).item(), rel=1e-6)
    assert loss.item() == pytest.approx(symmetric_kl(p[mask], q[mask]).item(), rel=1e-12)
    p2[0, 0, 0] += 1.0  # a selected position does count (one class: the softmax changes)
    assert symmetric_kl(p2, q2, mask).item() != pytest.approx(loss.item(), rel=1e-6)


def test_q_mask_pairs_the_selected_positions_of_differently_tokenised_views():
    p, q = _random(1, 4, 3, seed=13), _random(1, 6, 3, seed=14)
    p_mask = torch.tensor([[False, True, False, True]])
    q_mask = torch.tensor([[False, False, True, False, False, True]])
    expected = symmetric_kl(p[0, [1, 3]], q[0, [2, 5]], reduction="batchmean")
    got = symmetric_kl(p, q, p_mask, reduction="batchmean", q_mask=q_mask)
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)
    with pytest.raises(ValueError, match="selects 2 positions of P but 1 of Q"):
        symmetric_kl(p, q, p_mask, q_mask=torch.tensor([[False, False, True, False, False, False]]))


def test_nothing_selected_gives_zero_and_bad_arguments_raise():
    p, q = _random(2, 3, seed=15), _random(2, 3, seed=16)
    assert symmetric_kl(p, q, torch.zeros(2, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ConfigError, match="unknown reduction 'sum'"):
        symmetric_kl(p, q, reduction="sum")
    with pytest.raises(ValueError, match="bool tensor"):
        symmetric_kl(p, q, torch.ones(2))
    with pytest.raises(ValueError, match="shapes differ"):
        symmetric_kl(p, _random(3, 3, seed=17))


def test_first_subword_mask_on_a_hand_example():
    # "Peter lives in Berlin" -> [CLS] _Pe ter _lives _in _Ber lin [SEP]; labels on first sub-words.
    labels = torch.tensor([[-100, 1, -100, 0, 0, 3, -100, -100], [-100, 0, 5, -100, -100, -100, -100, -100]])
    expected = torch.tensor(
        [[False, True, False, True, True, True, False, False], [False, True, True] + [False] * 5]
    )
    assert torch.equal(first_subword_mask(labels), expected)
    assert torch.equal(
        first_subword_mask(torch.tensor([7, -1, 0]), ignore_index=-1), torch.tensor([True, False, True])
    )
