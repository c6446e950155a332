"""Contrastive language adaptation: label alignment, then semantic alignment (paper 002, Sec. 3.2).

D is the labelled source set, D_bi = {(T(x_i), y_i)} translations of a few of its examples (Table 1:
200; ``translate.max_examples``) into the target languages, each keeping its source label and linked to
it by ``source`` (the source example id). Two phases, as Sec. 3.2's last paragraph says:

1. ``la``: Eq. 3, ``L = L_CE + lambda_LA * L_LA`` on mini-batches of D u D_bi; L_LA (Eq. 2,
   ``losses.label_alignment``) over the batch members of the sets ``la_on`` names (paper: both; Table 4
   ablates ``LA(D)`` and ``LA(D_bi)``).
2. ``sa``: Eq. 5, ``L = L_CE + lambda_SA * L_SA`` on D_bi at a smaller learning rate (``sa_lr``). Each
   anchor is a source example x_i with translations; its batch (Eq. 4) holds its b translations (the
   positives) and b texts of another label drawn from ``negatives`` (paper: D_bi only). ``anchors``
   anchors share one step; L_CE is over every text of the step (anchors, positives, negatives, all
   labelled).

h is the encoder's final hidden state of the first token ([CLS] / <s>), L2-normalised in the losses.
``lambda_la = 0`` skips phase 1's LA (translate-train on D u D_bi, the "- LA" ablation), ``sa_epochs =
0`` skips phase 2 (Table 4's "- SA"). Model selection on the source dev set after each phase.

Tagging (an option the paper does not have: its tasks are sentence classification): phase ``la`` only,
on D u D_bi with D_bi the projected translations of every translated language (what MTL trains on,
paper 001 Eq. 6), ``L = L_CE + lambda_LA * L_LA`` with L_CE paper 001's per-sentence cross-entropy
(Eq. 3) and L_LA Eq. 2 over the batch's entity tokens instead of its sentences: h the final hidden
state of each entity word's first sub-word (the position that carries its label), the class its
entity type (B-PER and I-PER are both PER; ``O`` words take no part). SA contrasts whole sentences
(Eq. 4), so a tagger takes ``sa_epochs: 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pipeline_steps.errors import ConfigError
from pipeline_steps.losses.label_alignment import label_alignment
from pipeline_steps.losses.semantic_alignment import semantic_alignment
from pipeline_steps.methods.supervised import sentence_ce
from pipeline_steps.methods.translate_train import SOURCE, all_target_langs, projected_by_lang, require_langs
from pipeline_steps.models import token_classification as tagging
from pipeline_steps.models.sequence_classification import ClsEncoded, collate
from pipeline_steps.tags import OUTSIDE, split_tag
from pipeline_steps.train import ShuffledBatches, Trainer, TrainResult
from pipeline_steps.train.determinism import derive_seed

if TYPE_CHECKING:
    from pipeline_steps.methods import MethodData

NEGATIVE_SOURCES = ("bi", "src", "both")
KEYS = (
    "lambda_la",
    "lambda_sa",
    "tau",
    "la_on",
    "la_reduction",
    "sa_lr",
    "sa_epochs",
    "anchors",
    "negatives",
)


@dataclass(frozen=True)
class Settings:
    """``method_params.lang_adapt`` (config/schema.yaml holds the defaults and their meaning)."""

    lambda_la: float
    lambda_sa: float
    tau: float
    la_on: tuple[str, ...]
    la_reduction: str
    sa_lr: float
    sa_epochs: int
    anchors: int
    negatives: str

    @classmethod
    def of(cls, method_params: dict[str, Any]) -> Settings:
        """From ``method_params`` (every key of ``KEYS``; other keys, e.g. ``lm_method``, are ignored)."""
        missing = [k for k in KEYS if k not in method_params]
        if missing:
            raise ConfigError(
                f"method_params.lang_adapt: missing {missing} (config/schema.yaml has the defaults)"
            )
        settings = cls(**{k: method_params[k] for k in KEYS})
        if settings.negatives not in NEGATIVE_SOURCES:
            raise ConfigError(f"method_params.lang_adapt.negatives must be one of {NEGATIVE_SOURCES}")
        if not set(settings.la_on) <= {"src", "bi"}:
            raise ConfigError(
                f"method_params.lang_adapt.la_on: expected a subset of [src, bi], got {settings.la_on}"
            )
        return dataclasses.replace(settings, la_on=tuple(settings.la_on))


def first_token_state(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits ``[B, C]``, final hidden state of the first token ``[B, d]``) in one forward pass."""
    device = next(model.parameters()).device
    inputs = {
        k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")
    }
    out = model(**inputs, output_hidden_states=True)
    return out.logits, out.hidden_states[-1][:, 0]


class LabelAlignmentRecipe(ShuffledBatches):
    """Phase 1 (Eq. 3): shuffled mini-batches of D u D_bi; CE + lambda_LA * LA over the ``la`` rows."""

    def __init__(self, enc: ClsEncoded, in_la: Sequence[bool], batch_size: int, seed: int, s: Settings):
        super().__init__(len(enc), batch_size, seed, "LabelAlignmentRecipe")
        self.enc, self.in_la, self.s = enc, torch.tensor(list(in_la), dtype=torch.bool), s
        self.last: dict[str, float] = {}

    def collate(self, indices):
        batch = collate(self.enc, indices)
        batch["in_la"] = self.in_la[list(indices)]
        return batch

    def loss(self, model, batch) -> torch.Tensor:
        logits, h = first_token_state(model, batch)
        labels = batch["labels"].to(logits.device)
        ce = F.cross_entropy(logits, labels)
        la = logits.sum() * 0.0
        rows = batch["in_la"].to(logits.device)
        if self.s.lambda_la > 0 and int(rows.sum()) > 1:
            la = label_alignment(h[rows], labels[rows], self.s.tau, self.s.la_reduction)
        self.last = {"ce": float(ce.detach()), "la": float(la.detach())}
        return ce + self.s.lambda_la * la


def entity_types(label2id: dict[str, int]) -> torch.Tensor:
    """Per tag id, the id of its entity type (types numbered in sorted order), -1 for ``O``."""
    names = sorted({split_tag(t)[1] for t in label2id if t != OUTSIDE})
    out = torch.full((len(label2id),), -1, dtype=torch.long)
    for tag, i in label2id.items():
        if tag != OUTSIDE:
            out[i] = names.index(split_tag(tag)[1])
    return out


class TokenLabelAlignmentRecipe(ShuffledBatches):
    """Phase 1 for a tagger: shuffled mini-batches of D u D_bi; paper 001 Eq. 3 + lambda_LA * LA (Eq. 2)
    over the entity tokens of the ``in_la`` sentences (module doc)."""

    def __init__(
        self,
        enc: tagging.Encoded,
        in_la: Sequence[bool],
        type_of: torch.Tensor,
        batch_size: int,
        seed: int,
        pad_id: int,
        s: Settings,
    ):
        super().__init__(len(enc), batch_size, seed, "TokenLabelAlignmentRecipe")
        self.enc, self.in_la, self.type_of = enc, torch.tensor(list(in_la), dtype=torch.bool), type_of
        self.pad_id, self.s = pad_id, s
        self.last: dict[str, float] = {}

    def collate(self, indices):
        batch = tagging.collate(self.enc, indices, self.pad_id)
        batch["in_la"] = self.in_la[list(indices)]
        return batch

    def anchors(self, labels: torch.Tensor, in_la: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask ``[B, T]`` of the entity tokens LA runs over, their entity type ids)."""
        types = self.type_of.to(labels.device)[labels.clamp(min=0)]
        mask = (labels != tagging.IGNORE) & (types >= 0) & in_la.to(labels.device)[:, None]
        return mask, types[mask]

    def loss(self, model, batch) -> torch.Tensor:
        device = next(model.parameters()).device
        out = model(**tagging.model_inputs(batch, device), output_hidden_states=True)
        labels = batch["labels"].to(device)
        ce = sentence_ce(out.logits, labels)
        la = out.logits.sum() * 0.0
        mask, types = self.anchors(labels, batch["in_la"])
        if self.s.lambda_la > 0 and len(types) > 1:
            la = label_alignment(out.hidden_states[-1][mask], types, self.s.tau, self.s.la_reduction)
        self.last = {"ce": float(ce.detach()), "la": float(la.detach())}
        return ce + self.s.lambda_la * la


class SemanticAlignmentRecipe:
    """Phase 2 (Eq. 5): per step ``anchors`` source examples of D_bi, each with its translations
    (positives) and as many other-label texts drawn from the negative pool; CE + lambda_SA * SA."""

    def __init__(
        self,
        enc: ClsEncoded,
        anchors: Sequence[int],
        positives: Sequence[Sequence[int]],
        negative_pool: Sequence[int],
        seed: int,
        s: Settings,
    ):
        if not anchors:
            raise ValueError("SemanticAlignmentRecipe got no source example with a translation")
        self.enc, self.anchors, self.positives = enc, list(anchors), [list(p) for p in positives]
        self.negative_pool = np.asarray(negative_pool, dtype=np.int64)
        self.labels = np.asarray(enc.labels)
        self.seed, self.s = int(seed), s
        self.last: dict[str, float] = {}

    def num_batches(self, epoch: int) -> int:
        return -(-len(self.anchors) // self.s.anchors)

    def negatives_for(self, anchor: int, count: int, rng: np.random.Generator) -> list[int]:
        """``count`` texts of the negative pool whose label differs from ``anchor``'s (fewer when the
        pool has fewer), drawn without replacement."""
        pool = self.negative_pool[self.labels[self.negative_pool] != self.labels[anchor]]
        if len(pool) <= count:
            return pool.tolist()
        return rng.choice(pool, count, replace=False).tolist()

    def plans(self, epoch: int):
        """Per step, ``[(anchor row, positive rows, negative rows), ...]`` (rows of the encodings): the
        anchors in an order seeded by (seed, epoch), the negatives drawn with the same generator."""
        rng = np.random.default_rng(derive_seed(self.seed, epoch, 2))
        order = rng.permutation(len(self.anchors))
        for lo in range(0, len(order), self.s.anchors):
            plan = []
            for i in (int(i) for i in order[lo : lo + self.s.anchors]):
                pos = self.positives[i]
                plan.append((self.anchors[i], pos, self.negatives_for(self.anchors[i], len(pos), rng)))
            yield plan

    def batches(self, epoch: int):
        for plan in self.plans(epoch):
            yield self.collate(plan)

    def collate(self, plan: Sequence[tuple[int, list[int], list[int]]]) -> dict[str, Any]:
        """One forward batch of every text of the step and, per anchor, the row of its anchor, its
        positives and its negatives in that batch (padded with -1)."""
        rows: list[int] = []
        layout = []
        for anchor, pos, neg in plan:
            start = len(rows)
            rows += [anchor, *pos, *neg]
            layout.append(
                (
                    start,
                    list(range(start + 1, start + 1 + len(pos))),
                    list(range(start + 1 + len(pos), len(rows))),
                )
            )
        batch = collate(self.enc, rows)
        width_p = max(len(p) for _, p, _ in layout)
        width_n = max(max((len(n) for _, _, n in layout), default=0), 1)
        batch["anchor_rows"] = torch.tensor([a for a, _, _ in layout])
        batch["positive_rows"] = torch.tensor([p + [-1] * (width_p - len(p)) for _, p, _ in layout])
        batch["negative_rows"] = torch.tensor([n + [-1] * (width_n - len(n)) for _, _, n in layout])
        return batch

    def loss(self, model, batch) -> torch.Tensor:
        logits, h = first_token_state(model, batch)
        ce = F.cross_entropy(logits, batch["labels"].to(logits.device))
        pos, neg = batch["positive_rows"].to(h.device), batch["negative_rows"].to(h.device)
        sa = semantic_alignment(
            h[batch["anchor_rows"].to(h.device)],
            h[pos.clamp(min=0)],
            h[neg.clamp(min=0)],
            self.s.tau,
            positive_mask=pos >= 0,
            negative_mask=neg >= 0,
        )
        self.last = {"ce": float(ce.detach()), "sa": float(sa.detach())}
        return ce + self.s.lambda_sa * sa


def translation_sets(data: MethodData, train: pd.DataFrame) -> pd.DataFrame:
    """D_bi: the translated examples (``data.extra``) whose ``source`` is an example of ``train``."""
    if not data.extra:
        raise ConfigError("lang_adapt needs translated examples (translate.langs) as D_bi")
    bi = pd.concat(data.extra, ignore_index=True)
    unknown = ~bi["source"].isin(set(train["id"]))
    if bool(unknown.any()):
        raise ConfigError(
            f"translated example {bi['id'][unknown].iloc[0]!r}: source {bi['source'][unknown].iloc[0]!r} is "
            "not a training example"
        )
    return bi


class LanguageAdaptation:
    """Contrastive language adaptation (paper 002 Sec. 3.2): phase ``la`` (Eq. 3) then ``sa`` (Eq. 5)."""

    name = "lang_adapt"

    def __init__(self, data: MethodData, train: pd.DataFrame | None = None):
        self.data = data
        self.train = data.train if train is None else train  # co-training adds pseudo-labels to D
        self.s = Settings.of(data.method_params)

    def _encode(self, frame: pd.DataFrame) -> ClsEncoded:
        return self.data.task.encode(frame, self.data.tokenizer, self.data.max_length)

    def fit(self, model, trainer: Trainer) -> TrainResult:
        kind = getattr(getattr(self.data.task, "info", None), "kind", "tagging")
        if kind == "tagging":
            return self.fit_tagging(model, trainer)
        if kind != "classification":
            raise ConfigError(f"lang_adapt is built for classification and tagging ({kind})")
        bi = translation_sets(self.data, self.train)
        cols = ["id", "text_a", "text_b", "label"]
        frame = pd.concat([self.train[cols], bi[cols]], ignore_index=True)
        is_bi = np.r_[np.zeros(len(self.train), bool), np.ones(len(bi), bool)]
        in_la = (~is_bi & ("src" in self.s.la_on)) | (is_bi & ("bi" in self.s.la_on))
        enc = self._encode(frame)
        self.data.log.info(
            "lang_adapt: D %d + D_bi %d (%s); LA on %s",
            len(self.train),
            len(bi),
            {str(k): int(v) for k, v in bi["lang"].value_counts().items()},
            self.s.la_on,
        )
        seed, bs = self.data.seed, self.data.batch_size
        result = trainer.run("la", model, LabelAlignmentRecipe(enc, in_la, bs, seed, self.s))
        if self.s.sa_epochs == 0:
            return result
        row_of = {sid: i for i, sid in enumerate(self.train["id"])}
        by_source = bi.reset_index(drop=True).groupby("source", sort=False).groups
        anchors = [row_of[src] for src in by_source]
        positives = [[len(self.train) + int(j) for j in rows] for rows in by_source.values()]
        pool = {
            "bi": np.flatnonzero(is_bi),
            "src": np.flatnonzero(~is_bi),
            "both": np.arange(len(frame)),
        }[self.s.negatives]
        recipe = SemanticAlignmentRecipe(enc, anchors, positives, pool, seed, self.s)
        return trainer.run("sa", model, recipe, lr=self.s.sa_lr, head_lr=None, epochs=self.s.sa_epochs)

    def fit_tagging(self, model, trainer: Trainer) -> TrainResult:
        """Phase la on D u the projected D_l of every target language, LA over entity tokens."""
        if self.s.sa_epochs:
            raise ConfigError(TAGGING_SA)
        langs = all_target_langs(self.data, self.name)
        sets = {SOURCE: self.train, **require_langs(projected_by_lang(self.data.extra), langs, self.name)}
        columns = list(self.data.columns)
        frame = pd.concat([f[columns] for f in sets.values()], ignore_index=True)
        is_bi = np.r_[np.zeros(len(self.train), bool), np.ones(len(frame) - len(self.train), bool)]
        in_la = (~is_bi & ("src" in self.s.la_on)) | (is_bi & ("bi" in self.s.la_on))
        self.data.log.info(
            "lang_adapt (tagging): %s; LA over entity tokens of %s",
            ", ".join(f"{k}: {len(v)}" for k, v in sets.items()),
            self.s.la_on,
        )
        recipe = TokenLabelAlignmentRecipe(
            self.data.encode(frame),
            in_la,
            entity_types(self.data.label2id),
            self.data.batch_size,
            self.data.seed,
            self.data.pad_id,
            self.s,
        )
        return trainer.run("la", model, recipe)


TAGGING_SA = (
    "method_params.lang_adapt.sa_epochs: semantic alignment (Eq. 4-5) contrasts whole sentences; a "
    "tagger runs label alignment only: set sa_epochs: 0"
)
