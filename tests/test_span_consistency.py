"""xTune's example consistency R1 for span extraction (pipeline_steps/losses/span_consistency.py)."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline_steps.losses.span_consistency import bucketed_log_probs, span_consistency
from pipeline_steps.losses.symmetric_kl import symmetric_kl


def _logits(*probs: list[float]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _long(*rows: list[int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


# Hand example, one example, 4 positions per view, 2 kept: P's positions 0 and 2 are Q's 1 and 2.
P_START, Q_START = [0.1, 0.2, 0.3, 0.4], [0.3, 0.2, 0.3, 0.2]
# bucketed: P = [0.1, 0.3 | 0.6], Q = [0.2, 0.3 | 0.5]
# KL(P||Q) = 0.1 ln 1/2 + 0 + 0.6 ln 1.2;  KL(Q||P) = 0.2 ln 2 + 0 + 0.5 ln 5/6
# sum = 0.1 ln 2 + 0.1 ln 1.2 = 0.1 ln 2.4
P_END, Q_END = [0.4, 0.1, 0.2, 0.3], [0.1, 0.4, 0.2, 0.3]
# bucketed: P = [0.4, 0.2 | 0.4], Q = [0.4, 0.2 | 0.4]: equal although the raw distributions differ
HAND = 0.1 * math.log(2.4) / 1 / 2  # / batch size / 2 = 0.043774


def _hand_views(batch: int = 1) -> tuple[torch.Tensor, ...]:
    views = (_logits(P_START), _logits(P_END), _logits(Q_START), _logits(Q_END))
    return tuple(v.repeat(batch, 1) for v in views)


def test_the_bucket_completes_each_gathered_distribution():
    logits = _random(3, 7, seed=0)
    positions = _long([0, 3, 5], [6, 1, 2], [2, 4, 0])
    logp = bucketed_log_probs(logits, positions)
    assert logp.shape == (3, 4)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    probs = logits.softmax(-1)
    kept = probs.gather(-1, positions)
    torch.testing.assert_close(logp.exp(), torch.cat([kept, 1 - kept.sum(-1, keepdim=True)], -1))
    everything = bucketed_log_probs(logits, torch.arange(7).repeat(3, 1))  # no bucket mass
    assert torch.isfinite(everything).all() and everything[:, -1].exp().max().item() < 1e-300
    torch.testing.assert_close(everything.exp().sum(-1), torch.ones(3, dtype=torch.float64))


def test_hand_example_with_four_positions_two_kept():
    assert math.isclose(HAND, 0.0437735, abs_tol=1e-7)
    p_start, p_end, q_start, q_end = _hand_views()
    bucketed = bucketed_log_probs(p_start, _long([0, 2])).exp()
    torch.testing.assert_close(bucketed, torch.tensor([[0.1, 0.3, 0.6]], dtype=torch.float64))
    got = span_consistency(p_start, p_end, q_start, q_end, _long([0, 2]), _long([1, 2]))
    assert got.item() == pytest.approx(HAND, rel=1e-10)
    two = span_consistency(*_hand_views(2), _long([0, 2], [0, 2]), _long([1, 2], [1, 2]))
    assert two.item() == pytest.approx(HAND, rel=1e-10)  # summed over 2 examples / batch size 2
    as_lists = span_consistency(*_hand_views(2), [_long(0, 2)] * 2, [_long(1, 2)] * 2)
    assert as_lists.item() == pytest.approx(HAND, rel=1e-10)


def test_identical_views_give_zero():
    start, end = _random(2, 6, seed=1), _random(2, 6, seed=2)
    positions = _long([1, 2, 4], [0, 3, 5])
    same = span_consistency(start, end, start.clone(), end.clone(), positions, positions.clone())
    assert same.item() == pytest.approx(0.0, abs=1e-12)
    other = span_consistency(start, end, _random(2, 6, seed=3), end, positions, positions)
    assert other.item() > 1e-3


def _direct_kls(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P||Q) + KL(Q||P) summed over rows, P/Q the softmax over the sequence, written out."""
    pp, qq = p.softmax(-1), q.softmax(-1)
    return (pp * (pp.log() - qq.log())).sum() + (qq * (qq.log() - pp.log())).sum()


def test_all_positions_kept_equals_symmetric_kl_of_start_plus_end():
    p_start, p_end, q_start, q_end = (_random(3, 5, seed=s) for s in (4, 5, 6, 7))
    everything = torch.arange(5).repeat(3, 1)
    got = span_consistency(p_start, p_end, q_start, q_end, everything, everything)
    direct = (_direct_kls(p_start, q_start) + _direct_kls(p_end, q_end)) / 3 / 2
    assert got.item() == pytest.approx(direct.item(), rel=1e-10)
    via = (
        symmetric_kl(p_start, q_start, reduction="batchmean")
        + symmetric_kl(p_end, q_end, reduction="batchmean")
    ) / 2
    assert got.item() == pytest.approx(via.item(), rel=1e-10)
    # the same comparison when Q is tokenised in another order: its positions name the permutation
    order = torch.tensor([3, 0, 4, 1, 2])
    inverse = torch.argsort(order)
    shuffled = span_consistency(
        p_start, p_end, q_start[:, order], q_end[:, order], everything, inverse.repeat(3, 1)
    )
    assert shuffled.item() == pytest.approx(direct.item(), rel=1e-10)
    grad = _grad(lambda p: span_consistency(p, p_end, q_start, q_end, everything, everything), p_start)
    assert torch.isfinite(grad).all() and grad.abs().sum().item() > 1e-6  # empty bucket: no NaN


def _single_term(kept: torch.Tensor, other_logits: torch.Tensor, p_pos, q_pos) -> torch.Tensor:
    """KL(sg(Q_b) || P_b) / batch / 2 for the start distributions, bucketing written out directly."""

    def bucketed(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        gathered = logits.softmax(-1).gather(-1, pos)
        return torch.cat([gathered, 1 - gathered.sum(-1, keepdim=True)], -1)

    p_b, q_b = bucketed(kept, p_pos), bucketed(other_logits, q_pos).detach()
    return (q_b * (q_b.log() - p_b.log())).sum() / kept.shape[0] / 2


def _grad(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    fn(x).backward()
    return x.grad


def test_stop_gradient_leaves_each_side_only_its_own_term():
    p_start, p_end = _random(2, 6, seed=8), _random(2, 6, seed=9)
    q_start, q_end = _random(2, 7, seed=10), _random(2, 7, seed=11)
    p_pos, q_pos = _long([1, 2, 4], [0, 3, 5]), _long([1, 3, 6], [0, 2, 4])

    def loss_of_p(p: torch.Tensor, sg: bool = True) -> torch.Tensor:
        return span_consistency(p, p_end, q_start, q_end, p_pos, q_pos, stop_gradient=sg)

    def loss_of_q(q: torch.Tensor) -> torch.Tensor:
        return span_consistency(p_start, p_end, q, q_end, p_pos, q_pos)

    expected_p = _grad(lambda p: _single_term(p, q_start, p_pos, q_pos), p_start)
    expected_q = _grad(lambda q: _single_term(q, p_start, q_pos, p_pos), q_start)
    torch.testing.assert_close(_grad(loss_of_p, p_start), expected_p, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(_grad(loss_of_q, q_start), expected_q, rtol=1e-9, atol=1e-12)
    no_sg = _grad(lambda p: loss_of_p(p, sg=False), p_start)
    assert not torch.allclose(no_sg, expected_p, rtol=1e-3, atol=1e-6)
    assert loss_of_p(p_start, sg=False).item() == pytest.approx(loss_of_p(p_start).item(), rel=1e-12)


def test_positions_outside_the_kept_set_matter_only_through_the_bucket():
    p_start, p_end, q_start, q_end = (_random(2, 6, seed=s) for s in (12, 13, 14, 15))
    p_pos, q_pos = _long([0, 2], [5, 1]), _long([4, 1], [0, 3])
    loss = span_consistency(p_start, p_end, q_start, q_end, p_pos, q_pos)
    permuted_p, permuted_q = p_start.clone(), q_end.clone()
    permuted_p[0, [1, 3, 4, 5]] = p_start[0, [5, 4, 1, 3]]  # row 0 keeps 0 and 2
    permuted_q[1, [1, 2, 4, 5]] = q_end[1, [4, 5, 2, 1]]  # row 1 keeps 0 and 3
    got = span_consistency(permuted_p, p_end, q_start, permuted_q, p_pos, q_pos)
    assert got.item() == pytest.approx(loss.item(), rel=1e-12)
    grown = p_start.clone()
    grown[0, 3] += 2.0  # more bucket mass: the loss moves
    assert span_consistency(grown, p_end, q_start, q_end, p_pos, q_pos).item() != pytest.approx(
        loss.item(), rel=1e-6
    )


def test_rows_with_different_kept_counts_average_per_example():
    p_start, p_end = _random(2, 6, seed=16), _random(2, 6, seed=17)
    q_start, q_end = _random(2, 8, seed=18), _random(2, 8, seed=19)
    p_pos, q_pos = [_long(0, 2), _long(1, 3, 4)], [_long(3, 5), _long(0, 6, 7)]
    got = span_consistency(p_start, p_end, q_start, q_end, p_pos, q_pos)
    single = [
        span_consistency(p_start[i : i + 1], p_end[i : i + 1], q_start[i : i + 1], q_end[i : i + 1], [a], [b])
        for i, (a, b) in enumerate(zip(p_pos, q_pos, strict=True))
    ]
    assert got.item() == pytest.approx((single[0].item() + single[1].item()) / 2, rel=1e-12)
    assert single[0].item() != pytest.approx(single[1].item(), rel=1e-6)


def test_valid_masks_exclude_padding_from_the_softmax():
    p_start, p_end, q_start, q_end = (_random(2, 5, seed=s) for s in (20, 21, 22, 23))
    p_pos, q_pos = _long([0, 2], [1, 4]), _long([3, 1], [0, 2])
    loss = span_consistency(p_start, p_end, q_start, q_end, p_pos, q_pos)

    def pad(t: torch.Tensor, seed: int) -> torch.Tensor:
        return torch.cat([t, _random(2, 3, seed=seed) + 3.0], -1)

    padded = (pad(p_start, 24), pad(p_end, 25), pad(q_start, 26), pad(q_end, 27))
    valid = torch.cat([torch.ones(2, 5, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool)], -1)
    got = span_consistency(*padded, p_pos, q_pos, p_valid=valid, q_valid=valid)
    assert got.item() == pytest.approx(loss.item(), rel=1e-12)
    assert span_consistency(*padded, p_pos, q_pos).item() != pytest.approx(loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="not valid"):
        span_consistency(*padded, _long([0, 6], [1, 4]), q_pos, p_valid=valid)


def test_bad_positions_raise():
    p, q = _random(2, 5, seed=28), _random(2, 6, seed=29)
    good = _long([0, 1], [2, 3])
    with pytest.raises(ValueError, match="repeats a position"):
        span_consistency(p, p, q, q, _long([0, 0], [2, 3]), good)
    with pytest.raises(ValueError, match=r"must lie in \[0, 5\)"):
        span_consistency(p, p, q, q, _long([0, 5], [2, 3]), good)
    with pytest.raises(ValueError, match="pair up one to one"):
        span_consistency(p, p, q, q, good, _long([0, 1, 2], [2, 3, 4]))
    with pytest.raises(ValueError, match="cover 1 / 2 rows"):
        span_consistency(p, p, q, q, [_long(0)], [_long(0), _long(1)])
    with pytest.raises(ValueError, match="long tensor"):
        span_consistency(p, p, q, q, good.float(), good)
