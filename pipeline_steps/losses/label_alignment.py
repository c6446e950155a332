"""Label alignment LA: supervised contrastive loss over a batch (paper 002, Sec. 3.2, Eq. 2-3).

Eq. 2 (Yu & Joty 2021, after Gunel et al. 2020):

    L_LA = sum_i 1/(N_{y_i} - 1) sum_j 1[i != j] 1[y_i = y_j] L_ij,
    L_ij = -log( exp(h_i . h_j / tau) / sum_{k != i} exp(h_i . h_k / tau) )

h the L2-normalised [CLS] (first-token) representations of the batch B (drawn from D u D_bi), N_{y_i}
the number of examples of B labelled y_i, tau a temperature. Eq. 3 adds it to cross-entropy:
L = L_CE + lambda_LA * L_LA. An anchor without another example of its class in B (N_{y_i} = 1) has
no term (1/(N-1) is undefined). ``reduction="sum"`` is Eq. 2 to the letter; ``"mean"`` (default)
averages over the anchors that have a term, as SupCon's official code does (Khosla et al. 2020), so
lambda_LA does not scale with the batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum")


def label_alignment(
    h: torch.Tensor, labels: torch.Tensor, tau: float, reduction: str = "mean"
) -> torch.Tensor:
    """Eq. 2 over ``h`` ``[B, d]`` (normalised here) with class ids ``labels`` ``[B]``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if h.dim() != 2 or labels.shape != h.shape[:1]:
        raise ValueError(f"expected h [B, d] and labels [B], got {tuple(h.shape)}, {tuple(labels.shape)}")
    z = F.normalize(h, dim=-1)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = (z @ z.T / tau).masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)  # row i: log softmax over k != i
    positive = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = positive.sum(dim=1)
    keep = n_pos > 0
    if not bool(keep.any()):
        return h.sum() * 0.0
    per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(dim=1)[keep] / n_pos[keep]
    return per_anchor.sum() if reduction == "sum" else per_anchor.mean()
