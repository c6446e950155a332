"""CLISM pointer loss of paper 000 (Chen et al., NAACL 2022, Sec. 3.1, Eq. 1-4).

Input ``X = [CLS] masked-source [SEP] target [SEP]``: each selected English entity span of the
source was replaced by one ``[QUE]`` token, whose answer is the (start, end) sub-word position of
the aligned span in the target. From the representation ``x_q`` of a ``[QUE]``: ``s_q = W_s x_q``,
``e_q = W_e x_q`` (Eq. 1); ``P(s = k) = softmax_k(x_k^T s_q)``, ``P(e = k) = softmax_k(x_k^T e_q)``
over the tokens of X (Eq. 2-3); ``L = -log P(s = a_s) - log P(e = a_e)`` (Eq. 4).

Choices the paper leaves open:

* Eq. 1 has no bias; ``W_s`` and ``W_e`` are ``d x d`` linear maps without bias.
* Candidate positions: Eq. 2-3 sum over every token of X (``[CLS]``, the masked source, the
  ``[QUE]`` tokens, ``[SEP]``, the target); the paper is silent on restricting them to the target,
  where the answers lie. We keep every non-padding position; a caller that wants the target only
  passes a narrower mask as ``attention_mask`` of ``QueHead.forward`` (0 = excluded).
* Reduction: Eq. 4 is the term of one ``[QUE]``; we average it over all ``[QUE]``s of the batch
  (not per sentence first), so sentences with more entities weigh more.
* The loss is computed in float32 or wider; excluded positions get the dtype's minimum logit, so
  their probability is exactly 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _rank_within_example(que_batch: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, int]:
    """Index of each ``[QUE]`` among those of its example (in input order), and the largest count."""
    n = que_batch.shape[0]
    if n == 0:
        return que_batch.clone(), 0
    counts = torch.bincount(que_batch, minlength=batch_size)
    starts = torch.cumsum(counts, 0) - counts
    order = torch.argsort(que_batch, stable=True)
    rank = torch.empty_like(que_batch)
    rank[order] = torch.arange(n, device=que_batch.device) - starts[que_batch[order]]
    return rank, int(counts.max())


class QueHead(nn.Module):
    """The start/end pointer of CLISM: ``W_s`` (``start``) and ``W_e`` (``end``) of Eq. 1."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.start = nn.Linear(hidden_size, hidden_size, bias=False)
        self.end = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(
        self,
        hidden: torch.Tensor,
        que_batch: torch.Tensor,
        que_pos: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits ``[N, L]`` of the N ``[QUE]`` tokens at ``(que_batch, que_pos)``.

        ``hidden``: ``[B, L, d]`` encoder output; ``attention_mask``: ``[B, L]``, positions with 0
        get the dtype's minimum logit. Row n scores every position k of example ``que_batch[n]``
        with ``x_k^T s_q`` / ``x_k^T e_q`` (Eq. 2-3 before the softmax). All ``[QUE]``s are scored
        in one batched matmul: their vectors are laid out ``[B, Q_max, 2d]`` per example.
        """
        if hidden.dim() != 3:
            raise ValueError(f"hidden must be [B, L, d], got shape {tuple(hidden.shape)}")
        if que_batch.dim() != 1 or que_batch.shape != que_pos.shape:
            raise ValueError(
                f"que_batch and que_pos must be 1-D of one length, got {tuple(que_batch.shape)} "
                f"and {tuple(que_pos.shape)}"
            )
        if attention_mask.shape != hidden.shape[:2]:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} != hidden's [B, L] "
                f"{tuple(hidden.shape[:2])}"
            )
        b, length, d = hidden.shape
        x_q = hidden[que_batch, que_pos]  # [N, d]
        vectors = torch.cat([self.start(x_q), self.end(x_q)], dim=-1)  # [N, 2d]: s_q | e_q (Eq. 1)
        rank, q_max = _rank_within_example(que_batch, b)
        laid_out = hidden.new_zeros(b, q_max, 2 * d).index_put((que_batch, rank), vectors)
        # [B, L, d] x [B, d, 2 Q_max] -> [B, L, 2 Q_max]: x_k^T s_q and x_k^T e_q for every k
        scores = torch.bmm(hidden, laid_out.view(b, 2 * q_max, d).transpose(1, 2))
        scores = scores.view(b, length, q_max, 2)[que_batch, :, rank]  # [N, L, 2]
        excluded = (attention_mask[que_batch] == 0).unsqueeze(-1)
        scores = scores.masked_fill(excluded, torch.finfo(scores.dtype).min)
        return scores[..., 0], scores[..., 1]


def clism_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    answer_start: torch.Tensor,
    answer_end: torch.Tensor,
) -> torch.Tensor:
    """Eq. 4, ``-log P(s = a_s) - log P(e = a_e)``, averaged over the N ``[QUE]``s.

    ``start_logits``/``end_logits``: ``[N, L]`` from ``QueHead``; ``answer_start``/``answer_end``:
    ``[N]`` positions in X of the first and last sub-word of each aligned target span. N = 0 gives
    a zero still connected to the logits' graph (``backward`` works and yields zero gradients).
    """
    if start_logits.shape != end_logits.shape or start_logits.dim() != 2:
        raise ValueError(
            f"start/end logits must both be [N, L], got {tuple(start_logits.shape)} and "
            f"{tuple(end_logits.shape)}"
        )
    n = start_logits.shape[0]
    if answer_start.shape != (n,) or answer_end.shape != (n,):
        raise ValueError(
            f"answers must be [{n}], got {tuple(answer_start.shape)} and {tuple(answer_end.shape)}"
        )
    dtype = torch.promote_types(start_logits.dtype, torch.float32)
    if n == 0:
        return (start_logits.sum() + end_logits.sum()).to(dtype) * 0.0
    return F.cross_entropy(start_logits.to(dtype), answer_start) + F.cross_entropy(
        end_logits.to(dtype), answer_end
    )
