"""Translation fetch: translate the source training set into a target language (``translate:main``).

Each ingested source sentence is Moses-detokenized (the text an MT system expects), translated by a
provider (``file``, ``apertium``, ``hf``, ``http``; see ``base.make_provider``) through the Parquet
cache in ``cache_dir``, and the translation Moses-tokenized into ``tgt_tokens``. These are the
translated sentences x^tgt of Li et al. (2020, Sec. 2.2 label projection, Sec. 4 Translate-Train),
whose labels the ``align`` and ``project`` steps fill in, and the unlabelled MT augmentation of
xTune (Zheng et al., 2021, Sec. 3.2.4).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sacremoses import MosesDetokenizer, MosesTokenizer

from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import PAIRS, SENTENCES
from pipeline_steps.translate import apertium, file, hf, http  # noqa: F401  (register the providers)
from pipeline_steps.translate.base import (
    Provider,
    TranslationError,
    available_providers,
    check_source_lang,
    make_provider,
    redact_urls,
    register,
)
from pipeline_steps.translate.cache import CacheStats, TranslationCache, text_key, translate_cached

__all__ = [
    "CacheStats",
    "Provider",
    "TranslationCache",
    "TranslationError",
    "available_providers",
    "build_pairs",
    "detokenize",
    "main",
    "make_provider",
    "register",
    "text_key",
    "tokenize",
    "translate_cached",
]

log = logging.getLogger(__name__)


def detokenize(sentences: list[list[str]], lang: str) -> list[str]:
    """The text sent to MT: each token list detokenized with sacremoses ``MosesDetokenizer(lang)``."""
    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(tokens) for tokens in sentences]


def tokenize(texts: list[str], lang: str) -> list[list[str]]:
    """Translations tokenized with sacremoses ``MosesTokenizer(lang)`` (no XML escaping)."""
    tok = MosesTokenizer(lang=lang)
    return [tok.tokenize(t, escape=False) if t.strip() else [] for t in texts]


def build_pairs(
    sentences: pd.DataFrame, translations: list[str], src_lang: str, tgt_lang: str, provider_key: str
) -> tuple[pd.DataFrame, int]:
    """The ``pairs`` rows of the translated corpus, and how many empty translations were dropped.

    The pair id is ``translated-{src}-{tgt}-{index:06d}`` with the source sentence's row index, so
    ids stay the same whichever rows are dropped.
    """
    tgt_tokens = tokenize(translations, tgt_lang)
    rows = [
        {
            "id": f"translated-{src_lang}-{tgt_lang}-{i:06d}",
            "src_id": sid,
            "tgt_id": None,
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "src_tokens": list(toks),
            "tgt_tokens": tt,
            "provider": provider_key,
        }
        for i, (sid, toks, tt) in enumerate(
            zip(sentences["id"], sentences["tokens"], tgt_tokens, strict=True)
        )
        if tt
    ]
    df = pd.DataFrame(rows, columns=PAIRS.columns)
    return df, len(sentences) - len(df)


def _param(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value in (None, ""):
        raise ConfigError(f"translate: missing parameter {key!r}")
    return value


def main(ctx) -> None:
    """Rule ``translate``.

    input: ``sentences`` (ingest artifact of the source training set).
    output: ``pairs`` (pairs artifact, corpus ``translated``).
    params: ``provider`` (file|apertium|hf|http), ``src_lang``, ``tgt_lang``, ``cache_dir`` (None: no
    cache), ``options`` (provider options), optional ``chunk_size`` (sentences per cache part, 1000).
    """
    params = ctx.params
    name, src, tgt = _param(params, "provider"), _param(params, "src_lang"), _param(params, "tgt_lang")
    path = ctx.input["sentences"]
    sentences = read_artifact(path, SENTENCES)
    check_source_lang(sentences, str(path), src)
    provider = make_provider(name, params.get("options") or {}, threads=ctx.threads)
    key = redact_urls(provider.identity(src, tgt))  # logged and stored: no URL credentials
    texts = detokenize(list(sentences["tokens"]), src)
    translations, stats = translate_cached(
        provider, texts, src, tgt, params["cache_dir"], chunk_size=int(params["chunk_size"])
    )
    log.info(
        "%s %s->%s: %d sentences, %d distinct, %d from cache, %d translated, %d new cache part(s)",
        key,
        src,
        tgt,
        stats.sentences,
        stats.unique,
        stats.cached,
        stats.translated,
        stats.parts_written,
    )
    pairs, dropped = build_pairs(sentences, translations, src, tgt, key)
    if dropped:
        log.warning("dropped %d of %d sentences with an empty translation", dropped, len(sentences))
    write_artifact(pairs, ctx.output["pairs"], PAIRS)
    log.info("wrote %d pairs to %s", len(pairs), ctx.output["pairs"])
