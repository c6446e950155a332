"""Label projection from a source sentence to its translation through word alignments.

Two mappings (paper 001 Sec. 2.2, Figure 1, Table 5):

- ``span2span`` (the paper's, Eq. 2): a source span ``[i, n]`` goes to the target span
  ``[j, m]`` with ``j = min a_{i:n}`` and ``m = max a_{i:n}``, the smallest and largest target
  positions linked to any of its words. Unlinked source words are ignored; a span none of whose
  words is linked is not projected. Target words inside ``[j, m]`` that are not linked (e.g. "de"
  in "Copa de Europa") are covered too, which is what makes it robust to word order and to
  missing links.
- ``word2word`` (the baseline of Table 5; Mayhew et al. 2017, Fei et al. 2020): every target word
  linked to a word of a source span takes that span's label; each maximal run of contiguous
  target words that came from the same source span becomes one span.

Conflicts are resolved by source order: source spans are processed by start position and a
projected span (span2span) or target word (word2word) that overlaps what an earlier source span
already claimed is dropped; the number of source spans dropped that way is counted. Boundary tags
are re-generated in the configured scheme with ``tags.tags_from_spans``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline_steps.align.symmetrize import Link
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.method_names import MAPPINGS
from pipeline_steps.schemas import ALIGNMENTS, PAIRS, PROJECTED, SPANS
from pipeline_steps.tags import Span, check_scheme, tags_from_spans

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Projection:
    """Target spans of one sentence pair and what happened to the source spans.

    ``n_projected``: source spans that gave at least one target span; ``n_overlap``: source spans
    whose every projection overlapped an earlier one (dropped); ``n_unaligned``: source spans with
    no linked word. ``n_projected + n_overlap + n_unaligned`` = number of source spans.
    """

    spans: list[Span]
    n_projected: int
    n_overlap: int
    n_unaligned: int


def _targets_by_source(links: Iterable[Link]) -> dict[int, list[int]]:
    by_src: dict[int, list[int]] = defaultdict(list)
    for s, t in links:
        by_src[s].append(t)
    return by_src


def project_span2span(src_spans: Sequence[Span], links: Iterable[Link]) -> Projection:
    """Eq. 2 of paper 001: each source span maps to [min, max] of its words' linked target words."""
    by_src = _targets_by_source(links)
    taken: list[tuple[int, int]] = []
    out: list[Span] = []
    n_overlap = n_unaligned = 0
    for start, end, label in sorted(src_spans):
        targets = [t for s in range(start, end) for t in by_src.get(s, ())]
        if not targets:
            n_unaligned += 1
            continue
        j, m = min(targets), max(targets) + 1
        if any(j < b and a < m for a, b in taken):
            n_overlap += 1
            continue
        taken.append((j, m))
        out.append((j, m, label))
    return Projection(sorted(out), len(out), n_overlap, n_unaligned)


def project_word2word(src_spans: Sequence[Span], links: Iterable[Link]) -> Projection:
    """Each linked target word copies its source span's label; contiguous runs of one span -> spans."""
    by_src = _targets_by_source(links)
    owner: dict[int, int] = {}  # target word -> index of the source span that claimed it
    ordered = sorted(src_spans)
    n_overlap = n_unaligned = 0
    for k, (start, end, _label) in enumerate(ordered):
        targets = {t for s in range(start, end) for t in by_src.get(s, ())}
        if not targets:
            n_unaligned += 1
            continue
        free = targets - owner.keys()
        if not free:
            n_overlap += 1
            continue
        for t in free:
            owner[t] = k
    out: list[Span] = []
    for t in sorted(owner):
        k = owner[t]
        if out and out[-1][1] == t and owner[t - 1] == k:
            out[-1] = (out[-1][0], t + 1, out[-1][2])
        else:
            out.append((t, t + 1, ordered[k][2]))
    return Projection(out, len(set(owner.values())), n_overlap, n_unaligned)


def project_spans(src_spans: Sequence[Span], links: Iterable[Link], mapping: str) -> Projection:
    """Project ``src_spans`` (word indices, end exclusive) through ``links`` with ``mapping``."""
    if mapping == "span2span":
        return project_span2span(src_spans, links)
    if mapping == "word2word":
        return project_word2word(src_spans, links)
    raise ConfigError(f"unknown projection mapping {mapping!r}; expected one of {MAPPINGS}")


def project_tags(
    src_spans: Sequence[Span], links: Iterable[Link], n_tgt: int, mapping: str, scheme: str = "bio"
) -> tuple[list[str], Projection]:
    """Target tags (``scheme``) of a sentence of ``n_tgt`` words, and the projection behind them."""
    proj = project_spans(src_spans, links, mapping)
    return tags_from_spans(n_tgt, proj.spans, scheme), proj


def spans_by_sentence(pairs: pd.DataFrame, spans: pd.DataFrame, spans_path: str) -> dict[str, list[Span]]:
    """The source spans of each pair's source sentence; ArtifactError for a span outside its sentence
    (spans of sentences that are in no pair are ignored)."""
    src_len = dict(zip(pairs["src_id"], pairs["src_tokens"].map(len), strict=True))
    by_sentence: dict[str, list[Span]] = defaultdict(list)
    for r, (sid, start, end, label) in enumerate(
        zip(spans["sentence_id"], spans["start"], spans["end"], spans["label"], strict=True)
    ):
        if sid not in src_len:
            continue  # spans of sentences that are not in these pairs
        if not 0 <= start < end <= src_len[sid]:
            raise ArtifactError(
                spans_path, r, "end", f"span [{start}, {end}) outside {sid} ({src_len[sid]} words)"
            )
        by_sentence[sid].append((int(start), int(end), str(label)))
    return by_sentence


def pair_links(
    pairs: pd.DataFrame, alignments: pd.DataFrame, paths: tuple[str, str]
) -> Iterator[tuple[Any, set[Link]]]:
    """Each pair (a row tuple) with its alignment links; ArtifactError for a pair without alignment or
    a link outside its pair. ``paths``: (pairs, alignments) files, for the messages."""
    pairs_path, align_path = paths
    row_of = {pid: r for r, pid in enumerate(alignments["pair_id"])}
    for r, pair in enumerate(pairs.itertuples(index=False)):
        if pair.id not in row_of:
            raise ArtifactError(
                align_path, None, "pair_id", f"no alignment for pair {pair.id!r} ({pairs_path} row {r})"
            )
        a_row = row_of[pair.id]
        links = {(int(d["s"]), int(d["t"])) for d in alignments["links"].iloc[a_row]}
        n_src, n_tgt = len(pair.src_tokens), len(pair.tgt_tokens)
        bad = [(s, t) for s, t in sorted(links) if not (0 <= s < n_src and 0 <= t < n_tgt)]
        if bad:
            raise ArtifactError(
                align_path, a_row, "links", f"link {bad[0]} outside pair {pair.id} ({n_src} x {n_tgt})"
            )
        yield pair, links


def project_frame(
    pairs: pd.DataFrame,
    alignments: pd.DataFrame,
    spans: pd.DataFrame,
    *,
    mapping: str,
    scheme: str,
    lang: str | None = None,
    paths: tuple[str, str, str] = ("<pairs>", "<alignments>", "<spans>"),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """PROJECTED rows for every pair, and totals (source spans, projected, overlap, unaligned)."""
    if mapping not in MAPPINGS:
        raise ConfigError(f"unknown projection mapping {mapping!r}; expected one of {MAPPINGS}")
    check_scheme(scheme)
    pairs_path, align_path, spans_path = paths
    by_sentence = spans_by_sentence(pairs, spans, spans_path)
    rows = []
    totals = dict.fromkeys(("src_spans", "projected", "overlap", "unaligned"), 0)
    for pair, links in pair_links(pairs, alignments, (pairs_path, align_path)):
        src_spans = by_sentence.get(pair.src_id, [])
        tags, proj = project_tags(src_spans, links, len(pair.tgt_tokens), mapping, scheme)
        rows.append(
            {
                "id": pair.id,
                "src_id": pair.src_id,
                "lang": lang or pair.tgt_lang,
                "tokens": list(pair.tgt_tokens),
                "tags": tags,
                "n_src_spans": len(src_spans),
                "n_projected": proj.n_projected,
                "mapping": mapping,
            }
        )
        totals["src_spans"] += len(src_spans)
        totals["projected"] += proj.n_projected
        totals["overlap"] += proj.n_overlap
        totals["unaligned"] += proj.n_unaligned
    columns = PROJECTED.columns
    return pd.DataFrame(rows, columns=columns), totals


def main(ctx) -> None:
    """input {pairs, alignments, spans}; output {projected}; params {mapping, scheme, lang}."""
    paths = (str(ctx.input["pairs"]), str(ctx.input["alignments"]), str(ctx.input["spans"]))
    pairs = read_artifact(paths[0], PAIRS)
    alignments = read_artifact(paths[1], ALIGNMENTS)
    spans = read_artifact(paths[2], SPANS)
    out, totals = project_frame(
        pairs,
        alignments,
        spans,
        mapping=ctx.params["mapping"],
        scheme=ctx.params["scheme"],
        lang=ctx.params["lang"],
        paths=paths,
    )
    log.info(
        "projected %d of %d source spans (%d dropped as overlapping, %d without links) into %d sentences",
        totals["projected"],
        totals["src_spans"],
        totals["overlap"],
        totals["unaligned"],
        len(out),
    )
    write_artifact(out, ctx.output["projected"], PROJECTED)
