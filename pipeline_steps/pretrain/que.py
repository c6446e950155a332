"""The ``[QUE]`` token of paper 000 (Sec. 3.1): one per masked entity span of the source sentence.

It is added to the tokenizer as an extra special token, so it is never split, never lower-cased and
skipped by ``decode(..., skip_special_tokens=True)``. A model trained with it must have its embedding
matrix resized to ``len(tokenizer)`` (``pretrain.model.load_clism_model`` does).
"""

from __future__ import annotations

import inspect

QUE_TOKEN = "[QUE]"


def add_que_token(tokenizer) -> int:
    """Register ``[QUE]`` as an extra special token of ``tokenizer`` (kept with the existing extra
    special tokens) unless it already is one; return its id. Idempotent."""
    if QUE_TOKEN not in tokenizer.all_special_tokens:
        params = inspect.signature(tokenizer.add_special_tokens).parameters
        if "replace_extra_special_tokens" in params:  # transformers >= 5
            tokenizer.add_special_tokens(
                {"extra_special_tokens": [QUE_TOKEN]}, replace_extra_special_tokens=False
            )
        else:  # transformers 4
            tokenizer.add_special_tokens(
                {"additional_special_tokens": [QUE_TOKEN]}, replace_additional_special_tokens=False
            )
    return que_token_id(tokenizer)


def que_token_id(tokenizer) -> int:
    """The id of ``[QUE]``; ValueError if ``tokenizer`` does not know it as a special token."""
    if QUE_TOKEN not in tokenizer.all_special_tokens:
        raise ValueError(f"the tokenizer has no {QUE_TOKEN} token: call add_que_token(tokenizer) first")
    return int(tokenizer.convert_tokens_to_ids(QUE_TOKEN))


def load_que_tokenizer(name_or_path: str):
    """``AutoTokenizer.from_pretrained(name_or_path)`` (a fast tokenizer: CLISM needs its word ids)
    with ``[QUE]`` added."""
    from transformers import AutoTokenizer

    from pipeline_steps.errors import ConfigError

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if not tokenizer.is_fast:
        raise ConfigError(f"{name_or_path}: CLISM needs a fast tokenizer (word ids), got {type(tokenizer)}")
    add_que_token(tokenizer)
    return tokenizer


def que_embeddings(model, tokenizer) -> int:
    """Make sure ``tokenizer`` knows ``[QUE]`` (``add_que_token``) and ``model`` has an input-embedding
    row for it: ``resize_token_embeddings(len(tokenizer))`` when the embedding matrix is smaller (a
    folder written by continued pre-training already has the row). Returns the id of [QUE]."""
    que_id = add_que_token(tokenizer)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return que_id
