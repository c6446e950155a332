"""Example consistency R1 of xTune: a symmetric KL with stop-gradient (paper 003, Sec. 3.1.1, Eq. 1).

Paper: ``R1 = sum_x KLS(f(x) || f(A(x)))`` with ``KLS(P, Q) = KL(sg(P) || Q) + KL(sg(Q) || P)``,
``sg`` = ``.detach()``; Sec. 3.3 says where it applies (classification: one distribution per
example; sequence labelling: one per word, on its first sub-word; span extraction: positions left
unchanged by the augmentation). Table 2 ("remove stopgrad in R1") ablates the stop-gradient.

Official code (``KL`` in ``src/transformers/modeling_xlm_roberta.py``): ``KL(input, target) =
F.kl_div(log_softmax(input), softmax(target))`` with the default ``reduction='mean'``, i.e. the
sum of ``KL(softmax(target) || softmax(input))`` over the N selected positions divided by N x C
(C classes); R1 = ``(KL(noised, original.detach()) + KL(original, noised.detach())) * lambda1``,
lambda1 = 5.0. ``'batchmean'`` (sum over classes, mean over positions: the true mean KL) is C times
``'mean'``, so a lambda1 tuned for ``'mean'`` becomes ``lambda1 / C`` under ``'batchmean'``. Both
are computed explicitly here (torch warns that ``F.kl_div``'s ``'mean'`` will turn into ``'batchmean'``).
For span extraction the official code instead softmaxes over the sequence, keeps the unchanged
positions plus one bucket for the rest, and sums KL / batch size / 2; that is not done here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline_steps.errors import ConfigError

REDUCTIONS = ("mean", "batchmean")


def first_subword_mask(labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """True where a label is set (each word's first sub-word); False at ``ignore_index``."""
    return labels != ignore_index


def _select(logits: torch.Tensor, mask: torch.Tensor | None, name: str) -> torch.Tensor:
    """The rows ``[n, C]`` of ``logits`` at the positions ``mask`` selects (all when None)."""
    if mask is None:
        return logits.reshape(-1, logits.shape[-1])
    if mask.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor, got {mask.dtype}")
    if mask.shape != logits.shape[:-1]:
        raise ValueError(
            f"{name} shape {tuple(mask.shape)} != logits' leading shape {tuple(logits.shape[:-1])}"
        )
    return logits[mask]


def _kl_terms(target_logp: torch.Tensor, input_logp: torch.Tensor) -> torch.Tensor:
    """Elementwise ``p_target * (log p_target - log p_input)``, the summands of KL(target || input)."""
    return F.kl_div(input_logp, target_logp, reduction="none", log_target=True)


def symmetric_kl(
    p_logits: torch.Tensor,
    q_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: str = "mean",
    stop_gradient: bool = True,
    *,
    q_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """xTune's R1 between two views: ``KL(sg(P) || Q) + KL(sg(Q) || P)`` over the last dimension.

    ``p_logits``/``q_logits``: ``[..., C]`` logits of the original and augmented views. ``mask``
    (bool, ``p_logits.shape[:-1]``) selects the positions compared, e.g. ``first_subword_mask``;
    it applies to both views unless ``q_mask`` selects the augmented view's own positions (views
    tokenised differently: the k-th selected position of P pairs with the k-th of Q).
    ``reduction``: ``'mean'`` divides the summed KL by N x C as the official code does;
    ``'batchmean'`` by N only (= C x ``'mean'``). ``stop_gradient=False`` lets gradients flow
    through both arguments of both terms (the ablation). Computed in float32 or wider; no
    selected position gives 0.
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
    if p_logits.shape[-1] != q_logits.shape[-1]:
        raise ValueError(f"class counts differ: {p_logits.shape[-1]} vs {q_logits.shape[-1]}")
    if q_mask is None and p_logits.shape != q_logits.shape:
        raise ValueError(f"shapes differ: {tuple(p_logits.shape)} vs {tuple(q_logits.shape)}; pass q_mask")
    p = _select(p_logits, mask, "mask")
    q = _select(q_logits, mask if q_mask is None else q_mask, "q_mask")
    if p.shape[0] != q.shape[0]:
        raise ValueError(f"mask selects {p.shape[0]} positions of P but {q.shape[0]} of Q")
    dtype = torch.promote_types(p.dtype, torch.float32)
    if p.shape[0] == 0:
        return p_logits.new_zeros((), dtype=dtype)
    logp = F.log_softmax(p.to(dtype), dim=-1)
    logq = F.log_softmax(q.to(dtype), dim=-1)
    sg = (lambda t: t.detach()) if stop_gradient else (lambda t: t)
    total = _kl_terms(sg(logp), logq).sum() + _kl_terms(sg(logq), logp).sum()
    n, c = p.shape
    return total / (n * c) if reduction == "mean" else total / n
