"""A Parquet translation cache shared by runs: ``{cache_dir}/part-*.parquet``.

Rows follow ``schemas.TRANSLATION_CACHE`` and are keyed by (sha256 of the NFC source text, src_lang,
tgt_lang, provider identity with URL credentials removed: ``base.redact_urls``). A run never
rewrites a file: it adds new part files holding only the rows it translated (one per chunk of
``chunk_size`` new sentences, so an interrupted run keeps what it finished), each written atomically
(temporary file + rename). Reading takes the union of all parts, so concurrent runs cannot corrupt
the cache; at worst two of them translate the same text at the same time and the duplicate row is
ignored on read. A corrupt part is skipped with a warning and its entries are translated again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import TRANSLATION_CACHE
from pipeline_steps.text import nfc
from pipeline_steps.translate.base import Provider, check_output, redact_urls

log = logging.getLogger(__name__)

PART_GLOB = "part-*.parquet"


def text_key(text: str) -> str:
    """sha256 (hex) of the UTF-8 source text in Unicode NFC."""
    return hashlib.sha256(nfc(text).encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    sentences: int = 0
    unique: int = 0
    cached: int = 0
    translated: int = 0
    parts_written: int = 0


class TranslationCache:
    """The cached translations of one (src_lang, tgt_lang, provider identity) in ``cache_dir``."""

    def __init__(self, cache_dir: str | os.PathLike, src_lang: str, tgt_lang: str, provider: str):
        self.dir = Path(cache_dir)
        self.src_lang, self.tgt_lang, self.provider = src_lang, tgt_lang, redact_urls(provider)
        self._rows: dict[str, str] = {}
        self.reload()

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob(PART_GLOB)) if self.dir.is_dir() else []

    def reload(self) -> None:
        """Read the union of all part files (rows of other languages/providers are skipped).

        A part that cannot be read (corrupt, not Parquet, wrong schema) is skipped with a warning
        naming it; its entries count as not cached and are translated (and cached) again.
        """
        rows: dict[str, str] = {}
        for part in self.parts():
            try:
                df = read_artifact(part, TRANSLATION_CACHE)
            except ArtifactError as err:
                if part.exists():  # else removed by someone between listing and reading
                    log.warning("translation cache: skipping unreadable part %s (%s)", part, err)
                continue
            mine = df[
                (df["src_lang"] == self.src_lang)
                & (df["tgt_lang"] == self.tgt_lang)
                & (df["provider"] == self.provider)
            ]
            for key, text, translation in zip(
                mine["key"], mine["source_text"], mine["translation"], strict=True
            ):
                if key == text_key(text):
                    rows.setdefault(key, translation)
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> str | None:
        return self._rows.get(text_key(text))

    def add(self, texts: list[str], translations: list[str]) -> Path | None:
        """Write the new (text, translation) rows as one new part file; return its path.

        Empty translations are not cached, so a later run asks the provider again.
        """
        new = {}
        for text, tr in zip(texts, translations, strict=True):
            key = text_key(text)
            if tr.strip() and key not in self._rows and key not in new:
                new[key] = (nfc(text), tr)
        if not new:
            return None
        df = pd.DataFrame(
            {
                "key": list(new),
                "src_lang": self.src_lang,
                "tgt_lang": self.tgt_lang,
                "provider": self.provider,
                "source_text": [t for t, _ in new.values()],
                "translation": [tr for _, tr in new.values()],
            }
        )
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.dir / f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        write_artifact(df, path, TRANSLATION_CACHE)
        self._rows.update({k: tr for k, (_, tr) in new.items()})
        return path


def translate_cached(
    provider: Provider,
    texts: list[str],
    src_lang: str,
    tgt_lang: str,
    cache_dir: str | os.PathLike | None,
    chunk_size: int = 1000,
) -> tuple[list[str], CacheStats]:
    """Translate ``texts`` (order kept), asking ``provider`` only for texts not cached yet.

    Identical texts are translated once; empty texts map to "" without a provider call. Without a
    ``cache_dir`` (or for a provider that is not cacheable) only the in-run deduplication applies.
    Texts are NFC-normalised first (what the provider gets and the cache is keyed by).
    """
    texts = [nfc(t) for t in texts]
    stats = CacheStats(sentences=len(texts))
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    stats.unique = len(unique)
    cache = None
    if cache_dir is not None and provider.cacheable:
        cache = TranslationCache(cache_dir, src_lang, tgt_lang, provider.identity(src_lang, tgt_lang))
    done: dict[str, str] = {}
    if cache is not None:
        for t in unique:
            hit = cache.get(t)
            if hit is not None:
                done[t] = hit
    stats.cached = len(done)
    todo = [t for t in unique if t not in done]
    for start in range(0, len(todo), max(1, chunk_size)):
        chunk = todo[start : start + max(1, chunk_size)]
        out = check_output(provider.name, chunk, provider.translate(chunk, src_lang, tgt_lang))
        done.update(zip(chunk, out, strict=True))
        stats.translated += len(chunk)
        if cache is not None and cache.add(chunk, out) is not None:
            stats.parts_written += 1
    return [done.get(t, "") for t in texts], stats
