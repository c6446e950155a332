"""Step ``clism_examples``: CLISM inputs of paper 000 (Chen et al., NAACL 2022, Sec. 3.1, Figure 2).

From an English sentence s_s, its translation s_t, the English entity spans of s_s (spaCy, filtered
by the informative-span rules of Appendix B in the ``spans`` step) and word alignments of the pair:

1. every source span is aligned to a target span with Eq. 2 of paper 001 (as ``project.project_span2span``:
   ``[min, max]`` of the target words linked to its words), spans in source order; a span with no
   linked word is dropped (``n_unaligned``), as is one whose target span overlaps the target span of
   an earlier span, or whose words overlap an earlier span's (``n_overlap``). A dropped span's words
   stay in the source as they are;
2. each sentence is cut at the word level to at most ``max_length`` sub-words, special tokens not
   counted (Sec. 4.2: 128 per sentence, 256 in all), so word boundaries survive: the target first --
   a span whose answer is not entirely inside the kept target words (or has no sub-word) is dropped
   and its words stay in the source -- then the masked source, where a ``[QUE]`` beyond the cut
   drops its span (both counted in ``n_truncated``);
3. each remaining span of s_s is replaced by ONE ``[QUE]`` word, giving ŝ_s; the input is
   ``X = tokenizer(ŝ_s, s_t, is_split_into_words=True)``, the tokenizer's own pair template
   (``<s> ŝ_s </s></s> s_t </s>`` for XLM-R, ``[CLS] ŝ_s [SEP] s_t [SEP]`` for BERT);
4. the answer of each ``[QUE]`` is the inclusive sub-word positions in X of the first sub-word of its
   target span's first word and the last sub-word of its last word (target words are the pair's
   pre-tokenised words, so answers are at word granularity). ``source_ids`` is the original s_s alone
   with its special tokens (the second forward pass of CACR, Sec. 3.2), cut the same way.

``n_kept + n_unaligned + n_overlap + n_truncated = n_spans``, and ``n_kept`` = the number of ``[QUE]``
in X. Footnote 1 ("if the extracted entities of one sentence is none, we will remove it"): the
artifact keeps one row per pair, also those with ``n_kept = 0`` (empty lists), so the counts show why
a sentence yields nothing; the pre-training step skips them. Footnote 4 (answers are never masked by
MLM) is the pre-training step's business. A literal ``[QUE]`` inside a word of the pair is written
``[que]`` in the encoded words, so the only ``[QUE]`` tokens of X are the masks.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from tqdm import tqdm

from pipeline_steps import config_schema
from pipeline_steps.errors import ConfigError
from pipeline_steps.finetune import base_model
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.pretrain.que import QUE_TOKEN, load_que_tokenizer, que_token_id
from pipeline_steps.project import pair_links, spans_by_sentence
from pipeline_steps.schemas import ALIGNMENTS, CLISM_EXAMPLES, PAIRS, SPANS
from pipeline_steps.tags import Span

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH: int = config_schema.defaults("pretrain")["max_length"]  # 128 (paper 000, Sec. 4.2)
#: a kept span: source words [src_start, src_end), target words [tgt_start, tgt_end), label
KeptSpan = tuple[int, int, int, int, str]


@dataclass(frozen=True)
class ClismExample:
    """One CLISM input X and the answers of its ``[QUE]`` tokens.

    ``masked_tokens``: the words of ŝ_s in X (kept spans replaced by ``[QUE]``, cut to
    ``max_length`` sub-words); X holds them and the first ``n_tgt_words`` target words;
    ``source_ids`` the first ``n_src_words`` words of s_s. ``spans``, ``que_positions``,
    ``answer_starts``, ``answer_ends`` are parallel, in source order; answers are inclusive
    positions in ``input_ids``. ``[masked_start, masked_end)`` and ``[target_start, target_end)`` are
    the sub-word positions of ŝ_s and s_t in X, special tokens excluded (for mean pooling; an empty
    sentence gives an empty range).
    """

    masked_tokens: list[str]
    spans: list[KeptSpan]
    input_ids: list[int]
    source_ids: list[int]
    que_positions: list[int]
    answer_starts: list[int]
    answer_ends: list[int]
    masked_start: int
    masked_end: int
    target_start: int
    target_end: int
    n_src_words: int
    n_tgt_words: int
    n_spans: int
    n_unaligned: int
    n_overlap: int
    n_truncated: int
    n_kept: int


def _plain(word: str) -> str:
    return word.replace(QUE_TOKEN, QUE_TOKEN.lower())


def _piece_counts(tokenizer, words: Sequence[str]) -> list[int]:
    """Sub-words of each word (0 for a word the tokenizer drops, e.g. a lone zero-width space)."""
    counts = [0] * len(words)
    if not words:
        return counts
    enc = tokenizer(list(words), is_split_into_words=True, add_special_tokens=False)
    for w in enc.word_ids():
        if w is not None:
            counts[w] += 1
    return counts


def _fit(counts: Sequence[int], max_length: int) -> int:
    """Number of leading words whose sub-words add up to at most ``max_length``."""
    total = 0
    for i, c in enumerate(counts):
        total += c
        if total > max_length:
            return i
    return len(counts)


def _overlaps(span: tuple[int, int], taken: Iterable[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in taken)


def _segment(seq_ids: Sequence[int | None], k: int) -> tuple[int, int]:
    """[start, end) of the sub-words of sequence ``k``; an empty range at its place if it has none."""
    pos = [p for p, s in enumerate(seq_ids) if s == k]
    if pos:
        return pos[0], pos[-1] + 1
    if k == 0:
        p = 1 if seq_ids and seq_ids[0] is None else 0
    else:
        p = len(seq_ids) - 1 if seq_ids and seq_ids[-1] is None else len(seq_ids)
    return p, p


def build_example(
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    spans: Sequence[Span],
    links: Iterable[tuple[int, int]],
    tokenizer,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> ClismExample:
    """The CLISM example of one pair (see the module docstring). ``spans``: source word spans
    ``(start, end, label)``, end exclusive; ``links``: 0-based ``(source word, target word)``;
    ``tokenizer``: a fast tokenizer with ``[QUE]`` (``que.add_que_token``). ValueError on a span or
    link outside the pair."""
    if max_length < 1:
        raise ValueError(f"max_length must be positive (got {max_length})")
    que_id = que_token_id(tokenizer)
    src = [_plain(w) for w in src_tokens]
    tgt = [_plain(w) for w in tgt_tokens]
    n_src, n_tgt = len(src), len(tgt)
    by_src: dict[int, list[int]] = defaultdict(list)
    for s, t in links:
        if not (0 <= s < n_src and 0 <= t < n_tgt):
            raise ValueError(f"link {(s, t)} outside the pair ({n_src} x {n_tgt} words)")
        by_src[int(s)].append(int(t))
    ordered = sorted((int(a), int(b), str(label)) for a, b, label in spans)
    for a, b, _label in ordered:
        if not 0 <= a < b <= n_src:
            raise ValueError(f"span [{a}, {b}) outside the source sentence ({n_src} words)")

    # 1. Eq. 2 of paper 001, conflicts resolved in source order; 2a. the target cut
    tgt_counts = _piece_counts(tokenizer, tgt)
    n_tgt_words = _fit(tgt_counts, max_length)
    n_unaligned = n_overlap = n_truncated = 0
    taken_src: list[tuple[int, int]] = []
    taken_tgt: list[tuple[int, int]] = []
    candidates: list[KeptSpan] = []
    for a, b, label in ordered:
        targets = [t for s in range(a, b) for t in by_src.get(s, ())]
        if not targets:
            n_unaligned += 1
            continue
        j, m = min(targets), max(targets) + 1
        if _overlaps((j, m), taken_tgt) or _overlaps((a, b), taken_src):
            n_overlap += 1
            continue
        taken_src.append((a, b))
        taken_tgt.append((j, m))
        if m > n_tgt_words or not any(tgt_counts[j:m]):
            n_truncated += 1
            continue
        candidates.append((a, b, j, m, label))

    # 2b. the masked source and its cut; 3. one [QUE] per remaining span
    src_counts = _piece_counts(tokenizer, src)
    masked: list[str] = []
    masked_counts: list[int] = []
    que_words: list[int] = []
    i = 0
    for a, b, *_ in candidates:
        masked += src[i:a]
        masked_counts += src_counts[i:a]
        que_words.append(len(masked))
        masked.append(QUE_TOKEN)
        masked_counts.append(1)
        i = b
    masked += src[i:]
    masked_counts += src_counts[i:]
    n_masked = _fit(masked_counts, max_length)
    kept = [(c, w) for c, w in zip(candidates, que_words, strict=True) if w < n_masked]
    n_truncated += len(candidates) - len(kept)
    masked = masked[:n_masked]

    enc = tokenizer(masked, tgt[:n_tgt_words], is_split_into_words=True)
    input_ids = list(enc["input_ids"])
    seq_ids, word_ids = enc.sequence_ids(), enc.word_ids()
    masked_range, target_range = _segment(seq_ids, 0), _segment(seq_ids, 1)
    expected = (sum(masked_counts[:n_masked]), sum(tgt_counts[:n_tgt_words]))
    if (masked_range[1] - masked_range[0], target_range[1] - target_range[0]) != expected:
        raise RuntimeError(
            f"the tokenizer splits words differently alone and in the pair (expected {expected} sub-words)"
        )
    first: dict[tuple[int, int], int] = {}
    last: dict[tuple[int, int], int] = {}
    for p, (s, w) in enumerate(zip(seq_ids, word_ids, strict=True)):
        if s is not None and w is not None:
            first.setdefault((s, w), p)
            last[(s, w)] = p

    que_positions, answer_starts, answer_ends = [], [], []
    for (_a, _b, j, m, _label), w in kept:
        p = first[(0, w)]
        if input_ids[p] != que_id or last[(0, w)] != p:
            raise RuntimeError(f"{QUE_TOKEN} is not a single token (id {que_id}) of the tokenizer")
        words = [t for t in range(j, m) if (1, t) in first]
        que_positions.append(p)
        answer_starts.append(first[(1, words[0])])
        answer_ends.append(last[(1, words[-1])])

    n_src_words = _fit(src_counts, max_length)
    source_ids = list(tokenizer(src[:n_src_words], is_split_into_words=True)["input_ids"])
    return ClismExample(
        masked_tokens=masked,
        spans=[c for c, _ in kept],
        input_ids=input_ids,
        source_ids=source_ids,
        que_positions=que_positions,
        answer_starts=answer_starts,
        answer_ends=answer_ends,
        masked_start=masked_range[0],
        masked_end=masked_range[1],
        target_start=target_range[0],
        target_end=target_range[1],
        n_src_words=n_src_words,
        n_tgt_words=n_tgt_words,
        n_spans=len(ordered),
        n_unaligned=n_unaligned,
        n_overlap=n_overlap,
        n_truncated=n_truncated,
        n_kept=len(kept),
    )


TOTALS = ("pairs", "kept_pairs", "spans", "kept", "unaligned", "overlap", "truncated")


def fit_length(tokenizer, max_length: int) -> int:
    """The per-sentence cap: ``max_length``, lowered so that X (two sentences and the pair's special
    tokens) fits the encoder's ``model_max_length`` (a tiny model's 128 positions, not XLM-R's 512)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if not limit or limit > 1_000_000:  # transformers' "no limit" sentinel
        return max_length
    fits = (int(limit) - tokenizer.num_special_tokens_to_add(pair=True)) // 2
    if fits < 1:
        raise ConfigError(f"the tokenizer's model_max_length {limit} leaves no room for two sentences")
    if fits < max_length:
        log.warning(
            "pretrain.max_length %d cut to %d sub-words per sentence: X must fit %d positions",
            max_length,
            fits,
            limit,
        )
    return min(max_length, fits)


def build_frame(
    pairs: pd.DataFrame,
    alignments: pd.DataFrame,
    spans: pd.DataFrame,
    tokenizer,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    paths: tuple[str, str, str] = ("<pairs>", "<alignments>", "<spans>"),
    tokenizer_name: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """CLISM_EXAMPLES rows, one per pair (also those with no kept span), and totals (``TOTALS``).

    ArtifactError (file, row, field) for a pair without alignment, a link outside its pair or a span
    outside its sentence; spans of sentences that are not the source of a pair are ignored.
    ``tokenizer_name`` (default ``tokenizer.name_or_path``) fills the ``tokenizer`` column.
    """
    if max_length < 1:
        raise ConfigError(f"max_length must be positive (got {max_length})")
    max_length = fit_length(tokenizer, max_length)
    pairs_path, align_path, spans_path = paths
    name = tokenizer_name if tokenizer_name is not None else str(getattr(tokenizer, "name_or_path", ""))
    by_sentence = spans_by_sentence(pairs, spans, spans_path)
    rows = []
    totals = dict.fromkeys(TOTALS, 0)
    linked = pair_links(pairs, alignments, (pairs_path, align_path))
    for pair, links in tqdm(linked, total=len(pairs), file=sys.stderr, mininterval=5):
        ex = build_example(
            list(pair.src_tokens),
            list(pair.tgt_tokens),
            by_sentence.get(pair.src_id, []),
            links,
            tokenizer,
            max_length=max_length,
        )
        rows.append(
            {
                "id": pair.id,
                "src_id": pair.src_id,
                "src_lang": pair.src_lang,
                "tgt_lang": pair.tgt_lang,
                "src_tokens": list(pair.src_tokens),
                "masked_tokens": ex.masked_tokens,
                "tgt_tokens": list(pair.tgt_tokens),
                "spans": [
                    {"src_start": a, "src_end": b, "tgt_start": j, "tgt_end": m, "label": label}
                    for a, b, j, m, label in ex.spans
                ],
                "input_ids": ex.input_ids,
                "source_ids": ex.source_ids,
                "que_positions": ex.que_positions,
                "answer_starts": ex.answer_starts,
                "answer_ends": ex.answer_ends,
                "masked_start": ex.masked_start,
                "masked_end": ex.masked_end,
                "target_start": ex.target_start,
                "target_end": ex.target_end,
                "n_src_words": ex.n_src_words,
                "n_tgt_words": ex.n_tgt_words,
                "n_spans": ex.n_spans,
                "n_unaligned": ex.n_unaligned,
                "n_overlap": ex.n_overlap,
                "n_truncated": ex.n_truncated,
                "n_kept": ex.n_kept,
                "tokenizer": name,
            }
        )
        totals["pairs"] += 1
        totals["kept_pairs"] += ex.n_kept > 0
        totals["spans"] += ex.n_spans
        totals["kept"] += ex.n_kept
        totals["unaligned"] += ex.n_unaligned
        totals["overlap"] += ex.n_overlap
        totals["truncated"] += ex.n_truncated
    return pd.DataFrame(rows, columns=CLISM_EXAMPLES.columns), totals


def main(ctx) -> None:
    """input {pairs, alignments, spans, model (optional: the tiny model folder, else
    params.model_name_or_path)}; output {examples}; params {model_name_or_path, max_length}."""
    paths = (str(ctx.input["pairs"]), str(ctx.input["alignments"]), str(ctx.input["spans"]))
    pairs = read_artifact(paths[0], PAIRS)
    alignments = read_artifact(paths[1], ALIGNMENTS)
    spans = read_artifact(paths[2], SPANS)
    name = base_model(ctx.input.get("model"), ctx.params.get("model_name_or_path"))
    max_length = int(ctx.params["max_length"])
    tokenizer = load_que_tokenizer(name)
    out, t = build_frame(
        pairs, alignments, spans, tokenizer, max_length=max_length, paths=paths, tokenizer_name=name
    )
    log.info(
        "CLISM: %d of %d pairs have a [QUE] (%d dropped: no span left); %d of %d source spans kept "
        "(%d without links, %d overlapping, %d cut at %d sub-words)",
        t["kept_pairs"],
        t["pairs"],
        t["pairs"] - t["kept_pairs"],
        t["kept"],
        t["spans"],
        t["unaligned"],
        t["overlap"],
        t["truncated"],
        max_length,
    )
    write_artifact(out, ctx.output["examples"], CLISM_EXAMPLES)
