"""Word alignment of sentence pairs (paper 001 Sec. 2.2: the links label projection follows).

A backend is a module in ``BACKENDS`` exposing

- ``directional(src, tgt, *, seed, threads, options) -> (forward, reverse)``: per sentence pair, the
  links of the source->target and target->source models, both as 0-based ``(s, t)`` sets;
- ``LOWERCASE``: whether tokens are lowercased before they reach it (statistical aligners: yes);
- ``trains_on_corpus(options) -> bool``: whether, with these options, it learns from the whole corpus
  (then the extra parallel data is passed too: eflomal, fast_align, the embedding aligner with
  awesome-align's self-training) or aligns each pair on its own (the frozen embedding aligner: only the
  pairs to align are passed).

The common layer cleans tokens (whitespace inside a token and fast_align's ``|||`` separator would
change the token count), leaves empty sentences out of the backend's corpus (they get no links),
checks every link is inside its sentence pair and symmetrizes (``symmetrize.METHODS``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import pandas as pd

from pipeline_steps.align.aer import aer, read_talp
from pipeline_steps.align.symmetrize import METHODS, Link
from pipeline_steps.align.symmetrize import symmetrize as symmetrize_links
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import ALIGNMENTS, PAIRS

log = logging.getLogger(__name__)

__all__ = ["BACKENDS", "METHODS", "aer", "align_corpus", "align_pairs", "get_backend", "main", "read_talp"]

#: backend name -> module (imported on first use).
BACKENDS: dict[str, str] = {
    "eflomal": "pipeline_steps.align.eflomal",
    "fast_align": "pipeline_steps.align.fast_align",
    "embedding": "pipeline_steps.align.embedding",
}


def get_backend(name: str) -> ModuleType:
    """The backend module called ``name``."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown alignment backend {name!r}; expected one of {sorted(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


def clean_token(token: str, lowercase: bool) -> str:
    """A token the aligners read as exactly one token: no inner whitespace, never empty or '|||'."""
    token = "".join("_" if ch.isspace() else ch for ch in token) or "_"
    if token == "|||":
        token = "<|||>"
    return token.lower() if lowercase else token


def align_corpus(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    *,
    backend: str,
    symmetrization: str = "grow-diag-final-and",
    n_keep: int | None = None,
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> list[set[Link]]:
    """Symmetrized links of the first ``n_keep`` pairs (default all), the aligner seeing every pair.

    Pairs after ``n_keep`` are extra training data for a backend that ``trains_on_corpus``.
    """
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    if symmetrization not in METHODS:
        raise ConfigError(f"unknown symmetrization {symmetrization!r}; expected one of {sorted(METHODS)}")
    n_keep = len(src) if n_keep is None else n_keep
    module = get_backend(backend)
    n_used = len(src) if module.trains_on_corpus(options) else n_keep
    keep = [i for i in range(n_used) if len(src[i]) and len(tgt[i])]
    out: list[set[Link]] = [set() for _ in range(n_keep)]
    if not keep or keep[0] >= n_keep:
        return out  # nothing to align
    clean_src = [[clean_token(w, module.LOWERCASE) for w in src[i]] for i in keep]
    clean_tgt = [[clean_token(w, module.LOWERCASE) for w in tgt[i]] for i in keep]
    log.info("aligning %d pairs with %s (%d kept for output)", len(keep), backend, n_keep)
    forward, reverse = module.directional(clean_src, clean_tgt, seed=seed, threads=threads, options=options)
    if len(forward) != len(keep) or len(reverse) != len(keep):
        raise RuntimeError(f"{backend}: {len(forward)}/{len(reverse)} alignments for {len(keep)} pairs")
    for k, i in enumerate(keep):
        if i >= n_keep:
            break
        for direction, links in (("forward", forward[k]), ("reverse", reverse[k])):
            bad = [(s, t) for s, t in links if not (0 <= s < len(src[i]) and 0 <= t < len(tgt[i]))]
            if bad:
                raise RuntimeError(
                    f"backend {backend}: {direction} link {bad[0]} outside pair {i} "
                    f"({len(src[i])} x {len(tgt[i])} words)"
                )
        out[i] = symmetrize_links(forward[k], reverse[k], symmetrization)
    return out


def _check_languages(df: pd.DataFrame, path: str, src_lang: str, tgt_lang: str) -> None:
    for field, lang in (("src_lang", src_lang), ("tgt_lang", tgt_lang)):
        bad = (df[field] != lang).to_numpy().nonzero()[0]
        if len(bad):
            row = int(bad[0])
            raise ArtifactError(path, row, field, f"{df[field].iloc[row]!r} differs from the pairs' {lang!r}")


def align_pairs(
    pairs: pd.DataFrame,
    extra: Sequence[pd.DataFrame] = (),
    *,
    backend: str,
    symmetrization: str = "grow-diag-final-and",
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """ALIGNMENTS rows for ``pairs``; the aligner is trained on ``pairs`` + ``extra`` (PAIRS frames)."""
    src = list(pairs["src_tokens"]) + [t for df in extra for t in df["src_tokens"]]
    tgt = list(pairs["tgt_tokens"]) + [t for df in extra for t in df["tgt_tokens"]]
    links = align_corpus(
        src,
        tgt,
        backend=backend,
        symmetrization=symmetrization,
        n_keep=len(pairs),
        seed=seed,
        threads=threads,
        options=options,
    )
    return pd.DataFrame(
        {
            "pair_id": list(pairs["id"]),
            "links": [[{"s": s, "t": t} for s, t in sorted(ls)] for ls in links],
            "backend": backend,
            "symmetrization": symmetrization,
        }
    )


def links_of(value: Any) -> set[Link]:
    """The ``links`` cell of an ALIGNMENTS row as a set of ``(s, t)``."""
    return {(int(d["s"]), int(d["t"])) for d in value}


def main(ctx) -> None:
    """input {pairs, extra: [pairs...]}; output {alignments};
    params {backend, symmetrize, seed, options} (``options``: the backend's, e.g. ``binary`` of fast_align,
    ``align.embedding`` of the embedding aligner)."""
    pairs_path = ctx.input["pairs"]
    pairs = read_artifact(pairs_path, PAIRS)
    extra_paths = ctx.input.get("extra") or []
    if isinstance(extra_paths, str):
        extra_paths = [extra_paths]
    extra = []
    if len(pairs):
        src_lang, tgt_lang = pairs["src_lang"].iloc[0], pairs["tgt_lang"].iloc[0]
        _check_languages(pairs, str(pairs_path), src_lang, tgt_lang)
        for path in extra_paths:
            df = read_artifact(path, PAIRS)
            _check_languages(df, str(path), src_lang, tgt_lang)
            extra.append(df)
    out = align_pairs(
        pairs,
        extra,
        backend=ctx.params["backend"],
        symmetrization=ctx.params["symmetrize"],
        seed=ctx.params["seed"],
        threads=ctx.threads,
        # scratch space (eflomal / fast_align corpus files) next to the output, not in the system temp dir
        options={**(ctx.params.get("options") or {}), "scratch_next_to": str(ctx.output["alignments"])},
    )
    n_links = int(out["links"].map(len).sum())
    log.info("aligned %d pairs (+%d extra); %d links", len(pairs), sum(map(len, extra)), n_links)
    write_artifact(out, ctx.output["alignments"], ALIGNMENTS)
