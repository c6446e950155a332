"""SRL projection quality: projected target instances against gold target instances (issue 14).

For task srl, ``data.gold_parallel`` pairs UPB files labelled on both sides: the k-th sentence with a
predicate of the source file with the k-th of the target file (rule ``pair_parallel`` over rule
``srl_sentences``). The source instances are projected through the aligned gold pairs as in
translate-train (``srl_projection.project_instances``, rule ``srl_project`` with ``srl_set`` gold) and
scored here against the target file's own instances:

- arguments are labelled triples (target sentence k, target predicate word, argument head word, role):
  precision is over the projected triples, recall over the gold ones, micro-averaged over the sentences
  of a language per role and over all roles (label ``ALL``). A source predicate whose projection lands on
  a target word that is not a gold predicate is a false positive, and so is each of its arguments (no
  gold triple has that predicate word); an instance dropped by the projection (predicate without a
  link) leaves its gold triples unfound;
- label ``PREDICATE``: the projected predicate positions (k, word) against the gold ones;
- triples and positions are sets: two source predicates landing on one target word count once;
- ``lang='avg'`` is the unweighted mean of the languages' ``ALL`` rows (``projection_eval.scores_frame``).

Sentence k is the k-th row of the gold pairs, which say which target sentence (``tgt_id``) a projected
sentence (``{src_id}.{lang}``) is; its projected tokens must be the gold target sentence's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact, write_json
from pipeline_steps.projection_eval import ALL, count_matches, prf, scores_frame, summary_of
from pipeline_steps.schemas import PAIRS, PROJECTION_SCORES, SRL_INSTANCES
from pipeline_steps.tags import OUTSIDE, split_tag

log = logging.getLogger(__name__)

PREDICATE = "PREDICATE"
#: (predicate word, argument head word, role) of one sentence; a predicate is (word, word, PREDICATE)
Triple = tuple[int, int, str]
Counts = dict[str, tuple[int, int, int]]


def instance_triples(predicate: int, tags: Sequence[str], path: str, row: int) -> list[Triple]:
    """The (predicate, head, role) triples of one instance; its predicate must be one of its words."""
    if not 0 <= predicate < len(tags):
        raise ArtifactError(path, row, "predicate", f"word {predicate} of a {len(tags)}-word sentence")
    return [(predicate, i, split_tag(t)[1]) for i, t in enumerate(tags) if t != OUTSIDE]


def sentence_sets(
    instances: pd.DataFrame, index_of: dict[str, int], n_sentences: int, path: str
) -> tuple[list[set[Triple]], list[set[Triple]]]:
    """Per sentence k (``index_of`` a ``sentence_id``): its argument triples and its predicates."""
    args: list[set[Triple]] = [set() for _ in range(n_sentences)]
    preds: list[set[Triple]] = [set() for _ in range(n_sentences)]
    for r, inst in enumerate(instances.itertuples(index=False)):
        if inst.sentence_id not in index_of:
            raise ArtifactError(path, r, "sentence_id", f"{inst.sentence_id!r} is in no gold pair")
        if inst.tags is None:
            raise ArtifactError(path, r, "tags", "no tags (gold SRL pairs must be labelled)")
        k, p = index_of[inst.sentence_id], int(inst.predicate)
        args[k].update(instance_triples(p, list(inst.tags), path, r))
        preds[k].add((p, p, PREDICATE))
    return args, preds


def check_tokens(
    projected: pd.DataFrame, gold: pd.DataFrame, tgt_of: dict[str, str], paths: tuple[str, str]
) -> None:
    """Every projected sentence is in a gold pair (``tgt_of``: projected sentence_id -> gold target
    sentence_id), and its tokens are those of the gold target sentence."""
    p_path, g_path = paths
    gold_row: dict[str, int] = {}
    for r, sid in enumerate(gold["sentence_id"]):
        gold_row.setdefault(sid, r)
    for r, (sid, tokens) in enumerate(zip(projected["sentence_id"], projected["tokens"], strict=True)):
        if sid not in tgt_of:
            raise ArtifactError(p_path, r, "sentence_id", f"{sid!r} is in no gold pair")
        g = gold_row.get(tgt_of[sid])
        if g is None:
            raise ArtifactError(
                g_path, None, "sentence_id", f"no gold target sentence {tgt_of[sid]!r} (row {r} of {p_path})"
            )
        if list(tokens) != list(gold["tokens"].iloc[g]):
            raise ArtifactError(
                p_path,
                r,
                "tokens",
                f"tokens differ from gold target sentence {tgt_of[sid]!r} (row {g} of {g_path}): "
                f"{' '.join(tokens)!r} vs {' '.join(gold['tokens'].iloc[g])!r}",
            )


def score_language(
    projected: pd.DataFrame,
    gold: pd.DataFrame,
    pairs: pd.DataFrame,
    lang: str,
    paths: tuple[str, str, str] = ("<projected>", "<gold>", "<pairs>"),
) -> Counts:
    """(true positives, projected, gold) per role, ``ALL`` roles and ``PREDICATE`` of one language;
    ``projected`` and ``gold`` are SRL_INSTANCES, ``pairs`` the gold PAIRS they were projected through."""
    p_path, g_path, _ = paths
    n = len(pairs)
    tgt_of = {f"{s}.{lang}": t for s, t in zip(pairs["src_id"], pairs["tgt_id"], strict=True)}
    check_tokens(projected, gold, tgt_of, (p_path, g_path))
    p_args, p_preds = sentence_sets(projected, {s: k for k, s in enumerate(tgt_of)}, n, p_path)
    g_args, g_preds = sentence_sets(gold, {t: k for k, t in enumerate(pairs["tgt_id"])}, n, g_path)
    counts = count_matches(p_args, g_args)
    counts[PREDICATE] = count_matches(p_preds, g_preds).get(PREDICATE, (0, 0, 0))
    return counts


def main(ctx) -> None:
    """Rule ``projection_eval`` for task srl. input {projected, gold, pairs}: [paths] in the order of
    params langs (srl_instances, srl_instances, pairs); output {scores, summary}; params {langs, backend,
    mapping}."""
    langs = list(ctx.params["langs"])
    files = {k: ctx.input_paths(k) for k in ("projected", "gold", "pairs")}
    if any(len(v) != len(langs) for v in files.values()):
        counts = ", ".join(f"{len(v)} {k}" for k, v in files.items())
        raise ConfigError(f"{len(langs)} languages but {counts} files")
    backend, mapping = str(ctx.params["backend"]), str(ctx.params["mapping"])
    counts_by_lang = {}
    for lang, p_path, g_path, pairs_path in zip(langs, *files.values(), strict=True):
        paths = (str(p_path), str(g_path), str(pairs_path))
        counts_by_lang[lang] = score_language(
            read_artifact(paths[0], SRL_INSTANCES),
            read_artifact(paths[1], SRL_INSTANCES),
            read_artifact(paths[2], PAIRS),
            lang,
            paths,
        )
        for label in (ALL, PREDICATE):
            tp, n_pred, n_gold = counts_by_lang[lang][label]
            log.info("%s %s: P/R/F1 %.4f/%.4f/%.4f (%d gold)", lang, label, *prf(tp, n_pred, n_gold), n_gold)
    scores = scores_frame(counts_by_lang, backend, mapping)
    write_artifact(scores, ctx.output["scores"], PROJECTION_SCORES)
    write_json(summary_of(scores, backend, mapping), ctx.output["summary"])
