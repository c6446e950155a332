"""BERT masked-LM with protected positions (paper 000, Chen et al., NAACL 2022, Sec. 3.3 Eq. 9, Sec. 4.2).

Sec. 4.2: "we follow the setting in (Devlin et al., 2018), which randomly mask 15% tokens of the
input sequence"; footnote 4: "The pre-defined answers in CLISM will not be masked to avoid missing
labels". Each unprotected position is chosen with probability 0.15; a chosen one becomes the mask
token (80 %), a random token (10 %) or stays (10 %), and is predicted.

Choices the paper leaves open:

* What is protected is the caller's: special tokens, padding, ``[QUE]`` and the CLISM answer spans
  (footnote 4). Protected positions are never changed and never labelled.
* Rate: each unprotected position is chosen independently (Bernoulli, as BERT's reference code and
  the tiny model do), so 15 % holds in expectation, not exactly per sentence.
* Random replacements are drawn uniformly from ``[random_low, vocab_size)``: pass the first
  non-special id and the size of the original vocabulary to keep specials and added tokens such as
  ``[QUE]`` out (the paper is silent; BERT draws from the whole vocabulary). A random draw may
  equal the original token, as in BERT.
* The loss is the mean cross-entropy over the chosen positions of the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    protected: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    random_low: int,
    generator: torch.Generator,
    probability: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``input_ids`` ``[B, L]``; returns ``(inputs, labels)``.

    ``protected`` (bool, ``[B, L]``) positions are never chosen. Labels hold the original id at
    chosen positions and -100 elsewhere. Deterministic given ``generator``; draws, in this order,
    ``rand`` (choice), ``rand`` (80/10/10 roll) and ``randint(random_low, vocab_size)`` (the
    random ids), each of ``input_ids.shape``, on the generator's device.
    """
    if protected.dtype != torch.bool or protected.shape != input_ids.shape:
        raise ValueError(
            f"protected must be a bool tensor of shape {tuple(input_ids.shape)}, "
            f"got {protected.dtype} {tuple(protected.shape)}"
        )
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if not 0 <= random_low < vocab_size:
        raise ValueError(f"need 0 <= random_low < vocab_size, got {random_low} and {vocab_size}")
    shape, device = input_ids.shape, generator.device
    chosen = (torch.rand(shape, generator=generator, device=device) < probability).to(input_ids.device)
    chosen &= ~protected
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    roll = torch.rand(shape, generator=generator, device=device).to(input_ids.device)
    random_ids = torch.randint(random_low, vocab_size, shape, generator=generator, device=device)
    inputs = input_ids.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids.to(input_ids.device, input_ids.dtype)[swap]
    return inputs, labels


def mlm_loss(
    hidden: torch.Tensor, labels: torch.Tensor, lm_head: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Mean cross-entropy of the labelled positions (``labels != -100``) of ``hidden`` ``[B, L, d]``.

    ``lm_head`` (the vocabulary projection) runs on the labelled rows only, which matters for a
    250k vocabulary. No labelled position gives a zero still connected to ``hidden``'s graph.
    """
    if labels.shape != hidden.shape[:-1]:
        raise ValueError(f"labels shape {tuple(labels.shape)} != hidden's {tuple(hidden.shape[:-1])}")
    chosen = labels != IGNORE_INDEX
    if not bool(chosen.any()):
        return hidden.sum() * 0.0
    logits = lm_head(hidden[chosen])
    return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), labels[chosen])
