"""Shared fixtures of the model-side tests: toy multilingual NER sentences, a tiny encoder, a toy recipe.

Importable from the test files (``from _helpers_model import ...``) and runnable as a script by the
SIGKILL test (``python tests/_helpers_model.py train-and-die ...``).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline_steps.io import write_artifact  # noqa: E402
from pipeline_steps.schemas import SENTENCES  # noqa: E402
from pipeline_steps.train import TrainConfig, epoch_generator, train  # noqa: E402

PER = [["John", "Smith"], ["Maria"], ["Angela", "Merkel"], ["Pedro"], ["Anna", "Schmidt"], ["Luis", "García"]]
LOC = [["Paris"], ["Berlin"], ["New", "York"], ["Madrid"], ["Buenos", "Aires"], ["Hamburg"]]
ORG = [["Siemens"], ["Deutsche", "Bank"], ["Reuters"], ["Telefónica"], ["United", "Nations"]]
TEMPLATES = {
    "en": [
        "{PER} lives in {LOC} .",
        "{PER} works for {ORG} in {LOC} .",
        "{ORG} said on Monday that {PER} will visit {LOC} .",
        "The office of {ORG} is in {LOC} .",
    ],
    "de": [
        "{PER} wohnt in {LOC} .",
        "{PER} arbeitet für {ORG} in {LOC} .",
        "{ORG} sagte am Montag , dass {PER} {LOC} besucht .",
    ],
    "es": [
        "{PER} vive en {LOC} .",
        "{PER} trabaja para {ORG} en {LOC} .",
        "{ORG} dijo el lunes que {PER} visitará {LOC} .",
    ],
}


def toy_sentence(lang: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """One templated sentence with IOB2 tags."""
    tokens: list[str] = []
    tags: list[str] = []
    for piece in rng.choice(TEMPLATES[lang]).split():
        if piece.startswith("{") and piece.endswith("}"):
            label = piece[1:-1]
            words = rng.choice({"PER": PER, "LOC": LOC, "ORG": ORG}[label])
            tokens += words
            tags += [f"B-{label}"] + [f"I-{label}"] * (len(words) - 1)
        else:
            tokens.append(piece)
            tags.append("O")
    return tokens, tags


def toy_sentences(lang: str, n: int, seed: int = 0, split: str = "train") -> pd.DataFrame:
    """``n`` labelled toy sentences as a schemas.SENTENCES frame."""
    rng = random.Random(f"{lang}-{split}-{seed}")
    rows = []
    for i in range(n):
        tokens, tags = toy_sentence(lang, rng)
        rows.append(
            {
                "id": f"{split}-{lang}-{i:06d}",
                "lang": lang,
                "split": split,
                "doc_id": None,
                "tokens": tokens,
                "tags": tags,
                "source": f"toy.{lang}.{split}",
                "line": i + 1,
            }
        )
    return pd.DataFrame(rows)


def write_sentences(df: pd.DataFrame, path: Path) -> str:
    write_artifact(df, path, SENTENCES)
    return str(path)


TINY_PARAMS = {
    "vocab_size": 300,
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "intermediate_size": 32,
    "max_length": 64,
    "mlm_steps": 10,
    "seed": 0,
    "batch_size": 16,
    "lr": 1e-3,
}


def toy_tiny_model(root: Path, extra_texts: list[str] = ()) -> str:
    """A tiny encoder (``TINY_PARAMS``) built on 20 toy English and German sentences (and any further
    text artifacts), in ``root / "tiny"``."""
    from pipeline_steps.models import tiny
    from pipeline_steps.runner import StepContext

    texts = [write_sentences(toy_sentences(lang, 20), root / f"{lang}.parquet") for lang in ("en", "de")]
    out = str(root / "tiny")
    tiny.main(StepContext(input={"texts": [*texts, *extra_texts]}, output={"model": out}, params=TINY_PARAMS))
    return out


def tiny_aligner_encoder(root: Path, langs: tuple[str, str]) -> str:
    """A 2-layer tiny encoder without MLM training (its embeddings mean nothing: shapes and validity
    tests) on 30 toy sentences of each of ``langs``, in ``root / "tiny"``."""
    from pipeline_steps.models.tiny import TinySettings, build_tiny_model

    texts = [" ".join(t) for lang in langs for t in toy_sentences(lang, 30, seed=2)["tokens"]]
    params = {**TINY_PARAMS, "num_layers": 2, "mlm_steps": 0}
    return str(build_tiny_model(texts, root / "tiny", TinySettings(**params)))


def toy_parallel(lang: str) -> tuple[list[list[str]], list[list[str]]]:
    """Six toy English sentences and six of ``lang`` (not translations: tokens only); the third English
    one ends in a word the tiny vocabulary splits into several pieces."""
    en = list(toy_sentences("en", 6, seed=5)["tokens"])
    other = list(toy_sentences(lang, 6, seed=5)["tokens"])
    en[2] = en[2] + ["Übergrößenträgerin"]
    return en, other


# ------------------------------------------------------------------ a toy recipe for the loop tests


class ToyNet(torch.nn.Module):
    """A 2-layer classifier with dropout (so the resume test also covers the RNG state)."""

    def __init__(self, dim: int = 6, classes: int = 3):
        super().__init__()
        self.a = torch.nn.Linear(dim, 16)
        self.drop = torch.nn.Dropout(0.3)
        self.b = torch.nn.Linear(16, classes)

    def forward(self, x):
        return self.b(self.drop(torch.relu(self.a(x))))


def make_net(seed: int = 0) -> ToyNet:
    torch.manual_seed(seed)
    return ToyNet()


class ToyRecipe:
    """Shuffled mini-batches of a fixed random classification set; the sampling RNG is per epoch."""

    def __init__(self, n: int = 45, batch_size: int = 8, seed: int = 0):
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(n, 6, generator=gen)
        self.y = (self.x[:, 0] > 0).long() + (self.x[:, 1] > 0.5).long()
        self.batch_size, self.seed = batch_size, seed

    def num_batches(self, epoch: int) -> int:
        return -(-len(self.x) // self.batch_size)

    def batches(self, epoch: int):
        gen = epoch_generator(self.seed, epoch)
        order = torch.randperm(len(self.x), generator=gen)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            noise = 0.01 * torch.randn(len(idx), 6, generator=gen)  # per-epoch sampling, replayed on resume
            yield {"x": self.x[idx] + noise, "y": self.y[idx]}

    def loss(self, model, batch):
        return torch.nn.functional.cross_entropy(model(batch["x"]), batch["y"])


# every TrainConfig field that has no default (they are finetune: config keys; the schema holds their
# defaults): the tests' baseline, overridden per test
TRAIN_SETTINGS = {
    "seed": 0,
    "lr": 5e-5,
    "head_lr": None,
    "epochs": 1,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "max_steps": None,
    "eval_steps": 0,
    "eval_after": 0,
    "checkpoint_steps": 0,
    "keep_last_checkpoints": 2,
    "device": "auto",
    "precision": "bf16",
}


def train_config(**overrides) -> TrainConfig:
    """A TrainConfig of ``TRAIN_SETTINGS`` with ``overrides``."""
    return TrainConfig(**{**TRAIN_SETTINGS, **overrides})


# every key of the config's finetune: section, as the finetune rule passes them (tests override some)
FINETUNE_SETTINGS = {
    **{k: v for k, v in TRAIN_SETTINGS.items() if k != "seed"},
    "batch_size": 8,
    "max_length": 64,
    "keep_checkpoints": False,
    "freeze_embeddings": False,
    "group_by_length": True,
}


TOY_CONFIG = {"seed": 3, "lr": 0.05, "epochs": 3, "warmup_ratio": 0.2, "checkpoint_steps": 4, "eval_steps": 5}


class Die(RuntimeError):
    """Raised by a test callback to simulate a crash."""


def _train_and_die(ckpt_dir: str, die_at: int) -> None:
    """Subprocess entry: train the toy recipe and SIGKILL ourselves right after step ``die_at``."""
    import signal

    torch.set_num_threads(1)

    def on_step(step, row):
        if step == die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    train(make_net(), ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt_dir, on_step=on_step)
    print(json.dumps({"finished": True}))


if __name__ == "__main__":
    if sys.argv[1] == "train-and-die":
        _train_and_die(sys.argv[2], int(sys.argv[3]))
