"""Universal Proposition Banks 1.0 (Akbik et al. 2015): dependency-based SRL in CoNLL-U.

Two layouts (``../shared/data/upb/SOURCE.txt``):

- ``upb_ewt``: columns 1-10 UD, 11 the predicate sense (``come.03``) or ``_``, 12.. one argument column
  per predicate; roles ARG0, ARGM-LOC, R-ARG1, C-ARG1, V.
- ``upb``: columns 1-8 UD (ID .. DEPREL), 9 FILLPRED (``Y`` or ``_``), 10 the sense, 11.. one argument
  column per predicate; roles A0, AM-LOC, R-A1, C-A1.

Both read into one ``srl_instances`` row per (sentence, predicate), with one role set: EWT's names are
mapped to UPB 1.0's (``role_name``: ARG -> A, ARGM -> AM, also after R- / C-: ARG0 -> A0, ARGM-LOC ->
AM-LOC, R-ARG1 -> R-A1). Roles only English PropBank 3 has (ARGM-LVB, -PRR, -CXN, ...) keep their name
as AM-LVB, ...; the target languages never use them. EWT's V marks the predicate (``predicate`` carries
it); V on another word (the particle of ``break_through.26``) and C-V are the rest of a multi-word
predicate, not arguments, and read as O (counted in the log). The k-th predicate row owns the k-th
argument column (CoNLL-2009).

Words are UD's syntactic words (integer IDs): multi-word token ranges (``n-m``: du = de le) and empty
nodes (``n.m``) carry no roles and are skipped. Tags are OI (paper 001 Sec. 6.2, after Marcheggiani et
al. 2017): ``I-<role>`` on each argument head, O elsewhere. A sentence without predicates gives no
instance. Malformed lines raise ``InputFormatError`` naming the file and line: a column count other than
the layout's fixed columns plus one per predicate (an argument column without a predicate, or a
predicate without its column), FILLPRED other than Y or _, a sense without FILLPRED Y, word IDs out of
order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd

from pipeline_steps.errors import InputFormatError
from pipeline_steps.tags import OUTSIDE, split_tag
from pipeline_steps.text import read_text, split_lines

log = logging.getLogger(__name__)

FORM, UPOS = 1, 3
SKIPPED_ID = re.compile(r"^\d+-\d+$|^\d+\.\d+$")


@dataclass(frozen=True)
class Layout:
    """Where a layout keeps its predicates: ``fixed`` columns before the argument columns, the sense
    column, and the FILLPRED column (None: a sense marks a predicate)."""

    fixed: int
    sense: int
    fillpred: int | None


LAYOUTS = {"upb_ewt": Layout(fixed=11, sense=10, fillpred=None), "upb": Layout(fixed=10, sense=9, fillpred=8)}


def role_name(label: str) -> str:
    """A role in UPB 1.0's names: ARG0 -> A0, ARGM-LOC -> AM-LOC, R-ARG1 -> R-A1, C-ARGM-TMP ->
    C-AM-TMP; names already in that form are kept."""
    prefix = label[:2] if label[:2] in ("R-", "C-") else ""
    base = label[len(prefix) :]
    if base.startswith("ARGM-"):
        base = "AM-" + base[5:]
    elif base.startswith("ARG"):
        base = "A" + base[3:]
    return prefix + base


def _sentences(lines: Sequence[str], path: str) -> Iterator[list[tuple[int, list[str]]]]:
    """The word rows (1-based line, columns) of each sentence; comments and skipped IDs left out."""
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            if rows:
                yield rows
            rows = []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if SKIPPED_ID.match(cols[0]):
            continue
        expected = len(rows) + 1
        if cols[0] != str(expected):
            raise InputFormatError(
                path, number, f"word ID {cols[0]!r}, expected {expected} (IDs count from 1)"
            )
        rows.append((number, cols))
    if rows:
        yield rows


def _predicates(rows: list[tuple[int, list[str]]], layout: Layout, path: str) -> list[tuple[int, str | None]]:
    """(word index, sense) of each predicate row, in sentence order."""
    preds = []
    for i, (number, cols) in enumerate(rows):
        if len(cols) < layout.fixed:
            raise InputFormatError(
                path,
                number,
                f"{len(cols)} tab-separated columns; this layout has {layout.fixed} before the arguments",
            )
        sense = cols[layout.sense] if cols[layout.sense] not in ("_", "") else None
        if layout.fillpred is None:
            if sense is not None:
                preds.append((i, sense))
            continue
        flag = cols[layout.fillpred]
        if flag not in ("Y", "_"):
            raise InputFormatError(
                path, number, f"FILLPRED (column {layout.fillpred + 1}) is {flag!r}, not Y or _"
            )
        if sense is not None and flag != "Y":
            raise InputFormatError(path, number, f"sense {sense!r} on a word whose FILLPRED is not Y")
        if flag == "Y":
            preds.append((i, sense))
    return preds


def _argument_columns(
    rows: list[tuple[int, list[str]]], n_pred: int, layout: Layout, path: str
) -> list[list[str]]:
    """Each row's argument columns, checked against the number of predicates (trailing empty fields,
    which EWT's predicate-less sentences carry, are dropped)."""
    expected = layout.fixed + n_pred
    out = []
    for number, cols in rows:
        cols = list(cols)
        while len(cols) > expected and cols[-1] == "":
            cols.pop()
        if len(cols) != expected:
            what = (
                "an argument column without a predicate"
                if len(cols) > expected
                else "a predicate without its column"
            )
            raise InputFormatError(
                path,
                number,
                f"{len(cols)} columns, but the sentence has {n_pred} predicate(s): {layout.fixed} + {n_pred} "
                f"expected ({what})",
            )
        out.append(cols[layout.fixed :])
    return out


def read_upb(
    path: str, lang: str, split: str, scheme: str = "bio", *, encoding: str | None = None
) -> pd.DataFrame:
    """UPB 1.0, German / French / Spanish layout (FILLPRED in column 9); ``scheme`` does not apply (OI)."""
    return _read(path, lang, split, LAYOUTS["upb"], encoding)


def read_upb_ewt(
    path: str, lang: str, split: str, scheme: str = "bio", *, encoding: str | None = None
) -> pd.DataFrame:
    """UPB 1.0, English EWT layout (sense in column 11, PropBank 3 role names); ``scheme`` does not apply."""
    return _read(path, lang, split, LAYOUTS["upb_ewt"], encoding)


def _read(path: str, lang: str, split: str, layout: Layout, encoding: str | None) -> pd.DataFrame:
    records, n_sentences, n_empty, n_v = [], 0, 0, 0
    for rows in _sentences(split_lines(read_text(path, encoding)), path):
        sentence_id = f"{split}-{lang}-{n_sentences:06d}"
        n_sentences += 1
        preds = _predicates(rows, layout, path)
        args = _argument_columns(rows, len(preds), layout, path)  # also where there is no predicate
        if not preds:
            n_empty += 1
            continue
        tokens = [cols[FORM] for _, cols in rows]
        upos = [cols[UPOS] for _, cols in rows]
        for k, (p, sense) in enumerate(preds):
            tags = []
            for i, row_args in enumerate(args):
                label = row_args[k]
                if label in ("_", "", "V", "C-V"):
                    n_v += label in ("V", "C-V") and i != p
                    tags.append(OUTSIDE)
                else:
                    tags.append(f"I-{role_name(label)}")
            records.append(
                {
                    "id": f"{sentence_id}-p{k}",
                    "lang": lang,
                    "split": split,
                    "sentence_id": sentence_id,
                    "tokens": tokens,
                    "upos": upos,
                    "predicate": p,
                    "sense": sense,
                    "tags": tags,
                    "source": str(path),
                    "line": rows[0][0],
                }
            )
    log.info(
        "%s: %d sentences, %d without a predicate, %d instances (predicates); %d V / C-V words besides "
        "the predicates' own read as O",
        path,
        n_sentences,
        n_empty,
        len(records),
        n_v,
    )
    columns = [
        "id",
        "lang",
        "split",
        "sentence_id",
        "tokens",
        "upos",
        "predicate",
        "sense",
        "tags",
        "source",
        "line",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def check_roles(path: str, df: pd.DataFrame, roles: Sequence[str] | None) -> None:
    """Every argument role of ``df`` is one of ``roles`` (the config's label set); the first other one
    names its sentence's line."""
    if not roles:
        return
    known = set(roles)
    for tags, line in zip(df["tags"], df["line"], strict=True):
        roles = (split_tag(t)[1] for t in tags if t != OUTSIDE)
        bad = next((r for r in roles if r not in known), None)
        if bad is not None:
            raise InputFormatError(path, int(line), f"role {bad!r} is not in the label set {sorted(known)}")


READERS = {"upb": read_upb, "upb_ewt": read_upb_ewt}
