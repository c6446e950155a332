"""Shared machinery of the readers: column files, tag and label checks, the table.

Every reader turns a raw file into rows of the ``sentences`` schema (``schemas.SENTENCES``). Errors
are ``InputFormatError(path, line, message)`` with the 1-based line a user must fix. Raw text is
read with ``pipeline_steps.text.read_text``; tokens are NFC-normalised (``pipeline_steps.text.nfc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.schemas import SENTENCES
from pipeline_steps.tags import INPUT_SCHEMES, TagError, check_scheme, convert
from pipeline_steps.text import nfc

DOCSTART = "-DOCSTART-"
_SPACES = re.compile(r"[ \t]+")


@dataclass
class RawSentence:
    """A sentence as read: tokens, tags (None when unlabelled), the 1-based line of every token."""

    tokens: list[str]
    tags: list[str] | None
    lines: list[int]
    doc: int | None = None


def split_spaces(line: str) -> list[str]:
    """Fields of a space-separated line (runs of ASCII spaces/tabs; other Unicode spaces stay in tokens)."""
    return _SPACES.split(line.strip(" \t"))


def split_tabs(line: str) -> list[str]:
    """Fields of a tab-separated line, ASCII spaces around each field removed."""
    return [f.strip(" ") for f in line.split("\t")]


def parse_columns(
    path: str,
    lines: Sequence[str],
    split: Callable[[str], list[str]],
    n_columns: int | tuple[int, ...],
    tag_column: int | None,
    layout: str,
    token_filter: Callable[[str, int], str] | None = None,
) -> list[RawSentence]:
    """Column files: one token a line, blank lines between sentences, ``-DOCSTART-`` lines between documents.

    ``n_columns`` is the exact column count, or a tuple of allowed counts of which the first token line
    fixes the one every other line must have. The tag is column ``tag_column`` (files whose count is 1
    are unlabelled). A -DOCSTART- line ends the current document; the next sentence opens a new one,
    so files with the marker before each document (the original CoNLL releases) and after each one
    (some copies) number documents alike. ``token_filter(token, line)`` may rewrite or reject a token;
    tokens are NFC-normalised after it.
    """
    sentences: list[RawSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    where: list[int] = []
    fixed = n_columns if isinstance(n_columns, int) else None
    allowed = (n_columns,) if isinstance(n_columns, int) else n_columns
    has_docs = False
    doc = 0
    doc_used = False

    def close() -> None:
        nonlocal tokens, tags, where, doc_used
        if tokens:
            labelled = tag_column is not None and fixed is not None and fixed > tag_column
            sentences.append(RawSentence(tokens, tags if labelled else None, where, doc))
            doc_used = True
        tokens, tags, where = [], [], []

    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            close()
            continue
        fields = split(raw)
        if fields[0] == DOCSTART:
            close()
            if doc_used:
                doc += 1
                doc_used = False
            has_docs = True
            continue
        if fixed is None:
            if len(fields) not in allowed:
                raise InputFormatError(
                    path,
                    i,
                    f"found {len(fields)} columns; expected {' or '.join(map(str, allowed))} ({layout})",
                )
            fixed = len(fields)
        elif len(fields) != fixed:
            first = "" if isinstance(n_columns, int) else " (the file's first token line has that many)"
            raise InputFormatError(
                path, i, f"found {len(fields)} columns; expected {fixed}{first} ({layout})"
            )
        token = fields[0]
        if token_filter is not None:
            token = token_filter(token, i)
        token = nfc(token)
        if not token:
            raise InputFormatError(path, i, f"empty token ({layout})")
        tokens.append(token)
        where.append(i)
        if tag_column is not None and fixed > tag_column:
            tags.append(fields[tag_column])
    close()
    if not has_docs:
        for s in sentences:
            s.doc = None
    return sentences


def check_tags(path: str, sentences: Sequence[RawSentence], input_scheme: str, scheme: str) -> None:
    """Validate every labelled sentence in ``input_scheme`` and convert it to ``scheme`` in place."""
    check_scheme(input_scheme, INPUT_SCHEMES, "input scheme")
    check_scheme(scheme)
    for s in sentences:
        if s.tags is None:
            continue
        try:
            s.tags = convert(s.tags, input_scheme, scheme)
        except TagError as exc:
            idx = min(max(exc.index, 0), len(s.lines) - 1)
            hint = ""
            if input_scheme == "bio" and str(exc).endswith("chunk") and " does not continue " in str(exc):
                hint = " (input_scheme 'iob1' reads a stray I- as the start of a chunk, as conlleval does)"
            raise InputFormatError(
                path, s.lines[idx], f"bad tag sequence for input scheme {input_scheme}: {exc}{hint}"
            ) from None


def sentence_ids(split: str, lang: str, n: int) -> list[str]:
    return [f"{split}-{lang}-{i:06d}" for i in range(n)]


def to_frame(path: str, sentences: Sequence[RawSentence], lang: str, split: str) -> pd.DataFrame:
    """Rows of the ``sentences`` schema, ids ``{split}-{lang}-{index:06d}`` in file order."""
    if not sentences:
        raise InputFormatError(path, 1, "empty file: no sentences found")
    ids = sentence_ids(split, lang, len(sentences))
    df = pd.DataFrame(
        {
            "id": ids,
            "lang": lang,
            "split": split,
            "doc_id": [None if s.doc is None else f"doc-{s.doc:04d}" for s in sentences],
            "tokens": [s.tokens for s in sentences],
            "tags": [s.tags for s in sentences],
            "source": str(path),
            "line": [s.lines[0] for s in sentences],
        },
        columns=SENTENCES.columns,
    )
    df["line"] = df["line"].astype("int64")
    return df


def check_labels(
    path: str, df: pd.DataFrame, format: str, labels: Sequence[str] | None, require_tags: bool
) -> None:
    """Reject unlabelled sentences when ``require_tags``, and tags of an entity type not in ``labels``.

    ``labels=None`` skips the type check. Column files hold one token a line, so token k of a
    sentence starting on line L is on line L + k; the tag is named as stored (in the target scheme).
    """
    if require_tags:
        missing = df["tags"].isna().to_numpy().nonzero()[0]
        if len(missing):
            raise InputFormatError(
                path,
                int(df["line"].iloc[missing[0]]),
                f"no tags: this dataset must be labelled, but the file (format {format!r}) has no tag column",
            )
    if labels is None:
        return
    known = _label_set(labels, "entity types")
    for tags, first in zip(df["tags"], df["line"], strict=True):
        for k, tag in enumerate(tags or ()):
            label = tag.partition("-")[2]
            if tag != "O" and label not in known:
                raise InputFormatError(
                    path,
                    int(first) + k,
                    f"tag {tag!r}: entity type {label!r} is not one of the labels {list(labels)}",
                )


def _label_set(labels: Sequence[str], what: str) -> set[str]:
    """The configured labels as a set; a ConfigError unless they are a list of non-empty strings."""
    if isinstance(labels, str) or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(f"labels must be a list of {what}, got {labels!r}")
    return set(labels)


def check_cls_labels(
    path: str,
    df: pd.DataFrame,
    format: str,
    labels: Sequence[str] | None,
    require_labels: bool,
    *,
    label_file: str | None = None,
    locate: Callable[[int], tuple[int | None, str]] | None = None,
    unlabelled_hint: str = "",
) -> None:
    """``check_labels`` for classification examples (``schemas.CLS_EXAMPLES``): reject an unlabelled
    file when ``require_labels``, and a label that is not one of ``labels`` (the label names).

    ``labels=None`` skips the name check. The error names ``label_file`` (default ``path``) and the
    row's ``line``, or what ``locate(line)`` returns: the file line and a prefix naming the item (JSON
    formats, whose ``line`` is the item key).
    """
    if require_labels and df["label"].isna().any():
        hint = f" ({unlabelled_hint})" if unlabelled_hint else ""
        raise InputFormatError(
            path,
            None,
            f"no labels: this dataset must be labelled, but the file (format {format!r}) has none{hint}",
        )
    if labels is None:
        return
    known = _label_set(labels, "label names")
    bad = (df["label"].notna() & ~df["label"].isin(known)).to_numpy().nonzero()[0]
    if len(bad):
        label, line = df["label"].iloc[bad[0]], int(df["line"].iloc[bad[0]])
        where: tuple[int | None, str] = (line, "") if locate is None else locate(line)
        raise InputFormatError(
            label_file or path, where[0], f"{where[1]}label {label!r} is not one of the labels {list(labels)}"
        )
