"""Translate-train for SRL: a predicate and its argument heads projected word to word (issue 14).

Dependency-based SRL labels single words (the predicate and each argument's syntactic head), so the
projection is head-to-aligned-word rather than paper 001's span-to-span: the translate stage
translates each distinct training sentence (rule ``srl_sentences`` gives it one ``sentences`` row per
sentence), the align stage links the pair, and each instance's predicate and heads move to the target
words they are linked to:

- a word linked to several target words goes to the leftmost of them (a sub-word aligner's links of one
  word are adjacent; the leftmost is where a tagger reads a multi-word unit's label). Without a target
  POS tagger the rule cannot prefer the content word: "to replace" -> "zu ersetzen" lands on "zu";
- the predicate must project, or the instance is dropped (counted);
- a head without a link is dropped (counted); so is a head that lands on the projected predicate;
- two heads landing on one target word keep the first in source order (counted as a conflict).

The target side has no POS tagger here, so its ``upos`` is ``_`` (unspecified) throughout: with
``srl.upos`` those words carry the "no POS" id (paper 001 tags translated data with stanza). Ids are
``{source id}.{lang}``. The same rules project the source side of ``data.gold_parallel`` through its
aligned gold pairs (``srl/gold.{lang}.parquet``), which ``srl_projection_eval`` scores.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import pandas as pd

from pipeline_steps.errors import ArtifactError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.project import pair_links
from pipeline_steps.schemas import ALIGNMENTS, PAIRS, SENTENCES, SRL_INSTANCES
from pipeline_steps.tags import OUTSIDE

log = logging.getLogger(__name__)

UNKNOWN_POS = "_"  # UD's "unspecified": UPOS id 0 when srl.upos feeds POS (models/predicate_marking.py)


def sentences_of(instances: pd.DataFrame) -> pd.DataFrame:
    """One ``sentences`` row per distinct sentence of ``instances`` (id = its ``sentence_id``, no tags):
    what the translate stage translates."""
    first = instances.drop_duplicates("sentence_id")
    return pd.DataFrame(
        {
            "id": first["sentence_id"],
            "lang": first["lang"],
            "split": first["split"],
            "doc_id": None,
            "tokens": first["tokens"],
            "tags": None,
            "source": first["source"],
            "line": first["line"],
        }
    ).reset_index(drop=True)


def project_instance(
    predicate: int, tags: Sequence[str], links: Iterable[tuple[int, int]], n_tgt: int
) -> tuple[int | None, list[str], Counter]:
    """(target predicate or None, target tags, counts) of one instance through ``links`` (s, t)."""
    targets: dict[int, list[int]] = {}
    for s, t in sorted(links):
        targets.setdefault(s, []).append(t)
    counts: Counter = Counter()
    out = [OUTSIDE] * n_tgt
    if predicate not in targets:
        counts["predicate_unaligned"] += 1
        return None, out, counts
    tgt_pred = targets[predicate][0]
    for s, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        counts["arguments"] += 1
        if s not in targets:
            counts["argument_unaligned"] += 1
            continue
        t = targets[s][0]
        if t == tgt_pred:
            counts["argument_on_predicate"] += 1
        elif out[t] != OUTSIDE:
            counts["argument_conflict"] += 1
        else:
            out[t] = tag
            counts["projected"] += 1
    return tgt_pred, out, counts


def project_instances(
    instances: pd.DataFrame,
    pairs: pd.DataFrame,
    alignments: pd.DataFrame,
    lang: str,
    paths: tuple[str, str, str] = ("<instances>", "<pairs>", "<alignments>"),
) -> tuple[pd.DataFrame, Counter]:
    """``srl_instances`` in ``lang`` for every instance whose predicate projects, and the counts."""
    inst_path, pairs_path, align_path = paths
    pair_of = {}
    for pair, links in pair_links(pairs, alignments, (pairs_path, align_path)):
        pair_of[pair.src_id] = (pair, links)
    rows, totals = [], Counter()
    for r, inst in enumerate(instances.itertuples(index=False)):
        if inst.sentence_id not in pair_of:
            raise ArtifactError(
                inst_path, r, "sentence_id", f"no translation of {inst.sentence_id!r} in {pairs_path}"
            )
        pair, links = pair_of[inst.sentence_id]
        n_tgt = len(pair.tgt_tokens)
        tgt_pred, tags, counts = project_instance(int(inst.predicate), list(inst.tags), links, n_tgt)
        totals.update(counts)
        totals["instances"] += 1
        if tgt_pred is None:
            continue
        rows.append(
            {
                "id": f"{inst.id}.{lang}",
                "lang": lang,
                "split": inst.split,
                "sentence_id": f"{inst.sentence_id}.{lang}",
                "tokens": list(pair.tgt_tokens),
                "upos": [UNKNOWN_POS] * n_tgt,
                "predicate": tgt_pred,
                "sense": inst.sense,
                "tags": tags,
                "source": inst.source,  # source and line: the sentence it was translated from
                "line": int(inst.line),
            }
        )
    return pd.DataFrame(rows, columns=SRL_INSTANCES.columns), totals


def main_sentences(ctx) -> None:
    """Rule ``srl_sentences``. input: instances (srl_instances); output: sentences (one per sentence)."""
    instances = read_artifact(str(ctx.input["instances"]), SRL_INSTANCES)
    out = sentences_of(instances)
    log.info("%d instances in %d sentences", len(instances), len(out))
    write_artifact(out, ctx.output["sentences"], SENTENCES)


def main(ctx) -> None:
    """Rule ``srl_project``. input: instances (source srl_instances), pairs (their sentences' translations),
    alignments; output: instances (srl_instances in the target language); params: lang."""
    paths = (str(ctx.input["instances"]), str(ctx.input["pairs"]), str(ctx.input["alignments"]))
    out, totals = project_instances(
        read_artifact(paths[0], SRL_INSTANCES),
        read_artifact(paths[1], PAIRS),
        read_artifact(paths[2], ALIGNMENTS),
        str(ctx.params["lang"]),
        paths,
    )
    log.info(
        "%s: %d of %d instances projected (%d predicates without a link); %d of %d arguments projected "
        "(%d without a link, %d on the predicate, %d conflicts)",
        ctx.params["lang"],
        len(out),
        totals["instances"],
        totals["predicate_unaligned"],
        totals["projected"],
        totals["arguments"],
        totals["argument_unaligned"],
        totals["argument_on_predicate"],
        totals["argument_conflict"],
    )
    write_artifact(out, ctx.output["instances"], SRL_INSTANCES)
