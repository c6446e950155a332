"""Sentence(-pair) classification files -> the ``cls_examples`` artifact (``schemas.CLS_EXAMPLES``).

| format | layout | options |
|---|---|---|
| xnli | ``premise<TAB>hypothesis<TAB>label``; 2 columns = unlabelled | encoding, label_names |
| mnli_json | ``{"0": {"text_a", "text_b", "label"}, ...}``; line = item key | encoding, label_names |
| xlmt | ``*_text.txt`` + ``*_labels.txt`` beside it (absent = unlabelled) | encoding, label_names, unescape |
| sib200 | TSV, header naming ``text`` and ``category`` (absent = unlabelled) | encoding |

Ids are ``{split}-{lang}-{index:06d}`` in file order, as for sentences. Texts are stripped of ASCII
spaces/tabs at both ends and NFC-normalised; an empty text is an error. Labels are stored as names:
``label_names`` (a list) maps numeric labels 0, 1, ... to names (xlmt's default:
negative/neutral/positive); without it labels are kept as written. A file is labelled throughout or
not at all. The label set check (``labels``, ``require_tags`` of ``formats.read``) is
``_common.check_cls_labels``; ``label_context`` says where a label of a row was read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats._common import sentence_ids
from pipeline_steps.schemas import CLS_EXAMPLES
from pipeline_steps.tags import check_scheme
from pipeline_steps.text import nfc, read_text, split_lines

CLS_FORMATS = ("xnli", "mnli_json", "xlmt", "sib200")
XLMT_LABELS = ("negative", "neutral", "positive")
XLMT_TEXT, XLMT_LABEL = "_text.txt", "_labels.txt"
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")

Row = tuple[str, str | None, str | None, int]  # text_a, text_b, label, line


def _text(raw: str, path: str, line: int | None, what: str) -> str:
    text = nfc(raw.strip(" \t"))
    if not text:
        raise InputFormatError(path, line, f"empty {what}")
    return text


def _label_names(label_names: Sequence[str] | None) -> list[str] | None:
    if label_names is None:
        return None
    if isinstance(label_names, str) or not all(isinstance(x, str) and x for x in label_names):
        raise ConfigError(f"label_names must be a list of label names, got {label_names!r}")
    return list(label_names)


def _label(raw: Any, names: list[str] | None, path: str, line: int | None, where: str = "") -> str:
    """The label name of ``raw``: as written, or ``names[int(raw)]`` when ``names`` is given."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InputFormatError(path, line, f"{where}label {raw!r} is not a string")
    text = str(raw).strip(" \t")
    if not text:
        raise InputFormatError(path, line, f"{where}empty label")
    if names is None:
        return nfc(text)
    if not text.isdigit() or int(text) >= len(names):
        raise InputFormatError(
            path, line, f"{where}label {text!r} is not an index 0..{len(names) - 1} into label_names {names}"
        )
    return names[int(text)]


def _frame(path: str, rows: Sequence[Row], lang: str, split: str, source: str | None = None) -> pd.DataFrame:
    if not rows:
        raise InputFormatError(path, 1, "empty file: no examples found")
    df = pd.DataFrame(
        {
            "id": sentence_ids(split, lang, len(rows)),
            "lang": lang,
            "split": split,
            "text_a": [r[0] for r in rows],
            "text_b": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "source": source or str(path),
            "line": [r[3] for r in rows],
        },
        columns=CLS_EXAMPLES.columns,
    )
    df["line"] = df["line"].astype("int64")
    return df


# --- xnli ---------------------------------------------------------------------------------------


def read_xnli(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
    label_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """XNLI (XTREME layout): ``premise<TAB>hypothesis<TAB>label`` a line; 2 columns = unlabelled.

    The first line fixes the column count (2 or 3) every line must have; fields are not quoted
    (a ``"`` is text). ``scheme`` is accepted for a uniform reader signature and unused.
    """
    check_scheme(scheme)
    names = _label_names(label_names)
    rows: list[Row] = []
    fixed: int | None = None
    for i, line in enumerate(split_lines(read_text(path, encoding)), start=1):
        if not line.strip():
            raise InputFormatError(
                path, i, "empty line: every line holds one pair (premise, hypothesis[, label])"
            )
        fields = line.split("\t")
        if fixed is None:
            if len(fields) not in (2, 3):
                raise InputFormatError(
                    path,
                    i,
                    f"found {len(fields)} columns; expected 3 (premise, hypothesis, label) or 2 (unlabelled)",
                )
            fixed = len(fields)
        elif len(fields) != fixed:
            raise InputFormatError(
                path,
                i,
                f"found {len(fields)} columns; expected {fixed} (the file's first line has that many)",
            )
        label = _label(fields[2], names, path, i) if fixed == 3 else None
        rows.append((_text(fields[0], path, i, "premise"), _text(fields[1], path, i, "hypothesis"), label, i))
    return _frame(path, rows, lang, split)


# --- mnli_json ----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} occurs twice in one object")
        out[k] = v
    return out


def _json_key_lines(text: str) -> dict[str, int]:
    """1-based line of every top-level-looking item key ``"<key>": {`` (first occurrence)."""
    out: dict[str, int] = {}
    line, pos = 1, 0
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"\s*:\s*\{', text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.setdefault(m.group(1), line)
    return out


def read_mnli_json(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
    label_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The MNLI subset JSON: an object of items ``"<n>": {"text_a", "text_b", "label"}`` in file order.

    The item key (a non-negative integer) is stored as ``line``; errors name the item and the line of
    the file it starts on. Items without ``label`` (or with null) are unlabelled: all or none of them.
    """
    check_scheme(scheme)
    names = _label_names(label_names)
    text = read_text(path, encoding)
    if not text.strip():
        raise InputFormatError(path, 1, "empty file")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:
        raise InputFormatError(path, None, f"not valid MNLI JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputFormatError(
            path, 1, 'expected an object of items {"0": {"text_a", "text_b", "label"}, ...}'
        )
    key_lines = _json_key_lines(text)
    rows: list[Row] = []
    labelled: bool | None = None
    for key, item in doc.items():
        line = key_lines.get(key)
        where = f"item {key!r}: "
        if not key.isdigit():
            raise InputFormatError(path, line, f"{where}the item key must be a non-negative integer")
        if not isinstance(item, dict):
            raise InputFormatError(path, line, f"{where}expected an object with 'text_a', 'text_b', 'label'")
        for field in ("text_a", "text_b"):
            if not isinstance(item.get(field), str):
                raise InputFormatError(path, line, f"{where}missing or non-string '{field}'")
        has = item.get("label") is not None
        if labelled is None:
            labelled = has
        elif has != labelled:
            first = "labelled" if labelled else "unlabelled"
            raise InputFormatError(
                path, line, f"{where}{'has a' if has else 'has no'} label but the first item is {first}"
            )
        rows.append(
            (
                _text(item["text_a"], path, line, f"text_a of item {key!r}"),
                _text(item["text_b"], path, line, f"text_b of item {key!r}"),
                _label(item["label"], names, path, line, where) if has else None,
                int(key),
            )
        )
    return _frame(path, rows, lang, split)


# --- xlmt ---------------------------------------------------------------------------------------


def xlmt_labels_path(path: str) -> str:
    """``.../train_text.txt`` -> ``.../train_labels.txt`` (the labels file next to the text file)."""
    name = Path(path).name
    if not name.endswith(XLMT_TEXT) or name == XLMT_TEXT:
        raise InputFormatError(
            path,
            None,
            f"format 'xlmt' expects a text file named *{XLMT_TEXT} (labels in *{XLMT_LABEL} next to it)",
        )
    return str(Path(path).with_name(name[: -len(XLMT_TEXT)] + XLMT_LABEL))


def read_xlmt(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
    label_names: Sequence[str] | None = XLMT_LABELS,
    unescape: bool = True,
) -> pd.DataFrame:
    """XLM-T sentiment: one text a line in ``*_text.txt``, its label on the same line of ``*_labels.txt``.

    Labels are indices into ``label_names`` (default negative, neutral, positive); no labels file =
    unlabelled. Both files must have the same number of lines. ``unescape`` turns the literal
    ``\\uXXXX`` escapes of the released files (``\\u2019``, ``\\u002c``) into their characters.
    """
    check_scheme(scheme)
    names = _label_names(label_names)
    labels_path = xlmt_labels_path(path)
    texts = split_lines(read_text(path, encoding))
    labels: list[str] | None = None
    if Path(labels_path).exists():
        labels = split_lines(read_text(labels_path, encoding))
        if len(labels) != len(texts):
            raise InputFormatError(
                labels_path,
                min(len(labels), len(texts)) + 1,
                f"{len(labels)} labels for {len(texts)} texts in {path} (one label a line, line-parallel)",
            )
    rows: list[Row] = []
    for i, raw in enumerate(texts, start=1):
        if unescape:
            raw = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw)
        text = _text(raw, path, i, "text")
        label = None if labels is None else _label(labels[i - 1], names, labels_path, i)
        rows.append((text, None, label, i))
    return _frame(path, rows, lang, split)


# --- sib200 -------------------------------------------------------------------------------------


def read_sib200(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
) -> pd.DataFrame:
    """SIB-200: a TSV with a header row naming the columns ``text`` and ``category`` (the topic label;
    no such column = unlabelled; other columns, e.g. ``index_id``, are ignored). Fields may be quoted as
    pandas writes them (CSV quoting: a field in double quotes, a quote inside doubled); a quoted field
    must close on its line."""
    check_scheme(scheme)
    lines = split_lines(read_text(path, encoding))
    if not lines or not lines[0].strip():
        raise InputFormatError(path, 1, "empty file: expected a header row naming 'text' and 'category'")
    header = [h.strip(" ") for h in lines[0].split("\t")]
    if "text" not in header:
        raise InputFormatError(path, 1, f"no 'text' column in the header {header}")
    t_col = header.index("text")
    c_col = header.index("category") if "category" in header else None
    rows: list[Row] = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            raise InputFormatError(path, i, "empty line")
        try:
            fields = next(csv.reader([line], delimiter="\t", strict=True))
        except csv.Error as exc:
            raise InputFormatError(path, i, f"bad quoting: {exc}") from None
        if len(fields) != len(header):
            raise InputFormatError(
                path, i, f"found {len(fields)} columns; expected {len(header)} (the header's)"
            )
        label = None if c_col is None else _label(fields[c_col], None, path, i)
        rows.append((_text(fields[t_col], path, i, "text"), None, label, i))
    if not rows:
        raise InputFormatError(path, 2, "no examples after the header")
    return _frame(path, rows, lang, split)


# --- where labels come from (for check_cls_labels) ---------------------------------------------------


def label_context(format: str, path: str, encoding: str | None = None) -> dict[str, Any]:
    """Keyword arguments of ``_common.check_cls_labels`` for a file of ``format``: the file its labels
    are read from, how to turn a row's ``line`` into a file line and an item name, and the hint for an
    unlabelled file."""
    if format == "xlmt":
        labels_path = xlmt_labels_path(path)
        return {"label_file": labels_path, "unlabelled_hint": f"no labels file {labels_path}"}
    if format == "mnli_json":

        def locate(key: int) -> tuple[int | None, str]:
            try:
                text = read_text(path, encoding)
            except InputFormatError:  # pragma: no cover - the file was just read
                return None, f"item '{key}': "
            return _json_key_lines(text).get(str(key)), f"item '{key}': "

        return {"locate": locate, "unlabelled_hint": "its items have no 'label'"}
    hints = {"xnli": "2 columns: premise, hypothesis", "sib200": "no 'category' column"}
    return {"unlabelled_hint": hints.get(format, "")}


READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "xnli": read_xnli,
    "mnli_json": read_mnli_json,
    "xlmt": read_xlmt,
    "sib200": read_sib200,
}
