"""awesome-align's self-training objective (SO) for the embedding aligner (Dou and Neubig 2021).

"Word Alignment by Fine-tuning Embeddings on Parallel Corpora" (EACL 2021), Sec. 2.2; reference code
github.com/neulab/awesome-align (``awesome_align/modeling.py``: ``BertGuideHead``, ``get_aligned_word``;
``awesome_align/run_train.py`` with ``--train_so``). Unsupervised: no gold alignment is used, so the
encoder can be fine-tuned on the very pairs it then aligns.

For a pair with n source and m target sub-words (special tokens left out) and their layer-``layer``
hidden states ``h^x_i``, ``h^y_j``: ``S_ij = h^x_i . h^y_j``, ``P^{x->y} = softmax_j(S)`` (each source
sub-word's distribution over the target), ``P^{y->x} = softmax_i(S)``. The guide ``A`` (n x m, 0/1)
holds the links of the current model: awesome-align's extraction ``softmax_links`` at ``threshold``
(``P^{x->y}_ij > t`` and ``P^{y->x}_ij > t``), mapped to word links and spread back to every sub-word
pair of two linked words. The objective, minimised and averaged over the pairs of a batch:

    L_so = -( sum_ij A_ij P^{x->y}_ij / n  +  sum_ij A_ij P^{y->x}_ij / m )

Where the paper is vague, this follows the official code:

- the guide is re-extracted at every step from the current weights, without gradient and with dropout
  off (``run_train.py`` builds it in the batch collator with ``model.eval()``); the loss's forward pass
  has dropout on;
- the guide is word-level (``get_aligned_word``): two linked words mark all their sub-word pairs;
- the loss sums probabilities (not log-probabilities) and divides each direction by the sentence length
  in sub-words (n, m), not by the number of links; the two directions are added with no further factor
  (a constant factor would not change Adam's steps beyond its epsilon);
- training (``run_train.py`` defaults): AdamW, lr 2e-5 decayed linearly to 0 without warm-up, no weight
  decay, gradients clipped at norm 1, 8 pairs per update (2 per GPU x 4 accumulation steps), one epoch,
  seed 42; the encoder stops at the aligned layer (8), so only the embeddings and the layers up to it
  learn. Here the layers above are removed before training (``embedding.keep_layers``).

Differences: awesome-align's recommended run adds the TLM objective (``--train_tlm``); only SO is here.
It masks the special tokens out of the softmax with -10000; here they are left out (the same numbers).
Training goes through xlt's shared loop (``pipeline_steps.train.train``), seeded: the same settings give
bit-identical weights on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from pipeline_steps.align.embedding import (
    EmbeddingSettings,
    Encoded,
    encoder_layers,
    model_max_length,
    padded,
    resolve_layer,
    softmax_links,
    tokenize,
    units,
    word_links,
)
from pipeline_steps.train import ShuffledBatches, TrainConfig, TrainResult, train

log = logging.getLogger(__name__)

#: awesome-align's fixed optimisation settings (run_train.py defaults; not config keys).
WARMUP_RATIO = 0.0
WEIGHT_DECAY = 0.0
MAX_GRAD_NORM = 1.0


def so_loss(x: torch.Tensor, y: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The SO loss of one pair (module doc): ``x`` (n x d) and ``y`` (m x d) the sub-word vectors,
    ``guide`` the n x m 0/1 links; ``-(sum(A * softmax_j(S)) / n + sum(A * softmax_i(S)) / m)``."""
    scores = x.float() @ y.float().T
    n, m = scores.shape
    guide = guide.to(scores.dtype)
    return -((guide * scores.softmax(dim=1)).sum() / n + (guide * scores.softmax(dim=0)).sum() / m)


def guide_matrix(
    x: torch.Tensor, y: torch.Tensor, x_words: Sequence[int], y_words: Sequence[int], threshold: float
) -> torch.Tensor:
    """The guide of one pair (0/1, n x m float): ``softmax_links(x, y, threshold)`` as word links
    (``x_words[i]``: the word of sub-word i), set on every sub-word pair of two linked words."""
    linked = word_links(softmax_links(x, y, threshold), x_words, y_words)
    return torch.tensor(
        [[float((a, b) in linked) for b in y_words] for a in x_words], dtype=torch.float32
    ).reshape(len(x_words), len(y_words))


class SelfTrainingRecipe(ShuffledBatches):
    """The SO recipe of ``pipeline_steps.train.train``: shuffled batches of tokenised pairs; each batch's
    loss re-extracts the guide from the model (eval mode, no gradient), then averages :func:`so_loss`."""

    def __init__(
        self,
        src: Sequence[Encoded],
        tgt: Sequence[Encoded],
        *,
        layer: int,
        threshold: float,
        pad_id: int,
        batch_size: int,
        seed: int,
    ):
        super().__init__(len(src), batch_size, seed, what="self-training")
        self.src, self.tgt = list(src), list(tgt)
        self.layer, self.threshold, self.pad_id = int(layer), float(threshold), int(pad_id)

    def collate(self, indices: Sequence[int]) -> dict[str, Any]:
        src = [self.src[i] for i in indices]
        tgt = [self.tgt[i] for i in indices]
        src_ids, src_mask = padded(src, self.pad_id)
        tgt_ids, tgt_mask = padded(tgt, self.pad_id)
        return {
            "src_ids": src_ids,
            "src_mask": src_mask,
            "src": src,
            "tgt_ids": tgt_ids,
            "tgt_mask": tgt_mask,
            "tgt": tgt,
        }

    def vectors(
        self, model, batch: dict[str, Any]
    ) -> list[tuple[torch.Tensor, list[int], torch.Tensor, list[int]]]:
        """Per pair: (source sub-word vectors, their words, target sub-word vectors, their words)."""
        sides = []
        for side in ("src", "tgt"):
            out = model(
                input_ids=batch[f"{side}_ids"],
                attention_mask=batch[f"{side}_mask"],
                output_hidden_states=True,
            )
            hidden = out.hidden_states[self.layer]
            sides.append([units(hidden[k], enc, "bpe") for k, enc in enumerate(batch[side])])
        return [(x, xw, y, yw) for (x, xw), (y, yw) in zip(*sides, strict=True)]

    def guides(self, model, batch: dict[str, Any]) -> list[torch.Tensor]:
        """The guide of every pair of the batch from the current weights (dropout off, no gradient)."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return [
                    guide_matrix(x, y, xw, yw, self.threshold) for x, xw, y, yw in self.vectors(model, batch)
                ]
        finally:
            model.train(was_training)

    def batch_loss(self, model, batch: dict[str, Any], guides: Sequence[torch.Tensor]) -> torch.Tensor:
        """The mean :func:`so_loss` of the batch's pairs under ``guides`` (the model in its current mode)."""
        losses = [
            so_loss(x, y, guide.to(x.device))
            for (x, _, y, _), guide in zip(self.vectors(model, batch), guides, strict=True)
        ]
        return torch.stack(losses).mean()

    def loss(self, model, batch: dict[str, Any]) -> torch.Tensor:
        return self.batch_loss(model, batch, self.guides(model, batch))


def make_recipe(
    tokenizer,
    model,
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    settings: EmbeddingSettings,
    seed: int,
) -> SelfTrainingRecipe:
    """The recipe of the first ``self_training.max_pairs`` pairs (all when null), tokenised as the aligner
    does (cut at ``max_length``); pairs with a side without sub-words are left out."""
    st = settings.self_training
    pairs = list(pairs)[: st.max_pairs] if st.max_pairs is not None else list(pairs)
    max_length = model_max_length(tokenizer, model.config, settings.max_length)
    src, _ = tokenize(tokenizer, [s for s, _ in pairs], max_length)
    tgt, _ = tokenize(tokenizer, [t for _, t in pairs], max_length)
    keep = [k for k in range(len(pairs)) if max(src[k].word_of) >= 0 and max(tgt[k].word_of) >= 0]
    return SelfTrainingRecipe(
        [src[k] for k in keep],
        [tgt[k] for k in keep],
        layer=resolve_layer(int(settings.layer), encoder_layers(model)),
        threshold=float(st.threshold),
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        batch_size=int(st.batch_size),
        seed=int(seed),
    )


def fine_tune(
    model,
    tokenizer,
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    settings: EmbeddingSettings,
    *,
    seed: int,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Fine-tune ``model`` in place with SO on ``pairs`` ((source words, target words)) for
    ``settings.self_training.epochs`` epochs; leave it in eval mode. The loop's log is returned."""
    st = settings.self_training
    recipe = make_recipe(tokenizer, model, pairs, settings, seed)
    config = TrainConfig(
        seed=int(seed),
        lr=float(st.lr),
        head_lr=None,
        epochs=int(st.epochs),
        warmup_ratio=WARMUP_RATIO,
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        max_steps=None,
        eval_steps=0,
        eval_after=0,
        checkpoint_steps=0,
        keep_last_checkpoints=1,
        device=str(device),
        precision="fp32",
        desc="self-training",
    )
    log.info(
        "self-training (awesome-align SO): %d pairs, %d epochs, batch %d, lr %g, threshold %g, seed %d",
        recipe.n,
        config.epochs,
        recipe.batch_size,
        config.lr,
        recipe.threshold,
        config.seed,
    )
    result = train(model, recipe, config)
    model.eval()
    losses = result.log["loss"]
    log.info(
        "self-training: %d steps, loss %.4f (first step) -> %.4f (last)",
        result.steps,
        losses.iloc[0],
        losses.iloc[-1],
    )
    return result
