"""Rule ``embed``: the frozen encoder of f_emb over one examples artifact, once per experiment.

Classification: the sentence vector of ``text_a`` (and of ``text_b`` for pairs), ``models/
sentence_embedding.py``. Tagging: the encoder's final hidden state at each word's first sub-word, the
words' vectors concatenated in ``vector`` (a word cut at ``max_length`` gets zeros), for f_emb's tag head.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from pipeline_steps.cotrain import TAGGING, examples_artifact
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.models.sentence_embedding import encode_texts, load_encoder
from pipeline_steps.schemas import EMBEDDINGS

log = logging.getLogger(__name__)


def embed_examples(examples: pd.DataFrame, encoder, batch_size: int) -> pd.DataFrame:
    """EMBEDDINGS rows of classification ``examples``: vectors of text_a and, for pairs, of text_b."""
    pairs = examples["text_b"].notna()
    if bool(pairs.any()) and not bool(pairs.all()):
        row = int(np.flatnonzero(~pairs.to_numpy())[0])
        raise ArtifactError("examples", row, "text_b", "mixes sentence pairs and single texts")
    vec_a = encode_texts(encoder, list(examples["text_a"]), batch_size, "embed text_a")
    vec_b = (
        encode_texts(encoder, list(examples["text_b"]), batch_size, "embed text_b") if pairs.any() else None
    )
    return pd.DataFrame(
        {
            "id": examples["id"],
            "lang": examples["lang"],
            "vector": list(vec_a),
            "vector_b": list(vec_b) if vec_b is not None else [None] * len(examples),
        }
    )


def embed_sentences(sentences: pd.DataFrame, encoder, batch_size: int) -> pd.DataFrame:
    """EMBEDDINGS rows of tagging ``sentences``: each word's vector, concatenated (``encode_words``)."""
    words = encoder.encode_words([list(t) for t in sentences["tokens"]], batch_size)
    return pd.DataFrame(
        {
            "id": sentences["id"],
            "lang": sentences["lang"],
            "vector": [w.reshape(-1) for w in words],
            "vector_b": [None] * len(sentences),
        }
    )


def main(ctx) -> None:
    """input: examples (cls_examples or sentences), model (optional: the encoder folder the workflow
    built); output: embeddings. params: task_kind, kind, name_or_path, batch_size, max_length."""
    p = ctx.params
    torch.manual_seed(0)
    kind = str(p["task_kind"])
    if kind == TAGGING and p["kind"] != "hf":
        raise ConfigError("cotrain.embedding.kind: tagging needs word vectors, i.e. kind hf")
    encoder = load_encoder(p["kind"], p.get("name_or_path"), int(p["max_length"]))
    examples = read_artifact(str(ctx.input["examples"]), examples_artifact(kind))
    batch = int(p["batch_size"])
    out = (
        embed_sentences(examples, encoder, batch)
        if kind == TAGGING
        else embed_examples(examples, encoder, batch)
    )
    write_artifact(out, ctx.output["embeddings"], EMBEDDINGS)
    log.info("embedded %d examples of %s", len(out), ctx.input["examples"])
