"""Paper 000's pre-training losses: CLISM pointer (clism.py), CACR (cacr.py), protected MLM (mlm.py)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pipeline_steps.losses.cacr import PAIRS, cacr_loss, info_nce, mean_pool
from pipeline_steps.losses.clism import QueHead, clism_loss
from pipeline_steps.losses.mlm import mask_tokens, mlm_loss


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _head(w_s: list[list[float]], w_e: list[list[float]]) -> QueHead:
    head = QueHead(len(w_s)).double()
    with torch.no_grad():
        head.start.weight.copy_(torch.tensor(w_s, dtype=torch.float64))
        head.end.weight.copy_(torch.tensor(w_e, dtype=torch.float64))
    return head


# ---------------------------------------------------------------------------------------------- CLISM

# One sentence, L = 5, d = 2: [QUE] at position 1, answer (2, 3), position 4 is padding.
TOY_HIDDEN = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0], [5.0, 5.0]]
TOY_MASK = [1, 1, 1, 1, 0]
W_S = [[1.0, 0.0], [0.0, 2.0]]  # s_q = W_s x_1 = (0, 2)
W_E = [[0.0, 1.0], [1.0, 0.0]]  # e_q = W_e x_1 = (1, 0)
# start logits x_k . s_q = 0, 2, 2, -2 ; end logits x_k . e_q = 1, 0, 1, 2 (padding excluded)
TOY_START = [0.0, 2.0, 2.0, -2.0]
TOY_END = [1.0, 0.0, 1.0, 2.0]
P_START_2 = math.exp(2) / (math.exp(0) + math.exp(2) + math.exp(2) + math.exp(-2))
P_END_3 = math.exp(2) / (math.exp(1) + math.exp(0) + math.exp(1) + math.exp(2))
TOY_LOSS = -math.log(P_START_2) - math.log(P_END_3)  # ln(15.913) - 2 + ln(13.826) - 2 = 1.3937


def _toy_logits() -> tuple[torch.Tensor, torch.Tensor]:
    head = _head(W_S, W_E)
    hidden = torch.tensor([TOY_HIDDEN], dtype=torch.float64)
    return head(hidden, torch.tensor([0]), torch.tensor([1]), torch.tensor([TOY_MASK]))


def test_pointer_logits_and_loss_match_hand_computation():
    start, end = _toy_logits()
    assert start.shape == end.shape == (1, 5)
    assert start[0, :4].tolist() == pytest.approx(TOY_START, abs=1e-12)
    assert end[0, :4].tolist() == pytest.approx(TOY_END, abs=1e-12)
    assert math.isclose(TOY_LOSS, 1.39369, abs_tol=1e-4)
    loss = clism_loss(start, end, torch.tensor([2]), torch.tensor([3]))
    assert loss.item() == pytest.approx(TOY_LOSS, rel=1e-12)


def test_padding_positions_get_probability_zero():
    start, end = _toy_logits()
    for logits in (start, end):
        assert logits[0, 4].item() == torch.finfo(torch.float64).min
        probs = logits.softmax(-1)
        assert probs[0, 4].item() == 0.0
        assert probs[0, :4].sum().item() == pytest.approx(1.0, rel=1e-12)
    # unmasked, the padding row (5, 5) would dominate: start logit 10 > 2
    head = _head(W_S, W_E)
    hidden = torch.tensor([TOY_HIDDEN], dtype=torch.float64)
    unmasked, _ = head(hidden, torch.tensor([0]), torch.tensor([1]), torch.ones(1, 5))
    assert unmasked[0, 4].item() == pytest.approx(10.0)


def _batch() -> tuple[torch.Tensor, torch.Tensor, QueHead]:
    torch.manual_seed(0)
    head = QueHead(3).double()
    hidden = _random(2, 6, 3, seed=7)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    return hidden, mask, head


# two [QUE]s in sentence 0 (positions 1 and 3), one in sentence 1 (position 2), interleaved
QUE_BATCH, QUE_POS = [0, 1, 0], [1, 2, 3]
ANS_START, ANS_END = [4, 3, 2], [5, 3, 4]
VALID = [6, 4]


def test_all_que_of_a_batch_answered_in_one_call_match_per_que_computation():
    hidden, mask, head = _batch()
    start, end = head(hidden, torch.tensor(QUE_BATCH), torch.tensor(QUE_POS), mask)
    assert start.shape == end.shape == (3, 6)
    expected_loss = 0.0
    for n, (b, p) in enumerate(zip(QUE_BATCH, QUE_POS, strict=True)):
        x = hidden[b, : VALID[b]]
        s_q = head.start.weight @ hidden[b, p]
        e_q = head.end.weight @ hidden[b, p]
        torch.testing.assert_close(start[n, : VALID[b]], x @ s_q, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(end[n, : VALID[b]], x @ e_q, rtol=1e-12, atol=1e-12)
        assert (start[n, VALID[b] :] == torch.finfo(torch.float64).min).all()
        expected_loss += -(x @ s_q).log_softmax(-1)[ANS_START[n]] - (x @ e_q).log_softmax(-1)[ANS_END[n]]
    loss = clism_loss(start, end, torch.tensor(ANS_START), torch.tensor(ANS_END))
    assert loss.item() == pytest.approx(expected_loss.item() / 3, rel=1e-12)


def test_gradient_reaches_w_s_w_e_and_hidden_but_not_padding():
    hidden, mask, head = _batch()
    hidden.requires_grad_()
    start, end = head(hidden, torch.tensor(QUE_BATCH), torch.tensor(QUE_POS), mask)
    clism_loss(start, end, torch.tensor(ANS_START), torch.tensor(ANS_END)).backward()
    assert head.start.weight.grad.abs().sum() > 0
    assert head.end.weight.grad.abs().sum() > 0
    assert (hidden.grad[0].abs().sum(-1) > 0).all()
    assert (hidden.grad[1, :4].abs().sum(-1) > 0).all()
    assert (hidden.grad[1, 4:] == 0).all()  # padding of sentence 1


def test_no_que_gives_zero_loss_connected_to_the_head():
    hidden, mask, head = _batch()
    empty = torch.zeros(0, dtype=torch.long)
    start, end = head(hidden, empty, empty, mask)
    assert start.shape == end.shape == (0, 6)
    loss = clism_loss(start, end, empty, empty)
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(head.start.weight.grad, torch.zeros(3, 3))


def test_one_layer_embedding_toy_updates_only_the_expected_parameters():
    # vocabulary: 0 unused, 1 pad, 2 [CLS], 3 [QUE], 4 [SEP], 5-7 words
    ids = torch.tensor([[2, 3, 4, 5, 6, 4], [2, 5, 3, 4, 7, 1]])
    mask = (ids != 1).long()
    torch.manual_seed(3)
    emb, head, unused = nn.Embedding(8, 4), QueHead(4), nn.Linear(4, 4)
    before = emb.weight.detach().clone()
    opt = torch.optim.SGD([*emb.parameters(), *head.parameters(), *unused.parameters()], lr=0.1)
    que_batch, que_pos = torch.tensor([0, 1]), torch.tensor([1, 2])
    answers = torch.tensor([3, 4])

    def step() -> float:
        opt.zero_grad()
        start, end = head(emb(ids), que_batch, que_pos, mask)
        loss = clism_loss(start, end, answers, answers)
        loss.backward()
        opt.step()
        return loss.item()

    first = step()
    changed = (emb.weight.detach() != before).any(-1)
    assert changed.tolist() == [False, False, True, True, True, True, True, True]  # not unused 0, not pad 1
    assert unused.weight.grad is None and head.start.weight.grad.abs().sum() > 0
    losses = [step() for _ in range(30)]
    assert losses[-1] < first


def test_clism_rejects_mismatched_shapes():
    hidden, mask, head = _batch()
    with pytest.raises(ValueError, match="one length"):
        head(hidden, torch.tensor([0, 1]), torch.tensor([1]), mask)
    with pytest.raises(ValueError, match="answers must be"):
        clism_loss(torch.zeros(2, 6), torch.zeros(2, 6), torch.tensor([1]), torch.tensor([1, 2]))


# ----------------------------------------------------------------------------------------------- CACR


def _cos(u: list[float], v: list[float]) -> float:
    return sum(a * b for a, b in zip(u, v, strict=True)) / (math.hypot(*u) * math.hypot(*v))


def _nce_py(anchor: list[list[float]], positive: list[list[float]], scale: float) -> float:
    """Eq. 7 in plain Python: mean over rows of -log softmax_j(scale * cos(a_i, p_j))[i]."""
    total = 0.0
    for i, a in enumerate(anchor):
        logits = [scale * _cos(a, p) for p in positive]
        total += -logits[i] + math.log(sum(math.exp(z) for z in logits))
    return total / len(anchor)


R_TARGET = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
R_MASKED = [[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]]
R_SOURCE = [[1.0, -1.0], [3.0, 1.0], [0.0, 2.0]]
SCALE = 3.0
R2 = 1 / math.sqrt(2)
# L(r_t, r̂_s): cos rows (1, 0, 1), (0, 1, 0), (1/√2, 1/√2, 1/√2)
T_M = (math.log(2 + math.exp(-SCALE)) + math.log(1 + 2 * math.exp(-SCALE)) + math.log(3)) / 3
# L(r̂_s, r_t): cos rows (1, 0, 1/√2), (0, 1, 1/√2), (1, 0, 1/√2), positive = column i
_ROW01 = math.log(1 + math.exp(-SCALE) + math.exp(SCALE * (R2 - 1)))
M_T = (2 * _ROW01 + math.log(math.exp(SCALE * (1 - R2)) + math.exp(-SCALE * R2) + 1)) / 3


def _t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_plain_python_reference_agrees_with_the_spelled_out_target_masked_terms():
    assert _nce_py(R_TARGET, R_MASKED, SCALE) == pytest.approx(T_M, rel=1e-12)
    assert _nce_py(R_MASKED, R_TARGET, SCALE) == pytest.approx(M_T, rel=1e-12)


def test_cacr_terms_match_hand_computation_literal_directions():
    total, terms = cacr_loss(_t(R_MASKED), _t(R_SOURCE), _t(R_TARGET), scale=SCALE, symmetric=False)
    assert tuple(terms) == PAIRS == ("target_masked", "source_masked", "target_source")
    assert terms["target_masked"].item() == pytest.approx(T_M, rel=1e-12)
    assert terms["source_masked"].item() == pytest.approx(_nce_py(R_SOURCE, R_MASKED, SCALE), rel=1e-12)
    assert terms["target_source"].item() == pytest.approx(_nce_py(R_TARGET, R_SOURCE, SCALE), rel=1e-12)
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-12)


def test_cacr_terms_match_hand_computation_symmetric():
    total, terms = cacr_loss(_t(R_MASKED), _t(R_SOURCE), _t(R_TARGET), scale=SCALE)
    assert terms["target_masked"].item() == pytest.approx((T_M + M_T) / 2, rel=1e-12)
    s_m = (_nce_py(R_SOURCE, R_MASKED, SCALE) + _nce_py(R_MASKED, R_SOURCE, SCALE)) / 2
    t_s = (_nce_py(R_TARGET, R_SOURCE, SCALE) + _nce_py(R_SOURCE, R_TARGET, SCALE)) / 2
    assert terms["source_masked"].item() == pytest.approx(s_m, rel=1e-12)
    assert terms["target_source"].item() == pytest.approx(t_s, rel=1e-12)
    assert total.item() == pytest.approx((T_M + M_T) / 2 + s_m + t_s, rel=1e-12)


def test_scale_multiplies_the_cosines():
    # 1/τ = 20: one row with cos 1 to its positive and 0 to the other candidate
    loss = info_nce(_t([[1.0, 0.0], [0.0, 1.0]]), _t([[1.0, 0.0], [0.0, 1.0]]), scale=20.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-20.0)), rel=1e-9)


def test_symmetric_total_is_invariant_under_every_permutation_of_the_views():
    views = [_random(5, 4, seed=s) for s in (11, 12, 13)]
    reference = cacr_loss(*views)[0].item()
    for perm in itertools.permutations(views):
        assert cacr_loss(*perm)[0].item() == pytest.approx(reference, rel=1e-12)


def test_literal_directions_depend_on_the_order_of_the_views():
    masked, source, target = (_random(5, 4, seed=s) for s in (11, 12, 13))
    literal = cacr_loss(masked, source, target, symmetric=False)[0].item()
    swapped = cacr_loss(target, source, masked, symmetric=False)[0].item()
    assert abs(literal - swapped) > 1e-3


def test_identical_orthogonal_views_beat_shuffled_positives():
    eye = torch.eye(4, dtype=torch.float64)
    aligned = cacr_loss(eye, eye.clone(), eye.clone())[0].item()
    assert aligned == pytest.approx(3 * math.log(1 + 3 * math.exp(-20.0)), rel=1e-9)
    shuffled = cacr_loss(eye, eye.clone(), eye.roll(1, dims=0))[0].item()
    assert shuffled > aligned + 10.0  # two of three pairs now have their positive at cosine 0


def test_batch_of_one_gives_zero():
    total, terms = cacr_loss(_random(1, 4, seed=1), _random(1, 4, seed=2), _random(1, 4, seed=3))
    assert total.item() == 0.0 and all(t.item() == 0.0 for t in terms.values())


def test_cacr_gradient_reaches_every_view():
    views = [_random(3, 4, seed=s).requires_grad_() for s in (1, 2, 3)]
    cacr_loss(*views)[0].backward()
    assert all(v.grad.abs().sum() > 0 for v in views)


def test_mean_pool_averages_only_the_selected_rows():
    hidden = _t([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]).unsqueeze(0).repeat(2, 1, 1)
    hidden[1] = _t([[0.0, 0.0], [6.0, 8.0], [-1.0, -1.0]])
    pooled = mean_pool(hidden, torch.tensor([[1, 1, 0], [0, 1, 0]]))
    assert pooled.tolist() == [[2.0, 3.0], [6.0, 8.0]]


def test_mean_pool_raises_on_an_empty_row_naming_it():
    with pytest.raises(ValueError, match=r"row\(s\) \[1\]"):
        mean_pool(_random(2, 3, 2, seed=0), torch.tensor([[1, 0, 0], [0, 0, 0]]))


# ------------------------------------------------------------------------------------------------ MLM

MASK_ID, LOW = 4, 5


def _mask(ids: torch.Tensor, protected: torch.Tensor, seed: int, vocab: int = 1000, p: float = 0.15):
    gen = torch.Generator().manual_seed(seed)
    return mask_tokens(
        ids, protected, mask_id=MASK_ID, vocab_size=vocab, random_low=LOW, generator=gen, probability=p
    )


@settings(max_examples=150, deadline=None)
@given(
    b=st.integers(1, 6),
    length=st.integers(1, 24),
    data_seed=st.integers(0, 2**31 - 1),
    mask_seed=st.integers(0, 2**31 - 1),
    protect_rate=st.floats(0.0, 1.0),
    probability=st.floats(0.0, 1.0),
)
def test_protected_positions_are_never_changed_nor_labelled(
    b, length, data_seed, mask_seed, protect_rate, probability
):
    g = torch.Generator().manual_seed(data_seed)
    ids = torch.randint(LOW, 60, (b, length), generator=g)
    protected = torch.rand(b, length, generator=g) < protect_rate
    inputs, labels = _mask(ids, protected, mask_seed, vocab=60, p=probability)
    assert torch.equal(inputs[protected], ids[protected])
    assert (labels[protected] == -100).all()
    chosen = labels != -100
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original ids
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions untouched
    if probability == 1.0:
        assert torch.equal(chosen, ~protected)


def test_large_sample_rates_follow_bert():
    ids = torch.randint(LOW, 1000, (200, 200), generator=torch.Generator().manual_seed(5))
    inputs, labels = _mask(ids, torch.zeros(200, 200, dtype=torch.bool), seed=0)
    chosen = labels != -100
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.01)
    n = chosen.sum().item()
    masked = (inputs[chosen] == MASK_ID).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    replaced = ((inputs[chosen] != MASK_ID) & (inputs[chosen] != ids[chosen])).sum().item() / n
    assert masked == pytest.approx(0.8, abs=0.03)
    assert replaced == pytest.approx(0.1, abs=0.03)
    assert kept == pytest.approx(0.1, abs=0.03)


def test_random_replacements_stay_in_random_low_to_vocab_size():
    ids = torch.full((100, 100), 5)
    vocab = 8  # random ids drawn from {5, 6, 7}
    inputs, labels = _mask(ids, torch.zeros(100, 100, dtype=torch.bool), seed=1, vocab=vocab)
    replaced = inputs[(labels != -100) & (inputs != MASK_ID)]
    assert set(replaced.unique().tolist()) == {5, 6, 7}


def test_same_seed_same_output_other_seed_differs():
    ids = torch.randint(LOW, 1000, (8, 30), generator=torch.Generator().manual_seed(2))
    protected = torch.zeros(8, 30, dtype=torch.bool)
    a, b, c = (_mask(ids, protected, seed=s) for s in (3, 3, 4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_mask_tokens_rejects_a_non_bool_protect_mask():
    with pytest.raises(ValueError, match="bool"):
        _mask(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), seed=0)


def test_mlm_loss_equals_cross_entropy_on_full_logits_and_projects_only_labelled_rows():
    hidden = _random(2, 5, 4, seed=9)
    lm_head = nn.Linear(4, 11).double()
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[0, 4], labels[1, 2] = 7, 0, 10
    seen: list[tuple[int, ...]] = []

    def head(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return lm_head(x)

    loss = mlm_loss(hidden, labels, head)
    expected = F.cross_entropy(lm_head(hidden).reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert seen == [(3, 4)]


def test_mlm_loss_without_labels_is_zero_connected_to_hidden():
    hidden = _random(2, 5, 4, seed=9).requires_grad_()
    loss = mlm_loss(hidden, torch.full((2, 5), -100), nn.Linear(4, 11).double())
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.equal(hidden.grad, torch.zeros(2, 5, 4, dtype=torch.float64))
