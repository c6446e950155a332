"""Dependency-based SRL: labelled argument precision, recall and F1 over (predicate, head, role) triples.

CoNLL-2009's semantic F1 (Hajic et al. 2009, ``eval09.pl``) scores a system's (predicate, argument
head, role) dependencies plus one per predicate sense. Predicates are given here and their senses are
not predicted (predicate sense disambiguation is out of scope), so the score is its argument part:
a predicted triple is correct when the same instance (one sentence and predicate) has the same role on
the same head word. Micro-averaged over all instances of a test set, as paper 001 reports (Sec. 6.2:
"micro-F1"). ``unlabelled_f1`` drops the role (argument identification only). Written here because the
official scorer is a Perl script over CoNLL-2009 files and no maintained Python package computes it;
the computation is a set intersection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pipeline_steps.tags import OUTSIDE


@dataclass(frozen=True)
class ArgumentScores:
    precision: float
    recall: float
    f1: float
    unlabelled_f1: float
    n_gold: int
    n_predicted: int
    n_correct: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def argument_triples(instance: int, tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """The (instance, head word, role) triples of one instance's OI tags (``I-A0`` -> role A0)."""
    out = set()
    for i, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        if tag[:2] not in ("I-", "B-") or len(tag) < 3:
            raise ValueError(f"instance {instance}, word {i}: tag {tag!r} is neither O nor I-<role>")
        out.add((instance, i, tag[2:]))
    return out


def _f1(correct: int, n_gold: int, n_pred: int) -> tuple[float, float, float]:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def argument_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> ArgumentScores:
    """Micro P/R/F1 of ``pred`` against ``gold``: one tag list per instance, in the same order and of
    the same lengths."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold instances but {len(pred)} predicted")
    g: set[tuple[int, int, str]] = set()
    p: set[tuple[int, int, str]] = set()
    for k, (gt, pt) in enumerate(zip(gold, pred, strict=True)):
        if len(gt) != len(pt):
            raise ValueError(f"instance {k}: {len(gt)} gold tags but {len(pt)} predicted")
        g |= argument_triples(k, gt)
        p |= argument_triples(k, pt)
    correct = len(g & p)
    precision, recall, f1 = _f1(correct, len(g), len(p))
    heads = {(k, i) for k, i, _ in g}, {(k, i) for k, i, _ in p}
    unlabelled = _f1(len(heads[0] & heads[1]), len(heads[0]), len(heads[1]))[2]
    return ArgumentScores(precision, recall, f1, unlabelled, len(g), len(p), correct)
