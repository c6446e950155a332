"""Semantic alignment SA: translations as positives, other-label texts as negatives (paper 002, Sec.
3.2, Eq. 4-5).

For a source example (x_i, y_i) of D_bi the batch B holds 2b texts: its translations x_i^(1..b) (one
per language, the positives) and b texts x_j with y_j != y_i (the negatives; the paper samples them
from D_bi only, ``methods.language_adaptation`` can also take D or both). Eq. 4:

    L_SA^i = -sum_{t=1..b} log( exp(h_i . h_i^(t) / tau) / sum_{k in B, k != i} exp(h_i . h_k / tau) )

h the L2-normalised [CLS] representations; the denominator runs over every member of B (positives and
negatives; the anchor x_i itself is not in it). Eq. 5: L = L_CE + lambda_SA * L_SA on D_bi, at a
smaller learning rate than Eq. 3. Several anchors share one step here: ``positives`` and
``negatives`` are padded per anchor with masks, and the anchors' losses are averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def semantic_alignment(
    anchor: torch.Tensor,
    positives: torch.Tensor,
    negatives: torch.Tensor,
    tau: float,
    positive_mask: torch.Tensor | None = None,
    negative_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 4 averaged over anchors: ``anchor`` ``[m, d]``, ``positives`` ``[m, b, d]``, ``negatives``
    ``[m, b', d]``; the masks (``[m, b]``, ``[m, b']``, True = present) mark padding. An anchor without
    a positive has no term."""
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    m, b, _ = positives.shape
    if anchor.shape[0] != m or negatives.shape[0] != m:
        raise ValueError(f"{anchor.shape[0]} anchors, {m} positive rows, {negatives.shape[0]} negative rows")
    if positive_mask is None:
        positive_mask = torch.ones(positives.shape[:2], dtype=torch.bool, device=anchor.device)
    if negative_mask is None:
        negative_mask = torch.ones(negatives.shape[:2], dtype=torch.bool, device=anchor.device)
    a = F.normalize(anchor, dim=-1)
    members = F.normalize(torch.cat([positives, negatives], dim=1), dim=-1)  # [m, b + b', d]
    present = torch.cat([positive_mask, negative_mask], dim=1)
    sim = torch.einsum("md,mkd->mk", a, members) / tau
    sim = sim.masked_fill(~present, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    keep = positive_mask.any(dim=1)
    if not bool(keep.any()):
        return anchor.sum() * 0.0
    per_anchor = -log_prob[:, :b].masked_fill(~positive_mask, 0.0).sum(dim=1)
    return per_anchor[keep].mean()
