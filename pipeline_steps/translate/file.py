"""``file`` provider: translations supplied by the user, looked up by source text.

Formats: TSV (``source<TAB>translation``, one pair per line, blank lines ignored) or Parquet
(columns ``source`` and ``translation``), chosen by the file suffix. A source is matched exactly
against the Moses-detokenized sentence that would go to MT; failing that, a source written as
space-separated tokens (e.g. copied from CoNLL) matches too, since it is detokenized the same way.
Both sides are NFC-normalised before matching; a TSV is UTF-8 (a byte-order mark is ignored, an
invalid byte is an error naming its line).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sacremoses import MosesDetokenizer

from pipeline_steps.errors import ArtifactError, ConfigError, InputFormatError
from pipeline_steps.text import nfc, read_text, split_lines
from pipeline_steps.translate.base import TranslationError, register, take_options

log = logging.getLogger(__name__)


def read_translation_file(path: str | Path) -> dict[str, str]:
    """Read a TSV or Parquet translation file into {source: translation}."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"translate.file: translation file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_tsv(path)


def _read_tsv(path: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    lines = split_lines(read_text(path, hint="translation files must be UTF-8"))
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [nfc(f) for f in line.split("\t")]
        if len(fields) != 2:
            raise InputFormatError(
                str(path), lineno, f"expected 'source<TAB>translation' (2 fields), got {len(fields)}"
            )
        src, tgt = fields
        if not src.strip():
            raise InputFormatError(str(path), lineno, "empty source text")
        if src in table and table[src] != tgt:
            raise InputFormatError(
                str(path), lineno, f"source already translated differently on line {first_line[src]}"
            )
        table.setdefault(src, tgt)
        first_line.setdefault(src, lineno)
    return table


def _read_parquet(path: Path) -> dict[str, str]:
    try:
        tab = pq.read_table(path, page_checksum_verification=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(str(path), None, None, f"not a readable Parquet file: {exc}") from exc
    for col in ("source", "translation"):
        if col not in tab.column_names:
            raise ArtifactError(str(path), None, col, "missing column (need 'source' and 'translation')")
    sources = tab.column("source").to_pylist()
    targets = tab.column("translation").to_pylist()
    table: dict[str, str] = {}
    for row, (raw_src, raw_tgt) in enumerate(zip(sources, targets, strict=True)):
        for field, value in (("source", raw_src), ("translation", raw_tgt)):
            if not isinstance(value, str):
                raise ArtifactError(str(path), row, field, f"expected a string, got {value!r}")
        src, tgt = nfc(raw_src), nfc(raw_tgt)
        if src in table and table[src] != tgt:
            raise ArtifactError(str(path), row, "translation", "source already translated differently")
        table.setdefault(src, tgt)
    return table


@register("file")
class FileProvider:
    """Look translations up in a user-supplied file (not cached: the file is the cache)."""

    name = "file"
    cacheable = False

    def __init__(self, options: dict[str, Any], *, threads: int = 1):
        opts = take_options("file", options, {}, required=("path",))
        self.path = Path(opts["path"])
        self.table = read_translation_file(self.path)
        self._by_tokens: dict[str, dict[str, str]] = {}
        log.info("file provider: %d translations in %s", len(self.table), self.path)

    def identity(self, src_lang: str, tgt_lang: str) -> str:
        return f"file:{self.path}"

    def _tokenized_index(self, src_lang: str) -> dict[str, str]:
        if src_lang not in self._by_tokens:
            detok = MosesDetokenizer(lang=src_lang)
            index: dict[str, str] = {}
            for src, tgt in self.table.items():
                index.setdefault(detok.detokenize(src.split()), tgt)
            self._by_tokens[src_lang] = index
        return self._by_tokens[src_lang]

    def _lookup(self, text: str, src_lang: str) -> str | None:
        text = nfc(text)
        hit = self.table.get(text)
        return hit if hit is not None else self._tokenized_index(src_lang).get(text)

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        out = [self._lookup(t, src_lang) for t in texts]
        missing = [t for t, hit in zip(texts, out, strict=True) if hit is None]
        if missing:
            raise TranslationError(
                f"{self.path}: no translation for source sentence {missing[0]!r} ({len(missing)} of "
                f"{len(texts)} sentences missing; a source must equal the detokenized sentence or its "
                f"space-separated tokens)"
            )
        return [hit for hit in out if hit is not None]
