"""A tiny XLM-R-like multilingual encoder built from the experiment's own text, fully offline.

Stands in for mBERT / XLM-R (paper 001 Sec. 2.1 backbone) where no pre-trained model can be
fetched: a Unigram tokenizer trained with SentencePiece on every language of the experiment
(whitespace marked '▁', the XLM-R special tokens <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4), served by
transformers' ``XLMRobertaTokenizer`` (a ``tokenizers`` Unigram model, Metaspace pre-tokenizer); a
small ``XLMRobertaConfig`` encoder initialised from ``seed`` and given ``mlm_steps`` of masked-LM
training on the same text (through the shared loop in ``pipeline_steps.train``) so its
representations are not pure noise. The folder loads with ``AutoTokenizer`` /
``AutoModelForTokenClassification.from_pretrained(dir)``; the same texts, settings and seed give
byte-identical files.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq
import torch

from pipeline_steps import config_schema
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import atomic_dir, read_artifact
from pipeline_steps.losses.mlm import mask_tokens, mlm_loss
from pipeline_steps.schemas import CLS_EXAMPLES, QA_EXAMPLES, SENTENCES, SRL_INSTANCES
from pipeline_steps.train import TrainConfig, cpu_threads, epoch_generator, train

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


_DEFAULTS = config_schema.defaults("model.tiny")  # config/schema.yaml: the one place of the defaults


@dataclass(frozen=True)
class TinySettings:
    """Size and training of the tiny encoder (``model.tiny`` in the config)."""

    vocab_size: int = _DEFAULTS["vocab_size"]
    hidden_size: int = _DEFAULTS["hidden_size"]
    num_layers: int = _DEFAULTS["num_layers"]
    num_heads: int = _DEFAULTS["num_heads"]
    intermediate_size: int = _DEFAULTS["intermediate_size"]
    max_length: int = _DEFAULTS["max_length"]
    mlm_steps: int = _DEFAULTS["mlm_steps"]
    seed: int = 0  # the rule passes the experiment's first seed
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    mask_prob: float = 0.15  # BERT's masking rate (not a config key)

    def check(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}"
            )
        if self.vocab_size < len(SPECIAL_TOKENS) + 10:
            raise ConfigError(f"vocab_size {self.vocab_size} is too small")
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive (got {getattr(self, name)})")
        if self.max_length < 8:
            raise ConfigError(f"max_length must be at least 8 (got {self.max_length})")
        if self.mlm_steps < 0:
            raise ConfigError(f"mlm_steps must be >= 0 (got {self.mlm_steps})")


def train_tokenizer(texts: Sequence[str], vocab_size: int, max_length: int = 128):
    """A Unigram tokenizer trained on ``texts``, returned as transformers' ``XLMRobertaTokenizer``.

    The pieces are learnt with SentencePiece's Unigram trainer (what XLM-R itself used; whitespace
    marked '▁', every character kept, no normalisation), which is deterministic; ``tokenizers``'
    UnigramTrainer is not (it sums and orders pieces in hash-map order, so scores and ids change from
    run to run). At use time the tokenizer is the ``tokenizers`` Unigram model of XLMRobertaTokenizer.
    """
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    texts = [t.strip() for t in texts if t.strip()]
    if not texts:
        raise ConfigError("no text to train the tiny tokenizer on")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=buf,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # a small corpus yields fewer pieces instead of an error
        character_coverage=1.0,
        normalization_rule_name="identity",
        bos_id=0,
        pad_id=1,
        eos_id=2,
        unk_id=3,
        bos_piece=SPECIAL_TOKENS[0],
        pad_piece=SPECIAL_TOKENS[1],
        eos_piece=SPECIAL_TOKENS[2],
        unk_piece=SPECIAL_TOKENS[3],
        user_defined_symbols=[SPECIAL_TOKENS[4]],
        num_threads=1,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    vocab = [(sp.id_to_piece(i), float(sp.get_score(i))) for i in range(sp.get_piece_size())]
    head = [p for p, _ in vocab[: len(SPECIAL_TOKENS)]]
    if head != list(SPECIAL_TOKENS):
        raise RuntimeError(f"unexpected special tokens at the head of the vocabulary: {head}")
    vocab = [(p, 0.0) for p in SPECIAL_TOKENS] + vocab[len(SPECIAL_TOKENS) :]
    return XLMRobertaTokenizer(vocab=vocab, model_max_length=max_length)


class MaskedLM:
    """Recipe for the shared loop: BERT-style MLM (15% of sub-words; 80% <mask>, 10% random, 10% kept),
    through ``pipeline_steps.losses.mlm``."""

    def __init__(self, ids: list[list[int]], tokenizer, settings: TinySettings):
        self.ids = ids
        self.settings = settings
        self.pad = tokenizer.pad_token_id
        self.mask = tokenizer.mask_token_id
        self.vocab = len(tokenizer)
        self.special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.ids) / self.settings.batch_size)

    def batches(self, epoch: int):
        gen = epoch_generator(self.settings.seed, epoch)
        order = torch.randperm(len(self.ids), generator=gen).tolist()
        bs = self.settings.batch_size
        for lo in range(0, len(order), bs):
            rows = [self.ids[i] for i in order[lo : lo + bs]]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
            for k, r in enumerate(rows):
                ids[k, : len(r)] = torch.tensor(r, dtype=torch.long)
            yield self._mask(ids, gen)

    def _mask(self, ids: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        attention = (ids != self.pad).long()
        inputs, labels = mask_tokens(
            ids,
            torch.isin(ids, self.special),  # specials and padding are never masked
            mask_id=self.mask,
            vocab_size=self.vocab,
            random_low=len(SPECIAL_TOKENS),
            generator=gen,
            probability=self.settings.mask_prob,
        )
        return {"input_ids": inputs, "attention_mask": attention, "labels": labels}

    def loss(self, model, batch) -> torch.Tensor:
        """Cross-entropy of the masked positions; the vocabulary projection runs on those only."""
        hidden = model.roberta(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        return mlm_loss(hidden, batch["labels"], model.lm_head)


def build_tiny_model(texts: Sequence[str], out_dir: str | os.PathLike, settings: TinySettings) -> Path:
    """Train the tokenizer, initialise and MLM-train the encoder, save both to ``out_dir`` (atomically)."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    settings.check()
    tokenizer = train_tokenizer(texts, settings.vocab_size, settings.max_length)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_length + 2,  # RoBERTa positions start after padding_idx=1
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(settings.seed)
    model = XLMRobertaForMaskedLM(config)
    steps = 0
    if settings.mlm_steps > 0:
        enc = tokenizer([t for t in texts if t.strip()], truncation=True, max_length=settings.max_length)
        recipe = MaskedLM([list(r) for r in enc["input_ids"]], tokenizer, settings)
        epochs = math.ceil(settings.mlm_steps / recipe.num_batches(0))
        result = train(
            model,
            recipe,
            TrainConfig(
                seed=settings.seed,
                lr=settings.lr,
                head_lr=None,
                epochs=epochs,
                max_steps=settings.mlm_steps,
                warmup_ratio=0.1,
                weight_decay=0.01,
                max_grad_norm=1.0,
                eval_steps=0,
                eval_after=0,
                checkpoint_steps=0,
                keep_last_checkpoints=1,
                precision="fp32",
                device="cpu",
                desc="tiny-mlm",
            ),
        )
        steps = result.steps
        if len(result.log):
            log.info(
                "tiny MLM: %d steps, loss %.3f -> %.3f",
                steps,
                result.log["loss"].iloc[0],
                result.log["loss"].iloc[-1],
            )
    model.to("cpu").eval()
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = {
            **asdict(settings),
            "vocab_size_actual": len(tokenizer),
            "mlm_steps_done": steps,
            "texts": len(texts),
        }
        (tmp / "xlt_tiny.json").write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    log.info(
        "tiny model: %d parameters, vocabulary %d, saved to %s", model.num_parameters(), len(tokenizer), out
    )
    return out


def texts_from_examples(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The text of every example of the given ingest artifacts, in order: whitespace-joined tokens of a
    sentence; text_a (and text_b) of a classification example; each distinct context and every question
    of a QA set."""
    texts: list[str] = []
    for path in paths:
        try:
            columns = set(pq.read_schema(path).names)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ArtifactError(str(path), None, None, f"not a readable Parquet file: {exc}") from exc
        if "predicate" in columns:  # SRL: each sentence once, however many predicates it has
            df = read_artifact(path, SRL_INSTANCES).drop_duplicates("sentence_id")
            texts.extend(" ".join(tokens) for tokens in df["tokens"])
        elif "tokens" in columns:
            texts.extend(" ".join(tokens) for tokens in read_artifact(path, SENTENCES)["tokens"])
        elif "text_a" in columns:
            df = read_artifact(path, CLS_EXAMPLES)
            texts.extend(df["text_a"])
            texts.extend(t for t in df["text_b"] if t is not None)
        else:
            df = read_artifact(path, QA_EXAMPLES)
            texts.extend(dict.fromkeys(df["context"]))
            texts.extend(df["question"])
    return texts


def main(ctx) -> None:
    """Rule ``tiny_model``. input: texts (list of ingest artifacts of any task); output: model (folder);
    params: vocab_size, hidden_size, num_layers, num_heads, intermediate_size, max_length, mlm_steps,
    seed, batch_size, lr (all optional)."""
    paths = ctx.input["texts"]
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    known = {f for f in TinySettings.__dataclass_fields__}
    unknown = set(ctx.params) - known
    if unknown:
        raise ConfigError(f"unknown tiny-model settings {sorted(unknown)} (known: {sorted(known)})")
    settings = TinySettings(**{k: v for k, v in ctx.params.items() if v is not None})
    torch.set_num_threads(cpu_threads(ctx.threads, settings.hidden_size))
    build_tiny_model(texts_from_examples(paths), ctx.output["model"], settings)
