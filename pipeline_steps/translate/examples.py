"""Translate-train data for sentence(-pair) classification: the source training examples translated into
one target language, each keeping its source label (paper 002 Sec. 4 and paper 003's translate-train:
the label of a sentence pair survives translation, so no projection is needed).

Both texts of an example go through the configured provider and the shared translation cache
(``translate_cached``); an example whose text_a (or, for pairs, text_b) translates to nothing is dropped
and counted in the log.
"""

from __future__ import annotations

import logging

import pandas as pd

from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import CLS_EXAMPLES
from pipeline_steps.translate.base import check_source_lang, make_provider, redact_urls
from pipeline_steps.translate.cache import translate_cached

log = logging.getLogger(__name__)


def translated_examples(
    source: pd.DataFrame, text_a: list[str], text_b: list[str] | None, tgt: str
) -> pd.DataFrame:
    """CLS_EXAMPLES rows of the translations (``translated-{tgt}-{row:06d}``; ``source`` = the source
    example id, ``line`` = its line); rows with an empty translation are left out."""
    keep = [bool(a.strip()) and (text_b is None or bool(text_b[i].strip())) for i, a in enumerate(text_a)]
    rows = pd.DataFrame(
        {
            "id": [f"translated-{tgt}-{i:06d}" for i in range(len(source))],
            "lang": tgt,
            "split": "translated",
            "text_a": text_a,
            "text_b": text_b if text_b is not None else [None] * len(source),
            "label": list(source["label"]),
            "source": list(source["id"]),
            "line": list(source["line"]),
        }
    )
    return rows[keep].reset_index(drop=True)


def main(ctx) -> None:
    """Rule ``translate_examples``. input: examples (cls_examples of the source training set); output:
    examples (cls_examples in ``tgt_lang``); params as the ``translate`` rule: provider, src_lang, tgt_lang,
    cache_dir, chunk_size, options."""
    p = ctx.params
    src, tgt = p["src_lang"], p["tgt_lang"]
    path = str(ctx.input["examples"])
    source = read_artifact(path, CLS_EXAMPLES)
    check_source_lang(source, path, src)
    if p.get("max_examples"):  # paper 002's few-shot setting: D_bi translates a few examples of D
        source = source.head(int(p["max_examples"])).reset_index(drop=True)
    provider = make_provider(p["provider"], p["options"] or {}, threads=ctx.threads)
    pairs = source["text_b"].notna().any()
    texts = list(source["text_a"]) + (list(source["text_b"].fillna("")) if pairs else [])
    out, stats = translate_cached(provider, texts, src, tgt, p["cache_dir"], chunk_size=int(p["chunk_size"]))
    n = len(source)
    frame = translated_examples(source, out[:n], out[n:] if pairs else None, tgt)
    log.info(
        "%s %s->%s: %d texts (%d from cache, %d translated); %d of %d examples kept",
        redact_urls(provider.identity(src, tgt)),
        src,
        tgt,
        stats.sentences,
        stats.cached,
        stats.translated,
        len(frame),
        n,
    )
    write_artifact(frame, ctx.output["examples"], CLS_EXAMPLES)
