"""Model consistency R2 of xTune against a frozen stage-1 teacher (paper 003, Sec. 3.1.2, Eq. 2).

Paper: stage 1 fine-tunes ``theta*`` (with R1, Sec. 3.1.3 Eq. 3); stage 2 keeps ``theta*`` fixed
and adds ``R2 = sum_{x in D_A} KL(f(x; theta*) || f(x; theta))`` to the loss with weight lambda2
(Eq. 4). The teacher is the fixed distribution; only the student gets gradients.

Official code (``*Stable`` models in ``src/transformers/modeling_xlm_roberta.py``): the student
restarts from the pretrained model, the stage-1 best checkpoint is the teacher, and R2 is taken on
the augmented rows only (``is_augmented``). Soft R2 (classification, POS, QA) is
``F.kl_div(log_softmax(student), softmax(teacher).detach())`` with ``reduction='mean'`` (summed KL
over N x C elements); NER uses hard labels: cross-entropy of the student against the teacher's
argmax, averaged over the selected positions (each word's first sub-word).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.symmetric_kl import REDUCTIONS, _kl_terms, _select


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module`` as an R2 teacher, in place: eval mode (no dropout, BatchNorm statistics
    fixed) and ``requires_grad=False`` on every parameter, so its outputs carry no graph and an
    optimiser that is (wrongly) handed its parameters skips them (their ``.grad`` stays None).

    Keep the teacher outside the student's module tree: a parent's ``.train()`` would switch it
    back to training mode. Run its forward under ``torch.no_grad()`` to save memory.
    """
    module.eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def _row_mask(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``rows`` (bool, ``[batch]``) broadcast over the positions ``logits.shape[:-1]``."""
    lead = logits.shape[:-1]
    if rows.dtype != torch.bool or rows.dim() != 1 or len(lead) == 0 or rows.shape[0] != lead[0]:
        raise ValueError(
            f"rows must be a 1-d bool tensor over the batch, got {rows.dtype} {tuple(rows.shape)} "
            f"for logits {tuple(logits.shape)}"
        )
    return rows.reshape(-1, *([1] * (len(lead) - 1))).expand(lead)


def _selection(
    logits: torch.Tensor, mask: torch.Tensor | None, rows: torch.Tensor | None
) -> torch.Tensor | None:
    """The positions ``mask`` and ``rows`` both select (None: all)."""
    if rows is None:
        return mask
    by_row = _row_mask(logits, rows)
    if mask is None:
        return by_row
    if mask.dtype != torch.bool or mask.shape != by_row.shape:
        raise ValueError(
            f"mask must be bool of shape {tuple(by_row.shape)}, got {mask.dtype} {tuple(mask.shape)}"
        )
    return by_row & mask


def model_consistency(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    hard: bool = False,
    reduction: str = "mean",
    *,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """xTune's R2: ``KL(teacher || student)`` over the last dimension, the teacher detached.

    ``student_logits``/``teacher_logits``: ``[..., C]`` logits of the same inputs. ``mask`` (bool,
    ``logits.shape[:-1]``) selects positions, e.g. ``first_subword_mask`` for tagging; ``rows``
    (bool, ``[batch]``, e.g. ``is_augmented``) keeps only those batch rows, which restricts R2 to the
    augmented rows as the official code does (it is AND-ed with ``mask``; None keeps every row).
    ``hard=False``: ``reduction='mean'`` divides the summed KL by N x C (official), ``'batchmean'``
    by N. ``hard=True`` (NER): cross-entropy against ``teacher.argmax(-1)``, a per-position loss
    averaged over the N selected positions under either reduction. Computed in float32 or wider;
    no selected position gives 0.
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"shapes differ: student {tuple(student_logits.shape)} vs teacher {tuple(teacher_logits.shape)}"
        )
    selected = _selection(student_logits, mask, rows)
    student = _select(student_logits, selected, "mask")
    teacher = _select(teacher_logits.detach(), selected, "mask")
    dtype = torch.promote_types(torch.promote_types(student.dtype, teacher.dtype), torch.float32)
    if student.shape[0] == 0:
        return student_logits.new_zeros((), dtype=dtype)
    student = student.to(dtype)
    if hard:
        return F.cross_entropy(student, teacher.argmax(dim=-1))
    total = _kl_terms(F.log_softmax(teacher.to(dtype), dim=-1), F.log_softmax(student, dim=-1)).sum()
    n, c = student.shape
    return total / (n * c) if reduction == "mean" else total / n
