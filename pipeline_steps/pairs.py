"""Step ``pair_parallel``: two sentence-parallel ``sentences`` artifacts -> a ``pairs`` artifact."""

from __future__ import annotations

import logging

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError, InputFormatError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import PAIRS, SENTENCES

log = logging.getLogger(__name__)


def raw_source(df: pd.DataFrame, path: str) -> str:
    """The raw input file a sentences table was ingested from (its ``source`` column), else ``path``."""
    sources = df["source"].dropna().unique() if "source" in df.columns else []
    return str(sources[0]) if len(sources) == 1 else path


def pair_sentences(
    src: pd.DataFrame,
    tgt: pd.DataFrame,
    corpus: str,
    src_lang: str,
    tgt_lang: str,
    src_path: str = "<src>",
    tgt_path: str = "<tgt>",
) -> pd.DataFrame:
    """Row i of ``src`` with row i of ``tgt``: id ``{corpus}-{src_lang}-{tgt_lang}-{i:06d}``, provider
    ``parallel``. The two tables must have equal length (else an InputFormatError names the raw
    files, from the ``source`` column, and the first line without a partner) and the languages the
    params name."""
    if len(src) != len(tgt):
        src_raw, tgt_raw = raw_source(src, src_path), raw_source(tgt, tgt_path)
        long, long_raw, short_raw = (
            (src, src_raw, tgt_raw) if len(src) > len(tgt) else (tgt, tgt_raw, src_raw)
        )
        raise InputFormatError(
            long_raw,
            int(long["line"].iloc[min(len(src), len(tgt))]),
            f"sentence-parallel files differ in length: {src_raw} has {len(src)} sentences, {tgt_raw} "
            f"has {len(tgt)}; the sentence on this line is the first without a partner in {short_raw}",
        )
    for df, path, lang in ((src, src_path, src_lang), (tgt, tgt_path, tgt_lang)):
        bad = (df["lang"] != lang).to_numpy().nonzero()[0]
        if len(bad):
            row = int(bad[0])
            raise ArtifactError(path, row, "lang", f"language {df['lang'].iloc[row]!r}, expected {lang!r}")
    return pd.DataFrame(
        {
            "id": [f"{corpus}-{src_lang}-{tgt_lang}-{i:06d}" for i in range(len(src))],
            "src_id": list(src["id"]),
            "tgt_id": list(tgt["id"]),
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "src_tokens": list(src["tokens"]),
            "tgt_tokens": list(tgt["tokens"]),
            "provider": "parallel",
        },
        columns=PAIRS.columns,
    )


def main(ctx) -> None:
    """ctx.input ``src``, ``tgt`` (sentences); ctx.output ``pairs``; ctx.params ``corpus``, ``src_lang``,
    ``tgt_lang``."""
    p = ctx.params
    missing = [k for k in ("corpus", "src_lang", "tgt_lang") if not p.get(k)]
    if missing:
        raise ConfigError(f"pair_parallel: missing param(s) {missing}")
    src_path, tgt_path = str(ctx.input["src"]), str(ctx.input["tgt"])
    src = read_artifact(src_path, SENTENCES)
    tgt = read_artifact(tgt_path, SENTENCES)
    pairs = pair_sentences(src, tgt, p["corpus"], p["src_lang"], p["tgt_lang"], src_path, tgt_path)
    log.info("%s: %d pairs %s-%s", p["corpus"], len(pairs), p["src_lang"], p["tgt_lang"])
    write_artifact(pairs, ctx.output["pairs"], PAIRS)
