"""Example consistency R1 for span extraction (paper 003, Sec. 3.1.1 Eq. 1 and Sec. 3.3.2).

Paper: a QA model predicts two distributions over the sub-words, ``p_start`` and ``p_end``. Subword
sampling and code-switch change the tokenisation, so R1 compares the two views "on unchanged
positions only" (the ratio of modified words is kept small); no R1 under machine translation.

Official code (``XLMRobertaForQuestionAnsweringStable``, ``get_probs``/``KL_probs``): softmax the
start (end) logits over the whole sequence of each view, keep the probabilities of the positions
the augmentation left unchanged plus one bucket holding the summed probability of every other
position, then ``R1 = (KL(sg(P_s)||Q_s) + KL(sg(Q_s)||P_s) + KL(sg(P_e)||Q_e) + KL(sg(Q_e)||P_e))
/ batch size / 2``: summed over all kept elements and both directions, divided by the number of
examples and by 2 (the start/end average), times lambda1 (5.0). The KL itself is
``symmetric_kl`` applied to the bucketed distributions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline_steps.losses.symmetric_kl import symmetric_kl

Positions = torch.Tensor | Sequence[torch.Tensor]


def _kept_mask(length: int, positions: torch.Tensor, name: str) -> torch.Tensor:
    """Bool ``[..., length]``: True at ``positions`` (``[..., K]``), which must be distinct and in range."""
    if positions.dtype != torch.long:
        raise ValueError(f"{name} must be a long tensor, got {positions.dtype}")
    if positions.numel() and (positions.min() < 0 or positions.max() >= length):
        raise ValueError(f"{name} must lie in [0, {length}), got {positions.min()}..{positions.max()}")
    kept = torch.zeros(*positions.shape[:-1], length, dtype=torch.bool, device=positions.device)
    kept.scatter_(-1, positions, True)
    if (kept.sum(-1) != positions.shape[-1]).any():
        raise ValueError(f"{name} repeats a position")
    return kept


def bucketed_log_probs(
    logits: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``[..., K + 1]`` log-probabilities: the softmax of ``logits`` (``[..., L]``) over the sequence at
    ``positions`` (long ``[..., K]``, in that order), then one bucket ``log(1 - sum(kept))``.

    The bucket is the logsumexp of the other positions' log-probabilities (stable for a tiny
    bucket) plus the smallest normal float, so an empty bucket stays finite (and its gradient too)
    and the K + 1 probabilities sum to 1 within that tiny constant. ``valid`` (bool ``[..., L]``)
    restricts the softmax to real tokens, e.g. the attention mask; kept positions must be valid.
    """
    dtype = torch.promote_types(logits.dtype, torch.float32)
    logits = logits.to(dtype)
    kept = _kept_mask(logits.shape[-1], positions, "positions")
    if valid is not None:
        if valid.dtype != torch.bool or valid.shape != logits.shape:
            raise ValueError(f"valid must be bool of shape {tuple(logits.shape)}, got {valid.dtype}")
        if (kept & ~valid).any():
            raise ValueError("a kept position is not valid (padding?)")
        logits = logits.masked_fill(~valid, float("-inf"))
    logp = F.log_softmax(logits, dim=-1)
    others = logp.masked_fill(kept, float("-inf"))
    floor = torch.full((*others.shape[:-1], 1), torch.finfo(dtype).tiny, dtype=dtype, device=logp.device)
    bucket = torch.logsumexp(torch.cat([others, floor.log()], dim=-1), dim=-1, keepdim=True)
    return torch.cat([logp.gather(-1, positions), bucket], dim=-1)


def _groups(
    p_positions: Positions, q_positions: Positions, batch: int
) -> list[tuple[slice, torch.Tensor, torch.Tensor]]:
    """``(rows, p_pos [n, K], q_pos [n, K])`` groups: one for two tensors, else one per row."""
    if len(p_positions) != batch or len(q_positions) != batch:
        raise ValueError(f"positions cover {len(p_positions)} / {len(q_positions)} rows, batch is {batch}")
    if isinstance(p_positions, torch.Tensor) and isinstance(q_positions, torch.Tensor):
        if p_positions.dim() != 2:
            raise ValueError(f"positions must be [batch, K], got {tuple(p_positions.shape)}")
        groups = [(slice(0, batch), p_positions, q_positions)]
    else:
        pairs = zip(p_positions, q_positions, strict=True)
        groups = [(slice(i, i + 1), p[None], q[None]) for i, (p, q) in enumerate(pairs)]
    for _, p, q in groups:
        if p.shape != q.shape:
            raise ValueError(f"p/q positions pair up one to one, got {tuple(p.shape)} vs {tuple(q.shape)}")
    return groups


def _rows(mask: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    return None if mask is None else mask[rows]


def _summed_kls(
    p: torch.Tensor,
    q: torch.Tensor,
    p_pos: torch.Tensor,
    q_pos: torch.Tensor,
    p_valid: torch.Tensor | None,
    q_valid: torch.Tensor | None,
    stop_gradient: bool,
) -> torch.Tensor:
    """Both KL directions summed over the rows of one group (``symmetric_kl`` batchmean x rows)."""
    lp = bucketed_log_probs(p, p_pos, p_valid)
    lq = bucketed_log_probs(q, q_pos, q_valid)
    return symmetric_kl(lp, lq, reduction="batchmean", stop_gradient=stop_gradient) * lp.shape[0]


def span_consistency(
    p_start: torch.Tensor,
    p_end: torch.Tensor,
    q_start: torch.Tensor,
    q_end: torch.Tensor,
    p_positions: Positions,
    q_positions: Positions,
    stop_gradient: bool = True,
    *,
    p_valid: torch.Tensor | None = None,
    q_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """xTune's R1 for span extraction between two differently tokenised views of each example.

    ``p_start``/``p_end``: ``[B, L_p]`` logits of the original view, ``q_start``/``q_end``:
    ``[B, L_q]`` of the augmented one. ``p_positions``/``q_positions``: the sub-word positions present
    in both views, in corresponding order: long ``[B, K]`` tensors, or a list of ``B`` long ``[K_i]``
    tensors when the count varies per row. Returns the summed symmetric KL (stop-gradient on each
    target, ``symmetric_kl``) of the bucketed start and end distributions, divided by ``B`` and 2
    as the official code. ``p_valid``/``q_valid`` (bool ``[B, L]``): optional softmax domain
    (the official code softmaxes over every position, padding included).
    """
    batch = p_start.shape[0]
    if p_start.dim() != 2 or p_end.shape != p_start.shape:
        raise ValueError(f"p_start/p_end must be [B, L_p], got {tuple(p_start.shape)} / {tuple(p_end.shape)}")
    if q_start.dim() != 2 or q_end.shape != q_start.shape or q_start.shape[0] != batch:
        raise ValueError(
            f"q_start/q_end must be [{batch}, L_q], got {tuple(q_start.shape)} / {tuple(q_end.shape)}"
        )
    total = p_start.new_zeros((), dtype=torch.promote_types(p_start.dtype, torch.float32))
    if batch == 0:
        return total
    for rows, p_pos, q_pos in _groups(p_positions, q_positions, batch):
        pv, qv = _rows(p_valid, rows), _rows(q_valid, rows)
        total = total + _summed_kls(p_start[rows], q_start[rows], p_pos, q_pos, pv, qv, stop_gradient)
        total = total + _summed_kls(p_end[rows], q_end[rows], p_pos, q_pos, pv, qv, stop_gradient)
    return total / batch / 2
