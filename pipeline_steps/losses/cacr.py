"""ContrAstive-Consistency Regularization (CACR) of paper 000 (Chen et al., NAACL 2022, Sec. 3.2, Eq. 5-8).

Three views of each parallel pair are pooled by an aggregation layer A (Eq. 6, mean-pooling):
``r̂_s`` of the masked source (``[QUE]`` spans) and ``r_t`` of the target, both from the
concatenated input X (Eq. 5), and ``r_s`` of the original, unmasked source encoded on its own.
Eq. 7 is InfoNCE with in-batch negatives and cosine similarity Ψ:
``L(a, p) = -log exp(Ψ(a_i, p_i)/τ) / Σ_j exp(Ψ(a_i, p_j)/τ)``, and Eq. 8 sums it over the three
pairs: ``L_cacr = L(r_t, r̂_s) + L(r_s, r̂_s) + L(r_t, r_s)``.

Choices the paper leaves open:

* τ: Sec. 4.2 says "τ in Eq. 7 is set to 20". Dividing cosines in [-1, 1] by 20 would leave logits
  in [-0.05, 0.05] and almost no gradient signal, so we read 20 as the multiplier 1/τ (τ = 0.05),
  the convention of sentence-transformers' ``MultipleNegativesRankingLoss(scale=20.0)``. The
  parameter is therefore ``scale`` (default 20.0).
* Negatives: Eq. 7's denominator runs over the positives ``p_j`` of the other examples (the
  positive itself included), not over the other anchors; we do the same.
* Direction: Eq. 7 is written with one anchor, but Eq. 8's intent is that "each two of them should
  be similar", with no order. With ``symmetric=True`` (default) each pair term is
  ``½ (L(a, b) + L(b, a))`` (as CLIP does), which makes L_cacr invariant to the order of the three
  views; ``symmetric=False`` gives the literal Eq. 7 directions, anchor first as written in Eq. 8.
* Reduction: the paper is silent; each term is the mean over the B rows of the batch.
* No stop-gradient: gradients flow into every view. Computed in float32 or wider.
* B = 1: InfoNCE with a single candidate is identically 0 (log-softmax over one logit), so CACR
  contributes nothing to a batch of one sentence pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAIRS = ("target_masked", "source_masked", "target_source")  # the terms of Eq. 8, in order


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The aggregation layer A of Eq. 6: the mean ``[B, d]`` of the rows of ``hidden`` ``[B, L, d]``
    where ``mask`` ``[B, L]`` is nonzero.

    The caller's mask selects the view's sub-words (masked source, target, or original source),
    excluding special tokens. A row of ``mask`` with no position raises ``ValueError``.
    """
    if hidden.dim() != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"need hidden [B, L, d] and mask [B, L], got {tuple(hidden.shape)} and {tuple(mask.shape)}"
        )
    weights = (mask != 0).to(hidden.dtype)
    counts = weights.sum(dim=1)
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mean_pool: empty mask in row(s) {empty}; every row needs at least one position")
    return torch.einsum("bl,bld->bd", weights, hidden) / counts.unsqueeze(-1)


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, scale: float) -> torch.Tensor:
    """Eq. 7 with in-batch negatives, mean over rows: cross-entropy over the ``B x B`` matrix
    ``scale * cos(anchor_i, positive_j)`` with targets ``arange(B)``."""
    if anchor.dim() != 2 or anchor.shape != positive.shape:
        raise ValueError(
            f"anchor and positive must both be [B, d], got {tuple(anchor.shape)} and {tuple(positive.shape)}"
        )
    if anchor.shape[0] == 0:
        raise ValueError("info_nce needs at least one row")
    dtype = torch.promote_types(anchor.dtype, torch.float32)
    a = F.normalize(anchor.to(dtype), dim=-1)
    p = F.normalize(positive.to(dtype), dim=-1)
    logits = scale * (a @ p.T)
    return F.cross_entropy(logits, torch.arange(anchor.shape[0], device=anchor.device))


def cacr_loss(
    r_masked: torch.Tensor,
    r_source: torch.Tensor,
    r_target: torch.Tensor,
    scale: float = 20.0,
    symmetric: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 8: ``L(r_t, r̂_s) + L(r_s, r̂_s) + L(r_t, r_s)``; returns the total and the three terms
    by name (``PAIRS``). ``r_masked`` = r̂_s, ``r_source`` = r_s, ``r_target`` = r_t, each ``[B, d]``.
    ``symmetric=True`` averages both directions of each pair (see the module docstring)."""

    def term(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if symmetric:
            return 0.5 * (info_nce(a, b, scale) + info_nce(b, a, scale))
        return info_nce(a, b, scale)

    terms = dict(
        zip(
            PAIRS,
            (term(r_target, r_masked), term(r_source, r_masked), term(r_target, r_source)),
            strict=True,
        )
    )
    return terms["target_masked"] + terms["source_masked"] + terms["target_source"], terms
