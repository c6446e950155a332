"""The pre-training objective of paper 000 as a recipe of the shared loop: L = L_clism + L_cacr + L_mlm
(Eq. 9), each term switchable (the Table 4 ablation).

One batch is a set of CLISM examples (``schemas.CLISM_EXAMPLES``). Choices the paper leaves open:

- MLM runs on X itself (one forward pass serves CLISM, MLM and the Ĥs/Ht of CACR): footnote 4 ("the
  pre-defined answers in CLISM will not be masked") only makes sense if MLM masks X. Specials, [QUE]
  and every answer sub-word are protected; a random replacement is drawn from the base vocabulary
  (never an added token such as [QUE]).
- CACR's r_s comes from a second forward pass over the original source sentence alone, unmasked.
- The aggregation A of Eq. 6 is the mean over the sentence's sub-words, specials excluded ([QUE]
  tokens are part of the masked source and count).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from pipeline_steps.losses.cacr import cacr_loss, mean_pool
from pipeline_steps.losses.clism import clism_loss
from pipeline_steps.losses.mlm import mask_tokens, mlm_loss
from pipeline_steps.train.determinism import epoch_generator

LOSSES = ("clism", "cacr", "mlm")
#: the generator stream of the MLM masks (stream 0 orders the examples)
MASK_STREAM = 1


@dataclass(frozen=True)
class PretrainSettings:
    """Which terms of Eq. 9 are on, and their settings (the ``pretrain`` config section)."""

    clism: bool = True
    cacr: bool = True
    mlm: bool = True
    mlm_probability: float = 0.15
    cacr_scale: float = 20.0
    cacr_symmetric: bool = True

    def terms(self) -> list[str]:
        return [name for name in LOSSES if getattr(self, name)]


def _pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[B, L]`` and their attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        attention[k, : len(r)] = 1
    return ids, attention


def _ranges(width: int, starts: Sequence[int], ends: Sequence[int]) -> torch.Tensor:
    """A bool ``[B, width]`` mask, True on ``[start, end)`` of each row."""
    pos = torch.arange(width)
    lo = torch.as_tensor(list(starts), dtype=torch.long)[:, None]
    hi = torch.as_tensor(list(ends), dtype=torch.long)[:, None]
    return (pos >= lo) & (pos < hi)


class ClismPretraining:
    """CLISM + CACR + MLM over the kept CLISM examples, shuffled per (seed, epoch); the MLM masks are
    drawn from their own (seed, epoch) stream, so a resumed run sees the same batches."""

    def __init__(
        self, examples: pd.DataFrame, tokenizer, settings: PretrainSettings, batch_size: int, seed: int
    ):
        if not len(examples):
            raise ValueError("pre-training got no CLISM example with a [QUE]")
        self.examples = examples.reset_index(drop=True)
        self.settings = settings
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.pad_id = tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self.base_vocab = tokenizer.vocab_size  # without added tokens such as [QUE]
        self.special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        self.last: dict[str, float] = {}

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.examples) / self.batch_size)

    def batches(self, epoch: int) -> Iterator[dict[str, Any]]:
        order = torch.randperm(len(self.examples), generator=epoch_generator(self.seed, epoch)).tolist()
        masks = epoch_generator(self.seed, epoch, stream=MASK_STREAM)
        for lo in range(0, len(order), self.batch_size):
            yield self.collate(order[lo : lo + self.batch_size], masks)

    def collate(self, indices: Sequence[int], generator: torch.Generator) -> dict[str, Any]:
        rows = self.examples.iloc[list(indices)]
        ids, attention = _pad(rows["input_ids"].tolist(), self.pad_id)
        width = ids.shape[1]
        batch_of = [k for k, q in enumerate(rows["que_positions"]) for _ in q]
        flat = {
            c: [int(v) for r in rows[c] for v in r] for c in ("que_positions", "answer_starts", "answer_ends")
        }
        answers = torch.zeros_like(ids, dtype=torch.bool)
        for k, s, e in zip(batch_of, flat["answer_starts"], flat["answer_ends"], strict=True):
            answers[k, s : e + 1] = True
        batch: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": attention,
            "que_batch": torch.as_tensor(batch_of, dtype=torch.long),
            "que_pos": torch.as_tensor(flat["que_positions"], dtype=torch.long),
            "answer_start": torch.as_tensor(flat["answer_starts"], dtype=torch.long),
            "answer_end": torch.as_tensor(flat["answer_ends"], dtype=torch.long),
        }
        if self.settings.mlm:
            protected = torch.isin(ids, self.special) | (attention == 0) | answers
            batch["input_ids"], batch["mlm_labels"] = mask_tokens(
                ids,
                protected,
                mask_id=self.mask_id,
                vocab_size=self.base_vocab,
                random_low=0,
                generator=generator,
                probability=self.settings.mlm_probability,
            )
        if self.settings.cacr:
            batch["masked_source_mask"] = _ranges(width, rows["masked_start"], rows["masked_end"])
            batch["target_mask"] = _ranges(width, rows["target_start"], rows["target_end"])
            source, source_attention = _pad(rows["source_ids"].tolist(), self.pad_id)
            batch["source_ids"], batch["source_attention"] = source, source_attention
            batch["source_mask"] = (source_attention == 1) & ~torch.isin(source, self.special)
        return batch

    def loss(self, model, batch: dict[str, Any]) -> torch.Tensor:
        """Eq. 9 over the terms that are on; ``self.last`` keeps each term (and CACR's pairs)."""
        hidden = model.encode(batch["input_ids"], batch["attention_mask"])
        terms: dict[str, torch.Tensor] = {}
        parts: dict[str, torch.Tensor] = {}
        if self.settings.clism:
            start, end = model.que_head(hidden, batch["que_batch"], batch["que_pos"], batch["attention_mask"])
            terms["clism"] = clism_loss(start, end, batch["answer_start"], batch["answer_end"])
        if self.settings.mlm:
            terms["mlm"] = mlm_loss(hidden, batch["mlm_labels"], model.lm_logits)
        if self.settings.cacr:
            r_masked = mean_pool(hidden, batch["masked_source_mask"])
            r_target = mean_pool(hidden, batch["target_mask"])
            source_hidden = model.encode(batch["source_ids"], batch["source_attention"])
            r_source = mean_pool(source_hidden, batch["source_mask"])
            terms["cacr"], parts = cacr_loss(
                r_masked, r_source, r_target, self.settings.cacr_scale, self.settings.cacr_symmetric
            )
        self.last = {k: float(v.detach()) for k, v in {**terms, **parts}.items()}
        return torch.stack(list(terms.values())).sum()
