"""Every artifact's schema, in one place (documented in docs/artifacts.md).

Each artifact is a Parquet file whose columns are given here as a pyarrow schema. ``validate``
checks a DataFrame against one of them -- missing columns, nulls where none are allowed, list
lengths that must agree -- and raises ``ArtifactError`` naming the file, row and field.

Ids carry lineage: a sentence id is ``{split}-{lang}-{index:06d}`` (stable across stages); a pair
id is ``{corpus}-{src_lang}-{tgt_lang}-{index:06d}`` and keeps ``src_id`` (and ``tgt_id`` when the
target side was ingested too), so any row of any stage traces back to the input line it came from
(``source`` + ``line`` on the sentence row).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from pipeline_steps.errors import ArtifactError

STR_LIST = pa.list_(pa.string())
LINK = pa.struct([("s", pa.int32()), ("t", pa.int32())])


@dataclass(frozen=True)
class Artifact:
    """A named artifact schema: columns, which may be null, and row-level invariants."""

    name: str
    schema: pa.Schema
    nullable: frozenset[str] = frozenset()
    same_length: tuple[tuple[str, str], ...] = ()
    unique: tuple[str, ...] = ()
    description: str = ""
    # nullable columns added after the artifact was first written: an older file reads them as null
    added: frozenset[str] = frozenset()

    @property
    def columns(self) -> list[str]:
        return self.schema.names


SENTENCES = Artifact(
    "sentences",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("split", pa.string()),
            ("doc_id", pa.string()),
            ("tokens", STR_LIST),
            ("tags", STR_LIST),
            ("source", pa.string()),
            ("line", pa.int64()),
        ]
    ),
    nullable=frozenset({"tags", "doc_id"}),
    same_length=(("tokens", "tags"),),
    unique=("id",),
    description="One tokenised sentence; tags (IOB2 or BIOES) are null for unlabelled text.",
)

SRL_INSTANCES = Artifact(
    "srl_instances",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("split", pa.string()),
            ("sentence_id", pa.string()),
            ("tokens", STR_LIST),
            ("upos", STR_LIST),
            ("predicate", pa.int64()),
            ("sense", pa.string()),
            ("tags", STR_LIST),
            ("source", pa.string()),
            ("line", pa.int64()),
        ]
    ),
    nullable=frozenset({"sense", "tags"}),
    same_length=(("tokens", "upos"), ("tokens", "tags")),
    unique=("id",),
    description=(
        "One (sentence, predicate) of dependency-based SRL (formats upb / upb_ewt): predicate is the "
        "0-based word of the predicate, tags its arguments' syntactic heads in the OI scheme (I-<role>, "
        "roles in UPB 1.0's A0 / AM-LOC names; O elsewhere, the predicate included), null for "
        "unlabelled text. sentence_id is shared by a sentence's instances; line is the 1-based line of "
        "the sentence's first word."
    ),
)

QA_EXAMPLES = Artifact(
    "qa_examples",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("split", pa.string()),
            ("title", pa.string()),
            ("context", pa.string()),
            ("question", pa.string()),
            ("answer_texts", STR_LIST),
            ("answer_starts", pa.list_(pa.int64())),
            ("source", pa.string()),
        ]
    ),
    same_length=(("answer_texts", "answer_starts"),),
    unique=("id",),
    description="One extractive-QA question (SQuAD/XQuAD); answer_starts are character offsets in context.",
)

CLS_EXAMPLES = Artifact(
    "cls_examples",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("split", pa.string()),
            ("text_a", pa.string()),
            ("text_b", pa.string()),
            ("label", pa.string()),
            ("source", pa.string()),
            ("line", pa.int64()),
        ]
    ),
    nullable=frozenset({"text_b", "label"}),
    unique=("id",),
    description=(
        "One sentence (text_a) or sentence pair (text_a, text_b) to classify; text_b is null for "
        "single-sentence tasks, label (a name from the config's label set) null for unlabelled pools; "
        "line is the 1-based line of the raw file (the item key for JSON items)."
    ),
)

SPANS = Artifact(
    "spans",
    pa.schema(
        [
            ("sentence_id", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("label", pa.string()),
            ("text", pa.string()),
            ("origin", pa.string()),
        ]
    ),
    description="Entity spans over word indices [start, end) from gold tags or spaCy NER.",
)

PAIRS = Artifact(
    "pairs",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("tgt_id", pa.string()),
            ("src_lang", pa.string()),
            ("tgt_lang", pa.string()),
            ("src_tokens", STR_LIST),
            ("tgt_tokens", STR_LIST),
            ("provider", pa.string()),
        ]
    ),
    nullable=frozenset({"tgt_id"}),
    unique=("id",),
    description="A source sentence and its translation (or its parallel counterpart).",
)

AUGMENTED = Artifact(
    "augmented",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("view", pa.int32()),
            ("lang", pa.string()),
            ("tokens", STR_LIST),
            ("tags", STR_LIST),
            ("pieces", pa.list_(STR_LIST)),
            ("changed", pa.list_(pa.bool_())),
            ("kind", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    nullable=frozenset({"tags", "pieces"}),
    same_length=(("tokens", "tags"), ("tokens", "pieces"), ("tokens", "changed")),
    unique=("id",),
    description=(
        "One augmented view of a source training sentence (xTune): code_switch replaces words one-for-one "
        "(tokens; tags carried over), subword keeps the words and stores each word's sampled sub-word "
        "pieces; changed marks the words the augmentation touched (switched, or a segmentation other "
        "than the best one)."
    ),
)

TRANSLATION_CACHE = Artifact(
    "translation_cache",
    pa.schema(
        [
            ("key", pa.string()),
            ("src_lang", pa.string()),
            ("tgt_lang", pa.string()),
            ("provider", pa.string()),
            ("source_text", pa.string()),
            ("translation", pa.string()),
        ]
    ),
    description="Translations keyed by sha256(text) + src + tgt + provider, so nothing is translated twice.",
)

ALIGNMENTS = Artifact(
    "alignments",
    pa.schema(
        [
            ("pair_id", pa.string()),
            ("links", pa.list_(LINK)),
            ("backend", pa.string()),
            ("symmetrization", pa.string()),
        ]
    ),
    unique=("pair_id",),
    description="Word alignment links (0-based source index s, target index t) of one sentence pair.",
)

PROJECTED = Artifact(
    "projected",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("lang", pa.string()),
            ("tokens", STR_LIST),
            ("tags", STR_LIST),
            ("n_src_spans", pa.int32()),
            ("n_projected", pa.int32()),
            ("mapping", pa.string()),
        ]
    ),
    same_length=(("tokens", "tags"),),
    unique=("id",),
    description="A target sentence with labels projected from its source sentence.",
)

PROJECTION_SCORES = Artifact(
    "projection_scores",
    pa.schema(
        [
            ("lang", pa.string()),
            ("label", pa.string()),
            ("precision", pa.float64()),
            ("recall", pa.float64()),
            ("f1", pa.float64()),
            ("support", pa.int64()),
            ("backend", pa.string()),
            ("mapping", pa.string()),
        ]
    ),
    description=(
        "Projected vs gold target labels: P/R/F1 per language and entity type ('ALL' = micro); for SRL "
        "per role over (sentence, predicate, head, role) triples, 'ALL' over every role, 'PREDICATE' the "
        "predicate positions (mapping 'head2word'). lang 'avg': the mean of the languages' 'ALL' rows."
    ),
)

PREDICTIONS = Artifact(
    "predictions",
    pa.schema(
        [
            ("sentence_id", pa.string()),
            ("lang", pa.string()),
            ("tokens", STR_LIST),
            ("gold", STR_LIST),
            ("pred", STR_LIST),
            ("method", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    same_length=(("tokens", "gold"), ("tokens", "pred")),
    description="Model predictions next to the gold tags of one test sentence.",
)

CLS_PREDICTIONS = Artifact(
    "cls_predictions",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("gold", pa.string()),
            ("pred", pa.string()),
            ("score", pa.float64()),
            ("method", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    nullable=frozenset({"gold"}),
    unique=("id",),
    description="The predicted label of one test example (score: its probability) next to the gold one.",
)

SRL_PREDICTIONS = Artifact(
    "srl_predictions",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("sentence_id", pa.string()),
            ("predicate", pa.int64()),
            ("tokens", STR_LIST),
            ("gold", STR_LIST),
            ("pred", STR_LIST),
            ("method", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    same_length=(("tokens", "gold"), ("tokens", "pred")),
    unique=("id",),
    description="The predicted argument-head tags (OI) of one test (sentence, predicate) beside gold.",
)

QA_PREDICTIONS = Artifact(
    "qa_predictions",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("gold_texts", STR_LIST),
            ("pred_text", pa.string()),
            ("pred_start", pa.int64()),
            ("score", pa.float64()),
            ("method", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    unique=("id",),
    description=(
        "The decoded answer of one test question: its text, character start in the context (-1: no "
        "valid span) and score (start + end logit), next to the gold answers."
    ),
)

METRICS = Artifact(
    "metrics",
    pa.schema(
        [
            ("method", pa.string()),
            ("seed", pa.int64()),
            ("lang", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("support", pa.int64()),
        ]
    ),
    description="One number per (method, seed, language, metric); lang 'avg' averages the targets.",
)

TRAIN_LOG = Artifact(
    "train_log",
    pa.schema(
        [
            ("step", pa.int64()),
            ("epoch", pa.int64()),
            ("phase", pa.string()),
            ("loss", pa.float64()),
            ("lr", pa.float64()),
            ("dev_f1", pa.float64()),
            ("resumed", pa.bool_()),
            ("terms", pa.map_(pa.string(), pa.float64())),
        ]
    ),
    nullable=frozenset({"dev_f1", "terms"}),
    added=frozenset({"terms"}),
    description=(
        "Training progress, one row per optimisation step, numbered across the training phases (phase: "
        "e.g. MTL-WS 'warmup' then 'main'); dev_f1 where evaluated, resumed on steps run after a restart; "
        "terms: the loss's parts, unweighted, where the method has several (xTune: task, r1, r2)."
    ),
)

EMBEDDINGS = Artifact(
    "embeddings",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("vector", pa.list_(pa.float32())),
            ("vector_b", pa.list_(pa.float32())),
        ]
    ),
    nullable=frozenset({"vector_b"}),
    unique=("id",),
    description=(
        "Frozen sentence-encoder vectors of one examples artifact (paper 002's f_emb input): vector of "
        "text_a, vector_b of text_b (null for single texts); L2-normalised."
    ),
)

EMB_PREDICTIONS = Artifact(
    "emb_predictions",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("split", pa.string()),
            ("gold", pa.string()),
            ("pred", pa.string()),
            ("score", pa.float64()),
            ("variant", pa.string()),
            ("seed", pa.int64()),
            ("iteration", pa.int64()),
            ("trained_on", pa.int64()),
        ]
    ),
    nullable=frozenset({"gold"}),
    unique=("id",),
    description=(
        "Predictions of f_emb (the sentence-embedding classifier of paper 002) of one co-/self-training "
        "iteration on the unlabelled pool (split 'unlabelled') and the test sets (split 'test'); score is "
        "the predicted class's probability (Alg. 1's confidence), trained_on the size of its training set."
    ),
)

POOL_PREDICTIONS = Artifact(
    "pool_predictions",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("pred", pa.string()),
            ("score", pa.float64()),
            ("method", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    unique=("id",),
    description=(
        "f_lm's prediction on one item of the unlabelled pool (paper 002 Alg. 1): the label (tagging: the "
        "space-joined tags) and its confidence (tagging: the minimum or mean of its words' tag "
        "probabilities)."
    ),
)

COTRAIN_STATE = Artifact(
    "cotrain_state",
    pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("text_a", pa.string()),
            ("text_b", pa.string()),
            ("gold", pa.string()),
            ("variant", pa.string()),
            ("iteration", pa.int64()),
            ("lm_pred", pa.string()),
            ("lm_confidence", pa.float64()),
            ("lm_picked_in", pa.int64()),
            ("emb_pred", pa.string()),
            ("emb_confidence", pa.float64()),
            ("emb_picked_in", pa.int64()),
        ]
    ),
    nullable=frozenset({"text_b", "gold", "lm_picked_in", "emb_picked_in"}),
    unique=("id",),
    description=(
        "One item of the unlabelled pool U after selection round `iteration` of paper 002 Alg. 1 "
        "(variant co_training or self_training): each view's (lm: the fine-tuned LM, emb: the sentence-"
        "embedding classifier) latest prediction and confidence, and the round it was picked in (null: "
        "still in that view's pool; a picked item keeps its pseudo-label). Co-training trains lm on the "
        "items emb picked and emb on lm's; self-training each on its own. gold: the pool file's label, "
        "if any, for the report only."
    ),
)

AUGMENTED_EXAMPLES = Artifact(
    "augmented_examples",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("view", pa.int32()),
            ("lang", pa.string()),
            ("text_a", pa.string()),
            ("text_b", pa.string()),
            ("label", pa.string()),
            ("n_words", pa.int64()),
            ("n_changed", pa.int64()),
            ("kind", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    nullable=frozenset({"text_b", "label"}),
    unique=("id",),
    description=(
        "One augmented view of a source training example of a classification task (xTune): code_switch "
        "replaces space-separated words of text_a and text_b one-for-one (label carried over); n_words "
        "and n_changed count the words and the switched ones."
    ),
)

AUGMENTED_QA = Artifact(
    "augmented_qa",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("view", pa.int32()),
            ("lang", pa.string()),
            ("question", pa.string()),
            ("context", pa.string()),
            ("answer_texts", STR_LIST),
            ("answer_starts", pa.list_(pa.int64())),
            ("n_words", pa.int64()),
            ("n_changed", pa.int64()),
            ("kind", pa.string()),
            ("seed", pa.int64()),
        ]
    ),
    same_length=(("answer_texts", "answer_starts"),),
    unique=("id",),
    description=(
        "One augmented view of a source training example of an extractive-QA task (xTune): code_switch "
        "replaces space-separated words of the context one-for-one (the question stays, as in the official "
        "code), never a word overlapping an answer; answer_starts are the answers' offsets in the new "
        "context. n_words and n_changed count the words (question + context) and the switched ones."
    ),
)

INT_LIST = pa.list_(pa.int32())
CLISM_SPAN = pa.struct(
    [
        ("src_start", pa.int32()),
        ("src_end", pa.int32()),
        ("tgt_start", pa.int32()),
        ("tgt_end", pa.int32()),
        ("label", pa.string()),
    ]
)

CLISM_EXAMPLES = Artifact(
    "clism_examples",
    pa.schema(
        [
            ("id", pa.string()),
            ("src_id", pa.string()),
            ("src_lang", pa.string()),
            ("tgt_lang", pa.string()),
            ("src_tokens", STR_LIST),
            ("masked_tokens", STR_LIST),
            ("tgt_tokens", STR_LIST),
            ("spans", pa.list_(CLISM_SPAN)),
            ("input_ids", INT_LIST),
            ("source_ids", INT_LIST),
            ("que_positions", INT_LIST),
            ("answer_starts", INT_LIST),
            ("answer_ends", INT_LIST),
            ("masked_start", pa.int32()),
            ("masked_end", pa.int32()),
            ("target_start", pa.int32()),
            ("target_end", pa.int32()),
            ("n_src_words", pa.int32()),
            ("n_tgt_words", pa.int32()),
            ("n_spans", pa.int32()),
            ("n_unaligned", pa.int32()),
            ("n_overlap", pa.int32()),
            ("n_truncated", pa.int32()),
            ("n_kept", pa.int32()),
            ("tokenizer", pa.string()),
        ]
    ),
    same_length=(("spans", "que_positions"), ("spans", "answer_starts"), ("spans", "answer_ends")),
    unique=("id",),
    description=(
        "One CLISM pre-training input of paper 000 (one row per pair `id`): X = input_ids = the tokenizer's "
        "pair template of masked_tokens (the source words, each kept entity span replaced by one [QUE], "
        "cut to max_length sub-words at a word boundary) and the first n_tgt_words of tgt_tokens; "
        "source_ids: the first n_src_words of src_tokens alone (CACR). spans (word indices, end exclusive, "
        "in source order), que_positions and answer_starts/answer_ends (inclusive sub-word positions in "
        "input_ids) are parallel; [masked_start, masked_end) and [target_start, target_end) are the "
        "sub-word positions of the two sentences in X. n_kept + n_unaligned + n_overlap + n_truncated = "
        "n_spans; rows with n_kept = 0 are kept for inspection and skipped in training."
    ),
)

ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        SENTENCES,
        QA_EXAMPLES,
        CLS_EXAMPLES,
        SRL_INSTANCES,
        SPANS,
        AUGMENTED,
        AUGMENTED_EXAMPLES,
        AUGMENTED_QA,
        PAIRS,
        TRANSLATION_CACHE,
        ALIGNMENTS,
        PROJECTED,
        PROJECTION_SCORES,
        PREDICTIONS,
        CLS_PREDICTIONS,
        QA_PREDICTIONS,
        SRL_PREDICTIONS,
        METRICS,
        TRAIN_LOG,
        CLISM_EXAMPLES,
        EMBEDDINGS,
        EMB_PREDICTIONS,
        POOL_PREDICTIONS,
        COTRAIN_STATE,
    )
}


def _first_bad(mask: pd.Series) -> int | None:
    bad = mask.to_numpy().nonzero()[0]
    return int(bad[0]) if len(bad) else None


def _lengths(series: pd.Series) -> pd.Series:
    return series.map(lambda v: -1 if v is None else len(v))


def validate(df: pd.DataFrame, artifact: Artifact, path: str = "<memory>") -> pd.DataFrame:
    """Check ``df`` against ``artifact``; return it with columns in schema order.

    Raises ``ArtifactError`` naming ``path``, the first offending row and the field.
    """
    missing = [c for c in artifact.columns if c not in df.columns]
    if missing:
        raise ArtifactError(path, None, missing[0], f"missing column (artifact '{artifact.name}')")
    for col in artifact.columns:
        if col in artifact.nullable:
            continue
        row = _first_bad(df[col].isna())
        if row is not None:
            raise ArtifactError(path, row, col, "null value where the schema allows none")
    for a, b in artifact.same_length:
        both = df[a].notna() & df[b].notna()
        row = _first_bad(both & (_lengths(df[a]) != _lengths(df[b])))
        if row is not None:
            raise ArtifactError(
                path, row, b, f"length {len(df[b].iloc[row])} differs from '{a}' ({len(df[a].iloc[row])})"
            )
    for col in artifact.unique:
        row = _first_bad(df[col].duplicated())
        if row is not None:
            raise ArtifactError(path, row, col, f"duplicate value {df[col].iloc[row]!r}")
    return df[artifact.columns]


WHERE = {
    "sentences": "ingest/{name}.parquet; qa/train.sentences.parquet (QA contexts, answer tagged)",
    "qa_examples": "ingest/{name}.parquet (format squad); qa/train.{lang}.{mapping}.parquet (translated)",
    "cls_examples": "ingest/{name}.parquet (formats xnli, mnli_json, xlmt, sib200)",
    "srl_instances": "ingest/{name}.parquet (formats upb, upb_ewt)",
    "spans": "spans/{name}.parquet",
    "augmented": "augment/{kind}.{seed}.parquet",
    "augmented_examples": "augment/{kind}.{seed}.parquet (task: cls)",
    "augmented_qa": "augment/{kind}.{seed}.parquet (task: qa)",
    "pairs": "pairs/{corpus}.{lang}.parquet",
    "translation_cache": "{translate.cache_dir}/part-*.parquet",
    "alignments": "align/{corpus}.{lang}.parquet",
    "projected": "project/{corpus}.{lang}.{mapping}.parquet",
    "projection_scores": "projection/scores.parquet (+ summary.json)",
    "predictions": "predict/{method}/{seed}/{lang}.parquet (tagging)",
    "cls_predictions": "predict/{method}/{seed}/{lang}.parquet (task cls)",
    "qa_predictions": "predict/{method}/{seed}/{lang}.parquet (task qa)",
    "srl_predictions": "predict/{method}/{seed}/{lang}.parquet (task srl)",
    "metrics": "eval/{method}/{seed}.parquet",
    "train_log": "finetune/{method}/{seed}/train_log.parquet",
    "clism_examples": "clism/{corpus}.{lang}.parquet",
    "embeddings": "cotrain/embeddings/{name}.parquet",
    "emb_predictions": "cotrain/{variant}/{seed}/emb.iter{k}.parquet (iteration 0: cotrain/base/{seed}/)",
    "pool_predictions": "cotrain/pool/{method}/{seed}/{lang}.parquet",
    "cotrain_state": "cotrain/{variant}/{seed}/state.iter{k}.parquet",
}


def render_markdown() -> str:
    """docs/artifacts.md, generated from the schemas above (a test keeps the two in sync)."""
    out = [
        "# Artifacts",
        "",
        "Generated from `pipeline_steps/schemas.py`:",
        "`python -m pipeline_steps.schemas > docs/artifacts.md`.",
        "Paths are under `results/{experiment}/`. Every artifact is Parquet: open it with",
        "`pandas.read_parquet(path)` or `duckdb.sql(\"SELECT * FROM 'path'\")`.",
        "",
    ]
    for a in ARTIFACTS.values():
        out += [f"## {a.name}", "", a.description, "", f"Path: `{WHERE[a.name]}`", ""]
        out += ["| column | type | null |", "|---|---|---|"]
        for f in a.schema:
            out.append(f"| {f.name} | `{f.type}` | {'yes' if f.name in a.nullable else 'no'} |")
        notes = [f"`{x}` and `{y}` have equal lengths" for x, y in a.same_length]
        notes += [f"`{c}` is unique" for c in a.unique]
        if notes:
            out += ["", "Invariants: " + "; ".join(notes) + "."]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
