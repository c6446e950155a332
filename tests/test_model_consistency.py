"""xTune's model consistency R2 and the frozen teacher (pipeline_steps/losses/model_consistency.py)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.model_consistency import freeze, model_consistency
from pipeline_steps.losses.symmetric_kl import first_subword_mask

# Logits = log-probabilities, so softmax gives the probabilities back exactly.
TEACHER = [[1 / 2, 1 / 4, 1 / 4], [0.8, 0.1, 0.1]]
STUDENT = [[1 / 4, 1 / 4, 1 / 2], [0.4, 0.4, 0.2]]
# KL(T||S): row 1 = 1/2 ln 2 + 0 + 1/4 ln 1/2 = 1/4 ln 2
#           row 2 = 0.8 ln 2 + 0.1 ln 1/4 + 0.1 ln 1/2 = 0.5 ln 2
# KL(S||T) (the wrong direction): row 1 = 1/4 ln 2, row 2 = 0.4 ln 1/2 + 0.4 ln 4 + 0.2 ln 2 = 0.6 ln 2
KL_TS = 0.75 * math.log(2)  # 0.519860
KL_ST = 0.85 * math.log(2)


def _logits(probs: list[list[float]]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_soft_toy_example_matches_hand_computation():
    student, teacher = _logits(STUDENT), _logits(TEACHER)
    assert math.isclose(KL_TS, 0.5198604, abs_tol=1e-7)
    mean = model_consistency(student, teacher)
    batchmean = model_consistency(student, teacher, reduction="batchmean")
    assert mean.item() == pytest.approx(KL_TS / 6, rel=1e-12)  # N x C = 2 x 3
    assert batchmean.item() == pytest.approx(KL_TS / 2, rel=1e-12)  # N = 2
    reverse = model_consistency(teacher, student, reduction="batchmean")  # roles swapped
    assert reverse.item() == pytest.approx(KL_ST / 2, rel=1e-12)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_soft_mean_equals_the_official_f_kl_div_formula():
    student, teacher = _random(4, 6, 5, seed=0), _random(4, 6, 5, seed=1)
    official = F.kl_div(F.log_softmax(student.view(-1, 5), -1), F.softmax(teacher.view(-1, 5), -1))
    assert model_consistency(student, teacher).item() == pytest.approx(official.item(), rel=1e-12)


def test_zero_when_student_equals_teacher():
    logits = _random(3, 4, 5, seed=2)
    assert model_consistency(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-12)
    assert model_consistency(logits, logits + 2.5, reduction="batchmean").item() == pytest.approx(
        0.0, abs=1e-12
    )
    assert model_consistency(logits, _random(3, 4, 5, seed=3)).item() > 1e-3


@pytest.mark.parametrize("hard", [False, True])
def test_no_gradient_reaches_the_teacher_logits(hard: bool):
    student = _random(3, 4, 5, seed=4).requires_grad_()
    teacher = _random(3, 4, 5, seed=5).requires_grad_()
    model_consistency(student, teacher, hard=hard).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum().item() > 1e-6
    # control: the same teacher tensor does receive a gradient from a loss that does not detach it
    F.kl_div(
        F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True, reduction="sum"
    ).backward()
    assert teacher.grad is not None


@pytest.mark.parametrize("hard", [False, True])
def test_rows_restrict_r2_to_the_augmented_rows(hard: bool):
    student, teacher = _random(3, 4, 5, seed=6), _random(3, 4, 5, seed=7)
    augmented = torch.tensor([True, False, True])
    loss = model_consistency(student, teacher, hard=hard, rows=augmented)
    student2, teacher2 = student.clone(), teacher.clone()
    student2[1] = _random(4, 5, seed=8) * 4
    teacher2[1] = _random(4, 5, seed=9) * 4
    assert model_consistency(student2, teacher2, hard=hard, rows=augmented).item() == pytest.approx(
        loss.item(), rel=1e-12
    )
    assert model_consistency(student2, teacher2, hard=hard).item() != pytest.approx(
        model_consistency(student, teacher, hard=hard).item(), rel=1e-6
    )
    only = model_consistency(student[augmented], teacher[augmented], hard=hard)
    assert loss.item() == pytest.approx(only.item(), rel=1e-12)
    as_mask = augmented[:, None].expand(3, 4)  # the same restriction written as a position mask
    assert model_consistency(student, teacher, as_mask, hard=hard).item() == pytest.approx(
        loss.item(), rel=1e-12
    )


def test_rows_and_first_subword_mask_combine():
    student, teacher = _random(2, 4, 3, seed=10), _random(2, 4, 3, seed=11)
    labels = torch.tensor([[-100, 1, -100, 2], [-100, 0, 2, -100]])
    rows = torch.tensor([False, True])
    got = model_consistency(student, teacher, first_subword_mask(labels), reduction="batchmean", rows=rows)
    expected = model_consistency(student[1, [1, 2]], teacher[1, [1, 2]], reduction="batchmean")
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)


def test_hard_equals_cross_entropy_on_the_teacher_argmax():
    student = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[0.1, 0.9, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    argmax = torch.tensor([1, 0, 2])  # by hand
    e = math.e
    # -log softmax(student)[argmax] per row: lse(2,0,1) - 0, lse(0,1,3) - 0, lse(1,1,0) - 0
    by_hand = (math.log(e**2 + 1 + e) + math.log(1 + e + e**3) + math.log(2 * e + 1)) / 3
    got = model_consistency(student, teacher, hard=True)
    assert got.item() == pytest.approx(F.cross_entropy(student, argmax).item(), rel=1e-12)
    assert got.item() == pytest.approx(by_hand, rel=1e-12)
    assert model_consistency(student, teacher * 7, hard=True).item() == pytest.approx(by_hand, rel=1e-12)
    mask = torch.tensor([True, False, True])
    masked = model_consistency(student, teacher, mask, hard=True, reduction="batchmean")
    assert masked.item() == pytest.approx((math.log(e**2 + 1 + e) + math.log(2 * e + 1)) / 2, rel=1e-12)


def test_nothing_selected_gives_zero_and_bad_arguments_raise():
    student, teacher = _random(2, 3, seed=12), _random(2, 3, seed=13)
    assert model_consistency(student, teacher, rows=torch.tensor([False, False])).item() == 0.0
    with pytest.raises(ConfigError, match="unknown reduction 'sum'"):
        model_consistency(student, teacher, reduction="sum")
    with pytest.raises(ValueError, match="shapes differ"):
        model_consistency(student, _random(3, 3, seed=14))
    with pytest.raises(ValueError, match="rows must be a 1-d bool tensor"):
        model_consistency(student, teacher, rows=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="mask must be bool"):
        model_consistency(student, teacher, torch.ones(3, dtype=torch.bool), rows=torch.tensor([True, True]))


def _tiny(seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))


def _train_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor) -> None:
    # the teacher's parameters are (wrongly) handed to the optimiser too, with weight decay
    params = list(student.parameters()) + list(teacher.parameters())
    optimiser = torch.optim.SGD(params, lr=0.5, momentum=0.9, weight_decay=0.1)
    loss = F.mse_loss(student(x), teacher(x)) + model_consistency(student(x), teacher(x))
    loss.backward()
    optimiser.step()


def test_freeze_keeps_the_teacher_bit_identical_and_in_eval_mode():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    student, teacher = _tiny(1), _tiny(2)
    before = copy.deepcopy(teacher.state_dict())
    assert freeze(teacher) is teacher
    assert not teacher.training and all(not m.training for m in teacher.modules())
    assert all(not p.requires_grad for p in teacher.parameters())
    assert torch.equal(teacher(x), teacher(x))  # dropout off
    _train_step(student, teacher, x)
    assert all(p.grad is None for p in teacher.parameters())
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert any(p.grad is not None for p in student.parameters())


def test_without_freeze_the_same_step_changes_the_teacher():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    student, teacher = _tiny(1), _tiny(2)
    before = copy.deepcopy(teacher.state_dict())
    assert not torch.equal(teacher(x), teacher(x))  # training mode: dropout on
    _train_step(student, teacher, x)
    assert any(not torch.equal(value, before[name]) for name, value in teacher.state_dict().items())
