"""Step ``ingest``: one raw data file -> a ``sentences`` artifact (``qa_examples`` for SQuAD JSON)."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.formats import artifact_for, read
from pipeline_steps.io import write_artifact
from pipeline_steps.schemas import QA_EXAMPLES, SENTENCES, SRL_INSTANCES
from pipeline_steps.tags import OUTSIDE, spans_from_tags, split_tag

log = logging.getLogger(__name__)

STEP_PARAMS = ("format", "lang", "split", "scheme")


def sentence_stats(df: pd.DataFrame, scheme: str) -> dict[str, Any]:
    """Counts of a sentences table: sentences, tokens, labelled sentences, documents, entities per type."""
    entities: Counter[str] = Counter()
    labelled = df["tags"].notna()
    for tags in df.loc[labelled, "tags"]:
        entities.update(label for _, _, label in spans_from_tags(tags, scheme))
    return {
        "sentences": len(df),
        "tokens": int(df["tokens"].map(len).sum()),
        "labelled": int(labelled.sum()),
        "documents": int(df["doc_id"].nunique()),
        "entities": dict(sorted(entities.items())),
    }


def qa_stats(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "questions": len(df),
        "contexts": int(df["context"].nunique()),
        "titles": int(df["title"].nunique()),
        "answers": int(df["answer_texts"].map(len).sum()),
    }


def srl_stats(df: pd.DataFrame) -> dict[str, Any]:
    roles: Counter[str] = Counter(split_tag(t)[1] for tags in df["tags"] for t in tags if t != OUTSIDE)
    return {
        "sentences": int(df["sentence_id"].nunique()),
        "predicates": len(df),
        "arguments": dict(sorted(roles.items())),
    }


def main(ctx) -> None:
    """ctx.input ``raw``; ctx.output ``examples`` (the format's artifact: sentences, qa_examples or
    cls_examples);
    ctx.params ``format``, ``lang``, ``split``, ``scheme`` and reader options (``input_scheme``,
    ``tokenize``, ``encoding``, ...; None = the reader's default); ``skip`` drops the first N
    records and ``limit`` then keeps the first N (a dev split carved from a train file: train
    ``limit: 1800``, dev ``skip: 1800``); the whole file is still read and checked.

    ``labels`` (optional list of entity types, e.g. ``["PER", "ORG", "LOC", "MISC"]``; None = no
    check): a tag of any other type is an InputFormatError naming the file, line and tag.
    ``require_tags`` (optional bool, default false; true for train/dev/test/gold data): an
    unlabelled file (no tag column, format ``lines``) is an InputFormatError naming the file. For the
    classification formats both apply to the label column; neither applies to format ``squad``."""
    params = dict(ctx.params)
    missing = [k for k in ("format", "lang", "split") if not params.get(k)]
    if missing:
        raise ConfigError(f"ingest: missing param(s) {missing}")
    fmt, lang, split = params.pop("format"), params.pop("lang"), params.pop("split")
    scheme = params.pop("scheme", None) or "bio"
    limit = params.pop("limit", None)
    skip = params.pop("skip", None)
    labels = params.pop("labels", None)
    require_tags = bool(params.pop("require_tags", None))
    raw = str(ctx.input["raw"])
    df = read(raw, fmt, lang, split, scheme, labels=labels, require_tags=require_tags, **params)
    if skip:
        log.info("%s: skipping the first %d of %d records (data skip)", raw, skip, len(df))
        df = df.iloc[skip:].reset_index(drop=True)
    if limit is not None and len(df) > limit:
        log.info("%s: keeping the first %d of %d records (data limit)", raw, limit, len(df))
        df = df.head(limit)
    artifact = artifact_for(fmt)
    if artifact is SENTENCES:
        stats = sentence_stats(df, scheme)
    elif artifact is QA_EXAMPLES:
        stats = qa_stats(df)
    elif artifact is SRL_INSTANCES:
        stats = srl_stats(df)
    else:
        stats = {"examples": len(df), "labels": df["label"].value_counts(dropna=False).to_dict()}
    log.info("%s (%s, %s/%s): %s", raw, fmt, split, lang, stats)
    write_artifact(df, ctx.output["examples"], artifact)
